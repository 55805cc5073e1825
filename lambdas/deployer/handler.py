"""Lambda entry point of the deployer: parse the event, find the model(s), let the core reconcile.

Only the logger and the small shared runtime module load at import time; pydantic, the
event models, boto3 and the MLflow client load with the first event.

A malformed event is answered with an EventRejected event and a normal return. An AWS or MLflow
error, or a model's lease that stays busy, propagates so that Lambda retries the event (the
periodic check would pick the work up anyway).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from platform_common import domain_events, env_names, runtime

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from deployer.champion import ModelRegistry
    from deployer.models import PromotionRequestedEvent
    from deployer.promotion import RegistryOfRecord
    from deployer.run import Deployment
    from platform_common.catalog import Catalog, ModelSettings
    from platform_common.champion_record import ChampionRecords
    from platform_common.lease import LeaseTable

logger = Logger()

# A name the cached catalog does not know may belong to a model added minutes ago; the
# catalog is re-read for it, but at most this often, so stray events cannot hammer SSM.
CATALOG_MISS_MAX_AGE_SECONDS = 30.0


def _build_mlflow() -> ModelRegistry:
    from platform_common.mlflow_rest import MlflowRestClient

    return MlflowRestClient.from_session(runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN))


mlflow_registry = runtime.lazy(_build_mlflow)


def sagemaker() -> Any:
    """The SageMaker client the core is given."""
    return runtime.client("sagemaker")


def leases() -> LeaseTable:
    """The per-model promotion leases, in the table the automation stack names."""
    from platform_common.promotion import leases_from_environment

    return leases_from_environment()


def find_model(lookup: Callable[[Catalog], ModelSettings]) -> ModelSettings:
    """The catalog entry `lookup` picks, re-reading a stale catalog once on a miss."""
    from platform_common.catalog import UnknownModelError

    try:
        return lookup(runtime.catalog())
    except UnknownModelError:
        return lookup(runtime.catalog(max_age_seconds=CATALOG_MISS_MAX_AGE_SECONDS))


def registry_of_record() -> RegistryOfRecord | None:
    """The registry this environment deploys promoted versions from; None without a delivery block."""
    import os

    from deployer.promotion import RegistryOfRecord
    from platform_common.evidence import EvidenceStore

    account = os.environ.get(env_names.REGISTRY_ACCOUNT)
    if not account:
        return None
    region = runtime.require_env(env_names.REGISTRY_REGION)
    sagemaker_there = runtime.client_in("sagemaker", region)
    return RegistryOfRecord(
        account=account,
        region=region,
        resource_prefix=runtime.require_env(env_names.REGISTRY_RESOURCE_PREFIX),
        group_suffix=os.environ.get(env_names.REGISTRY_PACKAGE_GROUP_SUFFIX) or None,
        sagemaker=sagemaker_there,
        evidence=EvidenceStore(
            runtime.require_env(env_names.REGISTRY_ARTIFACT_BUCKET), runtime.client_in("s3", region), sagemaker_there
        ),
        # Lambda sets AWS_REGION to the function's Region.
        local_region=os.environ.get("AWS_REGION") or None,
    )


def deployment(model: ModelSettings, group_name: str | None = None) -> Deployment:
    """The model and the clients its reconciliation uses."""
    from deployer.promotion import artifact_verifier
    from deployer.run import Deployment
    from platform_common.evidence import EvidenceStore
    from platform_common.registry import package_group_name

    tracking_arn = runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN)
    evidence = EvidenceStore(runtime.require_env(env_names.ARTIFACT_BUCKET_NAME), runtime.client("s3"), sagemaker())
    source = registry_of_record()
    return Deployment(
        settings=model,
        group_name=group_name or package_group_name(model.name, tracking_arn),
        sagemaker=sagemaker(),
        mlflow=mlflow_registry(),
        publish=functools.partial(domain_events.publish, runtime.client("events"), runtime.settings().bus_name),
        execution_role_arn=runtime.require_env(env_names.MODEL_EXECUTION_ROLE_ARN),
        evidence=evidence,
        verify=artifact_verifier(source, evidence) if source is not None else None,
        capture=(runtime.require_env(env_names.DATA_BUCKET_NAME), runtime.require_env(env_names.DATA_KEY_ARN)),
        champions=None if model.serves_endpoint else champion_records(),
    )


def champion_records() -> ChampionRecords:
    """Where the deployer records a batch-only model's champion (the model lock table)."""
    from platform_common.champion_record import ChampionRecords

    return ChampionRecords(runtime.client("dynamodb"), runtime.require_env(env_names.MODEL_LOCK_TABLE_NAME))


def act_on_promotion(parsed: PromotionRequestedEvent, publish: Callable[[Any], object]) -> dict[str, Any]:
    """Verify the requested version in the registry of record, register it here, and reconcile as for an approval."""
    from deployer import logic, promotion
    from deployer.run import APPROVAL, Trigger
    from platform_common.catalog import UnknownModelError
    from platform_common.lease import new_owner
    from platform_common.promotion import Outcome
    from platform_common.promotion_request import PROMOTION_REFUSED

    request = parsed.detail
    data = {"handler": "deployer", "modelPackageArn": request.package_arn, "requestedBy": request.requested_by}

    def refuse(check: str, reason: str, model: str | None = None) -> dict[str, Any]:
        publish(
            domain_events.DomainEvent(
                PROMOTION_REFUSED,
                model,
                f"{reason}; nothing was deployed",
                {**data, "check": check},
                parsed.id,
                summary=f"promotion of {request.package_arn} refused: check {check} failed",
                next_step="Promote an Approved version the model's pipeline registered in the registry of record.",
            )
        )
        logger.warning("refused a promotion", extra={"check": check})
        return Outcome("refused", f"{check}: {reason}", model, published=(PROMOTION_REFUSED,)).as_dict()

    source = registry_of_record()
    if source is None:
        return refuse("environment", "this environment deploys no promoted versions (no delivery block configures it)")
    try:
        model = find_model(lambda catalog: catalog.by_name(request.model))
    except UnknownModelError as error:
        return refuse("model", str(error))
    try:
        version = promotion.verify(source, model, request.package_arn)
    except promotion.PromotionRefusedError as error:
        return refuse(error.check, str(error), model.name)
    ctx = deployment(model)
    local_arn = promotion.register_locally(ctx.sagemaker, ctx.group_name, version)
    outcome = logic.converge(ctx, Trigger(APPROVAL, local_arn, parsed.id), leases=leases(), owner=new_owner(parsed.id))
    logger.info("deployer finished a promotion", extra={**outcome.as_dict(), "localPackageArn": local_arn})
    return outcome.as_dict()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Reconcile the model an approval or endpoint event names, or every model on the periodic check."""
    from pydantic import ValidationError

    from deployer import check, logic
    from deployer.models import (
        APPROVED,
        EVENT_MODELS,
        EndpointStateChangeEvent,
        ModelPackageStateChangeEvent,
        PromotionRequestedEvent,
        ScheduledEvent,
    )
    from deployer.run import APPROVAL, ENDPOINT_CHANGE, Trigger
    from platform_common.catalog import UnknownModelError, require_own_package_group
    from platform_common.lease import new_owner
    from platform_common.promotion import RECONCILE_INTERVAL_MINUTES, Outcome

    publish = functools.partial(domain_events.publish, runtime.client("events"), runtime.settings().bus_name)
    raw = event if isinstance(event, dict) else {}
    reject = domain_events.event_rejecter("deployer", event, publish)

    detail_type = raw.get("detail-type")
    model_type = EVENT_MODELS.get(detail_type) if isinstance(detail_type, str) else None
    if model_type is None:
        logger.warning("rejected an event of a type the deployer does not handle")
        return reject(
            f"the deployer does not handle detail-type {raw.get('detail-type')!r}; nothing was changed",
            source=raw.get("source"),
            detailType=raw.get("detail-type"),
        )
    try:
        parsed = model_type.model_validate(event)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in item["loc"]), "problem": item["msg"]}
            for item in error.errors(include_url=False)
        ]
        logger.warning("rejected a malformed event", extra={"problems": problems})
        return reject(
            f"not a usable {raw.get('detail-type')} ({len(problems)} problem(s)); nothing was changed",
            source=raw.get("source"),
            detailType=raw.get("detail-type"),
            problems=problems,
        )
    logger.append_keys(correlation_id=parsed.id)

    if isinstance(parsed, ScheduledEvent):
        report = check.check_all(
            runtime.catalog().models,
            deployment_for=deployment,
            leases=leases(),
            event_id=parsed.id,
            time_left=lambda: context.get_remaining_time_in_millis() / 1000.0,
            rotation=int(parsed.time.timestamp() // 60 // RECONCILE_INTERVAL_MINUTES),
        )
        logger.info("periodic check finished", extra=report.as_dict())
        return report.as_dict()

    if isinstance(parsed, PromotionRequestedEvent):
        return act_on_promotion(parsed, publish)

    if isinstance(parsed, ModelPackageStateChangeEvent):
        package = parsed.detail
        if package.approval_status != APPROVED:
            logger.info("ignored a package that is not approved", extra={"status": package.approval_status})
            return Outcome("ignored", f"approval status is {package.approval_status}").as_dict()
        try:
            model = find_model(lambda catalog: catalog.for_package_group(package.group_name))
            require_own_package_group(
                package.group_name, model, runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN)
            )
        except UnknownModelError as error:
            return reject(f"{error}; nothing was deployed", modelPackageArn=package.arn)
        ctx = deployment(model, package.group_name)
        trigger = Trigger(APPROVAL, package.arn, parsed.id)
    else:
        assert isinstance(parsed, EndpointStateChangeEvent)
        endpoint = parsed.detail
        try:
            model = find_model(lambda catalog: catalog.for_endpoint(endpoint.endpoint_name))
        except UnknownModelError as error:
            return reject(f"{error}; nothing was changed", endpointName=endpoint.endpoint_name)
        ctx = deployment(model)
        trigger = Trigger(ENDPOINT_CHANGE, None, parsed.id)
    outcome = logic.converge(ctx, trigger, leases=leases(), owner=new_owner(parsed.id))
    logger.info("deployer finished", extra=outcome.as_dict())
    return outcome.as_dict()
