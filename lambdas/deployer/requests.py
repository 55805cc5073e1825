"""The SageMaker requests the deployer sends, built from a catalog entry (pure functions).

Names: models, endpoint configs and endpoints allow at most 63 characters matching
`[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}` (SageMaker API Reference, "CreateEndpointConfig",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html).
The deployer names a model and its endpoint config `<endpoint>-v<package version>` and reads
the version back from the config an endpoint serves.

Blue/green: an update keeps the variant name (Developer Guide, "Exclusions",
https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html:
"your new endpoint configuration must have the same variant name as the old endpoint
configuration"), hence the one fixed variant `AllTraffic`. The traffic shifting comes from
`platform_common.deployment_policy`, the rules configuration validation applies too.
"""

from __future__ import annotations

import re
from typing import Any

from platform_common.catalog import ModelSettings
from platform_common.deployment_policy import MAX_ROLLBACK_ALARMS, TrafficPlan, plan_traffic_shift
from platform_common.monitoring import capture_prefix
from platform_common.resource_names import MODEL_TAG, version_resource_name

VARIANT_NAME = "AllTraffic"
VERSION_TAG = "mlops:model-version"
PACKAGE_TAG = "mlops:model-package-arn"

_VERSION_SUFFIX_RE = re.compile(r"-v(?P<version>[1-9]\d*)$")


def version_from_config_name(endpoint_name: str, config_name: str | None) -> int | None:
    """The version a config of this endpoint was created for, or None if the deployer did not name it."""
    match = _VERSION_SUFFIX_RE.search(config_name or "")
    if match is None:
        return None
    version = int(match.group("version"))
    return version if version_resource_name(endpoint_name, version) == config_name else None


def deployment_plan(settings: ModelSettings) -> TrafficPlan:
    """The traffic shifting this model's endpoint updates use (DeploymentPolicyError if impossible)."""
    return plan_traffic_shift(
        strategy=settings.deployment_strategy,
        instance_count=settings.instance_count,
        serverless=settings.serverless_memory_mb is not None,
        canary_percent=settings.canary_percent,
        linear_step_percent=settings.linear_step_percent,
        wait_seconds=settings.wait_seconds,
        termination_wait_seconds=settings.termination_wait_seconds,
    )


def build_deployment_config(settings: ModelSettings, plan: TrafficPlan | None = None) -> dict[str, Any] | None:
    """UpdateEndpoint's `DeploymentConfig`, or None where none may be sent (serverless)."""
    plan = plan or deployment_plan(settings)
    if not plan.uses_guardrails:
        return None
    routing: dict[str, Any] = {
        "Type": plan.strategy.upper().replace("-", "_"),
        "WaitIntervalInSeconds": plan.wait_seconds,
    }
    if plan.step_instances is not None:
        size = {"Type": "INSTANCE_COUNT", "Value": plan.step_instances}
        routing["CanarySize" if plan.strategy == "canary" else "LinearStepSize"] = size
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": plan.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": plan.timeout_seconds,
        }
    }
    alarms = list(settings.rollback_alarm_names)[:MAX_ROLLBACK_ALARMS]
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return config


def production_variant(settings: ModelSettings, model_name: str) -> dict[str, Any]:
    """The single `AllTraffic` variant: serverless when the catalog gives serverless settings."""
    variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    if settings.serverless_memory_mb is not None:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": settings.serverless_memory_mb,
            "MaxConcurrency": settings.serverless_max_concurrency or 1,
        }
    else:
        variant.update(
            InstanceType=settings.instance_type,
            InitialInstanceCount=settings.instance_count,
            InitialVariantWeight=1.0,
        )
    return variant


def version_tags(settings: ModelSettings, version: int, package_arn: str) -> list[dict[str, str]]:
    """Tags of a version's model and endpoint config, for people reading the console."""
    return [
        {"Key": MODEL_TAG, "Value": settings.name},
        {"Key": VERSION_TAG, "Value": str(version)},
        {"Key": PACKAGE_TAG, "Value": package_arn},
    ]


# Captured payloads are recorded as text for these content types; any other is base64-encoded
# ("If no headers are specified SageMaker AI will by default base64 encode when capturing the
# data", SageMaker API Reference, "DataCaptureConfig",
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html).
CAPTURE_CSV_CONTENT_TYPES = ("text/csv",)
CAPTURE_JSON_CONTENT_TYPES = ("application/json", "application/jsonlines")


def data_capture_config(settings: ModelSettings, data_bucket: str, key_arn: str) -> dict[str, Any] | None:
    """CreateEndpointConfig's `DataCaptureConfig` for this model, or None where nothing is captured.

    Requests and responses go to `s3://<data bucket>/monitoring/<model>/capture/`, encrypted with
    the platform key. A caller's `InferenceId` (InvokeEndpoint) is recorded in each captured
    record's `eventMetadata.inferenceId`, the key ground truth joins on (SageMaker Developer
    Guide, "Ingest Ground Truth labels and merge them with predictions",
    https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html):
    nothing needs configuring for it beyond capturing both input and output.

    Serverless endpoints do not support data capture (SageMaker Developer Guide, "Deploy models
    with Amazon SageMaker Serverless Inference", Feature exclusions,
    https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): none is sent.
    """
    if settings.capture_sampling_percent is None or settings.serverless_memory_mb is not None:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": settings.capture_sampling_percent,
        "DestinationS3Uri": f"s3://{data_bucket}/{capture_prefix(settings.name)}",
        "KmsKeyId": key_arn,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": list(CAPTURE_CSV_CONTENT_TYPES),
            "JsonContentTypes": list(CAPTURE_JSON_CONTENT_TYPES),
        },
    }
