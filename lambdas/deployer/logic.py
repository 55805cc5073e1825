"""Put an approved model version on its endpoint, and promote it once the endpoint serves it.

Deploying (on "SageMaker Model Package State Change" with status Approved):

* a SageMaker Model whose only container is the model package. The package must carry an
  inference specification: SageMaker Developer Guide, "Automatically register SageMaker AI
  models with SageMaker Model Registry"
  (https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html)
  says one reaches the package only if it was attached to the logged model before
  registration (`sagemaker_mlflow.log_inference_specification`) and the server's role can
  read it; otherwise it is skipped without an error, and such a package cannot be hosted;
* an endpoint config with one variant `AllTraffic`, instance-based or serverless as the
  catalog says, both named `<endpoint>-v<package version>` (`deployer.requests`);
* `CreateEndpoint` for a new endpoint, else `UpdateEndpoint` with the blue/green
  `DeploymentConfig` of `deployer.requests.build_deployment_config` (none for serverless).

Promoting (on "SageMaker Endpoint State Change"): that event carries the endpoint's name,
config name and status, and no failure reason (Developer Guide, "Events that Amazon
SageMaker AI sends to Amazon EventBridge",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html).
The outcome is therefore read back with DescribeEndpoint (SageMaker API Reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html):
`EndpointStatus` Failed or UpdateRollbackFailed is a failure; `InService` with a
`FailureReason` is an update that failed and was rolled back ("If the status of the endpoint
is Failed, or the status is InService but update operation fails, this provides the reason
why it failed", "EndpointMetadata"); `InService` without one serves `EndpointConfigName`.
The package behind that config is read from its model (DescribeEndpointConfig, DescribeModel)
and the MLflow version from the documented tag `sagemaker.model_package_arn`
(`platform_common.package_link`); that version becomes `champion`, the previous champion gets
`lifecycle=retired`, the new one `lifecycle=champion`. A retired version gets no alias: an
alias names exactly one version, and there are many retired ones.

Events arrive late or twice. An approval for a version the endpoint already runs or is
updating to publishes DeploymentSkipped; resources left by an interrupted attempt are
reused; intermediate states are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from deployer.models import APPROVED, EndpointStateDetail, ModelPackageDetail
from deployer.requests import (
    build_deployment_config,
    deployment_plan,
    production_variant,
    version_from_config_name,
    version_resource_name,
    version_tags,
)
from platform_common import domain_events
from platform_common.catalog import ModelSettings
from platform_common.deployment_policy import DeploymentPolicyError
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EvidenceError, EvidenceStore, verify_artifact
from platform_common.package_link import PackageLinkError, find_version, tag_value

CHAMPION_ALIAS = "champion"
LIFECYCLE_TAG = "lifecycle"
PREVIOUS_CHAMPION_TAG = "previous_champion"

# Statuses in which SageMaker accepts no update but will leave by itself: try again later.
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "OutOfService"})
# Statuses that need a person (a failed endpoint can only be deleted).
BROKEN_STATUSES = frozenset({"Failed", "UpdateRollbackFailed"})
FINAL_STATUSES = BROKEN_STATUSES | {"InService"}

INFERENCE_SPECIFICATION_HELP = (
    "attach an inference specification to the logged model with "
    "sagemaker_mlflow.log_inference_specification before registering it (the tracking server's "
    "role must be able to read it), then register the model again"
)

Publisher = Callable[[DomainEvent], object]


class ModelRegistry(Protocol):
    """The MLflow registry calls the deployer needs (MlflowRestClient has them)."""

    def search_model_versions(
        self, filter_string: str, *, max_results: int = ..., page_token: str | None = ...
    ) -> tuple[list[dict[str, Any]], str | None]: ...

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


def deploy_approved(
    detail: ModelPackageDetail,
    settings: ModelSettings,
    *,
    sagemaker: Any,
    evidence: EvidenceStore,
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
            f"model package {detail.arn} has no InferenceSpecification, so SageMaker has no container to host "
            f"it; {INFERENCE_SPECIFICATION_HELP}. Nothing was created",
        )
    try:
        plan = deployment_plan(settings)
    except DeploymentPolicyError as error:
        return finish(
            "failed",
            domain_events.DEPLOYMENT_FAILED,
            f"the catalog entry of model {settings.name!r} cannot be deployed: {error}; correct models[].{{"
            f"{', '.join(error.keys)}}} in the configuration and redeploy the model stack. Nothing was created",
            settingKeys=list(error.keys),
        )
    shifting = {"strategy": plan.strategy, "requestedStrategy": plan.requested}
    if plan.note:
        shifting["strategyNote"] = plan.note

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

    try:
        # Whoever approved it, only the artifact version the model's pipeline evaluated is served.
        verify_artifact(evidence, settings, package)
    except EvidenceError as error:
        reason = f"version {version} is not deployed: {error}. Nothing was created"
        return finish("failed", domain_events.DEPLOYMENT_FAILED, reason, provenance=error.code)
    tags = version_tags(settings, version, detail.arn)
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

    if endpoint is None:
        # The endpoint outlives this version, so it is tagged with the model only.
        sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=name, Tags=tags[:1])
        return finish(
            "created",
            domain_events.DEPLOYMENT_STARTED,
            f"creating endpoint {endpoint_name!r} with version {version}",
            action="create",
            **shifting,
        )
    update: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "EndpointConfigName": name,
        "RetainAllVariantProperties": False,
    }
    deployment_config = build_deployment_config(settings, plan)
    if deployment_config is not None:
        update["DeploymentConfig"] = deployment_config
    sagemaker.update_endpoint(**update)
    how = plan.strategy + (f", rollback on {len(settings.rollback_alarm_names)} alarm(s)" if deployment_config else "")
    return finish(
        "updated",
        domain_events.DEPLOYMENT_STARTED,
        f"updating endpoint {endpoint_name!r} from {endpoint.get('EndpointConfigName')} to version {version} "
        f"({how}{'; ' + plan.note if plan.note else ''})",
        action="update",
        previousEndpointConfigName=endpoint.get("EndpointConfigName"),
        **shifting,
    )


def on_endpoint_state(
    detail: EndpointStateDetail,
    settings: ModelSettings,
    *,
    sagemaker: Any,
    mlflow: ModelRegistry,
    publish: Publisher,
    correlation_id: str | None = None,
) -> Outcome:
    """Read the endpoint's outcome back; promote what it serves, or report a failure or rollback."""
    if detail.status not in FINAL_STATUSES:
        return Outcome("ignored", f"endpoint is {detail.status}; waiting for a final state", settings.name)
    endpoint = _describe_or_none(sagemaker.describe_endpoint, EndpointName=detail.endpoint_name)
    if endpoint is None:
        return Outcome("ignored", f"endpoint {detail.endpoint_name!r} no longer exists", settings.name)
    status = str(endpoint.get("EndpointStatus"))
    serving = endpoint.get("EndpointConfigName")
    failure = endpoint.get("FailureReason")
    version = version_from_config_name(settings.endpoint_name, serving)
    data: dict[str, Any] = {
        "version": version,
        "endpointName": detail.endpoint_name,
        "endpointConfigName": serving,
        "endpointStatus": status,
    }
    routing = ((endpoint.get("LastDeploymentConfig") or {}).get("BlueGreenUpdatePolicy") or {}).get(
        "TrafficRoutingConfiguration"
    )
    if routing:
        data["lastDeploymentTrafficRouting"] = routing.get("Type")

    def failed(reason: str) -> Outcome:
        publish(DomainEvent(domain_events.DEPLOYMENT_FAILED, settings.name, reason, data, correlation_id))
        return Outcome("failed", reason, settings.name, version, (domain_events.DEPLOYMENT_FAILED,))

    if status in BROKEN_STATUSES:
        return failed(f"endpoint {detail.endpoint_name!r} is {status}: {failure or 'no reason given'}")
    if status != "InService":
        return Outcome("ignored", f"endpoint is {status} again; waiting for a final state", settings.name, version)
    if failure:
        return failed(
            f"the last update of endpoint {detail.endpoint_name!r} failed and was rolled back; it still serves "
            f"{serving}: {failure}"
        )
    if version is None:
        return Outcome("ignored", f"endpoint serves {serving!r}, which the deployer did not create", settings.name)
    package_arn = _served_package(sagemaker, str(serving))
    if package_arn is None:
        return Outcome("ignored", f"the model of {serving!r} is not a model package", settings.name, version)
    try:
        model_version = find_version(mlflow, settings.name, package_arn)
    except PackageLinkError as error:
        reason = (
            f"endpoint {detail.endpoint_name!r} serves {package_arn}, but {error}; the champion alias was not moved"
        )
        publish(
            DomainEvent(
                domain_events.EVENT_REJECTED,
                settings.name,
                reason,
                {"handler": "deployer", **data, "modelPackageArn": package_arn},
                correlation_id,
            )
        )
        return Outcome("event_rejected", reason, settings.name, version, (domain_events.EVENT_REJECTED,))
    promotion = _Promotion(settings.name, version, str(model_version.get("version")), package_arn, data)
    return _promote(promotion, model_version, mlflow=mlflow, publish=publish, correlation_id=correlation_id)


@dataclass(frozen=True)
class _Promotion:
    model: str
    package_version: int
    mlflow_version: str
    package_arn: str
    data: dict[str, Any]


def _promote(
    promotion: _Promotion,
    model_version: dict[str, Any],
    *,
    mlflow: ModelRegistry,
    publish: Publisher,
    correlation_id: str | None,
) -> Outcome:
    # Ordered so that a retry after any failed step redoes only idempotent steps: the
    # previous champion is remembered on the new version before the alias moves, and the
    # `lifecycle=champion` tag, written last, marks the promotion as complete.
    name = promotion.model
    current = promotion.mlflow_version
    version = promotion.package_version
    champion = mlflow.get_model_version_by_alias(name, CHAMPION_ALIAS)
    champion_version = str(champion.get("version")) if champion else None
    if champion_version == current and tag_value(model_version, LIFECYCLE_TAG) == "champion":
        return Outcome("ignored", f"MLflow version {current} is already the champion", name, version)

    remembered = tag_value(model_version, PREVIOUS_CHAMPION_TAG)
    previous = champion_version if champion_version not in (None, current) else remembered
    if previous and champion_version != current:
        mlflow.set_model_version_tag(name, current, PREVIOUS_CHAMPION_TAG, previous)
    mlflow.set_registered_model_alias(name, CHAMPION_ALIAS, current)
    if previous:
        mlflow.set_model_version_tag(name, previous, LIFECYCLE_TAG, "retired")

    base = {**promotion.data, "modelPackageArn": promotion.package_arn, "previousChampion": previous}
    reason = (
        f"endpoint {promotion.data['endpointName']!r} serves package version {version} "
        f"(MLflow version {current}); it is now the champion"
    )
    publish(
        DomainEvent(
            domain_events.DEPLOYMENT_SUCCEEDED, name, reason, {**base, "mlflowVersion": current}, correlation_id
        )
    )
    published = [domain_events.DEPLOYMENT_SUCCEEDED]
    if previous:
        # The retired version is known by its MLflow number; `version` would name the new package.
        retired_base = {key: value for key, value in base.items() if key != "version"}
        publish(
            DomainEvent(
                domain_events.MODEL_RETIRED,
                name,
                f"MLflow version {previous} was replaced by MLflow version {current}",
                {**retired_base, "mlflowVersion": previous, "replacedByMlflowVersion": current},
                correlation_id,
            )
        )
        published.append(domain_events.MODEL_RETIRED)
    mlflow.set_model_version_tag(name, current, LIFECYCLE_TAG, "champion")
    return Outcome("promoted", reason, name, version, tuple(published))


def _served_package(sagemaker: Any, config_name: str) -> str | None:
    """The model package behind the config's variant, read from its model's container."""
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variants = config.get("ProductionVariants") or []
    if not variants:
        return None
    model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    containers = model.get("Containers") or ([model["PrimaryContainer"]] if model.get("PrimaryContainer") else [])
    for container in containers:
        if container.get("ModelPackageName"):
            return str(container["ModelPackageName"])
    return None


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
