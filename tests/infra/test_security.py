"""Security properties of the synthesized stacks, each stated on its own."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.synth import synth


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return template.find_resources(kind)


def bucket_by_name_part(template: Template, part: str) -> dict[str, Any]:
    for resource in resources(template, "AWS::S3::Bucket").values():
        name = resource["Properties"]["BucketName"]
        joined = "".join(p if isinstance(p, str) else "" for p in name["Fn::Join"][1])
        if part in joined:
            return resource
    raise AssertionError(f"no bucket named like {part!r}")


def test_platform_key_rotates_and_is_retained(dev_templates: dict[str, Template]) -> None:
    dev_templates["data"].has_resource(
        "AWS::KMS::Key",
        {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
    )


@pytest.mark.parametrize("part", ["-data-", "-mlflow-artifacts-", "-access-logs-"])
def test_every_bucket_is_private_versioned_retained_and_lifecycled(
    dev_templates: dict[str, Template], part: str
) -> None:
    bucket = bucket_by_name_part(dev_templates["data"], part)
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    assert any("AbortIncompleteMultipartUpload" in r for r in rules)


@pytest.mark.parametrize("part", ["-data-", "-mlflow-artifacts-"])
def test_data_buckets_use_the_platform_key_and_log_access(dev_templates: dict[str, Template], part: str) -> None:
    props = bucket_by_name_part(dev_templates["data"], part)["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "Fn::GetAtt" in rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert "DestinationBucketName" in props["LoggingConfiguration"]


def test_only_the_data_bucket_sends_events_to_eventbridge_natively(dev_templates: dict[str, Template]) -> None:
    data = dev_templates["data"]
    enabled = bucket_by_name_part(data, "-data-")["Properties"]["NotificationConfiguration"]
    assert enabled == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert "NotificationConfiguration" not in bucket_by_name_part(data, "-mlflow-artifacts-")["Properties"]
    # No custom resource (Lambda) is needed to switch notifications on.
    assert resources(data, "Custom::S3BucketNotifications") == {}
    assert resources(data, "AWS::Lambda::Function") == {}


def test_every_bucket_refuses_plain_http(dev_templates: dict[str, Template]) -> None:
    policies = resources(dev_templates["data"], "AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_tracking_server_settings(dev_templates: dict[str, Template]) -> None:
    dev_templates["tracking"].has_resource(
        "AWS::SageMaker::MlflowTrackingServer",
        {
            "Properties": {
                "TrackingServerName": "mlops-dev-mlflow",
                "TrackingServerSize": "Small",
                "MlflowVersion": "3.0",
                "WeeklyMaintenanceWindowStart": "Sun:02:00",
                "AutomaticModelRegistration": True,
                "ArtifactStoreUri": {
                    "Fn::Join": ["", Match.array_with([Match.string_like_regexp("/mlflow/mlops-dev-mlflow$")])]
                },
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_tracking_service_role_is_trusted_by_sagemaker_only(dev_templates: dict[str, Template]) -> None:
    roles = resources(dev_templates["tracking"], "AWS::IAM::Role")
    (role,) = roles.values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"


def test_tracking_service_policy_is_limited_to_its_artifact_root_and_registry(
    dev_templates: dict[str, Template],
) -> None:
    (policy,) = resources(dev_templates["tracking"], "AWS::IAM::ManagedPolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "ArtifactObjects",
        "ArtifactListing",
        "ArtifactBucketLocation",
        "ArtifactEncryption",
        "AutomaticModelRegistration",
        "RegistrationLineage",
    }
    objects = statements["ArtifactObjects"]["Resource"]["Fn::Join"][1]
    assert objects[-1].endswith("/mlflow/mlops-dev-mlflow/*")
    assert sorted(statements["AutomaticModelRegistration"]["Action"]) == sorted(
        [
            "sagemaker:AddTags",
            "sagemaker:CreateModelPackageGroup",
            "sagemaker:CreateModelPackage",
            "sagemaker:UpdateModelPackage",
            "sagemaker:DescribeModelPackageGroup",
        ]
    )
    assert sorted(statements["RegistrationLineage"]["Action"]) == [
        "sagemaker:AddAssociation",
        "sagemaker:AddTags",
        "sagemaker:CreateAction",
    ]
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert "*" not in statement["Action"]


def test_serverless_app_variant(dev_templates: dict[str, Template]) -> None:
    context_platform = {"prefix": "mlops", "environments": {"dev": {"mlflow": {"kind": "app"}}}}
    _, templates = synth("dev", context_platform)
    tracking = templates["tracking"]
    tracking.resource_count_is("AWS::SageMaker::MlflowTrackingServer", 0)
    tracking.has_resource(
        "AWS::SageMaker::MlflowApp",
        {
            "Properties": {"Name": "mlops-dev-mlflow", "ModelRegistrationMode": "AutoModelRegistrationEnabled"},
            "DeletionPolicy": "Retain",
        },
    )
    outputs = tracking.find_outputs("MlflowUiCommand")
    assert "create-presigned-mlflow-app-url" in str(outputs)


def test_persona_roles_exist_with_bounded_sessions(dev_templates: dict[str, Template]) -> None:
    roles = resources(dev_templates["access"], "AWS::IAM::Role")
    names = {r["Properties"]["RoleName"]: r for r in roles.values()}
    assert set(names) == {"mlops-dev-DataScientist", "mlops-dev-MLOpsEngineer", "mlops-dev-Auditor"}
    for role in names.values():
        assert role["Properties"]["MaxSessionDuration"] == 4 * 3600


def test_persona_policies_are_managed_not_inline(dev_templates: dict[str, Template]) -> None:
    access = dev_templates["access"]
    access.resource_count_is("AWS::IAM::Policy", 0)
    # One per persona, and the MLOpsEngineer's redrive and replay grants in a second one.
    access.resource_count_is("AWS::IAM::ManagedPolicy", 4)


def test_outputs_name_what_operators_look_up(dev_templates: dict[str, Template]) -> None:
    automation = dev_templates["automation"].find_outputs("*")
    exported = {
        "PlatformBusName",
        "PlatformBusArn",
        "ArchiveName",
        "ArchiveArn",
        "EventsDlqUrl",
        "EventsDlqArn",
        "FunctionsDlqUrl",
        "FunctionsDlqArn",
    }
    for name in exported:
        assert automation[name]["Export"] == {"Name": f"mlops-dev-{name}"}, name
    archive = automation["ArchiveName"]["Value"]["Ref"]
    resources = dev_templates["automation"].to_json()["Resources"]
    assert resources[archive]["Properties"]["ArchiveName"] == "mlops-dev-platform"
    assert {"RetrainingTriggerFunctionName", "ModelGateFunctionName", "DeployerFunctionName"} <= set(automation)
    model = dev_templates["model-churn"].find_outputs("*")
    assert model["PackageGroupName"]["Value"].startswith("churn-") and len(model["PackageGroupName"]["Value"]) == 12
    assert {"PipelineName", "EndpointName"} <= set(model)


def test_outputs_name_the_roles_and_the_server(dev_templates: dict[str, Template]) -> None:
    assert set(dev_templates["access"].find_outputs("*")) >= {
        "DataScientistRoleArn",
        "MLOpsEngineerRoleArn",
        "AuditorRoleArn",
    }
    assert {"MlflowArn", "MlflowUiCommand"} <= set(dev_templates["tracking"].find_outputs("*"))


def test_stateful_stacks_are_termination_protected_in_prod_only() -> None:
    _, prod = synth("prod")
    _, dev = synth("dev")
    assert prod["data"].termination_protection and prod["tracking"].termination_protection
    assert not prod["access"].termination_protection
    assert not dev["data"].termination_protection


def test_permissions_boundary_applies_to_every_role() -> None:
    boundary = "arn:aws:iam::123456789012:policy/platform-boundary"
    _, templates = synth("dev", {"prefix": "mlops", "environments": {"dev": {"permissions_boundary_arn": boundary}}})
    count = 0
    for template in templates.values():
        for role in resources(template, "AWS::IAM::Role").values():
            assert role["Properties"]["PermissionsBoundary"] == boundary
            count += 1
    assert count >= 4


def test_tags_from_config_reach_resources(dev_templates: dict[str, Template]) -> None:
    dev_templates["data"].has_resource_properties(
        "AWS::KMS::Key",
        {
            "Tags": Match.array_with(
                [{"Key": "cost-center", "Value": "ml-platform"}, {"Key": "environment", "Value": "dev"}]
            )
        },
    )


def test_every_function_can_use_the_key_of_its_settings_and_failed_invocations_queue(
    dev_templates: dict[str, Template],
) -> None:
    automation = dev_templates["automation"]
    (key_id,) = automation.find_resources("AWS::KMS::Key")
    functions = automation.find_resources("AWS::Lambda::Function")
    policies = automation.find_resources("AWS::IAM::Policy")
    # The loop's three handlers, and the monitoring launcher of the fixture's platform-monitored models
    assert sorted(f["Properties"]["FunctionName"] for f in functions.values()) == [
        "mlops-dev-deployer",
        "mlops-dev-model-gate",
        "mlops-dev-monitoring-launcher",
        "mlops-dev-retraining-trigger",
    ]
    for function in functions.values():
        props = function["Properties"]
        assert props["KmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
        role_id = props["Role"]["Fn::GetAtt"][0]
        statements = [
            statement
            for policy in policies.values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        key_statements = [s for s in statements if s["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}]
        granted = {a for s in key_statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= granted, props["FunctionName"]
        assert "ReservedConcurrentExecutions" not in props, "reservations are opt-in (functions.reserved_concurrency)"
