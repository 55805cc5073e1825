"""Templates the contract tests hold against AWS's documented rules.

Every environment of the fixture configuration (tests/fixtures/platform.json), plus configurations at the extremes of
what validation accepts (tests/contracts/configs.py), for both kinds of managed MLflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from platform_common.catalog import ModelSettings
from stacks import naming
from stacks.config import EnvironmentConfig, load_environment
from stacks.platform import Platform
from tests.access.cfn_resolver import Deployment, Resolver, deploy
from tests.contracts.configs import LONGEST_ENVIRONMENT, extreme_platform
from tests.synth import StoredTemplate, cdk_context, platform_fixture, synth, synth_default


@dataclass(frozen=True)
class Synthesized:
    """One synthesized environment: where it came from, its stacks and their templates as JSON."""

    label: str
    platform: Platform
    templates: dict[str, dict[str, Any]]
    stack_names: dict[str, str]
    # The validated configuration the stacks were built from (reading it builds no constructs).
    config: EnvironmentConfig
    # The stacks' Region where the configuration pins one, else None (deployable to any Region).
    region: str | None
    # Each stack's construct metadata from its cloud assembly, by construct path.
    metadata: dict[str, dict[str, list[dict[str, Any]]]]

    @classmethod
    def of(
        cls, label: str, built: tuple[Platform, dict[str, StoredTemplate]], config: EnvironmentConfig
    ) -> Synthesized:
        """From what tests/synth.py's `synth` returns (the platform's constructs are not built for this)."""
        platform, templates = built
        return cls(
            label,
            platform,
            {unit: template.to_json() for unit, template in templates.items()},
            {unit: template.stack_name for unit, template in templates.items()},
            config,
            templates["data"].region,
            {unit: template.metadata for unit, template in templates.items()},
        )

    def by_stack_name(self) -> dict[str, dict[str, Any]]:
        """The templates keyed by their stacks' names, as a deployment holds them."""
        return {self.stack_names[unit]: template for unit, template in self.templates.items()}

    def resources(self, resource_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(unit, logical id, properties) of every resource of one type, across the stacks."""
        found = []
        for unit, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"] == resource_type:
                    found.append((unit, logical_id, resource.get("Properties", {})))
        return found


def dev_with_mlflow_app() -> dict[str, Any]:
    """The fixture platform with dev on an MLflow App instead of its tracking server."""
    platform: dict[str, Any] = cdk_context()["platform"]
    platform["environments"]["dev"]["mlflow"] = {"kind": "app"}
    return platform


def _configuration(label: str) -> tuple[str, dict[str, Any]]:
    """(environment name, platform settings) of a labelled configuration."""
    if label in ("dev", "staging", "prod"):
        return label, platform_fixture()
    if label == "customised":
        return "dev", platform_fixture("customised")
    if label == "extreme-tracking-server":
        return LONGEST_ENVIRONMENT, extreme_platform(kind="tracking-server")
    if label == "extreme-app":
        return LONGEST_ENVIRONMENT, extreme_platform(kind="app")
    if label == "dev-app":
        return "dev", dev_with_mlflow_app()
    raise KeyError(label)


@cache
def synthesized(label: str) -> Synthesized:
    """Synthesize one labelled configuration once per test process.

    `customised`: dev as a user following the README configures it (tests/fixtures/customised.json);
    `dev-app`: dev on an MLflow App.
    """
    env_name, settings = _configuration(label)
    built = synth_default(label) if label in ("dev", "staging", "prod") else synth(env_name, settings)
    return Synthesized.of(label, built, load_environment(settings, env_name))


@cache
def deployed_catalog(label: str) -> dict[str, ModelSettings]:
    """The catalog entries the model stacks write (their SSM parameters), resolved as deployed, by model name."""
    found = synthesized(label)
    resolver = Resolver(found.by_stack_name())
    prefix = naming.catalog_path(found.config)
    entries = {}
    for unit, _, props in found.resources("AWS::SSM::Parameter"):
        if isinstance(props.get("Name"), str) and props["Name"].startswith(prefix):
            value = resolver.resolve(found.stack_names[unit], props["Value"])
            settings = ModelSettings.from_mapping(json.loads(value))
            entries[settings.name] = settings
    return entries


@cache
def deployed_roles(label: str) -> tuple[Synthesized, Deployment]:
    """One configuration with every role resolved to what a deployment would hold (once per process)."""
    found = synthesized(label)
    return found, deploy(found.by_stack_name())


# `customised` is not among them yet: several contract tests resolve ARNs for the suite's fake
# account and assume an unpinned region (region Mappings); they need to read the pinned values
# first. tests/infra/test_gates.py holds the customised fixture to cdk-nag and cfn-lint.
CONFIGURATIONS = ("dev", "staging", "prod", "extreme-tracking-server", "extreme-app")


@pytest.fixture(params=CONFIGURATIONS, scope="session")
def synthesized_env(request: pytest.FixtureRequest) -> Synthesized:
    """Each configuration in turn; tests using it run once per configuration."""
    return synthesized(request.param)
