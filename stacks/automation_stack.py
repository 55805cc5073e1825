"""The retraining and promotion loop shared by every model of an environment.

Event bus and archive, audit trail, notifications, dead-letter queues, the SageMaker service
roles, and the three handlers with the rules that feed them. Per-model resources (pipeline,
alarms, schedule, catalog entry) live in one ModelStack per model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import ArnFormat, Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from platform_common import domain_events, env_names
from platform_common import monitoring as contract
from platform_common.evidence import EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX
from platform_common.monitoring import INFERENCE_PREFIX, PREDICTIONS_PREFIX
from platform_common.promotion import RECONCILE_INTERVAL_MINUTES
from stacks import event_patterns, monitoring, naming
from stacks.compliance import (
    acknowledge,
    acknowledge_default_key_policy,
    acknowledge_resource_policy_wildcards,
)
from stacks.config import LOG_RETENTION_DAYS, EnvironmentConfig
from stacks.config.delivery import RegistryReader, RegistrySource
from stacks.constructs.batch_serving import BatchJobAccess, grant_launcher
from stacks.constructs.managed_mlflow import (
    mlflow_api_statement,
    package_group_names,
    registered_package_names,
)
from stacks.constructs.ml_roles import MlServiceRoles
from stacks.constructs.model_locks import ModelLocks
from stacks.constructs.monitoring_job_role import MonitoringJobRole
from stacks.constructs.persona_roles import MLFLOW_ALIAS_ACTIONS, MLFLOW_READ_ACTIONS
from stacks.constructs.platform_functions import (
    BATCH_LAUNCHER,
    DEPLOYER,
    MODEL_GATE,
    MONITORING_LAUNCHER,
    RETRAINING_TRIGGER,
    FunctionSpec,
    PlatformFunction,
    lambda_code,
)
from stacks.constructs.promoted_versions import PromotedVersions
from stacks.constructs.registry_sharing import deployer_arns
from stacks.constructs.trigger_timer import TriggerTimer

# Domain events people are told about (failures, decisions that need a person, outcomes).
# Rejected events have a message of their own: they concern no model version.
NOTIFIED_DOMAIN_EVENTS = (
    domain_events.MODEL_REJECTED,
    domain_events.MODEL_REVIEW_REQUESTED,
    domain_events.DEPLOYMENT_SUCCEEDED,
    domain_events.DEPLOYMENT_FAILED,
    domain_events.DEPLOYMENT_ROLLED_BACK,
    domain_events.EVENT_REJECTED,
)
# What a notification is made of: fields every domain event's detail carries (domain_events).
NOTIFICATION_FIELDS = ("summary", "reason", "nextStep")


class AutomationStack(Stack):
    """Bus, audit, notifications and the shared handlers of the retraining loop."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        data_key: kms.IKey,
        mlflow_arn: str,
        package_group_suffix: str | None,
        registry_readers: Sequence[RegistryReader] = (),
        registry_source: RegistrySource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.data_key = data_key
        self.rules: dict[str, events.Rule] = {}
        prefix = config.resource_prefix
        retention = _retention(config.retention.log_retention_days)
        models = config.models
        self.package_group_suffix = package_group_suffix
        self.package_groups = [naming.package_group(m.name, package_group_suffix) for m in models]
        self.catalog_path = naming.catalog_path(config)

        self.key = self._build_key()
        self.bus = events.EventBus(self, "PlatformBus", event_bus_name=naming.platform_bus_name(config))
        self.archive = self.bus.archive(
            "Archive",
            archive_name=naming.platform_archive_name(config),
            description="Every domain event of the platform, for audit and replay",
            event_pattern=events.EventPattern(source=[domain_events.SOURCE]),
            retention=Duration.days(config.retention.event_archive_days),
        )
        self.audit_log = logs.LogGroup(
            self,
            "AuditLog",
            log_group_name=f"/{prefix}/audit",
            retention=retention,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.topic = sns.Topic(
            self,
            "Notifications",
            topic_name=f"{prefix}-notifications",
            display_name=f"{prefix} MLOps platform",
            master_key=self.key,
            enforce_ssl=True,
        )
        for address in config.notifications.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self._let_alarms_notify()
        self.events_dlq = self._queue("EventsDlq", naming.events_dlq_name(config))
        self.functions_dlq = self._queue("FunctionsDlq", naming.functions_dlq_name(config))
        # Every function this environment builds, by name (the operators may re-invoke exactly these).
        self.function_names: list[str] = []
        # Rules of the model stacks (schedules) dead-letter here too; they cannot add their own
        # statements to this stack's queue policy without a dependency cycle.
        self.events_dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AcceptUndeliveredEventsOfModelRules",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.events_dlq.queue_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(service="events", resource="rule", resource_name=f"{prefix}-*")
                    }
                },
            )
        )

        # Exact groups where known; an App's suffix is matched by length.
        registered_groups = package_group_names([m.name for m in models], package_group_suffix)
        # The package versions the pipeline role records executions on: those this MLflow registers
        # for the configured models (none without a model, as no pipeline runs then).
        registered_versions = registered_package_names([m.name for m in models], package_group_suffix) if models else []
        self.roles = MlServiceRoles(
            self,
            "ServiceRoles",
            resource_prefix=prefix,
            pipeline_role_name=naming.pipeline_role_name(config),
            model_role_name=naming.model_role_name(config),
            data_bucket_name=naming.data_bucket_name(config),
            datasets_prefix=naming.DATASETS_PREFIX,
            artifact_bucket_name=naming.artifact_bucket_name(config),
            key=data_key,
            mlflow_arn=mlflow_arn,
            mlflow_kind=config.mlflow.kind,
            package_versions=registered_versions,
            job_instance_types=[t for m in models for t in (m.training.instance_type, m.processing.instance_type)],
        )

        code = lambda_code()
        common_env = {
            env_names.PLATFORM_BUS_NAME: self.bus.event_bus_name,
            env_names.MODEL_CATALOG_PATH: self.catalog_path,
            env_names.ENVIRONMENT_NAME: config.name,
        }
        # The construct id predates the table's other users; it stays, so the table is not replaced.
        self.model_locks = ModelLocks(self, "TriggerLock", table_name=f"{prefix}-retraining-lock", key=self.key)
        trigger_env = {
            **common_env,
            env_names.DATA_BUCKET_NAME: naming.data_bucket_name(config),
            env_names.RETRAINING_LOCK_TABLE_NAME: self.model_locks.table.table_name,
        }
        self.trigger = self._function(RETRAINING_TRIGGER, code, trigger_env)
        self.trigger_timer = TriggerTimer(
            self,
            "TriggerTimer",
            name=f"{prefix}-retraining-window",
            target=self.trigger,
            dead_letter_queue=self.events_dlq,
            key=self.key,
        )
        self.trigger_timer.grant_scheduling(self.trigger)
        promotion_env = {
            **common_env,
            env_names.MLFLOW_TRACKING_SERVER_ARN: mlflow_arn,
            env_names.MODEL_LOCK_TABLE_NAME: self.model_locks.table.table_name,
            env_names.ARTIFACT_BUCKET_NAME: naming.artifact_bucket_name(config),
        }
        # In the registry of record, the gate lets the consuming deployers read each group it judges.
        reader_arns = deployer_arns(registry_readers)
        sharing_env = {env_names.REGISTRY_READER_ROLE_ARNS: ",".join(reader_arns)} if reader_arns else {}
        self.gate = self._function(MODEL_GATE, code, {**promotion_env, **sharing_env})
        if reader_arns:
            self._grant_group_sharing(registered_groups)
        self.deployer = self._function(
            DEPLOYER,
            code,
            {
                **promotion_env,
                env_names.MODEL_EXECUTION_ROLE_ARN: self.roles.model_role.role_arn,
                env_names.DATA_BUCKET_NAME: naming.data_bucket_name(config),
                env_names.DATA_KEY_ARN: data_key.key_arn,
            },
        )
        self.monitoring_job_role: iam.Role | None = None
        self.monitoring_launcher: PlatformFunction | None = None
        if any(m.monitoring.platform for m in models):
            self._build_monitoring_launcher(code, promotion_env, data_key, mlflow_arn)
        for function in self._functions:
            self.model_locks.grant_items(function)
        self._grant_handlers(mlflow_arn)
        self.batch_launcher = self._build_batch(code, promotion_env, data_key)
        self._grant_evidence_reads(data_key)
        self._route_events()
        self.promoted_versions = (
            PromotedVersions(
                self,
                "PromotedVersions",
                source=registry_source,
                bus=self.bus,
                deployer=self.deployer,
                model_role=self.roles.model_role,
                dead_letter_queue=self.events_dlq,
                model_names=[m.name for m in models],
                local_groups=registered_groups,
                resource_prefix=prefix,
            )
            if registry_source is not None
            else None
        )
        self._audit()
        self._notify()
        self._dashboard()

        self._outputs()

    def _outputs(self) -> None:
        """What operators and the make targets (redrive, replay, destroy) look up after a deploy."""
        prefix = self.config.resource_prefix
        exported = {
            "PlatformBusName": self.bus.event_bus_name,
            "PlatformBusArn": self.bus.event_bus_arn,
            "ArchiveName": self.archive.archive_name,
            "ArchiveArn": self.archive.archive_arn,
            "EventsDlqUrl": self.events_dlq.queue_url,
            "EventsDlqArn": self.events_dlq.queue_arn,
            "FunctionsDlqUrl": self.functions_dlq.queue_url,
            "FunctionsDlqArn": self.functions_dlq.queue_arn,
            "NotificationTopicArn": self.topic.topic_arn,
            "AuditLogGroupName": self.audit_log.log_group_name,
            "ModelCatalogPath": self.catalog_path,
        }
        for name, value in exported.items():
            CfnOutput(self, name, value=value, export_name=f"{prefix}-{name}")
        # The launchers exist only where a model has platform monitoring or batch transform.
        functions = (self.trigger, self.gate, self.deployer, self.monitoring_launcher, self.batch_launcher)
        for function in (f for f in functions if f is not None):
            CfnOutput(self, f"{function.node.id}FunctionName", value=function.function.function_name)

    @property
    def _functions(self) -> list[PlatformFunction]:
        return [f for f in (self.trigger, self.gate, self.deployer, self.monitoring_launcher) if f is not None]

    def _build_monitoring_launcher(
        self, code: lambda_.Code, promotion_env: dict[str, str], data_key: kms.IKey, mlflow_arn: str
    ) -> None:
        """The monitoring launcher and the role its jobs run as (only it may pass that role)."""
        config = self.config
        namespace = contract.metric_namespace(config.resource_prefix)
        self.monitoring_job_role = MonitoringJobRole(
            self,
            "MonitoringJobRole",
            role_name=naming.monitoring_job_role_name(config),
            data_bucket_name=naming.data_bucket_name(config),
            artifact_bucket_name=naming.artifact_bucket_name(config),
            key=data_key,
            namespace=namespace,
            mlflow_arn=mlflow_arn,
            mlflow_kind=config.mlflow.kind,
        ).role
        job_prefix = naming.monitoring_job_prefix(config)
        launcher = self._function(
            MONITORING_LAUNCHER,
            code,
            {
                **promotion_env,
                env_names.DATA_BUCKET_NAME: naming.data_bucket_name(config),
                env_names.DATA_KEY_ARN: data_key.key_arn,
                env_names.MONITORING_JOB_ROLE_ARN: self.monitoring_job_role.role_arn,
                env_names.MONITORING_JOB_PREFIX: job_prefix,
                env_names.MONITORING_NAMESPACE: namespace,
            },
        )
        self.monitoring_launcher = launcher
        jobs = self.format_arn(service="sagemaker", resource="processing-job", resource_name=f"{job_prefix}*")
        instance_types = monitoring.job_instance_types(config)
        # CreateProcessingJob carries sagemaker:InstanceTypes (Service Authorization Reference,
        # "Actions, resources, and condition keys for Amazon SageMaker AI",
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
        launcher.allow(
            iam.PolicyStatement(
                sid="StartMonitoringJobs",
                actions=["sagemaker:CreateProcessingJob", "sagemaker:AddTags"],
                resources=[jobs],
                conditions={"ForAllValues:StringEquals": {"sagemaker:InstanceTypes": instance_types}},
            ),
            "Monitoring jobs are named per model and window end at run time, all under <prefix>-<env>-monitor-.",
        )
        launcher.allow(
            iam.PolicyStatement(
                sid="WatchMonitoringJobs", actions=["sagemaker:DescribeProcessingJob"], resources=[jobs]
            ),
            "Monitoring jobs are named per model and window end at run time, all under <prefix>-<env>-monitor-.",
        )
        launcher.allow(
            iam.PolicyStatement(
                sid="FindChampions",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:ListTags"],
                resources=[
                    self.format_arn(
                        service="sagemaker", resource="endpoint", resource_name=f"{config.resource_prefix}-*"
                    )
                ],
            ),
            "Each model stack serves its model from an endpoint named <prefix>-<env>-<model>.",
        )
        launcher.allow(
            iam.PolicyStatement(
                sid="PassMonitoringJobRole",
                actions=["iam:PassRole"],
                resources=[self.monitoring_job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # VolumeKmsKeyId: SageMaker encrypts the job's volume with the platform key on the caller's
        # behalf, through a grant; only grants for AWS resources (AWS KMS Developer Guide, "AWS KMS
        # condition keys", kms:GrantIsForAWSResource,
        # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html).
        for statement in _key_grant_statements("MonitoringJobs", data_key):
            launcher.allow(statement)
        launcher.allow(
            iam.PolicyStatement(
                sid="PublishAwaitingChampion",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            ),
            "cloudwatch:PutMetricData does not support resource-level permissions; limited to the platform's "
            "monitoring namespace.",
        )

    def _build_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "AutomationKey",
            alias=f"alias/{self.config.resource_prefix}-automation",
            description="Encrypts the platform's logs, notifications, queues and function settings",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Services that write into the encrypted topic and queues on the platform's behalf need
        # kms:GenerateDataKey* and kms:Decrypt (Amazon SNS Developer Guide, "Key management",
        # "Enable compatibility between event sources from AWS services and encrypted topics";
        # Amazon SQS Developer Guide, "Amazon SQS key management"). The documented statements
        # carry no condition, and no page says these KMS requests carry aws:SourceAccount or
        # aws:SourceArn: a condition on them could drop every delivery without an error. Who may
        # publish is decided by the topic and queue policies, which are scoped.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ServicesDeliverToEncryptedTopicAndQueues",
                principals=[
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="SnsOfThisAccount",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        logs_encryption = iam.PolicyStatement(
            sid="AllowLogsEncryption",
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                }
            },
        )
        key.add_to_resource_policy(logs_encryption)
        acknowledge_default_key_policy(key)
        acknowledge_resource_policy_wildcards(
            key,
            logs_encryption,
            "CloudWatch Logs encrypts this account's log groups with the key; the key policy statement the CloudWatch "
            "Logs User Guide gives for it ('Encrypt log data in CloudWatch Logs using AWS KMS') uses these wildcard "
            "actions, held here to log-group encryption contexts.",
        )
        # The notification rules' SNS targets make CDK add this statement for EventBridge, which
        # publishes to the encrypted topic.
        acknowledge_resource_policy_wildcards(
            key,
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
            ),
            "An AWS service publishing to an encrypted SNS topic needs kms:GenerateDataKey* and kms:Decrypt on its key "
            "(Amazon SNS Developer Guide, 'Managing Amazon SNS encryption keys and costs').",
        )
        return key

    def _let_alarms_notify(self) -> None:
        """Let the platform's alarms publish to the topic.

        The topic policy CDK writes replaces the default one, which admitted any principal of the
        account; CloudWatch then needs its own statement, scoped to the platform's alarms by
        aws:SourceArn and aws:SourceAccount (AWS re:Post Knowledge Center, "Why didn't I receive an
        SNS notification for my CloudWatch alarm trigger?",
        https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger). Every alarm
        name starts with the resource prefix (the model stacks' alarms included).
        """
        alarms = self.format_arn(
            service="cloudwatch",
            resource="alarm",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
            resource_name=f"{self.config.resource_prefix}-*",
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PlatformAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": alarms},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )

    def _queue(self, construct_id: str, name: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            queue_name=name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(queue, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue; messages stay for redrive.")
        alarm = cloudwatch.Alarm(
            self,
            f"{construct_id}Depth",
            alarm_name=f"{name}-not-empty",
            alarm_description=f"Events could not be delivered or handled; inspect and redrive {name}",
            metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        return queue

    def _function(self, spec: FunctionSpec, code: lambda_.Code, environment: dict[str, str]) -> PlatformFunction:
        self.function_names.append(naming.function_name(self.config, spec.name))
        function = PlatformFunction(
            self,
            _camel(spec.name),
            spec=spec,
            resource_prefix=self.config.resource_prefix,
            code=code,
            environment=environment,
            key=self.key,
            failed_invocations=self.functions_dlq,
            log_retention=_retention(self.config.retention.log_retention_days),
            reserved_concurrency=self.config.functions.reserved_concurrency.get(spec.name),
        )
        function.allow(
            iam.PolicyStatement(
                sid="PublishDomainEvents", actions=["events:PutEvents"], resources=[self.bus.event_bus_arn]
            )
        )
        function.allow(
            iam.PolicyStatement(
                sid="ReadModelCatalog",
                actions=["ssm:GetParametersByPath", "ssm:GetParameter"],
                resources=[
                    self.format_arn(service="ssm", resource="parameter", resource_name=self.catalog_path.strip("/"))
                ],
            ),
        )
        function.allow(
            iam.PolicyStatement(
                sid="ReadModelCatalogEntries",
                actions=["ssm:GetParameter"],
                resources=[
                    self.format_arn(
                        service="ssm", resource="parameter", resource_name=f"{self.catalog_path.strip('/')}/*"
                    )
                ],
            ),
            "Each model stack adds its own catalog entry under this path.",
        )
        return function

    def _grant_handlers(self, mlflow_arn: str) -> None:
        prefix = self.config.resource_prefix
        pipelines = self.format_arn(service="sagemaker", resource="pipeline", resource_name=f"{prefix}-*")
        self.trigger.allow(
            iam.PolicyStatement(
                sid="StartPipelines",
                actions=["sagemaker:StartPipelineExecution", "sagemaker:ListPipelineExecutions"],
                resources=[pipelines],
            ),
            "Each model stack adds a pipeline named <prefix>-<env>-<model>.",
        )
        self.trigger.allow(
            iam.PolicyStatement(
                sid="ReadPipelineExecutions",
                actions=["sagemaker:DescribePipelineExecution"],
                resources=[f"{pipelines}/execution/*"],
            ),
            "Executions are created at run time under each model's pipeline.",
        )
        # ListModelPackages is granted on every resource: AWS's own AmazonSageMakerModelRegistryFullAccess
        # policy does the same (SageMaker Developer Guide, "AWS Managed Policies for Model Registry",
        # https://docs.aws.amazon.com/sagemaker/latest/dg/security-iam-awsmanpol-model-registry.html).
        list_packages = iam.PolicyStatement(
            sid="ListApprovedPackages", actions=["sagemaker:ListModelPackages"], resources=["*"]
        )
        for function in (self.gate, self.deployer):
            function.allow(
                list_packages,
                "ListModelPackages is not scoped to a package group here; it only lists, and the handlers "
                "filter by their model's group.",
            )
        # Only this server's groups (*-<suffix>), or for an App each configured model's (<model>-??????);
        # the handlers also check the exact suffix of their own MLflow ARN before they act.
        packages = [
            self.format_arn(service="sagemaker", resource="model-package", resource_name=name)
            for name in registered_package_names([m.name for m in self.config.models], self.package_group_suffix)
        ]
        registered = (
            "Model package versions are created by MLflow automatic registration, numbered in groups named per "
            "model (<model>-<suffix>); an MLflow App's suffix is unknown until it exists, so it is matched by length."
        )
        if packages:
            self.gate.allow(
                iam.PolicyStatement(
                    sid="DecideOnPackages",
                    actions=["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"],
                    resources=packages,
                ),
                registered,
            )
        mlflow_kind = self.config.mlflow.kind
        gate_mlflow = [*MLFLOW_READ_ACTIONS, "sagemaker-mlflow:SetModelVersionTag"]
        self.gate.allow(
            mlflow_api_statement(sid="ReadAndTagMlflowVersions", kind=mlflow_kind, arn=mlflow_arn, actions=gate_mlflow)
        )

        owned = [
            self.format_arn(service="sagemaker", resource=kind, resource_name=f"{prefix}-*")
            for kind in ("model", "endpoint-config", "endpoint")
        ]
        self.deployer.allow(
            iam.PolicyStatement(
                sid="Deploy",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                resources=owned,
            ),
            "The deployer names models and endpoint configs per model version (<prefix>-<env>-<model>-v<n>).",
        )
        if packages:
            read_and_mark = iam.PolicyStatement(
                sid="ReadAndMarkPackages",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
                resources=packages,
            )
            self.deployer.allow(
                read_and_mark,
                registered + " The deployer marks those whose deployment was rolled back or failed.",
            )
        # DataCaptureConfig.KmsKeyId (the capture is encrypted with the platform key on the endpoint's behalf).
        for statement in _key_grant_statements("Capture", self.data_key):
            self.deployer.allow(statement)
        self.deployer.allow(
            iam.PolicyStatement(
                sid="PassModelRole",
                actions=["iam:PassRole"],
                resources=[self.roles.model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        deployer_mlflow = [*MLFLOW_READ_ACTIONS, *MLFLOW_ALIAS_ACTIONS, "sagemaker-mlflow:SetModelVersionTag"]
        self.deployer.allow(
            mlflow_api_statement(sid="MoveChampionAlias", kind=mlflow_kind, arn=mlflow_arn, actions=deployer_mlflow)
        )
        self.deployer.allow(
            iam.PolicyStatement(
                sid="ReadRollbackAlarms",
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    self.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=f"{prefix}-*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            "Rollback alarms are created per model by the model stacks, named <prefix>-<env>-<model>-*.",
        )

    def _grant_group_sharing(self, groups: Sequence[str]) -> None:
        """Let the gate read and set the resource policy of the model's package groups (`group_sharing`)."""
        if not groups:
            return
        statement = iam.PolicyStatement(
            sid="ShareGroupsWithConsumers",
            actions=["sagemaker:GetModelPackageGroupPolicy", "sagemaker:PutModelPackageGroupPolicy"],
            resources=[
                self.format_arn(service="sagemaker", resource="model-package-group", resource_name=group)
                for group in groups
            ],
        )
        matched = any("*" in group or "?" in group for group in groups)
        why = (
            "Automatic registration names each configured model's group <model>-<suffix>; an MLflow App's suffix is "
            "unknown until it exists, so it is matched by length."
        )
        self.gate.allow(statement, why if matched else None)

    def _build_batch(
        self, code: lambda_.Code, promotion_env: dict[str, str], data_key: kms.IKey
    ) -> PlatformFunction | None:
        """The batch launcher and what transform jobs may touch; None without a model that has batch."""
        batch_models = [m for m in self.config.models if m.batch is not None]
        if not batch_models:
            return None
        prefix = self.config.resource_prefix
        launcher = self._function(
            BATCH_LAUNCHER,
            code,
            {
                **promotion_env,
                env_names.DATA_BUCKET_NAME: naming.data_bucket_name(self.config),
                env_names.DATA_KEY_ARN: data_key.key_arn,
                env_names.MODEL_EXECUTION_ROLE_ARN: self.roles.model_role.role_arn,
            },
        )
        self.model_locks.grant_items(launcher)
        packages = [
            self.format_arn(service="sagemaker", resource="model-package", resource_name=name)
            for name in registered_package_names([m.name for m in batch_models], self.package_group_suffix)
        ]
        grant_launcher(
            launcher,
            resource_prefix=prefix,
            model_role=self.roles.model_role,
            data_key=data_key,
            data_bucket_name=naming.data_bucket_name(self.config),
            models=[m.name for m in batch_models],
            packages=packages,
            instance_types=[m.batch.instance_type for m in batch_models if m.batch is not None],
            endpoint_champions=any(m.has_endpoint for m in batch_models),
        )
        BatchJobAccess(
            self,
            "BatchJobAccess",
            policy_name=f"{prefix}-model-execution-batch",
            model_role=self.roles.model_role,
            data_bucket_name=naming.data_bucket_name(self.config),
            data_key=data_key,
        )
        return launcher

    def _route_batch(self, launcher: PlatformFunction) -> None:
        """Input files and transform job ends reach the launcher (schedules are in the model stacks)."""
        prefix = self.config.resource_prefix
        bucket = naming.data_bucket_name(self.config)
        self._rule(
            "BatchInputLanded",
            rule_name=f"{prefix}-batch-input-landed",
            description="A batch input landed under inference/: run a transform of its model's champion",
            pattern=event_patterns.batch_input_landed(bucket, f"{INFERENCE_PREFIX}/"),
            targets=[self._target(launcher)],
        )
        self._rule(
            "TransformJobEnded",
            rule_name=f"{prefix}-transform-job-ended",
            description="A batch transform ended: record it and start the trailing run, if one waits",
            pattern=event_patterns.transform_job_ended(f"s3://{bucket}/{PREDICTIONS_PREFIX}/"),
            targets=[self._target(launcher)],
        )

    def _grant_evidence_reads(self, data_key: kms.IKey) -> None:
        """Let the gate, the deployer and the batch launcher verify evidence (and the artifact) with their own roles."""
        prefix = self.config.resource_prefix
        bucket = naming.artifact_bucket_name(self.config)
        bucket_arn = f"arn:{Aws.PARTITION}:s3:::{bucket}"
        # DescribePipelineExecution is authorised on resource type pipeline-execution,
        # pipeline/<name>/execution/<id> (Service Authorization Reference, "Actions, resources, and
        # condition keys for Amazon SageMaker AI").
        executions = self.format_arn(service="sagemaker", resource="pipeline", resource_name=f"{prefix}-*/execution/*")
        readable = {self.gate: [EVIDENCE_PREFIX], self.deployer: [EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX]}
        if self.monitoring_launcher is not None:
            # The champion's evidence is verified before its baseline is trusted (beside it, under evidence/).
            readable[self.monitoring_launcher] = [EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX]
        if self.batch_launcher is not None:
            # The launcher checks the champion's provenance again, as the deployer did.
            readable[self.batch_launcher] = [EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX]
        for function, prefixes in readable.items():
            function.allow(
                iam.PolicyStatement(
                    sid="VerifyPipelineExecutions",
                    actions=["sagemaker:DescribePipelineExecution"],
                    resources=[executions],
                ),
                "Executions are named by SageMaker at run time; limited to this environment's pipelines.",
            )
            function.allow(
                iam.PolicyStatement(
                    sid="ReadEvidence",
                    actions=["s3:GetObject"],
                    resources=[f"{bucket_arn}/{name}/*" for name in prefixes],
                ),
                "Reports and artifacts are keyed per model and execution; the key is derived from a verified "
                "execution. The function is shared by every model, so its policy stays the same size as models "
                "are added.",
            )
            function.allow(
                iam.PolicyStatement(
                    sid="DecryptEvidence",
                    actions=["kms:Decrypt"],
                    resources=[data_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
                )
            )

    def _rule(
        self,
        construct_id: str,
        *,
        rule_name: str,
        description: str,
        pattern: dict[str, Any],
        targets: list[events.IRuleTarget],
        event_bus: events.IEventBus | None = None,
    ) -> events.Rule:
        """A rule whose pattern is written verbatim from `event_patterns` (CDK's EventPattern has no `$or`)."""
        rule = events.Rule(
            self,
            construct_id,
            rule_name=rule_name,
            description=description,
            event_bus=event_bus,
            event_pattern=events.EventPattern(source=["placeholder"]),
            targets=targets,
        )
        cfn_rule = rule.node.default_child
        assert isinstance(cfn_rule, events.CfnRule)
        cfn_rule.add_property_override("EventPattern", pattern)
        self.rules[construct_id] = rule
        return rule

    def _target(self, function: PlatformFunction) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            function.function, dead_letter_queue=self.events_dlq, retry_attempts=8, max_event_age=Duration.hours(24)
        )

    def _route_events(self) -> None:
        """Rules that feed the handlers (on the default bus unless said otherwise)."""
        prefix = self.config.resource_prefix
        models = self.config.models
        self._rule(
            "DataLanded",
            rule_name=f"{prefix}-data-landed",
            description="A data set object landed under datasets/: retrain its model",
            pattern=(event_patterns.data_landed(naming.data_bucket_name(self.config), naming.DATASETS_PREFIX)),
            targets=[self._target(self.trigger)],
        )
        self._rule(
            "RetrainingRequested",
            rule_name=naming.bus_rule_name(self.config, naming.RETRAINING_REQUESTED_RULE),
            event_bus=self.bus,
            description="Someone asked for a model to be retrained",
            pattern=(event_patterns.retraining_requested()),
            targets=[self._target(self.trigger)],
        )
        if not models:
            return
        if self.batch_launcher is not None:
            self._route_batch(self.batch_launcher)
        self._rule(
            "PipelineRunEnded",
            rule_name=f"{prefix}-pipeline-run-ended",
            description="A pipeline run ended: start one trailing run on data that waited for it",
            pattern=event_patterns.pipeline_run_ended(f"*:pipeline/{prefix}-*"),
            targets=[self._target(self.trigger)],
        )
        alarm_names = [naming.quality_alarm_name(self.config, m.name) for m in models]
        for index, chunk in enumerate(event_patterns.chunks(alarm_names)):
            self._rule(
                f"QualityAlarm{index}",
                rule_name=f"{prefix}-quality-alarm-{index}",
                description="A model's quality metric crossed its threshold: retrain it",
                pattern=(event_patterns.quality_alarm(chunk)),
                targets=[self._target(self.trigger)],
            )
        drift_names = [naming.drift_alarm_name(self.config, m.name) for m in models if m.monitoring.platform]
        for index, chunk in enumerate(event_patterns.chunks(drift_names)):
            self._rule(
                f"DriftAlarm{index}",
                rule_name=f"{prefix}-drift-alarm-{index}",
                description="A model's inputs drifted past its drift threshold: retrain it",
                pattern=event_patterns.quality_alarm(chunk),
                targets=[self._target(self.trigger)],
            )
        if self.monitoring_launcher is not None:
            ground_truth = [contract.ground_truth_prefix(m.name) for m in models if m.monitoring.platform]
            for index, chunk in enumerate(event_patterns.chunks(ground_truth)):
                self._rule(
                    f"GroundTruthLanded{index}",
                    rule_name=f"{prefix}-ground-truth-landed-{index}",
                    description="Labels landed under monitoring/<model>/ground-truth/: monitor the model's quality",
                    pattern=event_patterns.ground_truth_landed(naming.data_bucket_name(self.config), chunk),
                    targets=[self._target(self.monitoring_launcher)],
                )
        for index, chunk in enumerate(event_patterns.chunks(self.package_groups)):
            self._rule(
                f"ModelPending{index}",
                rule_name=f"{prefix}-model-pending-{index}",
                description="A new model version awaits approval: compare it with the champion",
                pattern=(event_patterns.model_package(chunk, "PendingManualApproval")),
                targets=[self._target(self.gate)],
            )
            self._rule(
                f"ModelApproved{index}",
                rule_name=f"{prefix}-model-approved-{index}",
                description="A model version was approved: deploy it",
                pattern=(event_patterns.model_package(chunk, "Approved")),
                targets=[self._target(self.deployer)],
            )
        # The deployer's periodic check picks up what events could not finish (a busy endpoint, a held lease).
        self.rules["DeployerCheck"] = events.Rule(
            self,
            "DeployerCheck",
            rule_name=f"{prefix}-deployer-check",
            description="Reconcile every model's endpoint with its newest approved version",
            schedule=events.Schedule.expression(event_patterns.deployer_check_schedule()),
            # A check older than the interval is superseded by the next one; it is not worth keeping.
            targets=[
                targets.LambdaFunction(
                    self.deployer.function,
                    dead_letter_queue=self.events_dlq,
                    retry_attempts=8,
                    max_event_age=Duration.minutes(RECONCILE_INTERVAL_MINUTES),
                )
            ],
        )
        endpoint_names = [naming.endpoint_name(self.config, m.name) for m in models]
        for index, chunk in enumerate(event_patterns.chunks(endpoint_names)):
            self._rule(
                f"EndpointState{index}",
                rule_name=f"{prefix}-endpoint-state-{index}",
                description="An endpoint changed state: record how a deployment ended",
                pattern=(event_patterns.endpoint_state(chunk)),
                targets=[self._target(self.deployer)],
            )

    def _log_target(self) -> events.IRuleTarget:
        # EventBridge takes the log group ARN without the ":*" that Fn::GetAtt returns; with it,
        # the target deploys and delivers nothing. aws-cdk-lib's events-targets CloudWatchLogGroup
        # builds the ARN the same way (formatArn with the log group name as resource name).
        arn = self.format_arn(
            service="logs",
            resource="log-group",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
            resource_name=self.audit_log.log_group_name,
        )
        return _AuditLogTarget(arn, self.events_dlq.queue_arn)

    def _audit(self) -> None:
        """Copy every domain event and every AWS event of interest into the audit log group."""
        prefix = self.config.resource_prefix
        # EventBridge writes to a log group only if a CloudWatch Logs resource policy lets it, on
        # "log-group:<name>:*", the form Fn::GetAtt returns (EventBridge User Guide, "Using
        # resource-based policies for Amazon EventBridge", "CloudWatch Logs permissions").
        logs.CfnResourcePolicy(
            self,
            "AuditLogDelivery",
            policy_name=f"{prefix}-audit-events",
            policy_document=self.to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgeWritesAudit",
                            "Effect": "Allow",
                            "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": f"{self.audit_log.log_group_arn}",
                        }
                    ],
                }
            ),
        )
        self._rule(
            "AuditPlatformEvents",
            rule_name=naming.bus_rule_name(self.config, naming.AUDIT_RULE),
            event_bus=self.bus,
            description="Audit trail: every domain event of the platform",
            pattern=(event_patterns.platform_events()),
            targets=[self._log_target()],
        )
        activity = event_patterns.aws_activity(
            bucket_name=naming.data_bucket_name(self.config),
            datasets_prefix=naming.DATASETS_PREFIX,
            pipeline_arn_wildcard=f"*:pipeline/{prefix}-*",
            package_groups=self.package_groups,
            endpoint_prefix=f"{prefix}-",
            alarm_prefix=f"{prefix}-",
        )
        if self.batch_launcher is not None:
            bucket = naming.data_bucket_name(self.config)
            activity["batch"] = event_patterns.batch_input_landed(bucket, f"{INFERENCE_PREFIX}/")
            activity["transforms"] = event_patterns.transform_job_ended(f"s3://{bucket}/{PREDICTIONS_PREFIX}/")
        for kind, pattern in activity.items():
            self._rule(
                f"AuditAws{kind.capitalize()}",
                rule_name=f"{prefix}-audit-{kind}",
                description=f"Audit trail: AWS events of the platform's {kind}",
                pattern=pattern,
                targets=[self._log_target()],
            )

    def _notify(self) -> None:
        """Tell people through the topic; input transformers write the message, no extra function."""
        prefix = self.config.resource_prefix
        failed_message = events.RuleTargetInput.from_text(
            f"[{prefix}] Pipeline execution {events.EventField.from_path('$.detail.pipelineExecutionArn')} "
            f"failed (was {events.EventField.from_path('$.detail.previousPipelineExecutionStatus')}). "
            f"Time: {events.EventField.time}."
        )
        self._rule(
            "NotifyPipelineFailed",
            rule_name=f"{prefix}-notify-pipeline-failed",
            description="Tell people a retraining pipeline failed",
            pattern=(event_patterns.pipeline_failed(f"*:pipeline/{prefix}-*")),
            targets=[
                targets.SnsTopic(
                    self.topic, message=failed_message, dead_letter_queue=self.events_dlq, retry_attempts=8
                )
            ],
        )
        job_failed_message = events.RuleTargetInput.from_text(
            f"[{prefix}] Monitoring job {events.EventField.from_path('$.detail.ProcessingJobName')} failed: "
            f"{events.EventField.from_path('$.detail.FailureReason')}. Time: {events.EventField.time}."
        )
        self._rule(
            "NotifyMonitoringJobFailed",
            rule_name=f"{prefix}-notify-monitoring-failed",
            description="Tell people a model's monitoring job failed",
            pattern=event_patterns.monitoring_job_failed(naming.monitoring_job_prefix(self.config)),
            targets=[
                targets.SnsTopic(
                    self.topic, message=job_failed_message, dead_letter_queue=self.events_dlq, retry_attempts=8
                )
            ],
        )
        # Only fields every domain event carries, so no notification shows an absent value.
        summary, reason, next_step = (events.EventField.from_path(f"$.detail.{name}") for name in NOTIFICATION_FIELDS)
        domain_message = events.RuleTargetInput.from_text(
            f"[{prefix}] {events.EventField.detail_type}: {summary} Why: {reason} Next step: {next_step}"
        )
        self._rule(
            "NotifyDecisions",
            rule_name=naming.bus_rule_name(self.config, naming.NOTIFY_RULE),
            event_bus=self.bus,
            description="Tell people about rejections, reviews and deployment outcomes",
            pattern=(event_patterns.platform_events(self._notified_events())),
            targets=[
                targets.SnsTopic(
                    self.topic, message=domain_message, dead_letter_queue=self.events_dlq, retry_attempts=8
                )
            ],
        )

    def _notified_events(self) -> tuple[str, ...]:
        """NOTIFIED_DOMAIN_EVENTS, and a failed batch transform where a model has batch transform."""
        if self.batch_launcher is None:
            return NOTIFIED_DOMAIN_EVENTS
        return (*NOTIFIED_DOMAIN_EVENTS, domain_events.BATCH_TRANSFORM_FAILED)

    def _dashboard(self) -> None:
        body = monitoring.dashboard_body(
            self.config,
            region=self.region,
            function_names=[f.function.function_name for f in self._functions],
            queue_names=[q.queue_name for q in (self.events_dlq, self.functions_dlq)],
            audit_log_group=self.audit_log.log_group_name,
        )
        cloudwatch.CfnDashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.config.resource_prefix}-mlops",
            dashboard_body=self.to_json_string(body),
        )


@jsii.implements(events.IRuleTarget)
class _AuditLogTarget:
    """Delivers matched events to the audit log group.

    Written here because aws-events-targets' CloudWatchLogGroup manages the log group's
    resource policy through a custom resource (an extra Lambda function); the stack declares
    that policy natively instead.
    """

    def __init__(self, log_group_arn: str, dead_letter_queue_arn: str) -> None:
        self._arn = log_group_arn
        self._dlq = dead_letter_queue_arn

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        del rule, id
        return events.RuleTargetConfig(
            arn=self._arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dlq),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=8, maximum_event_age_in_seconds=24 * 3600
            ),
        )


def _key_grant_statements(purpose: str, key: kms.IKey) -> list[iam.PolicyStatement]:
    """Let a caller name `key` in a SageMaker request that SageMaker then uses on its behalf.

    SageMaker's API pages say the key policy must admit the role that uses the key, and say nothing
    of the caller; the safe minimum is kms:CreateGrant held to grants for AWS resources (AWS KMS
    Developer Guide, "AWS KMS condition keys", kms:GrantIsForAWSResource,
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html) and kms:DescribeKey.
    DescribeKey is its own statement: kms:GrantIsForAWSResource is present only in grant requests,
    so the condition would deny it.
    """
    return [
        iam.PolicyStatement(
            sid=f"GrantKeyTo{purpose}",
            actions=["kms:CreateGrant"],
            resources=[key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
        ),
        iam.PolicyStatement(sid=f"DescribeKeyFor{purpose}", actions=["kms:DescribeKey"], resources=[key.key_arn]),
    ]


_RETENTION_NAMES = (
    "ONE_DAY",
    "THREE_DAYS",
    "FIVE_DAYS",
    "ONE_WEEK",
    "TWO_WEEKS",
    "ONE_MONTH",
    "TWO_MONTHS",
    "THREE_MONTHS",
    "FOUR_MONTHS",
    "FIVE_MONTHS",
    "SIX_MONTHS",
    "ONE_YEAR",
    "THIRTEEN_MONTHS",
    "EIGHTEEN_MONTHS",
    "TWO_YEARS",
    "THREE_YEARS",
    "FIVE_YEARS",
    "SIX_YEARS",
    "SEVEN_YEARS",
    "EIGHT_YEARS",
    "NINE_YEARS",
    "TEN_YEARS",
)


def _retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a validated number of days (config allows only these)."""
    return logs.RetentionDays[dict(zip(LOG_RETENTION_DAYS, _RETENTION_NAMES, strict=True))[days]]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
