"""Provenance: only the model's pipeline writes what the gate believes and what the deployer serves.

The gate approves on the evidence report at `evidence/<model>/<execution id>/evaluation.json`
and the deployer serves the artifact the Train step wrote under `pipelines/<model>/...`, both in
the artifact bucket. Two independent layers keep every other principal from writing there, in
every configuration:

- IAM: no role of the platform but the pipeline role is granted s3:PutObject there;
- the artifact bucket's policy denies s3:PutObject there to every principal whose
  aws:PrincipalArn is not the pipeline role, so a later grant (a persona change, an
  administrator's policy, the account root) cannot reopen it. For a role session,
  aws:PrincipalArn is the role's ARN: "For IAM roles, the request context returns the ARN of the
  role, not the ARN of the user that assumed the role" (IAM User Guide, "AWS global condition
  context keys",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).

The gate and the deployer verify with their own roles: DescribePipelineExecution, authorised on
resource type pipeline-execution `pipeline/<name>/execution/<id>` (Service Authorization
Reference, "Actions, resources, and condition keys for Amazon SageMaker AI",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html),
and GetObject (HeadObject is authorised as s3:GetObject: Amazon S3 API Reference, "HeadObject",
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html) on the objects they verify.

Decisions are made by the IAM evaluator of tests/access on the synthesized policies, resolved
for a fake account as CloudFormation would resolve them; bucket policies by the Deny matcher of
tests/contracts/deployed.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from stacks.constructs.managed_mlflow import model_package_group_suffix
from stacks.naming import mlflow_name
from tests.access.cfn_resolver import ACCOUNT, REGION, Deployment
from tests.access.iam_eval import Policy, Request, evaluate
from tests.contracts.conftest import Synthesized, deployed_roles
from tests.contracts.deployed import deployed, resource_policy_denies

EXECUTION_ID = "k3x9q2w7zv1a"
# What the Evidence step writes and where the Train step's artifact lands (stacks/pipeline_definition.py).
EVIDENCE_KEY = "evidence/{model}/" + EXECUTION_ID + "/evaluation.json"
ARTIFACT_KEY = (
    "pipelines/{model}/" + EXECUTION_ID + "/train/pipelines-" + EXECUTION_ID + "-Train-Ab12/output/model.tar.gz"
)
PERSONAS = ("DataScientist", "MLOpsEngineer", "Auditor")
# Principals no template defines: an administrator and the account root.
OUTSIDERS = (f"arn:aws:iam::{ACCOUNT}:role/Administrator", f"arn:aws:iam::{ACCOUNT}:root")
# Any suffix fits an MLflow App's groups (matched by length); a tracking server's is computed.
APP_SUFFIX = "a1b2c3"
# The prefixes are reserved for every model, including one onboarded after this deployment.
LATER_MODEL = "onboarded-later"
# The configurations that have models: the package grants exist per configured model.
WITH_MODELS = ("dev", "extreme-tracking-server", "extreme-app")


def _environment(label: str) -> tuple[Synthesized, Deployment]:
    return deployed_roles(label)


def _prefix(found: Synthesized) -> str:
    return found.config.resource_prefix


def _models(found: Synthesized) -> list[str]:
    return [model.name for model in found.config.models]


def _artifact_bucket(found: Synthesized, deployment: Deployment) -> str:
    return str(deployment.resolver.output(found.stack_names["data"], "ArtifactBucketName"))


def _bucket_policies(found: Synthesized, bucket: str) -> list[Mapping[str, Any]]:
    view = deployed(found)
    return [p.prop("PolicyDocument") for p in view.of_type("AWS::S3::BucketPolicy") if p.prop("Bucket") == bucket]


def _allows(deployment: Deployment, role: str, request: Request) -> bool:
    return evaluate(request, [Policy(p) for p in deployment.role(role).policies]).allowed


def _protected_objects(found: Synthesized, bucket: str) -> list[str]:
    return [
        f"arn:aws:s3:::{bucket}/{key.format(model=model)}"
        for model in [*_models(found), LATER_MODEL]
        for key in (EVIDENCE_KEY, ARTIFACT_KEY)
    ]


def test_only_the_pipeline_role_may_write_evidence_and_model_artifacts(synthesized_env: Synthesized) -> None:
    """Every role of the platform, and principals outside it, against every model's evidence and artifact keys.

    Given the platform as deployed, when anyone but the pipeline role puts an object under
    evidence/ or pipelines/, then the bucket policy denies it, and no persona's identity
    policy allows it either; the pipeline role is allowed and not denied.
    """
    found, deployment = _environment(synthesized_env.label)
    bucket = _artifact_bucket(found, deployment)
    policies = _bucket_policies(found, bucket)
    pipeline_role = f"{_prefix(found)}-pipeline-execution"
    assert pipeline_role in deployment.roles
    writers_by_iam: set[str] = set()
    not_denied: set[str] = set()
    for resource in _protected_objects(found, bucket):
        for name, role in deployment.roles.items():
            context = {"aws:PrincipalArn": role.arn, "aws:SecureTransport": "true"}
            request = Request("s3:PutObject", resource, context)
            if _allows(deployment, name, request):
                writers_by_iam.add(name)
            if not any(
                resource_policy_denies(p, action="s3:PutObject", resource=resource, context=context) for p in policies
            ):
                not_denied.add(name)
        for outsider in OUTSIDERS:
            context = {"aws:PrincipalArn": outsider, "aws:SecureTransport": "true"}
            if not any(
                resource_policy_denies(p, action="s3:PutObject", resource=resource, context=context) for p in policies
            ):
                not_denied.add(outsider)

    assert writers_by_iam == {pipeline_role}, f"{synthesized_env.label}: IAM lets {sorted(writers_by_iam)} write"
    assert not_denied == {pipeline_role}, (
        f"{synthesized_env.label}: the bucket policy does not deny {sorted(not_denied - {pipeline_role})}"
    )
    personas = {f"{_prefix(found)}-{persona}" for persona in PERSONAS}
    assert personas <= set(deployment.roles) and not personas & writers_by_iam


def test_the_gate_and_the_deployer_verify_with_their_own_roles(synthesized_env: Synthesized) -> None:
    """The reads the evidence checks make, allowed on this environment's objects and executions only."""
    found, deployment = _environment(synthesized_env.label)
    prefix = _prefix(found)
    bucket = _artifact_bucket(found, deployment)
    model = [*_models(found), LATER_MODEL][0]
    evidence = Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{EVIDENCE_KEY.format(model=model)}")
    artifact = Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{ARTIFACT_KEY.format(model=model)}")
    sm = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    execution = Request(
        "sagemaker:DescribePipelineExecution", f"{sm}:pipeline/{prefix}-{model}/execution/{EXECUTION_ID}"
    )
    other = Request("sagemaker:DescribePipelineExecution", f"{sm}:pipeline/other-team-{model}/execution/{EXECUTION_ID}")
    decrypt = Request(
        "kms:Decrypt",
        str(deployment.resolver.output(found.stack_names["data"], "PlatformKeyArn")),
        {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
    )
    decisions = {
        role: {
            "evidence": _allows(deployment, f"{prefix}-{role}-function", evidence),
            "artifact": _allows(deployment, f"{prefix}-{role}-function", artifact),
            "execution": _allows(deployment, f"{prefix}-{role}-function", execution),
            "other execution": _allows(deployment, f"{prefix}-{role}-function", other),
            "decrypt via S3": _allows(deployment, f"{prefix}-{role}-function", decrypt),
        }
        for role in ("model-gate", "deployer")
    }
    assert decisions == {
        "model-gate": {
            "evidence": True,
            "artifact": False,
            "execution": True,
            "other execution": False,
            "decrypt via S3": True,
        },
        "deployer": {
            "evidence": True,
            "artifact": True,
            "execution": True,
            "other execution": False,
            "decrypt via S3": True,
        },
    }


@pytest.mark.parametrize("label", WITH_MODELS)
def test_the_pipeline_role_records_executions_on_its_models_packages_only(label: str) -> None:
    """The Register step adds the execution to the package automatic registration created, and nothing else."""
    found, deployment = _environment(label)
    config = found.config
    assert config.models, f"{label} has no models; the grant is per configured model"
    suffix = (
        model_package_group_suffix(mlflow_name(found.config)) if config.mlflow.kind == "tracking-server" else APP_SUFFIX
    )
    sm = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    role = f"{config.resource_prefix}-pipeline-execution"
    for model in _models(found):
        own = f"{sm}:model-package/{model}-{suffix}/3"
        assert _allows(deployment, role, Request("sagemaker:UpdateModelPackage", own)), model
        assert _allows(deployment, role, Request("sagemaker:DescribeModelPackage", own)), model
    stranger = f"{sm}:model-package/fraud-{suffix}x/3"
    assert not _allows(deployment, role, Request("sagemaker:UpdateModelPackage", stranger))
