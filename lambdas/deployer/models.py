"""Typed shapes of the events the deployer reacts to: two from SageMaker, and its periodic check.

The SageMaker ones follow the examples in the SageMaker Developer Guide, "Events that Amazon
SageMaker AI sends to Amazon EventBridge" (model package state change; endpoint state change).
The check is the event an EventBridge schedule rule (EventBridge User Guide, "Using cron and
rate expressions to schedule rules in Amazon EventBridge",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)
sends its target: source `aws.events`, detail-type "Scheduled Event"; the deployer reads
nothing else of it. Only the fields the deployer reads are declared and every other field
is tolerated.

The endpoint event spells its status in upper snake case (`IN_SERVICE`) while the
DescribeEndpoint API says `InService`; `EndpointStateDetail.status` accepts both and
gives the API spelling. The documented endpoint event has no failure reason: the deployer
uses the event only to learn that something changed and reads the outcome back with
DescribeEndpoint.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_common.envelope import EventBridgeModel

SOURCE = "aws.sagemaker"
PACKAGE_DETAIL_TYPE = "SageMaker Model Package State Change"
ENDPOINT_DETAIL_TYPE = "SageMaker Endpoint State Change"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"

APPROVED = "Approved"

# A versioned package's ARN ends in "<group>/<version>" (SageMaker Developer Guide,
# "Model Registry Models, Model Versions, and Model Groups").
PACKAGE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[a-zA-Z0-9-]{1,63})/(?P<version>[1-9]\d*)$"
)

# EndpointStatus values of the DescribeEndpoint API, keyed by their spelling folded to
# lower case without underscores, which both spellings share.
ENDPOINT_STATUSES = {
    status.lower(): status
    for status in (
        "OutOfService",
        "Creating",
        "Updating",
        "SystemUpdating",
        "RollingBack",
        "InService",
        "Deleting",
        "Failed",
        "UpdateRollbackFailed",
    )
}

_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"


class ModelPackageDetail(BaseModel):
    """The part of a package state change that names the package and its approval status."""

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


class EndpointStateDetail(BaseModel):
    """The part of an endpoint state change the deployer reads."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    endpoint_name: str = Field(alias="EndpointName", pattern=_NAME_PATTERN)
    config_name: str | None = Field(default=None, alias="EndpointConfigName", max_length=63)
    status: str = Field(alias="EndpointStatus")

    @field_validator("status")
    @classmethod
    def _api_spelling(cls, value: str) -> str:
        try:
            return ENDPOINT_STATUSES[value.replace("_", "").lower()]
        except KeyError:
            raise ValueError(f"unknown endpoint status {value!r}") from None


class EndpointStateChangeEvent(EventBridgeModel):
    """`aws.sagemaker` "SageMaker Endpoint State Change"."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Endpoint State Change"] = Field(alias="detail-type")
    detail: EndpointStateDetail


class ScheduledEvent(EventBridgeModel):
    """`aws.events` "Scheduled Event" of the deployer's periodic check."""

    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


class PromotionDetail(BaseModel):
    """What `make promote` records: the model, the registry package, and who asked."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    model: str = Field(min_length=1, max_length=63)
    package_arn: str = Field(alias="modelPackageArn", pattern=PACKAGE_ARN_RE.pattern)
    requested_by: str = Field(alias="requestedBy", min_length=1)


class PromotionRequestedEvent(EventBridgeModel):
    """The platform's PromotionRequested (`platform_common.promotion_request`), routed here only with delivery."""

    source: Literal["mlops.platform"]
    detail_type: Literal["PromotionRequested"] = Field(alias="detail-type")
    detail: PromotionDetail


DeployerEvent = ModelPackageStateChangeEvent | EndpointStateChangeEvent | ScheduledEvent | PromotionRequestedEvent

# detail-type -> model; the automation stack routes the first three here, and PromotionRequested with delivery.
EVENT_MODELS: dict[str, type[DeployerEvent]] = {
    PACKAGE_DETAIL_TYPE: ModelPackageStateChangeEvent,
    ENDPOINT_DETAIL_TYPE: EndpointStateChangeEvent,
    SCHEDULED_DETAIL_TYPE: ScheduledEvent,
    "PromotionRequested": PromotionRequestedEvent,
}
