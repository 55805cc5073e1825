"""The monitoring job's MLflow record (jobs/monitor_model.MlflowTracker) against a real MLflow server.

The tracker runs in the MLflow client environment (.venv-mlflow: the client stacks/mlflow_clients.py
pins for the test server's line, the same mlflow the monitoring lock installs for the job) and logs
to the session's local server; the assertions read back what the server stored, over its REST API.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.mlflow_server import MLFLOW_XDIST_GROUP, MlflowServer
from tools.client_bundle import monitoring_lock_path, read_lock

pytestmark = [pytest.mark.mlflow, pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)]

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = REPO_ROOT / ".venv-mlflow" / "bin" / "python"


def get(server: MlflowServer, endpoint: str, **query: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.api_url}/{endpoint}?{urllib.parse.urlencode(query)}", timeout=10) as response:
        parsed: dict[str, Any] = json.loads(response.read())
    return parsed


@pytest.fixture(scope="module")
def logged(mlflow_server: MlflowServer) -> dict[str, Any]:
    """The ids of a champion's run and of the monitoring run the tracker logged under it."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'lambdas'}",
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    completed = subprocess.run(
        [str(MLFLOW_PYTHON), "-m", "tests.integration.monitoring_tracker_run"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    # MLflow prints a line per finished run to stdout; the ids are the script's last line.
    ids: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    ids["run"] = get(mlflow_server, "runs/get", run_id=ids["monitoring"])["run"]
    return ids


def test_the_monitoring_run_is_a_child_of_the_champions_run_in_its_experiment(logged: dict[str, Any]) -> None:
    run = logged["run"]
    tags = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}
    assert tags["mlflow.parentRunId"] == logged["champion"]
    assert run["info"]["experiment_id"] == logged["experiment_id"]
    assert run["info"]["run_name"] == "monitoring-run-1200"
    assert run["info"]["status"] == "FINISHED"
    assert tags["monitoring.serving_target"] == "mlops-dev-churn"
    assert tags["monitoring.model_package_arn"].endswith(":model-package/churn-abc123/3")
    assert tags["monitoring.window_until"] == "2026-03-01T12:00:00+00:00"


def test_the_runs_figures_are_its_metrics(logged: dict[str, Any]) -> None:
    metrics = {metric["key"]: metric["value"] for metric in logged["run"]["data"]["metrics"]}
    assert metrics == {
        "accuracy": pytest.approx(0.85),
        "DriftedFeatureShare": pytest.approx(2 / 3),
        "DriftDetected": 1.0,
        "PredictionDrift": 0.0,
    }


def test_the_reports_are_the_runs_artifacts(logged: dict[str, Any], mlflow_server: MlflowServer) -> None:
    artifacts = get(mlflow_server, "artifacts/list", run_id=logged["monitoring"], path="monitoring")
    assert sorted(item["path"] for item in artifacts["files"]) == [
        "monitoring/report.html",
        "monitoring/report.json",
        "monitoring/summary.json",
    ]
    stored = Path(logged["run"]["info"]["artifact_uri"].removeprefix("file://")) / "monitoring" / "summary.json"
    assert json.loads(stored.read_text()) == {"run_id": "run-1200"}


def test_the_tracker_runs_the_mlflow_client_the_monitoring_lock_installs(mlflow_server: MlflowServer) -> None:
    # The job logs with the lock's client; this test with the test environment's: they must be one version.
    pins = {entry.key: entry.version for entry in read_lock(monitoring_lock_path("3.0"))}
    assert pins["mlflow"] == mlflow_server.version
