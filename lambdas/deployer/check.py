"""The deployer's periodic check: every model reconciled once, none waiting for another.

An EventBridge schedule rule (the automation stack's, every
`platform_common.promotion.RECONCILE_INTERVAL_MINUTES`) sends the deployer a "Scheduled Event";
whatever an approval or endpoint event could not finish (the endpoint was busy, a lease was
held, an event was lost) is picked up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer.logic import converge
from deployer.run import SCHEDULE, Deployment, Trigger
from platform_common.catalog import ModelSettings
from platform_common.lease import LeaseTable, new_owner
from platform_common.promotion import Outcome

# A model's reconciliation takes a few API calls; the check stops starting new ones when less
# than this is left of the invocation. Checks start at a rotating model, so the ones left out
# now come early in a later check.
CHECK_RESERVE_SECONDS = 15.0


@dataclass(frozen=True)
class CheckReport:
    """What the periodic check did for each model."""

    outcomes: dict[str, Outcome]
    postponed: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action": "checked",
            "models": {name: outcome.as_dict() for name, outcome in self.outcomes.items()},
        }
        if self.postponed:
            body["postponed"] = list(self.postponed)
        if self.errors:
            body["errors"] = dict(self.errors)
        return body


class CheckFailedError(RuntimeError):
    """The periodic check could not reconcile some models; raised after trying every other one."""

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        problems = "; ".join(f"{name}: {problem}" for name, problem in report.errors.items())
        super().__init__(f"the periodic check failed for {len(report.errors)} model(s): {problems}")


def check_all(
    models: list[ModelSettings],
    *,
    deployment_for: Callable[[ModelSettings], Deployment],
    leases: LeaseTable,
    event_id: str,
    time_left: Callable[[], float],
    rotation: int = 0,
) -> CheckReport:
    """Reconcile every model once, skipping those whose lease is held (their holder is on it).

    Models are visited from a rotating start, so a check that runs out of time leaves out
    different models each time. One model's failure does not stop the others; the error is
    raised at the end (CheckFailedError) so that it reaches the dead-letter queue and its alarm.
    """
    ordered = sorted(models, key=lambda m: m.name)
    if ordered:
        start = rotation % len(ordered)
        ordered = ordered[start:] + ordered[:start]
    outcomes: dict[str, Outcome] = {}
    errors: dict[str, str] = {}
    postponed: list[str] = []
    for settings in ordered:
        if time_left() < CHECK_RESERVE_SECONDS:
            postponed.append(settings.name)
            continue
        trigger = Trigger(SCHEDULE, correlation_id=event_id)
        try:
            outcomes[settings.name] = converge(
                deployment_for(settings), trigger, leases=leases, owner=new_owner(event_id), wait=False
            )
        except Exception as error:  # one model's fault must not stop the others' checks
            errors[settings.name] = f"{type(error).__name__}: {error}"
    report = CheckReport(outcomes, tuple(postponed), errors)
    if errors:
        raise CheckFailedError(report)
    return report
