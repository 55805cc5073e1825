"""Promotion of a model served only by batch transform: the approved version becomes champion, no endpoint.

The desired state is the same as for an endpoint (the newest Approved package, unless a
deployment mark holds it back); the checks before it may serve are the same too (a container,
and the artifact the model's pipeline evaluated: `platform_common.evidence`). Instead of an
endpoint, the champion alias moves to it (`deployer.champion`), and the batch launcher runs
the package the deployer records as champion (`platform_common.champion_record`), which only
the platform's functions can write: the alias alone is not trusted, since with an MLflow App a
data scientist can move it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from deployer.champion import Promotion, promote
from deployer.rollout import INFERENCE_SPECIFICATION_HELP
from deployer.run import SCHEDULE, Run, mark, package_data, refuse_unproven
from platform_common import domain_events, registry
from platform_common.champion_record import ChampionRecord
from platform_common.evidence import EvidenceError, verify_artifact
from platform_common.package_link import LOOKUP_ATTEMPTS, PackageLinkError, find_version
from platform_common.promotion import Outcome


def reconcile_batch(run: Run) -> Outcome:
    """Make the newest approved, verified package of a batch model its champion."""
    desired = registry.desired_state(run.ctx.sagemaker, run.ctx.group_name)
    package = desired.package
    if package is None:
        reason = f"no deployable approved package of group {run.ctx.group_name!r}; the champion stays as it is"
        return run.finish("nothing_to_deploy", reason)
    data = {k: v for k, v in package_data(run, package).items() if k not in ("endpointName", "endpointConfigName")}
    if not package.hostable:
        reason = f"model package {package.arn} has no InferenceSpecification; {INFERENCE_SPECIFICATION_HELP}"
        mark(run, package, registry.UNDEPLOYABLE, "Not deployable: the package has no InferenceSpecification", None)
        run.publish(
            domain_events.DEPLOYMENT_FAILED,
            reason,
            data,
            summary=f"{run.model} version {package.version} cannot serve batch transforms: its package has no container",
            next_step=f"Register the model again with a container: {INFERENCE_SPECIFICATION_HELP}.",
        )
        return run.finish("failed", reason, package.version)
    try:
        verify_artifact(run.ctx.evidence, run.ctx.settings, package.description)
    except EvidenceError as error:
        return refuse_unproven(run, package, data | {"endpointConfigName": None}, error)
    try:
        attempts = 1 if run.trigger.kind == SCHEDULE else LOOKUP_ATTEMPTS
        model_version = find_version(run.ctx.mlflow, run.model, package.arn, attempts=attempts)
    except PackageLinkError as error:
        reason = f"version {package.version} is approved and verified, but {error}; the champion alias was not moved"
        if run.trigger.kind != SCHEDULE:
            run.publish(
                domain_events.EVENT_REJECTED,
                reason,
                {"handler": "deployer", **data},
                summary=f"{run.model} version {package.version} could not be made champion",
                next_step=(
                    f"Tag the MLflow version registered for that package with sagemaker.model_package_arn="
                    f"{package.arn}; the next check promotes it."
                ),
            )
        return run.finish("waiting", reason, package.version)
    # Recorded before the alias moves: a retry after a failed MLflow call records the same again.
    _record_champion(run, package, str(model_version.get("version")))
    published = promote(
        Promotion(
            run.model,
            package.version,
            package.arn,
            model_version,
            {**data, "trigger": run.trigger.kind, "serving": "batch"},
            served_by="batch transform (the model has no endpoint)",
        ),
        mlflow=run.ctx.mlflow,
        publish=run.ctx.publish,
        correlation_id=run.trigger.correlation_id,
    )
    run.published.extend(published)
    if not published:
        return run.finish("in_sync", f"version {package.version} is the champion already", package.version)
    reason = f"version {package.version} is the champion; batch transforms run it"
    return run.finish("promoted", reason, package.version)


def _record_champion(run: Run, package: registry.Package, mlflow_version: str) -> None:
    """Write the platform's own record of the champion, the one the batch launcher runs."""
    if run.ctx.champions is None:
        raise ValueError(
            f"model {run.model!r} is served only by batch transform, but the deployer was given no champion "
            "records (the model lock table): nothing was promoted"
        )
    run.ctx.champions.write(
        run.model, ChampionRecord(package.arn, package.version, mlflow_version, datetime.now(UTC).isoformat())
    )
