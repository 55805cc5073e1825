"""Put an approved model version on its endpoint, and promote it once the endpoint serves it.

Deploying (on "SageMaker Model Package State Change" with status Approved):

* a SageMaker Model whose only container is the model package (the package carries the
  inference specification; SageMaker Developer Guide, "Automatically register SageMaker AI
  models with SageMaker Model Registry": an inference specification attached in MLflow
  enables direct deployment), named `<endpoint>-v<version>`;
* an endpoint config of the same name with one variant `AllTraffic`, instance-based or
  serverless as the catalog says;
* `CreateEndpoint` for a new endpoint, else `UpdateEndpoint` with a blue/green
  `DeploymentConfig` built by `build_deployment_config` (SageMaker API Reference,
  "UpdateEndpoint", "BlueGreenUpdatePolicy", "TrafficRoutingConfig"; Developer Guide,
  "Deployment guardrails" and "Exclusions").

Promoting (on "SageMaker Endpoint State Change"): the version an endpoint serves is read
back from its endpoint config name, which only this module writes (`<endpoint>-v<N>`,
checked against the endpoint name so a hand-made config is never mistaken for a
version); the same facts are on the config's tags for people. MLflow version N is the
package version N (see the model gate for why), so once the endpoint is InService on
`-v<N>` the MLflow alias `champion` moves to N, the previous champion gets the tag
`lifecycle=retired`, and the new one `lifecycle=champion`. A retired version gets no
alias: an alias names exactly one version, and there are many retired ones.

Events arrive late or twice. An approval for a version the endpoint already runs or is
updating to publishes DeploymentSkipped; resources left by an interrupted attempt are
reused. `Failed` and `UpdateRollbackFailed`, and `InService` with a `FailureReason` (an
update that was rolled back), publish DeploymentFailed; intermediate states are ignored.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from deployer.models import APPROVED, EndpointStateDetail, ModelPackageDetail
from platform_common import domain_events
from platform_common.catalog import ModelSettings
from platform_common.domain_events import DomainEvent

VARIANT_NAME = "AllTraffic"
CHAMPION_ALIAS = "champion"
LIFECYCLE_TAG = "lifecycle"
PREVIOUS_CHAMPION_TAG = "previous_champion"

MODEL_TAG = "mlops:model"
VERSION_TAG = "mlops:model-version"
PACKAGE_TAG = "mlops:model-package-arn"

NAME_LIMIT = 63

# Limits from the SageMaker API Reference: wait and termination 0-3600 s each, execution
# timeout 600-28800 s and larger than all waits together, 1-10 rollback alarms.
MAX_WAIT_SECONDS = 3600
MIN_EXECUTION_TIMEOUT_SECONDS = 600
MAX_EXECUTION_TIMEOUT_SECONDS = 28800
MAX_ROLLBACK_ALARMS = 10
# Room for launching the new fleet on top of the waits the deployment itself is told to do.
PROVISIONING_ALLOWANCE_SECONDS = 1800

# Statuses in which SageMaker accepts no update but will leave by itself: try again later.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "OutOfService"})
# Statuses that need a person (a failed endpoint can only be deleted).
BROKEN_STATUSES = frozenset({"Failed", "UpdateRollbackFailed"})

_VERSION_SUFFIX_RE = re.compile(r"-v(?P<version>[1-9]\d*)$")

Publisher = Callable[[DomainEvent], object]


class ModelRegistry(Protocol):
    """The MLflow registry calls the deployer needs (MlflowRestClient has them)."""

    def get_model_version(self, name: str, version: str) -> dict[str, Any]: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None: ...

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...


class EndpointBusyError(RuntimeError):
    """The endpoint is mid-change; the approval is retried (and ends in the DLQ if it stays busy)."""

    def __init__(self, endpoint_name: str, status: str, version: int) -> None:
        self.endpoint_name = endpoint_name
        self.status = status
        super().__init__(
            f"endpoint {endpoint_name!r} is {status}, so version {version} cannot be deployed now; "
            "nothing was created and the event will be retried"
        )


@dataclass(frozen=True)
class Outcome:
    """What the deployer did with one event (returned by the handler, logged, asserted in tests)."""

    action: str
    reason: str
    model: str | None = None
    version: int | None = None
    published: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.model is not None:
            body["model"] = self.model
        if self.version is not None:
            body["version"] = self.version
        if self.published:
            body["published"] = list(self.published)
        return body


def version_resource_name(endpoint_name: str, version: int) -> str:
    """`<endpoint>-v<version>`, shortened with a hash of the endpoint name to fit 63 characters."""
    suffix = f"-v{version}"
    if len(endpoint_name) + len(suffix) <= NAME_LIMIT:
        return endpoint_name + suffix
    digest = hashlib.sha256(endpoint_name.encode()).hexdigest()[:6]
    head = endpoint_name[: NAME_LIMIT - len(suffix) - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}{suffix}"


def version_from_config_name(endpoint_name: str, config_name: str | None) -> int | None:
    """The version a config of this endpoint was created for, or None if the deployer did not name it."""
    match = _VERSION_SUFFIX_RE.search(config_name or "")
    if match is None:
        return None
    version = int(match.group("version"))
    return version if version_resource_name(endpoint_name, version) == config_name else None


def effective_strategy(settings: ModelSettings) -> str:
    """The traffic shifting actually used.

    Canary and linear sizes are fractions of the variant's instance count (SageMaker API
    Reference, "TrafficRoutingConfig"), which a serverless variant does not have; blue/green
    itself is not excluded for serverless endpoints (Developer Guide, "Exclusions"), so a
    serverless endpoint shifts all at once and keeps its bake time and rollback alarms.
    """
    if settings.serverless_memory_mb is not None:
        return "all-at-once"
    return settings.deployment_strategy


def build_deployment_config(settings: ModelSettings) -> dict[str, Any]:
    """The `DeploymentConfig` of UpdateEndpoint for this model (pure)."""
    strategy = effective_strategy(settings)
    wait = _clamp(settings.wait_seconds, 0, MAX_WAIT_SECONDS)
    termination = _clamp(settings.termination_wait_seconds, 0, MAX_WAIT_SECONDS)
    routing: dict[str, Any]
    if strategy == "canary":
        routing = {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": settings.canary_percent},
            "WaitIntervalInSeconds": wait,
        }
        bakes = 1
    elif strategy == "linear":
        routing = {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": settings.linear_step_percent},
            "WaitIntervalInSeconds": wait,
        }
        # Every step bakes before the next one starts.
        bakes = math.ceil(100 / settings.linear_step_percent)
    else:
        routing = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": wait}
        bakes = 1
    timeout = _clamp(
        bakes * wait + termination + PROVISIONING_ALLOWANCE_SECONDS,
        MIN_EXECUTION_TIMEOUT_SECONDS,
        MAX_EXECUTION_TIMEOUT_SECONDS,
    )
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }
    alarms = list(settings.rollback_alarm_names)[:MAX_ROLLBACK_ALARMS]
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return config


def production_variant(settings: ModelSettings, model_name: str) -> dict[str, Any]:
    """The single `AllTraffic` variant: serverless when the catalog gives serverless settings.

    Blue/green updates need the new config to keep the old variant name (Developer Guide,
    "Exclusions"), hence the one fixed name.
    """
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


def deploy_approved(
    detail: ModelPackageDetail,
    settings: ModelSettings,
    *,
    sagemaker: Any,
    publish: Publisher,
    execution_role_arn: str,
    correlation_id: str | None = None,
) -> Outcome:
    """Create or update the model's endpoint for an approved package, unless it already runs it."""
    version = detail.package_version
    endpoint_name = settings.endpoint_name
    name = version_resource_name(endpoint_name, version)
    data: dict[str, Any] = {
        "version": version,
        "modelPackageArn": detail.arn,
        "endpointName": endpoint_name,
        "endpointConfigName": name,
    }

    def finish(outcome: str, detail_type: str, reason: str, **extra: Any) -> Outcome:
        publish(DomainEvent(detail_type, settings.name, reason, {**data, **extra}, correlation_id))
        return Outcome(outcome, reason, settings.name, version, (detail_type,))

    package = sagemaker.describe_model_package(ModelPackageName=detail.arn)
    if package.get("ModelApprovalStatus") != APPROVED:
        return finish(
            "skipped",
            domain_events.DEPLOYMENT_SKIPPED,
            f"package version {version} is now {package.get('ModelApprovalStatus')}, no longer Approved",
        )
    if not (package.get("InferenceSpecification") or {}).get("Containers"):
        return finish(
            "failed",
            domain_events.DEPLOYMENT_FAILED,
            f"package version {version} has no InferenceSpecification (no inference container), "
            "so it cannot be deployed; nothing was created",
        )

    endpoint = _describe_or_none(sagemaker.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is not None:
        serving = endpoint.get("EndpointConfigName")
        pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if name in (serving, pending):
            verb = "serves" if name == serving else "is already updating to"
            return finish(
                "skipped",
                domain_events.DEPLOYMENT_SKIPPED,
                f"endpoint {endpoint_name!r} {verb} {name}; an approval delivered again does not redeploy",
            )
        status = str(endpoint.get("EndpointStatus"))
        if status in BROKEN_STATUSES:
            why = endpoint.get("FailureReason") or "no reason given"
            return finish(
                "failed",
                domain_events.DEPLOYMENT_FAILED,
                f"endpoint {endpoint_name!r} is {status} ({why}) and needs a person; "
                f"version {version} was not deployed and nothing was created",
            )
        if status in BUSY_STATUSES:
            raise EndpointBusyError(endpoint_name, status, version)

    tags = [
        {"Key": MODEL_TAG, "Value": settings.name},
        {"Key": VERSION_TAG, "Value": str(version)},
        {"Key": PACKAGE_TAG, "Value": detail.arn},
    ]
    # Earlier attempts may have got this far before failing; what exists is reused.
    if _describe_or_none(sagemaker.describe_model, ModelName=name) is None:
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=execution_role_arn,
            Containers=[{"ModelPackageName": detail.arn}],
            Tags=tags,
        )
    if _describe_or_none(sagemaker.describe_endpoint_config, EndpointConfigName=name) is None:
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[production_variant(settings, name)],
            Tags=tags,
        )

    strategy = effective_strategy(settings)
    if endpoint is None:
        # The endpoint outlives this version, so it is tagged with the model only.
        sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name, Tags=tags[:1])
        return finish(
            "created",
            domain_events.DEPLOYMENT_STARTED,
            f"creating endpoint {endpoint_name!r} with version {version}",
            action="create",
            strategy=strategy,
        )
    sagemaker.update_endpoint(
        EndpointName=endpoint_name,
        EndpointConfigName=name,
        RetainAllVariantProperties=False,
        DeploymentConfig=build_deployment_config(settings),
    )
    return finish(
        "updated",
        domain_events.DEPLOYMENT_STARTED,
        f"updating endpoint {endpoint_name!r} from {endpoint.get('EndpointConfigName')} to version {version} "
        f"({strategy}, rollback on {len(settings.rollback_alarm_names)} alarm(s))",
        action="update",
        strategy=strategy,
        previousEndpointConfigName=endpoint.get("EndpointConfigName"),
    )


def on_endpoint_state(
    detail: EndpointStateDetail,
    settings: ModelSettings,
    *,
    mlflow: ModelRegistry,
    publish: Publisher,
    correlation_id: str | None = None,
) -> Outcome:
    """Promote the served version once the endpoint is InService; report failures and rollbacks."""
    version = version_from_config_name(settings.endpoint_name, detail.config_name)
    data: dict[str, Any] = {
        "version": version,
        "endpointName": detail.endpoint_name,
        "endpointConfigName": detail.config_name,
        "endpointStatus": detail.status,
    }

    def failed(reason: str) -> Outcome:
        publish(DomainEvent(domain_events.DEPLOYMENT_FAILED, settings.name, reason, data, correlation_id))
        return Outcome("failed", reason, settings.name, version, (domain_events.DEPLOYMENT_FAILED,))

    if detail.status in BROKEN_STATUSES:
        return failed(
            f"endpoint {detail.endpoint_name!r} is {detail.status}: {detail.failure_reason or 'no reason given'}"
        )
    if detail.status != "InService":
        return Outcome("ignored", f"endpoint is {detail.status}; waiting for a final state", settings.name, version)
    if detail.failure_reason:
        # Back in service on the old config after an update failed (alarm or error).
        return failed(
            f"update of endpoint {detail.endpoint_name!r} failed and was rolled back; it still serves "
            f"{detail.config_name}: {detail.failure_reason}"
        )
    if version is None:
        return Outcome(
            "ignored",
            f"endpoint serves {detail.config_name!r}, which the deployer did not create",
            settings.name,
        )
    return _promote(settings, version, detail, mlflow=mlflow, publish=publish, correlation_id=correlation_id)


def _promote(
    settings: ModelSettings,
    version: int,
    detail: EndpointStateDetail,
    *,
    mlflow: ModelRegistry,
    publish: Publisher,
    correlation_id: str | None,
) -> Outcome:
    # Ordered so that a retry after any failed step redoes only idempotent steps: the
    # previous champion is remembered on the new version before the alias moves, and the
    # `lifecycle=champion` tag, written last, marks the promotion as complete.
    name = settings.name
    current = str(version)
    tags = _tags(mlflow.get_model_version(name, current))
    champion = mlflow.get_model_version_by_alias(name, CHAMPION_ALIAS)
    champion_version = str(champion.get("version")) if champion else None
    if champion_version == current and tags.get(LIFECYCLE_TAG) == "champion":
        return Outcome("ignored", f"version {version} is already the champion", name, version)

    previous = champion_version if champion_version not in (None, current) else tags.get(PREVIOUS_CHAMPION_TAG)
    if previous and champion_version != current:
        mlflow.set_model_version_tag(name, current, PREVIOUS_CHAMPION_TAG, previous)
    mlflow.set_registered_model_alias(name, CHAMPION_ALIAS, current)
    if previous:
        mlflow.set_model_version_tag(name, previous, LIFECYCLE_TAG, "retired")

    base = {
        "endpointName": detail.endpoint_name,
        "endpointConfigName": detail.config_name,
        "previousChampion": previous,
    }
    reason = f"endpoint {detail.endpoint_name!r} serves version {version}; it is now the champion"
    publish(DomainEvent(domain_events.DEPLOYMENT_SUCCEEDED, name, reason, {"version": version, **base}, correlation_id))
    published = [domain_events.DEPLOYMENT_SUCCEEDED]
    if previous:
        publish(
            DomainEvent(
                domain_events.MODEL_RETIRED,
                name,
                f"version {previous} was replaced by version {version}",
                {"version": int(previous) if previous.isdigit() else previous, "replacedBy": version, **base},
                correlation_id,
            )
        )
        published.append(domain_events.MODEL_RETIRED)
    mlflow.set_model_version_tag(name, current, LIFECYCLE_TAG, "champion")
    return Outcome("promoted", reason, name, version, tuple(published))


def _describe_or_none(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """The description of a resource, or None when SageMaker says it does not exist."""
    try:
        return call(**kwargs)
    except ClientError as error:
        # SageMaker reports a missing model, config or endpoint as a ValidationException.
        err = error.response.get("Error", {})
        if err.get("Code") == "ValidationException" and "could not find" in str(err.get("Message", "")).lower():
            return None
        raise


def _tags(model_version: Mapping[str, Any]) -> dict[str, str]:
    raw = model_version.get("tags") or []
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(tag.get("key")): str(tag.get("value")) for tag in raw if isinstance(tag, Mapping)}


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
