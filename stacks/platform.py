"""Builds every stack of one environment and wires them together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import App, Environment, Stack, Stage, Tags
from aws_cdk import aws_iam as iam

from stacks import monitoring
from stacks.access_stack import AccessStack
from stacks.automation_stack import AutomationStack
from stacks.compliance import apply_compliance_checks
from stacks.config import EnvironmentConfig
from stacks.config.delivery import RegistryReader, RegistrySource
from stacks.constructs.persona_roles import PlatformResources
from stacks.data_stack import DataStack
from stacks.images import require_supported_region
from stacks.model_stack import ModelStack, SharedResources
from stacks.naming import (
    DATASETS_PREFIX,
    MLFLOW_ARTIFACTS_PREFIX,
    artifact_bucket_name,
    data_bucket_name,
    events_dlq_name,
    functions_dlq_name,
    model_stack_name,
    monitoring_job_prefix,
    platform_archive_name,
)
from stacks.tracking_stack import TrackingStack


@dataclass(frozen=True)
class Platform:
    """The stacks of one environment, for app.py and the tests."""

    data: DataStack
    tracking: TrackingStack
    automation: AutomationStack
    access: AccessStack
    models: tuple[ModelStack, ...]

    @property
    def stacks(self) -> list[Stack]:
        return [self.data, self.tracking, self.automation, self.access, *self.models]


def build_platform(
    app: Stage,
    config: EnvironmentConfig,
    *,
    registry_readers: Sequence[RegistryReader] = (),
    registry_source: RegistrySource | None = None,
) -> Platform:
    """Create the environment's stacks in `app` (the App, or a delivery pipeline's Stage); cdk-nag checks run on synth.

    `app` holds this environment and nothing else: the platform's tags are added at `app`, so a
    stack added beside the platform's would carry them too.
    `registry_readers` are the other accounts' roles that read released versions from this
    environment (the registry of record of a delivery configuration; none otherwise), and
    `registry_source` the registry a consuming environment deploys promoted versions from.
    """
    env = Environment(account=config.account, region=config.region) if config.account or config.region else None

    data = DataStack(
        app,
        config.stack_name("data"),
        stack_name=config.stack_name("data"),
        config=config,
        registry_readers=registry_readers,
        env=env,
        description=f"{config.resource_prefix}: platform key, data and MLflow artifact buckets",
    )
    tracking = TrackingStack(
        app,
        config.stack_name("tracking"),
        stack_name=config.stack_name("tracking"),
        config=config,
        key=data.key,
        env=env,
        description=f"{config.resource_prefix}: managed MLflow ({config.mlflow.kind})",
    )
    automation = AutomationStack(
        app,
        config.stack_name("automation"),
        stack_name=config.stack_name("automation"),
        config=config,
        data_key=data.key,
        mlflow_arn=tracking.mlflow.arn,
        package_group_suffix=tracking.mlflow.package_group_suffix,
        registry_readers=registry_readers,
        registry_source=registry_source,
        env=env,
        description=f"{config.resource_prefix}: retraining and promotion loop (bus, audit, handlers)",
    )
    shared = SharedResources(
        pipeline_role_arn=automation.roles.pipeline_role.role_arn,
        data_key_arn=data.key.key_arn,
        mlflow_arn=tracking.mlflow.arn,
        topic_arn=automation.topic.topic_arn,
        events_dlq_arn=automation.events_dlq.queue_arn,
        trigger_function_arn=automation.trigger.function.function_arn,
        monitoring_launcher_arn=(
            automation.monitoring_launcher.function.function_arn if automation.monitoring_launcher else None
        ),
        batch_launcher_arn=automation.batch_launcher.function.function_arn if automation.batch_launcher else None,
        package_group_suffix=tracking.mlflow.package_group_suffix,
    )
    models = tuple(
        ModelStack(
            app,
            model_stack_name(config, model.name),
            stack_name=model_stack_name(config, model.name),
            config=config,
            model=model,
            shared=shared,
            env=env,
            description=f"{config.resource_prefix}: model {model.name} (pipeline, alarms, catalog entry)",
        )
        for model in config.models
    )
    access = AccessStack(
        app,
        config.stack_name("access"),
        stack_name=config.stack_name("access"),
        config=config,
        resources=PlatformResources(
            resource_prefix=config.resource_prefix,
            data_bucket_name=data_bucket_name(config),
            artifact_bucket_name=artifact_bucket_name(config),
            datasets_prefix=DATASETS_PREFIX,
            mlflow_artifacts_prefix=MLFLOW_ARTIFACTS_PREFIX,
            mlflow_artifact_root=tracking.mlflow.artifact_root,
            key=data.key,
            mlflow_arn=tracking.mlflow.arn,
            mlflow_kind=config.mlflow.kind,
            platform_bus=automation.bus,
            model_execution_role=automation.roles.model_role,
            package_group_suffix=tracking.mlflow.package_group_suffix,
            model_names=tuple(model.name for model in config.models),
            promotion_requests=registry_source is not None,
            monitoring_job_prefix=monitoring_job_prefix(config) if automation.monitoring_job_role else None,
            monitoring_job_role=automation.monitoring_job_role,
            monitoring_instance_types=tuple(monitoring.job_instance_types(config)),
            batch_model_names=tuple(model.name for model in config.models if model.batch is not None),
            automation_key=automation.key,
            dead_letter_queue_names=(events_dlq_name(config), functions_dlq_name(config)),
            function_names=tuple(automation.function_names),
            archive_name=platform_archive_name(config),
        ),
        env=env,
        description=f"{config.resource_prefix}: persona roles",
    )
    # Stack names are explicit so that inside a delivery pipeline's Stage they stay the names a
    # single-account deploy gives them (a Stage would otherwise prefix them with its own path).
    # Buckets are named, not exported, so the order of deployment is stated here.
    tracking.add_stack_dependency(data)
    automation.add_stack_dependency(tracking)
    access.add_stack_dependency(automation)
    for model_stack in models:
        model_stack.add_stack_dependency(automation)
    platform = Platform(data=data, tracking=tracking, automation=automation, access=access, models=models)
    # Tagged once at `app`, which holds the environment's stacks and nothing else: the tags reach
    # every stack and resource as they would stack by stack, without four calls into the CDK
    # runtime per stack.
    tags = Tags.of(app)
    tags.add("platform", config.prefix)
    tags.add("environment", config.name)
    for key, value in config.tags.items():
        tags.add(key, value)
    for stack in platform.stacks:
        # Without a pinned region, each stack refuses an unsupported one before creating anything.
        require_supported_region(stack, config.mlflow.kind)
        if config.permissions_boundary_arn is not None:
            boundary = iam.ManagedPolicy.from_managed_policy_arn(
                stack, "PermissionsBoundary", config.permissions_boundary_arn
            )
            iam.PermissionsBoundary.of(stack).apply(boundary)
    # The checks are registered on the root App, whose validation covers the stacks of nested stages.
    root = app.node.root
    assert isinstance(root, App), f"{app.node.path} is not inside an App"
    apply_compliance_checks(root, platform.stacks)
    return platform
