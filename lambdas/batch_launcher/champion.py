"""The package a batch transform runs: the champion as the deployer recorded it, checked again.

MLflow's `champion` alias is not trusted on its own (with an MLflow App a data scientist can
move it). The package is the one the deployer recorded where only the platform writes
(`platform_common.champion_record`): the endpoint's `mlops:promoted-package-arn` tag for a model
with an endpoint, the model lock table's `<model>#champion` item for a model served only by batch
transform. It is read back and must still pass the deployer's own checks: a version of this
platform's package group, Approved, with a container, and serving the artifact the model's
pipeline evaluated (`platform_common.evidence.verify_artifact`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from platform_common import registry
from platform_common.catalog import ModelSettings
from platform_common.champion_record import PROMOTED_PACKAGE_TAG, ChampionRecords
from platform_common.evidence import EvidenceError, EvidenceStore, verify_artifact

_MISSING = ("ValidationException", "ResourceNotFound")


@dataclass(frozen=True)
class Champion:
    """The champion's package, found and checked."""

    package_arn: str
    version: int
    mlflow_version: str | None


class NoChampion(LookupError):
    """The model has no champion a transform job may run; the message says why."""


def find_champion(
    *,
    sagemaker: Any,
    records: ChampionRecords,
    evidence: EvidenceStore,
    settings: ModelSettings,
    group_name: str,
) -> Champion:
    """The recorded champion's package, verified as the deployer verifies it, or NoChampion saying why."""
    if settings.serves_endpoint:
        arn, mlflow_version = _promoted_on_endpoint(sagemaker, settings.endpoint_name), None
        source = f"endpoint {settings.endpoint_name!r} (tag {PROMOTED_PACKAGE_TAG})"
    else:
        record = records.read(settings.name)
        if record is None:
            raise NoChampion(f"the deployer has recorded no champion of {settings.name!r}: no version was approved yet")
        arn, mlflow_version = record.package_arn, record.mlflow_version
        source = "the deployer's champion record"
    if arn is None:
        raise NoChampion(f"{source} names no champion: the deployer has promoted no version yet")
    match = registry.PACKAGE_ARN_RE.match(arn)
    if match is None or match.group("group") != group_name:
        raise NoChampion(f"{source} names {arn!r}, not a version of this platform's group {group_name!r}")
    package = registry.describe(sagemaker, arn)
    if package.approval_status != registry.APPROVED:
        raise NoChampion(f"the champion's package {arn} is {package.approval_status}, not Approved")
    if not package.hostable:
        raise NoChampion(f"the champion's package {arn} has no InferenceSpecification, so nothing can run it")
    try:
        verify_artifact(evidence, settings, package.description)
    except EvidenceError as error:
        raise NoChampion(f"the champion's package {arn} failed the provenance check {error.code}: {error}") from None
    return Champion(arn, package.version, mlflow_version)


def _promoted_on_endpoint(sagemaker: Any, endpoint_name: str) -> str | None:
    """The package the deployer last made champion on the endpoint, or None (no endpoint, no tag)."""
    try:
        arn = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointArn"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
    tags = sagemaker.list_tags(ResourceArn=arn).get("Tags", [])
    return next((str(tag["Value"]) for tag in tags if tag.get("Key") == PROMOTED_PACKAGE_TAG), None)
