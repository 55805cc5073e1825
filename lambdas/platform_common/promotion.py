"""What the gate and the deployer share about promoting a model: the champion alias and one lease.

Both read and change the same state of a model (the registry's approvals, the endpoint, the
`champion` alias), so they take one lease per model, `<model>#promotion`, in the table of
`platform_common.lease`: a gate decision and a deployer reconciliation of the same model never
overlap, and two gate decisions are taken one after the other. The key differs from the
retraining trigger's (`<model>`), so a promotion never waits for a retraining decision.

The lease outlives every function that holds it: PROMOTION_LEASE_SECONDS is longer than the
deployer's and the gate's timeouts (tests/infra/test_model_locks.py holds them together), so an
expired lease belongs to an invocation that has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_common.lease import Clock, LeaseTable, Sleep

CHAMPION_ALIAS = "champion"
# How often the deployer's periodic check runs (the automation stack's schedule rule uses it).
RECONCILE_INTERVAL_MINUTES = 10

PROMOTION_LEASE_SECONDS = 180
_ROLE = "promotion"


def promotion_key(model: str) -> str:
    """The lease key under which a model's promotion decisions are taken one at a time."""
    return f"{model}#{_ROLE}"


def promotion_leases(dynamodb: Any, table_name: str, *, clock: Clock, sleep: Sleep) -> LeaseTable:
    """The lease table as the gate and the deployer use it (their lease duration)."""
    return LeaseTable(dynamodb, table_name, clock=clock, sleep=sleep, lease_seconds=PROMOTION_LEASE_SECONDS)


def leases_from_environment() -> LeaseTable:
    """The promotion leases in the table the automation stack names (MODEL_LOCK_TABLE_NAME), on the real clock."""
    import time
    from datetime import UTC, datetime

    from platform_common import env_names, runtime

    return promotion_leases(
        runtime.client("dynamodb"),
        runtime.require_env(env_names.MODEL_LOCK_TABLE_NAME),
        clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
    )


@dataclass(frozen=True)
class Outcome:
    """What the gate or the deployer did with one event (returned by the handler, logged, asserted in tests)."""

    action: str
    reason: str
    model: str | None = None
    version: int | None = None
    published: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.model is not None:
            body["model"] = self.model
        if self.version is not None:
            body["version"] = self.version
        if self.published:
            body["published"] = list(self.published)
        return body
