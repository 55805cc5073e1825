"""Lambda entry point of the model gate: parse the event, find the model, let `logic` decide.

Only the logger and the small shared runtime module load at import time; pydantic, the
event models, boto3 and the MLflow client load with the first event. The decision is taken
under the model's promotion lease; if another decision holds it for longer than the gate
waits, LeaseBusyError propagates and Lambda retries the event.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from platform_common import domain_events, env_names, runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from model_gate.logic import ModelRegistry
    from platform_common.catalog import Catalog, ModelSettings
    from platform_common.lease import LeaseTable

logger = Logger()

# A group the cached catalog does not know may belong to a model added minutes ago; the
# catalog is re-read for it, but at most this often, so stray events cannot hammer SSM.
CATALOG_MISS_MAX_AGE_SECONDS = 30.0


def _build_mlflow() -> ModelRegistry:
    from platform_common.mlflow_rest import MlflowRestClient

    return MlflowRestClient.from_session(runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN))


mlflow_registry = runtime.lazy(_build_mlflow)


def leases() -> LeaseTable:
    """The per-model promotion leases, in the table the automation stack names."""
    from platform_common.promotion import leases_from_environment

    return leases_from_environment()


def find_model(group_name: str) -> ModelSettings:
    """The catalog entry behind a package group, re-reading a stale catalog once on a miss."""
    from platform_common.catalog import UnknownModelError

    def lookup(catalog: Catalog) -> ModelSettings:
        return catalog.for_package_group(group_name)

    try:
        return lookup(runtime.catalog())
    except UnknownModelError:
        return lookup(runtime.catalog(max_age_seconds=CATALOG_MISS_MAX_AGE_SECONDS))


def share_group(package_arn: str) -> None:
    """In the registry of record, let the consuming deployers read the package's group (`group_sharing`).

    A failure is logged and does not hold up the decision: the next version judged tries again,
    and a consumer that cannot read the group yet deploys nothing.
    """
    from botocore.exceptions import ClientError

    from platform_common import group_sharing

    raw = os.environ.get(env_names.REGISTRY_READER_ROLE_ARNS, "")
    if not raw:
        return
    try:
        result = group_sharing.ensure_shared(
            runtime.client("sagemaker"), package_arn, group_sharing.parse_reader_arns(raw)
        )
    except (ClientError, ValueError) as error:
        logger.warning("could not share the package group with the consuming environments", extra={"error": str(error)})
        return
    logger.info("package group shared with the consuming environments", extra={"result": result})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Judge a model package that waits for approval; every other approval status is ignored."""
    from pydantic import ValidationError

    from model_gate import logic
    from model_gate.models import PENDING, ModelPackageStateChangeEvent
    from platform_common.catalog import UnknownModelError, require_own_package_group
    from platform_common.evidence import EvidenceStore
    from platform_common.lease import new_owner

    publish = functools.partial(domain_events.publish, runtime.client("events"), runtime.settings().bus_name)
    raw = event if isinstance(event, dict) else {}
    try:
        parsed = ModelPackageStateChangeEvent.model_validate(event)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(part) for part in item["loc"]), "problem": item["msg"]}
            for item in error.errors(include_url=False)
        ]
        logger.warning("rejected a malformed model package event", extra={"problems": problems})
        outcome = logic.reject_event(
            publish,
            f"not a usable SageMaker Model Package State Change ({len(problems)} problem(s)); nothing was changed",
            data={"source": raw.get("source"), "detailType": raw.get("detail-type"), "problems": problems},
            correlation_id=raw.get("id") if isinstance(raw.get("id"), str) else None,
        )
        return outcome.as_dict()

    detail = parsed.detail
    logger.append_keys(correlation_id=parsed.id, model_package_arn=detail.arn)
    if detail.approval_status != PENDING:
        # Approved and Rejected packages are the deployer's business (or nobody's).
        logger.info("ignored a package that is not pending", extra={"status": detail.approval_status})
        return logic.Outcome(
            "ignored", f"approval status is {detail.approval_status}", version=detail.package_version
        ).as_dict()

    try:
        model = find_model(detail.group_name)
        require_own_package_group(detail.group_name, model, runtime.require_env(env_names.MLFLOW_TRACKING_SERVER_ARN))
    except UnknownModelError as error:
        logger.warning("rejected an event for an unknown package group", extra={"group": detail.group_name})
        return logic.reject_event(
            publish,
            f"{error}; the package was left untouched",
            data={"modelPackageGroupName": detail.group_name, "modelPackageArn": detail.arn},
            correlation_id=parsed.id,
        ).as_dict()

    share_group(detail.arn)
    outcome = logic.decide(
        detail,
        model,
        sagemaker=runtime.client("sagemaker"),
        mlflow=mlflow_registry(),
        evidence=EvidenceStore(
            runtime.require_env(env_names.ARTIFACT_BUCKET_NAME), runtime.client("s3"), runtime.client("sagemaker")
        ),
        publish=publish,
        leases=leases(),
        owner=new_owner(parsed.id),
        correlation_id=parsed.id,
    )
    logger.info("model gate finished", extra=outcome.as_dict())
    return outcome.as_dict()
