"""Domain events the handlers publish on the platform event bus.

Every step of the loop leaves one of these behind; a rule copies them all into the audit
log group and the bus archive keeps them for replay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SOURCE = "mlops.platform"

RETRAINING_REQUESTED = "RetrainingRequested"
RETRAINING_STARTED = "RetrainingStarted"
RETRAINING_COALESCED = "RetrainingCoalesced"
RETRAINING_IGNORED = "RetrainingIgnored"
EVENT_REJECTED = "EventRejected"
# Not published on the bus: the trigger's own one-time schedule delivers it to the trigger when
# a model's coalescing window closes.
RETRAINING_WINDOW_CLOSED = "RetrainingWindowClosed"
MODEL_APPROVED = "ModelApproved"
MODEL_REJECTED = "ModelRejected"
MODEL_REVIEW_REQUESTED = "ModelReviewRequested"
MODEL_RETIRED = "ModelRetired"
DEPLOYMENT_STARTED = "DeploymentStarted"
DEPLOYMENT_SKIPPED = "DeploymentSkipped"
DEPLOYMENT_SUCCEEDED = "DeploymentSucceeded"
DEPLOYMENT_FAILED = "DeploymentFailed"

ALL_DETAIL_TYPES = (
    RETRAINING_STARTED, RETRAINING_COALESCED, RETRAINING_IGNORED, EVENT_REJECTED, MODEL_APPROVED,
    MODEL_REJECTED, MODEL_REVIEW_REQUESTED, MODEL_RETIRED, DEPLOYMENT_STARTED, DEPLOYMENT_SKIPPED,
    DEPLOYMENT_SUCCEEDED, DEPLOYMENT_FAILED,
)  # fmt: skip


class PublishError(RuntimeError):
    """EventBridge refused a domain event."""


@dataclass(frozen=True)
class DomainEvent:
    """One fact about the loop: what happened, to which model, and why."""

    detail_type: str
    model: str | None
    reason: str
    data: Mapping[str, Any]
    correlation_id: str | None = None

    def detail(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "reason": self.reason, **self.data}
        if self.correlation_id:
            body["correlationId"] = self.correlation_id
        return body


def publish(events_client: Any, bus_name: str, event: DomainEvent) -> str:
    """Put one event on the platform bus and return its id; raise if it was not accepted."""
    response = events_client.put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": event.detail_type,
                "Detail": json.dumps(event.detail(), default=str, sort_keys=True),
                "EventBusName": bus_name,
            }
        ]
    )
    entry = response["Entries"][0]
    if response.get("FailedEntryCount") or "EventId" not in entry:
        raise PublishError(
            f"event bus {bus_name!r} refused {event.detail_type}: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
        )
    return str(entry["EventId"])
