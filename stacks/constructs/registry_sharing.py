"""Read access of other accounts' roles to the versions the registry of record releases.

Built only in the registry environment of a delivery configuration: each consuming environment's
deployer reads a version's model artifact and evidence, and its model execution role the model
artifact, from the artifact bucket and through its key. Nothing else of the bucket or the key.

The roles are named by ARN in a condition, with their account as principal, not as principals
themselves. The roles live in accounts the pipeline deploys after this one, so on a first deploy
they do not exist yet, and a resource policy cannot name a principal that does not exist: "The
principals in the key policy must exist and be visible to KMS" (AWS KMS API Reference,
"PutKeyPolicy", https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html), and a
bucket policy naming a deleted role fails with "Invalid principal in policy" (AWS re:Post
Knowledge Center, "Why do I get the error 'Invalid principal in policy' when I try to update my
Amazon S3 bucket policy?", https://repost.aws/knowledge-center/s3-invalid-principal-in-policy-error).
`aws:PrincipalArn` is the role's ARN for any session of it (IAM User Guide, "AWS global condition
context keys",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn),
and a condition keeps working when a role is deleted and recreated under the same name.

An account principal in a resource policy only delegates: "Cross-account access requires
permission in the key policy of the KMS key and in an IAM policy in the external user's account"
(AWS KMS Developer Guide, "Allowing users in other accounts to use a KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html);
S3 likewise requires both the bucket owner's and the requester's account to allow a cross-account
request (Amazon S3 User Guide, "How Amazon S3 authorizes a request for an object operation",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-auth-workflow-object-operation.html).
So no one in the consuming accounts gains anything from these statements but the named roles,
and only as far as their own identity policies allow.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from stacks.compliance import acknowledge_resource_policy_wildcards
from stacks.config.delivery import RegistryReader
from stacks.naming import role_arn_in

# Object reads of a released version only: GetObjectVersion lets a deployer pin the version it verified.
READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
# S3 decrypts an SSE-KMS object for the reader with kms:Decrypt (Amazon S3 User Guide, "Using
# server-side encryption with AWS KMS keys (SSE-KMS)": "you must have permission to use the
# kms:Decrypt action on the AWS KMS key" to download an object). DescribeKey is not needed to read.
KEY_ACTIONS = ("kms:Decrypt",)


def deployer_arns(readers: Sequence[RegistryReader]) -> list[str]:
    """The consuming environments' deployer roles."""
    return [role_arn_in(r.account, r.deployer_role_name) for r in readers]


def model_role_arns(readers: Sequence[RegistryReader]) -> list[str]:
    """The consuming environments' model execution roles."""
    return [role_arn_in(r.account, r.model_role_name) for r in readers]


def share_released_versions(
    *,
    bucket: s3.IBucket,
    key: kms.IKey,
    readers: Sequence[RegistryReader],
    evidence_prefix: str,
    output_prefix: str,
) -> None:
    """Let the readers' deployers read evidence and model artifacts, and their model roles the artifacts."""
    if not readers:
        return
    accounts = [iam.AccountPrincipal(account) for account in sorted({r.account for r in readers})]
    deployers, models = deployer_arns(readers), model_role_arns(readers)
    grants = {
        "ConsumerDeployersReadReleasedVersions": (deployers, [evidence_prefix, output_prefix]),
        "ConsumerModelRolesReadModelArtifacts": (models, [output_prefix]),
    }
    why = (
        "Reports and model artifacts are keyed per model and pipeline execution; readable only by the named roles "
        "of the consuming accounts (aws:PrincipalArn)."
    )
    for sid, (roles, prefixes) in grants.items():
        statement = iam.PolicyStatement(
            sid=sid,
            principals=list(accounts),
            actions=list(READ_ACTIONS),
            resources=[bucket.arn_for_objects(f"{prefix}/*") for prefix in prefixes],
            conditions={"ArnEquals": {"aws:PrincipalArn": roles}},
        )
        bucket.add_to_resource_policy(statement)
        acknowledge_resource_policy_wildcards(bucket, statement, why)
    # Decrypt only when S3 asks on the reader's behalf in this region, never directly (AWS KMS
    # Developer Guide, "kms:ViaService", https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    decrypt = iam.PolicyStatement(
        sid="ConsumersDecryptReleasedVersionsThroughS3",
        principals=list(accounts),
        actions=list(KEY_ACTIONS),
        resources=["*"],
        conditions={
            "StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"},
            "ArnEquals": {"aws:PrincipalArn": [*deployers, *models]},
        },
    )
    key.add_to_resource_policy(decrypt)
