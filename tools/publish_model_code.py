"""Publish a model's code (ml/<model>/) and its MLflow client bundle to the location its pipeline reads.

The pipeline's processing steps mount `s3://<artifact bucket>/code/<model>/` and run the
scripts from there; script-mode training downloads only a gzipped tar of the source folder,
`sourcedir.tar.gz`. Both forms get the model's files plus the MLflow client bundle
(tools/client_bundle.py): `requirements.lock`, the committed lock of the configured server
version, and `wheelhouse/`, its wheels, downloaded here for the pipeline image's Python and
platform and checked against the lock's hashes. The jobs install from these alone
(requirements.txt: `--no-index --find-links wheelhouse --require-hashes -r requirements.lock`).
The platform's own job scripts (jobs/, the pipeline's Evidence and Baseline steps and the
monitoring job) go beside them under `code/<model>/platform/`, with the monitoring job's own
bundle: its lock (Evidently and the same MLflow client, `monitoring-<line>.lock`) as
platform_common.monitoring.MONITORING_LOCK_FILE and its wheels in MONITORING_WHEELHOUSE_DIR, which
the job installs offline before it imports Evidently. A model folder of its own named
`platform/` is refused, so model code can never stand in for them.

Usage (credentials of the target account; the package index reachable from this machine):

    make publish-code ENV=dev MODEL=churn

Every check that needs no AWS call runs first; nothing is uploaded unless the whole bundle is
complete and matches the lock.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_common.monitoring import MONITORING_LOCK_FILE, MONITORING_WHEELHOUSE_DIR
from stacks import naming
from stacks.config import ConfigError, ModelConfig, load_environment
from stacks.mlflow_clients import UnsupportedMlflowVersion, server_line
from stacks.pipeline_definition import (
    BASELINE_SCRIPT,
    CLIENT_LOCK_FILE,
    EVALUATE_SCRIPT,
    EVIDENCE_SCRIPT,
    MONITOR_SCRIPT,
    PLATFORM_CODE_DIR,
    PREPARE_SCRIPT,
    REGISTER_SCRIPT,
    REQUIREMENTS_FILE,
    SOURCE_ARCHIVE,
    TRAIN_SCRIPT,
    WHEELHOUSE_DIR,
)
from tools.client_bundle import (
    IMAGE_PLATFORMS,
    IMAGE_PYTHON_VERSION,
    LOCK_DIR,
    LockEntry,
    LockError,
    download_command,
    lock_path,
    monitoring_lock_path,
    read_lock,
    verify_wheelhouse,
)
from tools.operator_session import OperatorError, caller

ROOT = Path(__file__).resolve().parent.parent
ML_DIR = ROOT / "ml"
JOBS_DIR = ROOT / "jobs"
# The platform's scripts the pipeline runs, by their path under the code prefix.
LAMBDAS_DIR = ROOT / "lambdas"
# The monitoring job imports its modules as the repository lays them out (jobs.monitoring,
# platform_common.monitoring), so they are published below platform/ at the same relative paths.
PLATFORM_SCRIPTS = {
    EVIDENCE_SCRIPT: JOBS_DIR / "write_evidence.py",
    BASELINE_SCRIPT: JOBS_DIR / "write_baseline.py",
    MONITOR_SCRIPT: JOBS_DIR / "monitor_model.py",
    f"{PLATFORM_CODE_DIR}/jobs/__init__.py": JOBS_DIR / "__init__.py",
    **{
        f"{PLATFORM_CODE_DIR}/jobs/monitoring/{path.name}": path
        for path in sorted((JOBS_DIR / "monitoring").glob("*.py"))
    },
    f"{PLATFORM_CODE_DIR}/platform_common/__init__.py": LAMBDAS_DIR / "platform_common" / "__init__.py",
    f"{PLATFORM_CODE_DIR}/platform_common/monitoring.py": LAMBDAS_DIR / "platform_common" / "monitoring.py",
}
_SKIPPED = {"__pycache__", ".ipynb_checkpoints"}
# requirements.txt must install the published bundle and nothing else, whatever the working directory.
OFFLINE_REQUIREMENTS = ("--no-index", f"--find-links {WHEELHOUSE_DIR}", "--require-hashes", f"-r {CLIENT_LOCK_FILE}")

# (lock file, destination folder) -> the lock's wheels in that folder
Downloader = Callable[[Path, Path], None]


class PublishError(RuntimeError):
    """The model or its code cannot be published; nothing was uploaded."""


def code_files(model_dir: Path) -> list[Path]:
    """The files to publish, in a stable order (caches and hidden files left out)."""
    files = [
        path
        for path in sorted(model_dir.rglob("*"))
        if path.is_file()
        and not any(part in _SKIPPED or part.startswith(".") for part in path.relative_to(model_dir).parts)
        and path.suffix != ".pyc"
    ]
    return files


def check_model_code(model_dir: Path, files: Sequence[Path]) -> None:
    """Refuse a model folder the pipeline cannot run or install from."""
    names = {str(path.relative_to(model_dir)) for path in files}
    # Every file a pipeline step runs or installs from; a step missing one fails only mid-execution.
    required = {PREPARE_SCRIPT, TRAIN_SCRIPT, EVALUATE_SCRIPT, REGISTER_SCRIPT, REQUIREMENTS_FILE}
    missing = required - names
    if missing:
        raise PublishError(f"{model_dir} lacks {', '.join(sorted(missing))}: the pipeline runs these scripts")
    generated = sorted(name for name in names if name == CLIENT_LOCK_FILE or name.startswith(f"{WHEELHOUSE_DIR}/"))
    if generated:
        raise PublishError(f"{model_dir} holds {', '.join(generated)}: publish-code writes these; remove them")
    requirements = model_dir / REQUIREMENTS_FILE
    lines = [line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines()]
    given = [" ".join(line.split()) for line in lines if line]
    if sorted(given) != sorted(OFFLINE_REQUIREMENTS):
        raise PublishError(
            f"{requirements}: got {given}; expected exactly these lines besides comments: "
            f"{list(OFFLINE_REQUIREMENTS)} (the jobs install the MLflow client offline from the published lock)"
        )
    reserved = sorted(name for name in names if Path(name).parts[0] == PLATFORM_CODE_DIR)
    if reserved:
        raise PublishError(
            f"{model_dir / PLATFORM_CODE_DIR} is reserved for the platform's job scripts; rename that folder"
        )


def source_archive(destination: Path, members: Sequence[tuple[Path, str]]) -> Path:
    """sourcedir.tar.gz with every member at its archive path, as script mode expects."""
    with tarfile.open(destination, mode="w:gz", compresslevel=6) as archive:
        for path, name in members:
            archive.add(path, arcname=name, recursive=False)
    return destination


def pip_download(lock: Path, destination: Path) -> None:
    """Download the lock's wheels for the pipeline's image with pip, checking every hash."""
    result = subprocess.run(
        download_command(lock, destination, python=sys.executable), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        reason = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "no output")
        raise PublishError(f"pip could not download the wheels of {lock} (exit {result.returncode}): {reason.strip()}")


def build_wheelhouse(lock: Path, destination: Path, download: Downloader) -> tuple[list[LockEntry], list[Path]]:
    """The lock's entries and their wheels, downloaded into `destination` and checked against the lock."""
    try:
        entries = read_lock(lock)
        destination.mkdir(parents=True, exist_ok=True)
        download(lock, destination)
        return entries, verify_wheelhouse(entries, destination)
    except LockError as error:
        raise PublishError(str(error)) from error


@dataclass(frozen=True)
class Bundle:
    """A checked lock and its wheels, downloaded for the image."""

    lock: Path
    wheels: tuple[Path, ...]


def publish(
    *, model: str, model_dir: Path, bucket: str, s3: Any, client: Bundle, monitoring: Bundle, scratch: Path
) -> list[str]:
    """Upload the model's files, both bundles and the archive under code/<model>/; return the keys written."""
    files = code_files(model_dir)
    check_model_code(model_dir, files)
    members = [(path, str(path.relative_to(model_dir))) for path in files]
    members.append((client.lock, CLIENT_LOCK_FILE))
    members += [(wheel, f"{WHEELHOUSE_DIR}/{wheel.name}") for wheel in client.wheels]
    archive = source_archive(scratch / SOURCE_ARCHIVE, members)
    # The monitoring job runs from platform/ of the prefix, not from the training archive.
    platform = [(path, relative) for relative, path in PLATFORM_SCRIPTS.items()]
    platform.append((monitoring.lock, MONITORING_LOCK_FILE))
    platform += [(wheel, f"{MONITORING_WHEELHOUSE_DIR}/{wheel.name}") for wheel in monitoring.wheels]
    prefix = f"code/{model}/"
    keys = []
    for path, name in [*members, *platform]:
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)
        keys.append(prefix + name)
    with archive.open("rb") as body:
        s3.put_object(Bucket=bucket, Key=prefix + SOURCE_ARCHIVE, Body=body)
    keys.append(prefix + SOURCE_ARCHIVE)
    for wheelhouse in (WHEELHOUSE_DIR, MONITORING_WHEELHOUSE_DIR):
        _remove_stale_wheels(s3, bucket, f"{prefix}{wheelhouse}/", keep=set(keys))
    return keys


def _remove_stale_wheels(s3: Any, bucket: str, prefix: str, *, keep: set[str]) -> None:
    # Wheels of an earlier lock: pip would ignore them (the lock pins versions and hashes), but the
    # processing steps would still download them with the code.
    stale = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if item["Key"] not in keep
    ]
    for start in range(0, len(stale), 1000):
        batch = [{"Key": key} for key in stale[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def _own_images_note(model: ModelConfig) -> str | None:
    if not (model.training.image_uri or model.processing.image_uri):
        return None
    return (
        f"note: model {model.name!r} names its own image; the wheelhouse is built for the scikit-learn 1.4-2 "
        f"image's CPython {IMAGE_PYTHON_VERSION} on {IMAGE_PLATFORMS[0]} or older, and installs only on a compatible one"
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    session: Any = None,
    download: Downloader = pip_download,
    lock_dir: Path = LOCK_DIR,
) -> int:
    """Publish one model's code and MLflow client bundle; a one-line error and exit 2 when that is not possible."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev", help="environment in cdk.json (default dev)")
    parser.add_argument("--model", required=True, help="model name, as in cdk.json")
    parser.add_argument(
        "--platform-json",
        type=Path,
        help="a file holding the platform configuration alone, read instead of cdk.json (the tests' fixture)",
    )
    args = parser.parse_args(argv)
    try:
        platform = (
            json.loads(args.platform_json.read_text())
            if args.platform_json is not None
            else json.loads((ROOT / "cdk.json").read_text())["context"]["platform"]
        )
        return _publish(args.env, args.model, platform, session=session, download=download, lock_dir=lock_dir)
    except PublishError as error:
        print(f"publish-code: {error}", file=sys.stderr)
        return 2


def _publish(
    environment: str, model_name: str, platform: object, *, session: Any, download: Downloader, lock_dir: Path
) -> int:
    try:
        config = load_environment(platform, environment)
        line = server_line(config.mlflow.version, config_path=f"environments.{environment}.mlflow.version")
    except (ConfigError, UnsupportedMlflowVersion) as error:
        raise PublishError(f"cdk.json: {error}") from error
    models = {m.name: m for m in config.models}
    if model_name not in models:
        known = ", ".join(models) or "none"
        raise PublishError(f"--model {model_name!r} is not a model of {environment} (known: {known})")
    model_dir = ML_DIR / model_name
    if not model_dir.is_dir():
        raise PublishError(f"no code for model {model_name!r}: expected a folder {model_dir}")
    check_model_code(model_dir, code_files(model_dir))
    lock = lock_path(line, lock_dir)
    if not lock.is_file():
        raise PublishError(f"no MLflow client lock for server {line}: expected {lock} (make lock writes it)")
    monitoring_lock = monitoring_lock_path(line, lock_dir)
    if not monitoring_lock.is_file():
        raise PublishError(f"no monitoring lock for server {line}: expected {monitoring_lock} (make lock writes it)")
    note = _own_images_note(models[model_name])
    if note:
        print(note, file=sys.stderr)

    try:
        aws = caller(config, session)
    except OperatorError as error:
        raise PublishError(str(error)) from error
    session = aws.session
    bucket = naming.artifact_bucket_name(config, account=aws.account, region=aws.region)
    with tempfile.TemporaryDirectory(prefix="publish-code-") as scratch:
        _, wheels = build_wheelhouse(lock, Path(scratch) / WHEELHOUSE_DIR, download)
        _, monitoring_wheels = build_wheelhouse(monitoring_lock, Path(scratch) / MONITORING_WHEELHOUSE_DIR, download)
        client = Bundle(lock=lock, wheels=tuple(wheels))
        monitoring = Bundle(lock=monitoring_lock, wheels=tuple(monitoring_wheels))
        keys = _upload(model_name, model_dir, bucket, session, client, monitoring, Path(scratch))
    print(
        f"s3://{bucket}/code/{model_name}/: {len(keys)} objects, {len(wheels)} + {len(monitoring_wheels)} of them "
        f"wheels (locks {lock.name}, {monitoring_lock.name})"
    )
    for key in keys:
        if f"/{WHEELHOUSE_DIR}/" not in key and f"/{MONITORING_WHEELHOUSE_DIR}/" not in key:
            print(f"s3://{bucket}/{key}")
    return 0


def _upload(
    model: str, model_dir: Path, bucket: str, session: Any, client: Bundle, monitoring: Bundle, scratch: Path
) -> list[str]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return publish(
            model=model,
            model_dir=model_dir,
            bucket=bucket,
            s3=session.client("s3"),
            client=client,
            monitoring=monitoring,
            scratch=scratch,
        )
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"upload to s3://{bucket}/code/{model}/ failed: {error}") from error


if __name__ == "__main__":
    sys.exit(main())
