"""Lambda entry point of the monitoring launcher: parse the event, then hand over to `logic`.

A schedule's rule names the model through the catalog (`monitoring_schedule_name`); a label file
names it by its key, `monitoring/<model>/ground-truth/...`. An event that names no monitored
model is answered with an EventRejected event and a normal return: retrying cannot repair it.
Any AWS error propagates, so Lambda's async retries and the dead-letter queue keep the event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from platform_common import env_names, runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from monitoring_launcher import logic
    from platform_common.catalog import Catalog, ModelSettings

HANDLER_NAME = "monitoring-launcher"

logger = Logger()


@dataclass(frozen=True)
class LauncherSettings:
    """What the automation stack tells the launcher beyond the settings every handler gets."""

    lock_table: str
    job_prefix: str
    job_role_arn: str
    data_bucket: str
    artifact_bucket: str
    key_arn: str
    namespace: str
    tracking_uri: str

    @classmethod
    def from_env(cls) -> LauncherSettings:
        """Read the settings; a missing one raises MissingSettingError naming the variable."""
        return cls(
            lock_table=runtime.require_env(env_names.MODEL_LOCK_TABLE_NAME),
            job_prefix=runtime.require_env(env_names.MONITORING_JOB_PREFIX),
            job_role_arn=runtime.require_env(env_names.MONITORING_JOB_ROLE_ARN),
            data_bucket=runtime.require_env(env_names.DATA_BUCKET_NAME),
            artifact_bucket=runtime.require_env(env_names.ARTIFACT_BUCKET_NAME),
            key_arn=runtime.require_env(env_names.DATA_KEY_ARN),
            namespace=runtime.require_env(env_names.MONITORING_NAMESPACE),
            tracking_uri=runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN),
        )


launcher_settings = runtime.lazy(LauncherSettings.from_env)


def launcher() -> logic.Launcher:
    """The core's AWS side, from the function's settings and the process's clients."""
    from monitoring_launcher import logic
    from monitoring_launcher.requests import JobSettings
    from platform_common import domain_events
    from platform_common.evidence import EvidenceStore
    from platform_common.lease import LeaseTable

    settings = launcher_settings()
    bus_name = runtime.settings().bus_name
    dynamodb = runtime.client("dynamodb")
    sagemaker = runtime.client("sagemaker")
    events = runtime.client("events")
    return logic.Launcher(
        sagemaker=sagemaker,
        dynamodb=dynamodb,
        table_name=settings.lock_table,
        leases=LeaseTable(dynamodb, settings.lock_table, clock=logic.utc_now, sleep=time.sleep),
        evidence=EvidenceStore(bucket=settings.artifact_bucket, s3=runtime.client("s3"), sagemaker=sagemaker),
        job=JobSettings(
            job_prefix=settings.job_prefix,
            role_arn=settings.job_role_arn,
            data_bucket=settings.data_bucket,
            artifact_bucket=settings.artifact_bucket,
            key_arn=settings.key_arn,
            namespace=settings.namespace,
            tracking_uri=settings.tracking_uri,
        ),
        publish=lambda event: domain_events.publish(events, bus_name, event),
        cloudwatch=runtime.client("cloudwatch"),
    )


def reset() -> None:
    """Forget every cached setting, client and catalog (between tests)."""
    runtime.reset()


@dataclass(frozen=True)
class Request:
    """Which model to monitor, and why."""

    model: ModelSettings
    cause: str


@dataclass(frozen=True)
class Rejection:
    """Why an event names no monitored model."""

    reason: str
    model: str | None = None


def parse_event(event: Any, catalog: Catalog) -> Request | Rejection:
    """The model and cause the event asks for, or what was wrong with it."""
    from aws_lambda_powertools.utilities.parser import parse
    from pydantic import ValidationError

    from monitoring_launcher import logic
    from monitoring_launcher.models import EVENT_MODELS, LabelsDelivered, ScheduledEvent
    from platform_common.catalog import UnknownModelError

    if not isinstance(event, dict):
        return Rejection(f"event is a {type(event).__name__}, not a JSON object")
    source, detail_type = event.get("source"), event.get("detail-type")
    model_type = EVENT_MODELS.get((str(source), str(detail_type)))
    if model_type is None:
        return Rejection(f"this function does not handle source {source!r} with detail-type {detail_type!r}")
    try:
        parsed = parse(event=event, model=model_type)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:10])
        return Rejection(f"{detail_type} event failed validation: {problems}")
    try:
        if isinstance(parsed, ScheduledEvent):
            return Request(catalog.for_monitoring_schedule(parsed.resources[0]), logic.CAUSE_SCHEDULE)
        assert isinstance(parsed, LabelsDelivered)
        name = parsed.model_name
        if name is None:
            return Rejection(
                f"detail.object.key {parsed.detail.object.key!r} is not a file under monitoring/<model>/ground-truth/"
            )
        return Request(catalog.by_name(name), logic.CAUSE_GROUND_TRUTH)
    except UnknownModelError as error:
        return Rejection(str(error))


def _reject(rejection: Rejection, event: Any) -> dict[str, Any]:
    from platform_common import domain_events

    event_id = event.get("id") if isinstance(event, dict) else None
    logger.warning(f"rejected event, nothing started: {rejection.reason}")
    domain_events.publish(
        runtime.client("events"),
        runtime.settings().bus_name,
        domain_events.DomainEvent(
            domain_events.EVENT_REJECTED,
            rejection.model,
            rejection.reason,
            {"handler": HANDLER_NAME, "eventId": event_id},
            correlation_id=event_id if isinstance(event_id, str) else None,
        ),
    )
    return {"action": "rejected", "reason": rejection.reason, "model": rejection.model, "job_name": None}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Start one model's monitoring job, or say why not; return what happened."""
    from dataclasses import asdict

    from monitoring_launcher import logic
    from platform_common.lease import new_owner

    try:
        request = parse_event(event, runtime.catalog())
        if isinstance(request, Rejection):
            return _reject(request, event)
        outcome = logic.launch(
            launcher(), request.model, cause=request.cause, owner=new_owner(str(event.get("id") or "event"))
        )
        logger.info(f"{outcome.action}: {outcome.reason}", extra={"monitoring": asdict(outcome)})
    except Exception:
        logger.exception("could not finish handling the event; raising so that it is retried or dead-lettered")
        raise
    return asdict(outcome)
