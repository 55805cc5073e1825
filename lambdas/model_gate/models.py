"""Typed shape of the event the gate reacts to: SageMaker "Model Package State Change".

The fields follow the example in the SageMaker Developer Guide, "Events that Amazon
SageMaker AI sends to Amazon EventBridge" (model package state change). Only the fields
the gate reads are declared; every other field is tolerated, so SageMaker adding fields
never breaks parsing. Everything the gate decides on is re-read from DescribeModelPackage
anyway, because an event can arrive late or twice.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from platform_common.envelope import EventBridgeModel

SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Model Package State Change"

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"

# A versioned package's ARN ends in "<group>/<version>" (SageMaker Developer Guide,
# "Model Registry Models, Model Versions, and Model Groups").
PACKAGE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[a-zA-Z0-9-]{1,63})/(?P<version>[1-9]\d*)$"
)


class ModelPackageDetail(BaseModel):
    """The part of the event detail that names the package and its approval status."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    group_name: str = Field(alias="ModelPackageGroupName", min_length=1, max_length=63)
    version: int | None = Field(default=None, alias="ModelPackageVersion", ge=1)
    arn: str = Field(alias="ModelPackageArn", pattern=PACKAGE_ARN_RE.pattern)
    approval_status: Literal["Approved", "Rejected", "PendingManualApproval"] = Field(alias="ModelApprovalStatus")

    @model_validator(mode="after")
    def _arn_names_the_same_package(self) -> ModelPackageDetail:
        match = PACKAGE_ARN_RE.match(self.arn)
        if match is None:  # pragma: no cover - the field pattern already refused it
            raise ValueError(f"ModelPackageArn {self.arn!r} is not a versioned model package ARN")
        if match.group("group") != self.group_name:
            raise ValueError(f"ModelPackageArn {self.arn!r} is not in group {self.group_name!r}")
        if self.version is not None and int(match.group("version")) != self.version:
            raise ValueError(f"ModelPackageArn {self.arn!r} is not version {self.version}")
        return self

    @property
    def package_version(self) -> int:
        """The package version, from the event field or (when absent) from the ARN."""
        if self.version is not None:
            return self.version
        match = PACKAGE_ARN_RE.match(self.arn)
        assert match is not None  # guaranteed by the validators
        return int(match.group("version"))


class ModelPackageStateChangeEvent(EventBridgeModel):
    """`aws.sagemaker` "SageMaker Model Package State Change"."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageDetail
