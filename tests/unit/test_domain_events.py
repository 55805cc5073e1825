"""Domain events as people read them in notifications."""

from __future__ import annotations

from platform_common import domain_events
from platform_common.domain_events import DomainEvent


def test_summary_and_next_step_are_one_plain_line_for_notification_templates() -> None:
    event = DomainEvent(
        domain_events.RETRAINING_STARTED,
        "churn",
        "data",
        {},
        summary='started on "s3://b/x"\nsecond line',
        next_step="wait\tand see \\ then look",
    )
    detail = event.detail()
    assert detail["summary"] == "started on 's3://b/x' second line"
    assert detail["nextStep"] == "wait and see / then look"


def test_long_summaries_are_cut_for_the_notification_only() -> None:
    event = DomainEvent(
        domain_events.EVENT_REJECTED, "churn", "malformed-event", {"message": "x" * 2000}, summary="y" * 2000
    )
    detail = event.detail()
    assert len(detail["summary"]) == domain_events.NOTIFICATION_TEXT_LIMIT
    assert detail["summary"].endswith("...")
    assert detail["message"] == "x" * 2000


def test_a_rejection_without_summary_gets_one_naming_handler_model_and_reason() -> None:
    detail = DomainEvent(
        domain_events.EVENT_REJECTED, "churn", "unknown-model", {"handler": "model_gate"}, "e-1"
    ).detail()
    assert detail["summary"] == "model_gate rejected an event (model churn): unknown-model; nothing was changed"
    assert "correlationId e-1" in detail["nextStep"]


def test_other_events_without_summary_get_the_defaults_of_their_type() -> None:
    detail = DomainEvent(domain_events.MODEL_APPROVED, "churn", "beats champion", {"version": "3"}, "e-2").detail()
    assert detail == {
        "model": "churn",
        "reason": "beats champion",
        "version": "3",
        "correlationId": "e-2",
        "summary": "ModelApproved for model churn version 3",
        "nextStep": domain_events.DEFAULT_NEXT_STEPS.get(domain_events.MODEL_APPROVED, domain_events.NO_ACTION),
    }
