"""Typed shapes of the events the retraining trigger handles.

Four ask for a run: S3 "Object Created" via EventBridge, CloudWatch "CloudWatch Alarm State
Change", EventBridge "Scheduled Event" and the platform's own RetrainingRequested. Two tell it
that waiting data may now be trained on: SageMaker's "SageMaker Model Building Pipeline
Execution Status Change" (a run ended) and the trigger's own RetrainingWindowClosed (a
coalescing window closed). Each model keeps only the fields the trigger reads and tolerates
every other field, so a service adding fields to its events never breaks parsing. The shapes
follow the AWS documentation ("Events that Amazon SageMaker AI sends to Amazon EventBridge",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html, for
the pipeline event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from platform_common import domain_events
from platform_common.envelope import EventBridgeModel
from platform_common.s3_events import ObjectCreatedEvent

# SageMaker caps a pipeline parameter value at 1024 characters.
MAX_PARAMETER_VALUE_LENGTH = 1024

# Bucket naming rules (3-63 lowercase letters, digits, dots, hyphens), then any key.
_S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$"


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class AlarmState(_Detail):
    value: str = Field(min_length=1)
    reason: str | None = None
    timestamp: str | None = None


class AlarmStateChangeDetail(_Detail):
    alarm_name: str = Field(alias="alarmName", min_length=1)
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")


class AlarmStateChangeEvent(EventBridgeModel):
    """CloudWatch `CloudWatch Alarm State Change` for a model's quality or drift alarm."""

    detail: AlarmStateChangeDetail


class ScheduledEvent(EventBridgeModel):
    """EventBridge `Scheduled Event`; resources[0] is the ARN of the rule that fired."""

    resources: list[str] = Field(min_length=1)
    detail: dict[str, Any]

    @property
    def rule_arn(self) -> str:
        return self.resources[0]


class RetrainingRequestDetail(_Detail):
    # Other fields are kept, not dropped, so that the trigger can refuse them by name: a request
    # never sets pipeline parameters, and a misspelt inputDataUri must not fall back silently.
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    model: str = Field(min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=1024)
    input_data_uri: str | None = Field(
        default=None, alias="inputDataUri", pattern=_S3_URI_PATTERN, max_length=MAX_PARAMETER_VALUE_LENGTH
    )
    requested_by: str | None = Field(default=None, alias="requestedBy", max_length=256)


class RetrainingRequestedEvent(EventBridgeModel):
    """A person (or a tool acting for one) asks for a run on the platform bus."""

    detail: RetrainingRequestDetail


class PipelineExecutionStatusDetail(_Detail):
    pipeline_execution_arn: str = Field(alias="pipelineExecutionArn", min_length=1, max_length=2048)
    # The execution ARN names the pipeline too; the pipeline ARN is read when present.
    pipeline_arn: str | None = Field(default=None, alias="pipelineArn", max_length=2048)
    current_status: str = Field(alias="currentPipelineExecutionStatus", min_length=1)
    previous_status: str | None = Field(default=None, alias="previousPipelineExecutionStatus")
    execution_start_time: datetime | None = Field(default=None, alias="executionStartTime")
    execution_end_time: datetime | None = Field(default=None, alias="executionEndTime")

    @property
    def pipeline_name(self) -> str:
        """The pipeline's name, from `arn:...:pipeline/<name>[/execution/<id>]`."""
        arn = self.pipeline_arn or self.pipeline_execution_arn
        return arn.split(":pipeline/", 1)[-1].split("/", 1)[0]


class PipelineExecutionStatusEvent(EventBridgeModel):
    """SageMaker `SageMaker Model Building Pipeline Execution Status Change`: a run changed status."""

    detail: PipelineExecutionStatusDetail


class WindowClosedDetail(_Detail):
    model: str = Field(min_length=1, max_length=256)
    window_end: datetime = Field(alias="windowEnd")


class WindowClosedEvent(EventBridgeModel):
    """The trigger's own one-time schedule: a model's coalescing window has closed."""

    detail: WindowClosedDetail


TriggerEvent = (
    ObjectCreatedEvent
    | AlarmStateChangeEvent
    | ScheduledEvent
    | RetrainingRequestedEvent
    | PipelineExecutionStatusEvent
    | WindowClosedEvent
)

# (source, detail-type) -> model; the automation stack's rules route exactly these here.
EVENT_MODELS: dict[tuple[str, str], type[TriggerEvent]] = {
    ("aws.s3", "Object Created"): ObjectCreatedEvent,
    ("aws.cloudwatch", "CloudWatch Alarm State Change"): AlarmStateChangeEvent,
    ("aws.events", "Scheduled Event"): ScheduledEvent,
    (domain_events.SOURCE, domain_events.RETRAINING_REQUESTED): RetrainingRequestedEvent,
    ("aws.sagemaker", "SageMaker Model Building Pipeline Execution Status Change"): PipelineExecutionStatusEvent,
    (domain_events.SOURCE, domain_events.RETRAINING_WINDOW_CLOSED): WindowClosedEvent,
}


def model_for(source: object, detail_type: object) -> type[TriggerEvent] | None:
    """The model for an event's source and detail-type, or None when this function does not handle it."""
    if not isinstance(source, str) or not isinstance(detail_type, str):
        return None
    return EVENT_MODELS.get((source, detail_type))
