"""Typed shapes of the events the monitoring launcher handles.

Two ask for a run: the model's monitoring schedule, an EventBridge scheduled rule whose
"Scheduled Event" names the rule in `resources` ("Creating a rule that runs on a schedule in
Amazon EventBridge", EventBridge User Guide,
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html), and S3
"Object Created" for a label file under `monitoring/<model>/ground-truth/` ("Amazon S3 event
notifications with EventBridge", detail.bucket.name and detail.object.key, Amazon S3 User Guide,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). Each model keeps only the
fields the launcher reads and tolerates every other field.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from platform_common import s3_events
from platform_common.envelope import EventBridgeModel
from platform_common.monitoring import MONITORING_PREFIX

_GROUND_TRUTH_DIR = "ground-truth"


class ScheduledEvent(EventBridgeModel):
    """EventBridge `Scheduled Event`; resources[0] is the ARN of the rule that fired."""

    resources: list[str] = Field(min_length=1)
    detail: dict[str, Any]


class LabelsDelivered(s3_events.ObjectCreatedEvent):
    """S3 `Object Created` via EventBridge for a label file."""

    @property
    def model_name(self) -> str | None:
        """`<model>` of `monitoring/<model>/ground-truth/...`, or None for any other key."""
        parts = self.detail.object.key.split("/")
        if (
            len(parts) >= 4
            and parts[0] == MONITORING_PREFIX
            and parts[1]
            and parts[2] == _GROUND_TRUTH_DIR
            and parts[-1]
        ):
            return parts[1]
        return None


LauncherEvent = ScheduledEvent | LabelsDelivered

EVENT_MODELS: dict[tuple[str, str], type[LauncherEvent]] = {
    ("aws.events", "Scheduled Event"): ScheduledEvent,
    ("aws.s3", "Object Created"): LabelsDelivered,
}
