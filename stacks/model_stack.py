"""One model's resources: its pipeline, catalog entry, quality and rollback alarms, schedule.

A stack per model keeps every stack far below CloudFormation's resource limit however many
models an environment has, and lets a model be onboarded or removed without touching the
others. The shared handlers find the model through its catalog entry.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnMapping, CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from platform_common.catalog import ModelSettings
from stacks import monitoring, naming
from stacks.config import EnvironmentConfig, ModelConfig
from stacks.pipeline_definition import DefaultImages, build_pipeline_definition

# SageMaker's prebuilt scikit-learn images (framework 1.4-2, Python 3.10) by region; the account differs
# per region (SageMaker Developer Guide, "Docker Registry Paths and Example Code").
SKLEARN_IMAGE_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
    "eu-central-1": "492215442770",
    "ap-southeast-2": "783357654285",
}
SKLEARN_IMAGE = "sagemaker-scikit-learn:1.4-2-cpu-py3"


class ModelStack(Stack):
    """Everything that exists once per model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        model: ModelConfig,
        pipeline_role: iam.IRole,
        data_key_arn: str,
        mlflow_arn: str,
        trigger_function: lambda_.IFunction,
        topic: sns.ITopic,
        events_dlq: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.model = model
        pipeline_name = naming.pipeline_name(config, model.name)
        endpoint = naming.endpoint_name(config, model.name)

        definition = build_pipeline_definition(
            model,
            role_arn=pipeline_role.role_arn,
            data_bucket_name=naming.data_bucket_name(config),
            artifact_bucket_name=naming.artifact_bucket_name(config),
            tracking_server_arn=mlflow_arn,
            code_prefix_uri=f"s3://{naming.artifact_bucket_name(config)}/code/{model.name}/",
            kms_key_arn=data_key_arn,
            default_image_uris=self._default_images(),
        )
        self.pipeline = sagemaker.CfnPipeline(
            self, "Pipeline", pipeline_name=pipeline_name, role_arn=pipeline_role.role_arn,
            pipeline_description=f"Retrains {model.name}: prepare, train, evaluate, check {model.metric.name}, register",
            pipeline_definition={"PipelineDefinitionBody": self.to_json_string(definition)},
        )  # fmt: skip

        self.quality_alarm = cloudwatch.Alarm(
            self, "QualityAlarm", alarm_name=naming.quality_alarm_name(config, model.name),
            alarm_description=f"{model.name}: quality below threshold; the platform retrains the model",
            metric=self._quality_metric(config),
            threshold=model.quality.threshold if model.quality.threshold is not None else model.metric.threshold,
            comparison_operator=cloudwatch.ComparisonOperator[_COMPARISONS[model.quality.comparison]],
            evaluation_periods=model.quality.evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )  # fmt: skip
        self.quality_alarm.add_alarm_action(cw_actions.SnsAction(topic))

        errors_name, latency_name = naming.rollback_alarm_names(config, model.name)
        variant = {"EndpointName": endpoint, "VariantName": "AllTraffic"}
        self.error_alarm = cloudwatch.Alarm(
            self, "ErrorAlarm", alarm_name=errors_name,
            alarm_description=f"{model.name}: server errors; rolls back a deployment in progress",
            metric=cloudwatch.MathExpression(
                expression="100 * errors / MAX([errors, invocations, 1])",
                using_metrics={
                    "errors": cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocation5XXErrors",
                                                dimensions_map=variant, statistic="Sum"),
                    "invocations": cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocations",
                                                     dimensions_map=variant, statistic="Sum"),
                },
                label="5xx error rate (%)", period=Duration.minutes(1),
            ),
            threshold=model.deployment.max_error_rate_percent,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )  # fmt: skip
        self.latency_alarm = cloudwatch.Alarm(
            self, "LatencyAlarm", alarm_name=latency_name,
            alarm_description=f"{model.name}: model latency too high; rolls back a deployment in progress",
            # ModelLatency is reported in microseconds.
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ModelLatency", dimensions_map=variant,
                                     statistic="p90", period=Duration.minutes(1)),
            threshold=model.deployment.max_latency_ms * 1000,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )  # fmt: skip
        for alarm in (self.error_alarm, self.latency_alarm):
            alarm.add_alarm_action(cw_actions.SnsAction(topic))

        self.schedule: events.Rule | None = None
        if model.schedule:
            # Referenced by ARN so the invoke permission is created here, beside the rule; the
            # function's own stack must not depend on the model stacks.
            trigger = lambda_.Function.from_function_attributes(
                self, "RetrainingTrigger", function_arn=trigger_function.function_arn, same_environment=True
            )
            # Likewise the DLQ: the automation stack's queue policy admits every rule of the
            # environment, so nothing here writes back into that stack.
            dlq = sqs.Queue.from_queue_arn(self, "EventsDlq", events_dlq.queue_arn)
            self.schedule = events.Rule(
                self, "Schedule", rule_name=naming.schedule_rule_name(config, model.name),
                description=f"Retrains {model.name} on a schedule",
                schedule=events.Schedule.expression(model.schedule),
                targets=[targets.LambdaFunction(trigger, dead_letter_queue=dlq, retry_attempts=8,
                                                max_event_age=Duration.hours(24))],
            )  # fmt: skip

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
        )
        self.catalog_entry = ssm.StringParameter(
            self, "CatalogEntry", parameter_name=f"{naming.catalog_path(config)}{model.name}",
            string_value=self.settings.to_json(),
            description=f"Settings of model {model.name} read by the platform's handlers",
        )  # fmt: skip

        CfnOutput(self, "PipelineName", value=pipeline_name)
        CfnOutput(self, "EndpointName", value=endpoint)
        CfnOutput(self, "CodeLocation", value=f"s3://{naming.artifact_bucket_name(config)}/code/{model.name}/",
                  description="Publish the model's scripts here (make publish-code)")  # fmt: skip

    def _default_images(self) -> DefaultImages:
        mapping = CfnMapping(self, "SklearnImageAccounts",
                             mapping={region: {"account": account} for region, account in SKLEARN_IMAGE_ACCOUNTS.items()})  # fmt: skip
        account = mapping.find_in_map(self.region, "account")
        image = f"{account}.dkr.ecr.{self.region}.{self.url_suffix}/{SKLEARN_IMAGE}"
        return DefaultImages(training=image, processing=image)

    def _quality_metric(self, config: EnvironmentConfig) -> cloudwatch.Metric:
        spec = monitoring.quality_metric(config, self.model)
        return cloudwatch.Metric(namespace=spec.namespace, metric_name=spec.name, dimensions_map=spec.dimensions,
                                 statistic=spec.statistic, period=Duration.seconds(spec.period_seconds))  # fmt: skip


_COMPARISONS = {
    "LessThanThreshold": "LESS_THAN_THRESHOLD",
    "LessThanOrEqualToThreshold": "LESS_THAN_OR_EQUAL_TO_THRESHOLD",
    "GreaterThanThreshold": "GREATER_THAN_THRESHOLD",
    "GreaterThanOrEqualToThreshold": "GREATER_THAN_OR_EQUAL_TO_THRESHOLD",
}
