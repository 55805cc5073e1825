"""Stateful tracking: the managed MLflow service whose experiments and registry must survive."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.managed_mlflow import ManagedMlflow
from stacks.naming import MLFLOW_ARTIFACTS_PREFIX, artifact_bucket_name, mlflow_name


class TrackingStack(Stack):
    """Managed MLflow with its artifact store in the data stack's artifact bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        self.mlflow = ManagedMlflow(
            self,
            "Mlflow",
            name=mlflow_name(config),
            settings=config.mlflow,
            artifact_bucket_name=artifact_bucket_name(config),
            artifact_prefix=MLFLOW_ARTIFACTS_PREFIX,
            key=key,
            model_names=[model.name for model in config.models],
        )
        CfnOutput(
            self,
            "MlflowArn",
            value=self.mlflow.arn,
            description="Use as MLflow tracking URI (pip install sagemaker-mlflow)",
        )
        if config.mlflow.kind == "tracking-server":
            ui_command = (
                f"aws sagemaker create-presigned-mlflow-tracking-server-url "
                f"--tracking-server-name {self.mlflow.name} --region {Aws.REGION}"
            )
        else:
            ui_command = f"aws sagemaker create-presigned-mlflow-app-url --arn {self.mlflow.arn} --region {Aws.REGION}"
        CfnOutput(self, "MlflowUiCommand", value=ui_command, description="Prints a short-lived URL of the MLflow UI")
