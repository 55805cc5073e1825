"""What a pipeline run may spend: its jobs run only on the instance types the models are configured with.

StartPipelineExecution carries no condition key on parameter values (Service Authorization
Reference, "Actions, resources, and condition keys for Amazon SageMaker AI",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html), so
whoever may start a pipeline may pass any `TrainingInstanceType`. The jobs the pipeline then
creates are authorised against its role, and CreateTrainingJob / CreateProcessingJob carry
`sagemaker:InstanceTypes` (same page; SageMaker Developer Guide, "Amazon SageMaker AI
identity-based policy examples",
https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html): the
role is where the bound holds, whoever started the run.
"""

from __future__ import annotations

import pytest

from tests.access.iam_eval import Policy, Request, evaluate
from tests.contracts.conftest import CONFIGURATIONS, Synthesized, deployed_roles, synthesized

SM = "arn:aws:sagemaker:eu-west-1:123456789012"
UNCONFIGURED = "ml.p4d.24xlarge"


def _pipeline_role_allows(found: Synthesized, request: Request) -> bool:
    _, deployment = deployed_roles(found.label)
    role = f"{found.config.resource_prefix}-pipeline-execution"
    return evaluate(request, [Policy(p) for p in deployment.role(role).policies]).allowed


@pytest.mark.parametrize("label", CONFIGURATIONS)
@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("sagemaker:CreateTrainingJob", f"{SM}:training-job/pipelines-abc-train-x"),
        ("sagemaker:CreateProcessingJob", f"{SM}:processing-job/pipelines-abc-prepare-x"),
    ],
)
def test_pipeline_jobs_run_only_on_configured_instance_types(label: str, action: str, resource: str) -> None:
    found = synthesized(label)
    models = found.config.models
    configured = sorted({t for m in models for t in (m.training.instance_type, m.processing.instance_type)})

    # A job on an instance type no model is configured with is refused, in every configuration
    assert not _pipeline_role_allows(found, Request(action, resource, {"sagemaker:InstanceTypes": [UNCONFIGURED]}))
    assert not _pipeline_role_allows(
        found, Request(action, resource, {"sagemaker:InstanceTypes": [*configured, UNCONFIGURED]})
    )
    # And each configured type is allowed where there are models to train
    for instance_type in configured:
        assert _pipeline_role_allows(found, Request(action, resource, {"sagemaker:InstanceTypes": [instance_type]}))
    if not models:
        assert not _pipeline_role_allows(found, Request(action, resource, {"sagemaker:InstanceTypes": ["ml.m5.large"]}))
