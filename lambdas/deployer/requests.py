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
