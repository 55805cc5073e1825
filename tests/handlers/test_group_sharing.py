"""The gate shares a package group with the consuming environments' deployers, once and idempotently.

moto does not implement Get/PutModelPackageGroupPolicy, so SageMaker is a botocore Stubber: every
request is validated against botocore's SageMaker service model, every stubbed response against
its output shape, and `expected_params` pins the exact request. The policy's shape follows the
SageMaker Developer Guide, "Set up discoverability"
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram-discover.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from model_gate import handler
from platform_common import env_names, group_sharing, runtime

REGION = "eu-west-1"
GROUP = "churn-a1b2c3"
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:222222222222:model-package/{GROUP}/7"
READERS = (
    "arn:aws:iam::444444444444:role/mlops-prod-deployer-function",
    "arn:aws:iam::333333333333:role/mlops-staging-deployer-function",
)
EXPECTED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ConsumerDeployersReadReleasedVersions",
            "Effect": "Allow",
            "Principal": {"AWS": sorted(READERS)},
            "Action": [
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:DescribeModelPackage",
                "sagemaker:ListModelPackages",
            ],
            "Resource": [
                f"arn:aws:sagemaker:{REGION}:222222222222:model-package-group/{GROUP}",
                f"arn:aws:sagemaker:{REGION}:222222222222:model-package/{GROUP}/*",
            ],
        }
    ],
}
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:222222222222:model-package-group/{GROUP}"


@pytest.fixture
def sagemaker() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _no_policy(stubber: Stubber) -> None:
    stubber.add_client_error(
        "get_model_package_group_policy",
        service_error_code="ValidationException",
        service_message=f"Cannot find resource policy for {GROUP}",
        http_status_code=400,
        expected_params={"ModelPackageGroupName": GROUP},
    )


def _expect_put(stubber: Stubber) -> None:
    stubber.add_response(
        "put_model_package_group_policy",
        {"ModelPackageGroupArn": GROUP_ARN},
        expected_params={"ModelPackageGroupName": GROUP, "ResourcePolicy": json.dumps(EXPECTED_POLICY)},
    )


def test_a_group_without_a_policy_gets_read_access_for_exactly_the_consuming_deployers(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stubber = sagemaker
    # Given a group MLflow just created, with no resource policy
    _no_policy(stubber)
    # Then the gate puts the consumers' read policy on it
    _expect_put(stubber)
    assert group_sharing.ensure_shared(client, PACKAGE_ARN, READERS) == group_sharing.UPDATED


def test_a_group_that_already_has_the_policy_is_left_alone(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stubber = sagemaker
    # Given the group already carries the same policy (statement order of principals aside)
    stubber.add_response(
        "get_model_package_group_policy",
        {"ResourcePolicy": json.dumps(EXPECTED_POLICY)},
        expected_params={"ModelPackageGroupName": GROUP},
    )
    # Then nothing is written (no put is stubbed: a put would fail the Stubber)
    assert group_sharing.ensure_shared(client, PACKAGE_ARN, tuple(reversed(READERS))) == group_sharing.UNCHANGED


def test_a_group_whose_policy_names_other_readers_is_rewritten(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stubber = sagemaker
    stale = json.loads(json.dumps(EXPECTED_POLICY))
    stale["Statement"][0]["Principal"] = {"AWS": [READERS[1]]}
    stubber.add_response(
        "get_model_package_group_policy",
        {"ResourcePolicy": json.dumps(stale)},
        expected_params={"ModelPackageGroupName": GROUP},
    )
    _expect_put(stubber)
    assert group_sharing.ensure_shared(client, PACKAGE_ARN, READERS) == group_sharing.UPDATED


def test_an_access_error_reading_the_policy_propagates_and_nothing_is_written(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stubber = sagemaker
    stubber.add_client_error(
        "get_model_package_group_policy", service_error_code="AccessDeniedException", http_status_code=400
    )
    with pytest.raises(Exception, match="AccessDeniedException"):
        group_sharing.ensure_shared(client, PACKAGE_ARN, READERS)


@pytest.mark.parametrize(
    "raw", ["arn:aws:iam::333333333333:user/alice", "mlops-staging-deployer-function", "arn:aws:iam::3333:role/x"]
)
def test_a_reader_setting_that_is_not_role_arns_is_refused_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="is not an IAM role ARN") as caught:
        group_sharing.parse_reader_arns(f"{READERS[0]},{raw}")
    assert repr(raw) in str(caught.value)


def test_the_gate_shares_the_group_when_readers_are_configured(sagemaker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, stubber = sagemaker
    # Given the gate of the registry of record (the reader setting is present)
    monkeypatch.setenv(env_names.REGISTRY_READER_ROLE_ARNS, ",".join(READERS))
    monkeypatch.setattr(runtime, "client", lambda name: client)
    _no_policy(stubber)
    _expect_put(stubber)
    # When it judges a version of the group, Then the group is shared (the Stubber checks the put happened)
    handler.share_group(PACKAGE_ARN)


def test_the_gate_of_a_single_account_platform_shares_nothing(sagemaker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, _ = sagemaker
    monkeypatch.delenv(env_names.REGISTRY_READER_ROLE_ARNS, raising=False)
    monkeypatch.setattr(runtime, "client", lambda name: client)
    # No call is stubbed: any SageMaker call would fail the Stubber
    handler.share_group(PACKAGE_ARN)


def test_a_failed_share_does_not_stop_the_gate(sagemaker, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, stubber = sagemaker
    monkeypatch.setenv(env_names.REGISTRY_READER_ROLE_ARNS, ",".join(READERS))
    monkeypatch.setattr(runtime, "client", lambda name: client)
    _no_policy(stubber)
    # SageMaker refuses the policy (for example a role that does not exist yet)
    stubber.add_client_error(
        "put_model_package_group_policy", service_error_code="ValidationException", http_status_code=400
    )
    handler.share_group(PACKAGE_ARN)
