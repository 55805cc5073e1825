"""The registry of record lets exactly the consuming environments' deployer and model roles read released versions.

Why account principals with an `aws:PrincipalArn` condition, not the roles as principals: the
roles live in staging and prod, which the pipeline deploys after dev, and "The principals in the
key policy must exist and be visible to KMS" (AWS KMS API Reference, "PutKeyPolicy",
https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html); a bucket policy naming
a role that does not exist fails with "Invalid principal in policy" (AWS re:Post Knowledge Center,
https://repost.aws/knowledge-center/s3-invalid-principal-in-policy-error).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks import naming
from stacks.config import load_environment
from tests.delivery.fixtures import ACCOUNTS, REGIONS, three_accounts, without_delivery
from tests.synth import synth

DEV = ACCOUNTS["dev"]
BUCKET = "<artifact-bucket>"


@cache
def _data_template(env_name: str, delivery: bool = True) -> dict[str, Any]:
    platform = three_accounts() if delivery else without_delivery(three_accounts())
    _, templates = synth(env_name, platform)
    return templates["data"].to_json()


def _text(value: Any, region: str) -> Any:
    """A policy value with the intrinsics these statements use replaced by what CloudFormation gives."""
    if isinstance(value, list):
        return [_text(item, region) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_text(part, region)) for part in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    if value == {"Ref": "AWS::Region"}:
        return region
    if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return f"arn:aws:s3:::{BUCKET}"
    return {key: _text(item, region) for key, item in value.items()}


def _statements(template: dict[str, Any], resource_type: str, region: str) -> list[dict[str, Any]]:
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == resource_type and _is_platform(r)]
    document = resource["Properties"].get("PolicyDocument") or resource["Properties"]["KeyPolicy"]
    return [_text(statement, region) for statement in document["Statement"]]


def _is_platform(resource: dict[str, Any]) -> bool:
    # The artifact bucket's policy, or the platform key (the access-log bucket has a policy too).
    if resource["Type"] == "AWS::KMS::Key":
        return True
    bucket = resource["Properties"]["Bucket"]
    return isinstance(bucket, dict) and "ArtifactBucket" in bucket.get("Ref", "")


def _foreign(statements: list[dict[str, Any]], own_account: str) -> list[dict[str, Any]]:
    """Allow statements whose principal is anyone or names an account other than the template's own."""
    found = []
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue  # a Deny grants nobody anything (TLS only, writes reserved to the pipeline role)
        principal = statement.get("Principal", {})
        aws = principal.get("AWS", []) if isinstance(principal, dict) else principal
        arns = [aws] if isinstance(aws, str) else aws
        if any(f":{own_account}:" not in arn for arn in arns):
            found.append(statement)
    return found


def _role(env_name: str, kind: str) -> str:
    config = load_environment(three_accounts(), env_name)
    name = naming.deployer_role_name(config) if kind == "deployer" else naming.model_role_name(config)
    return f"arn:aws:iam::{ACCOUNTS[env_name]}:role/{name}"


def _roots(*env_names: str) -> list[str]:
    return [f"arn:aws:iam::{ACCOUNTS[name]}:root" for name in env_names]


def test_dev_artifact_bucket_lets_consumer_deployers_read_evidence_and_artifacts_only() -> None:
    # Given dev, the registry of record of a three-account delivery configuration
    statements = _foreign(_statements(_data_template("dev"), "AWS::S3::BucketPolicy", REGIONS["dev"]), DEV)
    by_sid = {s["Sid"]: s for s in statements}
    # Then two statements name other accounts, and nothing else in the bucket policy does
    assert sorted(by_sid) == ["ConsumerDeployersReadReleasedVersions", "ConsumerModelRolesReadModelArtifacts"]
    deployers = by_sid["ConsumerDeployersReadReleasedVersions"]
    assert deployers["Effect"] == "Allow"
    assert deployers["Principal"] == {"AWS": _roots("staging", "prod")}
    assert deployers["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert deployers["Resource"] == [f"arn:aws:s3:::{BUCKET}/evidence/*", f"arn:aws:s3:::{BUCKET}/pipelines/*"]
    assert deployers["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": [_role("staging", "deployer"), _role("prod", "deployer")]}
    }


def test_dev_artifact_bucket_lets_consumer_model_roles_read_model_artifacts_only() -> None:
    statements = _foreign(_statements(_data_template("dev"), "AWS::S3::BucketPolicy", REGIONS["dev"]), DEV)
    models = next(s for s in statements if s["Sid"] == "ConsumerModelRolesReadModelArtifacts")
    assert models["Principal"] == {"AWS": _roots("staging", "prod")}
    assert models["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    # Not the evidence: a model role serves an artifact and needs nothing else.
    assert models["Resource"] == f"arn:aws:s3:::{BUCKET}/pipelines/*"
    assert models["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": [_role("staging", "model"), _role("prod", "model")]}
    }


def test_dev_platform_key_lets_exactly_those_roles_decrypt_through_s3_of_its_region() -> None:
    statements = _foreign(_statements(_data_template("dev"), "AWS::KMS::Key", REGIONS["dev"]), DEV)
    # Then one statement names other accounts: Decrypt only, only through S3, only for the four roles
    (decrypt,) = statements
    assert decrypt["Principal"] == {"AWS": _roots("staging", "prod")}
    assert decrypt["Action"] == "kms:Decrypt"
    roles = [_role(env, kind) for kind in ("deployer", "model") for env in ("staging", "prod")]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGIONS['dev']}.amazonaws.com"},
        "ArnEquals": {"aws:PrincipalArn": roles},
    }


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_consuming_environments_share_nothing_with_other_accounts(env_name: str) -> None:
    template = _data_template(env_name)
    for resource_type in ("AWS::S3::BucketPolicy", "AWS::KMS::Key"):
        assert _foreign(_statements(template, resource_type, REGIONS[env_name]), ACCOUNTS[env_name]) == []


def test_without_a_delivery_block_dev_shares_nothing() -> None:
    template = _data_template("dev", delivery=False)
    for resource_type in ("AWS::S3::BucketPolicy", "AWS::KMS::Key"):
        assert _foreign(_statements(template, resource_type, REGIONS["dev"]), DEV) == []


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_the_granted_role_names_are_the_names_the_consumers_give_their_roles(env_name: str) -> None:
    # Given the consuming environment's own automation stack
    _, templates = synth(env_name, three_accounts())
    automation: Template = templates["automation"]
    names = {r["Properties"].get("RoleName") for r in automation.find_resources("AWS::IAM::Role").values()}
    # Then the roles dev grants exist there under exactly those names
    assert _role(env_name, "deployer").rsplit("/", 1)[1] in names
    assert _role(env_name, "model").rsplit("/", 1)[1] in names


def _gate(env_name: str, delivery: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The model gate's environment and the statements of its role's policies."""
    platform = three_accounts() if delivery else without_delivery(three_accounts())
    _, templates = synth(env_name, platform)
    automation = templates["automation"].to_json()["Resources"]
    (function,) = [
        r
        for r in automation.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName", "").endswith("-model-gate")
    ]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        _text(statement, REGIONS[env_name])
        for r in automation.values()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": role_id} in r["Properties"].get("Roles", [])
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    return _text(function["Properties"]["Environment"]["Variables"], REGIONS[env_name]), statements


def test_dev_gate_shares_package_groups_with_exactly_the_consuming_deployers() -> None:
    variables, statements = _gate("dev")
    assert variables["REGISTRY_READER_ROLE_ARNS"].split(",") == [
        _role("staging", "deployer"),
        _role("prod", "deployer"),
    ]
    (share,) = [s for s in statements if s.get("Sid") == "ShareGroupsWithConsumers"]
    assert share["Action"] == ["sagemaker:GetModelPackageGroupPolicy", "sagemaker:PutModelPackageGroupPolicy"]
    resources = share["Resource"] if isinstance(share["Resource"], list) else [share["Resource"]]
    assert all(":model-package-group/churn-" in arn for arn in resources)


@pytest.mark.parametrize(("env_name", "delivery"), [("staging", True), ("prod", True), ("dev", False)])
def test_other_gates_share_nothing(env_name: str, delivery: bool) -> None:
    variables, statements = _gate(env_name, delivery)
    assert "REGISTRY_READER_ROLE_ARNS" not in variables
    assert not [s for s in statements if s.get("Sid") == "ShareGroupsWithConsumers"]
