"""Run one batch transform of a model's champion at a time, on the inputs that arrived since the last one.

Requests (an input file under `inference/<model>/`, the model's batch schedule) and job ends
(SageMaker's Transform Job State Change) are decided one at a time per model, under the lease
`<model>#batch` in the model lock table (`platform_common.lease`). The model's batch state is one
item in the same table, `<model>#batch`: the job running, the request waiting for it, the
watermark of the inputs already handed to a job, a job being started, and the ids of the events
already handled.

* A request while no job runs starts one on the champion over the input files new since the
  watermark (`batch_launcher.inputs`), listed in a manifest; with no new file, nothing starts and
  the outcome says so. While a job runs, a request waits, and one trailing job starts when the
  running one ends (two requests during one job give one trailing job: it takes every new file).
* The same event delivered twice is recognised by its id and starts nothing. A job's name derives
  from the event that started it, and the job being started is saved (with the watermark it
  moves to) before CreateTransformJob: a retry after a crash finds the job and adopts it, and if
  the job was never created, the watermark has not moved, so no input is lost.
* Without a champion nothing starts: BatchTransformSkipped says why, and the inputs wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from batch_launcher.champion import Champion, NoChampion, find_champion
from batch_launcher.inputs import Watermark, new_inputs, write_manifest
from batch_launcher.requests import create_model_request, job_name, model_name, transform_job_request
from platform_common import domain_events
from platform_common.catalog import ModelSettings
from platform_common.champion_record import ChampionRecords
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EvidenceStore
from platform_common.lease import KEY_ATTRIBUTE, LeaseTable
from platform_common.promotion import Outcome

BATCH_KEY_SUFFIX = "#batch"
# Events remembered per model to recognise a redelivery; EventBridge redelivers within its
# retry window, long before this many newer events have arrived for the same model.
REMEMBERED_EVENTS = 50
RUNNING_STATUSES = ("InProgress", "Stopping")
_MISSING = ("ValidationException", "ResourceNotFound")

Publisher = Callable[[DomainEvent], object]


def batch_key(model: str) -> str:
    """The key of a model's batch lease and batch state in the lock table."""
    return model + BATCH_KEY_SUFFIX


@dataclass(frozen=True)
class Launcher:
    """One model and the clients and settings the launcher uses for it."""

    settings: ModelSettings
    group_name: str
    sagemaker: Any
    dynamodb: Any
    s3: Any
    table_name: str
    champions: ChampionRecords
    evidence: EvidenceStore
    publish: Publisher
    data_bucket: str
    kms_key_arn: str
    execution_role_arn: str


@dataclass(frozen=True)
class Starting:
    """A job being started: saved before CreateTransformJob, so a retry can adopt it."""

    job: str
    event_id: str
    watermark: Watermark


@dataclass
class BatchState:
    """What the lock table remembers about a model's batch transforms."""

    running: str | None = None
    waiting: str | None = None
    watermark: Watermark | None = None
    starting: Starting | None = None
    seen: list[str] = field(default_factory=list)

    def remember(self, event_id: str) -> None:
        self.seen = [*[e for e in self.seen if e != event_id], event_id][-REMEMBERED_EVENTS:]


def _watermark_item(watermark: Watermark) -> dict[str, Any]:
    return {
        "M": {
            "lastModified": {"S": watermark.last_modified.isoformat()},
            "keys": {"L": [{"S": key} for key in watermark.keys]},
        }
    }


def _watermark(value: dict[str, Any] | None) -> Watermark | None:
    if not value:
        return None
    fields = value["M"]
    return Watermark(
        datetime.fromisoformat(fields["lastModified"]["S"]), tuple(key["S"] for key in fields["keys"]["L"])
    )


def _starting(value: dict[str, Any] | None) -> Starting | None:
    fields = (value or {}).get("M")
    watermark = _watermark(fields["watermark"]) if fields else None
    if not fields or watermark is None:
        return None
    return Starting(fields["job"]["S"], fields["eventId"]["S"], watermark)


def load_state(ctx: Launcher) -> BatchState:
    item = ctx.dynamodb.get_item(
        TableName=ctx.table_name, Key={KEY_ATTRIBUTE: {"S": batch_key(ctx.settings.name)}}, ConsistentRead=True
    ).get("Item", {})
    return BatchState(
        running=item.get("runningJob", {}).get("S"),
        waiting=item.get("waitingEvent", {}).get("S"),
        watermark=_watermark(item.get("watermark")),
        starting=_starting(item.get("startingJob")),
        seen=[value["S"] for value in item.get("seenEvents", {}).get("L", [])],
    )


def save_state(ctx: Launcher, state: BatchState) -> None:
    item: dict[str, Any] = {
        KEY_ATTRIBUTE: {"S": batch_key(ctx.settings.name)},
        "seenEvents": {"L": [{"S": event_id} for event_id in state.seen]},
    }
    if state.running:
        item["runningJob"] = {"S": state.running}
    if state.waiting:
        item["waitingEvent"] = {"S": state.waiting}
    if state.watermark is not None:
        item["watermark"] = _watermark_item(state.watermark)
    if state.starting is not None:
        item["startingJob"] = {
            "M": {
                "job": {"S": state.starting.job},
                "eventId": {"S": state.starting.event_id},
                "watermark": _watermark_item(state.starting.watermark),
            }
        }
    ctx.dynamodb.put_item(TableName=ctx.table_name, Item=item)


def decide(ctx: Launcher, leases: LeaseTable, owner: str, step: Callable[[Launcher], Outcome]) -> Outcome:
    """Run one decision about the model under its batch lease."""
    with leases.hold(batch_key(ctx.settings.name), owner):
        return step(ctx)


def _settle_starting(ctx: Launcher, state: BatchState) -> Starting | None:
    """A job whose start was cut short: adopt it if SageMaker has it (returned), else forget it (the inputs wait)."""
    starting, state.starting = state.starting, None
    if starting is None or _status(ctx, starting.job) is None:
        return None
    state.running = starting.job
    state.watermark = starting.watermark
    state.remember(starting.event_id)
    return starting


def request(ctx: Launcher, *, event_id: str, at: datetime, why: str) -> Outcome:
    """A request for a transform (an input file, the schedule): start one, or wait for the running one."""
    model = ctx.settings.name
    state = load_state(ctx)
    adopted = _settle_starting(ctx, state)
    if adopted is not None and adopted.event_id == event_id:
        save_state(ctx, state)
        reason = f"transform job {adopted.job} was started for event {event_id} before it was delivered again; adopted"
        return Outcome("adopted", reason, model)
    if event_id in state.seen:
        save_state(ctx, state)
        return Outcome("duplicate", f"event {event_id} was handled already; nothing was started", model)
    if state.running:
        status = _status(ctx, state.running)
        if status in RUNNING_STATUSES:
            state.waiting = event_id
            state.remember(event_id)
            save_state(ctx, state)
            reason = f"transform job {state.running} is {status}; one trailing job starts when it ends ({why})"
            _publish(
                ctx,
                domain_events.BATCH_TRANSFORM_COALESCED,
                reason,
                {"runningJob": state.running, "trigger": why},
                event_id,
                summary=f"{model}: a batch transform waits for {state.running} to end",
                next_step=domain_events.NO_ACTION,
            )
            return Outcome("coalesced", reason, model, published=(domain_events.BATCH_TRANSFORM_COALESCED,))
        state.running = None  # its end event was missed; it no longer runs
    outcome = _start(ctx, state, event_id=event_id, at=at, why=why)
    state.remember(event_id)
    save_state(ctx, state)
    return outcome


def job_ended(ctx: Launcher, *, event_id: str, at: datetime, name: str) -> Outcome:
    """A transform job changed state: record how the running one ended, then start the trailing job."""
    model = ctx.settings.name
    state = load_state(ctx)
    _settle_starting(ctx, state)
    if state.running != name:
        save_state(ctx, state)
        return Outcome("ignored", f"transform job {name} is not {model}'s running job; nothing was changed", model)
    job = ctx.sagemaker.describe_transform_job(TransformJobName=name)
    status = str(job.get("TransformJobStatus"))
    if status in RUNNING_STATUSES:
        save_state(ctx, state)
        return Outcome("ignored", f"DescribeTransformJob shows {name} {status}; it has not ended", model)
    output = job.get("TransformOutput", {}).get("S3OutputPath")
    data = {"transformJobName": name, "status": status, "outputUri": output, "modelName": job.get("ModelName")}
    published = []
    if status == "Failed":
        reason = f"transform job {name} failed: {job.get('FailureReason') or 'no reason given'}"
        _publish(
            ctx,
            domain_events.BATCH_TRANSFORM_FAILED,
            reason,
            {**data, "failureReason": job.get("FailureReason")},
            event_id,
            summary=f"{model}: batch transform {name} failed",
            next_step=(
                f"Read the reason (aws sagemaker describe-transform-job --transform-job-name {name}) and the job's "
                "logs under /aws/sagemaker/TransformJobs. The files it was given (its manifest, "
                f"batch-manifests/{model}/{name}.json) are not scored again by themselves: correct the model and "
                f"upload them again under inference/{model}/."
            ),
        )
        published.append(domain_events.BATCH_TRANSFORM_FAILED)
    else:
        reason = f"transform job {name} is {status}; predictions are under {output}"
        _publish(
            ctx,
            domain_events.BATCH_TRANSFORM_COMPLETED,
            reason,
            data,
            event_id,
            summary=f"{model}: batch transform {name} is {status}",
            next_step=domain_events.NO_ACTION,
        )
        published.append(domain_events.BATCH_TRANSFORM_COMPLETED)
    state.running = None
    if state.waiting is None:
        state.remember(event_id)
        save_state(ctx, state)
        return Outcome("ended", reason, model, published=tuple(published))
    waited_for = state.waiting
    state.waiting = None
    outcome = _start(ctx, state, event_id=event_id, at=at, why=f"trailing job for event {waited_for}")
    state.remember(event_id)
    save_state(ctx, state)
    return Outcome(
        "trailing_" + outcome.action, outcome.reason, model, outcome.version, (*published, *outcome.published)
    )


def _status(ctx: Launcher, name: str) -> str | None:
    try:
        return str(ctx.sagemaker.describe_transform_job(TransformJobName=name).get("TransformJobStatus"))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise


def _skip(ctx: Launcher, reason: str, why: str, event_id: str, *, summary: str, next_step: str) -> Outcome:
    _publish(
        ctx,
        domain_events.BATCH_TRANSFORM_SKIPPED,
        reason,
        {"trigger": why},
        event_id,
        summary=summary,
        next_step=next_step,
    )
    return Outcome("skipped", reason, ctx.settings.name, published=(domain_events.BATCH_TRANSFORM_SKIPPED,))


def _start(ctx: Launcher, state: BatchState, *, event_id: str, at: datetime, why: str) -> Outcome:
    """Start a transform of the champion over the new inputs; on success `state.running` names the job."""
    settings = ctx.settings
    model = settings.name
    try:
        champion = find_champion(
            sagemaker=ctx.sagemaker,
            records=ctx.champions,
            evidence=ctx.evidence,
            settings=settings,
            group_name=ctx.group_name,
        )
    except NoChampion as error:
        return _skip(
            ctx,
            f"{error}; no transform job was started, the input files wait for the next run",
            why,
            event_id,
            summary=f"{model}: no batch transform, the model has no champion to run",
            next_step="Approve a version of the model; the next input file or scheduled run scores what waits.",
        )
    inputs = new_inputs(ctx.s3, ctx.data_bucket, model, state.watermark)
    if not inputs.keys or inputs.watermark is None:
        since = f" since {state.watermark.last_modified.isoformat()}" if state.watermark else ""
        return _skip(
            ctx,
            f"no new input file under inference/{model}/{since}; no transform job was started",
            why,
            event_id,
            summary=f"{model}: no batch transform, no new input file",
            next_step=domain_events.NO_ACTION,
        )
    name = job_name(settings, event_id, at)
    manifest = write_manifest(ctx.s3, ctx.data_bucket, model, name, inputs.keys)
    state.starting = Starting(name, event_id, inputs.watermark)
    save_state(ctx, state)
    _ensure_model(ctx, champion)
    assert settings.batch is not None
    request = transform_job_request(
        settings,
        settings.batch,
        name=name,
        version=champion.version,
        package_arn=champion.package_arn,
        bucket=ctx.data_bucket,
        manifest_uri=manifest,
        kms_key_arn=ctx.kms_key_arn,
        trigger_event_id=event_id,
    )
    try:
        ctx.sagemaker.create_transform_job(**request)
    except ClientError:
        # A retry of the same event names the same job: if it exists, it was started by this event.
        if _status(ctx, name) is None:
            raise
    state.running, state.watermark, state.starting = name, inputs.watermark, None
    reason = f"started transform job {name} with version {champion.version} on {len(inputs.keys)} new file(s) ({why})"
    _publish(
        ctx,
        domain_events.BATCH_TRANSFORM_STARTED,
        reason,
        {
            "version": champion.version,
            "modelPackageArn": champion.package_arn,
            "mlflowVersion": champion.mlflow_version,
            "transformJobName": name,
            "manifestUri": manifest,
            "inputFiles": len(inputs.keys),
            "outputUri": request["TransformOutput"]["S3OutputPath"],
            "trigger": why,
        },
        event_id,
        summary=f"{model} version {champion.version} is scoring {len(inputs.keys)} new file(s) in transform job {name}",
        next_step="None; the launcher records how the job ends.",
    )
    return Outcome("started", reason, model, champion.version, (domain_events.BATCH_TRANSFORM_STARTED,))


def _ensure_model(ctx: Launcher, champion: Champion) -> None:
    """Create the champion's SageMaker model unless it exists (the deployer may have created it)."""
    name = model_name(ctx.settings, champion.version)
    try:
        ctx.sagemaker.describe_model(ModelName=name)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _MISSING:
            raise
    ctx.sagemaker.create_model(
        **create_model_request(ctx.settings, champion.version, champion.package_arn, ctx.execution_role_arn)
    )


def _publish(
    ctx: Launcher,
    detail_type: str,
    reason: str,
    data: dict[str, Any],
    correlation_id: str,
    *,
    summary: str,
    next_step: str,
) -> None:
    ctx.publish(
        DomainEvent(detail_type, ctx.settings.name, reason, data, correlation_id, summary=summary, next_step=next_step)
    )
