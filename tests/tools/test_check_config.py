"""`make check-config`: the user's cdk.json through the suite's gates, with its own snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import synth_cache
from tests.lint import findings
from tests.synth import cdk_context
from tools import check_config
from tools.check_config import main


def write_cdk_json(folder: Path, context: dict[str, Any]) -> Path:
    path = folder / "cdk.json"
    path.write_text(json.dumps({"app": "python app.py", "context": context}))
    return path


def run(cdk_json: Path, snapshots: Path, *extra: str) -> int:
    return main(["--cdk-json", str(cdk_json), "--snapshots", str(snapshots), "--env", "staging", *extra])


@pytest.fixture
def repeats_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthesis and cfn-lint run once per distinct input, kept as tests/synth_cache.py keeps templates.

    Both are deterministic, and the runs after a change synthesize and lint the same templates
    again (cfn-lint is most of each run): what those runs check is the comparison with the snapshot.
    The tool's own synthesis and lint still produce every kept answer (tools/check_config.py is
    part of the cache key).
    """
    synthesize = check_config.synthesize

    def synthesize_once(context: dict[str, Any], env_name: str, outdir: Path) -> Any:
        key = synth_cache.key_for("check-config", context, env_name)
        templates, warnings = synth_cache.get_or_create(key, lambda: synthesize(context, env_name, outdir))
        return templates, warnings

    monkeypatch.setattr(check_config, "synthesize", synthesize_once)
    monkeypatch.setattr(check_config, "lint_findings", findings)


def test_a_change_is_recorded_shown_and_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], repeats_remembered: None
) -> None:
    # Given a user's cdk.json whose templates were recorded by a first run
    context = cdk_context()
    cdk_json = write_cdk_json(tmp_path, context)
    snapshots = tmp_path / "config-snapshots"
    assert run(cdk_json, snapshots) == 0
    recorded = sorted(p.name for p in (snapshots / "staging").iterdir())
    assert recorded == [f"mlops-staging-{unit}.json" for unit in ("access", "automation", "data", "tracking")]
    capsys.readouterr()
    # When the user changes a setting
    context["platform"]["environments"]["staging"]["retention"]["log_retention_days"] = 30
    write_cdk_json(tmp_path, context)
    # Then the check fails and shows what changed in which template
    assert run(cdk_json, snapshots) == 1
    err = capsys.readouterr().err
    assert '-        "RetentionInDays": 365' in err and '+        "RetentionInDays": 30' in err
    assert "make check-config UPDATE=1" in err
    # And once accepted, the same configuration passes
    assert run(cdk_json, snapshots, "--update") == 0
    assert run(cdk_json, snapshots) == 0


def test_an_invalid_value_is_refused_by_its_key_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    context = cdk_context()
    context["platform"]["environments"]["staging"]["mlflow"]["size"] = "XL"
    snapshots = tmp_path / "config-snapshots"
    assert run(write_cdk_json(tmp_path, context), snapshots) == 2
    assert "platform.environments.staging.mlflow.size" in capsys.readouterr().err
    assert not snapshots.exists()


def test_an_unknown_environment_is_refused_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cdk_json = write_cdk_json(tmp_path, cdk_context())
    assert main(["--cdk-json", str(cdk_json), "--snapshots", str(tmp_path / "s"), "--env", "qa"]) == 2
    assert "ENV='qa'" in capsys.readouterr().err
