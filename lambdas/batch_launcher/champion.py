"""The package a batch transform runs: the model's champion, read from the record the deployer keeps.

The champion is the MLflow version carrying the alias `champion` (`platform_common.promotion`),
which only the deployer moves: to what an endpoint shows InService, or, for a model served only
by batch transform, to the newest approved package whose evidence it verified. The version's tag
`sagemaker.model_package_arn` names its package (SageMaker Developer Guide, "Automatically
register SageMaker AI models with SageMaker Model Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
The package is read back and must still be Approved, in this platform's group, with a container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from platform_common import registry
from platform_common.package_link import PACKAGE_ARN_TAG, tag_value
from platform_common.promotion import CHAMPION_ALIAS


class ChampionRegistry(Protocol):
    """The MLflow call the launcher needs (MlflowRestClient has it)."""

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Champion:
    """The champion's package, found and checked."""

    package_arn: str
    version: int
    mlflow_version: str


class NoChampion(LookupError):
    """The model has no champion a transform job may run; the message says why."""


def find_champion(mlflow: ChampionRegistry, sagemaker: Any, model: str, group_name: str) -> Champion:
    """The champion's package, or NoChampion saying what is missing."""
    version = mlflow.get_model_version_by_alias(model, CHAMPION_ALIAS)
    if not version:
        raise NoChampion(f"MLflow model {model!r} has no {CHAMPION_ALIAS!r} alias: no version was approved yet")
    arn = tag_value(version, PACKAGE_ARN_TAG)
    if not arn:
        raise NoChampion(
            f"the champion, MLflow version {version.get('version')}, carries no {PACKAGE_ARN_TAG} tag naming its package"
        )
    match = registry.PACKAGE_ARN_RE.match(arn)
    if match is None or match.group("group") != group_name:
        raise NoChampion(f"the champion's package {arn!r} is not a version of this platform's group {group_name!r}")
    package = registry.describe(sagemaker, arn)
    if package.approval_status != registry.APPROVED:
        raise NoChampion(f"the champion's package {arn} is {package.approval_status}, not Approved")
    if not package.hostable:
        raise NoChampion(f"the champion's package {arn} has no InferenceSpecification, so nothing can run it")
    return Champion(arn, package.version, str(version.get("version")))
