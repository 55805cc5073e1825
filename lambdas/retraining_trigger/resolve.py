"""What a parsed event asks of the trigger: a run (Trigger), a look at waiting data (RunEnded,
WindowClosed), or nothing at all (an Outcome that says why)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from difflib import get_close_matches
from typing import Any, cast

from platform_common.catalog import Catalog, ModelSettings, UnknownModelError
from platform_common.s3_events import ObjectCreatedEvent
from retraining_trigger.keys import folder_uri, non_data_reason, outside_reason, prefix_uri
from retraining_trigger.models import (
    MAX_PARAMETER_VALUE_LENGTH,
    AlarmStateChangeEvent,
    PipelineExecutionStatusEvent,
    RetrainingRequestedEvent,
    ScheduledEvent,
    TriggerEvent,
    WindowClosedEvent,
)
from retraining_trigger.outcome import Outcome
from retraining_trigger.pipeline import MAX_DESCRIPTION_LENGTH, Trigger, TriggerReason

# The statuses a pipeline execution ends in (PipelineExecutionSummary, Amazon SageMaker API
# Reference, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PipelineExecutionSummary.html:
# "Executing | Stopping | Stopped | Failed | Succeeded").
TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped"})


@dataclass(frozen=True)
class RunEnded:
    """A run of the model's pipeline ended: waiting data, if any, may now start its trailing run."""

    model: ModelSettings
    execution_arn: str
    status: str
    event_id: str


@dataclass(frozen=True)
class WindowClosed:
    """The model's coalescing window closed: waiting data, if any, may now start its trailing run."""

    model: ModelSettings
    window_end: datetime
    event_id: str


Request = Trigger | RunEnded | WindowClosed

# What a RetrainingRequested event may say (detail); anything else is refused by name.
REQUEST_FIELDS = ("model", "reason", "inputDataUri", "requestedBy")


def _ignored(reason: str, message: str, event: TriggerEvent, **fields: Any) -> Outcome:
    return Outcome(outcome="ignored", reason=reason, message=message, event_id=event.id, **fields)


def _rejected(
    reason: str, message: str, event: TriggerEvent, *, extra: dict[str, Any] | None = None, **fields: Any
) -> Outcome:
    return Outcome(
        outcome="rejected",
        reason=reason,
        message=message,
        event_id=event.id,
        extra={"source": event.source, "detailType": event.detail_type, **(extra or {})},
        **fields,
    )


def _unknown_model(error: UnknownModelError, event: TriggerEvent) -> Outcome:
    return _rejected("unknown-model", str(error), event)


def _resolve_alarm(event: AlarmStateChangeEvent, catalog: Catalog, data_bucket: str) -> Request | Outcome:
    """A model's quality alarm asks for retraining as `quality`, its drift alarm as `drift`."""
    name = event.detail.alarm_name
    model, reason = _alarm_owner(catalog, name)
    state = event.detail.state.value
    if state != "ALARM":
        message = f"alarm {name} entered {state}, only ALARM asks for retraining"
        return _ignored("alarm-not-in-alarm", message, event, trigger=reason, silent=True)
    if model is None:
        what = "drift alarm" if name.endswith("-drift") else "quality alarm"
        return _unknown_model(UnknownModelError(what, name, catalog.names), event)
    uri = prefix_uri(data_bucket, model.data_prefix)
    return _trigger(model, reason, uri, event, f"alarm {name}", whole_prefix=True)


def _alarm_owner(catalog: Catalog, alarm_name: str) -> tuple[ModelSettings | None, TriggerReason]:
    for lookup, reason in ((catalog.for_alarm, "quality"), (catalog.for_drift_alarm, "drift")):
        try:
            return lookup(alarm_name), cast(TriggerReason, reason)
        except UnknownModelError:
            continue
    return None, "quality"


def resolve(event: TriggerEvent, catalog: Catalog, data_bucket: str) -> Request | Outcome:
    """Map a parsed event to what it asks for, or to the reason it asks for nothing."""
    if isinstance(event, ObjectCreatedEvent):
        return _resolve_object(event, catalog, data_bucket)
    if isinstance(event, AlarmStateChangeEvent):
        return _resolve_alarm(event, catalog, data_bucket)
    if isinstance(event, ScheduledEvent):
        try:
            model = catalog.for_schedule_rule(event.rule_arn)
        except UnknownModelError as error:
            return _unknown_model(error, event)
        uri = prefix_uri(data_bucket, model.data_prefix)
        return _trigger(model, "schedule", uri, event, f"rule {event.rule_arn}", whole_prefix=True)
    if isinstance(event, PipelineExecutionStatusEvent):
        return _resolve_run_status(event, catalog)
    if isinstance(event, WindowClosedEvent):
        try:
            model = catalog.by_name(event.detail.model)
        except UnknownModelError as error:
            return _unknown_model(error, event)
        return WindowClosed(model, event.detail.window_end, event.id)
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
    return _trigger(model, "data", folder_uri(bucket, key), event, f"object s3://{bucket}/{key}", data_key=key)


def _resolve_run_status(event: PipelineExecutionStatusEvent, catalog: Catalog) -> RunEnded | Outcome:
    detail = event.detail
    pipeline = detail.pipeline_name
    model = next(
        (catalog.by_name(n) for n in catalog.names if catalog.by_name(n).pipeline_name.lower() == pipeline.lower()),
        None,
    )
    if model is None:
        message = f"pipeline {pipeline} belongs to no model in the catalog"
        return _ignored("unknown-pipeline", message, event, silent=True, execution_arn=detail.pipeline_execution_arn)
    if detail.current_status not in TERMINAL_STATUSES:
        message = f"execution {detail.pipeline_execution_arn} is {detail.current_status}, not ended"
        return _ignored("run-not-ended", message, event, model=model.name, silent=True)
    return RunEnded(model, detail.pipeline_execution_arn, detail.current_status, event.id)


def _unaccepted_fields(fields: list[str]) -> str:
    named = ", ".join(f"detail.{name}" for name in fields)
    message = f"{named}: not accepted in a RetrainingRequested event (accepted: {', '.join(REQUEST_FIELDS)})"
    hints = [f"did you mean {match[0]}?" for name in fields if (match := get_close_matches(name, REQUEST_FIELDS, 1))]
    if any(word in name.lower() for name in fields for word in ("instance", "threshold", "parameter")):
        hints.append(
            "instance types, instance count and metric threshold come from the model's configuration "
            "(models[].training, models[].processing, models[].metric in cdk.json), not from requests"
        )
    return "; ".join([message, *hints])


def _resolve_request(event: RetrainingRequestedEvent, catalog: Catalog, data_bucket: str) -> Trigger | Outcome:
    request = event.detail
    try:
        model = catalog.by_name(request.model)
    except UnknownModelError as error:
        return _unknown_model(error, event)
    extra_fields = sorted(request.model_extra or {})
    if extra_fields:
        message = _unaccepted_fields(extra_fields)
        return _rejected("field-not-accepted", message, event, model=model.name, trigger="manual")
    whole = prefix_uri(data_bucket, model.data_prefix)
    if request.input_data_uri is not None:
        why = outside_reason(request.input_data_uri, data_bucket, model.data_prefix)
        nested = _nested_model(catalog, model, request.input_data_uri, data_bucket)
        if why is None and nested is not None:
            why = f"it is under model {nested}'s data prefix"
        if why is not None:
            message = (
                f"detail.inputDataUri {request.input_data_uri!r} is refused: {why}; expected a location under {whole}"
            )
            return _rejected(
                "input-outside-model-data",
                message,
                event,
                model=model.name,
                trigger="manual",
                extra={"allowedPrefix": whole},
            )
    uri = request.input_data_uri or whole
    who = f" by {request.requested_by}" if request.requested_by else ""
    return _trigger(model, "manual", uri, event, f"requested{who}: {request.reason}", whole_prefix=uri == whole)


def _nested_model(catalog: Catalog, model: ModelSettings, uri: str, data_bucket: str) -> str | None:
    """Another model whose data prefix lies inside this model's and holds `uri` (validation forbids overlaps)."""
    key = uri.removeprefix(f"s3://{data_bucket}/")
    try:
        owner = catalog.for_key(key)
    except UnknownModelError:
        return None
    return owner.name if owner.name != model.name else None


def _trigger(
    model: ModelSettings,
    reason: TriggerReason,
    uri: str,
    event: TriggerEvent,
    cause: str,
    *,
    data_key: str = "",
    whole_prefix: bool = False,
) -> Trigger | Outcome:
    if len(uri) > MAX_PARAMETER_VALUE_LENGTH:
        message = f"input URI is {len(uri)} characters, SageMaker accepts at most {MAX_PARAMETER_VALUE_LENGTH}"
        return _rejected("input-uri-too-long", message, event, model=model.name, trigger=reason)
    description = f"{reason} trigger, {cause} (event {event.id})"[:MAX_DESCRIPTION_LENGTH]
    return Trigger(model, reason, uri, event.id, event.time, description, data_key=data_key, whole_prefix=whole_prefix)
