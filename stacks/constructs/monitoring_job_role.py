"""The role the platform's monitoring Processing jobs run as (jobs/monitor_model.py), and nothing else does."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from platform_common import monitoring as contract
from stacks.compliance import acknowledge_each
from stacks.constructs.managed_mlflow import mlflow_api_statement
from stacks.constructs.ml_roles import image_pull_statements, s3_arn
from stacks.constructs.persona_roles import MLFLOW_EXPERIMENT_WRITE_ACTIONS, MLFLOW_READ_ACTIONS


class MonitoringJobRole(Construct):
    """Reads capture, labels, predictions, baselines and the published code; writes reports, metrics, MLflow runs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        data_bucket_name: str,
        artifact_bucket_name: str,
        key: kms.IKey,
        namespace: str,
        mlflow_arn: str,
        mlflow_kind: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="Runs the platform's model monitoring Processing jobs",
        )
        mon = contract.MONITORING_PREFIX
        # SageMaker writes a Processing job's output to /aws/sagemaker/ProcessingJobs, one stream per
        # job and instance (SageMaker Developer Guide, "Log Amazon SageMaker AI events with Amazon
        # CloudWatch", https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
        logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/ProcessingJobs",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        statements: list[tuple[iam.PolicyStatement, str | None]] = [
            (
                iam.PolicyStatement(
                    sid="ReadMonitoringInputs",
                    actions=["s3:GetObject"],
                    resources=[
                        s3_arn(data_bucket_name, f"/{mon}/*/capture/*"),
                        s3_arn(data_bucket_name, f"/{mon}/*/ground-truth/*"),
                        s3_arn(data_bucket_name, f"/{mon}/*/reports/{contract.WATERMARK_FILE}"),
                        s3_arn(data_bucket_name, f"/{contract.PREDICTIONS_PREFIX}/*"),
                    ],
                ),
                "Capture, labels and batch outputs are keyed per model under prefixes the job reads by time window.",
            ),
            (
                iam.PolicyStatement(
                    sid="ListMonitoringInputs",
                    actions=["s3:ListBucket"],
                    resources=[s3_arn(data_bucket_name)],
                    conditions={
                        "StringLike": {
                            "s3:prefix": [
                                f"{mon}/*/capture/*",
                                f"{mon}/*/ground-truth/*",
                                f"{contract.PREDICTIONS_PREFIX}/*",
                            ]
                        }
                    },
                ),
                None,
            ),
            (
                iam.PolicyStatement(
                    sid="WriteReports",
                    actions=["s3:PutObject"],
                    resources=[s3_arn(data_bucket_name, f"/{mon}/*/reports/*")],
                ),
                "Each run writes its report folder and the model's watermark under monitoring/<model>/reports/.",
            ),
            (
                iam.PolicyStatement(
                    sid="ReadBaselinesAndCode",
                    actions=["s3:GetObject"],
                    resources=[
                        s3_arn(artifact_bucket_name, f"/evidence/*/*/{contract.BASELINE_DIR}/*"),
                        s3_arn(artifact_bucket_name, f"/{contract.CODE_PREFIX}/*"),
                    ],
                ),
                "Baselines lie beside each execution's evidence; the job's code and wheelhouse are published per "
                "model under code/<model>/.",
            ),
            (
                iam.PolicyStatement(
                    sid="ListCode",
                    actions=["s3:ListBucket"],
                    resources=[s3_arn(artifact_bucket_name)],
                    conditions={"StringLike": {"s3:prefix": [f"{contract.CODE_PREFIX}/*"]}},
                ),
                None,
            ),
            (
                # The MLflow client uploads a run's artifacts straight to the artifact store with the
                # caller's own credentials (sagemaker-mlflow plugin).
                iam.PolicyStatement(
                    sid="WriteMlflowArtifacts",
                    actions=["s3:PutObject", "s3:GetObject"],
                    resources=[s3_arn(artifact_bucket_name, "/mlflow/*")],
                ),
                "MLflow names artifact keys per experiment and run.",
            ),
            (
                iam.PolicyStatement(
                    sid="UseKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    resources=[key.key_arn],
                ),
                None,
            ),
            (
                mlflow_api_statement(
                    sid="RecordRuns",
                    kind=mlflow_kind,
                    arn=mlflow_arn,
                    actions=MLFLOW_READ_ACTIONS + MLFLOW_EXPERIMENT_WRITE_ACTIONS,
                ),
                None,
            ),
            (
                # cloudwatch:namespace limits PutMetricData to one namespace (Amazon CloudWatch User
                # Guide, "Using condition keys to limit access to CloudWatch namespaces",
                # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
                iam.PolicyStatement(
                    sid="PublishMonitoringMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
                ),
                "cloudwatch:PutMetricData does not support resource-level permissions; limited to the platform's "
                "monitoring namespace.",
            ),
            *image_pull_statements(stack, "A custom processing image (processing.image_uri)"),
            (
                iam.PolicyStatement(
                    sid="JobLogs",
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[logs, f"{logs}:log-stream:*"],
                ),
                "Processing jobs write one log stream per job and instance, named at run time.",
            ),
        ]
        policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=role_name,
            statements=[statement for statement, _ in statements],
            roles=[self.role],
        )
        acknowledge_each(policy, statements)
