"""With a delivery block, staging and prod route PromotionRequested to their deployer and may read dev's versions.

Synthesized from the three-account fixture (tests/delivery/fixtures.py). Cross-account reads need
an identity policy in the reading account besides dev's resource policies ("Cross-account access
requires permission in the key policy of the KMS key and in an IAM policy in the external user's
account", AWS KMS Developer Guide, "Allowing users in other accounts to use a KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
Only the MLOpsEngineer may put the event: PutEvents is conditioned on `events:source` and
`events:detail-type` (EventBridge User Guide, "Using IAM policy conditions in Amazon EventBridge",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from platform_common import env_names
from platform_common.catalog import registration_suffix
from tests.delivery.fixtures import ACCOUNTS, REGIONS, three_accounts
from tests.synth import synth

DEV_BUCKET = f"mlops-dev-mlflow-artifacts-{ACCOUNTS['dev']}-{REGIONS['dev']}"
DEV_SUFFIX = registration_suffix("mlops-dev-mlflow")


@cache
def _templates(env_name: str) -> dict[str, dict[str, Any]]:
    _, templates = synth(env_name, three_accounts())
    return {unit: template.to_json() for unit, template in templates.items()}


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def _statements_by_sid(template: dict[str, Any], role_fragment: str) -> dict[str, dict[str, Any]]:
    """Every identity-policy statement attached to roles whose logical ID contains `role_fragment`."""
    found: dict[str, dict[str, Any]] = {}
    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for resource in _resources(template, policy_type).values():
            props = resource["Properties"]
            roles = json.dumps(props.get("Roles", []))
            if role_fragment not in roles:
                continue
            for statement in props["PolicyDocument"]["Statement"]:
                if "Sid" in statement:
                    found[statement["Sid"]] = statement
    return found


def _flat(value: Any) -> str:
    return json.dumps(value)


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_a_rule_on_the_platform_bus_sends_promotion_requests_to_the_deployer(env_name: str) -> None:
    automation = _templates(env_name)["automation"]
    (rule,) = [
        r
        for r in _resources(automation, "AWS::Events::Rule").values()
        if r["Properties"].get("Name") == f"mlops-{env_name}-promotion-requested"
    ]

    assert rule["Properties"]["EventPattern"] == {"source": ["mlops.platform"], "detail-type": ["PromotionRequested"]}
    assert "PlatformBus" in _flat(rule["Properties"]["EventBusName"])
    (target,) = rule["Properties"]["Targets"]
    assert "Deployer" in _flat(target["Arn"])
    assert "DeadLetterConfig" in target


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_deployer_is_told_where_the_registry_of_record_is(env_name: str) -> None:
    functions = _resources(_templates(env_name)["automation"], "AWS::Lambda::Function")
    (deployer,) = [f for name, f in functions.items() if name.startswith("Deployer")]
    variables = deployer["Properties"]["Environment"]["Variables"]

    assert variables[env_names.REGISTRY_ACCOUNT] == ACCOUNTS["dev"]
    assert variables[env_names.REGISTRY_REGION] == REGIONS["dev"]
    assert variables[env_names.REGISTRY_ARTIFACT_BUCKET] == DEV_BUCKET
    assert variables[env_names.REGISTRY_RESOURCE_PREFIX] == "mlops-dev"
    assert variables[env_names.REGISTRY_PACKAGE_GROUP_SUFFIX] == DEV_SUFFIX


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_deployer_may_read_devs_evidence_artifacts_key_and_groups_and_nothing_more(env_name: str) -> None:
    statements = _statements_by_sid(_templates(env_name)["automation"], "Deployer")
    dev = f"{ACCOUNTS['dev']}"

    reads = statements["ReadRegistryEvidenceAndArtifacts"]
    assert sorted(reads["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
    assert _flat(reads["Resource"]).count(DEV_BUCKET) == 2
    assert f"{DEV_BUCKET}/evidence/*" in _flat(reads["Resource"])
    assert f"{DEV_BUCKET}/pipelines/*" in _flat(reads["Resource"])

    decrypt = statements["DecryptRegistryObjectsThroughS3"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert f":kms:{REGIONS['dev']}:{dev}:key/*" in _flat(decrypt["Resource"])
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGIONS['dev']}.amazonaws.com"}}

    groups = statements["ReadRegistryPackageGroups"]
    assert sorted(groups["Action"]) == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    ]
    resources = _flat(groups["Resource"])
    assert f":sagemaker:{REGIONS['dev']}:{dev}:model-package-group/churn-{DEV_SUFFIX}" in resources
    assert f":sagemaker:{REGIONS['dev']}:{dev}:model-package/churn-{DEV_SUFFIX}/*" in resources


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_model_role_may_read_devs_model_artifacts_only(env_name: str) -> None:
    statements = _statements_by_sid(_templates(env_name)["automation"], "ModelRole")

    artifacts = statements["ReadRegistryModelArtifacts"]
    assert f"{DEV_BUCKET}/pipelines/*" in _flat(artifacts["Resource"])
    assert "evidence" not in _flat(artifacts["Resource"])
    assert statements["DecryptRegistryObjectsThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGIONS['dev']}.amazonaws.com"}
    }


def test_dev_the_registry_itself_has_no_promotion_rule_nor_registry_reads() -> None:
    automation = _templates("dev")["automation"]

    names = [r["Properties"].get("Name") for r in _resources(automation, "AWS::Events::Rule").values()]
    assert "mlops-dev-promotion-requested" not in names
    assert "ReadRegistryEvidenceAndArtifacts" not in _flat(automation)
    assert "RecordPromotion" not in _flat(_templates("dev")["access"])


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_only_the_mlops_engineer_may_put_promotion_requests(env_name: str) -> None:
    access = _templates(env_name)["access"]
    engineer = _statements_by_sid(access, "MLOpsEngineer")
    scientist = _statements_by_sid(access, "DataScientist")

    record = engineer["RecordPromotion"]
    assert record["Action"] == "events:PutEvents"
    assert record["Condition"] == {
        "StringEquals": {"events:detail-type": "PromotionRequested", "events:source": "mlops.platform"}
    }
    assert "RecordPromotion" not in scientist
    assert "PromotionRequested" not in _flat(scientist)


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_promotion_intake_is_cfn_lint_clean(env_name: str) -> None:
    from tests.lint import findings

    for unit in ("automation", "access"):
        assert findings(_templates(env_name)[unit], [REGIONS[env_name]]) == [], (
            f"cfn-lint findings in {env_name}/{unit}"
        )


@pytest.mark.parametrize("unit_rule", ["mlops-staging-audit-platform", "mlops-staging-promotion-requested"])
def test_the_event_make_promote_puts_matches_the_audit_rule_and_the_promotion_rule(unit_rule: str) -> None:
    """moto's EventBridge matches the synthesized pattern against the entry `make promote` builds (GUIDE: put_events
    with real pattern matching, delivered to SQS targets)."""
    import boto3
    from moto import mock_aws

    from platform_common.promotion_request import promotion_entry

    automation = _templates("staging")["automation"]
    (rule,) = [
        r for r in _resources(automation, "AWS::Events::Rule").values() if r["Properties"].get("Name") == unit_rule
    ]
    package = f"arn:aws:sagemaker:{REGIONS['dev']}:{ACCOUNTS['dev']}:model-package/churn-{DEV_SUFFIX}/7"
    with mock_aws():
        events = boto3.client("events", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        events.create_event_bus(Name="mlops-staging-platform")
        queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="under-test",
            EventBusName="mlops-staging-platform",
            EventPattern=json.dumps(rule["Properties"]["EventPattern"]),
        )
        events.put_targets(Rule="under-test", EventBusName="mlops-staging-platform", Targets=[{"Id": "q", "Arn": arn}])

        events.put_events(
            Entries=[
                promotion_entry(
                    "mlops-staging-platform", "churn", package, "arn:aws:sts::333333333333:assumed-role/x/alice"
                )
            ]
        )

        (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["detail-type"] == "PromotionRequested"
