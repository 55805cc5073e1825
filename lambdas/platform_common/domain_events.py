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
# A package the model's pipeline did not produce (an experiment's version, a forged claim):
# rejected and audited like any other, but nobody is e-mailed about it.
MODEL_PROVENANCE_REJECTED = "ModelProvenanceRejected"
MODEL_REVIEW_REQUESTED = "ModelReviewRequested"
MODEL_RETIRED = "ModelRetired"
DEPLOYMENT_STARTED = "DeploymentStarted"
DEPLOYMENT_SKIPPED = "DeploymentSkipped"
DEPLOYMENT_DEFERRED = "DeploymentDeferred"
DEPLOYMENT_SUCCEEDED = "DeploymentSucceeded"
DEPLOYMENT_FAILED = "DeploymentFailed"
DEPLOYMENT_ROLLED_BACK = "DeploymentRolledBack"
MONITORING_STARTED = "MonitoringStarted"
MONITORING_SKIPPED = "MonitoringSkipped"
BATCH_TRANSFORM_STARTED = "BatchTransformStarted"
# A request while a job runs: one trailing job starts when it ends.
BATCH_TRANSFORM_COALESCED = "BatchTransformCoalesced"
# Nothing to run: no champion yet, or the event was delivered again.
BATCH_TRANSFORM_SKIPPED = "BatchTransformSkipped"
BATCH_TRANSFORM_COMPLETED = "BatchTransformCompleted"
BATCH_TRANSFORM_FAILED = "BatchTransformFailed"

ALL_DETAIL_TYPES = (
    RETRAINING_STARTED,
    RETRAINING_COALESCED,
    RETRAINING_IGNORED,
    EVENT_REJECTED,
    MODEL_APPROVED,
    MODEL_REJECTED,
    MODEL_PROVENANCE_REJECTED,
    MODEL_REVIEW_REQUESTED,
    MODEL_RETIRED,
    DEPLOYMENT_STARTED,
    DEPLOYMENT_SKIPPED,
    DEPLOYMENT_DEFERRED,
    DEPLOYMENT_SUCCEEDED,
    DEPLOYMENT_FAILED,
    DEPLOYMENT_ROLLED_BACK,
    MONITORING_STARTED,
    MONITORING_SKIPPED,
    BATCH_TRANSFORM_STARTED,
    BATCH_TRANSFORM_COALESCED,
    BATCH_TRANSFORM_SKIPPED,
    BATCH_TRANSFORM_COMPLETED,
    BATCH_TRANSFORM_FAILED,
)

# What a person should do after an event, when its publisher has nothing more specific to say.
NO_ACTION = "None; this is a record."
DEFAULT_NEXT_STEPS = {
    EVENT_REJECTED: (
        "Find the event by its correlationId in the audit log group, correct its sender (or the model "
        "catalog) and send it again; nothing was changed."
    ),
}


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
    """One fact about the loop: what happened, to which model and version, why, and what to do next."""

    detail_type: str
    model: str | None
    reason: str
    data: Mapping[str, Any]
    correlation_id: str | None = None
    # For the person who reads the notification: what happened to which model and why, and
    # what to do next. Every event carries both; a publisher that gives neither gets the
    # defaults of its detail type (rejections: what was refused and how to send it again).
    summary: str | None = None
    next_step: str | None = None

    def detail(self) -> dict[str, Any]:
        summary, next_step = self.summary, self.next_step
        if self.detail_type == EVENT_REJECTED:
            summary = summary or self._rejection_summary()
            next_step = next_step or self._rejection_next_step()
        body: dict[str, Any] = {
            "model": self.model,
            "reason": self.reason,
            **self.data,
            "summary": notification_text(
                summary or default_summary(self.detail_type, self.model, self.data.get("version"))
            ),
            "nextStep": notification_text(next_step or DEFAULT_NEXT_STEPS.get(self.detail_type, NO_ACTION)),
        }
        if self.correlation_id:
            body["correlationId"] = self.correlation_id
        return body

    def _rejection_summary(self) -> str:
        handler = self.data.get("handler") or "a platform handler"
        about = f"model {self.model}" if self.model else "no known model"
        if self.model and self.data.get("version") is not None:
            about += f" version {self.data['version']}"
        return f"{handler} rejected an event ({about}): {self.reason}; nothing was changed"

    def _rejection_next_step(self) -> str:
        where = f"correlationId {self.correlation_id}" if self.correlation_id else f"reason {self.reason}"
        return (
            f"find the event in the audit log group by {where}, fix it at its source and send it again "
            "(or redrive it from the functions dead-letter queue once the cause is fixed)"
        )


# Longest summary or next step a notification carries; the full text stays in the event's other fields.
NOTIFICATION_TEXT_LIMIT = 600


def notification_text(text: str) -> str:
    """`text` on one line, without double quotes, short enough for a notification.

    EventBridge input transformers splice these fields into a quoted template; single quotes
    and one line keep the result a plain, valid string whatever the text holds.
    """
    flat = " ".join(text.replace('"', "'").replace("\\", "/").split())
    return flat if len(flat) <= NOTIFICATION_TEXT_LIMIT else flat[: NOTIFICATION_TEXT_LIMIT - 3] + "..."


def default_summary(detail_type: str, model: str | None, version: object = None) -> str:
    """`<detail type> for model <m> version <v>`, leaving out what is not known."""
    subject = f"model {model}" if model else "no particular model"
    if version is not None:
        subject += f" version {version}"
    return f"{detail_type} for {subject}"


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
    kept: dict[str, Any] = {key: _shorten(body[key]) for key in _ALWAYS_KEPT if key in body}
    return _dumps({**kept, "truncated": True})


# What notifications render and what finds the event again survive any truncation.
_ALWAYS_KEPT = ("model", "version", "summary", "reason", "nextStep", "correlationId")


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
