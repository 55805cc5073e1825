"""app.py as the CDK CLI runs it: a bad value stops synthesis and names the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import app
from tests.synth import ROOT, cdk_context


def run_app(context: dict[str, object], outdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_invalid_value_stops_synth_naming_the_key(tmp_path: Path) -> None:
    context = cdk_context()
    context["platform"]["environments"]["dev"]["mlflow"]["size"] = "XL"
    result = run_app(context, tmp_path)
    assert result.returncode == 2
    assert "platform.environments.dev.mlflow.size" in result.stderr
    assert "'XL'" in result.stderr and "Small, Medium, Large" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_unknown_environment_stops_synth(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process, with the context as `python app.py` reads it (the test above starts app.py as the CLI does)
    context = cdk_context()
    context["env"] = "qa"
    monkeypatch.setattr(app, "_standalone_context", lambda: context)
    with pytest.raises(SystemExit) as stopped:
        app.main()
    assert stopped.value.code == 2
    assert "-c env=NAME" in capsys.readouterr().err
