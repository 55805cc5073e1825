"""The example churn model's scripts run as the pipeline runs them, against the session's MLflow server.

Each script is a separate process of the MLflow environment, handed paths as SageMaker hands
them over (SM_* variables, hyperparameters as options, the model packed as model.tar.gz). The
server is read back over its REST API, as the platform's handlers read it; this environment has
no mlflow. tests/integration/conftest.py runs the data steps and the example's two trainings once
per session; test_example_model.py reads them and test_register_step.py registers one.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks import pipeline_definition as pd
from tests.mlflow_server import MlflowServer

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = REPO_ROOT / ".venv-mlflow" / "bin" / "python"
CHURN = REPO_ROOT / "ml" / "churn"
SEED = 42
ROWS = 5000
# The example's own settings: the test that the model clears the default metric threshold
# judges a model trained as the example is meant to be trained.
HYPERPARAMETERS = {"n_estimators": "150", "max_depth": "3"}
# What the ARN training is checked for (its run, plots and tags, no version) does not depend on how
# well the model fits, so it grows a few shallow trees and is not evaluated.
SMALL_HYPERPARAMETERS = {"n_estimators": "20", "max_depth": "2"}
TRACKING_SERVER_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/local-test"
TRAINING_EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn/execution/abc123"
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
    """One training run (and its evaluation, if asked for), with what the server held right after training."""

    experiment_name: str
    model_name: str
    trigger_event_id: str
    run: dict[str, Any]
    # Versions of `model_name` read right after training, before any later step could register one.
    versions_after_training: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    evaluation_dir: Path | None
    model_dir: Path
    packed_model: Path
    training_output: str

    def report(self) -> dict[str, Any]:
        """evaluation.json of the Evaluate step; only for a training that was evaluated."""
        assert self.evaluation is not None, f"{self.model_name} was trained without its Evaluate step"
        return self.evaluation


def start_script(script: str, *args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start one of the model's scripts in the MLflow environment, its output captured."""
    if not MLFLOW_PYTHON.exists():
        pytest.fail(f"{MLFLOW_PYTHON} is missing: create the MLflow test environment (`make test` does)", pytrace=False)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
    environment = {**clean, "PYTHONDONTWRITEBYTECODE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    return subprocess.Popen(
        [str(MLFLOW_PYTHON), str(CHURN / script), *args],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish_script(process: subprocess.Popen[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Wait for a started script; fail the test with its output if it failed and `check` is set."""
    try:
        stdout, stderr = process.communicate(timeout=SCRIPT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    completed = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check and completed.returncode != 0:
        output = completed.stdout + completed.stderr
        assert isinstance(process.args, list)
        script = Path(process.args[1]).name
        pytest.fail(f"{script} exited with {completed.returncode}:\n{output[-4000:]}", pytrace=False)
    return completed


def run_script(
    script: str, *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one of the model's scripts in the MLflow environment; fail the test with its output if asked to."""
    return finish_script(start_script(script, *args, cwd=cwd, env=env), check=check)


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
    """The one run of `experiment_name`, as the server holds it now."""
    experiment = rest(server, "experiments/get-by-name", experiment_name=experiment_name)["experiment"]
    runs = rest(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]}).get("runs", [])
    assert len(runs) == 1, f"expected one run in {experiment_name!r}, found {len(runs)}"
    return runs[0]


def as_dict(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """MLflow's key/value lists (params, metrics, tags) as a dict."""
    return {entry["key"]: entry["value"] for entry in entries}


def model_versions(server: MlflowServer, model_name: str) -> list[dict[str, Any]]:
    """Every version of `model_name` the server holds now."""
    versions: list[dict[str, Any]] = rest(server, "model-versions/search", filter=f"name='{model_name}'").get(
        "model_versions", []
    )
    return versions


def pack_like_sagemaker(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz as SageMaker uploads SM_MODEL_DIR; Evaluate and Register receive this."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination / "model.tar.gz", "w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return destination


def arn_tracking_env(server: MlflowServer, workdir: Path) -> dict[str, str]:
    """The tracking server ARN, as the pipeline passes it, routed by the sagemaker-mlflow plugin to the local server."""
    return {
        pd.ENV_MLFLOW_TRACKING_ARN: TRACKING_SERVER_ARN,
        "SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": server.url,
        # SigV4 signing needs some credentials; the local server ignores the signature.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def generate_data(root: Path, output: str = "data/churn.csv") -> Path:
    """The example's data set, as generate_data.py writes it for ROWS rows and SEED."""
    run_script(
        "generate_data.py",
        *("--rows", str(ROWS), "--seed", str(SEED), "--output", output, "--target", "churned"),
        cwd=root,
    )
    return root / output


def prepare_data(root: Path) -> Prepared:
    """generate_data.py then prepare.py under `root`."""
    generate_data(root)
    run_script("prepare.py", "--input-dir", "data", "--output-dir", "prepared", "--target", "churned", cwd=root)
    return Prepared(root)


@dataclass(frozen=True)
class Trainings:
    """The session's two trainings of the example: given the server's URL, and given the tracking server ARN."""

    by_url: TrainedModel
    by_arn: TrainedModel


@dataclass
class Training:
    """A started train.py; `finish` waits for it, reads what the server recorded and runs the Evaluate step."""

    server: MlflowServer
    prepared: Prepared
    workdir: Path
    experiment_name: str
    model_name: str
    trigger_event_id: str
    evaluate: bool
    process: subprocess.Popen[str]

    def stop(self) -> None:
        """Kill train.py if it still runs: a fixture that failed must not leave it behind."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()

    def finish(self) -> TrainedModel:
        """The training's record, read as soon as it ended (so before any later step touched the server)."""
        completed = finish_script(self.process)
        run = the_run(self.server, self.experiment_name)
        versions_after_training = model_versions(self.server, self.model_name)
        model_dir = self.workdir / "model"
        packed = pack_like_sagemaker(model_dir, self.workdir / "packed")
        evaluation_dir = self.workdir / "evaluation" if self.evaluate else None
        if evaluation_dir is not None:
            run_script(
                pd.EVALUATE_SCRIPT,
                *("--model-dir", str(packed), "--test-dir", str(self.prepared.split("test"))),
                *("--output-dir", str(evaluation_dir), "--target", "churned"),
                cwd=self.workdir,
            )
        return TrainedModel(
            experiment_name=self.experiment_name,
            model_name=self.model_name,
            trigger_event_id=self.trigger_event_id,
            run=run,
            versions_after_training=versions_after_training,
            evaluation=json.loads((evaluation_dir / pd.EVALUATION_FILE).read_text()) if evaluation_dir else None,
            evaluation_dir=evaluation_dir,
            model_dir=model_dir,
            packed_model=packed,
            training_output=completed.stdout + completed.stderr,
        )


def start_training(
    server: MlflowServer,
    prepared: Prepared,
    workdir: Path,
    tracking_env: Mapping[str, str],
    *,
    hyperparameters: Mapping[str, str] = HYPERPARAMETERS,
    evaluate: bool = True,
) -> Training:
    """Start train.py as the Train step runs it, given a registered model name it must not use."""
    suffix = uuid.uuid4().hex[:8]
    experiment_name, model_name, event_id = f"churn-it-{suffix}", f"churn-it-{suffix}", f"evt-{suffix}"
    options = [item for key, value in hyperparameters.items() for item in (f"--{key}", value)]
    process = start_script(
        pd.TRAIN_SCRIPT,
        *options,
        "--target",
        "churned",
        cwd=workdir,
        env={
            "SM_CHANNEL_TRAIN": str(prepared.split("train")),
            "SM_CHANNEL_VALIDATION": str(prepared.split("validation")),
            "SM_MODEL_DIR": str(workdir / "model"),
            pd.ENV_MLFLOW_EXPERIMENT_NAME: experiment_name,
            # What the Train step's environment used to carry: it must no longer lead to a version.
            pd.ENV_MLFLOW_REGISTERED_MODEL_NAME: model_name,
            pd.ENV_TRIGGER_REASON: "data-arrived",
            pd.ENV_TRIGGER_EVENT_ID: event_id,
            pd.ENV_PIPELINE_EXECUTION_ARN: TRAINING_EXECUTION_ARN,
            **tracking_env,
        },
    )
    return Training(server, prepared, workdir, experiment_name, model_name, event_id, evaluate, process)
