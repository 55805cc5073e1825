#!/usr/bin/env python3
"""CDK entry point.

`cdk synth -c env=dev|staging|prod` selects the environment (default dev). Run directly,
`python app.py` reads the same context from cdk.json (and `-c`-style overrides from
`PLATFORM_ENV`), which skips the CLI's start-up and is what `make synth` uses.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App

from stacks.config import ConfigError, load_environment
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
    return context


def main() -> None:
    standalone = _standalone_context()
    validation = _builtin_validation()
    app = (
        App(context=standalone, outdir=str(HERE / "cdk.out"), builtin_cloud_formation_validation=validation)
        if standalone
        else App(builtin_cloud_formation_validation=validation)
    )
    env_name = app.node.try_get_context("env") or "dev"
    try:
        config = load_environment(app.node.try_get_context("platform"), env_name)
    except ConfigError as error:
        print(f"cdk.json: {error}", file=sys.stderr)
        sys.exit(2)
    build_platform(app, config)
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
