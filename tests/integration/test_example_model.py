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
import os
import subprocess
import tarfile
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks import pipeline_definition as pd
from stacks.config import MetricGate
from tests.mlflow_server import MLFLOW_XDIST_GROUP, MlflowServer

# On the server's worker: one server and one training of each kind for the whole run.
pytestmark = [pytest.mark.mlflow, pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)]

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = REPO_ROOT / ".venv-mlflow" / "bin" / "python"
CHURN = REPO_ROOT / "ml" / "churn"
SEED = 42
ROWS = 5000
HYPERPARAMETERS = {"n_estimators": "150", "max_depth": "3"}
TRACKING_SERVER_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/local-test"
SCRIPT_TIMEOUT_SECONDS = 300
# Settings of the calling shell that would leak into the scripts and change what they do.
_FOREIGN_ENV_PREFIXES = ("MLFLOW_", "AWS_", "SM_", "SAGEMAKER_", "TRIGGER_", "TRAINING_JOB", "PIPELINE_EXECUTION")


@dataclass(frozen=True)
class Prepared:
    """The generated data set after the Prepare step."""

    root: Path

    def split(self, name: str) -> Path:
        return self.root / "prepared" / name


@dataclass(frozen=True)
class TrainedModel:
    """One training run and its evaluation, with where the server keeps them."""

    experiment_name: str
    model_name: str
    trigger_event_id: str
    run: dict[str, Any]
    evaluation: dict[str, Any]
    model_dir: Path
    training_seconds: float
    training_output: str


def run_script(script: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run one of the model's scripts in the MLflow environment; fail the test with its output if it fails."""
    if not MLFLOW_PYTHON.exists():
        pytest.fail(f"{MLFLOW_PYTHON} is missing: create the MLflow test environment (`make test` does)", pytrace=False)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
    environment = {**clean, "PYTHONDONTWRITEBYTECODE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    completed = subprocess.run(
        [str(MLFLOW_PYTHON), str(CHURN / script), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        pytest.fail(f"{script} exited with {completed.returncode}:\n{output[-4000:]}", pytrace=False)
    return output


def rest(server: MlflowServer, endpoint: str, body: dict[str, Any] | None = None, **query: str) -> dict[str, Any]:
    """One MLflow REST call: GET with query parameters, or POST with a JSON body."""
    url = f"{server.api_url}/{endpoint}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read() or b"{}")
    return result


def the_run(server: MlflowServer, experiment_name: str) -> dict[str, Any]:
    experiment = rest(server, "experiments/get-by-name", experiment_name=experiment_name)["experiment"]
    runs = rest(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]}).get("runs", [])
    assert len(runs) == 1, f"expected one run in {experiment_name!r}, found {len(runs)}"
    return runs[0]


def as_dict(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["key"]: entry["value"] for entry in entries}


def model_versions(server: MlflowServer, model_name: str) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = rest(server, "model-versions/search", filter=f"name='{model_name}'").get(
        "model_versions", []
    )
    return versions


def artifact_files(server: MlflowServer, run_id: str, path: str) -> dict[str, int]:
    files = rest(server, "artifacts/list", run_id=run_id, path=path).get("files", [])
    return {entry["path"]: int(entry.get("file_size", 0)) for entry in files if not entry.get("is_dir")}


def pack_like_sagemaker(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz as SageMaker uploads SM_MODEL_DIR; the Evaluate step receives this."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination / "model.tar.gz", "w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return destination


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root = tmp_path_factory.mktemp("churn-data")
    run_script(
        "generate_data.py",
        "--rows",
        str(ROWS),
        "--seed",
        str(SEED),
        "--output",
        "data/churn.csv",
        "--target",
        "churned",
        cwd=root,
    )
    run_script("prepare.py", "--input-dir", "data", "--output-dir", "prepared", "--target", "churned", cwd=root)
    return Prepared(root)


def train_and_evaluate(
    server: MlflowServer, prepared: Prepared, workdir: Path, tracking_env: dict[str, str]
) -> TrainedModel:
    suffix = uuid.uuid4().hex[:8]
    experiment_name, model_name, event_id = f"churn-it-{suffix}", f"churn-it-{suffix}", f"evt-{suffix}"
    model_dir = workdir / "model"
    hyperparameter_options = [item for key, value in HYPERPARAMETERS.items() for item in (f"--{key}", value)]
    started = time.monotonic()
    output = run_script(
        "train.py",
        *hyperparameter_options,
        "--target",
        "churned",
        cwd=workdir,
        env={
            "SM_CHANNEL_TRAIN": str(prepared.split("train")),
            "SM_CHANNEL_VALIDATION": str(prepared.split("validation")),
            "SM_MODEL_DIR": str(model_dir),
            "MLFLOW_EXPERIMENT_NAME": experiment_name,
            "MLFLOW_REGISTERED_MODEL_NAME": model_name,
            "TRIGGER_REASON": "data-arrived",
            "TRIGGER_EVENT_ID": event_id,
            "PIPELINE_EXECUTION_ARN": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn/execution/abc123",
            **tracking_env,
        },
    )
    training_seconds = time.monotonic() - started
    packed = pack_like_sagemaker(model_dir, workdir / "packed")
    run_script(
        "evaluate.py",
        "--model-dir",
        str(packed),
        "--test-dir",
        str(prepared.split("test")),
        "--output-dir",
        "evaluation",
        "--target",
        "churned",
        cwd=workdir,
    )
    return TrainedModel(
        experiment_name=experiment_name,
        model_name=model_name,
        trigger_event_id=event_id,
        run=the_run(server, experiment_name),
        evaluation=json.loads((workdir / "evaluation" / pd.EVALUATION_FILE).read_text()),
        model_dir=model_dir,
        training_seconds=training_seconds,
        training_output=output,
    )


@pytest.fixture(scope="module")
def trained(mlflow_server: MlflowServer, prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """Training pointed at the server by URL."""
    workdir = tmp_path_factory.mktemp("churn-uri")
    return train_and_evaluate(mlflow_server, prepared, workdir, {"MLFLOW_TRACKING_URI": mlflow_server.url})


@pytest.fixture(scope="module")
def trained_via_arn(
    mlflow_server: MlflowServer, prepared: Prepared, tmp_path_factory: pytest.TempPathFactory
) -> TrainedModel:
    """Training given the tracking server ARN, as the pipeline gives it, signed with throwaway credentials."""
    workdir = tmp_path_factory.mktemp("churn-arn")
    return train_and_evaluate(
        mlflow_server,
        prepared,
        workdir,
        {
            "MLFLOW_TRACKING_ARN": TRACKING_SERVER_ARN,
            "SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": mlflow_server.url,
            # SigV4 signing needs some credentials; the local server ignores the signature.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )


def test_generated_data_is_reproducible(prepared: Prepared, tmp_path: Path) -> None:
    run_script(
        "generate_data.py",
        "--rows",
        str(ROWS),
        "--seed",
        str(SEED),
        "--output",
        "again.csv",
        "--target",
        "churned",
        cwd=tmp_path,
    )
    assert (tmp_path / "again.csv").read_bytes() == (prepared.root / "data" / "churn.csv").read_bytes()


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


def test_training_alone_registers_nothing(mlflow_server: MlflowServer, trained: TrainedModel) -> None:
    # Registration is the pipeline's Register step, after the metric check (test_register_step.py);
    # a registered version would reach the model gate before the pipeline had judged it.
    assert model_versions(mlflow_server, trained.model_name) == []


def test_model_is_saved_where_sagemaker_packs_it(trained: TrainedModel) -> None:
    assert (trained.model_dir / "model.joblib").stat().st_size > 0


def test_evaluation_report_has_every_metric_in_range(trained: TrainedModel) -> None:
    metrics = trained.evaluation["metrics"]
    assert set(metrics) == set(pd.TRAINING_LOG_METRICS)
    for name, entry in metrics.items():
        assert 0.0 <= entry["value"] <= 1.0, f"test {name} = {entry['value']}"
    assert trained.evaluation["test_rows"] == 750


def test_model_clears_the_default_metric_threshold(trained: TrainedModel) -> None:
    gate = MetricGate()
    assert pd.metric_json_path(gate.name) == f"metrics.{gate.name}.value"
    value = trained.evaluation["metrics"][gate.name]["value"]
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
