"""Decide whether a model is monitored now, and start its monitoring job (clients passed in).

The champion is resolved at every run, never remembered, from where the deployer records it
(`platform_common.champion_record`): the endpoint's tag `mlops:promoted-package-arn`, or for a
model served only by batch transform the item `<model>#champion` of the lock table. The package's
evidence claim (`platform_common.evidence`) names the pipeline execution that produced it, and
that execution's baseline lies beside its evidence report. A new champion therefore brings its
own baseline to the next run.

One run per model at a time: the launcher holds the model's lease `<model>#monitoring` in the
platform's lock table while it decides, and the table keeps the model's watermark: the end of
the last window whose job completed, and the job in flight. A run still in progress answers
`skipped`; a failed or stopped one leaves the watermark where it was, so the next run reads its
window again.

Label deliveries are coalesced: a burst of ground-truth files starts one run. A delivery while a
run is in progress, or within the model's `coalesce_minutes` of the last run's start, starts
nothing and publishes nothing (it is logged); its labels are read by the next run, since every run
joins the labels of its whole lookback window. Scheduled runs are never coalesced away.

A model with no champion yet is not silent: the launcher publishes the heartbeat
`MonitoringAwaitingChampion` (1) beside the job's `MonitoringRuns`, and the silent-monitor alarm
counts either as a sign of life (stacks/model_stack.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from monitoring_launcher.requests import JobSettings, Run, processing_job
from platform_common import domain_events
from platform_common.catalog import ModelSettings
from platform_common.champion_record import PROMOTED_PACKAGE_TAG, ChampionRecords
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EvidenceError, EvidenceStore, claimed_execution, verify_artifact
from platform_common.lease import KEY_ATTRIBUTE, LeaseTable
from platform_common.monitoring import (
    BASELINE_REFERENCE_FILE,
    MONITORING_AWAITING_CHAMPION,
    baseline_prefix,
    metric_dimensions,
)

_LEASE_ROLE = "monitoring"
_WATERMARK_SUFFIX = "#monitoring-watermark"
# DescribeProcessingJob's ProcessingJobStatus (SageMaker API Reference, "DescribeProcessingJob",
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeProcessingJob.html).
_RUNNING = frozenset({"InProgress", "Stopping"})
# What started a run: the model's schedule, or a delivery of ground truth (coalesced).
CAUSE_SCHEDULE = "schedule"
CAUSE_GROUND_TRUTH = "ground-truth"

Publisher = Callable[[DomainEvent], object]


@dataclass(frozen=True)
class Outcome:
    """What the launcher did for one model (returned by the handler, logged, asserted in tests)."""

    action: str
    reason: str
    model: str
    job_name: str | None = None


@dataclass(frozen=True)
class Launcher:
    """The clients and settings one launch uses."""

    sagemaker: Any
    dynamodb: Any
    table_name: str
    leases: LeaseTable
    evidence: EvidenceStore
    job: JobSettings
    publish: Publisher
    cloudwatch: Any
    clock: Callable[[], datetime] = field(default=lambda: utc_now())


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def lease_key(model: str) -> str:
    """The lease under which one model's monitoring runs are decided one at a time."""
    return f"{model}#{_LEASE_ROLE}"


def launch(launcher: Launcher, settings: ModelSettings, *, cause: str, owner: str) -> Outcome:
    """Start `settings`' monitoring job for the window since its watermark, or say why not."""
    model = settings.name
    if settings.monitoring_engine != "platform":
        return _skipped(
            launcher,
            settings,
            cause,
            "monitoring-off",
            f"model {model} is not monitored by the platform (monitoring engine "
            f"{settings.monitoring_engine or 'none'})",
            "None; enable monitoring in the model's config.",
        )
    captures = settings.capture_sampling_percent is not None and settings.serverless_memory_mb is None
    if not captures and settings.batch is None:
        return _skipped(
            launcher,
            settings,
            cause,
            "no-data-capture",
            f"model {model}'s endpoint captures no data (serverless, or capture off) and it has no batch transform",
            "None; serve the model from instances, or add batch transform, to monitor it.",
        )
    image = settings.monitoring_image_uri
    if not image:
        return _skipped(
            launcher,
            settings,
            cause,
            "no-image",
            f"the catalog entry of model {model} names no monitoring image",
            "Redeploy the model stack; nothing was started.",
        )
    package_arn = _champion(launcher, settings)
    if package_arn is None:
        _heartbeat(launcher, settings)
        where = (
            f"endpoint {settings.endpoint_name} serves no promoted version"
            if settings.serves_endpoint
            else "the deployer has recorded none for its batch transforms"
        )
        return _skipped(
            launcher,
            settings,
            cause,
            "no-champion",
            f"model {model} has no champion yet: {where}",
            "None; monitoring starts once a version is deployed and promoted.",
        )
    package = launcher.sagemaker.describe_model_package(ModelPackageName=package_arn)
    try:
        report = verify_artifact(launcher.evidence, settings, package)
    except EvidenceError as error:
        return _skipped(
            launcher,
            settings,
            cause,
            "no-evidence",
            f"champion {package_arn} of model {model} has no verifiable evidence: {error}",
            "Investigate the champion's evidence; nothing was started.",
            package_arn,
        )
    execution_id = str(claimed_execution(package)).rsplit("/", 1)[-1]
    baseline_key = baseline_prefix(model, execution_id)
    if not _exists(launcher.evidence.s3, launcher.evidence.bucket, baseline_key + BASELINE_REFERENCE_FILE):
        return _skipped(
            launcher,
            settings,
            cause,
            "no-baseline",
            f"champion {package_arn} of model {model} has no baseline at "
            f"s3://{launcher.evidence.bucket}/{baseline_key}",
            "Retrain the model with a pipeline that writes a baseline; nothing was started.",
            package_arn,
        )

    with launcher.leases.hold(lease_key(model), owner):
        mark = _watermark(launcher, model)
        pending = mark.get("jobName")
        if pending:
            status = _job_status(launcher.sagemaker, pending)
            if status in _RUNNING and cause == CAUSE_GROUND_TRUTH:
                return Outcome("coalesced", f"monitoring job {pending} of model {model} is still {status}", model)
            if status in _RUNNING:
                return _skipped(
                    launcher,
                    settings,
                    cause,
                    "run-in-progress",
                    f"monitoring job {pending} of model {model} is still {status}",
                    "None; the next run starts once it has ended.",
                    package_arn,
                )
            if status == "Completed" and mark.get("pendingEnd"):
                mark["windowEnd"] = mark["pendingEnd"]
        now = launcher.clock().replace(microsecond=0)
        last_start = _parse(mark.get("pendingEnd"))
        quiet = timedelta(minutes=settings.coalesce_minutes)
        if cause == CAUSE_GROUND_TRUTH and last_start is not None and now - last_start < quiet:
            return Outcome(
                "coalesced",
                f"the last monitoring run of model {model} started at {last_start.isoformat()}, less than "
                f"{settings.coalesce_minutes} minutes ago; the next run reads these labels",
                model,
            )
        start = _parse(mark.get("windowEnd")) or now - timedelta(days=settings.label_lookback_days)
        run = Run(
            model=model,
            serving_target=serving_target(settings),
            image_uri=image,
            instance_type=settings.monitoring_instance_type,
            max_runtime_seconds=settings.monitoring_max_runtime_seconds,
            metric_name=settings.metric_name,
            drift_threshold=settings.drift_threshold,
            lookback_days=settings.label_lookback_days,
            package_arn=package_arn,
            mlflow_run_id=report.mlflow_run_id,
            baseline_uri=f"s3://{launcher.evidence.bucket}/{baseline_key}",
            window_start=start,
            window_end=now,
        )
        request = processing_job(launcher.job, run)
        launcher.sagemaker.create_processing_job(**request)
        # The first run records where its window started: if it fails, the next run reads that window again.
        _save_watermark(launcher, model, mark.get("windowEnd") or start.isoformat(), request["ProcessingJobName"], now)

    name = request["ProcessingJobName"]
    reason = f"monitoring {model} (champion {package_arn}) from {run.window_start.isoformat()} to {now.isoformat()}"
    launcher.publish(
        DomainEvent(
            domain_events.MONITORING_STARTED,
            model,
            reason,
            {"trigger": cause, "jobName": name, "packageArn": package_arn, "baselineUri": run.baseline_uri},
            summary=f"{model}: monitoring job {name} started",
            next_step="None; the job publishes its metrics.",
        )
    )
    return Outcome("started", reason, model, name)


def _skipped(
    launcher: Launcher,
    settings: ModelSettings,
    cause: str,
    code: str,
    reason: str,
    next_step: str,
    package_arn: str | None = None,
) -> Outcome:
    data: dict[str, Any] = {"trigger": cause, "skipReason": code}
    if package_arn:
        data["packageArn"] = package_arn
    launcher.publish(
        DomainEvent(
            domain_events.MONITORING_SKIPPED,
            settings.name,
            reason,
            data,
            summary=f"{settings.name}: monitoring skipped ({code})",
            next_step=next_step,
        )
    )
    return Outcome("skipped", f"{code}: {reason}", settings.name)


def _heartbeat(launcher: Launcher, settings: ModelSettings) -> None:
    """Tell the silent-monitor alarm the launcher ran and is waiting for a champion (not silence)."""
    launcher.cloudwatch.put_metric_data(
        Namespace=launcher.job.namespace,
        MetricData=[
            {
                "MetricName": MONITORING_AWAITING_CHAMPION,
                "Dimensions": [
                    {"Name": name, "Value": value}
                    for name, value in metric_dimensions(settings.name, serving_target(settings)).items()
                ],
                "Timestamp": launcher.clock(),
                "Value": 1.0,
                "Unit": "Count",
            }
        ],
    )


def serving_target(settings: ModelSettings) -> str:
    """The `Endpoint` dimension of the model's metrics; entries without one name the endpoint."""
    return settings.serving_target or settings.endpoint_name


def _champion(launcher: Launcher, settings: ModelSettings) -> str | None:
    """The package the deployer last made champion, from its own record of it."""
    if not settings.serves_endpoint:
        record = ChampionRecords(launcher.dynamodb, launcher.table_name).read(settings.name)
        return record.package_arn if record is not None else None
    return _promoted_on_endpoint(launcher.sagemaker, settings.endpoint_name)


def _promoted_on_endpoint(sagemaker: Any, endpoint_name: str) -> str | None:
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        # SageMaker reports a missing endpoint as a ValidationException ("Could not find endpoint").
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise
    tags = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags") or []
    found = [str(t.get("Value")) for t in tags if t.get("Key") == PROMOTED_PACKAGE_TAG]
    return found[-1] if found else None


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _job_status(sagemaker: Any, name: str) -> str:
    try:
        return str(sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return "Missing"
        raise


def _watermark(launcher: Launcher, model: str) -> dict[str, str]:
    item = (
        launcher.dynamodb.get_item(
            TableName=launcher.table_name, Key={KEY_ATTRIBUTE: {"S": model + _WATERMARK_SUFFIX}}, ConsistentRead=True
        ).get("Item")
        or {}
    )
    return {key: str(value["S"]) for key, value in item.items() if key != KEY_ATTRIBUTE and "S" in value}


def _save_watermark(launcher: Launcher, model: str, window_end: str | None, job: str, pending_end: datetime) -> None:
    item = {
        KEY_ATTRIBUTE: {"S": model + _WATERMARK_SUFFIX},
        "jobName": {"S": job},
        "pendingEnd": {"S": pending_end.isoformat()},
    }
    if window_end:
        item["windowEnd"] = {"S": window_end}
    launcher.dynamodb.put_item(TableName=launcher.table_name, Item=item)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
