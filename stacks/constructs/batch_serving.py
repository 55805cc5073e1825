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

from platform_common.monitoring import INFERENCE_PREFIX, PREDICTIONS_PREFIX
from stacks.compliance import acknowledge_wildcards
from stacks.constructs.managed_mlflow import mlflow_api_statement
from stacks.constructs.persona_roles import MLFLOW_READ_ACTIONS
from stacks.constructs.platform_functions import PlatformFunction


def grant_launcher(
    launcher: PlatformFunction,
    *,
    resource_prefix: str,
    model_role: iam.IRole,
    data_key: kms.IKey,
    mlflow_kind: str,
    mlflow_arn: str,
    packages: Sequence[str],
    instance_types: Sequence[str],
) -> None:
    """What the launcher needs: find the champion, create its model, start and read transform jobs."""
    stack = Stack.of(launcher)
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
    # CreateTransformJob carries sagemaker:InstanceTypes (Service Authorization Reference, "Actions,
    # resources, and condition keys for Amazon SageMaker AI",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
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
    launcher.allow(
        mlflow_api_statement(sid="ReadChampionAlias", kind=mlflow_kind, arn=mlflow_arn, actions=MLFLOW_READ_ACTIONS)
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
        for statement in (statements[0], statements[2]):
            acknowledge_wildcards(
                self.policy,
                statement,
                "Batch inputs and predictions are keyed per model and file, and prediction folders per job, "
                "named at run time.",
            )
