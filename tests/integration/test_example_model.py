"""The example churn model end to end against a real MLflow server.

generate_data -> prepare -> train -> evaluate run as the pipeline runs them: separate
processes of the MLflow environment, paths handed over as SageMaker hands them over (SM_*
variables, hyperparameters as options, the model packed as model.tar.gz). The server is then
queried over its REST API, as the platform's handlers do; this environment has no mlflow.

Training is exercised twice: with MLFLOW_TRACKING_URI, and with the tracking server ARN the
pipeline passes, which the sagemaker-mlflow plugin sends to SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks import pipeline_definition as pd
from stacks.config import MetricGate
from tests.integration.churn_pipeline import (
    MLFLOW_PYTHON,
    ROWS,
    TRACKING_SERVER_ARN,
    Prepared,
    TrainedModel,
    Trainings,
    as_dict,
    generate_data,
    model_versions,
    rest,
)
from tests.mlflow_server import MLFLOW_XDIST_GROUP, MlflowServer

# On the server's worker: one server, one data set and one training of each kind for the whole
# run (tests/integration/conftest.py); test_register_step.py registers the training by URL.
pytestmark = [pytest.mark.mlflow, pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)]


def artifact_files(server: MlflowServer, run_id: str, path: str) -> dict[str, int]:
    files = rest(server, "artifacts/list", run_id=run_id, path=path).get("files", [])
    return {entry["path"]: int(entry.get("file_size", 0)) for entry in files if not entry.get("is_dir")}


@pytest.fixture
def prepared(churn_prepared: Prepared) -> Prepared:
    return churn_prepared


@pytest.fixture
def trained(churn_trained: TrainedModel) -> TrainedModel:
    """Training pointed at the server by URL (once per session)."""
    return churn_trained


@pytest.fixture
def trained_via_arn(churn_trainings: Trainings) -> TrainedModel:
    """Training given the tracking server ARN, as the pipeline gives it, signed with throwaway credentials."""
    return churn_trainings.by_arn


def test_generated_data_is_reproducible(prepared: Prepared, tmp_path: Path) -> None:
    again = generate_data(tmp_path, "again.csv")
    assert again.read_bytes() == (prepared.root / "data" / "churn.csv").read_bytes()


def test_prepare_writes_disjoint_splits_without_the_identifier(prepared: Prepared) -> None:
    headers, rows = set(), 0
    for name in pd.SPLITS:
        lines = (prepared.split(name) / f"{name}.csv").read_text().splitlines()
        headers.add(lines[0])
        rows += len(lines) - 1
    assert rows == ROWS
    (header,) = headers
    assert "customer_id" not in header.split(",")
    assert "churned" in header.split(",")


def test_run_records_hyperparameters_metrics_and_trigger(trained: TrainedModel) -> None:
    params = as_dict(trained.run["data"]["params"])
    assert params["n_estimators"] == "150"
    assert params["max_depth"] == "3"
    assert params["algorithm"] == "gradient_boosting"
    metrics = as_dict(trained.run["data"]["metrics"])
    for name in pd.TRAINING_LOG_METRICS:
        assert 0.0 <= metrics[name] <= 1.0, f"validation {name} = {metrics.get(name)}"
    tags = as_dict(trained.run["data"]["tags"])
    assert tags["trigger_reason"] == "data-arrived"
    assert tags["trigger_event_id"] == trained.trigger_event_id
    assert tags["pipeline_execution_arn"].endswith("/execution/abc123")
    assert trained.run["info"]["status"] == "FINISHED"


def test_training_prints_the_metrics_the_training_job_captures(trained: TrainedModel) -> None:
    for name in pd.TRAINING_LOG_METRICS:
        assert f"validation:{name}=" in trained.training_output


def test_run_holds_the_confusion_matrix_and_feature_importance_plots(
    mlflow_server: MlflowServer, trained: TrainedModel
) -> None:
    files = artifact_files(mlflow_server, trained.run["info"]["run_id"], "plots")
    assert files.keys() == {"plots/confusion_matrix.png", "plots/feature_importance.png"}
    assert all(size > 1000 for size in files.values()), files


def test_training_alone_registers_nothing(trained: TrainedModel) -> None:
    # Registration is the pipeline's Register step, after the metric check (test_register_step.py);
    # a registered version would reach the model gate before the pipeline had judged it.
    # Read right after training: test_register_step.py registers this same training later on.
    assert trained.versions_after_training == []


def test_model_is_saved_where_sagemaker_packs_it(trained: TrainedModel) -> None:
    assert (trained.model_dir / "model.joblib").stat().st_size > 0


def test_the_logged_model_pins_what_loading_it_needs(mlflow_server: MlflowServer, trained: TrainedModel) -> None:
    """Given the example trained, its logged model's requirements.txt pins MLflow and what unpickling the model
    needs, at the versions of the environment that trained it."""
    model_id = json.loads((trained.model_dir / "mlflow_run.json").read_text())["model_id"]
    (requirements,) = mlflow_server.artifact_root.glob(f"**/{model_id}/artifacts/requirements.txt")
    names = ("mlflow", "scikit-learn", "numpy", "scipy", "cloudpickle")
    installed = subprocess.run(
        [
            str(MLFLOW_PYTHON),
            "-c",
            f"from importlib.metadata import version\nfor n in {names!r}: print(f'{{n}}=={{version(n)}}')",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(requirements.read_text().split()) == sorted(installed)


def test_evaluation_report_has_every_metric_in_range(trained: TrainedModel) -> None:
    metrics = trained.report()["metrics"]
    assert set(metrics) == set(pd.TRAINING_LOG_METRICS)
    for name, entry in metrics.items():
        assert 0.0 <= entry["value"] <= 1.0, f"test {name} = {entry['value']}"
    assert trained.report()["test_rows"] == 750


def test_model_clears_the_default_metric_threshold(trained: TrainedModel) -> None:
    gate = MetricGate()
    assert pd.metric_json_path(gate.name) == f"metrics.{gate.name}.value"
    value = trained.report()["metrics"][gate.name]["value"]
    assert value >= gate.threshold, f"test {gate.name} {value:.4f} is below the default threshold {gate.threshold}"


def test_tracking_server_arn_reaches_the_server_through_the_plugin(
    mlflow_server: MlflowServer, trained_via_arn: TrainedModel
) -> None:
    run = trained_via_arn.run
    assert run["info"]["status"] == "FINISHED"
    assert as_dict(run["data"]["tags"])["trigger_reason"] == "data-arrived"
    assert set(pd.TRAINING_LOG_METRICS) <= as_dict(run["data"]["metrics"]).keys()
    assert model_versions(mlflow_server, trained_via_arn.model_name) == []
    assert artifact_files(mlflow_server, run["info"]["run_id"], "plots").keys() == {
        "plots/confusion_matrix.png",
        "plots/feature_importance.png",
    }
    assert f"at {TRACKING_SERVER_ARN}" in trained_via_arn.training_output
