"""Synthesizes the platform in-process, once per configuration, for the template tests.

The platform configurations come from tests/fixtures/, never from cdk.json's `platform` key:
that key is the user's (they pin accounts, add models, trust their own principals), and a
user's configuration must not change what the suite expects. `make check-config` is the check
for the user's own configuration. The rest of cdk.json's context (CDK's feature flags) is the
project's and is read from there, so the tests synthesize with the flags users deploy with.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.config import load_environment
from stacks.platform import Platform, build_platform

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# The key of cdk.json's context that holds the user's configuration.
PLATFORM_KEY = "platform"


def platform_fixture(name: str = "platform") -> dict[str, Any]:
    """A committed platform configuration (tests/fixtures/<name>.json), as a fresh copy.

    `platform`: dev, staging and prod as the repository ships them; `customised`: what a user
    following the README sets (pinned accounts and regions, trusted principals, three models).
    """
    settings: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return settings


def project_context() -> dict[str, Any]:
    """cdk.json's context without the user's `platform` key: the feature flags every synth uses."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.pop(PLATFORM_KEY, None)
    return context


def cdk_context(fixture: str = "platform") -> dict[str, Any]:
    """The context a synth of the tests runs with: cdk.json's feature flags and a fixture platform (a fresh copy)."""
    return {**project_context(), PLATFORM_KEY: platform_fixture(fixture)}


def new_app(context: dict[str, Any], **props: Any) -> cdk.App:
    """An App as app.py builds it: cdk-nag runs, CDK's built-in CloudFormation validator does not.

    That validator only warns and costs seconds per process plus most of a second per synth;
    test_gates lints every template with cfn-lint instead, where a finding fails.
    """
    return cdk.App(context=context, builtin_cloud_formation_validation=False, **props)


def synth(env_name: str, platform_override: dict[str, Any] | None = None) -> tuple[Platform, dict[str, Template]]:
    """Build one environment's stacks and return them with their templates by stack unit name."""
    context = cdk_context()
    if platform_override is not None:
        context[PLATFORM_KEY] = copy.deepcopy(platform_override)
    app = new_app(context)
    platform = build_platform(app, load_environment(context[PLATFORM_KEY], env_name))
    templates = {_unit(stack.stack_name, env_name): Template.from_stack(stack) for stack in platform.stacks}
    return platform, templates


def _unit(stack_name: str, env_name: str) -> str:
    marker = f"-{env_name}-"
    return stack_name.split(marker, 1)[1] if marker in stack_name else stack_name


@cache
def synth_default(env_name: str) -> tuple[Platform, dict[str, Template]]:
    """The fixture configuration of `env_name` (tests/fixtures/platform.json), synthesized once per test process."""
    return synth(env_name)
