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
MODEL_APPROVED = "ModelApproved"
MODEL_REJECTED = "ModelRejected"
# A package the model's pipeline did not produce (an experiment's version, a forged claim):
# rejected and audited like any other, but nobody is e-mailed about it.
MODEL_PROVENANCE_REJECTED = "ModelProvenanceRejected"
MODEL_REVIEW_REQUESTED = "ModelReviewRequested"
MODEL_RETIRED = "ModelRetired"
DEPLOYMENT_STARTED = "DeploymentStarted"
DEPLOYMENT_SKIPPED = "DeploymentSkipped"
DEPLOYMENT_SUCCEEDED = "DeploymentSucceeded"
DEPLOYMENT_FAILED = "DeploymentFailed"

ALL_DETAIL_TYPES = (
    RETRAINING_STARTED, RETRAINING_COALESCED, RETRAINING_IGNORED, EVENT_REJECTED, MODEL_APPROVED,
    MODEL_REJECTED, MODEL_PROVENANCE_REJECTED, MODEL_REVIEW_REQUESTED, MODEL_RETIRED, DEPLOYMENT_STARTED,
    DEPLOYMENT_SKIPPED, DEPLOYMENT_SUCCEEDED, DEPLOYMENT_FAILED,
)  # fmt: skip


# EventBridge counts an entry as the UTF-8 bytes of Source, DetailType and Detail, and the
# entry "must be less than 256KB" (EventBridge User Guide, "Calculating PutEvents event entry
# size", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
# The PutEvents reference adds that the JSON framing of the event counts too, without saying
# how much, so details are kept far below the limit: a quarter of it.
ENTRY_LIMIT_BYTES = 256 * 1024
DETAIL_BUDGET_BYTES = ENTRY_LIMIT_BYTES // 4
# When a detail is over budget (a rejected event quoting huge input), long strings and lists
# are cut to these sizes and the detail says it was truncated.
STRING_KEEP = 1024
LIST_KEEP = 20


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
                "Detail": bounded_detail(event),
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


def bounded_detail(event: DomainEvent) -> str:
    """The event's detail as JSON, cut down (and marked `truncated`) when over DETAIL_BUDGET_BYTES."""
    body = event.detail()
    text = _dumps(body)
    if len(text.encode("utf-8")) <= DETAIL_BUDGET_BYTES:
        return text
    text = _dumps({**{key: _shorten(item) for key, item in body.items()}, "truncated": True})
    if len(text.encode("utf-8")) <= DETAIL_BUDGET_BYTES:
        return text
    kept: dict[str, Any] = {key: _shorten(body[key]) for key in ("model", "reason", "correlationId") if key in body}
    return _dumps({**kept, "truncated": True})


def _dumps(body: Mapping[str, Any]) -> str:
    return json.dumps(body, default=str, sort_keys=True)


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= STRING_KEEP else value[:STRING_KEEP] + f"... ({len(value)} characters)"
    if isinstance(value, Mapping):
        return {_shorten(str(key)): _shorten(item) for key, item in list(value.items())[:LIST_KEEP]}
    if isinstance(value, list | tuple):
        kept = [_shorten(item) for item in value[:LIST_KEEP]]
        return kept + ([f"... ({len(value)} items)"] if len(value) > LIST_KEEP else [])
    return value
