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
        return domain_events.DomainEvent(
            detail_type=detail_type,
            model=self.model,
            reason=self.reason,
            data=data,
            correlation_id=self.event_id,
        )


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
