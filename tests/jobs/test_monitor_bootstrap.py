"""How the monitoring job installs its bundle before it imports Evidently (the install itself: tests/tools/test_offline_install.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from jobs import monitor_model
from platform_common import monitoring

SETTINGS = [
    *("--model-name", "churn", "--serving-target", "mlops-dev-churn", "--data-bucket", "data"),
    *("--baseline-uri", "s3://artifacts/evidence/churn/x/baseline/", "--model-package-arn", "arn"),
    *("--mlflow-run-id", "run1", "--metric", "accuracy", "--drift-threshold", "0.5"),
    *("--metric-namespace", "mlops-dev/ModelMonitoring"),
]


class Untouchable:
    """An AWS client the run must not reach."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the run reached {name} although the install failed")


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    (tmp_path / Path(monitoring.MONITORING_LOCK_FILE).name).write_text("evidently==0.7.23 --hash=sha256:" + "a" * 64)
    return tmp_path


def test_the_published_bundle_is_installed_offline_with_hashes_required(bundle_dir: Path) -> None:
    calls: list[Sequence[str]] = []
    assert monitor_model.install_bundle(bundle_dir, run_pip=lambda command: calls.append(command) or 0) is None
    ((command),) = calls
    assert command[1:4] == ["-m", "pip", "install"]
    assert "--no-index" in command and "--require-hashes" in command
    assert command[command.index("--find-links") + 1] == str(bundle_dir / "monitoring-wheelhouse")
    assert command[command.index("-r") + 1] == str(bundle_dir / "monitoring.lock")


def test_without_a_bundle_beside_the_script_nothing_is_installed(tmp_path: Path) -> None:
    # From the repository (jobs/), where the test environment already has Evidently.
    calls: list[Sequence[str]] = []
    assert monitor_model.install_bundle(tmp_path, run_pip=lambda command: calls.append(command) or 0) is None
    assert calls == []


def test_a_failed_install_stops_the_job_before_any_read_with_one_line(
    bundle_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given pip refuses the bundle (a hash mismatch, a missing wheel)
    monkeypatch.setattr(monitor_model, "_pip", lambda command: 1)
    # When the job starts, Then it exits 3 naming the folder, and reads and publishes nothing
    code = monitor_model.main(SETTINGS, s3=Untouchable(), cloudwatch=Untouchable(), bundle_dir=bundle_dir)
    assert code == 3
    error = capsys.readouterr().err
    assert error.startswith(f"monitor_model: offline install from {bundle_dir} failed (pip exit 1)")
    assert error.count("\n") == 1


def test_a_bad_setting_is_reported_before_anything_is_installed(
    bundle_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Sequence[str]] = []
    monkeypatch.setattr(monitor_model, "_pip", lambda command: calls.append(command) or 0)
    code = monitor_model.main([*SETTINGS, "--metric", "auc"], bundle_dir=bundle_dir)
    assert code == 2
    assert "--metric: got 'auc'" in capsys.readouterr().err
    assert calls == []
