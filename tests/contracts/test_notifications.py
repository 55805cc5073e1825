"""Notifications say what happened, to which model and version, why, and what to do next.

The SNS topic receives domain events through an EventBridge input transformer: `InputPathsMap`
takes values out of the event by JSON path and `InputTemplate` places them in the message
(EventBridge API Reference, "InputTransformer",
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html; User Guide,
"Amazon EventBridge input transformation",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html). The
documentation does not promise what a path absent from an event renders as, so the message may
only read fields that every domain event's detail carries: `summary`, `reason` and `nextStep`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from platform_common import domain_events
from tests.contracts.conftest import Synthesized, synthesized

ALWAYS_PRESENT = {"$.detail-type", "$.detail.summary", "$.detail.reason", "$.detail.nextStep"}


# The configurations at the limits are left out: their model stacks do not synthesize yet
# (schedule rule names over EventBridge's 64 characters), which has nothing to do with notifications.
@pytest.fixture(params=["dev", "staging", "prod"], scope="module")
def environment(request: pytest.FixtureRequest) -> Synthesized:
    return synthesized(request.param)


def notification_transformers(env: Synthesized) -> list[tuple[list[str], dict[str, Any]]]:
    """(detail-types matched, InputTransformer) of every rule on the platform bus that feeds the topic."""
    found = []
    for resource in env.templates["automation"]["Resources"].values():
        props = resource.get("Properties", {})
        pattern = props.get("EventPattern") or {}
        if resource["Type"] != "AWS::Events::Rule" or pattern.get("source") != [domain_events.SOURCE]:
            continue
        for target in props.get("Targets", []):
            if "InputTransformer" in target:
                found.append((list(pattern.get("detail-type", [])), target["InputTransformer"]))
    return found


def test_notifications_read_only_fields_every_domain_event_carries(environment: Synthesized) -> None:
    # Given the rule that turns domain events into notifications
    [(_, transformer)] = notification_transformers(environment)

    # Then it reads only fields every domain event has, and its message uses each of them
    paths = transformer["InputPathsMap"]
    assert set(paths.values()) <= ALWAYS_PRESENT
    assert set(paths.values()) == ALWAYS_PRESENT
    placeholders = set(re.findall(r"<([^<>]+)>", transformer["InputTemplate"]))
    assert placeholders == set(paths)


def test_rollbacks_are_among_the_notified_events(environment: Synthesized) -> None:
    [(detail_types, _)] = notification_transformers(environment)
    assert domain_events.DEPLOYMENT_ROLLED_BACK in detail_types
    assert {domain_events.DEPLOYMENT_FAILED, domain_events.EVENT_REJECTED} <= set(detail_types)


@pytest.mark.parametrize("detail_type", domain_events.ALL_DETAIL_TYPES)
@pytest.mark.parametrize(("model", "data"), [(None, {}), ("churn", {}), ("churn", {"version": 3})])
def test_every_domain_event_carries_what_notifications_read(
    detail_type: str, model: str | None, data: dict[str, Any]
) -> None:
    # Given any domain event, with or without a model and a version, even when cut down to fit PutEvents
    event = domain_events.DomainEvent(detail_type, model, "why it happened", data, "a-correlation-id")
    huge = domain_events.DomainEvent(detail_type, model, "why", {**data, "echo": "x" * 400_000})

    for detail in (event.detail(), json.loads(domain_events.bounded_detail(huge))):
        # Then summary, reason and next step are non-empty text
        for field in ("summary", "reason", "nextStep"):
            assert isinstance(detail[field], str)
            assert detail[field].strip()
        # And the summary names the model and the version when there are any, and never "None"
        assert "None" not in detail["summary"]
        if model:
            assert model in detail["summary"]
        if "version" in data:
            assert "version 3" in detail["summary"]
