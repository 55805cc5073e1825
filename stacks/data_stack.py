"""Stateful storage: the platform key, the MLflow artifact bucket, the data bucket, access logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from platform_common.evidence import EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX
from stacks.compliance import acknowledge, acknowledge_default_key_policy
from stacks.config import EnvironmentConfig
from stacks.config.delivery import RegistryReader
from stacks.constructs.registry_sharing import share_released_versions
from stacks.constructs.secure_bucket import SecureBucket, reserve_prefixes
from stacks.naming import (
    DATASETS_PREFIX,
    access_log_bucket_name,
    artifact_bucket_name,
    data_bucket_name,
    pipeline_role_arn,
)


class DataStack(Stack):
    """Everything that holds data; retained on delete and termination-protected in prod."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        registry_readers: Sequence[RegistryReader] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        prefix = config.resource_prefix

        self.key = kms.Key(
            self,
            "PlatformKey",
            alias=f"alias/{prefix}-platform",
            description=f"Encrypts the {prefix} MLOps platform's data sets and MLflow artifacts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge_default_key_policy(self.key)

        # S3 server access logs can only be delivered to a bucket encrypted with SSE-S3.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            bucket_name=access_log_bucket_name(config),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(config.retention.access_log_days),
                    noncurrent_version_expiration=Duration.days(config.retention.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(config.retention.incomplete_upload_days),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.artifact_bucket = SecureBucket(
            self,
            "ArtifactBucket",
            bucket_name=artifact_bucket_name(config),
            key=self.key,
            access_log_bucket=self.access_log_bucket,
            retention=config.retention,
        ).bucket
        # What the approval gate and the deployer believe (evidence reports) and what they deploy
        # (model artifacts): written by the pipeline role alone, whatever any identity policy grants.
        reserve_prefixes(
            self.artifact_bucket,
            prefixes=(EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX),
            writer_arn=pipeline_role_arn(config),
        )
        # In the registry of record of a delivery configuration, the consuming environments read released versions.
        share_released_versions(
            bucket=self.artifact_bucket,
            key=self.key,
            readers=registry_readers,
            evidence_prefix=EVIDENCE_PREFIX,
            output_prefix=PIPELINE_OUTPUT_PREFIX,
        )
        self.data_bucket = SecureBucket(
            self,
            "DataBucket",
            bucket_name=data_bucket_name(config),
            key=self.key,
            access_log_bucket=self.access_log_bucket,
            retention=config.retention,
            event_bridge=True,
        ).bucket

        for bucket in (self.access_log_bucket, self.artifact_bucket, self.data_bucket):
            acknowledge(
                bucket,
                "NIST.800.53.R5-S3BucketReplicationEnabled",
                "Versioning and RETAIN protect against loss; cross-region replication is a disaster-recovery choice "
                "each organisation makes for its own regions and is left to it.",
            )
        acknowledge(
            self.access_log_bucket,
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "S3 server access logs can only be delivered to a bucket encrypted with SSE-S3, not SSE-KMS.",
        )

        CfnOutput(
            self,
            "DataBucketName",
            value=self.data_bucket.bucket_name,
            description=f"Drop training data sets under s3://<bucket>/{DATASETS_PREFIX}<model>/",
        )
        CfnOutput(self, "ArtifactBucketName", value=self.artifact_bucket.bucket_name)
        CfnOutput(self, "PlatformKeyArn", value=self.key.key_arn)
