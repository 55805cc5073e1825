"""Synthesizes the platform in-process, once per configuration, for the template tests."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.config import load_environment
from stacks.config.delivery import registry_readers_for
from stacks.platform import Platform, build_platform

ROOT = Path(__file__).resolve().parent.parent


def cdk_context() -> dict[str, Any]:
    """The context block of cdk.json (a fresh copy)."""
    return copy.deepcopy(json.loads((ROOT / "cdk.json").read_text())["context"])


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
        context["platform"] = platform_override
    app = new_app(context)
    readers = registry_readers_for(context["platform"], env_name)
    platform = build_platform(app, load_environment(context["platform"], env_name), registry_readers=readers)
    templates = {_unit(stack.stack_name, env_name): Template.from_stack(stack) for stack in platform.stacks}
    return platform, templates


def _unit(stack_name: str, env_name: str) -> str:
    marker = f"-{env_name}-"
    return stack_name.split(marker, 1)[1] if marker in stack_name else stack_name


@cache
def synth_default(env_name: str) -> tuple[Platform, dict[str, Template]]:
    """cdk.json's configuration of `env_name`, synthesized once per test process."""
    return synth(env_name)
