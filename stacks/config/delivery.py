"""The `platform.delivery` block: the tooling account's pipeline and how model versions move.

Absent, the app stays single-account (one environment per synth) and nothing here runs. Present,
`load_delivery` returns the pipeline's settings and every environment it deploys, each of which
must name its account and region (a pipeline deploys into a fixed place).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_common.catalog import registration_suffix
from stacks import naming
from stacks.config.loader import load_environment
from stacks.config.reader import Reader
from stacks.config.settings import ENVIRONMENT_NAMES, ConfigError, EnvironmentConfig

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
# CodeConnections ARNs carry either service prefix: connections made before the rename keep
# `codestar-connections` (AWS CodeConnections User Guide, "Connections are now CodeConnections",
# https://docs.aws.amazon.com/dtconsole/latest/userguide/rename.html).
_CONNECTION_RE = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# Git refuses these in a branch name (git-check-ref-format); the rest CodePipeline passes through.
_BRANCH_RE = re.compile(r"^(?!/)(?!.*(\.\.|//|@\{|\.lock$|/$))[^\s~^:?*\[\\]{1,255}$")
_POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+$")
# The registry of record: the environment whose pipelines train and register every version.
REGISTRY_ENVIRONMENT = "dev"


@dataclass(frozen=True)
class PromotionPolicy:
    """Where an environment's model versions come from and whose decision lets them in."""

    environment: str
    source: str
    approver: str


@dataclass(frozen=True)
class RegistryReader:
    """A consuming environment's roles that read released versions from the registry of record."""

    environment: str
    account: str
    deployer_role_name: str
    model_role_name: str


@dataclass(frozen=True)
class RegistrySource:
    """Where a consuming environment's deployer verifies promoted versions: the registry of record."""

    account: str
    region: str
    resource_prefix: str
    artifact_bucket_name: str
    # Known when the registry's MLflow is a tracking server (its name fixes the suffix); None for an App.
    package_group_suffix: str | None


@dataclass(frozen=True)
class DeliveryConfig:
    """The delivery pipeline in the tooling account and the environments it deploys, in order."""

    pipeline_name: str
    account: str
    region: str
    connection_arn: str
    repository: str
    branch: str
    execution_policy_arns: tuple[str, ...]
    environments: tuple[EnvironmentConfig, ...]
    promotion: Mapping[str, PromotionPolicy]

    @property
    def registry(self) -> EnvironmentConfig:
        """The environment whose Model Registry and buckets hold every version and its evidence."""
        return next(env for env in self.environments if env.name == REGISTRY_ENVIRONMENT)

    def environment(self, name: str) -> EnvironmentConfig:
        """One delivered environment by name."""
        return next(env for env in self.environments if env.name == name)

    def consumers(self) -> tuple[EnvironmentConfig, ...]:
        """The environments that deploy versions registered in the registry of record."""
        return tuple(env for env in self.environments if env.name != REGISTRY_ENVIRONMENT)

    def registry_source(self) -> RegistrySource:
        """The registry of record as its consumers name it: concrete account, Region and bucket."""
        registry = self.registry
        account, region = str(registry.account), str(registry.region)
        suffix = (
            registration_suffix(naming.mlflow_name(registry)) if registry.mlflow.kind == "tracking-server" else None
        )
        return RegistrySource(
            account=account,
            region=region,
            resource_prefix=registry.resource_prefix,
            artifact_bucket_name=naming.artifact_bucket_name(registry, account=account, region=region),
            package_group_suffix=suffix,
        )

    def registry_readers(self) -> tuple[RegistryReader, ...]:
        """Who the registry of record lets read released versions: each consumer's deployer and model roles."""
        return tuple(
            RegistryReader(
                environment=env.name,
                account=str(env.account),
                deployer_role_name=naming.deployer_role_name(env),
                model_role_name=naming.model_role_name(env),
            )
            for env in self.consumers()
        )


def registry_source_for(platform: object, env_name: str) -> RegistrySource | None:
    """The registry `env_name` deploys promoted versions from: none unless it consumes one in a delivery block."""
    if env_name == REGISTRY_ENVIRONMENT or not has_delivery(platform):
        return None
    delivery = load_delivery(platform)
    if env_name not in {env.name for env in delivery.consumers()}:
        return None
    return delivery.registry_source()


def registry_readers_for(platform: object, env_name: str) -> tuple[RegistryReader, ...]:
    """The readers `env_name`'s stacks grant: none unless it is the registry of record of a delivery block."""
    if env_name != REGISTRY_ENVIRONMENT or not has_delivery(platform):
        return ()
    return load_delivery(platform).registry_readers()


def has_delivery(platform: object) -> bool:
    """Whether the `platform` context object configures a delivery pipeline."""
    return isinstance(platform, Mapping) and platform.get("delivery") is not None


def load_delivery(platform: object) -> DeliveryConfig:
    """Validate `platform.delivery` and every environment it deploys."""
    root = Reader(platform, "platform")
    r = root.child("delivery")
    # The pipeline's own keys first: without a delivery block, that is the error to see.
    account = _required(r, "account", _ACCOUNT_RE, "the 12-digit ID of the tooling account the pipeline runs in")
    region = _required(r, "region", _REGION_RE, "the AWS region of the pipeline, such as eu-west-1")
    environments = tuple(_delivered_environment(platform, name) for name in _environment_names(platform))
    if REGISTRY_ENVIRONMENT not in {env.name for env in environments}:
        raise ConfigError(
            f"platform.environments.{REGISTRY_ENVIRONMENT}",
            None,
            f"an environment named {REGISTRY_ENVIRONMENT}: it holds the registry of record the others deploy from",
        )
    _require_registry_region(environments)
    prefix = root.get("prefix", "mlops", str)  # validated with each environment
    config = DeliveryConfig(
        pipeline_name=f"{prefix}-delivery",
        account=account,
        region=region,
        connection_arn=_required(
            r, "connection_arn", _CONNECTION_RE, "a CodeConnections connection ARN (arn:aws:codeconnections:...)"
        ),
        repository=_required(r, "repository", _REPOSITORY_RE, "the repository as owner/name"),
        branch=r.string("branch", "main", _BRANCH_RE, "a git branch name") or "main",
        execution_policy_arns=_execution_policies(r),
        environments=environments,
        promotion=_promotion(r.child("promotion"), tuple(env.name for env in environments)),
    )
    r.finish()
    return config


def _required(r: Reader, key: str, pattern: re.Pattern[str], expected: str) -> str:
    value = r.string(key, None, pattern, expected)
    if value is None:
        raise ConfigError(f"{r.path}.{key}", None, f"{expected} (required)")
    return value


def _execution_policies(r: Reader) -> tuple[str, ...]:
    policies = r.string_list("execution_policy_arns", _POLICY_ARN_RE, "an IAM managed policy ARN")
    if not policies:
        # `--trust` requires explicit execution policies (aws-cdk-lib pipelines README, "CDK
        # Environment Bootstrapping"), so the bootstrap target can never fall back silently.
        raise ConfigError(
            f"{r.path}.execution_policy_arns",
            list(policies),
            "one or more managed policy ARNs CloudFormation deploys with in the trusting accounts (cdk bootstrap "
            "--cloudformation-execution-policies)",
        )
    return policies


def _environment_names(platform: object) -> tuple[str, ...]:
    raw: Mapping[str, Any] = Reader(platform, "platform").get("environments", {}, Mapping)
    return tuple(name for name in ENVIRONMENT_NAMES if name in raw)


def _delivered_environment(platform: object, name: str) -> EnvironmentConfig:
    config = load_environment(platform, name)
    for key in ("account", "region"):
        if getattr(config, key) is None:
            raise ConfigError(
                f"platform.environments.{name}.{key}",
                None,
                f"the {key} the delivery pipeline deploys {name} into (required with platform.delivery)",
            )
    return config


def _require_registry_region(environments: tuple[EnvironmentConfig, ...]) -> None:
    """Every environment deploys promoted versions from the registry's bucket, so it must be in its region.

    "The model artifacts must be in an S3 bucket that is in the same region as the model or
    endpoint you are creating" (SageMaker API Reference, "ContainerDefinition", ModelDataUrl,
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html).
    """
    (registry,) = [env for env in environments if env.name == REGISTRY_ENVIRONMENT]
    for env in environments:
        if env.region != registry.region:
            raise ConfigError(
                f"platform.environments.{env.name}.region",
                env.region,
                f"{registry.region}, the region of {REGISTRY_ENVIRONMENT} (the registry of record): SageMaker "
                "creates a model only from artifacts in its own region",
            )


def _promotion(r: Reader, delivered: tuple[str, ...]) -> Mapping[str, PromotionPolicy]:
    """Each consuming environment's source and approver; by default the previous one and itself."""
    policies: dict[str, PromotionPolicy] = {}
    for key in r.raw:
        if key not in delivered or key == REGISTRY_ENVIRONMENT:
            consumers = ", ".join(n for n in delivered if n != REGISTRY_ENVIRONMENT)
            raise ConfigError(
                f"{r.path}.{key}", r.raw[key], f"an environment that deploys promoted versions: {consumers}"
            )
    for index, name in enumerate(delivered):
        if name == REGISTRY_ENVIRONMENT:
            continue
        p = r.child(name)
        earlier = delivered[:index]
        source = p.choice("source", delivered[index - 1], earlier)
        # The decision belongs to the environment that receives the version (or one later), never to
        # the one it leaves: a dev approval must not put a version into staging.
        approver = p.choice("approver", name, delivered[index:])
        p.finish()
        policies[name] = PromotionPolicy(environment=name, source=source, approver=approver)
    r.finish()
    return policies
