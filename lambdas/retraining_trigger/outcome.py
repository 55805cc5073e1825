"""What became of one event: the handler's answer, its log line and its domain event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from platform_common import domain_events

OutcomeKind = Literal["started", "coalesced", "duplicate", "ignored", "rejected"]


@dataclass(frozen=True)
class Outcome:
    """What became of one event; `as_dict()` is the handler's return value."""

    outcome: OutcomeKind
    reason: str
    message: str
    model: str | None = None
    trigger: str | None = None
    execution_arn: str | None = None
    input_data_uri: str | None = None
    event_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Set for outcomes that are not a retraining decision at all (an alarm going back to OK).
    silent: bool = False

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
            "model": self.model,
            "trigger": self.trigger,
            "executionArn": self.execution_arn,
            "inputDataUri": self.input_data_uri,
            "eventId": self.event_id,
            **self.extra,
        }
        return {key: value for key, value in body.items() if value is not None}

    def domain_event(self) -> domain_events.DomainEvent | None:
        if self.silent:
            return None
        detail_type = {
            "started": domain_events.RETRAINING_STARTED,
            "coalesced": domain_events.RETRAINING_COALESCED,
            "duplicate": domain_events.RETRAINING_COALESCED,
            "ignored": domain_events.RETRAINING_IGNORED,
            "rejected": domain_events.EVENT_REJECTED,
        }[self.outcome]
        data = {k: v for k, v in self.as_dict().items() if k not in {"outcome", "reason", "model", "eventId"}}
        summary, next_step = explain(self)
        return domain_events.DomainEvent(
            detail_type=detail_type,
            model=self.model,
            reason=self.reason,
            data=data,
            correlation_id=self.event_id,
            summary=summary,
            next_step=next_step,
        )


_HEADLINES = {
    "started": "retraining run started",
    "coalesced": "no new run now",
    "duplicate": "event already handled, nothing more started",
    "ignored": "event ignored, nothing started",
    "rejected": "event rejected, nothing started",
}

_REJECTION_NEXT_STEPS = {
    "malformed-event": "fix the field named above where the event is produced, then send it again",
    "unsupported-event": (
        "check the rules that target the retraining trigger: it handles S3 Object Created, quality alarm "
        "state changes, scheduled events, RetrainingRequested and the end of pipeline runs"
    ),
    "unknown-model": (
        "use a model of the catalog, or add the model to models in cdk.json and deploy its stack; "
        "a rule or alarm that names no model means catalog and rules drifted apart: redeploy"
    ),
    "input-outside-model-data": (
        "put the data under the allowed prefix and send the request again, or leave inputDataUri out "
        "to train on the model's whole data prefix"
    ),
    "field-not-accepted": (
        "send the request again with model, reason and optionally inputDataUri and requestedBy only; "
        "change instance types, count or the metric threshold in the model's configuration and deploy"
    ),
    "input-uri-too-long": "name a shorter location (SageMaker takes at most 1024 characters per parameter)",
}


def explain(outcome: Outcome) -> tuple[str, str]:
    """One line for people: model, what happened and why; and what to do next."""
    model = f"model {outcome.model}" if outcome.model else "unknown model"
    summary = f"Retraining trigger, {model}: {_HEADLINES[outcome.outcome]} ({outcome.reason}). {outcome.message}"
    if outcome.outcome == "rejected":
        return summary, _REJECTION_NEXT_STEPS.get(outcome.reason, "fix the event at its source and send it again")
    if outcome.outcome == "started":
        arn = outcome.execution_arn
        return (
            summary,
            f"nothing to do; follow the run with aws sagemaker describe-pipeline-execution --pipeline-execution-arn {arn}",
        )
    if outcome.outcome == "coalesced" and "waitingDataUri" in outcome.extra:
        return summary, "nothing to do: the data waits and one trailing run starts on it as said above"
    if outcome.outcome == "coalesced" and outcome.reason == "execution-running":
        return summary, "nothing to do; if another run is still needed once that run ends, ask again then"
    if outcome.reason == "not-data":
        return (
            summary,
            "nothing to do, unless this object is data: then rename it (no leading '_' or '.', no temporary suffix)",
        )
    if outcome.reason == "unknown-prefix":
        return summary, "nothing to do, unless this is data for a model: then put it under that model's data prefix"
    return summary, "nothing to do"


def rejection(reason: str, message: str, *, source: object, detail_type: object, event_id: object) -> Outcome:
    """The outcome for an event that could not be parsed at all."""
    return Outcome(
        outcome="rejected",
        reason=reason,
        message=message,
        event_id=event_id if isinstance(event_id, str) else None,
        extra={
            "source": source if isinstance(source, str) else None,
            "detailType": detail_type if isinstance(detail_type, str) else None,
        },
    )


def announce(outcome: Outcome, *, events: Any, bus_name: str) -> None:
    """Publish the outcome's domain event (none for silent outcomes) on the platform bus."""
    domain_event = outcome.domain_event()
    if domain_event is not None:
        domain_events.publish(events, bus_name, domain_event)
