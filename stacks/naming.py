"""Physical names shared across stacks.

Buckets carry the account and region (pseudo parameters, resolved in whichever stack uses
them), so a stack can name another stack's bucket without a CloudFormation export and IAM
policies read as plain ARNs.
"""

from __future__ import annotations

from aws_cdk import Aws

from stacks.config import EnvironmentConfig


def bucket_name(config: EnvironmentConfig, purpose: str) -> str:
    return f"{config.resource_prefix}-{purpose}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def data_bucket_name(config: EnvironmentConfig) -> str:
    return bucket_name(config, "data")


def artifact_bucket_name(config: EnvironmentConfig) -> str:
    return bucket_name(config, "mlflow-artifacts")


def access_log_bucket_name(config: EnvironmentConfig) -> str:
    return bucket_name(config, "access-logs")


def mlflow_name(config: EnvironmentConfig) -> str:
    return f"{config.resource_prefix}-mlflow"
