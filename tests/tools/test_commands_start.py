"""Each operator command starts as make runs it (`python -m tools.<name>`), without the test suite's import path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", ["redrive", "replay", "teardown", "new_model", "publish_model_code"])
def test_the_command_starts_and_prints_its_usage(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", f"tools.{command}", "--help"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")
