"""The template resolver: intrinsics become what CloudFormation would deploy, or fail loudly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.access.cfn_resolver import ResolutionError, Resolver, deploy, placeholders_in
from tests.access.resolved_platform import PERSONAS, ResolvedPlatform

pytestmark = pytest.mark.xdist_group("access")

PRODUCER: dict[str, Any] = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "mlops-dev-platform"}},
        "Server": {
            "Type": "AWS::SageMaker::MlflowTrackingServer",
            "Properties": {"TrackingServerName": "mlops-dev-mlflow"},
        },
    },
    "Outputs": {
        "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}, "Export": {"Name": "producer:KeyArn"}},
        "BusArn": {
            "Value": {"Fn::GetAtt": ["Bus", "Arn"]},
            "Export": {"Name": {"Fn::Sub": "${AWS::StackName}:BusArn"}},
        },
    },
}


ROOT = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}


def consumer(statements: list[dict[str, Any]], **role: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "mlops-dev-Tester",
                    "AssumeRolePolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ROOT}}]
                    },
                    **role,
                },
            },
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": "mlops-dev-Tester",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                    "Roles": [{"Ref": "Role"}],
                },
            },
        }
    }


def test_intrinsics_resolve_to_deployed_values() -> None:
    resolver = Resolver({"producer": PRODUCER, "consumer": consumer([])})
    assert resolver.resolve("consumer", {"Fn::ImportValue": "producer:BusArn"}) == (
        "arn:aws:events:eu-west-1:123456789012:event-bus/mlops-dev-platform"
    )
    key = resolver.resolve("consumer", {"Fn::ImportValue": "producer:KeyArn"})
    assert key.startswith("arn:aws:kms:eu-west-1:123456789012:key/")
    assert key == resolver.resolve("producer", {"Fn::GetAtt": "Key.Arn"}), "a generated ID is stable"
    assert resolver.resolve("producer", {"Fn::Sub": "${Server.TrackingServerArn}/x-${AWS::Region}"}) == (
        "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev-mlflow/x-eu-west-1"
    )
    assert resolver.resolve("producer", {"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}) == "b"
    assert (
        resolver.resolve("consumer", {"Fn::GetAtt": ["Role", "Arn"]})
        == "arn:aws:iam::123456789012:role/mlops-dev-Tester"
    )


def test_unknown_intrinsics_and_references_raise() -> None:
    resolver = Resolver({"producer": PRODUCER})
    with pytest.raises(ResolutionError, match="Fn::If"):
        resolver.resolve("producer", {"Fn::If": ["IsProd", "a", "b"]})
    with pytest.raises(ResolutionError, match="Missing"):
        resolver.resolve("producer", {"Ref": "Missing"})
    with pytest.raises(ResolutionError, match="exports"):
        resolver.resolve("producer", {"Fn::ImportValue": "nobody:Exports"})


def test_an_unknown_resource_may_only_narrow_an_allow() -> None:
    queue = {"Fn::GetAtt": ["Widget", "Arn"]}
    widget = {"Widget": {"Type": "AWS::Example::Widget", "Properties": {}}}
    allow = consumer([{"Effect": "Allow", "Action": "example:Use", "Resource": queue}])
    allow["Resources"].update(widget)
    role = deploy({"consumer": allow}).role("mlops-dev-Tester")
    assert placeholders_in(role.policies) == ["unresolved:consumer.Widget.Arn"]

    for statement in (
        {"Effect": "Deny", "Action": "example:Use", "Resource": queue},
        {
            "Effect": "Allow",
            "Action": "example:Use",
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": queue}},
        },
    ):
        template = consumer([statement])
        template["Resources"].update(widget)
        with pytest.raises(ResolutionError, match="widen"):
            deploy({"consumer": template})


def test_roles_collect_their_policies_and_boundary() -> None:
    boundary = "arn:aws:iam::123456789012:policy/boundary"
    template = consumer(
        [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        PermissionsBoundary=boundary,
        MaxSessionDuration=7200,
        ManagedPolicyArns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    )
    role = deploy({"consumer": template}).role("mlops-dev-Tester")
    assert role.permissions_boundary == boundary
    assert role.max_session_duration == 7200
    assert [p["Statement"][0]["Action"] for p in role.policies] == ["s3:GetObject"]
    assert role.external_policy_arns == ("arn:aws:iam::aws:policy/ReadOnlyAccess",)


@pytest.mark.parametrize("persona", PERSONAS)
def test_persona_policies_resolve_completely(dev: ResolvedPlatform, customised: ResolvedPlatform, persona: str) -> None:
    """Every ARN a persona is granted is concrete: an unresolved one would silently narrow it."""
    for platform in (dev, customised):
        role = platform.role(persona)
        assert not placeholders_in(role.policies), f"extend cfn_resolver for {placeholders_in(role.policies)}"
        assert not role.external_policy_arns


def test_find_in_map_reads_the_region_row_and_a_missing_row_fails_naming_it() -> None:
    images = {
        "Mappings": {"ImageAccounts": {"eu-west-1": {"account": "141502667606"}}},
        "Resources": {},
    }
    lookup = {"Fn::FindInMap": ["ImageAccounts", {"Ref": "AWS::Region"}, "account"]}
    assert Resolver({"images": images}, region="eu-west-1").resolve("images", lookup) == "141502667606"
    with pytest.raises(ResolutionError, match="ImageAccounts/ap-south-2/account"):
        Resolver({"images": images}, region="ap-south-2").resolve("images", lookup)
