"""IAM roles for the people who use the platform, each written against the actual resources.

DataScientist: experiments, runs, artifacts, data sets, ground truth and monitoring reports,
starting retraining.
MLOpsEngineer: approvals, endpoints, pipelines, monitoring jobs, tracking-server operations.
Auditor: read only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from platform_common import domain_events
from platform_common import monitoring as contract
from platform_common.monitoring import INFERENCE_PREFIX, PREDICTIONS_PREFIX
from platform_common.promotion_request import PROMOTION_REQUESTED
from stacks.compliance import acknowledge_by_sid
from stacks.constructs.managed_mlflow import mlflow_api_statement, model_key_prefixes, registered_package_names

# MLflow data-plane actions (service prefix sagemaker-mlflow), grouped by intent.
MLFLOW_READ_ACTIONS = [
    "sagemaker-mlflow:AccessUI",
    "sagemaker-mlflow:SearchExperiments",
    "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:GetMetricHistory",
    "sagemaker-mlflow:ListArtifacts",
    "sagemaker-mlflow:GetRegisteredModel",
    "sagemaker-mlflow:SearchRegisteredModels",
    "sagemaker-mlflow:GetLatestModelVersions",
    "sagemaker-mlflow:GetModelVersion",
    "sagemaker-mlflow:SearchModelVersions",
    "sagemaker-mlflow:GetModelVersionByAlias",
    "sagemaker-mlflow:GetDownloadURIForModelVersionArtifacts",
    "sagemaker-mlflow:SearchLoggedModels",
    "sagemaker-mlflow:GetLoggedModel",
    "sagemaker-mlflow:ListLoggedModelArtifacts",
]
MLFLOW_EXPERIMENT_WRITE_ACTIONS = [
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:UpdateExperiment",
    "sagemaker-mlflow:SetExperimentTag",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:UpdateRun",
    "sagemaker-mlflow:LogMetric",
    "sagemaker-mlflow:LogParam",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogModel",
    "sagemaker-mlflow:LogInputs",
    "sagemaker-mlflow:LogOutputs",
    "sagemaker-mlflow:SetTag",
    "sagemaker-mlflow:DeleteTag",
    "sagemaker-mlflow:CreateRegisteredModel",
    "sagemaker-mlflow:UpdateRegisteredModel",
    "sagemaker-mlflow:SetRegisteredModelTag",
    "sagemaker-mlflow:CreateModelVersion",
    "sagemaker-mlflow:UpdateModelVersion",
    "sagemaker-mlflow:SetModelVersionTag",
    "sagemaker-mlflow:LogLoggedModelParams",
    "sagemaker-mlflow:FinalizeLoggedModel",
    "sagemaker-mlflow:SetLoggedModelTags",
]
# Moving an alias (champion, challenger) changes what production serves: MLOps only.
MLFLOW_ALIAS_ACTIONS = [
    "sagemaker-mlflow:SetRegisteredModelAlias",
    "sagemaker-mlflow:DeleteRegisteredModelAlias",
]
SAGEMAKER_READ_ACTIONS = [
    "sagemaker:Describe*",
    "sagemaker:List*",
    "sagemaker:Search",
    "sagemaker:GetSearchSuggestions",
]
LOG_READ_ACTIONS = [
    "logs:DescribeLogStreams",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
    "logs:GetQueryResults",
]
MONITORING_READ_ACTIONS = [
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListDashboards",
]


# Why each statement that uses a wildcard needs it (keyed by statement id). Which actions support
# resource-level permissions is from the Service Authorization Reference
# (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html),
# the pages of SageMaker, CloudWatch, CloudTrail and EventBridge.
WILDCARD_REASONS = {
    "SageMakerRead": "SageMaker's List* and Search calls support no resource-level permissions; Describe* is "
    "granted account-wide because jobs, executions and package versions are named at run time; read-only.",
    "MonitoringRead": "Metrics are read by namespace, not as resources the platform owns, and GetMetricStatistics "
    "and ListDashboards support no resource-level permissions; alarms and dashboards are read account-wide so the "
    "platform's alarms can be seen beside the account's own; read-only.",
    "CloudTrailRead": "LookupEvents and DescribeTrails support no resource-level permissions, and the trail whose "
    "status is read belongs to the account or organisation, not to the platform; read-only.",
    "EventsRead": "ListRules and ListArchives support no resource-level permissions; rules and buses are described "
    "account-wide so auditors also see rules that are not the platform's; read-only.",
    "LogGroupsList": "logs:DescribeLogGroups is authorized against the account's log-group list, not a named "
    "log group; it returns names and settings only, never log events.",
    "LogsRead": "Read access to the log groups of SageMaker jobs and of this environment's functions, "
    "whose names are only known by prefix.",
    "DatasetsReadWrite": "Data sets live under datasets/<model>/ and models are added over time; scoped to that prefix.",
    "BatchInputsWrite": "Batch inputs are files under inference/<model>/, named by whoever drops them; put only. "
    "Beyond the models named one by one in policies, inference/ as a whole, so the policy fits IAM's size quota.",
    "PredictionsRead": "Predictions are written per transform job under predictions/<model>/<job>/; read-only.",
    "BatchTransformOperations": "Transform jobs are named per run at run time (<prefix>-<env>-<model>-b<time>-<hash>, "
    "shortened with a hash for long names); scoped to this environment's prefix.",
    "DatasetsRead": "Read-only access to every model's data sets under the datasets/ prefix.",
    "MlflowArtifactsRead": "MLflow writes artifacts under per-run keys below mlflow/; read-only.",
    "MlflowArtifactsWrite": "The MLflow client uploads each artifact straight to S3 under a per-run or per-model key "
    "below this server's artifact root; write only, no delete.",
    "PipelineOperations": "Pipelines and their executions are created per model; scoped to this environment's prefix.",
    "ServingResources": "Models, endpoint configs and endpoints are named per model version by the deployer; "
    "scoped to this environment's prefix.",
    "GroundTruthWrite": "Labels are delivered under monitoring/<model>/ground-truth/ and models are added over "
    "time; put only, and writes to capture/ and reports/ are denied by MonitoringOutputsProtected.",
    "MonitoringReportsRead": "The monitoring job writes one report folder per run under monitoring/<model>/reports/; "
    "read-only.",
    "MonitoringJobs": "Monitoring Processing jobs are named per model and window end at run time, all under "
    "<prefix>-<env>-monitor-; the instance types are the configured ones.",
    "FindReplayRules": "events:ListRules supports no resource-level permissions; it lists rule names and patterns "
    "only, so the replay command can name the platform bus's rules; read-only.",
    "WatchReplays": "Replays are named by the replay command at run time (<prefix>-<env>-replay-<time>); scoped to "
    "this environment's prefix.",
    "ModelApproval": "MLflow automatic registration creates a package group <model>-<suffix of this server> per "
    "model and numbers its versions; scoped to this server's suffix, or for an MLflow App (suffix unknown until it "
    "exists) to each configured model's groups with a six-character suffix.",
}


@dataclass(frozen=True)
class PlatformResources:
    """What the persona policies are written against."""

    resource_prefix: str
    data_bucket_name: str
    artifact_bucket_name: str
    datasets_prefix: str
    mlflow_artifacts_prefix: str
    # This server's own artifact root (`<mlflow_artifacts_prefix>/<server name>`).
    mlflow_artifact_root: str
    key: kms.IKey
    mlflow_arn: str
    mlflow_kind: str
    platform_bus: events.IEventBus | None = None
    # Suffix of the package groups MLflow registers into (known for a tracking server; None for
    # an App, whose ID is assigned at creation).
    package_group_suffix: str | None = None
    # The configured models: an App's grants on packages name each of them.
    model_names: tuple[str, ...] = ()
    # The models with batch transform: data scientists drop their inputs, engineers run their jobs.
    batch_model_names: tuple[str, ...] = ()
    model_execution_role: iam.IRole | None = None
    # A consuming environment of a delivery configuration: its MLOpsEngineer records promotions.
    promotion_requests: bool = False
    # The platform's monitoring (None without a platform-monitored model): the name prefix of its
    # Processing jobs, the role they run as and the instance types they may use.
    monitoring_job_prefix: str | None = None
    monitoring_job_role: iam.IRole | None = None
    monitoring_instance_types: tuple[str, ...] = ()
    # What redrive and replay (tools/redrive.py, tools/replay.py) touch: the dead-letter queues
    # and the key that encrypts them, the handlers' function names, the bus's archive.
    automation_key: kms.IKey | None = None
    dead_letter_queue_names: tuple[str, ...] = ()
    function_names: tuple[str, ...] = ()
    archive_name: str | None = None


def _bucket(name: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{name}"


def _objects(name: str, pattern: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{name}/{pattern}"


class PersonaRoles(Construct):
    """The DataScientist, MLOpsEngineer and Auditor roles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resources: PlatformResources,
        trusted_principals: Sequence[str],
        max_session_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._r = resources
        self._stack = Stack.of(self)
        principal = self._principal(trusted_principals)

        def role(name: str, description: str) -> iam.Role:
            return iam.Role(
                self,
                name,
                role_name=f"{resources.resource_prefix}-{name}",
                assumed_by=principal,
                description=description,
                max_session_duration=Duration.hours(max_session_hours),
            )

        self.data_scientist = role("DataScientist", "Experiments, runs, artifacts, data sets and retraining")
        self.mlops_engineer = role("MLOpsEngineer", "Approvals, endpoints, pipelines and platform operations")
        self.auditor = role("Auditor", "Read-only view of the platform and its audit trail")

        self._attach(self.data_scientist, self._data_scientist_statements())
        self._attach(self.mlops_engineer, self._mlops_engineer_statements())
        # A policy of its own: with an MLflow App and 20 named models the engineer's first policy
        # is near IAM's 6,144-character limit for a managed policy. Running the platform's batch
        # transforms and monitoring jobs by hand is operations too, and with both features the
        # first policy would pass the limit (tests/contracts/test_policy_sizes.py).
        operations = [*self._batch_operations(), *self._monitoring_job_statements(), *self._operations()]
        if operations:
            self._attach(self.mlops_engineer, operations, purpose="Operations")
        self._attach(self.auditor, self._auditor_statements())

    def _attach(self, role: iam.Role, statements: list[iam.PolicyStatement], purpose: str = "") -> None:
        """A customer-managed policy of the persona, with each wildcard acknowledged by its reason."""
        suffix = f"-{purpose.lower()}" if purpose else ""
        policy = iam.ManagedPolicy(
            self,
            f"{role.node.id}{purpose}Policy",
            managed_policy_name=f"{self._r.resource_prefix}-{role.node.id}{suffix}",
            statements=statements,
            roles=[role],
        )
        acknowledge_by_sid(policy, statements, WILDCARD_REASONS)

    @staticmethod
    def _principal(trusted: Sequence[str]) -> iam.IPrincipal:
        if not trusted:
            return iam.AccountRootPrincipal()
        principals: list[iam.IPrincipal] = [
            iam.AccountPrincipal(p) if p.isdigit() else iam.ArnPrincipal(p) for p in trusted
        ]
        return iam.CompositePrincipal(*principals)

    def _arn(self, resource: str, name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    @property
    def _owned(self) -> str:
        """Name pattern of SageMaker resources the platform creates (`<prefix>-<env>-*`)."""
        return f"{self._r.resource_prefix}-*"

    def _packages_of_this_platform(self) -> list[str]:
        """ARNs of the package versions this environment's MLflow registers (none for an App without models)."""
        names = registered_package_names(self._r.model_names, self._r.package_group_suffix)
        return [self._arn("model-package", name) for name in names]

    def _pipelines(self) -> str:
        return self._arn("pipeline", self._owned)

    def _mlflow_resource(self) -> str:
        return self._r.mlflow_arn

    def _mlflow_api(self, sid: str, actions: list[str]) -> iam.PolicyStatement:
        return mlflow_api_statement(sid=sid, kind=self._r.mlflow_kind, arn=self._mlflow_resource(), actions=actions)

    def _ui_url_statement(self) -> iam.PolicyStatement:
        action = (
            "sagemaker:CreatePresignedMlflowTrackingServerUrl"
            if self._r.mlflow_kind == "tracking-server"
            else "sagemaker:CreatePresignedMlflowAppUrl"
        )
        return iam.PolicyStatement(sid="MlflowUiUrl", actions=[action], resources=[self._mlflow_resource()])

    def _key_use(self, sid: str, actions: list[str]) -> iam.PolicyStatement:
        # Only through S3: holding the role is no licence to decrypt anything else with the key.
        return iam.PolicyStatement(
            sid=sid,
            actions=actions,
            resources=[self._r.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
        )

    def _common_read(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(sid="SageMakerRead", actions=SAGEMAKER_READ_ACTIONS, resources=["*"]),
            iam.PolicyStatement(
                sid="LogGroupsList",
                actions=["logs:DescribeLogGroups"],
                resources=[
                    self._stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="LogsRead",
                actions=LOG_READ_ACTIONS,
                resources=[
                    self._stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                    self._stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/{self._r.resource_prefix}/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                    self._stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/aws/lambda/{self._r.resource_prefix}-*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                ],
            ),
        ]

    def _retraining_request(self) -> list[iam.PolicyStatement]:
        if self._r.platform_bus is None:
            return []
        return [
            iam.PolicyStatement(
                sid="RequestRetraining",
                actions=["events:PutEvents"],
                resources=[self._r.platform_bus.event_bus_arn],
                conditions={
                    "StringEquals": {"events:detail-type": "RetrainingRequested", "events:source": "mlops.platform"}
                },
            )
        ]

    def _promotion_request(self) -> list[iam.PolicyStatement]:
        # PutEvents is authorised per entry on events:source and events:detail-type (EventBridge User
        # Guide, "Using IAM policy conditions in Amazon EventBridge",
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html: "To grant access
        # to specific sources and types of events, use the events:source and events:detail-type condition keys").
        if self._r.platform_bus is None or not self._r.promotion_requests:
            return []
        return [
            iam.PolicyStatement(
                sid="RecordPromotion",
                actions=["events:PutEvents"],
                resources=[self._r.platform_bus.event_bus_arn],
                conditions={
                    "StringEquals": {"events:detail-type": PROMOTION_REQUESTED, "events:source": domain_events.SOURCE}
                },
            )
        ]

    def _data_scientist_statements(self) -> list[iam.PolicyStatement]:
        r = self._r
        datasets = r.datasets_prefix
        return [
            self._mlflow_api("MlflowExperiments", MLFLOW_READ_ACTIONS + MLFLOW_EXPERIMENT_WRITE_ACTIONS),
            self._ui_url_statement(),
            iam.PolicyStatement(
                sid="DatasetsReadWrite",
                actions=["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[_objects(r.data_bucket_name, f"{datasets}*")],
            ),
            iam.PolicyStatement(
                sid="DatasetsList",
                actions=["s3:ListBucket"],
                resources=[_bucket(r.data_bucket_name)],
                conditions={"StringLike": {"s3:prefix": [datasets, f"{datasets}*"]}},
            ),
            iam.PolicyStatement(
                sid="MlflowArtifactsRead",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[_objects(r.artifact_bucket_name, f"{r.mlflow_artifacts_prefix}/*")],
            ),
            # AWS's sagemaker-mlflow plugin uploads artifacts (log_artifact, log_figure, log_model)
            # straight to S3 with the caller's own credentials unless presigned uploads are
            # switched on (sagemaker_mlflow/s3_presigned_artifact_repo.py: without
            # SAGEMAKER_PRESIGNED_URL_UPLOAD_ENABLED=true it is MLflow's S3ArtifactRepository).
            # Put and multipart only, on this server's root: nothing can be deleted, and as the
            # bucket is versioned, an overwritten artifact keeps its earlier version. MLflow
            # keys name no user (<experiment>/<run>/artifacts/...), so a scientist's writes
            # cannot be narrowed to their own runs.
            iam.PolicyStatement(
                sid="MlflowArtifactsWrite",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[_objects(r.artifact_bucket_name, f"{r.mlflow_artifact_root}/*")],
            ),
            iam.PolicyStatement(
                sid="MlflowArtifactsList", actions=["s3:ListBucket"], resources=[_bucket(r.artifact_bucket_name)]
            ),
            # Uploads to the SSE-KMS bucket need GenerateDataKey; multipart uploads Decrypt too.
            self._key_use("KeyUseThroughS3", ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]),
            *self._monitoring_data_statements(),
            # Retraining is requested through the platform bus, never by starting a pipeline directly:
            # StartPipelineExecution has no condition key on parameter values (Service Authorization
            # Reference, Amazon SageMaker: only sagemaker:PipelineVersionId and resource tags), so a
            # direct start could choose instances, threshold and input. The trigger bounds requests.
            *self._retraining_request(),
            *self._batch_data(),
            *self._common_read(),
        ]

    def _batch_data(self) -> list[iam.PolicyStatement]:
        """Drop batch inputs under inference/<model>/ (put only, no delete) and read every prediction."""
        r = self._r
        if not r.batch_model_names:
            return []
        # Each batch model's folder while the models are few; beyond that, inference/ as a whole.
        inputs = model_key_prefixes(INFERENCE_PREFIX, r.batch_model_names)
        return [
            iam.PolicyStatement(
                sid="BatchInputsWrite",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[_objects(r.data_bucket_name, f"{folder}*") for folder in inputs],
            ),
            iam.PolicyStatement(
                sid="PredictionsRead",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[_objects(r.data_bucket_name, f"{PREDICTIONS_PREFIX}/*")],
            ),
            iam.PolicyStatement(
                sid="BatchList",
                actions=["s3:ListBucket"],
                resources=[_bucket(r.data_bucket_name)],
                conditions={"StringLike": {"s3:prefix": [f"{INFERENCE_PREFIX}/*", f"{PREDICTIONS_PREFIX}/*"]}},
            ),
        ]

    def _batch_operations(self) -> list[iam.PolicyStatement]:
        """Start, stop and describe the environment's transform jobs (named <prefix>-<env>-<model>-b...)."""
        if not self._r.batch_model_names:
            return []
        return [
            iam.PolicyStatement(
                sid="BatchTransformOperations",
                actions=[
                    "sagemaker:CreateTransformJob",
                    "sagemaker:StopTransformJob",
                    "sagemaker:DescribeTransformJob",
                    "sagemaker:AddTags",
                ],
                resources=[self._arn("transform-job", self._owned)],
            )
        ]

    def _mlops_engineer_statements(self) -> list[iam.PolicyStatement]:
        r = self._r
        packages = self._packages_of_this_platform()
        approval = [
            iam.PolicyStatement(sid="ModelApproval", actions=["sagemaker:UpdateModelPackage"], resources=packages)
        ]
        statements = [
            *(approval if packages else []),
            iam.PolicyStatement(
                sid="ServingResources",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:AddTags",
                ],
                resources=[
                    self._arn("model", self._owned),
                    self._arn("endpoint-config", self._owned),
                    self._arn("endpoint", self._owned),
                ],
            ),
            # Run, stop and retry only. The model stacks own the pipeline definitions, so nobody
            # updates them by hand; renaming an execution (UpdatePipelineExecution) would hide a
            # redelivered event from the trigger, which matches the display name's event hash; and
            # the pipelines have no callback steps to report outcomes for.
            iam.PolicyStatement(
                sid="PipelineOperations",
                actions=[
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:StopPipelineExecution",
                    "sagemaker:RetryPipelineExecution",
                ],
                resources=[self._pipelines(), f"{self._pipelines()}/execution/*"],
            ),
            iam.PolicyStatement(
                sid="TrackingServerOperations",
                actions=[
                    "sagemaker:StartMlflowTrackingServer",
                    "sagemaker:StopMlflowTrackingServer",
                    "sagemaker:UpdateMlflowTrackingServer",
                    "sagemaker:UpdateMlflowApp",
                ],
                resources=[self._mlflow_resource()],
            ),
            self._ui_url_statement(),
            self._mlflow_api(
                "MlflowReadAndAliases",
                MLFLOW_READ_ACTIONS + MLFLOW_ALIAS_ACTIONS + ["sagemaker-mlflow:SetModelVersionTag"],
            ),
            iam.PolicyStatement(
                sid="DatasetsRead",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[_objects(r.data_bucket_name, f"{r.datasets_prefix}*")],
            ),
            iam.PolicyStatement(
                sid="BucketsList",
                actions=["s3:ListBucket"],
                resources=[_bucket(r.data_bucket_name), _bucket(r.artifact_bucket_name)],
            ),
            iam.PolicyStatement(
                sid="MlflowArtifactsRead",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[_objects(r.artifact_bucket_name, f"{r.mlflow_artifacts_prefix}/*")],
            ),
            self._key_use("KeyDecryptThroughS3", ["kms:Decrypt", "kms:DescribeKey"]),
            iam.PolicyStatement(sid="MonitoringRead", actions=MONITORING_READ_ACTIONS, resources=["*"]),
            *self._retraining_request(),
            *self._promotion_request(),
            *self._common_read(),
        ]
        # CreateModel names the model execution role, and a monitoring run started by hand the
        # monitoring job role: both are passed to SageMaker only.
        passed = [role.role_arn for role in (r.model_execution_role, r.monitoring_job_role) if role is not None]
        if passed:
            statements.append(
                iam.PolicyStatement(
                    sid="PassJobRolesToSageMaker",
                    actions=["iam:PassRole"],
                    resources=passed,
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                )
            )
        return statements

    def _monitoring_data_statements(self) -> list[iam.PolicyStatement]:
        """Deliver ground truth and read monitoring reports; capture and reports stay the job's to write."""
        r = self._r
        if r.monitoring_job_prefix is None:
            return []
        bucket = r.data_bucket_name
        models = f"{contract.MONITORING_PREFIX}/*"
        ground_truth = contract.ground_truth_prefix("*")
        reports = contract.reports_prefix("*")
        return [
            iam.PolicyStatement(
                sid="GroundTruthWrite",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[_objects(bucket, f"{ground_truth}*")],
            ),
            iam.PolicyStatement(
                sid="MonitoringReportsRead",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[_objects(bucket, f"{reports}*")],
            ),
            iam.PolicyStatement(
                sid="MonitoringList",
                actions=["s3:ListBucket"],
                resources=[_bucket(bucket)],
                conditions={"StringLike": {"s3:prefix": [f"{contract.MONITORING_PREFIX}/", models]}},
            ),
            # In an S3 ARN "*" also matches "/", so the ground-truth grant alone would admit
            # monitoring/<model>/capture/ground-truth/...: which the job reads as capture. An
            # explicit deny keeps capture (written by SageMaker) and reports (by the job) out of reach.
            iam.PolicyStatement(
                sid="MonitoringOutputsProtected",
                effect=iam.Effect.DENY,
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                resources=[
                    _objects(bucket, f"{contract.capture_prefix('*')}*"),
                    _objects(bucket, f"{reports}*"),
                ],
            ),
        ]

    def _monitoring_job_statements(self) -> list[iam.PolicyStatement]:
        """Start (as the launcher does), stop and describe the platform's monitoring jobs, by name."""
        r = self._r
        if r.monitoring_job_prefix is None or r.monitoring_job_role is None:
            return []
        jobs = self._arn("processing-job", f"{r.monitoring_job_prefix}*")
        # CreateProcessingJob carries sagemaker:InstanceTypes (Service Authorization Reference,
        # "Actions, resources, and condition keys for Amazon SageMaker AI",
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html),
        # so a run started by hand uses the instance types the models configure, as the launcher's
        # do. StopProcessingJob carries no such key, and "the ForAllValues set operator also returns
        # true if there are no context keys in the request" (IAM User Guide, "Multivalued context key
        # examples", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html),
        # so one statement holds both: the MLOpsEngineer's policy is near IAM's 6,144-character quota
        # at the most models named one by one. DescribeProcessingJob is granted by SageMakerRead.
        return [
            iam.PolicyStatement(
                sid="MonitoringJobs",
                actions=["sagemaker:CreateProcessingJob", "sagemaker:AddTags", "sagemaker:StopProcessingJob"],
                resources=[jobs],
                conditions={
                    "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": list(r.monitoring_instance_types)}
                },
            ),
        ]

    def _operations(self) -> list[iam.PolicyStatement]:
        """Redrive what the dead-letter queues hold and replay the archive, on the platform's own names only."""
        r = self._r
        statements = []
        if r.dead_letter_queue_names and r.automation_key is not None:
            queues = [
                self._stack.format_arn(service="sqs", resource=name, arn_format=ArnFormat.NO_RESOURCE_NAME)
                for name in r.dead_letter_queue_names
            ]
            statements.append(
                iam.PolicyStatement(
                    sid="DeadLettersReceiveAndDelete",
                    actions=[
                        "sqs:GetQueueUrl",
                        "sqs:GetQueueAttributes",
                        "sqs:ReceiveMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:DeleteMessage",
                    ],
                    resources=queues,
                )
            )
            # Receiving from a queue encrypted with a customer managed key needs kms:Decrypt on it
            # (Amazon SQS Developer Guide, "Amazon SQS key management"); only through SQS.
            statements.append(
                iam.PolicyStatement(
                    sid="DeadLettersDecrypt",
                    actions=["kms:Decrypt"],
                    resources=[r.automation_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com"}},
                )
            )
        if r.function_names:
            functions = [
                self._stack.format_arn(
                    service="lambda", resource="function", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
                )
                for name in r.function_names
            ]
            statements.append(
                iam.PolicyStatement(sid="RedriveToHandlers", actions=["lambda:InvokeFunction"], resources=functions)
            )
        if r.archive_name is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="ReplayArchive",
                    actions=["events:StartReplay", "events:DescribeArchive"],
                    resources=[
                        self._stack.format_arn(service="events", resource="archive", resource_name=r.archive_name)
                    ],
                )
            )
            # The replay command looks the platform bus's rules up by name to fill FilterArns.
            statements.append(iam.PolicyStatement(sid="FindReplayRules", actions=["events:ListRules"], resources=["*"]))
            statements.append(
                iam.PolicyStatement(
                    sid="WatchReplays",
                    actions=["events:DescribeReplay", "events:CancelReplay"],
                    resources=[self._stack.format_arn(service="events", resource="replay", resource_name=self._owned)],
                )
            )
        return statements

    def _auditor_statements(self) -> list[iam.PolicyStatement]:
        r = self._r
        # An App authorises every MLflow call, deletes included, with one action: granting it would
        # end the Auditor's read-only guarantee, so with an App the Auditor reads through the UI URL.
        mlflow_read = (
            [iam.PolicyStatement(sid="MlflowRead", actions=MLFLOW_READ_ACTIONS, resources=[self._mlflow_resource()])]
            if r.mlflow_kind == "tracking-server"
            else []
        )
        return [
            *mlflow_read,
            self._ui_url_statement(),
            iam.PolicyStatement(
                sid="CloudTrailRead",
                actions=["cloudtrail:LookupEvents", "cloudtrail:GetTrailStatus", "cloudtrail:DescribeTrails"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="BucketConfigurationRead",
                actions=[
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketVersioning",
                    "s3:GetEncryptionConfiguration",
                    "s3:GetBucketLogging",
                    "s3:GetLifecycleConfiguration",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketNotification",
                ],
                resources=[_bucket(r.data_bucket_name), _bucket(r.artifact_bucket_name)],
            ),
            iam.PolicyStatement(
                sid="KeyRead",
                actions=["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:GetKeyPolicy"],
                resources=[r.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="EventsRead",
                actions=[
                    "events:DescribeRule",
                    "events:ListRules",
                    "events:ListTargetsByRule",
                    "events:DescribeEventBus",
                    "events:DescribeArchive",
                    "events:ListArchives",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(sid="MonitoringRead", actions=MONITORING_READ_ACTIONS, resources=["*"]),
            *self._common_read(),
        ]
