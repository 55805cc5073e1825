"""One model's resources: its pipeline, catalog entry, quality and rollback alarms, schedule.

A stack per model keeps every stack far below CloudFormation's resource limit however many
models an environment has, and lets a model be onboarded or removed without touching the
others. The shared handlers find the model through its catalog entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_cdk import Annotations, CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from platform_common import monitoring as shared_layout
from platform_common.catalog import BatchSettings, ModelSettings
from stacks import images, monitoring, naming
from stacks.config import EnvironmentConfig, ModelConfig
from stacks.pipeline_definition import DefaultImages, build_pipeline_definition

# Every scheduled rule keeps undelivered events for a day. A Duration is immutable, so one
# object serves every rule of every model stack (one call into the CDK runtime, not one per rule).
_MAX_EVENT_AGE = Duration.hours(24)


@cache
def _schedule(expression: str) -> events.Schedule:
    """The rule schedule of a cron or rate expression, one object per distinct expression.

    A schedule made from an expression is an immutable value, and models often share one (a
    default schedule): one call into the CDK runtime per distinct expression, not one per rule.
    """
    return events.Schedule.expression(expression)


@dataclass(frozen=True)
class SharedResources:
    """What every model stack references from the environment's shared stacks, as ARNs (tokens).

    Read once for all model stacks: each read of a construct's attribute is a round trip into
    the CDK runtime, and the value (a reference token) is the same every time.
    """

    pipeline_role_arn: str
    data_key_arn: str
    mlflow_arn: str
    topic_arn: str
    events_dlq_arn: str
    trigger_function_arn: str
    monitoring_launcher_arn: str | None
    batch_launcher_arn: str | None
    package_group_suffix: str | None


class ModelStack(Stack):
    """Everything that exists once per model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        model: ModelConfig,
        shared: SharedResources,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.model = model
        pipeline_name = naming.pipeline_name(config, model.name)
        endpoint = naming.endpoint_name(config, model.name)

        role_arn = shared.pipeline_role_arn
        topic_arn = shared.topic_arn
        # The definition is written with ${Name} placeholders and resolved by Fn::Sub: one
        # string for CloudFormation to fill in, instead of the whole document passing through
        # the CDK's token resolution (the costliest step of a model stack's synth).
        variables = {
            "PipelineRoleArn": role_arn,
            "DataBucket": naming.data_bucket_name(config),
            "ArtifactBucket": naming.artifact_bucket_name(config),
            "TrackingServerArn": shared.mlflow_arn,
            "DataKeyArn": shared.data_key_arn,
        }
        # The default image is looked up only when a job uses it: a model naming both of its
        # images needs no region table at all.
        if model.training.image_uri is None or model.processing.image_uri is None:
            variables["DefaultImage"] = images.default_image_uri(self)
        definition = build_pipeline_definition(
            model,
            role_arn="${PipelineRoleArn}",
            data_bucket_name="${DataBucket}",
            artifact_bucket_name="${ArtifactBucket}",
            tracking_server_arn="${TrackingServerArn}",
            code_prefix_uri=f"s3://${{ArtifactBucket}}/code/{model.name}/",
            kms_key_arn="${DataKeyArn}",
            default_image_uris=DefaultImages(
                training=model.training.image_uri or "${DefaultImage}",
                processing=model.processing.image_uri or "${DefaultImage}",
            ),
            mlflow_server_version=config.mlflow.version,
            automatic_model_registration=config.mlflow.automatic_model_registration,
        )
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            role_arn=role_arn,
            pipeline_description=f"Retrains {model.name}: prepare, train, evaluate, check {model.metric.name}, evidence, register",
            # Written as the intrinsic it resolves to: Fn.sub would be one more round trip into the
            # CDK runtime per model, for the same {"Fn::Sub": [body, variables]} in the template.
            pipeline_definition={"PipelineDefinitionBody": {"Fn::Sub": [json.dumps(definition), variables]}},
        )

        quality = monitoring.quality_metric(config, model)
        self.quality_alarm = self._alarm(
            "QualityAlarm",
            alarm_name=naming.quality_alarm_name(config, model.name),
            alarm_description=f"{model.name}: quality below threshold; the platform retrains the model",
            threshold=model.quality.threshold if model.quality.threshold is not None else model.metric.threshold,
            comparison_operator=model.quality.comparison,
            evaluation_periods=model.quality.evaluation_periods,
            namespace=quality.namespace,
            metric_name=quality.name,
            dimensions=[{"name": k, "value": v} for k, v in quality.dimensions.items()],
            statistic=quality.statistic,
            period=quality.period_seconds,
            alarm_actions=[topic_arn],
        )

        self.drift_alarm: cloudwatch.CfnAlarm | None = None
        self.silent_alarm: cloudwatch.CfnAlarm | None = None
        if model.monitoring.platform:
            self._monitoring_alarms(config, model, topic_arn)

        errors_name, latency_name = naming.rollback_alarm_names(config, model.name)
        variant = [{"name": "EndpointName", "value": endpoint}, {"name": "VariantName", "value": "AllTraffic"}]

        def per_minute_sum(query_id: str, metric_name: str) -> dict[str, Any]:
            return {
                "id": query_id,
                "returnData": False,
                "metricStat": {
                    "metric": {"namespace": "AWS/SageMaker", "metricName": metric_name, "dimensions": variant},
                    "period": 60,
                    "stat": "Sum",
                },
            }

        self.error_alarm = self._alarm(
            "ErrorAlarm",
            alarm_name=errors_name,
            alarm_description=f"{model.name}: server errors; rolls back a deployment in progress",
            threshold=model.deployment.max_error_rate_percent,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=2,
            metrics=[
                per_minute_sum("errors", "Invocation5XXErrors"),
                per_minute_sum("invocations", "Invocations"),
                {
                    "id": "rate",
                    "expression": monitoring.ERROR_RATE_EXPRESSION,
                    "label": "5xx error rate (%)",
                    "returnData": True,
                },
            ],
            alarm_actions=[topic_arn],
        )
        self.latency_alarm = self._alarm(
            "LatencyAlarm",
            alarm_name=latency_name,
            alarm_description=f"{model.name}: model latency too high; rolls back a deployment in progress",
            # ModelLatency is reported in microseconds.
            threshold=model.deployment.max_latency_ms * 1000,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=2,
            namespace="AWS/SageMaker",
            metric_name="ModelLatency",
            dimensions=variant,
            extended_statistic="p90",
            period=60,
            alarm_actions=[topic_arn],
        )

        # Each schedule invokes one of the automation stack's functions, referenced by ARN so the
        # invoke permission is created here, beside the rule (the function's own stack must not
        # depend on the model stacks); likewise its DLQ, whose queue policy admits every rule of the
        # environment. The catalog finds the model by the rule's name.
        self.schedule: events.Rule | None = None
        if model.schedule:
            self.schedule = self._scheduled_rule(
                "Schedule",
                function=(shared.trigger_function_arn, "RetrainingTrigger"),
                dead_letter_queue=(shared.events_dlq_arn, "EventsDlq"),
                rule_name=naming.schedule_rule_name(config, model.name),
                description=f"Retrains {model.name} on a schedule",
                expression=model.schedule,
            )

        self.monitoring_schedule: events.Rule | None = None
        if model.monitoring.platform and shared.monitoring_launcher_arn is not None:
            self.monitoring_schedule = self._scheduled_rule(
                "MonitoringSchedule",
                function=(shared.monitoring_launcher_arn, "MonitoringLauncher"),
                dead_letter_queue=(shared.events_dlq_arn, "MonitoringEventsDlq"),
                rule_name=naming.monitoring_schedule_rule_name(config, model.name),
                description=f"Monitors {model.name} on a schedule",
                expression=model.monitoring.schedule,
            )

        self.batch_schedule: events.Rule | None = None
        if model.batch is not None and model.batch.schedule is not None:
            assert shared.batch_launcher_arn is not None, "a model with batch transform needs the batch launcher"
            self.batch_schedule = self._scheduled_rule(
                "BatchSchedule",
                function=(shared.batch_launcher_arn, "BatchLauncher"),
                dead_letter_queue=(shared.events_dlq_arn, "BatchEventsDlq"),
                rule_name=naming.batch_schedule_rule_name(config, model.name),
                description=f"Runs a batch transform of {model.name}'s champion on a schedule",
                expression=model.batch.schedule,
            )

        self.settings = ModelSettings(
            name=model.name,
            pipeline_name=pipeline_name,
            data_prefix=model.data_prefix,
            quality_alarm_name=naming.quality_alarm_name(config, model.name),
            schedule_rule_name=naming.schedule_rule_name(config, model.name) if model.schedule else None,
            coalesce_minutes=model.coalesce_minutes,
            metric_name=model.metric.name,
            threshold=model.metric.threshold,
            margin=model.metric.margin,
            greater_is_better=model.metric.greater_is_better,
            approval_mode=model.approval,
            endpoint_name=endpoint,
            instance_type=model.endpoint.instance_type,
            instance_count=model.endpoint.instance_count,
            serverless_memory_mb=model.endpoint.serverless.memory_size_mb if model.endpoint.serverless else None,
            serverless_max_concurrency=model.endpoint.serverless.max_concurrency if model.endpoint.serverless else None,
            deployment_strategy=model.deployment.strategy,
            canary_percent=model.deployment.canary_percent,
            linear_step_percent=model.deployment.linear_step_percent,
            wait_seconds=model.deployment.wait_minutes * 60,
            termination_wait_seconds=model.deployment.termination_wait_minutes * 60,
            rollback_alarm_names=(errors_name, latency_name),
            capture_sampling_percent=(
                model.monitoring.sampling_percent if model.monitoring.enabled and model.serving == "realtime" else None
            ),
            monitoring_engine=model.monitoring.engine if model.monitoring.enabled else None,
            monitoring_instance_type=model.monitoring.instance_type,
            monitoring_max_runtime_seconds=model.monitoring.max_runtime_seconds,
            monitoring_image_uri=(
                (model.processing.image_uri or variables["DefaultImage"]) if model.monitoring.platform else None
            ),
            monitoring_schedule_name=(
                naming.monitoring_schedule_rule_name(config, model.name) if self.monitoring_schedule else None
            ),
            drift_threshold=model.monitoring.drift_threshold,
            label_lookback_days=model.monitoring.label_lookback_days,
            drift_alarm_name=naming.drift_alarm_name(config, model.name) if model.monitoring.platform else None,
            serving_target=monitoring.serving_target(config, model) if model.monitoring.platform else None,
            serves_endpoint=model.has_endpoint,
            batch=_batch_settings(config, model),
        )
        self.catalog_entry = ssm.StringParameter(
            self,
            "CatalogEntry",
            parameter_name=naming.catalog_entry_name(config, model.name),
            string_value=self.settings.to_json(),
            description=f"Settings of model {model.name} read by the platform's handlers",
        )

        CfnOutput(self, "PipelineName", value=pipeline_name)
        if model.has_endpoint:
            CfnOutput(self, "EndpointName", value=endpoint)
        if model.batch is not None:
            data_uri = f"s3://{naming.data_bucket_name(config)}/"
            CfnOutput(
                self,
                "BatchInputLocation",
                value=data_uri + shared_layout.inference_prefix(model.name),
                description="Drop CSV files here (first column the inference id) to run a batch transform",
            )
            CfnOutput(
                self,
                "BatchOutputLocation",
                value=data_uri + shared_layout.predictions_prefix(model.name),
                description="Predictions, one folder per transform job",
            )
        self._package_group_output(model.name, shared.package_group_suffix)
        CfnOutput(
            self,
            "CodeLocation",
            value=f"s3://{naming.artifact_bucket_name(config)}/code/{model.name}/",
            description="Publish the model's scripts here (make publish-code)",
        )

    def _monitoring_alarms(self, config: EnvironmentConfig, model: ModelConfig, topic_arn: str) -> None:
        """Drift (retrains) and silence (notifies only) of the platform's monitoring job."""
        drift = monitoring.drift_metric(config, model)
        self.drift_alarm = self._alarm(
            "DriftAlarm",
            alarm_name=naming.drift_alarm_name(config, model.name),
            alarm_description=f"{model.name}: a share of features at or above the drift threshold drifted; "
            "the platform retrains the model",
            threshold=model.monitoring.drift_threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            evaluation_periods=1,
            namespace=drift.namespace,
            metric_name=drift.name,
            dimensions=[{"name": k, "value": v} for k, v in drift.dimensions.items()],
            statistic=drift.statistic,
            period=drift.period_seconds,
            alarm_actions=[topic_arn],
        )
        runs = monitoring.runs_metric(config, model)
        awaiting = monitoring.awaiting_champion_metric(config, model)
        hours = model.monitoring.max_silence_hours

        def hourly_sum(query_id: str, metric: monitoring.MetricSpec) -> dict[str, Any]:
            return {
                "id": query_id,
                "returnData": False,
                "metricStat": {
                    "metric": {
                        "namespace": metric.namespace,
                        "metricName": metric.name,
                        "dimensions": [{"name": k, "value": v} for k, v in metric.dimensions.items()],
                    },
                    "period": metric.period_seconds,
                    "stat": metric.statistic,
                },
            }

        # A completed run (the job's MonitoringRuns) or a scheduled run that found no champion yet
        # (the launcher's MonitoringAwaitingChampion) is a sign of life; an hour with neither is
        # silent, and a window with no data at all is missing data, treated as breaching. Period x
        # EvaluationPeriods stays within the seven days PutMetricAlarm allows (hours <= 168).
        self.silent_alarm = cloudwatch.CfnAlarm(
            Construct(self, "SilentMonitorAlarm"),
            "Resource",
            alarm_name=naming.silent_monitor_alarm_name(config, model.name),
            alarm_description=f"{model.name}: no monitoring run completed for {hours} h (job failing, schedule "
            "off, champion without baseline); people are told, nothing is retrained",
            threshold=1,
            comparison_operator="LessThanThreshold",
            evaluation_periods=hours,
            datapoints_to_alarm=hours,
            metrics=[
                hourly_sum("runs", runs),
                hourly_sum("awaiting", awaiting),
                {
                    "id": "alive",
                    "expression": monitoring.SIGNS_OF_LIFE_EXPRESSION,
                    "label": "monitoring runs and runs awaiting a champion",
                    "returnData": True,
                },
            ],
            treat_missing_data="breaching",
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
        )

    def _scheduled_rule(
        self,
        construct_id: str,
        *,
        function: tuple[str, str],
        dead_letter_queue: tuple[str, str],
        rule_name: str,
        description: str,
        expression: str,
    ) -> events.Rule:
        """A scheduled rule invoking an automation-stack function (ARN and import id), with retries and a DLQ."""
        function_arn, function_id = function
        queue_arn, queue_id = dead_letter_queue
        imported = lambda_.Function.from_function_attributes(
            self, function_id, function_arn=function_arn, same_environment=True
        )
        rule = events.Rule(
            self,
            construct_id,
            rule_name=rule_name,
            description=description,
            schedule=_schedule(expression),
            targets=[
                targets.LambdaFunction(
                    imported,
                    dead_letter_queue=sqs.Queue.from_queue_arn(self, queue_id, queue_arn),
                    retry_attempts=8,
                    max_event_age=_MAX_EVENT_AGE,
                )
            ],
        )
        _acknowledge_same_environment(rule)
        return rule

    def _package_group_output(self, model: str, suffix: str | None) -> None:
        # The suffix is a hash of the tracking server's name or the App's ID (SageMaker Developer
        # Guide, "Automatically register SageMaker AI models with SageMaker Model Registry"); an
        # App's ID exists only once it is created, so then the output says how to find the group.
        if suffix is not None:
            CfnOutput(
                self,
                "PackageGroupName",
                value=naming.package_group(model, suffix),
                description="The model package group MLflow registers this model's versions into",
            )
            return
        CfnOutput(
            self,
            "PackageGroupName",
            value=f"{naming.package_group(model, None)}??????",
            description=(
                "The MLflow App's ID sets the six-character suffix: aws sagemaker list-model-package-groups "
                f"--name-contains {naming.package_group(model, None)}"
            ),
        )

    def _alarm(self, construct_id: str, **props: Any) -> cloudwatch.CfnAlarm:
        """An alarm that treats missing data as fine, declared in one call.

        Model stacks are the part of synth that grows with the number of models; an L1 alarm
        costs one call into the CDK runtime where the L2 alarm with its metric objects and
        actions costs several. The inner "Resource" keeps the logical ID an L2 alarm would have.
        """
        return cloudwatch.CfnAlarm(
            Construct(self, construct_id), "Resource", treat_missing_data="notBreaching", **props
        )


def _batch_settings(config: EnvironmentConfig, model: ModelConfig) -> BatchSettings | None:
    """The catalog's view of `models[].batch`: what the launcher needs to start a transform job."""
    batch = model.batch
    if batch is None:
        return None
    return BatchSettings(
        instance_type=batch.instance_type,
        instance_count=batch.instance_count,
        max_concurrent_transforms=batch.max_concurrent_transforms,
        max_payload_mb=batch.max_payload_mb,
        content_type=batch.content_type,
        split_type=batch.split_type,
        schedule_rule_name=naming.batch_schedule_rule_name(config, model.name) if batch.schedule else None,
    )


def _acknowledge_same_environment(rule: events.Rule) -> None:
    """A schedule's target is this environment's own function: CDK's cross-environment warning cannot apply.

    With a pinned account and region CDK warns that the target "has an unresolved environment":
    the function's ARN is the automation stack's export, a token. The function is imported with
    `same_environment=True` and is built by this environment's automation stack, so rule and
    target always share account and region.
    """
    Annotations.of(rule).acknowledge_warning(
        "@aws-cdk/aws-events:ruleUnresolvedEnvironment",
        "the target is the same environment's function (imported with same_environment=True)",
    )
