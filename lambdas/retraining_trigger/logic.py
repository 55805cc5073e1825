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

Which objects are data. An object under a model's prefix is *not* data, and is ignored with
a RetrainingIgnored event naming the rule, when:

1. its key ends with ``/`` (a folder marker from a console or a sync tool);
2. its size is 0 (a marker object; an event without a size is not judged on size);
3. any path segment below the data prefix, the file name included, starts with ``_`` or
   ``.``: completion markers (``_SUCCESS``, ``_committed_*``), hidden files (``.DS_Store``),
   checksum files (``.part-0.crc``) and whole staging folders (``_temporary/``,
   ``.spark-staging-*/``, ``_delta_log/``). This is the rule Hadoop and Spark use to hide
   paths from readers, so the training job would not read these objects either;
4. its name ends (any case) with ``.tmp``, ``.temp``, ``.part``, ``.crc`` or ``_$folder$``
   (in-flight uploads, checksums, EMR/Glue folder placeholders).

Keys under no model's prefix are ignored as ``unknown-prefix``; objects in a bucket other
than the data bucket as ``foreign-bucket``.

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

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from platform_common import domain_events
from platform_common.catalog import Catalog, ModelSettings, UnknownModelError
from retraining_trigger.lease import LeaseTable, new_owner
from retraining_trigger.models import (
    MAX_PARAMETER_VALUE_LENGTH,
    AlarmStateChangeEvent,
    ObjectCreatedEvent,
    RetrainingRequestedEvent,
    ScheduledEvent,
    TriggerEvent,
)

TriggerReason = Literal["data", "quality", "schedule", "manual"]
OutcomeKind = Literal["started", "coalesced", "duplicate", "ignored", "rejected"]

# Parameter names the model pipelines declare.
PARAM_INPUT_DATA_URI = "InputDataUri"
PARAM_TRIGGER_REASON = "TriggerReason"
PARAM_TRIGGER_EVENT_ID = "TriggerEventId"

RUNNING_STATUSES = frozenset({"Executing", "Stopping"})
# A run that failed or was stopped has not consumed the data, so it does not hold the window.
WINDOW_EXEMPT_STATUSES = frozenset({"Failed", "Stopped"})

# EventBridge retries a delivery for up to 24 hours and Lambda's async queue for up to 6;
# fifty executions cover that span for any pipeline that is not retrained every few minutes.
RECENT_EXECUTIONS = 50
EVENT_HASH_LENGTH = 16
MAX_DESCRIPTION_LENGTH = 3072

TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".crc", "_$folder$")
_DISPLAY_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def request_token(event_id: str) -> str:
    """The ClientRequestToken for the run an event asks for (sha256 of the event id)."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def event_hash(event_id: str) -> str:
    """The short form of the token that the execution's display name carries."""
    return request_token(event_id)[:EVENT_HASH_LENGTH]


def display_name(reason: str, event_time: datetime, event_id: str) -> str:
    """`<reason>-<YYYYMMDDTHHMMSS>-<event hash>`, valid as a SageMaker execution display name."""
    moment = event_time.astimezone(UTC) if event_time.tzinfo else event_time
    # 82 = label (at most 48) + "-" + 15-character stamp + "-" + 16-character hash.
    label = _DISPLAY_NAME_UNSAFE.sub("-", reason)[:48].strip("-") or "run"
    return f"{label}-{moment:%Y%m%dT%H%M%S}-{event_hash(event_id)}"


def non_data_reason(key: str, size: int | None, data_prefix: str) -> str | None:
    """Why the object is not training data (see the module docstring), or None if it is."""
    if key.endswith("/"):
        return "folder marker"
    if size == 0:
        return "empty object"
    relative = key[len(data_prefix) :] if key.startswith(data_prefix) else key
    segments = relative.split("/")
    for segment in segments[:-1]:
        if segment.startswith(("_", ".")):
            return f"under hidden or staging folder {segment!r}"
    name = segments[-1]
    if name.startswith(("_", ".")):
        return f"marker or hidden file {name!r}"
    if name.lower().endswith(TEMPORARY_SUFFIXES):
        return f"temporary file {name!r}"
    return None


def folder_uri(bucket: str, key: str) -> str:
    """`s3://bucket/<key up to and including its last '/'>`: the folder the object landed in."""
    folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    return f"s3://{bucket}/{folder}"


def prefix_uri(bucket: str, prefix: str) -> str:
    """`s3://bucket/prefix`: a model's whole data prefix."""
    return f"s3://{bucket}/{prefix}"


@dataclass(frozen=True)
class Trigger:
    """A resolved request for one run of one model's pipeline."""

    model: ModelSettings
    reason: TriggerReason
    input_data_uri: str
    event_id: str
    event_time: datetime
    description: str

    @property
    def token(self) -> str:
        return request_token(self.event_id)

    @property
    def display_name(self) -> str:
        return display_name(self.reason, self.event_time, self.event_id)

    def parameters(self) -> list[dict[str, str]]:
        return [
            {"Name": PARAM_INPUT_DATA_URI, "Value": self.input_data_uri},
            {"Name": PARAM_TRIGGER_REASON, "Value": self.reason},
            {"Name": PARAM_TRIGGER_EVENT_ID, "Value": self.event_id},
        ]


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


@dataclass(frozen=True)
class Execution:
    """The part of a pipeline execution summary the decision needs."""

    arn: str
    status: str
    display_name: str
    start_time: datetime | None

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Execution:
        start = summary.get("StartTime")
        if isinstance(start, datetime) and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return cls(
            arn=str(summary.get("PipelineExecutionArn", "")),
            status=str(summary.get("PipelineExecutionStatus", "")),
            display_name=str(summary.get("PipelineExecutionDisplayName") or ""),
            start_time=start if isinstance(start, datetime) else None,
        )


@dataclass(frozen=True)
class Decision:
    """Start, coalesce into `execution`, or recognise `execution` as this event's own run."""

    action: Literal["start", "coalesce", "duplicate"]
    reason: str
    execution: Execution | None = None


def _newest_first(executions: Iterable[Execution]) -> list[Execution]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(executions, key=lambda e: e.start_time or oldest, reverse=True)


def decide(trigger: Trigger, recent: Sequence[Execution], now: datetime) -> Decision:
    """Start, coalesce or recognise a redelivery, from the pipeline's recent executions."""
    executions = _newest_first(recent)
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


def recent_executions(sagemaker: Any, pipeline_name: str) -> list[Execution]:
    """The pipeline's newest executions, at most RECENT_EXECUTIONS of them."""
    response = sagemaker.list_pipeline_executions(
        PipelineName=pipeline_name,
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=RECENT_EXECUTIONS,
    )
    summaries = response.get("PipelineExecutionSummaries", [])
    return _newest_first(Execution.from_summary(s) for s in summaries)[:RECENT_EXECUTIONS]


def start(trigger: Trigger, sagemaker: Any) -> str:
    """Start the run and return its execution ARN (the token makes a repeated call harmless)."""
    response = sagemaker.start_pipeline_execution(
        PipelineName=trigger.model.pipeline_name,
        PipelineExecutionDisplayName=trigger.display_name,
        PipelineExecutionDescription=trigger.description,
        PipelineParameters=trigger.parameters(),
        ClientRequestToken=trigger.token,
    )
    return str(response["PipelineExecutionArn"])


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
