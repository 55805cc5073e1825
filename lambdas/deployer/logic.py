"""Make a model's endpoint serve what the registry says it should, and promote what it serves.

The deployer reconciles. Whatever woke it (an approval, an endpoint state change, the periodic
check), the event is only a hint; the decision is taken from two readings:

* desired state: the newest Approved package of the model's group, unless a deployment mark
  holds it back (`platform_common.registry`);
* actual state: what DescribeEndpoint says the endpoint is doing and which package its config
  serves (`deployer.endpoint`).

Then, one model at a time under the model's promotion lease (`platform_common.promotion`):

1. No endpoint: an approval creates it with the desired package; the periodic check and
   endpoint events never create one (a missing endpoint may have been deleted on purpose).
2. Busy (Creating, Updating, SystemUpdating, RollingBack, Deleting, OutOfService): nothing can
   change now, so the deployer returns without error; the endpoint's next state change or the
   next check deploys whatever is still pending. Approvals are therefore never retried into the
   dead-letter queue, and none is lost. An UpdateEndpoint that SageMaker refuses with a
   ValidationException while DescribeEndpoint then shows the endpoint busy counts the same.
3. Failed or UpdateRollbackFailed: the package it was moving to is marked `failed` and the
   failure reported once; a person has to repair or delete the endpoint.
4. InService: if the last deployment the deployer started (the endpoint's
   `mlops:target-package-arn` tag) is not what serves and DescribeEndpoint gives a
   FailureReason, that deployment was rolled back: its package is marked `rolled_back` and the
   rollback reported once. Then the package that serves, if its config is the deployer's, is
   made champion in MLflow (`deployer.champion`), so the alias only ever follows what
   DescribeEndpoint shows InService; late, repeated or forged events cannot move it. Finally,
   if the desired package is not the one serving, the endpoint is updated to it.

How a package is put on the endpoint is `deployer.rollout`; the periodic check, `deployer.check`.
"""

from __future__ import annotations

from typing import Any

from deployer.batch import reconcile_batch
from deployer.champion import Promotion, promote
from deployer.endpoint import (
    TARGET_PACKAGE_TAG,
    Endpoint,
    ServedConfig,
    read_config,
    read_endpoint,
)
from deployer.rollout import deploy
from deployer.run import (
    APPROVAL,
    SCHEDULE,
    Deployment,
    Run,
    Trigger,
    mark,
    package_data,
    package_or_none,
    retry_hint,
    tag_endpoint,
)
from platform_common import domain_events, registry
from platform_common.champion_record import PROMOTED_PACKAGE_TAG
from platform_common.lease import Lease, LeaseTable
from platform_common.package_link import LOOKUP_ATTEMPTS, PackageLinkError, find_version
from platform_common.promotion import RECONCILE_INTERVAL_MINUTES, Outcome, promotion_key
from platform_common.resource_names import version_resource_name

WAIT_NOTE = (
    f"the deployer acts once the endpoint is InService (on its state-change event, or the check "
    f"every {RECONCILE_INTERVAL_MINUTES} minutes)"
)


def converge(ctx: Deployment, trigger: Trigger, *, leases: LeaseTable, owner: str, wait: bool = True) -> Outcome:
    """Reconcile under the model's promotion lease.

    With `wait`, a busy lease is waited for and LeaseBusyError raised if it stays busy (Lambda
    retries the event); without it (the periodic check), a busy model is left to its holder.
    """
    key = promotion_key(ctx.settings.name)
    if wait:
        with leases.hold(key, owner):
            return reconcile(ctx, trigger)
    taken = leases.try_acquire(key, owner)
    if not isinstance(taken, Lease):
        holder, _ = taken
        return Outcome("lease_busy", f"{holder or 'another invocation'} is deciding for this model", ctx.settings.name)
    try:
        return reconcile(ctx, trigger)
    finally:
        leases.release(taken)


def reconcile(ctx: Deployment, trigger: Trigger) -> Outcome:
    """Converge the model's endpoint one step towards the desired package (see the module docstring)."""
    run = Run(ctx, trigger)
    if not ctx.settings.serves_endpoint:
        return reconcile_batch(run)
    endpoint = read_endpoint(ctx.sagemaker, ctx.settings.endpoint_name)
    if endpoint is None:
        if trigger.kind != APPROVAL:
            return run.finish("ignored", f"endpoint {run.endpoint_name!r} does not exist; only an approval creates it")
        return _converge_to_desired(run, None, None)
    if endpoint.busy:
        _record_target_of_move(run, endpoint)
        return _wait(run, endpoint)
    served = read_config(ctx.sagemaker, endpoint.config_name, run.model) if endpoint.config_name else None
    if endpoint.broken:
        return _broken(run, endpoint, served)
    _settle_last_deployment(run, endpoint, served)
    if served is not None and served.managed and served.package_arn:
        _promote_if_new(run, endpoint, served)
    return _converge_to_desired(run, endpoint, served)


def _converge_to_desired(run: Run, endpoint: Endpoint | None, served: ServedConfig | None) -> Outcome:
    desired = registry.desired_state(run.ctx.sagemaker, run.ctx.group_name)
    package = desired.package
    if package is not None and package.arn in run.marked:
        # Marked a moment ago; the registry may not show the mark yet.
        desired = registry.DesiredState(None, held=package)
        package = None
    if package is None:
        return _nothing_to_deploy(run, desired)
    if served is not None and served.package_arn == package.arn:
        return _in_sync(run, package, served)
    deployed = deploy(run, package, endpoint)
    return _wait(run, deployed) if isinstance(deployed, Endpoint) else deployed


def _wait(run: Run, endpoint: Endpoint) -> Outcome:
    moving = f", moving to {endpoint.moving_to}" if endpoint.moving_to else ""
    state = f"endpoint {endpoint.name!r} is {endpoint.status}{moving}"
    if run.trigger.kind != APPROVAL:
        return run.finish("waiting", f"{state}; {WAIT_NOTE}")
    desired = registry.desired_state(run.ctx.sagemaker, run.ctx.group_name)
    package = desired.package
    if package is None:
        return _nothing_to_deploy(run, desired)
    data = package_data(run, package)
    if endpoint.moving_to == data["endpointConfigName"]:
        reason = f"{state}, which is version {package.version}; an approval delivered again does not redeploy"
        run.publish(
            domain_events.DEPLOYMENT_SKIPPED,
            reason,
            {**data, "endpointStatus": endpoint.status},
            summary=f"{run.model} version {package.version} is already being deployed to {endpoint.name}",
            next_step="None; the deployer promotes it once the endpoint is InService.",
        )
        return run.finish("waiting", reason, package.version)
    reason = f"{state}, and SageMaker accepts no other update until it is InService; {WAIT_NOTE}"
    run.publish(
        domain_events.DEPLOYMENT_DEFERRED,
        reason,
        {**data, "endpointStatus": endpoint.status, "movingTo": endpoint.moving_to},
        summary=f"{run.model} version {package.version} waits for endpoint {endpoint.name} ({endpoint.status})",
        next_step=f"None; {WAIT_NOTE}.",
    )
    return run.finish("waiting", reason, package.version)


def _record_target_of_move(run: Run, endpoint: Endpoint) -> None:
    """Make sure the endpoint's target tag names the package it is moving to.

    The tag is written after UpdateEndpoint succeeded; if that write failed, the move in
    progress still says where it goes, and the tag is repaired from it here.
    """
    moving = endpoint.moving_to
    target = endpoint.target_package
    if not moving or not endpoint.arn:
        return
    target_version = registry.package_version(target)
    if target_version is not None and version_resource_name(run.endpoint_name, target_version) == moving:
        return
    config = read_config(run.ctx.sagemaker, moving, run.model)
    if config.managed and config.package_arn and config.package_arn != target:
        tag_endpoint(run, endpoint.arn, TARGET_PACKAGE_TAG, config.package_arn)


def _broken(run: Run, endpoint: Endpoint, served: ServedConfig | None) -> Outcome:
    culprit = endpoint.target_package or (served.package_arn if served else None)
    why = endpoint.failure_reason or "no reason given"
    state = f"endpoint {endpoint.name!r} is {endpoint.status} ({why})"
    data = {
        "endpointName": endpoint.name,
        "endpointConfigName": endpoint.config_name,
        "endpointStatus": endpoint.status,
        "failureReason": endpoint.failure_reason,
    }
    if endpoint.status == "Failed":
        next_step = (
            f"SageMaker only lets a Failed endpoint be deleted: read FailureReason (aws sagemaker describe-endpoint "
            f"--endpoint-name {endpoint.name}), correct the cause, then aws sagemaker delete-endpoint --endpoint-name "
            f"{endpoint.name}; the next approval creates it again."
        )
    else:
        next_step = (
            f"SageMaker could not roll the update back: read FailureReason (aws sagemaker describe-endpoint "
            f"--endpoint-name {endpoint.name}) and repair or delete the endpoint by hand."
        )
    package = package_or_none(run, culprit)
    if package is not None and package.held_as is None:
        mark(run, package, registry.FAILED, f"Deployment failed: {state}", endpoint.config_name)
        reason = f"{state}; version {package.version} is marked {registry.DEPLOYMENT_STATUS_KEY}={registry.FAILED}"
        run.publish(
            domain_events.DEPLOYMENT_FAILED,
            reason,
            {**data, **package_data(run, package), "endpointConfigName": endpoint.config_name},
            summary=f"{run.model} version {package.version} failed to deploy: endpoint {endpoint.name} is "
            f"{endpoint.status}",
            next_step=next_step + retry_hint(package),
        )
        return run.finish("failed", reason, package.version)
    reason = f"{state} and needs a person; nothing was changed"
    if run.trigger.kind == APPROVAL and run.trigger.package_arn not in (None, culprit):
        approved = registry.package_version(run.trigger.package_arn)
        reason = f"{state} and needs a person; version {approved} was not deployed and nothing was created"
        run.publish(
            domain_events.DEPLOYMENT_FAILED,
            reason,
            {**data, "version": approved, "modelPackageArn": run.trigger.package_arn},
            summary=f"{run.model} version {approved} cannot be deployed: endpoint {endpoint.name} is {endpoint.status}",
            next_step=next_step,
        )
    return run.finish("blocked", reason)


def _settle_last_deployment(run: Run, endpoint: Endpoint, served: ServedConfig | None) -> None:
    """Report and mark the last deployment if DescribeEndpoint shows it was rolled back."""
    target = endpoint.target_package
    if not target or not endpoint.failure_reason or (served is not None and served.package_arn == target):
        return
    package = package_or_none(run, target)
    if package is None or package.held_as is not None:
        _settled(run, endpoint, served)
        return
    attempted = version_resource_name(run.endpoint_name, package.version)
    serving = registry.package_version(served.package_arn) if served else None
    mark(run, package, registry.ROLLED_BACK, f"Rolled back on {endpoint.name}: {endpoint.failure_reason}", attempted)
    still = f"version {serving}" if serving is not None else repr(endpoint.config_name)
    run.publish(
        domain_events.DEPLOYMENT_ROLLED_BACK,
        f"DescribeEndpoint shows endpoint {endpoint.name!r} InService on {endpoint.config_name} again, not on "
        f"{attempted}, with FailureReason: {endpoint.failure_reason}",
        {
            **package_data(run, package),
            "endpointConfigName": attempted,
            "servingEndpointConfigName": endpoint.config_name,
            "servingVersion": serving,
            "endpointStatus": endpoint.status,
            "failureReason": endpoint.failure_reason,
            "lastDeploymentTrafficRouting": endpoint.traffic_routing,
            "packageMark": f"{registry.DEPLOYMENT_STATUS_KEY}={registry.ROLLED_BACK}",
        },
        summary=f"{run.model} version {package.version} was rolled back on {endpoint.name}; {still} still serves",
        next_step=(
            f"Find out why (the rollback alarms {', '.join(run.ctx.settings.rollback_alarm_names) or '(none)'}, the "
            f"endpoint's logs). Version {package.version} will not be deployed again"
            + retry_hint(package)
            + "; or approve a newer version."
        ),
    )
    _settled(run, endpoint, served)


def _settled(run: Run, endpoint: Endpoint, served: ServedConfig | None) -> None:
    """Point the target tag back at what serves: the rollback is dealt with, nothing is in flight.

    A FailureReason may stay on the endpoint; without this, removing the package's mark to retry
    it would have the stale reason mark it again at once.
    """
    tag_endpoint(run, endpoint.arn, TARGET_PACKAGE_TAG, (served.package_arn if served else None) or "")


def _promote_if_new(run: Run, endpoint: Endpoint, served: ServedConfig) -> None:
    package_arn = str(served.package_arn)
    if endpoint.promoted_package == package_arn:
        return
    version = registry.package_version(package_arn) or 0
    data: dict[str, Any] = {
        "version": version,
        "endpointName": endpoint.name,
        "endpointConfigName": served.config_name,
        "endpointStatus": endpoint.status,
    }
    if endpoint.traffic_routing:
        data["lastDeploymentTrafficRouting"] = endpoint.traffic_routing
    try:
        # The periodic check looks once; an event may come a moment before MLflow's tag is written.
        attempts = 1 if run.trigger.kind == SCHEDULE else LOOKUP_ATTEMPTS
        model_version = find_version(run.ctx.mlflow, run.model, package_arn, attempts=attempts)
    except PackageLinkError as error:
        if run.trigger.kind != SCHEDULE:
            run.publish(
                domain_events.EVENT_REJECTED,
                f"endpoint {endpoint.name!r} serves {package_arn}, but {error}; the champion alias was not moved",
                {"handler": "deployer", **data, "modelPackageArn": package_arn},
                summary=f"{run.model} version {version} serves on {endpoint.name} but could not be made champion",
                next_step=(
                    f"Tag the MLflow version registered for that package with sagemaker.model_package_arn="
                    f"{package_arn}; the next endpoint event or check promotes it."
                ),
            )
        return
    published = promote(
        Promotion(run.model, version, package_arn, model_version, {**data, "trigger": run.trigger.kind}),
        mlflow=run.ctx.mlflow,
        publish=run.ctx.publish,
        correlation_id=run.trigger.correlation_id,
    )
    run.published.extend(published)
    tag_endpoint(run, endpoint.arn, PROMOTED_PACKAGE_TAG, package_arn)
    run.promoted = version


def _in_sync(run: Run, package: registry.Package, served: ServedConfig) -> Outcome:
    reason = (
        f"endpoint {run.endpoint_name!r} serves {served.config_name}, version {package.version}, "
        "the newest approved package"
    )
    approved = run.trigger.package_arn
    if run.trigger.kind == APPROVAL and approved is not None:
        if approved == package.arn:
            reason += "; an approval delivered again does not redeploy"
        else:
            reason += f"; the approval of version {registry.package_version(approved)} is superseded by it"
        run.publish(
            domain_events.DEPLOYMENT_SKIPPED,
            reason,
            {**package_data(run, package), "approvedModelPackageArn": approved},
            summary=f"{run.model} version {package.version} already serves on {run.endpoint_name}",
            next_step=domain_events.NO_ACTION,
        )
    return run.finish("in_sync", reason, package.version)


def _nothing_to_deploy(run: Run, desired: registry.DesiredState) -> Outcome:
    held = desired.held
    if held is not None:
        reason = (
            f"the newest approved package, version {held.version}, is marked {registry.DEPLOYMENT_STATUS_KEY}="
            f"{held.held_as or registry.ROLLED_BACK}; nothing newer is approved, so the endpoint stays as it is"
        )
        next_step = "Approve a newer version" + retry_hint(held) + "."
    else:
        reason = f"no package of group {run.ctx.group_name!r} is Approved; nothing to deploy"
        next_step = domain_events.NO_ACTION
    approved = run.trigger.package_arn
    # An approval of the held package itself is the echo of the deployer's own mark.
    if run.trigger.kind == APPROVAL and approved is not None and approved != (held.arn if held else None):
        run.publish(
            domain_events.DEPLOYMENT_SKIPPED,
            reason,
            {"version": registry.package_version(approved), "modelPackageArn": approved},
            summary=f"{run.model} version {registry.package_version(approved)} is not deployed",
            next_step=next_step,
        )
    return run.finish("held" if held else "nothing_to_deploy", reason, held.version if held else None)
