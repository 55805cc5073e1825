"""Each pipeline step's job request fits the limits SageMaker documents for the job it creates.

A Processing step's `Arguments` are a CreateProcessingJob request and a Training step's a
CreateTrainingJob request (SageMaker Developer Guide, "Pipeline steps",
https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html). The published
pipeline schema checks their structure, not their lengths; SageMaker refuses the job when a step
runs, long after the pipeline was accepted. For example each ContainerEntrypoint and
ContainerArguments string holds at most 256 characters, at most 100 of them (SageMaker API
Reference, "AppSpecification",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html), and the
limits are read here from botocore's service model of those operations.

Pipeline expressions ({"Get": ...}, {"Std:Join": ...}) are resolved at run time and not checked.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.pipeline_definition import DefaultImages, build_pipeline_definition
from tests.contracts.conftest import synthesized
from tests.contracts.service_model import operation, walk_shape

STEP_OPERATIONS = {"Processing": "CreateProcessingJob", "Training": "CreateTrainingJob"}
ARN = "arn:aws:sagemaker:eu-west-1:123456789012"


def _definitions(label: str) -> list[tuple[str, dict[str, Any]]]:
    config = synthesized(label).config
    images = DefaultImages(
        training="683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
        processing="683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
    )
    found = []
    for model in config.models:
        definition = build_pipeline_definition(
            model,
            role_arn=f"arn:aws:iam::123456789012:role/{config.resource_prefix}-pipeline-execution",
            data_bucket_name=f"{config.resource_prefix}-data-123456789012-eu-west-1",
            artifact_bucket_name=f"{config.resource_prefix}-artifacts-123456789012-eu-west-1",
            tracking_server_arn=f"{ARN}:mlflow-tracking-server/{config.resource_prefix}-mlflow",
            code_prefix_uri=f"s3://{config.resource_prefix}-artifacts-123456789012-eu-west-1/code/{model.name}/",
            kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            default_image_uris=images,
            mlflow_server_version=config.mlflow.version,
            automatic_model_registration=config.mlflow.automatic_model_registration,
        )
        found.append((model.name, definition))
    return found


def _steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step, including those in a condition's branches."""
    found = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Condition":
            found += _steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))
    return found


# The configurations that have models (staging and prod configure none).
@pytest.mark.parametrize("label", ["dev", "extreme-tracking-server", "extreme-app"])
def test_every_job_a_pipeline_step_creates_fits_the_documented_limits(label: str) -> None:
    checked = 0
    for model, definition in _definitions(label):
        for step in _steps(definition["Steps"]):
            name = STEP_OPERATIONS.get(step["Type"])
            if name is None:
                continue
            found: list[str] = []
            walk_shape(step["Arguments"], operation("sagemaker", name).input_shape, f"{model}/{step['Name']}", found)
            assert found == [], f"{label}: {found}"
            checked += 1
    models = synthesized(label).config.models
    assert models
    assert checked >= 4 * len(models), "the walk found fewer job steps than Prepare, Train, Evaluate and Register"
