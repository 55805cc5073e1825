"""Put a package on the endpoint: its model and config, then CreateEndpoint or UpdateEndpoint.

The model's only container is the model package; it must carry an inference specification
(SageMaker Developer Guide, "Automatically register SageMaker AI models with SageMaker Model
Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html:
one reaches the package only if it was attached to the logged model before registration).
Model and endpoint config are named `<endpoint>-v<version>` and tagged with the model and the
package ARN (`deployer.requests`); the endpoint's target tag names the package after the call
was accepted. UpdateEndpoint (SageMaker API Reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html) carries the
blue/green DeploymentConfig of `deployer.requests.build_deployment_config`; "When SageMaker
receives the request, it sets the endpoint status to Updating".
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from deployer.endpoint import TARGET_PACKAGE_TAG, Endpoint, describe_or_none, read_endpoint
from deployer.requests import (
    build_deployment_config,
    data_capture_config,
    deployment_plan,
    production_variant,
    version_tags,
)
from deployer.run import SCHEDULE, Run, mark, package_data, refuse_unproven, tag_endpoint
from platform_common import domain_events, registry
from platform_common.deployment_policy import DeploymentPolicyError
from platform_common.evidence import EvidenceError, verify_artifact
from platform_common.promotion import Outcome
from platform_common.resource_names import MODEL_TAG

INFERENCE_SPECIFICATION_HELP = (
    "attach an inference specification to the logged model with "
    "sagemaker_mlflow.log_inference_specification before registering it (the tracking server's "
    "role must be able to read it), then register the model again"
)


def deploy(run: Run, package: registry.Package, endpoint: Endpoint | None) -> Outcome | Endpoint:
    """Deploy `package`; returns the endpoint instead when SageMaker refused the update because it is busy."""
    settings = run.ctx.settings
    sagemaker = run.ctx.sagemaker
    data = package_data(run, package)
    version = package.version
    name = data["endpointConfigName"]
    if not package.hostable:
        reason = (
            f"model package {package.arn} has no InferenceSpecification, so SageMaker has no container to host it; "
            f"{INFERENCE_SPECIFICATION_HELP}. Nothing was created"
        )
        mark(run, package, registry.UNDEPLOYABLE, "Not deployable: the package has no InferenceSpecification", name)
        run.publish(
            domain_events.DEPLOYMENT_FAILED,
            reason,
            data,
            summary=f"{run.model} version {version} cannot be deployed: its package has no container",
            next_step=f"Register the model again with a container: {INFERENCE_SPECIFICATION_HELP}.",
        )
        return run.finish("failed", reason, version)
    try:
        plan = deployment_plan(settings)
    except DeploymentPolicyError as error:
        reason = (
            f"the catalog entry of model {settings.name!r} cannot be deployed: {error}; correct models[].{{"
            f"{', '.join(error.keys)}}} in the configuration and redeploy the model stack. Nothing was created"
        )
        if run.trigger.kind != SCHEDULE:
            run.publish(
                domain_events.DEPLOYMENT_FAILED,
                reason,
                {**data, "settingKeys": list(error.keys)},
                summary=f"{run.model} version {version} cannot be deployed with the model's deployment settings",
                next_step=f"Correct models[].{{{', '.join(error.keys)}}} in cdk.json and redeploy the model stack.",
            )
        return run.finish("failed", reason, version)
    shifting = {"strategy": plan.strategy, "requestedStrategy": plan.requested}
    if plan.note:
        shifting["strategyNote"] = plan.note
    try:
        # Whoever approved it, only the artifact version the model's pipeline evaluated is served.
        if run.ctx.verify is not None:
            run.ctx.verify(settings, package.description)
        else:
            verify_artifact(run.ctx.evidence, settings, package.description)
    except EvidenceError as error:
        return refuse_unproven(run, package, data, error)

    tags = version_tags(settings, version, package.arn)
    # Earlier attempts may have got this far before failing; what exists is reused.
    if describe_or_none(sagemaker.describe_model, ModelName=name) is None:
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=run.ctx.execution_role_arn,
            Containers=[{"ModelPackageName": package.arn}],
            Tags=tags,
        )
    if describe_or_none(sagemaker.describe_endpoint_config, EndpointConfigName=name) is None:
        config: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": [production_variant(settings, name)],
            "Tags": tags,
        }
        capture = data_capture_config(settings, *run.ctx.capture) if run.ctx.capture else None
        if capture is not None:
            config["DataCaptureConfig"] = capture
        sagemaker.create_endpoint_config(**config)

    started_next = "None; the deployer promotes it once the endpoint is InService, or reports a rollback."
    if endpoint is None:
        sagemaker.create_endpoint(
            EndpointName=run.endpoint_name,
            EndpointConfigName=name,
            # The endpoint outlives this version: it names the model, and the deployment in progress.
            Tags=[{"Key": MODEL_TAG, "Value": settings.name}, {"Key": TARGET_PACKAGE_TAG, "Value": package.arn}],
        )
        reason = f"creating endpoint {run.endpoint_name!r} with version {version}"
        run.publish(
            domain_events.DEPLOYMENT_STARTED,
            reason,
            {**data, "action": "create", **shifting},
            summary=f"{run.model} version {version} is being deployed to a new endpoint {run.endpoint_name}",
            next_step=started_next,
        )
        return run.finish("created", reason, version)

    update: dict[str, Any] = {
        "EndpointName": run.endpoint_name,
        "EndpointConfigName": name,
        "RetainAllVariantProperties": False,
    }
    deployment_config = build_deployment_config(settings, plan)
    if deployment_config is not None:
        update["DeploymentConfig"] = deployment_config
    try:
        sagemaker.update_endpoint(**update)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            # SageMaker refuses an update while another is in progress; the endpoint then says so.
            again = read_endpoint(sagemaker, run.endpoint_name)
            if again is not None and again.busy:
                return again
        raise
    tag_endpoint(run, endpoint.arn, TARGET_PACKAGE_TAG, package.arn)
    how = plan.strategy + (f", rollback on {len(settings.rollback_alarm_names)} alarm(s)" if deployment_config else "")
    reason = (
        f"updating endpoint {run.endpoint_name!r} from {endpoint.config_name} to version {version} "
        f"({how}{'; ' + plan.note if plan.note else ''})"
    )
    run.publish(
        domain_events.DEPLOYMENT_STARTED,
        reason,
        {**data, "action": "update", "previousEndpointConfigName": endpoint.config_name, **shifting},
        summary=f"{run.model} version {version} is being deployed to {run.endpoint_name} ({plan.strategy})",
        next_step=started_next,
    )
    return run.finish("updated", reason, version)
