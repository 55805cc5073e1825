"""The Evidence step's job (jobs/write_evidence.py) under moto S3: what it records, and what it refuses to record.

Its report is read by the gate and the deployer through platform_common.evidence, so every
report it writes here is parsed back with that module: the two runtimes share one format.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from jobs import write_evidence
from platform_common import evidence
from stacks import pipeline_definition as pd
from tests.handlers.provenance import model_archive

REGION = "eu-west-1"
BUCKET = "mlops-dev-mlflow-artifacts-123456789012-eu-west-1"
KEY = "pipelines/churn/k3x9q2w7zv1a/train/pipelines-k3x9q2w7zv1a-Train/output/model.tar.gz"
EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-churn/execution/k3x9q2w7zv1a"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
EVALUATION = {"metrics": {"accuracy": {"value": 0.9412}, "f1": {"value": 0.8}}, "test_rows": 750}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The job's inputs as the processing job mounts them, and the environment the pipeline sets."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.tar.gz").write_bytes(model_archive("run0003"))
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "evaluation.json").write_text(json.dumps(EVALUATION))
    for name, value in {
        "MODEL_NAME": "churn",
        "PIPELINE_EXECUTION_ARN": EXECUTION_ARN,
        "MODEL_DATA_URL": f"s3://{BUCKET}/{KEY}",
        "SERVING_IMAGE_URI": IMAGE,
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def run(job: Path, s3: Any) -> int:
    return write_evidence.main(
        [
            "--model-dir",
            str(job / "model"),
            "--evaluation-dir",
            str(job / "evaluation"),
            "--output-dir",
            str(job / "out"),
        ],
        s3=s3,
    )


def test_the_report_names_the_evaluated_artifact_version_and_parses_as_evidence(job: Path, s3: Any) -> None:
    # Given the artifact the Train step uploaded, and the same bytes as this job's input
    put = s3.put_object(Bucket=BUCKET, Key=KEY, Body=(job / "model" / "model.tar.gz").read_bytes())

    # When the job runs
    assert run(job, s3) == 0

    # Then its report, read as the gate reads it, names the model, execution, run, artifact version and image
    raw = (job / "out" / write_evidence.EVIDENCE_FILE).read_bytes()
    report = evidence.parse_report(raw, "s3://bucket/evidence/churn/k3x9q2w7zv1a/evaluation.json")
    assert (report.model, report.pipeline_execution_arn, report.mlflow_run_id) == ("churn", EXECUTION_ARN, "run0003")
    assert report.metrics == {"accuracy": 0.9412, "f1": 0.8}
    assert report.artifact.uri == f"s3://{BUCKET}/{KEY}"
    assert (report.artifact.version_id, report.artifact.etag) == (put["VersionId"], put["ETag"])
    assert report.artifact.size == len((job / "model" / "model.tar.gz").read_bytes())
    assert len(report.artifact.sha256) == 64
    assert report.serving_image == IMAGE
    assert json.loads(raw)["evaluation"] == EVALUATION


def test_an_artifact_that_changed_while_the_pipeline_ran_gets_no_evidence(job: Path, s3: Any) -> None:
    # Given an S3 object that is not the artifact this job received
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=model_archive("run0003", b"replaced"))

    # When the job runs, then it fails and writes nothing
    with pytest.raises(write_evidence.EvidenceJobError, match="it changed while the pipeline ran"):
        run(job, s3)
    assert not (job / "out").exists()


def test_an_unversioned_artifact_gets_no_evidence(job: Path, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=(job / "model" / "model.tar.gz").read_bytes())

    with pytest.raises(
        write_evidence.EvidenceJobError, match="has no S3 VersionId: the artifact bucket must be versioned"
    ):
        run(job, s3)


def test_a_model_archive_without_its_run_gets_no_evidence(job: Path, s3: Any) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("model.joblib")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    (job / "model" / "model.tar.gz").write_bytes(buffer.getvalue())

    with pytest.raises(write_evidence.EvidenceJobError, match=r"holds no mlflow_run\.json"):
        run(job, s3)


def test_an_evaluation_without_numeric_metrics_gets_no_evidence(job: Path, s3: Any) -> None:
    (job / "evaluation" / "evaluation.json").write_text(json.dumps({"metrics": {"accuracy": {"value": "high"}}}))

    with pytest.raises(write_evidence.EvidenceJobError, match="is not shaped as"):
        run(job, s3)


def test_a_missing_setting_is_named(
    job: Path, s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODEL_DATA_URL")

    with pytest.raises(SystemExit) as exited:
        run(job, s3)

    assert exited.value.code == 2
    assert "no model data url: set MODEL_DATA_URL or pass --model-data-url" in capsys.readouterr().err


def test_the_job_and_the_handlers_share_the_report_format_and_location() -> None:
    # The pipeline uploads the job's output file under evidence/<model>/<execution id>/, where the handlers read it.
    assert write_evidence.REPORT_FORMAT == evidence.REPORT_FORMAT
    assert write_evidence.EVIDENCE_FILE == evidence.EVIDENCE_FILE
    assert evidence.evidence_key("churn", "k3x9q2w7zv1a") == "evidence/churn/k3x9q2w7zv1a/evaluation.json"
    assert f"{pd.PLATFORM_CODE_DIR}/write_evidence.py" == pd.EVIDENCE_SCRIPT
