"""A data scientist tries to get a model of their choice deployed; with the synthesized policies, they cannot.

What the DataScientist role may do is taken from dev's synthesized, resolved policies: S3 calls
run in moto with IAM enforced on the role's own session (and are judged by the IAM evaluator,
plus the artifact bucket's policy, which moto does not evaluate); MLflow calls, which moto does
not serve, are judged by the evaluator and then made against an in-memory MLflow registry.
Everything the role may do, it does. The gate and the deployer then run their real logic on
the outcome (SageMaker and S3 in moto).

The rows document the premise as much as the defence: the role may log metrics to any run,
create model versions and tag them, and write MLflow artifacts. None of it reaches an endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployer import logic as deployer_logic
from deployer.run import APPROVAL, Deployment, Trigger
from model_gate import logic as gate_logic
from model_gate.models import ModelPackageDetail
from platform_common import domain_events
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EXECUTION_KEY
from stacks.constructs.managed_mlflow import model_package_group_suffix
from stacks.naming import mlflow_name
from tests.access.cfn_resolver import REGION
from tests.access.iam_eval import Request
from tests.access.resolved_platform import ResolvedPlatform
from tests.access.test_persona_s3_moto import moto_allows
from tests.contracts.deployed import resource_policy_denies
from tests.handlers.conftest import example_settings
from tests.handlers.fakes import FakeMlflow
from tests.handlers.provenance import ARTIFACT_BUCKET, Execution, Pipelines, model_archive

pytestmark = pytest.mark.xdist_group("access")

PERSONA = "DataScientist"
MODEL_ROLE_ARN = "arn:aws:iam::123456789012:role/mlops-dev-model-execution"


@dataclass
class World:
    """dev in moto: the data scientist's session, the model's pipeline, the registry, and what was published."""

    platform: ResolvedPlatform
    scientist: boto3.Session
    pipelines: Pipelines
    mlflow: FakeMlflow
    group: str
    published: list[DomainEvent] = field(default_factory=list)

    @property
    def sagemaker(self) -> Any:
        return self.pipelines.sagemaker

    def scientist_may(self, action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
        """The evaluator's decision on the data scientist's role."""
        return self.platform.decide(PERSONA, Request(action, self.platform.fill(resource), dict(context or {}))).allowed

    def bucket_policy_denies(self, action: str, key: str) -> bool:
        """Whether the artifact bucket's policy denies the data scientist's role this request."""
        role_arn = self.platform.role(PERSONA).arn
        context = {"aws:PrincipalArn": role_arn, "aws:SecureTransport": "true"}
        resource = f"arn:aws:s3:::{ARTIFACT_BUCKET}/{key}"
        return any(
            resource_policy_denies(policy, action=action, resource=resource, context=context)
            for policy in artifact_bucket_policies(self.platform)
        )

    def register(self, version: int, **package: Any) -> str:
        """What automatic registration does for a new MLflow version: a pending package of the model's group."""
        arn = str(
            self.sagemaker.create_model_package(
                ModelPackageGroupName=self.group, ModelApprovalStatus="PendingManualApproval", **package
            )["ModelPackageArn"]
        )
        self.mlflow.versions[("churn", str(version))]["tags"]["sagemaker.model_package_arn"] = arn
        return arn

    def gate(self, package_arn: str) -> str:
        """The gate on the package's pending event; the package's status afterwards."""
        detail = ModelPackageDetail.model_validate(
            {
                "ModelPackageGroupName": self.group,
                "ModelPackageArn": package_arn,
                "ModelApprovalStatus": "PendingManualApproval",
            }
        )
        gate_logic.evaluate_package(
            detail,
            example_settings(),
            sagemaker=self.sagemaker,
            mlflow=self.mlflow,
            evidence=self.pipelines.store(),
            publish=self.published.append,
        )
        return str(self.sagemaker.describe_model_package(ModelPackageName=package_arn)["ModelApprovalStatus"])

    def deploy(self, package_arn: str) -> str:
        """The deployer's reconciliation on the package's approval; what it did."""
        outcome = deployer_logic.reconcile(
            Deployment(
                example_settings(),
                self.group,
                self.sagemaker,
                self.mlflow,
                self.published.append,
                MODEL_ROLE_ARN,
                self.pipelines.store(),
            ),
            Trigger(APPROVAL, package_arn, "approval"),
        )
        return outcome.action

    def reason(self, package_arn: str) -> str:
        return str(self.sagemaker.describe_model_package(ModelPackageName=package_arn).get("ApprovalDescription"))


def artifact_bucket_policies(platform: ResolvedPlatform) -> list[Mapping[str, Any]]:
    """The resolved bucket policies of dev's artifact bucket."""
    resolver = platform.deployment.resolver
    stack = platform.config.stack_name("data")
    found = []
    for resource in resolver.template(stack)["Resources"].values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            props = resolver.resolve(stack, resource["Properties"])
            if props["Bucket"] == ARTIFACT_BUCKET:
                found.append(props["PolicyDocument"])
    assert found, f"no bucket policy on {ARTIFACT_BUCKET}"
    return found


@pytest.fixture
def world(dev: ResolvedPlatform) -> Iterator[World]:
    assert dev.names["artifacts"] == ARTIFACT_BUCKET
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        role = dev.role(PERSONA)
        iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust_policy))
        for index, document in enumerate(role.policies):
            arn = iam.create_policy(PolicyName=f"{role.name}-{index}", PolicyDocument=json.dumps(document))
            iam.attach_role_policy(RoleName=role.name, PolicyArn=arn["Policy"]["Arn"])
        credentials = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=role.arn, RoleSessionName="scientist"
        )["Credentials"]
        scientist = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        pipelines = Pipelines()
        group = f"churn-{model_package_group_suffix(mlflow_name(dev.config))}"
        pipelines.sagemaker.create_model_package_group(ModelPackageGroupName=group)
        yield World(platform=dev, scientist=scientist, pipelines=pipelines, mlflow=FakeMlflow(), group=group)


def pipeline_produces(world: World, version: int, accuracy: float) -> tuple[Execution, str]:
    """The model's pipeline: an execution with evidence, MLflow version `version` tagged with it, its package."""
    execution = world.pipelines.execute("churn", metrics={"accuracy": accuracy}, run_id=f"run{version:04d}")
    world.mlflow.add_version("churn", version, {"accuracy": accuracy}, package=None, tags=execution.claim())
    package = world.register(version, InferenceSpecification=execution.inference_specification())
    return execution, package


def test_the_pipelines_own_version_with_valid_evidence_is_approved_and_deployed(world: World) -> None:
    # Given the pipeline's version, evaluated at 0.95
    _, package = pipeline_produces(world, 3, 0.95)

    # When the gate and then the deployer act on it, then it is approved and deployed
    assert world.gate(package) == "Approved"
    assert world.deploy(package) == "created"


def test_forged_metrics_do_not_get_a_worse_model_approved(world: World) -> None:
    # Given a champion evaluated at 0.95 and the pipeline's new version evaluated at 0.91
    pipeline_produces(world, 2, 0.95)
    world.mlflow.aliases[("churn", "champion")] = "2"
    _, challenger = pipeline_produces(world, 3, 0.91)

    # When the data scientist logs a better metric to the challenger's run and a worse one to the champion's,
    # which their role allows
    assert world.scientist_may("sagemaker-mlflow:LogMetric", "{server}")
    assert world.scientist_may("sagemaker-mlflow:LogBatch", "{server}")
    world.mlflow.metrics["run0003"].update(accuracy=0.999, test_accuracy=0.999)
    world.mlflow.metrics["run0002"].update(accuracy=0.1, test_accuracy=0.1)

    # Then the gate still compares the evaluated numbers, and rejects it
    assert world.gate(challenger) == "Rejected"
    assert world.reason(challenger) == "accuracy 0.9100 >= threshold 0.9000 but does not beat champion v2 (0.9500)"


def test_a_model_of_the_scientists_own_is_rejected_and_never_deployed(world: World) -> None:
    # Given a model the data scientist trained, logged and registered themselves, which their role allows
    assert world.scientist_may("sagemaker-mlflow:CreateModelVersion", "{server}")
    key = "mlflow/{mlflow_name}/7/models/m-0a1b2c/artifacts/model.tar.gz"
    s3 = world.scientist.client("s3")
    assert moto_allows(
        lambda: s3.put_object(Bucket=ARTIFACT_BUCKET, Key=world.platform.fill(key), Body=model_archive("experiment42"))
    )
    world.mlflow.add_version("churn", 7, {"accuracy": 0.999}, package=None, run_id="experiment42")
    own = {"Containers": [{"Image": "image", "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/{world.platform.fill(key)}"}]}
    package = world.register(7, InferenceSpecification=own)

    # When the gate sees its package, then it is rejected quietly, saying why
    assert world.gate(package) == "Rejected"
    assert world.reason(package).startswith("not produced by the model's pipeline, so never approved:")
    assert [event.detail_type for event in world.published] == [domain_events.MODEL_PROVENANCE_REJECTED]
    # And the data scientist cannot approve it themselves (moto and the evaluator agree)
    sagemaker = world.scientist.client("sagemaker")
    assert not moto_allows(
        lambda: sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    )
    assert not world.scientist_may("sagemaker:UpdateModelPackage", package)


def test_forged_tags_do_not_make_a_scientists_version_the_pipelines(world: World) -> None:
    # Given the pipeline's real execution, and the data scientist's own version, which their role may tag
    execution, _ = pipeline_produces(world, 3, 0.93)
    assert world.scientist_may("sagemaker-mlflow:SetModelVersionTag", "{server}")
    world.mlflow.add_version("churn", 8, {"accuracy": 0.999}, package=None, run_id="experiment42")
    world.mlflow.set_model_version_tag("churn", "8", EXECUTION_KEY, execution.arn)

    # When its package serves the pipeline's artifact and image (copied from the pipeline's package)
    copied = world.register(8, InferenceSpecification=execution.inference_specification())

    # Then the run gives it away: rejected
    assert world.gate(copied) == "Rejected"
    assert "was registered from run experiment42" in world.reason(copied)


def test_the_scientist_cannot_overwrite_the_evaluated_artifact_or_the_evidence(world: World) -> None:
    # Given the pipeline's approved version
    execution, package = pipeline_produces(world, 3, 0.95)
    assert world.gate(package) == "Approved"
    artifact_key = execution.artifact_uri.split("/", 3)[3]
    evidence_key = execution.evidence_uri.split("/", 3)[3]

    # When the data scientist tries to replace the artifact or the evidence, then IAM refuses (moto and the
    # evaluator agree) and the bucket policy would refuse even a role that IAM allowed
    s3 = world.scientist.client("s3")
    for key in (artifact_key, evidence_key):
        assert not moto_allows(lambda key=key: s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=b"mine"))
        assert not world.scientist_may("s3:PutObject", f"arn:aws:s3:::{ARTIFACT_BUCKET}/{key}")
        assert world.bucket_policy_denies("s3:PutObject", key)

    # And had the artifact been replaced anyway, the deployer would not serve it
    world.pipelines.overwrite_artifact(execution)
    assert world.deploy(package) == "failed"
    assert world.sagemaker.list_models()["Models"] == []
