"""Service roles SageMaker assumes: one runs the pipelines, one serves the models."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.compliance import acknowledge_each
from stacks.constructs.managed_mlflow import mlflow_api_statement
from stacks.constructs.persona_roles import MLFLOW_EXPERIMENT_WRITE_ACTIONS, MLFLOW_READ_ACTIONS


def s3_arn(name: str, pattern: str = "") -> str:
    """The ARN of bucket `name`, or of its objects matching `pattern` (e.g. `/datasets/*`)."""
    return f"arn:{Aws.PARTITION}:s3:::{name}{pattern}"


def image_pull_statements(stack: Stack, custom_image: str) -> list[tuple[iam.PolicyStatement, str]]:
    """What a SageMaker job or endpoint role needs to pull its image, each with why it names `*`.

    `custom_image` says which configured image may live in one of this account's repositories.
    """
    return [
        (
            iam.PolicyStatement(sid="PullImages", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            "ecr:GetAuthorizationToken does not support resource-level permissions.",
        ),
        (
            iam.PolicyStatement(
                sid="PullImageLayers",
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[stack.format_arn(service="ecr", resource="repository", resource_name="*")],
            ),
            f"{custom_image} lives in a repository of this account named by the user; other accounts' "
            "repositories are not covered here.",
        ),
    ]


class MlServiceRoles(Construct):
    """The pipeline execution role and the model (inference) execution role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource_prefix: str,
        pipeline_role_name: str,
        model_role_name: str,
        data_bucket_name: str,
        datasets_prefix: str,
        artifact_bucket_name: str,
        key: kms.IKey,
        mlflow_arn: str,
        mlflow_kind: str,
        job_instance_types: Sequence[str] = (),
        package_versions: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        sagemaker_principal = iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
            {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
        )
        self.pipeline_role = iam.Role(
            self,
            "PipelineRole",
            role_name=pipeline_role_name,
            assumed_by=sagemaker_principal,
            description="Runs the platform's SageMaker pipelines and their jobs",
        )
        self.model_role = iam.Role(
            self,
            "ModelRole",
            role_name=model_role_name,
            assumed_by=sagemaker_principal,
            description="Serves approved model versions from SageMaker endpoints",
        )

        jobs = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
            for kind in ("processing-job", "training-job")
        ]
        logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        create_jobs = _create_jobs_statement(jobs, job_instance_types)
        pipeline_statements: list[tuple[iam.PolicyStatement, str | None]] = [
            *(
                [
                    (
                        create_jobs,
                        "SageMaker Pipelines names each step's job at run time, so the names are unknown at "
                        "synth; only the instance types the models are configured with.",
                    )
                ]
                if create_jobs
                else []
            ),
            (
                iam.PolicyStatement(
                    sid="RunJobs",
                    actions=[
                        "sagemaker:DescribeProcessingJob",
                        "sagemaker:StopProcessingJob",
                        "sagemaker:DescribeTrainingJob",
                        "sagemaker:StopTrainingJob",
                        "sagemaker:AddTags",
                    ],
                    resources=jobs,
                ),
                "SageMaker Pipelines names each step's job at run time, so the names are unknown at synth; limited "
                "to processing and training jobs.",
            ),
            (
                iam.PolicyStatement(
                    sid="PassSelfToJobs",
                    actions=["iam:PassRole"],
                    resources=[self.pipeline_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                ),
                None,
            ),
            (
                iam.PolicyStatement(
                    sid="ReadDatasets",
                    actions=["s3:GetObject", "s3:ListBucket"],
                    resources=[s3_arn(data_bucket_name), s3_arn(data_bucket_name, f"/{datasets_prefix}*")],
                ),
                "Training reads whichever data set under datasets/ triggered the run.",
            ),
            (
                iam.PolicyStatement(
                    sid="WritePipelineArtifacts",
                    actions=["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:AbortMultipartUpload"],
                    resources=[
                        s3_arn(artifact_bucket_name),
                        s3_arn(artifact_bucket_name, "/pipelines/*"),
                        s3_arn(artifact_bucket_name, "/mlflow/*"),
                        s3_arn(artifact_bucket_name, "/evidence/*"),
                    ],
                ),
                "Each run writes intermediate data, model artifacts, MLflow artifacts and its evidence report under "
                "per-run keys.",
            ),
            (
                iam.PolicyStatement(
                    sid="ReadModelCode", actions=["s3:GetObject"], resources=[s3_arn(artifact_bucket_name, "/code/*")]
                ),
                "Each model's scripts and source archive are published under code/<model>/ (make publish-code).",
            ),
            (
                iam.PolicyStatement(
                    sid="UseKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    resources=[key.key_arn],
                ),
                None,
            ),
            # Only when SageMaker asks on the role's behalf (VolumeKmsKeyId of the jobs), never directly:
            # AWS KMS Developer Guide, "AWS KMS condition keys", kms:GrantIsForAWSResource
            # (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html).
            (
                iam.PolicyStatement(
                    sid="GrantKeyToJobs",
                    actions=["kms:CreateGrant"],
                    resources=[key.key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
                ),
                None,
            ),
            (
                mlflow_api_statement(
                    sid="TrackExperiments",
                    kind=mlflow_kind,
                    arn=mlflow_arn,
                    actions=MLFLOW_READ_ACTIONS + MLFLOW_EXPERIMENT_WRITE_ACTIONS,
                ),
                None,
            ),
            *image_pull_statements(
                stack, "A custom training or processing image (training.image_uri, processing.image_uri)"
            ),
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
                "SageMaker jobs write to log streams named per job under /aws/sagemaker/.",
            ),
            (
                iam.PolicyStatement(
                    sid="JobMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
                ),
                "cloudwatch:PutMetricData does not support resource-level permissions; limited to SageMaker namespaces.",
            ),
        ]
        if package_versions:
            # The Register step records the execution and its evidence on the package automatic
            # registration made for the new version (CustomerMetadataProperties; packages take no tags:
            # SageMaker Developer Guide, "Amazon SageMaker Model Registry FAQ"). The versions are
            # `registered_package_names`: one pattern for a tracking server's known suffix, so the
            # policy does not grow with the models (tests/contracts/test_policy_sizes.py).
            link = iam.PolicyStatement(
                sid="RecordExecutionOnPackages",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="model-package", resource_name=name)
                    for name in package_versions
                ],
            )
            why = "Automatic registration numbers each model's package versions (<model>-<suffix>/<n>)."
            pipeline_statements.append((link, why))
        self._attach(self.pipeline_role, "PipelinePolicy", f"{resource_prefix}-pipeline-execution", pipeline_statements)

        model_statements: list[tuple[iam.PolicyStatement, str | None]] = [
            (
                iam.PolicyStatement(
                    sid="ReadModelArtifacts",
                    actions=["s3:GetObject"],
                    resources=[s3_arn(artifact_bucket_name, "/pipelines/*"), s3_arn(artifact_bucket_name, "/mlflow/*")],
                ),
                "Model artifacts are stored under per-run keys written by the pipelines and MLflow.",
            ),
            (
                iam.PolicyStatement(
                    sid="DecryptArtifacts", actions=["kms:Decrypt", "kms:DescribeKey"], resources=[key.key_arn]
                ),
                None,
            ),
            # Endpoint data capture is written to S3 on the endpoint's behalf with the model's
            # execution role, encrypted with DataCaptureConfig.KmsKeyId (SageMaker API Reference,
            # "DataCaptureConfig"; SageMaker Developer Guide, "Capture data from real-time endpoint",
            # https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html).
            # SSE-KMS uploads need kms:GenerateDataKey (Amazon S3 User Guide, "Using server-side
            # encryption with AWS KMS keys (SSE-KMS)",
            # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
            (
                iam.PolicyStatement(
                    sid="WriteDataCapture",
                    actions=["s3:PutObject"],
                    resources=[s3_arn(data_bucket_name, "/monitoring/*/capture/*")],
                ),
                "Data capture writes under monitoring/<model>/capture/ with keys SageMaker chooses (endpoint, "
                "variant, date and hour).",
            ),
            (
                iam.PolicyStatement(
                    sid="EncryptDataCapture", actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[key.key_arn]
                ),
                None,
            ),
            *image_pull_statements(stack, "A custom inference image"),
            (
                iam.PolicyStatement(
                    sid="EndpointLogs",
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[logs, f"{logs}:log-stream:*"],
                ),
                "Endpoints write to log streams named per variant and instance under /aws/sagemaker/.",
            ),
            (
                iam.PolicyStatement(
                    sid="EndpointMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
                ),
                "cloudwatch:PutMetricData does not support resource-level permissions; limited to SageMaker namespaces.",
            ),
        ]
        self._attach(self.model_role, "ModelPolicy", f"{resource_prefix}-model-execution", model_statements)

    def _attach(
        self, role: iam.Role, construct_id: str, name: str, statements: list[tuple[iam.PolicyStatement, str | None]]
    ) -> None:
        policy = iam.ManagedPolicy(
            self, construct_id, managed_policy_name=name, statements=[s for s, _ in statements], roles=[role]
        )
        acknowledge_each(policy, statements)


def _create_jobs_statement(jobs: list[str], instance_types: Sequence[str]) -> iam.PolicyStatement | None:
    """Create the pipelines' jobs, on the configured instance types only (none without models).

    Whoever starts a pipeline execution may pass other instance types as parameters, and
    StartPipelineExecution has no condition key on parameter values; CreateTrainingJob and
    CreateProcessingJob carry `sagemaker:InstanceTypes` (Service Authorization Reference,
    "Actions, resources, and condition keys for Amazon SageMaker AI",
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html;
    SageMaker Developer Guide, "Amazon SageMaker AI identity-based policy examples",
    https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html),
    so the pipeline role itself refuses a job on any other type.
    """
    if not instance_types:
        return None
    return iam.PolicyStatement(
        sid="CreateJobsOnConfiguredInstances",
        actions=["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob"],
        resources=jobs,
        conditions={"ForAllValues:StringEquals": {"sagemaker:InstanceTypes": sorted(set(instance_types))}},
    )
