"""One reconciliation of one model: what woke it, the clients it uses, and what it has done.

Shared by the steps of `deployer.logic`, `deployer.rollout` and `deployer.batch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from deployer.champion import ModelRegistry
from platform_common import domain_events, registry
from platform_common.catalog import ModelSettings
from platform_common.champion_record import ChampionRecords
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EvidenceError, EvidenceStore
from platform_common.promotion import Outcome
from platform_common.resource_names import version_resource_name

APPROVAL = "approval"
ENDPOINT_CHANGE = "endpoint"
SCHEDULE = "schedule"

Publisher = Callable[[DomainEvent], object]


@dataclass(frozen=True)
class Trigger:
    """What woke the deployer: only a hint, the decision is taken from SageMaker's answers."""

    kind: str
    package_arn: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Deployment:
    """One model and the clients the deployer uses for it."""

    settings: ModelSettings
    group_name: str
    sagemaker: Any
    mlflow: ModelRegistry
    publish: Publisher
    execution_role_arn: str
    # Where the model's pipeline wrote its evidence, read with the deployer's own clients.
    evidence: EvidenceStore
    # How a package's artifact is proven before it is served; None: `platform_common.evidence.verify_artifact`.
    verify: Callable[[ModelSettings, Mapping[str, Any]], object] | None = None
    # Where endpoint data capture goes (data bucket, platform key ARN); None captures nothing.
    capture: tuple[str, str] | None = None
    # Where a batch-only model's champion is recorded (the model lock table); None: not needed.
    champions: ChampionRecords | None = None


@dataclass
class Run:
    """What one reconciliation has done so far."""

    ctx: Deployment
    trigger: Trigger
    published: list[str] = field(default_factory=list)
    marked: set[str] = field(default_factory=set)
    promoted: int | None = None

    @property
    def model(self) -> str:
        return self.ctx.settings.name

    @property
    def endpoint_name(self) -> str:
        return self.ctx.settings.endpoint_name

    def publish(self, detail_type: str, reason: str, data: dict[str, Any], *, summary: str, next_step: str) -> None:
        event = DomainEvent(
            detail_type,
            self.model,
            reason,
            {**data, "trigger": self.trigger.kind},
            self.trigger.correlation_id,
            summary=summary,
            next_step=next_step,
        )
        self.ctx.publish(event)
        self.published.append(detail_type)

    def finish(self, action: str, reason: str, version: int | None = None) -> Outcome:
        if self.promoted is not None and action in ("in_sync", "ignored"):
            action, version = "promoted", self.promoted
        return Outcome(action, reason, self.model, version, tuple(self.published))


def package_data(run: Run, package: registry.Package) -> dict[str, Any]:
    """The fields every domain event about deploying `package` carries."""
    return {
        "version": package.version,
        "modelPackageArn": package.arn,
        "endpointName": run.endpoint_name,
        "endpointConfigName": version_resource_name(run.endpoint_name, package.version),
    }


def package_or_none(run: Run, arn: str | None) -> registry.Package | None:
    """The package `arn` names, or None when there is none (any more)."""
    if not arn:
        return None
    try:
        return registry.describe(run.ctx.sagemaker, arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return None  # deleted since; there is nothing left to mark
        raise


def mark(run: Run, package: registry.Package, status: str, note: str, config_name: str | None) -> None:
    """Record a deployment outcome on the package (`platform_common.registry.mark`) and remember it."""
    extra = {registry.DEPLOYMENT_ENDPOINT_CONFIG_KEY: config_name} if config_name else {}
    registry.mark(run.ctx.sagemaker, package, status, note, extra)
    run.marked.add(package.arn)


def retry_hint(package: registry.Package) -> str:
    """How a person makes the deployer try a marked package again."""
    return (
        f"; to retry version {package.version} remove its mark: aws sagemaker update-model-package "
        f"--model-package-arn {package.arn} --customer-metadata-properties-to-remove {registry.DEPLOYMENT_STATUS_KEY}"
    )


def tag_endpoint(run: Run, endpoint_arn: str, key: str, value: str) -> None:
    """Set one of the deployer's tags on the endpoint (AddTags overwrites an existing key)."""
    run.ctx.sagemaker.add_tags(ResourceArn=endpoint_arn, Tags=[{"Key": key, "Value": value}])


def refuse_unproven(run: Run, package: registry.Package, data: dict[str, Any], error: EvidenceError) -> Outcome:
    """Refuse a package the model's pipeline did not produce: marked undeployable, reported once, nothing created."""
    version = package.version
    reason = f"version {version} is not deployed: {error}. Nothing was created"
    mark(
        run,
        package,
        registry.UNDEPLOYABLE,
        f"Not deployable: provenance check {error.code} failed",
        data["endpointConfigName"],
    )
    run.publish(
        domain_events.DEPLOYMENT_FAILED,
        reason,
        {**data, "provenance": error.code},
        summary=f"{run.model} version {version} cannot be deployed: its model was not verified as the pipeline's",
        next_step=(
            f"Retrain through the model's pipeline ({run.ctx.settings.pipeline_name}) so its evidence is written, and "
            "approve the version it registers; this package will not be deployed."
        ),
    )
    return run.finish("failed", reason, version)
