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
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import Token
from aws_cdk.assertions import Template

from stacks.config import load_environment
from stacks.config.delivery import registry_readers_for, registry_source_for
from stacks.least_privilege import AssemblyStack
from stacks.platform import Platform, build_platform
from tests import synth_cache

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
    """Build one environment's stacks and return them with their templates by stack unit name.

    The templates come from tests/synth_cache.py when the same inputs were synthesized before
    (by this run's other worker or an earlier run); the platform's constructs are then built
    only if the caller reads them (`DeferredPlatform`).
    """
    context = cdk_context()
    if platform_override is not None:
        context[PLATFORM_KEY] = copy.deepcopy(platform_override)
    built: tuple[Platform, dict[str, Template]] | None = None

    def create() -> list[dict[str, Any]]:
        nonlocal built
        built = _build(env_name, context)
        platform, templates = built
        return [
            {
                "unit": _unit(stack.stack_name, env_name),
                "stack_name": stack.stack_name,
                # Pinned regions only: an environment-agnostic stack's region is a token of this process.
                "region": None if Token.is_unresolved(stack.region) else stack.region,
                "termination_protection": stack.termination_protection,
                "template": templates[_unit(stack.stack_name, env_name)].to_json(),
                "metadata": metadata,
            }
            # Template.from_stack wrote the cloud assembly stack_metadata reads.
            for stack, metadata in zip(platform.stacks, stack_metadata(platform.stacks), strict=True)
        ]

    entries = synth_cache.get_or_create(synth_cache.key_for("platform", env_name, context), create)
    stored = {
        entry["unit"]: StoredTemplate(
            entry["stack_name"],
            entry["region"],
            entry["template"],
            termination_protection=entry["termination_protection"],
            metadata=entry["metadata"],
        )
        for entry in entries
    }
    if built is not None:
        platform, templates = built
        for unit, template in templates.items():
            stored[unit].attach(template)
        return platform, dict(stored)
    return DeferredPlatform(lambda: _build(env_name, context)[0]), dict(stored)  # type: ignore[return-value]


def _build(env_name: str, context: dict[str, Any]) -> tuple[Platform, dict[str, Template]]:
    app = new_app(context)
    readers = registry_readers_for(context[PLATFORM_KEY], env_name)
    source = registry_source_for(context[PLATFORM_KEY], env_name)
    platform = build_platform(
        app, load_environment(context[PLATFORM_KEY], env_name), registry_readers=readers, registry_source=source
    )
    templates = {_unit(stack.stack_name, env_name): Template.from_stack(stack) for stack in platform.stacks}
    return platform, templates


def stack_metadata(stacks: Sequence[cdk.Stack]) -> list[dict[str, Any]]:
    """Each stack's construct metadata by path, from the cloud assembly its synthesis wrote.

    Read as the least-privilege check reads it (`AssemblyStack.load_all`).
    """
    paths = [str(Path(cdk.Stage.of(stack).outdir) / stack.template_file) for stack in stacks]  # type: ignore[union-attr]
    return [dict(stack.metadata) for stack in AssemblyStack.load_all(paths)]


class StoredTemplate:
    """A synthesized template: `to_json()` from the stored JSON, every other `Template` method on a `Template`.

    Also holds what the stack declares outside its template: its name, its region where the
    configuration pins one, whether it is termination protected, and the cloud assembly's
    metadata entries of its constructs by path (logical IDs, acknowledgements).

    `to_json()` of a `Template` is a round trip that copies the template out of the CDK's runtime
    (about 0.1 s for the automation stack); here it parses the stored text, a fresh copy each call.
    """

    def __init__(
        self,
        stack_name: str,
        region: str | None,
        template: dict[str, Any],
        *,
        termination_protection: bool = False,
        metadata: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.region = region
        self.termination_protection = termination_protection
        self.metadata = metadata or {}
        self._text = json.dumps(template)
        self._template: Template | None = None

    def attach(self, template: Template) -> None:
        """Use the `Template` this was synthesized as (no copy into the runtime needed)."""
        self._template = template

    def to_json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self._text)
        return loaded

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._template is None:
            self._template = Template.from_json(json.loads(self._text))
        return getattr(self._template, name)


class DeferredPlatform:
    """A `Platform` whose constructs are built on first use: tests that read only templates never pay for them."""

    def __init__(self, build: Callable[[], Platform]) -> None:
        self._build = build
        self._platform: Platform | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._platform is None:
            self._platform = self._build()
        return getattr(self._platform, name)


def by_stack_name(templates: dict[str, Template]) -> dict[str, dict[str, Any]]:
    """`synth`'s templates as JSON keyed by their stacks' names, as a deployment holds them."""
    return {template.stack_name: template.to_json() for template in templates.values()}  # type: ignore[attr-defined]


def _unit(stack_name: str, env_name: str) -> str:
    marker = f"-{env_name}-"
    return stack_name.split(marker, 1)[1] if marker in stack_name else stack_name


@cache
def synth_default(env_name: str) -> tuple[Platform, dict[str, Template]]:
    """The fixture configuration of `env_name` (tests/fixtures/platform.json), synthesized once per test process."""
    return synth(env_name)
