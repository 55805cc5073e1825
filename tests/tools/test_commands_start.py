"""Each operator command starts as make runs it (`python -m tools.<name>`), without the test suite's import path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.fixtures import three_accounts
from tests.tools.conftest import platform

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("redrive", "replay", "teardown", "new_model", "publish_model_code", "promote", "bootstrap_delivery")

# Imports every command, then validates an environment and a delivery configuration as the commands
# do before they reach AWS; prints which of the CDK's modules that loaded.
_LOADED_BY_COMMANDS = """
import importlib, json, sys
for command in sys.argv[1:]:
    importlib.import_module(f"tools.{command}")
from stacks.config import load_environment
from stacks.config.delivery import load_delivery
settings = json.load(sys.stdin)
load_environment(settings["environment"], "dev")
load_delivery(settings["delivery"]).registry_source()
print(json.dumps([name for name in ("aws_cdk", "jsii", "constructs") if name in sys.modules]))
"""


def _without_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_command_starts_and_prints_its_usage(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"tools.{command}", "--help"],
        cwd=ROOT,
        env=_without_pythonpath(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")


def test_no_command_loads_the_cdk_to_start_or_to_validate_the_configuration() -> None:
    """Given a fresh interpreter, when it imports every command and validates an environment and a delivery
    configuration, then neither aws_cdk nor its jsii runtime is loaded: only synthesis needs them, and
    loading them would add more than a second to every command."""
    settings = {"environment": platform(), "delivery": three_accounts()}
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_COMMANDS, *COMMANDS],
        cwd=ROOT,
        env=_without_pythonpath(),
        input=json.dumps(settings),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
