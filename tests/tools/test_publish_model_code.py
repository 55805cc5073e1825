"""Publishing a model's code to the location its pipeline reads (under moto)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tools.publish_model_code import ML_DIR, main

REGION = "eu-west-1"
BUCKET = "mlops-dev-mlflow-artifacts-123456789012-eu-west-1"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield boto3.session.Session(region_name=REGION)


def keys(session: boto3.session.Session) -> list[str]:
    listing = session.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_scripts_and_source_archive_land_under_the_models_code_prefix(session: boto3.session.Session) -> None:
    assert main(["--env", "dev", "--model", "churn"], session=session) == 0
    written = keys(session)
    assert {"code/churn/prepare.py", "code/churn/train.py", "code/churn/evaluate.py",
            "code/churn/requirements.txt", "code/churn/sourcedir.tar.gz"} <= set(written)  # fmt: skip
    assert not [k for k in written if "__pycache__" in k or k.endswith(".pyc")]
    body = session.client("s3").get_object(Bucket=BUCKET, Key="code/churn/sourcedir.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = archive.getnames()
    # Script mode runs train.py and installs requirements.txt from the archive root.
    assert "train.py" in names and "requirements.txt" in names
    assert (ML_DIR / "churn" / "train.py").read_bytes() == session.client("s3").get_object(
        Bucket=BUCKET, Key="code/churn/train.py")["Body"].read()  # fmt: skip


def test_unknown_model_is_refused_by_name_and_uploads_nothing(
    session: boto3.session.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--env", "dev", "--model", "fraud"], session=session) == 2
    assert "'fraud' is not a model of dev" in capsys.readouterr().err
    assert keys(session) == []


def test_a_model_folder_without_its_scripts_is_refused(
    session: boto3.session.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "churn").mkdir()
    (tmp_path / "churn" / "train.py").write_text("print('train')\n")
    monkeypatch.setattr("tools.publish_model_code.ML_DIR", tmp_path)
    assert main(["--env", "dev", "--model", "churn"], session=session) == 2
    assert keys(session) == []


def test_the_platforms_evidence_job_is_published_beside_the_models_code(session: boto3.session.Session) -> None:
    # Given the churn model, when its code is published
    assert main(["--env", "dev", "--model", "churn"], session=session) == 0

    # Then the Evidence step's script sits where the pipeline runs it from, byte for byte
    body = session.client("s3").get_object(Bucket=BUCKET, Key="code/churn/platform/write_evidence.py")["Body"].read()
    assert body == (ML_DIR.parent / "jobs" / "write_evidence.py").read_bytes()


def test_a_model_folder_claiming_the_platforms_folder_is_refused(
    session: boto3.session.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given model code that brings its own platform/write_evidence.py
    source = ML_DIR / "churn"
    (tmp_path / "churn").mkdir()
    for path in source.iterdir():
        if path.is_file():
            (tmp_path / "churn" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "churn" / "platform").mkdir()
    (tmp_path / "churn" / "platform" / "write_evidence.py").write_text("print('anything goes')\n")
    monkeypatch.setattr("tools.publish_model_code.ML_DIR", tmp_path)

    # When it is published, then nothing is uploaded and the folder is named
    assert main(["--env", "dev", "--model", "churn"], session=session) == 2
    assert "is reserved for the platform's job scripts" in capsys.readouterr().err
    assert keys(session) == []
