"""An S3 bucket with the platform's baseline: private, TLS-only, versioned, encrypted, logged."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.compliance import acknowledge_resource_policy_wildcards
from stacks.config import RetentionConfig


class SecureBucket(Construct):
    """A retained, KMS-encrypted, versioned bucket that logs access to `access_log_bucket`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        key: kms.IKey,
        access_log_bucket: s3.IBucket,
        retention: RetentionConfig,
        event_bridge: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix=f"{bucket_name}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(retention.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(retention.incomplete_upload_days),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The access-log bucket's policy now lets S3's logging service write this bucket's logs
        # (CDK adds the statement, conditioned on this bucket's ARN and account).
        acknowledge_resource_policy_wildcards(
            access_log_bucket,
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[access_log_bucket.arn_for_objects(f"{bucket_name}/*")],
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
            ),
            "S3 server access logging writes one object per log delivery under this bucket's own prefix, with names "
            "S3 chooses (Amazon S3 User Guide, 'Enabling Amazon S3 server access logging').",
        )
        if event_bridge:
            # The bucket's own EventBridge switch; `event_bridge_enabled=True` would add a
            # custom resource (a Lambda function and its role) to do the same thing.
            cfn_bucket = self.bucket.node.default_child
            assert isinstance(cfn_bucket, s3.CfnBucket)
            cfn_bucket.add_property_override(
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
            )


def reserve_prefixes(bucket: s3.IBucket, *, prefixes: Sequence[str], writer_arn: str) -> None:
    """Deny s3:PutObject under `prefixes` to every principal but the role `writer_arn`, whatever IAM grants.

    For a role session, aws:PrincipalArn is the role's ARN ("For IAM roles, the request context
    returns the ARN of the role, not the ARN of the user that assumed the role"; IAM User Guide,
    "AWS global condition context keys",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn),
    so the writer's jobs keep writing and no other role, user or the account root can.
    Only object writes are denied: deletes and bucket operations stay with IAM, so an
    administrator can still empty and remove the bucket, and the account root can always
    replace or delete this policy (Amazon S3 API Reference, "DeleteBucketPolicy": the root
    principal "can perform the GetBucketPolicy, PutBucketPolicy, and DeleteBucketPolicy API
    actions, even if their bucket policy explicitly denies the root principal's access").
    """
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="WritesReservedToOneRole",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects(f"{prefix}/*") for prefix in prefixes],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": writer_arn}},
        )
    )
