"""Batch transform serving: the launcher's permissions and routes, and what the jobs may touch.

Built only in an environment where a model has batch transform (`models[].serving: batch` or a
`batch` block beside an endpoint), so an environment without one synthesizes as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from platform_common.monitoring import BATCH_MANIFEST_PREFIX, INFERENCE_PREFIX, PREDICTIONS_PREFIX
from stacks.compliance import acknowledge_wildcards
from stacks.constructs.managed_mlflow import model_key_prefixes
from stacks.constructs.platform_functions import PlatformFunction


def grant_launcher(
    launcher: PlatformFunction,
    *,
    resource_prefix: str,
    model_role: iam.IRole,
    data_key: kms.IKey,
    data_bucket_name: str,
    models: Sequence[str],
    packages: Sequence[str],
    instance_types: Sequence[str],
    endpoint_champions: bool,
) -> None:
    """What the launcher needs: find the champion, list new inputs, write manifests, start and read jobs."""
    stack = Stack.of(launcher)
    _grant_inputs(launcher, data_bucket_name=data_bucket_name, models=models, data_key=data_key)
    models = stack.format_arn(service="sagemaker", resource="model", resource_name=f"{resource_prefix}-*")
    jobs = stack.format_arn(service="sagemaker", resource="transform-job", resource_name=f"{resource_prefix}-*")
    launcher.allow(
        iam.PolicyStatement(
            sid="CreateChampionModels",
            actions=["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags"],
            resources=[models],
        ),
        "Models are named per model version (<prefix>-<env>-<model>-v<n>), as the deployer names them.",
    )
    # Limits the instance types to the configured ones where CreateTransformJob carries
    # sagemaker:InstanceTypes (Service Authorization Reference, "Actions, resources, and condition
    # keys for Amazon SageMaker AI",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html;
    # not confirmed for this action). ForAllValues is true when the key is absent, so the grant
    # works either way: at worst the limit does not apply.
    launcher.allow(
        iam.PolicyStatement(
            sid="StartTransformJobs",
            actions=["sagemaker:CreateTransformJob"],
            resources=[jobs],
            conditions={"ForAllValues:StringEquals": {"sagemaker:InstanceTypes": sorted(set(instance_types))}},
        ),
        "Transform jobs are named per run at run time (<prefix>-<env>-<model>-b<time>-<hash>).",
    )
    launcher.allow(
        iam.PolicyStatement(
            sid="ReadTransformJobs",
            actions=["sagemaker:DescribeTransformJob", "sagemaker:AddTags"],
            resources=[jobs],
        ),
        "Transform jobs are named per run at run time (<prefix>-<env>-<model>-b<time>-<hash>).",
    )
    if packages:
        launcher.allow(
            iam.PolicyStatement(
                sid="ReadChampionPackages", actions=["sagemaker:DescribeModelPackage"], resources=list(packages)
            ),
            "Model package versions are created by MLflow automatic registration, numbered per model group.",
        )
    launcher.allow(
        iam.PolicyStatement(
            sid="PassModelRole",
            actions=["iam:PassRole"],
            resources=[model_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    # SageMaker creates a grant on the caller's behalf for the job's volume and output key.
    launcher.allow(
        iam.PolicyStatement(
            sid="GrantKeyToTransformJobs",
            actions=["kms:CreateGrant", "kms:DescribeKey"],
            resources=[data_key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
        )
    )
    if endpoint_champions:
        # A model with an endpoint and batch transform: its champion is the package the deployer
        # tagged on the endpoint (`platform_common.champion_record`).
        launcher.allow(
            iam.PolicyStatement(
                sid="ReadEndpointChampions",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:ListTags"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint", resource_name=f"{resource_prefix}-*")
                ],
            ),
            "Endpoints are named per model (<prefix>-<env>-<model>); limited to this environment's.",
        )


def _grant_inputs(
    launcher: PlatformFunction, *, data_bucket_name: str, models: Sequence[str], data_key: kms.IKey
) -> None:
    """List each batch model's inputs and write its manifests: nothing else in the data bucket."""
    bucket = f"arn:{Aws.PARTITION}:s3:::{data_bucket_name}"
    # Per model while the models are few; beyond that, the inputs and manifests folders as a whole.
    inputs = model_key_prefixes(INFERENCE_PREFIX, models)
    manifests = model_key_prefixes(BATCH_MANIFEST_PREFIX, models)
    launcher.allow(
        iam.PolicyStatement(
            sid="ListBatchInputs",
            actions=["s3:ListBucket"],
            resources=[bucket],
            conditions={"StringLike": {"s3:prefix": [f"{folder}*" for folder in inputs]}},
        )
    )
    launcher.allow(
        iam.PolicyStatement(
            sid="WriteBatchManifests",
            actions=["s3:PutObject"],
            resources=[f"{bucket}/{folder}*" for folder in manifests],
        ),
        "A manifest is written per transform job, named after the job at run time; beyond the models named "
        "one by one, under batch-manifests/ as a whole.",
    )
    # The data bucket is encrypted with the platform key: a put needs a data key from KMS.
    launcher.allow(
        iam.PolicyStatement(
            sid="EncryptBatchManifests",
            actions=["kms:GenerateDataKey"],
            resources=[data_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
        )
    )


class BatchJobAccess(Construct):
    """What a transform job, running as the model execution role, reads and writes in the data bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        policy_name: str,
        model_role: iam.IRole,
        data_bucket_name: str,
        data_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket = f"arn:{Aws.PARTITION}:s3:::{data_bucket_name}"
        statements = [
            iam.PolicyStatement(
                sid="ReadBatchInputs", actions=["s3:GetObject"], resources=[f"{bucket}/{INFERENCE_PREFIX}/*"]
            ),
            iam.PolicyStatement(
                sid="ListBatchInputs",
                actions=["s3:ListBucket"],
                resources=[bucket],
                conditions={"StringLike": {"s3:prefix": [f"{INFERENCE_PREFIX}/*"]}},
            ),
            iam.PolicyStatement(
                sid="ReadBatchManifests",
                actions=["s3:GetObject"],
                resources=[f"{bucket}/{BATCH_MANIFEST_PREFIX}/*"],
            ),
            iam.PolicyStatement(
                sid="WritePredictions", actions=["s3:PutObject"], resources=[f"{bucket}/{PREDICTIONS_PREFIX}/*"]
            ),
            iam.PolicyStatement(
                sid="EncryptPredictions",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[data_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            ),
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=policy_name,
            statements=statements,
            roles=[model_role],
        )
        for statement in (statements[0], statements[2], statements[3]):
            acknowledge_wildcards(
                self.policy,
                statement,
                "Batch inputs, manifests and predictions are keyed per model and file, and manifests and prediction "
                "folders per job, named at run time.",
            )
