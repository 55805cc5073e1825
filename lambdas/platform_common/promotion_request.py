"""The PromotionRequested event: a person's decision that one registry version may serve here.

Shared by `tools/promote.py` (which puts it on the receiving environment's platform bus), the
stacks (which route it to the deployer and let only that environment's MLOpsEngineer put it)
and the deployer (which verifies the version in the registry of record before deploying it).
The event carries the platform's source, so the audit rule on the bus records it like every
other domain event.
"""

from __future__ import annotations

import json
from typing import Any

from platform_common.domain_events import SOURCE

PROMOTION_REQUESTED = "PromotionRequested"

MODEL_FIELD = "model"
PACKAGE_FIELD = "modelPackageArn"
REQUESTED_BY_FIELD = "requestedBy"


def promotion_detail(model: str, package_arn: str, requested_by: str) -> dict[str, Any]:
    """The detail of a PromotionRequested event."""
    return {MODEL_FIELD: model, PACKAGE_FIELD: package_arn, REQUESTED_BY_FIELD: requested_by}


def promotion_entry(bus_name: str, model: str, package_arn: str, requested_by: str) -> dict[str, Any]:
    """One PutEvents entry recording the request on `bus_name`."""
    return {
        "EventBusName": bus_name,
        "Source": SOURCE,
        "DetailType": PROMOTION_REQUESTED,
        "Detail": json.dumps(promotion_detail(model, package_arn, requested_by)),
    }


# What the receiving deployer publishes when a request fails one of its checks (detail `check`).
PROMOTION_REFUSED = "PromotionRefused"
# Metadata of the package the deployer registers in its own account for a promoted version.
PROMOTED_FROM_KEY = "platform.promoted_from"
