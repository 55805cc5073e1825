"""How a new model version replaces the running one: the rules of SageMaker blue/green updates.

One function, `plan_traffic_shift`, decides the traffic shifting an endpoint update uses and
refuses settings SageMaker would refuse. Configuration validation calls it at synth time
(so a bad combination stops `cdk synth`, naming its keys) and the deployer calls it again
with the catalog entry before it sends UpdateEndpoint, so both sides apply the same rules.

The rules, from the SageMaker API Reference and Developer Guide. UpdateEndpoint
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html) takes an
optional `DeploymentConfig` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeploymentConfig.html),
"the desired deployment strategy and rollback configurations"; within it:

* "TrafficRoutingConfig" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html):
  `WaitIntervalInSeconds` "Valid Range: Minimum value of 0. Maximum value of 3600";
  `CanarySize` "Value must be less than or equal to 50% of the variant's total instance
  count"; `LinearStepSize` "Value must be 10-50% of the variant's total instance count".
* "BlueGreenUpdatePolicy" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html):
  `TerminationWaitInSeconds` 0-3600; `MaximumExecutionTimeoutInSeconds` 600-28800, and "the
  timeout value should be larger than the total waiting time specified in
  TerminationWaitInSeconds and WaitIntervalInSeconds".
* "CapacitySize" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CapacitySize.html):
  a size is `INSTANCE_COUNT` or `CAPACITY_PERCENT`, value at least 1.
* Developer Guide, "Use linear traffic shifting"
  (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-linear.html):
  "For each step, there is a baking period", so a linear update waits once per step; and
  "Use canary traffic shifting" (.../deployment-guardrails-blue-green-canary.html): one
  canary bake, then the rest of the traffic shifts.

Sizes are sent as instance counts, not percentages: the documented limits are stated in
instances of the variant, and the documentation does not say how a percentage is rounded
to instances, so only a count can be checked against them before the call.

A variant of one instance has no canary or linear step that satisfies those limits (half
of one instance is no instance). Such an update shifts all traffic at once instead, still
with its bake time, termination wait and rollback alarms, and the plan says why. The
default configuration (canary, one instance) therefore deploys as all-at-once until the
endpoint has two or more instances; refusing it would make the defaults unusable.

Serverless endpoints get no deployment configuration at all: canary and linear sizes count
instances, which a serverless variant does not have, and the Developer Guide's deployment
guardrails pages ("Deployment guardrails for updating models in production",
https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html, and "Exclusions",
https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html) describe
instance fleets only. Without an update policy SageMaker "uses a blue/green deployment
strategy with all at once traffic shifting by default" ("DeploymentConfig").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

ALL_AT_ONCE = "all-at-once"
CANARY = "canary"
LINEAR = "linear"
STRATEGIES = (ALL_AT_ONCE, CANARY, LINEAR)

MAX_WAIT_SECONDS = 3600
MIN_EXECUTION_TIMEOUT_SECONDS = 600
MAX_EXECUTION_TIMEOUT_SECONDS = 28800
MAX_ROLLBACK_ALARMS = 10
CANARY_PERCENT_RANGE = (1, 50)
LINEAR_STEP_PERCENT_RANGE = (10, 50)
# Launching the new fleet happens inside the execution timeout too, on top of the waits the
# update is told to do; half an hour is kept for it, so the timeout always exceeds the waits.
PROVISIONING_ALLOWANCE_SECONDS = 1800

# Configuration keys (under `models[i]`) as the errors name them.
STRATEGY_KEY = "deployment.strategy"
CANARY_PERCENT_KEY = "deployment.canary_percent"
LINEAR_STEP_KEY = "deployment.linear_step_percent"
WAIT_KEY = "deployment.wait_minutes"
TERMINATION_WAIT_KEY = "deployment.termination_wait_minutes"
INSTANCE_COUNT_KEY = "endpoint.instance_count"


class DeploymentPolicyError(ValueError):
    """Deployment settings SageMaker would refuse; names the settings and what is allowed."""

    def __init__(self, values: Mapping[str, object], expected: str) -> None:
        self.keys = tuple(values)
        self.values = dict(values)
        self.expected = expected
        shown = ", ".join(f"{key}={value!r}" for key, value in values.items())
        super().__init__(f"deployment settings {shown} cannot be used: {expected}")


@dataclass(frozen=True)
class TrafficPlan:
    """The traffic shifting of one endpoint update, with the waits and timeout it implies."""

    strategy: str
    requested: str
    uses_guardrails: bool
    step_instances: int | None
    bakes: int
    wait_seconds: int
    termination_wait_seconds: int
    note: str | None = None

    @property
    def total_wait_seconds(self) -> int:
        """Every wait the update is told to do: one bake per step, then the termination wait."""
        return self.bakes * self.wait_seconds + self.termination_wait_seconds

    @property
    def timeout_seconds(self) -> int:
        """`MaximumExecutionTimeoutInSeconds`: the waits plus time to launch the new fleet."""
        return max(MIN_EXECUTION_TIMEOUT_SECONDS, self.total_wait_seconds + PROVISIONING_ALLOWANCE_SECONDS)


def plan_traffic_shift(
    *,
    strategy: str,
    instance_count: int,
    serverless: bool,
    canary_percent: int,
    linear_step_percent: int,
    wait_seconds: int,
    termination_wait_seconds: int,
) -> TrafficPlan:
    """The traffic shifting an update of this endpoint uses, or DeploymentPolicyError (pure)."""
    _check_range({STRATEGY_KEY: strategy}, strategy in STRATEGIES, "one of " + ", ".join(STRATEGIES))
    _check_range({CANARY_PERCENT_KEY: canary_percent}, _within(canary_percent, CANARY_PERCENT_RANGE), "1-50")
    _check_range(
        {LINEAR_STEP_KEY: linear_step_percent}, _within(linear_step_percent, LINEAR_STEP_PERCENT_RANGE), "10-50"
    )
    _check_range({WAIT_KEY: wait_seconds // 60}, 0 <= wait_seconds <= MAX_WAIT_SECONDS, "0-60 minutes")
    _check_range(
        {TERMINATION_WAIT_KEY: termination_wait_seconds // 60},
        0 <= termination_wait_seconds <= MAX_WAIT_SECONDS,
        "0-60 minutes",
    )
    if serverless:
        return TrafficPlan(
            strategy=ALL_AT_ONCE,
            requested=strategy,
            uses_guardrails=False,
            step_instances=None,
            bakes=0,
            wait_seconds=0,
            termination_wait_seconds=0,
            note="a serverless endpoint is updated without a deployment configuration (all traffic at once)",
        )
    _check_range({INSTANCE_COUNT_KEY: instance_count}, instance_count >= 1, "at least 1")

    plan = _instance_plan(strategy, instance_count, canary_percent, linear_step_percent)
    plan = TrafficPlan(
        strategy=plan.strategy,
        requested=strategy,
        uses_guardrails=True,
        step_instances=plan.step_instances,
        bakes=plan.bakes,
        wait_seconds=wait_seconds,
        termination_wait_seconds=termination_wait_seconds,
        note=plan.note,
    )
    if plan.timeout_seconds > MAX_EXECUTION_TIMEOUT_SECONDS:
        values: dict[str, object] = {STRATEGY_KEY: strategy}
        if plan.strategy == LINEAR:
            values[LINEAR_STEP_KEY] = linear_step_percent
            values[INSTANCE_COUNT_KEY] = instance_count
        values[WAIT_KEY] = wait_seconds // 60
        values[TERMINATION_WAIT_KEY] = termination_wait_seconds // 60
        raise DeploymentPolicyError(
            values,
            f"the update would wait {plan.bakes} x {wait_seconds} s + {termination_wait_seconds} s = "
            f"{plan.total_wait_seconds} s, and SageMaker's MaximumExecutionTimeoutInSeconds (at most "
            f"{MAX_EXECUTION_TIMEOUT_SECONDS} s) must exceed all waits with {PROVISIONING_ALLOWANCE_SECONDS} s "
            "left to launch the new fleet; shorten the waits or use larger linear steps",
        )
    return plan


def _instance_plan(strategy: str, count: int, canary_percent: int, linear_step_percent: int) -> TrafficPlan:
    half = count // 2
    if strategy == CANARY:
        if half < 1:
            return _all_at_once(
                f"canary needs at least 2 instances (the canary may be at most 50% of the variant's {count})"
            )
        size = min(half, max(1, count * canary_percent // 100))
        return TrafficPlan(CANARY, CANARY, True, size, 1, 0, 0)
    if strategy == LINEAR:
        smallest = math.ceil(count / 10)
        if smallest > half:
            return _all_at_once(
                f"linear needs at least 2 instances (each step must be 10-50% of the variant's {count})"
            )
        size = min(half, max(smallest, count * linear_step_percent // 100))
        return TrafficPlan(LINEAR, LINEAR, True, size, math.ceil(count / size), 0, 0)
    return TrafficPlan(ALL_AT_ONCE, ALL_AT_ONCE, True, None, 1, 0, 0)


def _all_at_once(note: str) -> TrafficPlan:
    return TrafficPlan(ALL_AT_ONCE, ALL_AT_ONCE, True, None, 1, 0, 0, note=note + "; all traffic shifts at once")


def _within(value: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _check_range(values: Mapping[str, object], ok: bool, expected: str) -> None:
    if not ok:
        raise DeploymentPolicyError(values, expected)
