"""Typed shapes of the events the batch launcher handles.

S3 "Object Created" via EventBridge (a file under `inference/<model>/`), EventBridge "Scheduled
Event" (a model's batch schedule rule) and SageMaker "SageMaker Transform Job State Change" (a
job ended). Each model keeps only the fields the launcher reads and tolerates every other field.
SageMaker lists "SageMaker Transform Job State Change" among the events it sends (SageMaker
Developer Guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html); its
detail is read as DescribeTransformJob's fields (TransformJobName, TransformJobStatus,
TransformOutput.S3OutputPath), which the page's example body was not checked for: the launcher
takes the job's name and output path (which names its model) from the event and reads the
outcome from DescribeTransformJob. The S3
event's detail is documented in the Amazon S3 User Guide, "EventBridge event message structure",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html (`detail.bucket.name`,
`detail.object.key`, `detail.object.size`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from platform_common.envelope import EventBridgeModel
from platform_common.s3_events import ObjectCreatedEvent

OBJECT_CREATED = "Object Created"
SCHEDULED = "Scheduled Event"
TRANSFORM_JOB_STATE_CHANGE = "SageMaker Transform Job State Change"


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class ScheduledEvent(EventBridgeModel):
    """EventBridge `Scheduled Event` of a model's batch schedule rule (`resources` holds the rule ARN)."""


class TransformOutput(_Detail):
    s3_output_path: str = Field(alias="S3OutputPath", min_length=1)


class TransformJobDetail(_Detail):
    name: str = Field(alias="TransformJobName", min_length=1, max_length=63)
    status: str = Field(alias="TransformJobStatus", min_length=1)
    output: TransformOutput = Field(alias="TransformOutput")
    failure_reason: str | None = Field(default=None, alias="FailureReason")


class TransformJobStateChangeEvent(EventBridgeModel):
    """SageMaker `SageMaker Transform Job State Change`."""

    detail: TransformJobDetail


EVENT_MODELS: dict[str, type[EventBridgeModel]] = {
    OBJECT_CREATED: ObjectCreatedEvent,
    SCHEDULED: ScheduledEvent,
    TRANSFORM_JOB_STATE_CHANGE: TransformJobStateChangeEvent,
}
