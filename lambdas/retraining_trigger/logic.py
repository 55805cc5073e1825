"""Decide whether an event starts a retraining run, and start it at most once.

Triggers (TriggerReason pipeline parameter):

- ``data``: S3 "Object Created" for a data object under a model's data prefix in the data
  bucket. The run reads the object's folder: ``s3://<bucket>/<key up to the last '/'>/``.
- ``quality``: the model's quality alarm entered ALARM (other states start nothing and
  publish nothing: an alarm recovering is not a request to retrain).
- ``schedule``: the model's schedule rule fired.
- ``manual``: a RetrainingRequested event on the platform bus.
  The last three read the model's whole data prefix in the data bucket, unless a manual
  request names its own ``inputDataUri``.

No duplicates. The pipeline's own executions are the ledger of what started:

- every start carries ``ClientRequestToken = sha256(event id)`` (64 hex characters, within
  SageMaker's 32-128) and a display name ``<trigger>-<event time>-<first 16 hex of that
  hash>`` (alphanumerics and hyphens, at most 82 characters, as SageMaker requires);
- before starting, the newest executions of the pipeline are listed. One whose display name
  ends with this event's hash means the event was delivered again: nothing starts, the
  outcome is ``duplicate`` and a RetrainingCoalesced event with reason
  ``duplicate-delivery`` points at that execution (if the first delivery died before
  announcing its start, this is the record that links event and execution);
- an execution that is Executing or Stopping coalesces any trigger, manual ones included:
  nothing starts, RetrainingCoalesced names the running execution;
- for ``data`` triggers only, an execution that started less than ``coalesce_minutes`` ago
  (and did not fail or get stopped) coalesces too. A data drop of many files therefore
  starts one run, on the folder of the first object processed; the later objects are
  recorded as coalesced, not queued. Manual, schedule and quality triggers skip this window.

Concurrency. Invocations run side by side (the function has no reserved concurrency). The
request token stops one event from starting twice: SageMaker documents ClientRequestToken as "A
unique, case-sensitive identifier that you provide to ensure the idempotency of the operation. An
idempotent operation completes no more than once", 32 to 128 characters (StartPipelineExecution,
Amazon SageMaker API Reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartPipelineExecution.html).
Two *different* events for one model could still both list, see nothing running and both
start; so the list-decide-start sequence runs under the model's lease (`lease.py`), and the
second event waits for the first to finish, then sees its run and is coalesced into it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from platform_common.catalog import Catalog, ModelSettings, UnknownModelError
from platform_common.lease import LeaseTable, new_owner
from retraining_trigger.keys import folder_uri, non_data_reason, prefix_uri
from retraining_trigger.models import (
    MAX_PARAMETER_VALUE_LENGTH,
    AlarmStateChangeEvent,
    ObjectCreatedEvent,
    RetrainingRequestedEvent,
    ScheduledEvent,
    TriggerEvent,
)
from retraining_trigger.outcome import Outcome
from retraining_trigger.pipeline import (
    MAX_DESCRIPTION_LENGTH,
    RUNNING_STATUSES,
    Execution,
    Trigger,
    TriggerReason,
    event_hash,
    newest_first,
    recent_executions,
    start,
)

# A run that failed or was stopped has not consumed the data, so it does not hold the window.
WINDOW_EXEMPT_STATUSES = frozenset({"Failed", "Stopped"})


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Decision:
    """Start, coalesce into `execution`, or recognise `execution` as this event's own run."""

    action: Literal["start", "coalesce", "duplicate"]
    reason: str
    execution: Execution | None = None


def decide(trigger: Trigger, recent: Sequence[Execution], now: datetime) -> Decision:
    """Start, coalesce or recognise a redelivery, from the pipeline's recent executions."""
    executions = newest_first(recent)
    marker = f"-{event_hash(trigger.event_id)}"
    for execution in executions:
        if execution.display_name.endswith(marker):
            return Decision("duplicate", "duplicate-delivery", execution)
    for execution in executions:
        if execution.status in RUNNING_STATUSES:
            return Decision("coalesce", "execution-running", execution)
    if trigger.reason == "data" and trigger.model.coalesce_minutes > 0:
        window_start = now - timedelta(minutes=trigger.model.coalesce_minutes)
        for execution in executions:
            if execution.status in WINDOW_EXEMPT_STATUSES or execution.start_time is None:
                continue
            if execution.start_time >= window_start:
                return Decision("coalesce", "within-coalesce-window", execution)
    return Decision("start", trigger.reason)


def _ignored(reason: str, message: str, event: TriggerEvent, **fields: Any) -> Outcome:
    return Outcome(outcome="ignored", reason=reason, message=message, event_id=event.id, **fields)


def _rejected(reason: str, message: str, event: TriggerEvent, **fields: Any) -> Outcome:
    return Outcome(
        outcome="rejected",
        reason=reason,
        message=message,
        event_id=event.id,
        extra={"source": event.source, "detailType": event.detail_type},
        **fields,
    )


def _unknown_model(error: UnknownModelError, event: TriggerEvent) -> Outcome:
    return _rejected("unknown-model", str(error), event)


def resolve(event: TriggerEvent, catalog: Catalog, data_bucket: str) -> Trigger | Outcome:
    """Map a parsed event to the run it asks for, or to the reason it asks for none."""
    if isinstance(event, ObjectCreatedEvent):
        return _resolve_object(event, catalog, data_bucket)
    if isinstance(event, AlarmStateChangeEvent):
        state = event.detail.state.value
        if state != "ALARM":
            message = f"alarm {event.detail.alarm_name} entered {state}, only ALARM asks for retraining"
            return _ignored("alarm-not-in-alarm", message, event, trigger="quality", silent=True)
        try:
            model = catalog.for_alarm(event.detail.alarm_name)
        except UnknownModelError as error:
            return _unknown_model(error, event)
        return _trigger(
            model, "quality", prefix_uri(data_bucket, model.data_prefix), event, f"alarm {event.detail.alarm_name}"
        )
    if isinstance(event, ScheduledEvent):
        try:
            model = catalog.for_schedule_rule(event.rule_arn)
        except UnknownModelError as error:
            return _unknown_model(error, event)
        return _trigger(model, "schedule", prefix_uri(data_bucket, model.data_prefix), event, f"rule {event.rule_arn}")
    return _resolve_request(event, catalog, data_bucket)


def _resolve_object(event: ObjectCreatedEvent, catalog: Catalog, data_bucket: str) -> Trigger | Outcome:
    bucket = event.detail.bucket.name
    key = event.detail.object.key
    if bucket != data_bucket:
        message = f"object s3://{bucket}/{key} is not in the data bucket {data_bucket}"
        return _ignored("foreign-bucket", message, event, trigger="data", extra={"key": key, "bucket": bucket})
    try:
        model = catalog.for_key(key)
    except UnknownModelError as error:
        return _ignored("unknown-prefix", str(error), event, trigger="data", extra={"key": key})
    rule = non_data_reason(key, event.detail.object.size, model.data_prefix)
    if rule is not None:
        message = f"s3://{bucket}/{key} is not data: {rule}"
        return _ignored("not-data", message, event, model=model.name, trigger="data", extra={"key": key})
    return _trigger(model, "data", folder_uri(bucket, key), event, f"object s3://{bucket}/{key}")


def _resolve_request(event: RetrainingRequestedEvent, catalog: Catalog, data_bucket: str) -> Trigger | Outcome:
    request = event.detail
    try:
        model = catalog.by_name(request.model)
    except UnknownModelError as error:
        return _unknown_model(error, event)
    uri = request.input_data_uri or prefix_uri(data_bucket, model.data_prefix)
    who = f" by {request.requested_by}" if request.requested_by else ""
    return _trigger(model, "manual", uri, event, f"requested{who}: {request.reason}")


def _trigger(
    model: ModelSettings, reason: TriggerReason, uri: str, event: TriggerEvent, cause: str
) -> Trigger | Outcome:
    if len(uri) > MAX_PARAMETER_VALUE_LENGTH:
        message = f"input URI is {len(uri)} characters, SageMaker accepts at most {MAX_PARAMETER_VALUE_LENGTH}"
        return _rejected("input-uri-too-long", message, event, model=model.name, trigger=reason)
    description = f"{reason} trigger, {cause} (event {event.id})"[:MAX_DESCRIPTION_LENGTH]
    return Trigger(model, reason, uri, event.id, event.time, description)


def run(trigger: Trigger, sagemaker: Any, leases: LeaseTable, clock: Callable[[], datetime]) -> Outcome:
    """List, decide and (maybe) start, holding the model's lease: the only part that touches SageMaker."""
    with leases.hold(trigger.model.name, new_owner(trigger.event_id)):
        return _decide_and_act(trigger, sagemaker, clock())


def _decide_and_act(trigger: Trigger, sagemaker: Any, now: datetime) -> Outcome:
    decision = decide(trigger, recent_executions(sagemaker, trigger.model.pipeline_name), now)
    common: dict[str, Any] = {
        "model": trigger.model.name,
        "trigger": trigger.reason,
        "input_data_uri": trigger.input_data_uri,
        "event_id": trigger.event_id,
    }
    if decision.action == "start":
        started_arn = start(trigger, sagemaker)
        message = f"started {trigger.model.pipeline_name} for a {trigger.reason} trigger on {trigger.input_data_uri}"
        return Outcome(
            outcome="started",
            reason=trigger.reason,
            message=message,
            execution_arn=started_arn,
            extra={"displayName": trigger.display_name},
            **common,
        )
    existing = decision.execution
    arn = existing.arn if existing else None
    if decision.action == "duplicate":
        message = f"event {trigger.event_id} was already handled by execution {arn}"
        return Outcome(outcome="duplicate", reason=decision.reason, message=message, execution_arn=arn, **common)
    status = existing.status if existing else "unknown"
    message = f"not started: execution {arn} ({status}) covers this {trigger.reason} trigger"
    return Outcome(outcome="coalesced", reason=decision.reason, message=message, execution_arn=arn, **common)


def process(
    event: TriggerEvent,
    *,
    catalog: Catalog,
    sagemaker: Any,
    data_bucket: str,
    leases: LeaseTable,
    clock: Callable[[], datetime] = utc_now,
) -> Outcome:
    """Resolve the event, then decide and act on SageMaker; `announce` publishes the result."""
    resolved = resolve(event, catalog, data_bucket)
    if isinstance(resolved, Outcome):
        return resolved
    return run(resolved, sagemaker, leases, clock)
