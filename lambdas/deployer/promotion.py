"""Act on a PromotionRequested event: verify the version in the registry of record, then deploy it here.

A consuming environment (staging, prod) never trains. Its MLOpsEngineer records a promotion
(`make promote`) naming a package of the registry of record (dev); the deployer reads that
package across accounts, with read access dev grants it (`stacks/constructs/registry_sharing.py`
and the group policy of `platform_common.group_sharing`), and accepts it only if:

0. `region`: this environment is in the registry's Region (SageMaker reads a model's artifact
   only from a bucket in the model's Region);
1. `package`: the ARN is a versioned package of the registry's account and Region;
2. `group`: it lies in this model's group there (`<model>-<suffix>`, the suffix fixed when the
   registry's MLflow name is known at synth);
3. `approval`: its ModelApprovalStatus is Approved in the registry;
4. `artifact_location`: its one container's ModelDataUrl lies under the registry's `pipelines/`
   prefix;
5. `evidence:<check>`: the report under `evidence/<model>/<execution id>/` names this package's
   artifact and image, and the artifact is still the version the pipeline evaluated
   (`platform_common.evidence.verify_registry_artifact`, which explains why the S3 prefixes
   only the registry's pipeline role may write are the trust anchor here).

Each refusal publishes PromotionRefused naming the check, and nothing is created. An accepted
version is registered in this account's own group of the model as an Approved package serving the
same container ("For versioned models, the value of this parameter must be set to Approved to
deploy the model", SageMaker API Reference, "CreateModelPackage",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html), recording
where it came from; the deployer then reconciles exactly as for a local approval. That local
package is the ledger the reconciler reads and marks (a rollback, a failure): the registry's
package is never written to from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from platform_common import registry
from platform_common.catalog import ModelSettings, UnknownModelError, registration_suffix
from platform_common.evidence import (
    EVIDENCE_URI_KEY,
    EXECUTION_KEY,
    PIPELINE_OUTPUT_PREFIX,
    EvidenceError,
    EvidenceMismatchError,
    EvidenceReport,
    EvidenceStore,
    verify_artifact,
    verify_registry_artifact,
)
from platform_common.promotion_request import PROMOTED_FROM_KEY

# The container fields a promoted package carries over: what runs and what it loads, nothing else.
_CARRIED_CONTAINER_FIELDS = ("Image", "ModelDataUrl")
# How far back the model's own group is searched for an earlier registration of the same promotion.
RECENT_PACKAGES = 100


@dataclass(frozen=True)
class RegistryOfRecord:
    """Where promoted versions come from, and this deployer's clients for reading them there."""

    account: str
    region: str
    resource_prefix: str
    group_suffix: str | None
    sagemaker: Any
    evidence: EvidenceStore
    # The Region this deployer creates models in.
    local_region: str | None = None

    def pipeline_name(self, model: str) -> str:
        """The registry's pipeline of `model`: the only writer of its evidence and artifacts."""
        return f"{self.resource_prefix}-{model}"

    @staticmethod
    def suffix_of(mlflow_name: str) -> str:
        """The group suffix of a registry whose MLflow tracking server has this name."""
        return registration_suffix(mlflow_name)


class PromotionRefusedError(Exception):
    """The requested version failed one check; `check` names it and nothing was created."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class VerifiedVersion:
    """A registry package that passed every check, and its evidence."""

    description: Mapping[str, Any]
    report: EvidenceReport

    @property
    def arn(self) -> str:
        return str(self.description["ModelPackageArn"])


def verify(source: RegistryOfRecord, settings: ModelSettings, package_arn: str) -> VerifiedVersion:
    """Check the requested package in the registry of record (the module docstring lists the checks)."""
    # "The model artifacts must be in an S3 bucket that is in the same region as the model or endpoint
    # you are creating" (SageMaker API Reference, "ContainerDefinition", ModelDataUrl,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html).
    if source.local_region is not None and source.local_region != source.region:
        raise PromotionRefusedError(
            "region",
            f"the registry of record is in Region {source.region} and this environment in {source.local_region}; "
            "SageMaker serves model artifacts only from a bucket in the model's own Region",
        )
    match = registry.PACKAGE_ARN_RE.match(package_arn)
    home = f":sagemaker:{source.region}:{source.account}:model-package/"
    if match is None or home not in package_arn:
        raise PromotionRefusedError(
            "package",
            f"{package_arn!r} is not a versioned model package of the registry of record (account {source.account}, "
            f"Region {source.region})",
        )
    _require_group(source, settings, match.group("group"), package_arn)
    try:
        description = source.sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            raise PromotionRefusedError(
                "package", f"the registry of record has no model package {package_arn} this deployer can read"
            ) from error
        raise
    status = description.get("ModelApprovalStatus")
    if status != registry.APPROVED:
        raise PromotionRefusedError(
            "approval", f"model package {package_arn} is {status} in the registry of record, not Approved"
        )
    containers = (description.get("InferenceSpecification") or {}).get("Containers") or []
    protected = f"s3://{source.evidence.bucket}/{PIPELINE_OUTPUT_PREFIX}/"
    artifacts = [str(container.get("ModelDataUrl") or "") for container in containers]
    if len(artifacts) != 1 or not artifacts[0].startswith(protected):
        raise PromotionRefusedError(
            "artifact_location",
            f"model package {package_arn} serves {artifacts or 'no artifact'}; a promoted version serves exactly "
            f"one artifact under {protected}, which only the registry's pipelines write",
        )
    try:
        report = verify_registry_artifact(
            source.evidence, settings, description, pipeline_name=source.pipeline_name(settings.name)
        )
    except EvidenceError as error:
        raise PromotionRefusedError(f"evidence:{error.code}", str(error)) from error
    return VerifiedVersion(description=description, report=report)


def _require_group(source: RegistryOfRecord, settings: ModelSettings, group: str, package_arn: str) -> None:
    from platform_common.catalog import Catalog

    expected = f"{settings.name}-{source.group_suffix}" if source.group_suffix else None
    try:
        owner = Catalog([settings]).for_package_group(group)
    except UnknownModelError:
        owner = None
    if owner is None or (expected is not None and group != expected):
        raise PromotionRefusedError(
            "group",
            f"model package {package_arn} is in group {group!r}, not in model {settings.name!r}'s group "
            f"{expected or settings.name + '-<suffix>'!r} of the registry of record",
        )


def register_locally(sagemaker: Any, group_name: str, version: VerifiedVersion) -> str:
    """This account's Approved package for the promoted version (the one made earlier, if any)."""
    earlier = _earlier_registration(sagemaker, group_name, version.arn)
    if earlier is not None:
        return earlier
    source_spec = version.description["InferenceSpecification"]
    (container,) = source_spec["Containers"]
    spec = {
        "Containers": [{key: container[key] for key in _CARRIED_CONTAINER_FIELDS if container.get(key)}],
        **{key: value for key, value in source_spec.items() if key != "Containers"},
    }
    metadata = {
        PROMOTED_FROM_KEY: version.arn,
        EXECUTION_KEY: version.report.pipeline_execution_arn,
        EVIDENCE_URI_KEY: version.report.uri,
    }
    _ensure_group(sagemaker, group_name)
    created = sagemaker.create_model_package(
        ModelPackageGroupName=group_name,
        ModelPackageDescription=f"Promoted from {version.arn}",
        InferenceSpecification=spec,
        ModelApprovalStatus=registry.APPROVED,
        CustomerMetadataProperties={key: registry.metadata_value(value) for key, value in metadata.items()},
    )
    return str(created["ModelPackageArn"])


def verify_promoted(source: RegistryOfRecord, settings: ModelSettings, local: Mapping[str, Any]) -> EvidenceReport:
    """Before a local package that records a promotion is deployed: its source still passes, and it serves the same."""
    origin = str((local.get("CustomerMetadataProperties") or {}).get(PROMOTED_FROM_KEY) or "")
    try:
        version = verify(source, settings, origin)
    except PromotionRefusedError as error:
        raise EvidenceMismatchError(
            f"promoted from {origin}, which no longer passes check {error.check}: {error}"
        ) from error
    (ours,) = (local.get("InferenceSpecification") or {}).get("Containers") or [{}]
    (theirs,) = version.description["InferenceSpecification"]["Containers"]
    if any(ours.get(key) != theirs.get(key) for key in _CARRIED_CONTAINER_FIELDS):
        raise EvidenceMismatchError(
            f"model package {local.get('ModelPackageArn')} does not serve what {origin}, the version it was promoted "
            "from, serves"
        )
    return version.report


def _earlier_registration(sagemaker: Any, group_name: str, source_arn: str) -> str | None:
    try:
        listed = sagemaker.list_model_packages(
            ModelPackageGroupName=group_name,
            ModelPackageType="Versioned",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=RECENT_PACKAGES,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return None
        raise
    for summary in listed.get("ModelPackageSummaryList", []):
        arn = str(summary["ModelPackageArn"])
        metadata = sagemaker.describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties") or {}
        if metadata.get(PROMOTED_FROM_KEY) == source_arn:
            return arn
    return None


def _ensure_group(sagemaker: Any, group_name: str) -> None:
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
            raise
        sagemaker.create_model_package_group(
            ModelPackageGroupName=group_name,
            ModelPackageGroupDescription="Versions promoted from the registry of record",
        )


def artifact_verifier(
    source: RegistryOfRecord, local: EvidenceStore
) -> Callable[[ModelSettings, Mapping[str, Any]], EvidenceReport]:
    """How this deployer proves a package before serving it: a promoted one in the registry, any other locally."""

    def verify_package(settings: ModelSettings, package: Mapping[str, Any]) -> EvidenceReport:
        if (package.get("CustomerMetadataProperties") or {}).get(PROMOTED_FROM_KEY):
            return verify_promoted(source, settings, package)
        return verify_artifact(local, settings, package)

    return verify_package
