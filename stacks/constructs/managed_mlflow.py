"""The managed MLflow service (tracking server or serverless App) and its service role."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from platform_common.catalog import registration_suffix
from stacks.compliance import acknowledge_wildcards
from stacks.config import MlflowConfig

# What SageMaker needs to register MLflow models as model package versions (SageMaker
# Developer Guide, "Automatically register SageMaker AI models with SageMaker Model Registry",
# https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
AUTOMATIC_REGISTRATION_ACTIONS = [
    "sagemaker:AddTags",
    "sagemaker:CreateModelPackageGroup",
    "sagemaker:CreateModelPackage",
    "sagemaker:UpdateModelPackage",
    "sagemaker:DescribeModelPackageGroup",
]
# The same page: without these the package is registered but its lineage is dropped, silently.
REGISTRATION_LINEAGE_ACTIONS = ["sagemaker:CreateAction", "sagemaker:AddAssociation", "sagemaker:AddTags"]
# Lineage entities AddAssociation links (Service Authorization Reference, "Actions, resources,
# and condition keys for Amazon SageMaker AI": resource types action, artifact, context, ...).
LINEAGE_RESOURCE_TYPES = ("action", "artifact", "context")
# An MLflow App authorises every MLflow API call with this one action, on resource type
# mlflow-app (same reference: "Grants permission to invoke MLflow APIs", access level Write);
# a tracking server is authorised by the sagemaker-mlflow: actions, one per API.
MLFLOW_APP_API_ACTION = "sagemaker:CallMlflowAppApi"


def mlflow_api_statement(*, sid: str, kind: str, arn: str, actions: Sequence[str]) -> iam.PolicyStatement:
    """Leave to call the MLflow API of one server or App: `actions` for a tracking server, CallMlflowAppApi for an App.

    `actions` are the sagemaker-mlflow actions the caller needs; an App cannot tell them apart,
    so there the caller gets the App's one action, on that App only.
    """
    granted = [MLFLOW_APP_API_ACTION] if kind == "app" else list(actions)
    return iam.PolicyStatement(sid=sid, actions=granted, resources=[arn])


# An App's ID, and so its suffix, exists only after creation: six single-character IAM
# wildcards then match exactly the suffix's length ("?" matches any single character; IAM User
# Guide, "IAM JSON policy elements: Resource",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
UNKNOWN_SUFFIX = "??????"


def model_package_group_suffix(server_name_or_app_id: str) -> str:
    """The suffix automatic registration appends to a model's package group name."""
    # The handlers compute it from the ARN at run time with the same function.
    return registration_suffix(server_name_or_app_id)


# Configured models are named one by one in IAM policies up to this many; beyond it, one pattern
# per statement keeps every policy within IAM's size quotas (a managed policy holds 6,144
# characters: IAM User Guide, "IAM and AWS STS quotas",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). Each named model
# costs about 160 characters per statement that lists it; tests/contracts/test_policy_sizes.py
# measures the resolved policies at this many models and at a hundred.
MAX_MODELS_NAMED_IN_POLICIES = 20


def model_key_prefixes(prefix: str, model_names: Sequence[str]) -> list[str]:
    """Key prefixes of per-model folders under `prefix` as a policy names them: `<prefix>/<model>/`.

    Beyond MAX_MODELS_NAMED_IN_POLICIES models, the one folder `<prefix>/` instead, so that the
    statement does not grow with the models; callers append the wildcard.
    """
    if len(model_names) > MAX_MODELS_NAMED_IN_POLICIES:
        return [f"{prefix}/"]
    return [f"{prefix}/{model}/" for model in model_names]


def package_group_names(model_names: Sequence[str], suffix: str | None) -> list[str]:
    """The package groups automatic registration makes for these models, as IAM resource names.

    `<model>-<suffix>` per configured model, the suffix matched by length when it is not known at
    synth (an App's); beyond MAX_MODELS_NAMED_IN_POLICIES models, the one pattern
    `*-<suffix>`. The handlers check the exact group of their own MLflow at run time either way.
    """
    known = suffix or UNKNOWN_SUFFIX
    if len(model_names) > MAX_MODELS_NAMED_IN_POLICIES:
        return [f"*-{known}"]
    return [f"{model}-{known}" for model in model_names]


def registered_package_names(model_names: Sequence[str], suffix: str | None) -> list[str]:
    """Resource names (`model-package/<name>`) of the package versions registered for these models.

    A tracking server's suffix is known at synth, and only this server registers groups with it:
    `*-<suffix>/*`. An App's is not: each configured model's groups, the suffix matched by length
    (`<model>-??????/*`, see `package_group_names`); none without models.
    """
    if suffix:
        return [f"*-{suffix}/*"]
    return [f"{group}/*" for group in package_group_names(model_names, None)]


class ManagedMlflow(Construct):
    """A SageMaker managed MLflow tracking server, or the serverless MLflow App."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        settings: MlflowConfig,
        artifact_bucket_name: str,
        artifact_prefix: str,
        key: kms.IKey,
        model_names: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.kind = settings.kind
        stack = Stack.of(self)

        self.role = iam.Role(
            self,
            "ServiceRole",
            role_name=f"{name}-service",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=f"Lets managed MLflow {name} use its artifact store and register models",
        )
        artifact_root = f"{artifact_prefix}/{name}"
        # Every run and logged model of this server keeps its artifacts below this key prefix.
        self.artifact_root = artifact_root
        bucket_arn = f"arn:{Aws.PARTITION}:s3:::{artifact_bucket_name}"
        artifact_objects = iam.PolicyStatement(
            sid="ArtifactObjects",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            resources=[f"{bucket_arn}/{artifact_root}/*"],
        )
        statements = [
            artifact_objects,
            iam.PolicyStatement(
                sid="ArtifactListing",
                actions=["s3:ListBucket"],
                resources=[bucket_arn],
                conditions={"StringLike": {"s3:prefix": [artifact_root, f"{artifact_root}/*"]}},
            ),
            # Apart: s3:prefix is a condition key of ListBucket and ListBucketVersions only
            # (Service Authorization Reference, "Actions, resources, and condition keys for
            # Amazon S3", https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html),
            # so under that condition GetBucketLocation would never be allowed.
            iam.PolicyStatement(sid="ArtifactBucketLocation", actions=["s3:GetBucketLocation"], resources=[bucket_arn]),
            iam.PolicyStatement(
                sid="ArtifactEncryption",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            ),
        ]
        # Only the configured models' groups (`<model>-<suffix>`) and their versions: the names are
        # known at synth, and the suffix too for a tracking server (its name is the ARN's last segment).
        suffix = model_package_group_suffix(name) if settings.kind == "tracking-server" else None
        groups = package_group_names(model_names, suffix)
        registration = iam.PolicyStatement(
            sid="AutomaticModelRegistration",
            actions=AUTOMATIC_REGISTRATION_ACTIONS,
            resources=[
                arn
                for group in groups
                for arn in (
                    stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group),
                    stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/*"),
                )
            ],
        )
        lineage = iam.PolicyStatement(
            sid="RegistrationLineage",
            actions=REGISTRATION_LINEAGE_ACTIONS,
            resources=[
                stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
                for kind in LINEAGE_RESOURCE_TYPES
            ],
        )
        registers = settings.automatic_model_registration and bool(groups)
        if registers:
            statements.extend([registration, lineage])
        policy = iam.ManagedPolicy(
            self, "ServicePolicy", managed_policy_name=f"{name}-service", statements=statements, roles=[self.role]
        )
        acknowledge_wildcards(
            policy,
            artifact_objects,
            "MLflow writes one key per run artifact under this server's own artifact root; nothing else in the bucket.",
        )
        if registers:
            acknowledge_wildcards(
                policy,
                registration,
                "Automatic registration numbers each configured model's package versions (<model>-<suffix>/<n>); for "
                "an MLflow App the suffix comes from its ID, unknown until it exists, so it is matched by length.",
            )
            acknowledge_wildcards(
                policy,
                lineage,
                "Automatic registration records each registration as lineage actions, artifacts and contexts that "
                "SageMaker names when it creates them; scoped to those three resource types in this account and Region.",
            )

        artifact_store_uri = f"s3://{artifact_bucket_name}/{artifact_root}"
        resource: sagemaker.CfnMlflowTrackingServer | sagemaker.CfnMlflowApp
        if settings.kind == "tracking-server":
            server = sagemaker.CfnMlflowTrackingServer(
                self,
                "TrackingServer",
                tracking_server_name=name,
                artifact_store_uri=artifact_store_uri,
                role_arn=self.role.role_arn,
                tracking_server_size=settings.size,
                mlflow_version=settings.version,
                weekly_maintenance_window_start=settings.maintenance_window,
                automatic_model_registration=settings.automatic_model_registration,
            )
            self.arn = server.attr_tracking_server_arn
            # The server name is known at synth time, so is the package group suffix.
            self.package_group_suffix: str | None = model_package_group_suffix(name)
            resource = server
        else:
            app = sagemaker.CfnMlflowApp(
                self,
                "App",
                name=name,
                artifact_store_uri=artifact_store_uri,
                role_arn=self.role.role_arn,
                model_registration_mode="AutoModelRegistrationEnabled"
                if settings.automatic_model_registration
                else "AutoModelRegistrationDisabled",
                weekly_maintenance_window_start=settings.maintenance_window,
            )
            self.arn = app.attr_arn
            # The App ID is assigned at creation, so rules match groups by model-name prefix.
            self.package_group_suffix = None
            resource = app
        # Experiments, runs and the registry live in the service; never delete them with the stack.
        resource.apply_removal_policy(RemovalPolicy.RETAIN)
        resource.node.add_dependency(policy)
        self.resource = resource
