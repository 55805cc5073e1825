"""Who may record a promotion: only the receiving environment's MLOpsEngineer, and only that event.

Rows are judged by the IAM evaluator on staging and prod of the three-account delivery fixture.
PutEvents is authorised per entry on `events:source` and `events:detail-type` (EventBridge User
Guide, "Using IAM policy conditions in Amazon EventBridge",
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html: "To grant access to
specific sources and types of events, use the events:source and events:detail-type condition keys").
"""

from __future__ import annotations

import pytest

from tests.access.iam_eval import Request
from tests.access.resolved_platform import ResolvedPlatform, default_platform, delivery_platform

PROMOTION = {"events:source": "mlops.platform", "events:detail-type": "PromotionRequested"}
FORGED_SOURCE = {"events:source": "aws.sagemaker", "events:detail-type": "PromotionRequested"}
OTHER_PLATFORM_EVENT = {"events:source": "mlops.platform", "events:detail-type": "DeploymentSucceeded"}

ROWS = [
    ("MLOpsEngineer", PROMOTION, True),
    ("MLOpsEngineer", FORGED_SOURCE, False),
    ("MLOpsEngineer", OTHER_PLATFORM_EVENT, False),
    ("DataScientist", PROMOTION, False),
    ("Auditor", PROMOTION, False),
]


def _put(platform: ResolvedPlatform, context: dict[str, str]) -> Request:
    return Request("events:PutEvents", platform.fill("{events}:event-bus/{prefix}-platform"), context)


@pytest.mark.parametrize("env_name", ["staging", "prod"])
@pytest.mark.parametrize(
    ("persona", "context", "allowed"),
    ROWS,
    ids=[f"{p}-{c['events:source']}-{c['events:detail-type']}-{a}" for p, c, a in ROWS],
)
def test_who_may_put_a_promotion_request(env_name: str, persona: str, context: dict[str, str], allowed: bool) -> None:
    platform = delivery_platform(env_name)

    decision = platform.decide(persona, _put(platform, context))

    assert decision.allowed is allowed, f"{persona} in {env_name}: {context} -> {decision.value}"


def test_without_a_delivery_block_nobody_may_put_a_promotion_request() -> None:
    platform = default_platform("staging")

    assert not platform.decide("MLOpsEngineer", _put(platform, PROMOTION)).allowed
