"""The churn model is registered only by the Register step, after evaluation, against a real MLflow server.

generate_data -> prepare -> train -> evaluate -> register run as separate processes of the
MLflow environment, handing over paths as the pipeline does (SM_* variables for training, the
model packed as model.tar.gz, evaluation.json beside it). Training is given a registered model
name in its environment, as it used to be in the pipeline, to prove it no longer registers.
Register is given the tracking server ARN, as the pipeline gives it, which the sagemaker-mlflow
plugin sends to the local server, and the serving image and model artifact the pipeline gives
it for the inference specification. The server is then read over its REST API.

The server and the scripts run the MLflow version stacks/mlflow_clients.py pins for the
configured server version (the test environment is built with it; tests/mlflow_server.py
refuses to start another).

The data, the training and the evaluation are the session's one pass through them
(tests/integration/conftest.py), which test_example_model.py reads too; this module adds the
Register step. Which values the metrics have does not matter here, only where they end up.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks import pipeline_definition as pd
from tests.integration.churn_pipeline import (
    TrainedModel,
    arn_tracking_env,
    as_dict,
    model_versions,
    rest,
    run_script,
    the_run,
)
from tests.mlflow_server import MLFLOW_XDIST_GROUP, MlflowServer

# On the server's worker, so the session's one server and training serve these tests too.
pytestmark = [pytest.mark.mlflow, pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)]

EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn/execution/reg123"
SERVING_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
MODEL_DATA_URL = (
    "s3://mlops-dev-mlflow-artifacts-123456789012-eu-west-1/pipelines/churn/reg123/train/job/output/model.tar.gz"
)
EVIDENCE_URI = "s3://mlops-dev-mlflow-artifacts-123456789012-eu-west-1/evidence/churn/reg123/evaluation.json"
SPECIFICATION_FILE = "sagemaker_inference_specification.json"


@dataclass(frozen=True)
class PipelineRun:
    """The session's pass through the churn scripts, then Register twice, with what the server held between the steps."""

    model_name: str
    experiment_name: str
    event_id: str
    evaluation_dir: Path
    packed_model: Path
    evaluation: dict[str, Any]
    versions_after_train: list[dict[str, Any]]
    versions_after_register: list[dict[str, Any]]
    versions_after_second_register: list[dict[str, Any]]
    first_registration: dict[str, Any]
    second_registration: dict[str, Any]
    second_output: str
    # The logged model's specification file on the server's artifact store, and when it was
    # last written (ms since the epoch), read right after the first registration.
    specification: dict[str, Any]
    specification_written_ms: int


def logged_model_artifact(server: MlflowServer, model_id: str, name: str) -> Path:
    """Where the local server keeps one file of a logged model's artifacts."""
    model = rest(server, f"logged-models/{model_id}")["model"]
    location = urllib.parse.urlparse(model["info"]["artifact_uri"])
    # A local artifact root is a plain path (or file: URI); a proxied one maps onto the same directory.
    if location.scheme in ("", "file"):
        return Path(location.path) / name
    return server.artifact_root / location.path.lstrip("/") / name


@pytest.fixture(scope="module")
def pipeline_run(
    mlflow_server: MlflowServer, churn_trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> PipelineRun:
    """Register the session's training twice, as a retried Register step would, reading the server after each."""
    workdir = tmp_path_factory.mktemp("churn-register")
    trained = churn_trained
    model_name, event_id = trained.model_name, trained.trigger_event_id
    evaluation_dir = trained.evaluation_dir
    assert evaluation_dir is not None, "the session's training is evaluated before it is registered"
    packed = trained.packed_model
    trigger = {
        pd.ENV_TRIGGER_REASON: "data-arrived",
        pd.ENV_TRIGGER_EVENT_ID: event_id,
        pd.ENV_PIPELINE_EXECUTION_ARN: EXECUTION_ARN,
    }

    def register(output_dir: str) -> subprocess.CompletedProcess[str]:
        return run_script(
            pd.REGISTER_SCRIPT,
            *("--model-dir", str(packed), "--evaluation-dir", str(evaluation_dir), "--output-dir", output_dir),
            cwd=workdir,
            env={
                **arn_tracking_env(mlflow_server, workdir),
                pd.ENV_MLFLOW_REGISTERED_MODEL_NAME: model_name,
                pd.ENV_SERVING_IMAGE_URI: SERVING_IMAGE,
                pd.ENV_MODEL_DATA_URL: MODEL_DATA_URL,
                pd.ENV_EVIDENCE_URI: EVIDENCE_URI,
                **trigger,
            },
        )

    register("registration-1")
    versions_after_register = model_versions(mlflow_server, model_name)
    model_id = json.loads((trained.model_dir / pd.MLFLOW_RUN_FILE).read_text())["model_id"]
    specification_path = logged_model_artifact(mlflow_server, model_id, SPECIFICATION_FILE)
    specification = json.loads(specification_path.read_text())
    specification_written_ms = specification_path.stat().st_mtime_ns // 1_000_000
    second = register("registration-2")
    return PipelineRun(
        model_name=model_name,
        experiment_name=trained.experiment_name,
        event_id=event_id,
        evaluation_dir=evaluation_dir,
        packed_model=packed,
        evaluation=trained.report(),
        # The training gave train.py this model name, as the Train step's environment used to.
        versions_after_train=trained.versions_after_training,
        versions_after_register=versions_after_register,
        versions_after_second_register=model_versions(mlflow_server, model_name),
        first_registration=json.loads((workdir / "registration-1" / "registration.json").read_text()),
        second_registration=json.loads((workdir / "registration-2" / "registration.json").read_text()),
        second_output=second.stdout + second.stderr,
        specification=specification,
        specification_written_ms=specification_written_ms,
    )


def test_training_logs_the_model_but_registers_no_version(
    mlflow_server: MlflowServer, pipeline_run: PipelineRun
) -> None:
    assert pipeline_run.versions_after_train == []
    run = the_run(mlflow_server, pipeline_run.experiment_name)
    assert run["info"]["status"] == "FINISHED"
    assert {"accuracy", "roc_auc"} <= as_dict(run["data"]["metrics"]).keys()


def test_training_records_its_run_in_the_model_artifact(mlflow_server: MlflowServer, pipeline_run: PipelineRun) -> None:
    with tarfile.open(pipeline_run.packed_model / "model.tar.gz", "r:gz") as archive:
        assert set(archive.getnames()) == {"model.joblib", pd.MLFLOW_RUN_FILE}
        member = archive.extractfile(pd.MLFLOW_RUN_FILE)
        assert member is not None
        info = json.loads(member.read())
    assert info["run_id"] == the_run(mlflow_server, pipeline_run.experiment_name)["info"]["run_id"]
    assert info["model_uri"].startswith("models:/")


def test_register_creates_one_version_from_the_training_run(
    mlflow_server: MlflowServer, pipeline_run: PipelineRun
) -> None:
    (version,) = pipeline_run.versions_after_register
    assert version["version"] == "1"
    assert version["run_id"] == the_run(mlflow_server, pipeline_run.experiment_name)["info"]["run_id"]
    assert pipeline_run.first_registration["created"] is True
    assert pipeline_run.first_registration["version"] == "1"


def test_version_is_tagged_with_the_test_metrics_and_the_trigger(pipeline_run: PipelineRun) -> None:
    (version,) = pipeline_run.versions_after_register
    tags = as_dict(version.get("tags", []))
    for name, entry in pipeline_run.evaluation["metrics"].items():
        assert float(tags[f"test_{name}"]) == entry["value"], name
    assert tags["trigger_reason"] == "data-arrived"
    assert tags["trigger_event_id"] == pipeline_run.event_id
    # The claim the approval gate verifies (lambdas/platform_common/evidence.py), and where the evidence is
    assert tags["platform.pipeline_execution_arn"] == EXECUTION_ARN
    assert tags["platform.evidence_uri"] == EVIDENCE_URI


def test_the_run_names_the_execution_and_its_evidence_too(
    mlflow_server: MlflowServer, pipeline_run: PipelineRun
) -> None:
    tags = as_dict(the_run(mlflow_server, pipeline_run.experiment_name)["data"]["tags"])
    assert tags["platform.pipeline_execution_arn"] == EXECUTION_ARN
    assert tags["platform.evidence_uri"] == EVIDENCE_URI


def test_without_a_wait_for_automatic_registration_no_package_is_touched(pipeline_run: PipelineRun) -> None:
    # PACKAGE_LINK_TIMEOUT_SECONDS is unset here (0), as the pipeline sets it when the server registers nothing
    assert pipeline_run.first_registration["package"]["recorded"] is False
    assert pipeline_run.first_registration["provenance"] == {
        "platform.pipeline_execution_arn": EXECUTION_ARN,
        "platform.evidence_uri": EVIDENCE_URI,
    }


def test_run_holds_the_test_metrics_beside_the_validation_metrics(
    mlflow_server: MlflowServer, pipeline_run: PipelineRun
) -> None:
    metrics = as_dict(the_run(mlflow_server, pipeline_run.experiment_name)["data"]["metrics"])
    for name, entry in pipeline_run.evaluation["metrics"].items():
        assert metrics[f"test_{name}"] == pytest.approx(entry["value"], abs=1e-12), name
        assert name in metrics, f"validation {name} is gone"


def test_registering_the_same_run_again_reuses_its_version(pipeline_run: PipelineRun) -> None:
    assert [v["version"] for v in pipeline_run.versions_after_second_register] == ["1"]
    assert pipeline_run.second_registration["created"] is False
    assert pipeline_run.second_registration["version"] == "1"
    assert "already registered as" in pipeline_run.second_output


def test_the_logged_model_carries_the_inference_specification_the_pipeline_asked_for(
    pipeline_run: PipelineRun,
) -> None:
    # Given the serving image and model artifact the Register step was given
    # Then the logged model holds exactly that specification, which names the packed artifact
    # (so the plugin did not substitute the logged model's own folder)
    assert pipeline_run.specification == {
        "Containers": [{"Image": SERVING_IMAGE, "ModelDataUrl": MODEL_DATA_URL}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    assert pipeline_run.first_registration["inference_specification"] == pipeline_run.specification
    assert pipeline_run.first_registration["inference_specification_uri"].endswith(f"/{SPECIFICATION_FILE}")


def test_the_specification_is_written_before_the_version_is_registered(pipeline_run: PipelineRun) -> None:
    # Automatic registration reads it when the version is created; written later, it would be ignored.
    (version,) = pipeline_run.versions_after_register
    assert pipeline_run.specification_written_ms <= int(version["creation_timestamp"])


def test_registering_again_leaves_the_specification_as_it_was(pipeline_run: PipelineRun) -> None:
    # The version exists, so its package exists: nothing is attached again.
    assert pipeline_run.second_registration["inference_specification_uri"] is None


def test_a_model_whose_specification_cannot_be_attached_is_not_registered(
    mlflow_server: MlflowServer, pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    # Given a model artifact whose run exists but whose logged model does not
    info = json.loads(read_member(pipeline_run.packed_model / "model.tar.gz", pd.MLFLOW_RUN_FILE))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / pd.MLFLOW_RUN_FILE).write_text(json.dumps({**info, "model_id": "m-doesnotexist"}))
    name = f"{pipeline_run.model_name}-nospec"
    # When Register runs for it
    completed = run_script(
        pd.REGISTER_SCRIPT,
        *("--model-dir", "model", "--evaluation-dir", str(pipeline_run.evaluation_dir), "--output-dir", "out"),
        cwd=tmp_path,
        env={
            **arn_tracking_env(mlflow_server, tmp_path),
            pd.ENV_MLFLOW_REGISTERED_MODEL_NAME: name,
            pd.ENV_SERVING_IMAGE_URI: SERVING_IMAGE,
            pd.ENV_MODEL_DATA_URL: MODEL_DATA_URL,
        },
        check=False,
    )
    # Then it fails naming the logged model, and no version (hence no package) exists
    assert completed.returncode != 0
    assert "cannot attach the inference specification to logged model m-doesnotexist" in completed.stderr
    assert model_versions(mlflow_server, name) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (pd.ENV_SERVING_IMAGE_URI, "no serving image"),
        (pd.ENV_MODEL_DATA_URL, "MODEL_DATA_URL / --model-data-url must be the model artifact's s3:// URI"),
    ],
)
def test_register_refuses_to_start_without_what_the_specification_needs(
    pipeline_run: PipelineRun, tmp_path: Path, missing: str, message: str
) -> None:
    environment = {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        pd.ENV_MLFLOW_REGISTERED_MODEL_NAME: pipeline_run.model_name,
        pd.ENV_SERVING_IMAGE_URI: SERVING_IMAGE,
        pd.ENV_MODEL_DATA_URL: MODEL_DATA_URL,
    }
    del environment[missing]
    completed = run_script(
        pd.REGISTER_SCRIPT,
        *("--model-dir", str(pipeline_run.packed_model), "--evaluation-dir", str(pipeline_run.evaluation_dir)),
        cwd=tmp_path,
        env=environment,
        check=False,
    )
    assert completed.returncode == 2
    assert message in completed.stderr


def read_member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(name)
        assert member is not None, f"{archive} has no {name}"
        return member.read()


def test_register_refuses_a_model_artifact_without_its_run(pipeline_run: PipelineRun, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    completed = run_script(
        pd.REGISTER_SCRIPT,
        *("--model-dir", "model", "--evaluation-dir", str(pipeline_run.evaluation_dir)),
        *("--output-dir", "out", "--registered-model-name", pipeline_run.model_name),
        cwd=tmp_path,
        env={
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
            pd.ENV_SERVING_IMAGE_URI: SERVING_IMAGE,
            pd.ENV_MODEL_DATA_URL: MODEL_DATA_URL,
        },
        check=False,
    )
    assert completed.returncode != 0
    assert "neither mlflow_run.json nor model.tar.gz" in completed.stderr
    assert not (tmp_path / "out").exists()
