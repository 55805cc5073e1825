#!/usr/bin/env python3
"""CDK entry point.

`cdk synth -c env=dev|staging|prod` selects the environment (default dev). Run directly,
`python app.py` reads the same context from cdk.json (and `-c`-style overrides from
`PLATFORM_ENV`), which skips the CLI's start-up and is what `make synth` uses.

`-c delivery=true` (or `PLATFORM_DELIVERY=true`) synthesizes instead the delivery pipeline of
`platform.delivery`, with every environment as a stage of it (`make synth-delivery`; the
pipeline's own synth step runs that). Without it, nothing about a single-account synth changes;
with a delivery block, `make synth ENV=dev` writes the templates the pipeline's dev stage deploys,
which let the consuming environments' roles read released versions.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from stacks.config import ConfigError, load_environment
from stacks.config.delivery import load_delivery, registry_readers_for, registry_source_for
from stacks.platform import build_platform
from stacks.synth_messages import has_errors, synth_messages

HERE = Path(__file__).resolve().parent


def _builtin_validation() -> bool:
    """Whether CDK's own CloudFormation validator runs (off unless CDK_VALIDATION=true).

    It only warns (its errors are downgraded unless a feature flag says otherwise), and its
    WebAssembly engine takes one to two seconds to start: most of a synth's time. The templates
    of every environment are linted by cfn-lint in the tests, where a finding fails, and cdk-nag
    keeps gating every synth.
    """
    return os.environ.get("CDK_VALIDATION") == "true"


def _standalone_context() -> dict[str, Any]:
    """cdk.json's context, for runs without the CDK CLI (which would pass it in)."""
    if "CDK_CONTEXT_JSON" in os.environ or "CDK_OUTDIR" in os.environ:
        return {}
    context: dict[str, Any] = json.loads((HERE / "cdk.json").read_text())["context"]
    if os.environ.get("PLATFORM_ENV"):
        context["env"] = os.environ["PLATFORM_ENV"]
    if os.environ.get("PLATFORM_DELIVERY"):
        context["delivery"] = os.environ["PLATFORM_DELIVERY"]
    return context


def build_delivery(app: App, platform: object) -> None:
    """The delivery pipeline stack, in the tooling account `platform.delivery` names."""
    # Imported here so a single-environment synth never loads CDK Pipelines.
    from stacks.delivery_stack import DeliveryStack

    delivery = load_delivery(platform)
    DeliveryStack(
        app,
        delivery.pipeline_name,
        delivery=delivery,
        env=Environment(account=delivery.account, region=delivery.region),
        description=f"{delivery.pipeline_name}: the delivery pipeline (synth, then dev, staging and prod)",
    )


def main() -> None:
    standalone = _standalone_context()
    validation = _builtin_validation()
    app = (
        App(context=standalone, outdir=str(HERE / "cdk.out"), builtin_cloud_formation_validation=validation)
        if standalone
        else App(builtin_cloud_formation_validation=validation)
    )
    env_name = app.node.try_get_context("env") or "dev"
    platform = app.node.try_get_context("platform")
    try:
        if str(app.node.try_get_context("delivery")).lower() == "true":
            build_delivery(app, platform)
        else:
            # The same templates the delivery pipeline's stage of this environment deploys.
            readers = registry_readers_for(platform, env_name)
            source = registry_source_for(platform, env_name)
            build_platform(app, load_environment(platform, env_name), registry_readers=readers, registry_source=source)
    except ConfigError as error:
        print(f"cdk.json: {error}", file=sys.stderr)
        sys.exit(2)
    assembly = app.synth()
    if standalone:
        for stack in assembly.stacks:
            print(f"synthesized {stack.stack_name} -> cdk.out/{stack.template_file}")
        # Under the CLI, the CLI prints these (and stops at errors); run directly, nothing would.
        messages = synth_messages(assembly)
        for message in messages:
            print(message, file=sys.stderr)
        if has_errors(messages):
            print("synth found errors (above): the CDK CLI would refuse to deploy this assembly", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
