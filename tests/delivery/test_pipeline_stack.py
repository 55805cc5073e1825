"""The delivery pipeline: one gated synth, then dev, staging and prod in their own accounts.

Behaviours relied on are those of the aws-cdk-lib.pipelines README
(https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.pipelines-readme.html): self-mutation,
`crossAccountKeys: true` for deploying to other accounts, stages deployed in the order added with
their stacks ordered by dependency, and a `ManualApprovalStep` in a stage's `pre` steps.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.delivery_compliance import _reason
from stacks.delivery_stack import PROD_APPROVAL
from tests.delivery.conftest import pipeline_template
from tests.delivery.fixtures import ACCOUNTS, CONNECTION, REGIONS, TOOLING_REGION
from tests.infra.test_snapshots import normalise
from tests.lint import findings

BOOTSTRAP_QUALIFIER = "hnb659fds"  # the default qualifier of `cdk bootstrap`


def _pipeline() -> dict[str, Any]:
    (pipeline,) = pipeline_template().find_resources("AWS::CodePipeline::Pipeline").values()
    return dict(pipeline["Properties"])


def _stage(name: str) -> list[dict[str, Any]]:
    return next(stage["Actions"] for stage in _pipeline()["Stages"] if stage["Name"] == name)


def _synth_buildspec() -> dict[str, Any]:
    projects = pipeline_template().find_resources("AWS::CodeBuild::Project")
    for project in projects.values():
        spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
        if "make synth-delivery" in json.dumps(spec):
            return dict(spec)
    raise AssertionError("no CodeBuild project runs the synth commands")


def test_stages_run_source_synth_self_update_then_dev_staging_prod() -> None:
    names = [stage["Name"] for stage in _pipeline()["Stages"]]
    assert names[:3] == ["Source", "Build", "UpdatePipeline"]
    environments = [n for n in names if n in ACCOUNTS]
    assert environments == ["dev", "staging", "prod"]
    assert names.index("UpdatePipeline") < names.index("dev")


def test_the_pipeline_updates_itself_before_deploying() -> None:
    (action,) = _stage("UpdatePipeline")
    assert action["Name"] == "SelfMutate"
    assert action["ActionTypeId"]["Category"] == "Build"


def test_source_is_the_configured_connection_repository_and_branch() -> None:
    (source,) = _stage("Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == CONNECTION
    assert source["Configuration"]["FullRepositoryId"] == "example-org/mlops-platform"
    assert source["Configuration"]["BranchName"] == "main"


def test_synth_runs_the_gates_then_synthesizes_with_ci_runtimes() -> None:
    spec = _synth_buildspec()
    commands = spec["phases"]["build"]["commands"]
    assert commands == ["make lint", "make test", "make synth-delivery"]
    assert spec["phases"]["install"]["runtime-versions"] == {"nodejs": "22", "python": "3.11"}
    assert spec["artifacts"]["base-directory"] == "cdk.out"
    images = {
        p["Properties"]["Environment"]["Image"]
        for p in pipeline_template().find_resources("AWS::CodeBuild::Project").values()
    }
    assert images == {"aws/codebuild/standard:7.0"}


def test_prod_waits_for_a_manual_approval_before_any_deployment() -> None:
    actions = _stage("prod")
    approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
    assert [a["Name"] for a in approvals] == [PROD_APPROVAL]
    deployments = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert deployments and min(a["RunOrder"] for a in deployments) > approvals[0]["RunOrder"]


@pytest.mark.parametrize("env_name", ["dev", "staging"])
def test_earlier_stages_deploy_without_a_person(env_name: str) -> None:
    assert all(a["ActionTypeId"]["Category"] != "Approval" for a in _stage(env_name))


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_each_stage_deploys_its_stacks_into_its_own_account_and_region(env_name: str) -> None:
    account, region = ACCOUNTS[env_name], REGIONS[env_name]
    deployments = [a for a in _stage(env_name) if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    stacks = {a["Configuration"]["StackName"] for a in deployments}
    assert stacks == {
        f"mlops-{env_name}-{unit}" for unit in ("data", "tracking", "automation", "access", "model-churn")
    }
    for action in deployments:
        # An action in the pipeline's own region carries no Region
        assert action.get("Region", TOOLING_REGION) == region
        assert f"cdk-{BOOTSTRAP_QUALIFIER}-deploy-role-{account}-{region}" in json.dumps(action["RoleArn"])
    # CloudFormation creates the stacks' resources as the target account's execution role
    prepares = [a for a in deployments if a["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"]
    assert {a["Configuration"]["StackName"] for a in prepares} == stacks
    for action in prepares:
        execution_role = json.dumps(action["Configuration"]["RoleArn"])
        assert f"cdk-{BOOTSTRAP_QUALIFIER}-cfn-exec-role-{account}-{region}" in execution_role


def _execute_order(env_name: str) -> dict[str, int]:
    return {
        a["Configuration"]["StackName"].split(f"mlops-{env_name}-")[1]: a["RunOrder"]
        for a in _stage(env_name)
        if a["ActionTypeId"]["Provider"] == "CloudFormation"
        and a["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"
    }


def test_stacks_deploy_in_dependency_waves() -> None:
    order = _execute_order("dev")
    # data -> tracking -> automation, then access and the model stack side by side
    assert order["data"] < order["tracking"] < order["automation"]
    assert order["access"] == order["model-churn"] > order["automation"]


def test_artifacts_are_encrypted_with_a_rotating_key_other_accounts_can_be_granted() -> None:
    template = pipeline_template()
    (key,) = template.find_resources("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    (bucket,) = [
        b for b in template.find_resources("AWS::S3::Bucket").values() if "BucketEncryption" in b["Properties"]
    ]
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"]


def test_pipeline_stack_matches_snapshot(snapshot: SnapshotAssertion) -> None:
    assert normalise(pipeline_template().to_json()) == snapshot.use_extension(JSONSnapshotExtension)


def test_pipeline_template_is_cfn_lint_clean() -> None:
    # E3703 here only prefers Fn::Sub to the Fn::Join CDK Pipelines writes for the target accounts'
    # execution role ARNs in action configuration; both are valid intrinsics for a string.
    assert findings(pipeline_template().to_json(), [TOOLING_REGION], also_ignored=["E3703"]) == []


def test_a_generated_policy_without_a_reviewed_reason_stops_synth() -> None:
    # Given a policy path no reviewed reason covers, Then acknowledging it is refused by name
    with pytest.raises(ValueError, match="no reviewed reason"):
        _reason("mlops-delivery/Pipeline/SomethingNew/Role/DefaultPolicy")
