"""What a model's endpoint is doing, read back from SageMaker; an event is never taken at its word.

DescribeEndpoint (SageMaker API Reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html) gives the
status, the config the endpoint serves (`EndpointConfigName`), the config an update or creation
is moving to (`PendingDeploymentSummary`, "only returned when the endpoint is creating or
updating with a new endpoint configuration",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PendingDeploymentSummary.html) and
`FailureReason` ("If the status of the endpoint is Failed, or the status is InService but update
operation fails, this provides the reason why it failed").

Which package a config serves is read from what the deployer wrote when it created the config
and from SageMaker's own description, never from the config's name alone: DescribeEndpointConfig
names the variant's model, DescribeModel its container's `ModelPackageName`, and ListTags
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListTags.html) the config's
`mlops:model` and `mlops:model-package-arn` tags. A config counts as the deployer's own only if
its tags name this model and the same package its model runs.

The endpoint itself carries two tags the deployer keeps up to date with AddTags ("Adds or
overwrites one or more tags", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AddTags.html):
`mlops:target-package-arn`, the package of the last creation or update it started (pointed
back at what serves once a rollback of it has been dealt with), and
`mlops:promoted-package-arn`, the package it last made champion. The first tells a rollback
apart from an update that never happened, and from a FailureReason that outlived its
rollback; the second lets a check with nothing to do finish without calling MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from deployer.requests import PACKAGE_TAG
from platform_common.champion_record import PROMOTED_PACKAGE_TAG
from platform_common.resource_names import MODEL_TAG

TARGET_PACKAGE_TAG = "mlops:target-package-arn"

# Statuses SageMaker leaves by itself ("Updating: UpdateEndpoint or ... is executing", ...):
# the deployer waits for them to end and acts on the next endpoint event or periodic check.
# OutOfService ("not available to take incoming requests") is waited out too: the
# documentation does not say whether an update is accepted then, and waiting is safe.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "OutOfService"})
# Statuses that need a person: a Failed endpoint can only be deleted.
BROKEN_STATUSES = frozenset({"Failed", "UpdateRollbackFailed"})


@dataclass(frozen=True)
class Endpoint:
    """One DescribeEndpoint answer, with the endpoint's tags."""

    name: str
    arn: str
    status: str
    config_name: str | None
    pending_config_name: str | None
    failure_reason: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    traffic_routing: str | None = None

    @property
    def busy(self) -> bool:
        return self.status in BUSY_STATUSES

    @property
    def broken(self) -> bool:
        return self.status in BROKEN_STATUSES

    @property
    def target_package(self) -> str | None:
        """The package of the last creation or update the deployer started on this endpoint."""
        return self.tags.get(TARGET_PACKAGE_TAG)

    @property
    def promoted_package(self) -> str | None:
        """The package the deployer last made champion from this endpoint."""
        return self.tags.get(PROMOTED_PACKAGE_TAG)

    @property
    def moving_to(self) -> str | None:
        """The config a creation or update in progress is moving to."""
        if self.pending_config_name:
            return self.pending_config_name
        return self.config_name if self.status == "Creating" else None


@dataclass(frozen=True)
class ServedConfig:
    """The package behind an endpoint config, and whether the deployer created the config for this model."""

    config_name: str
    package_arn: str | None
    managed: bool


def read_endpoint(sagemaker: Any, endpoint_name: str) -> Endpoint | None:
    """The endpoint as SageMaker describes it now, or None when it does not exist."""
    described = describe_or_none(sagemaker.describe_endpoint, EndpointName=endpoint_name)
    if described is None:
        return None
    policy = (described.get("LastDeploymentConfig") or {}).get("BlueGreenUpdatePolicy") or {}
    routing = (policy.get("TrafficRoutingConfiguration") or {}).get("Type")
    arn = str(described.get("EndpointArn") or "")
    return Endpoint(
        name=endpoint_name,
        arn=arn,
        status=str(described.get("EndpointStatus")),
        config_name=described.get("EndpointConfigName"),
        pending_config_name=(described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName"),
        failure_reason=described.get("FailureReason") or None,
        tags=tags_of(sagemaker, arn) if arn else {},
        traffic_routing=routing,
    )


def read_config(sagemaker: Any, config_name: str, model: str) -> ServedConfig:
    """Which package `config_name` serves (from its model's container) and whether it is the deployer's."""
    config = describe_or_none(sagemaker.describe_endpoint_config, EndpointConfigName=config_name)
    if config is None:
        return ServedConfig(config_name, None, managed=False)
    variants = config.get("ProductionVariants") or []
    package = _container_package(sagemaker, variants[0].get("ModelName")) if variants else None
    tags = tags_of(sagemaker, str(config.get("EndpointConfigArn") or "")) if config.get("EndpointConfigArn") else {}
    managed = package is not None and tags.get(MODEL_TAG) == model and tags.get(PACKAGE_TAG) == package
    return ServedConfig(config_name, package, managed)


def tags_of(sagemaker: Any, arn: str) -> dict[str, str]:
    """Every tag of a SageMaker resource (a later value of a repeated key wins)."""
    tags: dict[str, str] = {}
    token: str | None = None
    while True:
        page = sagemaker.list_tags(ResourceArn=arn, **({"NextToken": token} if token else {}))
        for tag in page.get("Tags") or []:
            tags[str(tag["Key"])] = str(tag.get("Value", ""))
        token = page.get("NextToken")
        if not token:
            return tags


def describe_or_none(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """The description of a resource, or None when SageMaker says it does not exist."""
    try:
        return call(**kwargs)
    except ClientError as error:
        # SageMaker reports a missing model, config or endpoint as a ValidationException.
        err = error.response.get("Error", {})
        if err.get("Code") == "ValidationException" and "could not find" in str(err.get("Message", "")).lower():
            return None
        raise


def _container_package(sagemaker: Any, model_name: str | None) -> str | None:
    if not model_name:
        return None
    model = describe_or_none(sagemaker.describe_model, ModelName=model_name)
    if model is None:
        return None
    containers = model.get("Containers") or ([model["PrimaryContainer"]] if model.get("PrimaryContainer") else [])
    for container in containers:
        if container.get("ModelPackageName"):
            return str(container["ModelPackageName"])
    return None
