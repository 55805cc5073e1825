"""Make the MLflow version an endpoint serves the champion, and retire the one it replaces.

The MLflow version behind a package is found by the documented tag `sagemaker.model_package_arn`
(`platform_common.package_link`). The promoted version gets the alias `champion` and the tag
`lifecycle=champion`; the version it replaces gets `lifecycle=retired` (an alias names exactly
one version, and there are many retired ones).

Steps are ordered so that a retry after any failed step redoes only idempotent steps: the
previous champion is remembered on the new version before the alias moves, and the
`lifecycle=champion` tag, written last in MLflow, marks the promotion as complete there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from platform_common import domain_events
from platform_common.domain_events import DomainEvent
from platform_common.package_link import tag_value
from platform_common.promotion import CHAMPION_ALIAS

LIFECYCLE_TAG = "lifecycle"
PREVIOUS_CHAMPION_TAG = "previous_champion"

Publisher = Callable[[DomainEvent], object]


class ModelRegistry(Protocol):
    """The MLflow registry calls the deployer needs (MlflowRestClient has them)."""

    def search_model_versions(
        self, filter_string: str, *, max_results: int = ..., page_token: str | None = ...
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None: ...

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Promotion:
    """A package an endpoint serves, and the MLflow version behind it."""

    model: str
    package_version: int
    package_arn: str
    model_version: Mapping[str, Any]
    data: Mapping[str, Any]
    # How the version serves when no endpoint does (a batch-only model); None: an endpoint.
    served_by: str | None = None

    @property
    def mlflow_version(self) -> str:
        return str(self.model_version.get("version"))


def promote(
    promotion: Promotion, *, mlflow: ModelRegistry, publish: Publisher, correlation_id: str | None
) -> tuple[str, ...]:
    """Move `champion` to the served version (unless it is there already); returns what was published."""
    name = promotion.model
    current = promotion.mlflow_version
    version = promotion.package_version
    champion = mlflow.get_model_version_by_alias(name, CHAMPION_ALIAS)
    champion_version = str(champion.get("version")) if champion else None
    if champion_version == current and tag_value(promotion.model_version, LIFECYCLE_TAG) == "champion":
        return ()

    remembered = tag_value(promotion.model_version, PREVIOUS_CHAMPION_TAG)
    previous = champion_version if champion_version not in (None, current) else remembered
    if previous and champion_version != current:
        mlflow.set_model_version_tag(name, current, PREVIOUS_CHAMPION_TAG, previous)
    mlflow.set_registered_model_alias(name, CHAMPION_ALIAS, current)
    if previous:
        mlflow.set_model_version_tag(name, previous, LIFECYCLE_TAG, "retired")

    endpoint = promotion.data.get("endpointName")
    base = {**promotion.data, "modelPackageArn": promotion.package_arn, "previousChampion": previous}
    replaced = f"; it replaces MLflow version {previous}, now retired" if previous else ""
    if promotion.served_by is None:
        why = (
            f"DescribeEndpoint shows endpoint {endpoint!r} InService on package version {version} "
            f"(MLflow version {current}), so it is now the champion"
        )
        summary = f"{name} version {version} (MLflow version {current}) serves on {endpoint} and is the champion"
    else:
        why = (
            f"package version {version} (MLflow version {current}) is approved and verified, so it is now the champion"
        )
        summary = (
            f"{name} version {version} (MLflow version {current}) serves by {promotion.served_by} and is the champion"
        )
    publish(
        DomainEvent(
            domain_events.DEPLOYMENT_SUCCEEDED,
            name,
            why,
            {**base, "mlflowVersion": current},
            correlation_id,
            summary=summary + replaced,
            next_step="None; the deployment is complete.",
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
                summary=f"{name} MLflow version {previous} is retired (tag lifecycle=retired)",
                next_step="None; the version stays in MLflow and in the registry for audit and rollback.",
            )
        )
        published.append(domain_events.MODEL_RETIRED)
    mlflow.set_model_version_tag(name, current, LIFECYCLE_TAG, "champion")
    return tuple(published)
