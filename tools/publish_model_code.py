"""Publish a model's code (ml/<model>/) to the location its pipeline reads it from.

The pipeline's processing steps mount `s3://<artifact bucket>/code/<model>/` and run the
scripts from there; script-mode training downloads only a gzipped tar of the source folder,
`sourcedir.tar.gz`, so both forms are uploaded. The platform's own job scripts (jobs/, the
pipeline's Evidence step) go beside them under `code/<model>/platform/`; a model folder of its
own named `platform/` is refused, so model code can never stand in for them. Usage (credentials
of the target account):

    make publish-code ENV=dev MODEL=churn
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, load_environment
from stacks.pipeline_definition import (
    EVALUATE_SCRIPT,
    EVIDENCE_SCRIPT,
    PLATFORM_CODE_DIR,
    PREPARE_SCRIPT,
    REGISTER_SCRIPT,
    REQUIREMENTS_FILE,
    SOURCE_ARCHIVE,
    TRAIN_SCRIPT,
)

ROOT = Path(__file__).resolve().parent.parent
ML_DIR = ROOT / "ml"
JOBS_DIR = ROOT / "jobs"
# The platform's scripts the pipeline runs, by their path under the code prefix.
PLATFORM_SCRIPTS = {EVIDENCE_SCRIPT: JOBS_DIR / "write_evidence.py"}
_SKIPPED = {"__pycache__", ".ipynb_checkpoints"}


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


def source_archive(model_dir: Path, files: Sequence[Path]) -> bytes:
    """sourcedir.tar.gz with the files at the archive root, as script mode expects."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in files:
            archive.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return buffer.getvalue()


def artifact_bucket(prefix: str, account: str, region: str) -> str:
    """The artifact bucket's name, as stacks/naming.py builds it."""
    return f"{prefix}-mlflow-artifacts-{account}-{region}"


def publish(*, model: str, model_dir: Path, bucket: str, s3: Any) -> list[str]:
    """Upload the scripts and the archive under code/<model>/; return the keys written."""
    files = code_files(model_dir)
    # Every file a pipeline step runs or installs from; a step missing one fails only mid-execution.
    required = {PREPARE_SCRIPT, TRAIN_SCRIPT, EVALUATE_SCRIPT, REGISTER_SCRIPT, REQUIREMENTS_FILE}
    missing = required - {path.name for path in files}
    if missing:
        raise PublishError(f"{model_dir} lacks {', '.join(sorted(missing))}: the pipeline runs these scripts")
    reserved = [path for path in files if path.relative_to(model_dir).parts[0] == PLATFORM_CODE_DIR]
    if reserved:
        raise PublishError(
            f"{model_dir / PLATFORM_CODE_DIR} is reserved for the platform's job scripts; rename that folder"
        )
    archive = source_archive(model_dir, files)
    prefix = f"code/{model}/"
    uploads = [(prefix + str(path.relative_to(model_dir)), path) for path in files]
    uploads += [(prefix + relative, path) for relative, path in PLATFORM_SCRIPTS.items()]
    keys = []
    for key, path in uploads:
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    s3.put_object(Bucket=bucket, Key=prefix + SOURCE_ARCHIVE, Body=archive)
    keys.append(prefix + SOURCE_ARCHIVE)
    return keys


def main(argv: Sequence[str] | None = None, *, session: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev", help="environment in cdk.json (default dev)")
    parser.add_argument("--model", required=True, help="model name, as in cdk.json")
    args = parser.parse_args(argv)

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    try:
        config = load_environment(context["platform"], args.env)
    except ConfigError as error:
        print(f"cdk.json: {error}", file=sys.stderr)
        return 2
    known = [m.name for m in config.models]
    if args.model not in known:
        print(f"--model {args.model!r} is not a model of {args.env} (known: {', '.join(known) or 'none'})",
              file=sys.stderr)  # fmt: skip
        return 2
    model_dir = ML_DIR / args.model
    if not model_dir.is_dir():
        print(f"no code for model {args.model!r}: expected a folder {model_dir}", file=sys.stderr)
        return 2

    if session is None:
        import boto3

        session = boto3.session.Session()
    account = session.client("sts").get_caller_identity()["Account"]
    region = session.region_name
    if not region:
        print("no AWS region configured: set AWS_REGION or a profile region", file=sys.stderr)
        return 2
    bucket = artifact_bucket(config.resource_prefix, account, region)
    try:
        keys = publish(model=args.model, model_dir=model_dir, bucket=bucket, s3=session.client("s3"))
    except PublishError as error:
        print(str(error), file=sys.stderr)
        return 2
    for key in keys:
        print(f"s3://{bucket}/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
