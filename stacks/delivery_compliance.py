"""The acknowledgements of what CDK Pipelines generates in the tooling account.

CDK Pipelines writes its roles' policies, the artifact bucket and its key itself. Each generated
statement with a wildcard is acknowledged on the policy that holds it, with the reason of the
role it belongs to (`_REASONS`, matched on the construct path). A policy no reason matches stops
synth: a grant a new CDK release adds is reviewed before it is deployed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aws_cdk import Stack, Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from stacks.compliance import acknowledge, acknowledge_generated_statements

# Region-scoped support stacks CodePipeline adds for actions in another region
# (aws-codepipeline README, "Cross-region CodePipelines").
SUPPORT_STACK_PREFIX = "cross-region-stack-"

_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"/Pipeline/Pipeline/Role/"),
        "CodePipeline's service role: reads and writes this pipeline's own artifact bucket and key, and assumes "
        "the per-action roles CDK Pipelines creates; the object wildcard is the artifact bucket's keys.",
    ),
    (
        re.compile(r"/Source/.*/CodePipelineActionRole/"),
        "The source action's role: uses the configured connection and writes the source archive, under keys "
        "CodePipeline chooses, to this pipeline's artifact bucket.",
    ),
    (
        re.compile(r"/(Synth/CdkBuildProject|UpdatePipeline/SelfMutation|Assets/FileRole)"),
        "A CodeBuild project of the pipeline (synth, self-mutation or asset publishing): writes its own log "
        "streams and test reports, reads and writes artifacts under keys CodePipeline chooses, and assumes only "
        "the roles `cdk bootstrap` created (the aws-cdk:bootstrap-role tag condition).",
    ),
    (
        re.compile(r"/CodeBuildActionRole/"),
        "CodePipeline's role for starting this pipeline's CodeBuild builds and reading their status.",
    ),
    (
        re.compile(r"ArtifactsBucket|CrossRegionCodePipelineReplicationBucket"),
        "The artifact bucket's policy and key: TLS-only access, and use by the target accounts' deploy roles, "
        "which read the artifacts of their own stage under keys CodePipeline chooses.",
    ),
)


def _reason(path: str) -> str:
    for pattern, reason in _REASONS:
        if pattern.search(path + "/"):
            return reason
    raise ValueError(
        f"{path}: CDK Pipelines generated a policy with no reviewed reason (stacks/delivery_compliance.py); "
        "review its grants and add one"
    )


def acknowledge_pipeline(stacks: Iterable[Stack]) -> None:
    """Acknowledge the generated policies and resources of the pipeline stack and its support stacks."""
    for stack in stacks:
        # The platform stages are children of the pipeline stack; their stacks acknowledge their own.
        own = [c for c in stack.node.find_all() if not Stage.is_stage(c) and _stage_path(c) == _stage_path(stack)]
        for construct in own:
            _acknowledge_policies(construct)
        # CDK Pipelines attaches every role's grants as an inline default policy.
        acknowledge(
            stack,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "CDK Pipelines writes each pipeline role's grants as that role's own inline policy; none is shared.",
        )
        for bucket in (c for c in own if isinstance(c, s3.Bucket)):
            _acknowledge_artifact_bucket(bucket)


def _stage_path(construct: IConstruct) -> str:
    stage = Stage.of(construct)
    return stage.node.path if stage is not None else ""


def _acknowledge_policies(construct: IConstruct) -> None:
    if isinstance(construct, (iam.Policy, s3.BucketPolicy)):
        acknowledge_generated_statements(construct, construct.document, _reason(construct.node.path))
    elif isinstance(construct, kms.CfnKey):
        # kms.Key keeps its policy document to itself; its L1 carries the rendered one.
        acknowledge_generated_statements(construct, construct.key_policy, _reason(construct.node.path), key_policy=True)


def _acknowledge_artifact_bucket(bucket: s3.Bucket) -> None:
    reason = (
        "The pipeline's artifact bucket holds only intermediates (the source archive at a commit, cdk.out) that "
        "the repository reproduces; it is KMS-encrypted, TLS-only and private, and each run writes new keys."
    )
    for finding in (
        "AwsSolutions-S1",
        "NIST.800.53.R5-S3BucketLoggingEnabled",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
        "NIST.800.53.R5-S3BucketVersioningEnabled",
    ):
        acknowledge(bucket, finding, reason)
