"""One environment's synthesized stacks, resolved for the fake account, with its persona roles.

Synthesis is the slow part (seconds per configuration), so each configuration is synthesized
and resolved once per test process.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from stacks.config import EnvironmentConfig, load_environment
from stacks.constructs.managed_mlflow import model_package_group_suffix
from stacks.naming import mlflow_name
from tests.access.cfn_resolver import ACCOUNT, PARTITION, REGION, DeployedRole, Deployment, deploy
from tests.access.iam_eval import Decision, Policy, Request, evaluate
from tests.synth import by_stack_name, cdk_context, synth, synth_default

PERSONAS = ("DataScientist", "MLOpsEngineer", "Auditor")

# The non-default configuration the trust and boundary tests check: a role ARN and a second
# account as the only trusted principals, a session length that is not the default, a
# permissions boundary, and the serverless MLflow App instead of a tracking server.
TRUSTED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/PlatformEngineers"
TRUSTED_ACCOUNT = "210987654321"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/mlops-permissions-boundary"
CUSTOM_SESSION_HOURS = 6


@dataclass(frozen=True)
class ResolvedPlatform:
    """What the tests judge: resolved roles, plus the names to build concrete request ARNs."""

    config: EnvironmentConfig
    deployment: Deployment
    _compiled: dict[str, tuple[Policy, ...]] = field(default_factory=dict, compare=False, repr=False)

    def _output(self, unit: str, name: str) -> str:
        return str(self.deployment.resolver.output(self.config.stack_name(unit), name))

    @property
    def names(self) -> Mapping[str, str]:
        """Values for the `{...}` fields of ARN templates in the tables."""
        sagemaker = f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}"
        other_env = f"{self.config.prefix}-{'prod' if self.config.name != 'prod' else 'dev'}"
        return {
            "account": ACCOUNT,
            "region": REGION,
            "prefix": self.config.resource_prefix,
            "sm": sagemaker,
            "iam": f"arn:{PARTITION}:iam::{ACCOUNT}",
            "logs": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group",
            "events": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}",
            "server": self._output("tracking", "MlflowArn"),
            "mlflow_name": mlflow_name(self.config),
            "other_server": f"{sagemaker}:mlflow-tracking-server/other-team-mlflow",
            # The same platform's other environment, perhaps in the same account.
            "other_env": other_env,
            # MLflow registers model `churn` into group `churn-<hash of the server name>`.
            "package_group": f"churn-{model_package_group_suffix(mlflow_name(self.config))}",
            "other_env_package_group": f"churn-{model_package_group_suffix(f'{other_env}-mlflow')}",
            "data": self._output("data", "DataBucketName"),
            "artifacts": self._output("data", "ArtifactBucketName"),
            "key": self._output("data", "PlatformKeyArn"),
            "automation_key": self._automation_key_arn(),
            "sqs": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}",
            "lambda": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function",
        }

    def _automation_key_arn(self) -> str:
        # The automation stack exports no output for its key; its resolved ARN is the one the
        # queues are encrypted with.
        stack = self.config.stack_name("automation")
        resources = self.deployment.resolver.template(stack)["Resources"]
        (logical,) = [name for name, body in resources.items() if body["Type"] == "AWS::KMS::Key"]
        return str(self.deployment.resolver.resolve(stack, {"Fn::GetAtt": [logical, "Arn"]}))

    def fill(self, template: str) -> str:
        return template.format(**self.names)

    def role(self, persona: str) -> DeployedRole:
        return self.deployment.role(f"{self.config.resource_prefix}-{persona}")

    @property
    def roles(self) -> list[DeployedRole]:
        return [self.role(p) for p in PERSONAS]

    def decide(self, persona: str, request: Request, boundary: Mapping[str, Any] | None = None) -> Decision:
        """IAM's decision on `request` made by a session of the persona's role."""
        if persona not in self._compiled:
            role = self.role(persona)
            if role.external_policy_arns:
                raise AssertionError(f"{role.name} holds policies defined elsewhere: {role.external_policy_arns}")
            self._compiled[persona] = tuple(Policy(p) for p in role.policies)
        return evaluate(request, self._compiled[persona], boundary)


def _resolve(templates: dict[str, Any], config: EnvironmentConfig) -> ResolvedPlatform:
    return ResolvedPlatform(config=config, deployment=deploy(by_stack_name(templates)))


@cache
def default_platform(env_name: str = "dev") -> ResolvedPlatform:
    """The fixture configuration of `env_name` (shares the suite-wide cached synth)."""
    _, templates = synth_default(env_name)
    config = load_environment(cdk_context()["platform"], env_name)
    return _resolve(templates, config)


def customised_settings() -> dict[str, Any]:
    """The fixture platform settings with dev changed as described at the top of this module."""
    settings: dict[str, Any] = copy.deepcopy(cdk_context()["platform"])
    dev = settings["environments"]["dev"]
    dev["personas"] = {
        "trusted_principals": [TRUSTED_ROLE, TRUSTED_ACCOUNT],
        "max_session_hours": CUSTOM_SESSION_HOURS,
    }
    dev["permissions_boundary_arn"] = BOUNDARY_ARN
    mlflow = dev.setdefault("mlflow", {})
    mlflow["kind"] = "app"
    mlflow.pop("version", None)  # an MLflow App takes no version
    return settings


@cache
def customised_platform() -> ResolvedPlatform:
    settings = customised_settings()
    _, templates = synth("dev", settings)
    return _resolve(templates, load_environment(settings, "dev"))


@cache
def delivery_platform(env_name: str) -> ResolvedPlatform:
    """`env_name` of the three-account delivery fixture (tests/delivery/fixtures.py)."""
    from tests.delivery.fixtures import three_accounts

    settings = three_accounts()
    _, templates = synth(env_name, settings)
    return _resolve(templates, load_environment(settings, env_name))
