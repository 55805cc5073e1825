"""Lambda entry point of the batch launcher: parse the event, find the model, let the core decide.

Only the logger and the small shared runtime module load at import time. A malformed event, or
one about no batch model, is answered with an EventRejected event and a normal return (an object
that is not an input file is ignored). AWS errors and a lease that stays busy propagate, so that
Lambda retries the event and then puts it in the functions' dead-letter queue.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from platform_common import domain_events, env_names, runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from batch_launcher.logic import Launcher
    from platform_common.catalog import ModelSettings
    from platform_common.lease import LeaseTable

logger = Logger()


def leases() -> LeaseTable:
    """The per-model batch leases, in the table the automation stack names."""
    import time
    from datetime import UTC, datetime

    from platform_common.lease import LeaseTable

    return LeaseTable(
        runtime.client("dynamodb"),
        runtime.require_env(env_names.MODEL_LOCK_TABLE_NAME),
        clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
    )


def launcher(model: ModelSettings) -> Launcher:
    """The model and the clients its decisions use."""
    from batch_launcher.logic import Launcher
    from platform_common.champion_record import ChampionRecords
    from platform_common.evidence import EvidenceStore
    from platform_common.registry import package_group_name

    table = runtime.require_env(env_names.MODEL_LOCK_TABLE_NAME)
    return Launcher(
        settings=model,
        group_name=package_group_name(model.name, runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN)),
        sagemaker=runtime.client("sagemaker"),
        dynamodb=runtime.client("dynamodb"),
        s3=runtime.client("s3"),
        table_name=table,
        champions=ChampionRecords(runtime.client("dynamodb"), table),
        evidence=EvidenceStore(
            runtime.require_env(env_names.ARTIFACT_BUCKET_NAME), runtime.client("s3"), runtime.client("sagemaker")
        ),
        publish=functools.partial(domain_events.publish, runtime.client("events"), runtime.settings().bus_name),
        data_bucket=runtime.require_env(env_names.DATA_BUCKET_NAME),
        kms_key_arn=runtime.require_env(env_names.DATA_KEY_ARN),
        execution_role_arn=runtime.require_env(env_names.MODEL_EXECUTION_ROLE_ARN),
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Start a transform on an input file or the schedule; record a job's end and start the trailing one."""
    from pydantic import ValidationError

    from batch_launcher import logic
    from batch_launcher.inputs import is_input_file
    from batch_launcher.models import (
        EVENT_MODELS,
        ScheduledEvent,
        TransformJobStateChangeEvent,
    )
    from batch_launcher.requests import model_of_output
    from platform_common import monitoring
    from platform_common.catalog import UnknownModelError
    from platform_common.lease import new_owner
    from platform_common.promotion import Outcome
    from platform_common.s3_events import ObjectCreatedEvent

    publish = functools.partial(domain_events.publish, runtime.client("events"), runtime.settings().bus_name)
    raw = event if isinstance(event, dict) else {}
    rejected = domain_events.event_rejecter("batch-launcher", event, publish)

    def reject(reason: str, **data: Any) -> dict[str, Any]:
        logger.warning("rejected an event", extra={"reason": reason})
        return rejected(reason, **data)

    detail_type = raw.get("detail-type")
    model_type = EVENT_MODELS.get(detail_type) if isinstance(detail_type, str) else None
    if model_type is None:
        return reject(
            f"the batch launcher does not handle detail-type {detail_type!r}; nothing was started",
            source=raw.get("source"),
            detailType=detail_type,
        )
    try:
        parsed = model_type.model_validate(event)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in item["loc"]), "problem": item["msg"]}
            for item in error.errors(include_url=False)
        ]
        return reject(
            f"not a usable {detail_type} ({len(problems)} problem(s)); nothing was started",
            source=raw.get("source"),
            detailType=detail_type,
            problems=problems,
        )
    logger.append_keys(correlation_id=parsed.id)
    bucket = runtime.require_env(env_names.DATA_BUCKET_NAME)
    catalog = runtime.catalog()
    owner = new_owner(parsed.id)

    try:
        if isinstance(parsed, ObjectCreatedEvent):
            key = parsed.detail.object.key
            if parsed.detail.bucket.name != bucket:
                return reject(f"bucket {parsed.detail.bucket.name!r} is not the data bucket {bucket!r}", key=key)
            model_name = key.removeprefix(f"{monitoring.INFERENCE_PREFIX}/").partition("/")[0]
            if not key.startswith(f"{monitoring.INFERENCE_PREFIX}/") or not is_input_file(
                key, parsed.detail.object.size
            ):
                outcome = Outcome("ignored", f"{key!r} is not a batch input file; nothing was started")
                logger.info("ignored an object", extra=outcome.as_dict())
                return outcome.as_dict()
            model = catalog.by_name(model_name)
            if model.batch is None:
                return reject(f"model {model.name!r} has no batch transform configured; nothing was started", key=key)
            ctx = launcher(model)
            why = f"input file s3://{bucket}/{key}"
            step = functools.partial(logic.request, event_id=parsed.id, at=parsed.time, why=why)
        elif isinstance(parsed, ScheduledEvent):
            rule = parsed.resources[0] if parsed.resources else ""
            ctx = launcher(catalog.for_batch_schedule_rule(rule))
            step = functools.partial(logic.request, event_id=parsed.id, at=parsed.time, why=f"schedule {rule}")
        else:
            assert isinstance(parsed, TransformJobStateChangeEvent)
            job = parsed.detail
            owner_model = model_of_output(bucket, job.output.s3_output_path)
            if owner_model is None:
                return reject(
                    f"transform job {job.name} writes to {job.output.s3_output_path}, not under s3://{bucket}/"
                    f"{monitoring.PREDICTIONS_PREFIX}/<model>/; nothing was changed",
                    transformJobName=job.name,
                )
            ctx = launcher(catalog.by_name(owner_model))
            step = functools.partial(logic.job_ended, event_id=parsed.id, at=parsed.time, name=job.name)
    except UnknownModelError as error:
        return reject(f"{error}; nothing was started")
    outcome = logic.decide(ctx, leases(), owner, step)
    logger.info("batch launcher finished", extra=outcome.as_dict())
    return outcome.as_dict()
