"""Decide what an event does to a model's retraining, and start at most one run of a model at a time.

Triggers (TriggerReason pipeline parameter):

- ``data``: S3 "Object Created" for a data object under a model's data prefix in the data
  bucket (which objects are data: `keys.py`). The run reads the object's folder:
  ``s3://<bucket>/<key up to the last '/'>/``.
- ``quality``: the model's quality alarm entered ALARM (other states start nothing and
  publish nothing: an alarm recovering is not a request to retrain).
- ``drift``: the model's drift alarm (the monitoring job's share of drifted features) entered
  ALARM; handled exactly like ``quality``.
- ``schedule``: the model's schedule rule fired.
- ``manual``: a RetrainingRequested event on the platform bus.
  The last three read the model's whole data prefix in the data bucket, unless a manual
  request names its own ``inputDataUri``.

Data is never dropped: leading and trailing edge. A data drop starts a run on its folder at
once (the leading edge) unless

- a run of the model is executing (started by the trigger or by anyone else), or
- a data run started less than ``coalesce_minutes`` ago. The window counts from the start of
  the last *data* run (a run the trigger started for data, trailing runs included); runs that
  failed or were stopped read nothing and do not count, nor do quality, schedule and manual runs.

Then the drop waits. The model keeps one waiting data set, the newest (by event time; the later
arrival on a tie); older ones are superseded. When the executing run ends (SageMaker's "Pipeline
Execution Status Change" to Succeeded, Failed or Stopped), or else when the window closes (a
one-time schedule, `timer.py`), and no run of the model is executing, one trailing run starts on
the waiting data set. A drop older than data a started run already reads is superseded at once.

Quality, schedule and manual triggers carry no new data and never wait: while a run executes
they are coalesced into it (it is retraining the model), otherwise they start at once. A run on
the whole prefix reads every data set that landed before it, waiting ones included, so it
clears the waiting record; a manual run on one folder leaves it.

Nothing starts while a run of the model is executing, so there are never two runs of a model
at once.

No duplicates. Every start carries ``ClientRequestToken = sha256(event id)`` (64 hex
characters) and the display name ``<trigger>-<event time>-<first 16 hex of that hash>``
(`pipeline.py`). Before deciding, the newest executions are listed: one whose display name ends
with this event's hash means the event was delivered again; nothing starts and a
RetrainingCoalesced event with reason ``duplicate-delivery`` points at that execution (if the
first delivery died before announcing its start, this is the record that links event and
execution). Data events already waiting, started or superseded are remembered in the model's
state (`state.py`) and answered the same way (``already-handled``).

Concurrency. Invocations run side by side (the function has no reserved concurrency). The
request token stops one event from starting twice: SageMaker documents ClientRequestToken as "A
unique, case-sensitive identifier that you provide to ensure the idempotency of the operation. An
idempotent operation completes no more than once", 32 to 128 characters (StartPipelineExecution,
Amazon SageMaker API Reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartPipelineExecution.html).
Two *different* events for one model could still both look, see nothing running and both
start; so reading the state, listing, deciding, starting and writing the state happen under the
model's lease (`lease.py`): the second event waits for the first to finish, then sees its run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from platform_common.catalog import Catalog, ModelSettings
from platform_common.lease import Clock, LeaseTable, new_owner
from retraining_trigger.models import TriggerEvent
from retraining_trigger.outcome import Outcome
from retraining_trigger.pipeline import (
    MAX_DESCRIPTION_LENGTH,
    RUNNING_STATUSES,
    Execution,
    Trigger,
    describe_status,
    event_hash,
    newest_first,
    recent_executions,
    start,
)
from retraining_trigger.resolve import Request, RunEnded, WindowClosed, resolve
from retraining_trigger.state import ActiveRun, ModelState, StateTable, WaitingData
from retraining_trigger.timer import WindowTimer

# A run that failed or was stopped has not consumed the data, so it does not hold the window.
WINDOW_EXEMPT_STATUSES = frozenset({"Failed", "Stopped"})
# A run the trigger started but SageMaker does not list or describe yet was started moments
# ago; one still unknown after this long is gone (its pipeline was replaced, say).
UNKNOWN_RUN_GRACE = timedelta(minutes=15)


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """The AWS side the core acts on, its clock, and the ARN its window schedules invoke."""

    sagemaker: Any
    leases: LeaseTable
    states: StateTable
    timer: WindowTimer
    function_arn: str
    clock: Clock = utc_now


@dataclass(frozen=True)
class Situation:
    """The model's pipeline as the decision sees it."""

    executions: tuple[Execution, ...]
    running: Execution | None
    last_data_run: Execution | None


@dataclass(frozen=True)
class Decision:
    """Start; coalesce into, or recognise as this event's own, `execution`; or wait for it (or `window_end`)."""

    action: Literal["start", "coalesce", "duplicate", "wait"]
    reason: str
    execution: Execution | None = None
    window_end: datetime | None = None


def observe(
    sagemaker: Any, model: ModelSettings, state: ModelState, now: datetime, ended: RunEnded | None
) -> Situation:
    """List the pipeline's executions, completed by what the state knows and the event says."""
    executions = recent_executions(sagemaker, model.pipeline_name)
    if ended is not None:
        # The listing may lag behind the event that says this run has ended.
        executions = [replace(e, status=ended.status) if e.arn == ended.execution_arn else e for e in executions]
    active = state.active
    still_active = active is not None and (ended is None or active.arn != ended.execution_arn)
    if active is not None and still_active and all(e.arn != active.arn for e in executions):
        status = describe_status(sagemaker, active.arn)
        if status is None and now - active.started_at < UNKNOWN_RUN_GRACE:
            status = "Executing"
        if status:
            executions.append(Execution(active.arn, status, active.display_name, active.started_at))
    ordered = tuple(newest_first(executions))
    running = next((e for e in ordered if e.status in RUNNING_STATUSES), None)
    last_data_run = next(
        (e for e in ordered if e.is_data_run and e.status not in WINDOW_EXEMPT_STATUSES and e.start_time), None
    )
    return Situation(ordered, running, last_data_run)


def _started_by(trigger: Trigger, executions: tuple[Execution, ...]) -> Execution | None:
    marker = f"-{event_hash(trigger.event_id)}"
    return next((e for e in executions if e.display_name.endswith(marker)), None)


def decide(trigger: Trigger, state: ModelState, situation: Situation, now: datetime) -> Decision:
    """Start, coalesce, wait, or recognise a redelivery (see the module docstring)."""
    own = _started_by(trigger, situation.executions)
    if own is not None:
        return Decision("duplicate", "duplicate-delivery", own)
    waiting_id = state.waiting.event_id if state.waiting else None
    if trigger.event_id in state.absorbed or trigger.event_id == waiting_id:
        return Decision("duplicate", "already-handled", situation.running or situation.last_data_run)
    is_data = trigger.reason == "data"
    if is_data and state.covered_until is not None and trigger.event_time < state.covered_until:
        return Decision("coalesce", "superseded-by-newer-data", situation.running or situation.last_data_run)
    if situation.running is not None:
        return Decision("wait" if is_data else "coalesce", "execution-running", situation.running)
    last = situation.last_data_run
    if is_data and trigger.model.coalesce_minutes > 0 and last is not None and last.start_time is not None:
        window_end = last.start_time + timedelta(minutes=trigger.model.coalesce_minutes)
        if now < window_end:
            return Decision("wait", "within-coalesce-window", last, window_end)
    return Decision("start", trigger.reason)


def _after_start(state: ModelState, trigger: Trigger, arn: str, started_at: datetime) -> ModelState:
    """The state once `trigger`'s run is known to have started."""
    state = replace(state, active=ActiveRun(arn, started_at, trigger.display_name, trigger.event_id))
    if trigger.reason == "data":
        state = state.absorb(trigger.event_id).cover(trigger.event_time)
    elif trigger.whole_prefix:
        state = state.cover(started_at)
    waiting = state.waiting
    if waiting is not None and (
        waiting.event_id == trigger.event_id
        or (state.covered_until is not None and waiting.event_time < state.covered_until)
    ):
        state = replace(state, waiting=None)
    return state


def _trailing(model: ModelSettings, waiting: WaitingData, cause: str) -> Trigger:
    description = (
        f"data trigger, trailing run after {cause}: newest waiting data {waiting.uri} (event {waiting.event_id})"
    )
    return Trigger(
        model,
        "data",
        waiting.uri,
        waiting.event_id,
        waiting.event_time,
        description[:MAX_DESCRIPTION_LENGTH],
        data_key=waiting.key,
    )


def _common(trigger: Trigger) -> dict[str, Any]:
    return {
        "model": trigger.model.name,
        "trigger": trigger.reason,
        "input_data_uri": trigger.input_data_uri,
        "event_id": trigger.event_id,
    }


def _handle_trigger(
    trigger: Trigger, services: Services, state: ModelState, situation: Situation, now: datetime
) -> tuple[Outcome, ModelState]:
    decision = decide(trigger, state, situation, now)
    if decision.action == "start":
        return _start_now(trigger, services, state, now)
    if decision.action == "wait":
        return _wait(trigger, decision, services, state, now)
    existing = decision.execution
    arn = existing.arn if existing else None
    if decision.action == "duplicate":
        if (
            existing is not None
            and existing.status in RUNNING_STATUSES
            and (state.active is None or state.active.arn != existing.arn)
        ):
            # The first delivery started this run but may not have lived to record it.
            state = _after_start(state, trigger, existing.arn, existing.start_time or now)
        message = f"event {trigger.event_id} was already handled" + (f" (execution {arn})" if arn else "")
        return Outcome("duplicate", decision.reason, message, execution_arn=arn, **_common(trigger)), state
    status = existing.status if existing else "unknown"
    message = f"not started: execution {arn} ({status}) covers this {trigger.reason} trigger"
    if trigger.reason == "data":
        state = state.absorb(trigger.event_id)
    return Outcome("coalesced", decision.reason, message, execution_arn=arn, **_common(trigger)), state


def _start_now(trigger: Trigger, services: Services, state: ModelState, now: datetime) -> tuple[Outcome, ModelState]:
    """Start the run the trigger asks for, or the waiting data if that is newer than this drop."""
    pipeline = trigger.model.pipeline_name
    waiting = state.waiting
    if trigger.reason == "data" and waiting is not None and waiting.event_time > trigger.event_time:
        trailing = _trailing(trigger.model, waiting, f"an older drop (event {trigger.event_id}) arrived")
        arn = start(trailing, services.sagemaker)
        state = _after_start(state, trailing, arn, now).absorb(trigger.event_id)
        message = f"started {pipeline} on the newer waiting data {waiting.uri}; this drop is older"
        return Outcome("coalesced", "superseded-by-waiting-data", message, execution_arn=arn, **_common(trigger)), state
    arn = start(trigger, services.sagemaker)
    message = f"started {pipeline} for a {trigger.reason} trigger on {trigger.input_data_uri}"
    extra = {"displayName": trigger.display_name}
    outcome = Outcome("started", trigger.reason, message, execution_arn=arn, extra=extra, **_common(trigger))
    return outcome, _after_start(state, trigger, arn, now)


def _wait(
    trigger: Trigger, decision: Decision, services: Services, state: ModelState, now: datetime
) -> tuple[Outcome, ModelState]:
    """Record the drop as the waiting data set (if it is the newest) until the run ends or the window closes."""
    waiting = state.waiting
    if waiting is None or trigger.event_time >= waiting.event_time:
        waiting = WaitingData(trigger.input_data_uri, trigger.data_key, trigger.event_id, trigger.event_time)
    arn = decision.execution.arn if decision.execution else None
    extra: dict[str, Any] = {"waitingDataUri": waiting.uri}
    if decision.window_end is None:
        when = f"when execution {arn} ends"
    else:
        # Scheduled before the state is written: if scheduling fails, nothing is recorded and the event is retried.
        extra["schedule"] = services.timer.ensure(
            model=trigger.model.name, at=decision.window_end, now=now, function_arn=services.function_arn
        )
        extra["windowEnd"] = decision.window_end.isoformat()
        when = f"when the coalescing window closes at {decision.window_end.isoformat()}"
    message = f"not started now: one trailing run starts on {waiting.uri} {when}"
    outcome = Outcome("coalesced", decision.reason, message, execution_arn=arn, extra=extra, **_common(trigger))
    return outcome, replace(state, waiting=waiting).absorb(trigger.event_id)


def _quiet(reason: str, message: str, request: RunEnded | WindowClosed, arn: str | None = None) -> Outcome:
    """A look at waiting data that started nothing: logged, not announced (the audit log has the AWS event)."""
    return Outcome(
        "ignored", reason, message, model=request.model.name, execution_arn=arn, event_id=request.event_id, silent=True
    )


def _settle(
    request: RunEnded | WindowClosed, services: Services, state: ModelState, situation: Situation, now: datetime
) -> tuple[Outcome, ModelState]:
    """Start the trailing run on waiting data once nothing executes."""
    model = request.model
    if isinstance(request, RunEnded):
        cause = f"execution {request.execution_arn} ended ({request.status})"
        if state.active is not None and state.active.arn == request.execution_arn:
            state = replace(state, active=None)
    else:
        cause = f"the coalescing window closed at {request.window_end.isoformat()}"
    waiting = state.waiting
    if waiting is None:
        return _quiet("nothing-waiting", f"{cause}; no data is waiting", request), state
    trailing = _trailing(model, waiting, cause)
    own = _started_by(trailing, situation.executions)
    if own is not None:
        message = f"{cause}; the trailing run on {waiting.uri} already exists: {own.arn}"
        repaired = _after_start(state, trailing, own.arn, own.start_time or now)
        if own.status not in RUNNING_STATUSES:
            repaired = replace(repaired, active=state.active)
        return _quiet("trailing-run-exists", message, request, own.arn), repaired
    if situation.running is not None:
        message = f"{cause}; data waits for execution {situation.running.arn}, which is still running"
        return _quiet("execution-running", message, request, situation.running.arn), state
    arn = start(trailing, services.sagemaker)
    message = f"started a trailing run of {model.pipeline_name} on {waiting.uri} because {cause}"
    extra = {"displayName": trailing.display_name, "dataEventId": waiting.event_id, "trailingAfter": cause}
    outcome = Outcome(
        "started",
        "data",
        message,
        model=model.name,
        trigger="data",
        execution_arn=arn,
        input_data_uri=waiting.uri,
        event_id=request.event_id,
        extra=extra,
    )
    return outcome, _after_start(state, trailing, arn, now)


def run(request: Request, services: Services) -> Outcome:
    """Read the state, look at the pipeline, decide and act, all under the model's lease."""
    model = request.model
    with services.leases.hold(model.name, new_owner(request.event_id)):
        now = services.clock()
        state = services.states.load(model.name)
        ended = request if isinstance(request, RunEnded) else None
        situation = observe(services.sagemaker, model, state, now, ended)
        if isinstance(request, Trigger):
            outcome, changed = _handle_trigger(request, services, state, situation, now)
        else:
            outcome, changed = _settle(request, services, state, situation, now)
        if changed != state:
            services.states.save(changed)
        return outcome


def process(event: TriggerEvent, *, catalog: Catalog, data_bucket: str, services: Services) -> Outcome:
    """Resolve the event, then decide and act; `outcome.announce` publishes the result."""
    resolved = resolve(event, catalog, data_bucket)
    if isinstance(resolved, Outcome):
        return resolved
    return run(resolved, services)
