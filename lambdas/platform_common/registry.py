"""The model registry as the ledger of what should serve: read the desired package, mark what failed.

Desired state
-------------
What a model's endpoint should serve is the newest *Approved* package version of the model's
group. It is read with ListModelPackages (SageMaker API Reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListModelPackages.html), asking for
`ModelApprovalStatus=Approved`, `ModelPackageType=Versioned` (the documented default is
"UNVERSIONED - List only unversioined models", so it is stated), `SortBy=CreationTime`,
`SortOrder=Descending` (the default order is ascending) and `MaxResults=1` (valid range 1-100).

A package whose deployment was rolled back or failed (or that cannot be hosted at all, or whose
artifact is not the one its pipeline evaluated: `platform_common.evidence.verify_artifact`) is marked
(below) and is *not* desired any more: while the newest approved package carries such a mark the
model is held on what it serves, until a newer package is approved or a person removes the mark.
Falling back to an older approved package instead would deploy a version nobody approved just
now; holding keeps the endpoint where SageMaker left it, which is what served before.

Marks
-----
The deployer records the outcome on the package with UpdateModelPackage (SageMaker API
Reference, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html):
CustomerMetadataProperties (at most 50 entries; values of at most 256 characters from letters,
digits, spaces and `_.:/=+-@`) carry `deployment_status` and the endpoint config, and
ApprovalDescription (at most 1024 characters) the reason in words, ahead of what it said before.
The approval status is restated, never changed: an omitted status is not documented to mean
"unchanged". A person retries a marked package by removing the mark
(`--customer-metadata-properties-to-remove deployment_status`).

Package groups
--------------
Automatic registration names a model's group `<MLflow model name>-<suffix>`, the suffix being
the first six hexadecimal characters of the SHA-256 of the last segment of the tracking server or
MLflow App ARN (SageMaker Developer Guide, "Automatically register SageMaker AI models with
SageMaker Model Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from platform_common.catalog import own_package_group

APPROVED = "Approved"

DEPLOYMENT_STATUS_KEY = "deployment_status"
DEPLOYMENT_ENDPOINT_CONFIG_KEY = "deployment_endpoint_config"
ROLLED_BACK = "rolled_back"
FAILED = "failed"
UNDEPLOYABLE = "undeployable"
HELD_STATUSES = frozenset({ROLLED_BACK, FAILED, UNDEPLOYABLE})

APPROVAL_DESCRIPTION_LIMIT = 1024
METADATA_VALUE_LIMIT = 256
METADATA_ENTRIES_LIMIT = 50
_METADATA_UNSAFE = re.compile(r"[^\w .:/=+\-@]")

# A versioned package's ARN ends in "<group>/<version>" (SageMaker Developer Guide,
# "Model Registry Models, Model Versions, and Model Groups").
PACKAGE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[a-zA-Z0-9-]{1,63})/(?P<version>[1-9]\d*)$"
)


@dataclass(frozen=True)
class Package:
    """One package version as DescribeModelPackage returned it."""

    arn: str
    description: Mapping[str, Any]

    @property
    def version(self) -> int:
        return package_version(self.arn) or int(self.description.get("ModelPackageVersion") or 0)

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.description.get("CustomerMetadataProperties") or {})

    @property
    def approval_status(self) -> str | None:
        status = self.description.get("ModelApprovalStatus")
        return None if status is None else str(status)

    @property
    def held_as(self) -> str | None:
        """The deployment mark that keeps this package from being deployed again, if any."""
        status = self.metadata.get(DEPLOYMENT_STATUS_KEY)
        return status if status in HELD_STATUSES else None

    @property
    def hostable(self) -> bool:
        """Whether the package names a container SageMaker can host."""
        return bool((self.description.get("InferenceSpecification") or {}).get("Containers"))


@dataclass(frozen=True)
class DesiredState:
    """What should serve (`package`), or why nothing new should (`held`: the newest approved, marked)."""

    package: Package | None
    held: Package | None = None


def desired_state(sagemaker: Any, group_name: str) -> DesiredState:
    """The newest approved package of the group, unless a mark holds it back."""
    arn = newest_approved_arn(sagemaker, group_name)
    if arn is None:
        return DesiredState(None)
    package = describe(sagemaker, arn)
    if package.held_as is not None:
        return DesiredState(None, held=package)
    return DesiredState(package)


def newest_approved_arn(sagemaker: Any, group_name: str) -> str | None:
    """The ARN of the group's most recently created Approved package version, or None."""
    try:
        response = sagemaker.list_model_packages(
            ModelPackageGroupName=group_name,
            ModelApprovalStatus=APPROVED,
            ModelPackageType="Versioned",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
    except ClientError as error:
        if _names_a_missing_group(error):
            return None
        raise
    summaries = response.get("ModelPackageSummaryList") or []
    return str(summaries[0]["ModelPackageArn"]) if summaries else None


def describe(sagemaker: Any, arn: str) -> Package:
    """DescribeModelPackage of one package version."""
    return Package(arn, sagemaker.describe_model_package(ModelPackageName=arn))


def mark(sagemaker: Any, package: Package, status: str, note: str, extra: Mapping[str, str]) -> list[str]:
    """Record a deployment outcome on the package; returns the metadata keys that did not fit."""
    record = {DEPLOYMENT_STATUS_KEY: status, **{key: metadata_value(value) for key, value in extra.items()}}
    metadata, left_out = merge_metadata(package.metadata, record)
    previous = str(package.description.get("ApprovalDescription") or "")
    description = f"{note} | {previous}" if previous else note
    sagemaker.update_model_package(
        ModelPackageArn=package.arn,
        ModelApprovalStatus=package.approval_status or APPROVED,
        ApprovalDescription=description[:APPROVAL_DESCRIPTION_LIMIT],
        CustomerMetadataProperties=metadata,
    )
    return left_out


def merge_metadata(existing: Mapping[str, str], record: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The package's metadata with `record` added, within SageMaker's 50 entries.

    Existing entries are never dropped (they are someone else's); when the record does not
    fit whole, its keys are added in order while room remains, and the keys left out are
    returned, so the first key of a record is the one that matters most.
    """
    merged = dict(existing)
    left_out: list[str] = []
    for key, value in record.items():
        if key in merged or len(merged) < METADATA_ENTRIES_LIMIT:
            merged[key] = value
        else:
            left_out.append(key)
    return merged, left_out


def metadata_value(text: str) -> str:
    """`text` cut to what a CustomerMetadataProperties value may hold."""
    cleaned = _METADATA_UNSAFE.sub("_", text)[:METADATA_VALUE_LIMIT]
    return cleaned or "_"


def package_version(arn: str | None) -> int | None:
    """The version number at the end of a versioned package ARN, or None."""
    match = PACKAGE_ARN_RE.match(arn or "")
    return int(match.group("version")) if match else None


def package_group_name(model: str, tracking_arn: str) -> str:
    """The package group automatic registration creates for `model` on this tracking server or App."""
    return own_package_group(model, tracking_arn)


def _names_a_missing_group(error: ClientError) -> bool:
    # A group is created with the first registered version, so a model that has never
    # registered one has none; the documentation does not say which error that gives.
    err = error.response.get("Error", {})
    message = str(err.get("Message", "")).lower()
    if err.get("Code") == "ResourceNotFound":
        return True
    return err.get("Code") == "ValidationException" and ("not found" in message or "does not exist" in message)
