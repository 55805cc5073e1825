"""Publishing a model's code and its MLflow client bundle to the location its pipeline reads (under moto).

The wheels come from a fake download: a lock of two tiny wheels built here stands in for the
committed one, so no test reaches a package index.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from platform_common.monitoring import MONITOR_JOB_SCRIPT, MONITORING_LOCK_FILE, MONITORING_WHEELHOUSE_DIR
from tests.synth import FIXTURES
from tests.tools.wheels import build_wheel, lock_line
from tools.publish_model_code import ML_DIR, ROOT, main

# The fixture's dev (churn is its only model), never the user's cdk.json.
PLATFORM_ARGS = ["--env", "dev", "--platform-json", str(FIXTURES / "platform.json")]

REGION = "eu-west-1"
BUCKET = "mlops-dev-mlflow-artifacts-123456789012-eu-west-1"
WHEELS = ("alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture
def session(aws: None) -> boto3.session.Session:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def index(tmp_path: Path) -> Path:
    """Where the fake download finds the lock's wheels."""
    folder = tmp_path / "index"
    build_wheel(folder, "alpha", "1.0")
    build_wheel(folder, "beta", "1.0", requires=["alpha"])
    return folder


@pytest.fixture
def lock_dir(tmp_path: Path, index: Path) -> Path:
    folder = tmp_path / "locks"
    folder.mkdir()
    lines = [lock_line(index / WHEELS[0], "alpha", "1.0"), lock_line(index / WHEELS[1], "beta", "1.0")]
    (folder / "mlflow-3.0.lock").write_text("# test lock\n" + "\n".join(lines) + "\n")
    (folder / "monitoring-3.0.lock").write_text("# test monitoring lock\n" + "\n".join(lines) + "\n")
    return folder


class FakeDownload:
    """Copies the index's wheels, as `pip download -r lock` would; records each call."""

    def __init__(self, index: Path) -> None:
        self.index = index
        self.calls: list[tuple[Path, Path]] = []

    def __call__(self, lock: Path, destination: Path) -> None:
        self.calls.append((lock, destination))
        for wheel in self.index.iterdir():
            shutil.copy(wheel, destination / wheel.name)


def publish(session: boto3.session.Session, download: FakeDownload, lock_dir: Path, model: str = "churn") -> int:
    return main([*PLATFORM_ARGS, "--model", model], session=session, download=download, lock_dir=lock_dir)


def keys(session: boto3.session.Session) -> list[str]:
    listing = session.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def body(session: boto3.session.Session, key: str) -> bytes:
    data: bytes = session.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


def test_scripts_lock_and_wheels_land_under_the_models_code_prefix(
    session: boto3.session.Session, index: Path, lock_dir: Path
) -> None:
    download = FakeDownload(index)
    assert publish(session, download, lock_dir) == 0
    written = set(keys(session))
    assert {
        "code/churn/prepare.py",
        "code/churn/train.py",
        "code/churn/evaluate.py",
        "code/churn/register.py",
        "code/churn/requirements.txt",
        "code/churn/sourcedir.tar.gz",
    } <= written
    # The bundle: the lock of the configured server version, under the name requirements.txt reads
    assert body(session, "code/churn/requirements.lock") == (lock_dir / "mlflow-3.0.lock").read_bytes()
    # and exactly its wheels, byte for byte
    assert {key for key in written if key.startswith("code/churn/wheelhouse/")} == {
        f"code/churn/wheelhouse/{name}" for name in WHEELS
    }
    assert body(session, f"code/churn/wheelhouse/{WHEELS[0]}") == (index / WHEELS[0]).read_bytes()
    assert not [k for k in written if "__pycache__" in k or k.endswith(".pyc")]
    assert body(session, "code/churn/train.py") == (ML_DIR / "churn" / "train.py").read_bytes()
    # And the download was asked for that lock, then for the monitoring job's
    assert [lock for lock, _ in download.calls] == [lock_dir / "mlflow-3.0.lock", lock_dir / "monitoring-3.0.lock"]


def test_the_source_archive_carries_the_bundle_at_its_root(
    session: boto3.session.Session, index: Path, lock_dir: Path
) -> None:
    assert publish(session, FakeDownload(index), lock_dir) == 0
    archive = body(session, "code/churn/sourcedir.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = set(tar.getnames())
        lock = tar.extractfile("requirements.lock")
        assert lock is not None and lock.read() == (lock_dir / "mlflow-3.0.lock").read_bytes()
    # Script mode runs train.py and installs requirements.txt from the archive root, offline.
    assert {"train.py", "requirements.txt", "requirements.lock"} <= names
    assert {f"wheelhouse/{name}" for name in WHEELS} <= names


def test_a_wheel_that_does_not_match_the_lock_uploads_nothing(
    session: boto3.session.Session, index: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the index serves a different file under a locked name
    (index / WHEELS[1]).write_bytes(b"not the locked wheel")
    # When the code is published, Then it is refused with the file's name and nothing is uploaded
    assert publish(session, FakeDownload(index), lock_dir) == 2
    assert f"{WHEELS[1]}: its SHA-256 is not in the lock" in capsys.readouterr().err
    assert keys(session) == []


def test_a_locked_wheel_the_download_did_not_bring_uploads_nothing(
    session: boto3.session.Session, index: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (index / WHEELS[0]).unlink()
    assert publish(session, FakeDownload(index), lock_dir) == 2
    assert "the wheelhouse lacks alpha==1.0" in capsys.readouterr().err
    assert keys(session) == []


def test_wheels_of_an_earlier_lock_are_removed_and_nothing_else(
    session: boto3.session.Session, index: Path, lock_dir: Path
) -> None:
    s3 = session.client("s3")
    s3.put_object(Bucket=BUCKET, Key="code/churn/wheelhouse/old-0.9-py3-none-any.whl", Body=b"old")
    s3.put_object(Bucket=BUCKET, Key="code/churn/notes.txt", Body=b"kept")
    s3.put_object(Bucket=BUCKET, Key="code/fraud/wheelhouse/other-1.0-py3-none-any.whl", Body=b"other model")
    assert publish(session, FakeDownload(index), lock_dir) == 0
    written = keys(session)
    assert "code/churn/wheelhouse/old-0.9-py3-none-any.whl" not in written
    assert {"code/churn/notes.txt", "code/fraud/wheelhouse/other-1.0-py3-none-any.whl"} <= set(written)


def test_requirements_that_would_install_from_an_index_are_refused(
    session: boto3.session.Session,
    index: Path,
    lock_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a model folder whose requirements.txt still names packages to fetch
    model_dir = tmp_path / "ml" / "churn"
    shutil.copytree(ML_DIR / "churn", model_dir)
    (model_dir / "requirements.txt").write_text("mlflow==${MLFLOW_CLIENT_VERSION}\n")
    monkeypatch.setattr("tools.publish_model_code.ML_DIR", tmp_path / "ml")
    download = FakeDownload(index)
    # Then publishing names the file and the lines it must hold, downloads and uploads nothing
    assert publish(session, download, lock_dir) == 2
    error = capsys.readouterr().err
    assert "requirements.txt: got ['mlflow==${MLFLOW_CLIENT_VERSION}']; expected exactly these lines" in error
    assert "'--no-index', '--find-links wheelhouse', '--require-hashes', '-r requirements.lock'" in error
    assert download.calls == []
    assert keys(session) == []


def test_a_model_folder_holding_a_bundle_of_its_own_is_refused(
    session: boto3.session.Session,
    index: Path,
    lock_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_dir = tmp_path / "ml" / "churn"
    shutil.copytree(ML_DIR / "churn", model_dir)
    (model_dir / "requirements.lock").write_text("six==1.17.0\n")
    monkeypatch.setattr("tools.publish_model_code.ML_DIR", tmp_path / "ml")
    assert publish(session, FakeDownload(index), lock_dir) == 2
    assert "holds requirements.lock: publish-code writes these" in capsys.readouterr().err
    assert keys(session) == []


def test_a_server_line_without_a_lock_is_refused_before_any_aws_call(
    index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No session at all: the check must come first.
    assert main([*PLATFORM_ARGS, "--model", "churn"], download=FakeDownload(index), lock_dir=tmp_path) == 2
    assert f"no MLflow client lock for server 3.0: expected {tmp_path / 'mlflow-3.0.lock'}" in capsys.readouterr().err


def test_unknown_model_is_refused_by_name_and_uploads_nothing(
    session: boto3.session.Session, index: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(session, FakeDownload(index), lock_dir, model="fraud") == 2
    assert "'fraud' is not a model of dev" in capsys.readouterr().err
    assert keys(session) == []


def test_a_model_folder_without_its_scripts_is_refused(
    session: boto3.session.Session, index: Path, lock_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "churn").mkdir()
    (tmp_path / "churn" / "train.py").write_text("print('train')\n")
    monkeypatch.setattr("tools.publish_model_code.ML_DIR", tmp_path)
    assert publish(session, FakeDownload(index), lock_dir) == 2
    assert keys(session) == []


def test_a_missing_bucket_is_one_line_naming_the_location(
    aws: None, index: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = boto3.session.Session(region_name=REGION)
    assert publish(session, FakeDownload(index), lock_dir) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"publish-code: upload to s3://{BUCKET}/code/churn/ failed: ")
    assert "NoSuchBucket" in error
    assert error.count("\n") == 1


def run_without_credentials(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """The command make runs, started as make starts it, in a shell with no AWS credentials anywhere."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **variables,
    }
    command = [sys.executable, "-m", "tools.publish_model_code", *PLATFORM_ARGS, "--model", "churn"]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_without_credentials_make_publish_code_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = run_without_credentials(tmp_path, AWS_DEFAULT_REGION=REGION)
    # Exit 2 with one line that says what is missing, before downloading anything
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("publish-code: AWS credentials: Unable to locate credentials;")
    assert result.stdout == ""


def test_without_a_region_the_one_line_names_the_variable_boto3_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same shell as above, less the region; in-process (the test above starts the command as make does)
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main([*PLATFORM_ARGS, "--model", "churn"]) == 2
    assert capsys.readouterr().err == (
        "publish-code: no AWS region: environment 'dev' pins none; set AWS_DEFAULT_REGION or a region in the profile\n"
    )


def test_the_platforms_evidence_job_is_published_beside_the_models_code(
    session: boto3.session.Session, index: Path, lock_dir: Path
) -> None:
    # Given the churn model, when its code is published
    assert publish(session, FakeDownload(index), lock_dir) == 0

    # Then the Evidence step's script sits where the pipeline runs it from, byte for byte
    assert body(session, "code/churn/platform/write_evidence.py") == (ROOT / "jobs" / "write_evidence.py").read_bytes()


def test_a_model_folder_claiming_the_platforms_folder_is_refused(
    session: boto3.session.Session,
    index: Path,
    lock_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given model code that brings its own platform/write_evidence.py
    model_dir = tmp_path / "ml" / "churn"
    shutil.copytree(ML_DIR / "churn", model_dir)
    (model_dir / "platform").mkdir()
    (model_dir / "platform" / "write_evidence.py").write_text("print('anything goes')\n")
    monkeypatch.setattr("tools.publish_model_code.ML_DIR", tmp_path / "ml")

    # When it is published, then nothing is uploaded and the folder is named
    assert publish(session, FakeDownload(index), lock_dir) == 2
    assert "is reserved for the platform's job scripts" in capsys.readouterr().err
    assert keys(session) == []


def test_the_monitoring_jobs_lock_and_wheels_land_where_the_job_installs_from(
    session: boto3.session.Session, index: Path, lock_dir: Path
) -> None:
    # Given the churn model, when its code is published
    assert publish(session, FakeDownload(index), lock_dir) == 0
    written = set(keys(session))
    # Then the monitoring lock of the configured server line is at platform_common.monitoring's key
    assert body(session, f"code/churn/{MONITORING_LOCK_FILE}") == (lock_dir / "monitoring-3.0.lock").read_bytes()
    # And exactly its wheels are in the monitoring wheelhouse, byte for byte, beside the job's script
    assert {key for key in written if key.startswith(f"code/churn/{MONITORING_WHEELHOUSE_DIR}/")} == {
        f"code/churn/{MONITORING_WHEELHOUSE_DIR}/{name}" for name in WHEELS
    }
    assert body(session, f"code/churn/{MONITORING_WHEELHOUSE_DIR}/{WHEELS[1]}") == (index / WHEELS[1]).read_bytes()
    assert body(session, f"code/churn/{MONITOR_JOB_SCRIPT}") == (ROOT / "jobs" / "monitor_model.py").read_bytes()
    # And the training archive does not carry the monitoring bundle
    with tarfile.open(fileobj=io.BytesIO(body(session, "code/churn/sourcedir.tar.gz")), mode="r:gz") as tar:
        assert not [name for name in tar.getnames() if name.startswith("platform/")]


def test_monitoring_wheels_of_an_earlier_lock_are_removed(
    session: boto3.session.Session, index: Path, lock_dir: Path
) -> None:
    stale = f"code/churn/{MONITORING_WHEELHOUSE_DIR}/evidently-0.7.0-py3-none-any.whl"
    session.client("s3").put_object(Bucket=BUCKET, Key=stale, Body=b"old")
    assert publish(session, FakeDownload(index), lock_dir) == 0
    assert stale not in keys(session)


def test_a_monitoring_wheel_that_does_not_match_its_lock_uploads_nothing(
    session: boto3.session.Session, index: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a monitoring lock that admits another build of beta than the one the index serves
    (lock_dir / "monitoring-3.0.lock").write_text(f"alpha==1.0 --hash=sha256:{'0' * 64}\n")
    # Then nothing is uploaded and the file is named
    assert publish(session, FakeDownload(index), lock_dir) == 2
    assert f"{WHEELS[0]}: its SHA-256 is not in the lock" in capsys.readouterr().err
    assert keys(session) == []


def test_a_server_line_without_a_monitoring_lock_is_refused_before_any_aws_call(
    index: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (lock_dir / "monitoring-3.0.lock").unlink()
    assert main(["--env", "dev", "--model", "churn"], download=FakeDownload(index), lock_dir=lock_dir) == 2
    error = capsys.readouterr().err
    assert f"no monitoring lock for server 3.0: expected {lock_dir / 'monitoring-3.0.lock'}" in error


def test_credentials_of_another_account_than_the_pinned_one_upload_nothing(
    session: boto3.session.Session, index: Path, lock_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The caller's account comes from STS GetCallerIdentity; moto answers 123456789012."""
    from tests.tools.conftest import platform

    download = FakeDownload(index)
    pinned = tmp_path / "platform.json"
    pinned.write_text(json.dumps(platform(account="111111111111")))
    argv = ["--env", "dev", "--model", "churn", "--platform-json", str(pinned)]

    assert main(argv, session=session, download=download, lock_dir=lock_dir) == 2

    assert capsys.readouterr().err == (
        "publish-code: the credentials belong to account 123456789012; environment 'dev' is pinned to account "
        "111111111111 (cdk.json: environments.dev.account); use that account's credentials\n"
    )
    assert keys(session) == []


def test_without_credentials_it_stops_with_one_line(
    no_credentials: None, lock_dir: Path, index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*PLATFORM_ARGS, "--model", "churn"]
    assert main(argv, download=FakeDownload(index), lock_dir=lock_dir) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("publish-code: AWS credentials: Unable to locate credentials")
