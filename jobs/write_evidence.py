"""Write the evidence of one pipeline execution (the pipeline's Evidence step, after the metric check passed).

The report is the only thing the approval gate and the deployer believe about a model version:
the metrics the Evaluate step measured, the model artifact those metrics belong to (S3 URI,
VersionId, ETag, SHA-256 and size), the image that serves it, the execution that produced it and
the MLflow run it was logged to. SageMaker uploads the step's output, with the pipeline role, to
`s3://<artifact bucket>/evidence/<model>/<execution id>/evaluation.json`, a prefix no other role
may write (see lambdas/platform_common/evidence.py, which reads and verifies it).

The artifact's version is read from S3 with GetObject, whose response names the VersionId of
the bytes it returns (Amazon S3 API Reference, "GetObject", response header x-amz-version-id,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html); those bytes are hashed and
must equal the copy this job received as input, so the report binds the version to the bytes
the pipeline evaluated. The artifact bucket is versioned; an object without a VersionId is refused.

Runs in the processing image with the standard library and boto3 (the SageMaker scikit-learn
image installs boto3). Settings come from the environment the pipeline sets (MODEL_NAME,
PIPELINE_EXECUTION_ARN, MODEL_DATA_URL, SERVING_IMAGE_URI), each with an option for local runs.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

REPORT_FORMAT = "mlops-platform-evidence/1"
EVIDENCE_FILE = "evaluation.json"
EVALUATION_FILE = "evaluation.json"
MODEL_ARCHIVE = "model.tar.gz"
RUN_INFO_FILE = "mlflow_run.json"
_CHUNK = 1024 * 1024


class EvidenceJobError(RuntimeError):
    """The evidence cannot be written truthfully; the step fails and nothing is registered."""


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    """The hex SHA-256 and the size of everything `stream` yields."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def read_evaluation(evaluation_dir: Path) -> dict[str, Any]:
    """evaluation.json of the Evaluate step, which must hold `metrics: {name: {value: number}}`."""
    path = evaluation_dir / EVALUATION_FILE
    if not path.is_file():
        raise EvidenceJobError(f"{path} does not exist: the Evaluate step's report is needed")
    evaluation: dict[str, Any] | Any = json.loads(path.read_text())
    if not isinstance(evaluation, dict):
        raise EvidenceJobError(f"{path} is not a JSON object")
    metrics = evaluation.get("metrics")
    if not isinstance(metrics, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("value"), int | float) for entry in metrics.values()
    ):
        raise EvidenceJobError(f"{path} is not shaped as {{'metrics': {{name: {{'value': number}}}}}}")
    return evaluation


def read_run_id(archive: Path) -> str:
    """The MLflow run train.py recorded in `mlflow_run.json` inside the model archive."""
    with tarfile.open(archive, "r:gz") as tar:
        # Read the one member in place: nothing is unpacked, so no archive path can escape.
        members = [m for m in tar.getmembers() if m.isfile() and m.name.removeprefix("./") == RUN_INFO_FILE]
        member = tar.extractfile(members[0]) if members else None
        if member is None:
            raise EvidenceJobError(f"{archive} holds no {RUN_INFO_FILE}, so the MLflow run cannot be named")
        with member:
            info = json.loads(member.read().decode())
    run_id = info.get("run_id") if isinstance(info, dict) else None
    if not isinstance(run_id, str) or not run_id:
        raise EvidenceJobError(f"{RUN_INFO_FILE} in {archive} names no run_id: {info!r}")
    return run_id


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Bucket and key of an s3:// URI."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise EvidenceJobError(f"MODEL_DATA_URL must be the model artifact's s3://bucket/key URI, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def artifact_record(s3: Any, model_data_url: str, local_archive: Path) -> dict[str, Any]:
    """The artifact's current S3 version, its ETag, and the SHA-256 and size of its bytes.

    The bytes GetObject returns must be the bytes this job received, or the artifact changed
    while the pipeline ran and no evidence is written.
    """
    bucket, key = split_s3_uri(model_data_url)
    response = s3.get_object(Bucket=bucket, Key=key)
    version_id = response.get("VersionId")
    if not version_id or version_id == "null":
        raise EvidenceJobError(
            f"{model_data_url} has no S3 VersionId: the artifact bucket must be versioned so the evidence can name "
            "the exact object the pipeline evaluated"
        )
    with response["Body"] as body:
        remote_sha, remote_size = sha256_of(body)
    with local_archive.open("rb") as local:
        local_sha, local_size = sha256_of(local)
    if (remote_sha, remote_size) != (local_sha, local_size):
        raise EvidenceJobError(
            f"{model_data_url} (version {version_id}) is not the artifact this step received (SHA-256 {remote_sha} "
            f"vs {local_sha}): it changed while the pipeline ran"
        )
    return {
        "uri": model_data_url,
        "version_id": str(version_id),
        "etag": str(response["ETag"]),
        "sha256": remote_sha,
        "size": remote_size,
    }


def build_report(
    *,
    model: str,
    execution_arn: str,
    run_id: str,
    evaluation: Mapping[str, Any],
    artifact: Mapping[str, Any],
    serving_image: str,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> dict[str, Any]:
    """The evidence report, as the gate and the deployer parse it."""
    return {
        "format": REPORT_FORMAT,
        "model": model,
        "pipeline_execution_arn": execution_arn,
        "mlflow_run_id": run_id,
        "evaluation": dict(evaluation),
        "model_artifact": dict(artifact),
        "serving_image": serving_image,
        "written_at": now().isoformat(timespec="seconds"),
    }


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--evaluation-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/evidence"))
    parser.add_argument("--model-name", default=environ.get("MODEL_NAME") or None)
    parser.add_argument("--pipeline-execution-arn", default=environ.get("PIPELINE_EXECUTION_ARN") or None)
    parser.add_argument("--model-data-url", default=environ.get("MODEL_DATA_URL") or None)
    parser.add_argument("--serving-image-uri", default=environ.get("SERVING_IMAGE_URI") or None)
    args = parser.parse_args(argv)
    for option, variable in (
        ("model_name", "MODEL_NAME"),
        ("pipeline_execution_arn", "PIPELINE_EXECUTION_ARN"),
        ("model_data_url", "MODEL_DATA_URL"),
        ("serving_image_uri", "SERVING_IMAGE_URI"),
    ):
        if not getattr(args, option):
            parser.error(f"no {option.replace('_', ' ')}: set {variable} or pass --{option.replace('_', '-')}")
    return args


def main(argv: Sequence[str] | None = None, *, s3: Any = None) -> int:
    args = parse_args(argv, dict(os.environ))
    archive = args.model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        raise EvidenceJobError(f"{archive} does not exist: the trained model artifact is needed")
    evaluation = read_evaluation(args.evaluation_dir)
    run_id = read_run_id(archive)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    artifact = artifact_record(s3, args.model_data_url, archive)
    report = build_report(
        model=args.model_name,
        execution_arn=args.pipeline_execution_arn,
        run_id=run_id,
        evaluation=evaluation,
        artifact=artifact,
        serving_image=args.serving_image_uri,
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / EVIDENCE_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(
        f"evidence for {args.model_name}: run {run_id}, artifact {artifact['uri']} version {artifact['version_id']} "
        f"(sha256 {artifact['sha256']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
