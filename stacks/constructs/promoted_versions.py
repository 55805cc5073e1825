"""How a consuming environment (staging, prod) takes in versions promoted from the registry of record.

Built only in a consuming environment of a delivery configuration:

* a rule on the platform bus sends PromotionRequested (recorded by `make promote`) to the deployer;
* the deployer is told where the registry of record is, and may read there what it verifies: the
  package group of each configured model (Describe/List), the evidence and the model artifacts
  under dev's `evidence/` and `pipelines/` prefixes, decrypted through S3 with dev's key;
* the deployer may register the verified version in the model's own group here;
* the model execution role may read the model artifacts under dev's `pipelines/` prefix.

Each read needs both halves: dev's resource policies (`registry_sharing`, `group_sharing`) and
these identity policies ("Cross-account access requires permission in the key policy of the KMS
key and in an IAM policy in the external user's account", AWS KMS Developer Guide, "Allowing
users in other accounts to use a KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html;
Amazon S3 User Guide, "How Amazon S3 authorizes a request for an object operation",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-auth-workflow-object-operation.html).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from platform_common import domain_events, env_names
from platform_common.evidence import EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX
from platform_common.promotion_request import PROMOTION_REQUESTED
from stacks.compliance import acknowledge_wildcards
from stacks.config.delivery import RegistrySource
from stacks.constructs.platform_functions import PlatformFunction
from stacks.constructs.registry_sharing import KEY_ACTIONS, READ_ACTIONS

# What the consuming deployer reads of the registry's groups: the actions dev's group policy grants.
GROUP_READ_ACTIONS = (
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
)
# Registering the verified version in the model's own group here (CreateModelPackageGroup only the first time).
LOCAL_REGISTRATION_ACTIONS = (
    "sagemaker:CreateModelPackageGroup",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:CreateModelPackage",
)


KEY_WHY = "The registry's platform key ID is assigned in its account; its key policy admits only these roles."


def _objects(source: RegistrySource, prefix: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{source.artifact_bucket_name}/{prefix}/*"


def _decrypt(source: RegistrySource) -> iam.PolicyStatement:
    # Decrypt only when S3 of the registry's Region asks on the reader's behalf (AWS KMS Developer
    # Guide, "kms:ViaService", https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    # The key's ID is not known here, so any key of the registry account: its key policy admits these roles to its own only.
    return iam.PolicyStatement(
        sid="DecryptRegistryObjectsThroughS3",
        actions=list(KEY_ACTIONS),
        resources=[f"arn:{Aws.PARTITION}:kms:{source.region}:{source.account}:key/*"],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{source.region}.amazonaws.com"}},
    )


class PromotedVersions(Construct):
    """The rule, settings and grants that let this environment's deployer act on PromotionRequested."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: RegistrySource,
        bus: events.IEventBus,
        deployer: PlatformFunction,
        model_role: iam.IRole,
        dead_letter_queue: sqs.IQueue,
        model_names: Sequence[str],
        local_groups: Sequence[str],
        resource_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        for name, value in {
            env_names.REGISTRY_ACCOUNT: source.account,
            env_names.REGISTRY_REGION: source.region,
            env_names.REGISTRY_ARTIFACT_BUCKET: source.artifact_bucket_name,
            env_names.REGISTRY_RESOURCE_PREFIX: source.resource_prefix,
            **(
                {env_names.REGISTRY_PACKAGE_GROUP_SUFFIX: source.package_group_suffix}
                if source.package_group_suffix
                else {}
            ),
        }.items():
            deployer.function.add_environment(name, value)

        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=f"{resource_prefix}-promotion-requested",
            description="A promotion was recorded (make promote): verify the version in the registry of record, deploy it",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[domain_events.SOURCE], detail_type=[PROMOTION_REQUESTED]),
            targets=[
                targets.LambdaFunction(
                    deployer.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        self._grant_reads(source, deployer, model_names)
        self._grant_model_role(source, model_role, f"{resource_prefix}-model-registry-reads")
        self._grant_local_registration(deployer, local_groups)

    @staticmethod
    def _grant_reads(source: RegistrySource, deployer: PlatformFunction, model_names: Sequence[str]) -> None:
        sagemaker = f"arn:{Aws.PARTITION}:sagemaker:{source.region}:{source.account}"
        suffix = source.package_group_suffix or "??????"
        groups = [f"{name}-{suffix}" for name in model_names]
        deployer.allow(
            iam.PolicyStatement(
                sid="ReadRegistryEvidenceAndArtifacts",
                actions=list(READ_ACTIONS),
                resources=[_objects(source, EVIDENCE_PREFIX), _objects(source, PIPELINE_OUTPUT_PREFIX)],
            ),
            "Reports and artifacts of the registry are keyed per model and pipeline execution.",
        )
        deployer.allow(_decrypt(source), KEY_WHY)
        deployer.allow(
            iam.PolicyStatement(
                sid="ReadRegistryPackageGroups",
                actions=list(GROUP_READ_ACTIONS),
                resources=[
                    *(f"{sagemaker}:model-package-group/{group}" for group in groups),
                    *(f"{sagemaker}:model-package/{group}/*" for group in groups),
                ],
            ),
            "Versions of a group are numbered by the registry; an MLflow App's group suffix is matched by length.",
        )

    def _grant_model_role(self, source: RegistrySource, model_role: iam.IRole, policy_name: str) -> None:
        artifacts = iam.PolicyStatement(
            sid="ReadRegistryModelArtifacts",
            actions=list(READ_ACTIONS),
            resources=[_objects(source, PIPELINE_OUTPUT_PREFIX)],
        )
        decrypt = _decrypt(source)
        # A managed policy of its own, like the role's others: nothing inline.
        policy = iam.ManagedPolicy(
            self,
            "ModelRoleRegistryReads",
            managed_policy_name=policy_name,
            statements=[artifacts, decrypt],
            roles=[model_role],
        )
        acknowledge_wildcards(policy, artifacts, "Model artifacts of the registry are keyed per model and execution.")
        acknowledge_wildcards(policy, decrypt, KEY_WHY)

    @staticmethod
    def _grant_local_registration(deployer: PlatformFunction, local_groups: Sequence[str]) -> None:
        stack_arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        deployer.allow(
            iam.PolicyStatement(
                sid="RegisterPromotedVersions",
                actions=list(LOCAL_REGISTRATION_ACTIONS),
                resources=[
                    *(f"{stack_arn}:model-package-group/{group}" for group in local_groups),
                    *(f"{stack_arn}:model-package/{group}/*" for group in local_groups),
                ],
            ),
            "Promoted versions are numbered in the model's own group by SageMaker.",
        )
