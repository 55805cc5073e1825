"""Register the trained churn model in MLflow (the pipeline's Register step, run once the metric check passed).

The pipeline runs this only in the passing branch of its metric check, so a model version,
and with automatic model registration the SageMaker model package the approval gate judges,
exists only for a model that met the threshold. It reads:

- `mlflow_run.json`, which train.py leaves beside `model.joblib`: the run and the logged model
  to register. It arrives inside `model.tar.gz` as SageMaker packs the model; a directory
  holding the file itself works too.
- `evaluation.json` from the Evaluate step: the test-set metrics the check was made on.

The test metrics are logged to the run as `test_<name>` first, then an inference
specification is attached to the logged model, then the version is created with its tags in
the same call: the trigger, the pipeline execution (`platform.pipeline_execution_arn`), the
evidence report the Evidence step wrote (`platform.evidence_uri`) and `test_<name>` for each
metric. The run carries the execution and evidence tags too. In that
order, anything that reacts to the new version (the model card SageMaker builds from the run's
metrics, the approval gate) already finds the numbers that passed the check, and the SageMaker
model package that automatic registration creates carries the specification: it does so only
if the specification was attached to the logged model before registration (SageMaker Developer
Guide, "Automatically register SageMaker AI models with SageMaker Model Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
The specification names the serving image and the model artifact SageMaker packed
(`model.tar.gz`, which the scikit-learn image unpacks into /opt/ml/model); AWS's
sagemaker-mlflow plugin stores it as the logged model's `sagemaker_inference_specification.json`
(`sagemaker_mlflow/sagemaker_model_registry/inference_specification.py`).

A version already registered from the same run is reused, so a retried step never creates a
second one; it only gets any tag it lacks.

Tags on MLflow versions can be written by anyone allowed to tag them, so the approval gate
trusts none of them: it verifies the execution with SageMaker and reads the evidence report
itself. The package SageMaker creates for the version is also given the execution and the
evidence URI in its CustomerMetadataProperties, which only the pipeline and the platform's
handlers may update: once automatic registration names the package in the version's
`sagemaker.model_package_arn` tag, this step (running as the pipeline role) adds both entries,
keeping every entry the package has. It waits for the tag at most PACKAGE_LINK_TIMEOUT_SECONDS
(0 skips it); a package it cannot reach is reported, not fatal, because the gate records the
verified execution on the package itself.

Settings come from the environment the pipeline sets (MLFLOW_TRACKING_ARN, else
MLFLOW_TRACKING_URI; MLFLOW_REGISTERED_MODEL_NAME; SERVING_IMAGE_URI, MODEL_DATA_URL;
TRIGGER_REASON, TRIGGER_EVENT_ID, PIPELINE_EXECUTION_ARN; EVIDENCE_URI, PACKAGE_LINK_TIMEOUT_SECONDS),
each with an option for local runs:

    python register.py --model-dir model/ --evaluation-dir evaluation/ --output-dir registration/ \\
        --tracking-uri http://127.0.0.1:5000 --registered-model-name churn \\
        --serving-image-uri <ECR image URI> --model-data-url s3://<bucket>/<key>/model.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import sagemaker_mlflow
from mlflow.entities import Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

RUN_INFO_FILE = "mlflow_run.json"
MODEL_ARCHIVE = "model.tar.gz"
EVALUATION_FILE = "evaluation.json"
REGISTRATION_FILE = "registration.json"
TEST_METRIC_PREFIX = "test_"
# What the scikit-learn serving image reads and answers by default.
SERVING_CONTENT_TYPES = ["text/csv"]
# The claim the gate verifies (lambdas/platform_common/evidence.py reads the same keys), and the
# tag automatic registration writes on the version it created a package for.
EXECUTION_KEY = "platform.pipeline_execution_arn"
EVIDENCE_URI_KEY = "platform.evidence_uri"
PACKAGE_ARN_TAG = "sagemaker.model_package_arn"
PACKAGE_POLL_SECONDS = 10.0


class RegistrationError(ValueError):
    """What the step needs to register the model is missing or malformed; nothing was registered."""


def read_run_info(model_dir: Path) -> dict[str, Any]:
    """The run id and model URI train.py recorded, from `model_dir` or the `model.tar.gz` in it."""
    direct = model_dir / RUN_INFO_FILE
    archive = model_dir / MODEL_ARCHIVE
    if direct.is_file():
        text = direct.read_text()
    elif archive.is_file():
        with tarfile.open(archive, "r:gz") as tar:
            # Read the one member in place: nothing is unpacked, so no archive path can escape.
            members = [m for m in tar.getmembers() if m.isfile() and m.name.removeprefix("./") == RUN_INFO_FILE]
            member = tar.extractfile(members[0]) if members else None
            if member is None:
                raise RegistrationError(
                    f"{archive} holds no {RUN_INFO_FILE}; was the model trained by a train.py that records its run?"
                )
            with member:
                text = member.read().decode()
    else:
        raise RegistrationError(f"neither {RUN_INFO_FILE} nor {MODEL_ARCHIVE} is in {model_dir}")
    info = json.loads(text)
    if not isinstance(info, dict) or not all(info.get(key) for key in ("run_id", "model_uri", "model_id")):
        raise RegistrationError(f"{RUN_INFO_FILE} must name a run_id, a model_uri and a model_id; it holds {info!r}")
    return info


def read_test_metrics(evaluation_dir: Path) -> dict[str, float]:
    """Every metric of evaluation.json, by name."""
    path = evaluation_dir / EVALUATION_FILE
    if not path.is_file():
        raise RegistrationError(f"{path} does not exist: the Evaluate step's report is needed")
    report = json.loads(path.read_text())
    try:
        return {str(name): float(entry["value"]) for name, entry in report["metrics"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RegistrationError(f"{path} is not shaped as {{'metrics': {{name: {{'value': number}}}}}}") from error


def version_tags(test_metrics: Mapping[str, float], context: Mapping[str, str]) -> dict[str, str]:
    """Tags of the new version: why it was trained, by which execution, and its test-set metrics."""
    tags = {key: value for key, value in context.items() if value}
    # repr keeps every digit, so the gate and people read exactly the value the check compared.
    tags.update({TEST_METRIC_PREFIX + name: repr(value) for name, value in test_metrics.items()})
    return tags


def log_test_metrics(client: mlflow.MlflowClient, run_id: str, test_metrics: Mapping[str, float]) -> list[str]:
    """Log the test metrics to the run as test_<name>, skipping those already logged with that value."""
    try:
        logged = client.get_run(run_id).data.metrics
    except MlflowException as error:
        raise RegistrationError(f"MLflow run {run_id} cannot be read from the tracking server: {error}") from error
    timestamp = int(time.time() * 1000)
    missing = [
        Metric(TEST_METRIC_PREFIX + name, value, timestamp, 0)
        for name, value in test_metrics.items()
        if logged.get(TEST_METRIC_PREFIX + name) != value
    ]
    if missing:
        client.log_batch(run_id, metrics=missing)
    return [metric.key for metric in missing]


def inference_specification(serving_image_uri: str, model_data_url: str) -> dict[str, Any]:
    """The SageMaker InferenceSpecification of the model: one container, CSV in and out."""
    return {
        "Containers": [{"Image": serving_image_uri, "ModelDataUrl": model_data_url}],
        "SupportedContentTypes": SERVING_CONTENT_TYPES,
        "SupportedResponseMIMETypes": SERVING_CONTENT_TYPES,
    }


def attach_inference_specification(model_id: str, specification: Mapping[str, Any]) -> str:
    """Store the specification on the logged model, where registration looks for it; its artifact URI."""
    try:
        return str(sagemaker_mlflow.log_inference_specification(model_id, dict(specification)))
    except MlflowException as error:
        raise RegistrationError(
            f"cannot attach the inference specification to logged model {model_id}: {error}"
        ) from error


def provenance_tags(execution_arn: str, evidence_uri: str) -> dict[str, str]:
    """The execution that produced the model and its evidence report, as tags (empty values left out)."""
    return {
        key: value for key, value in {EXECUTION_KEY: execution_arn, EVIDENCE_URI_KEY: evidence_uri}.items() if value
    }


def wait_for_package(
    client: mlflow.MlflowClient,
    name: str,
    version: str,
    timeout_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """The package ARN automatic registration tags the version with, or None if it does not within the timeout."""
    deadline = clock() + timeout_seconds
    while True:
        package_arn = client.get_model_version(name, version).tags.get(PACKAGE_ARN_TAG)
        if package_arn:
            return str(package_arn)
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(PACKAGE_POLL_SECONDS, left))


def record_on_package(sagemaker: Any, package_arn: str, entries: Mapping[str, str]) -> dict[str, str]:
    """Add `entries` to the package's CustomerMetadataProperties, keeping every entry it has; the result.

    The SageMaker API Reference ("UpdateModelPackage") does not say whether the map sent replaces
    the package's or is merged into it, so the whole map is sent.
    """
    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    existing = dict(described.get("CustomerMetadataProperties") or {})
    merged = {**existing, **entries}
    if merged != existing:
        sagemaker.update_model_package(ModelPackageArn=package_arn, CustomerMetadataProperties=merged)
    return merged


def existing_version(client: mlflow.MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The earliest version of `name` registered from `run_id`, if any."""
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return min(versions, key=lambda version: int(version.version), default=None)


def register(
    client: mlflow.MlflowClient,
    *,
    name: str,
    run_info: Mapping[str, Any],
    tags: Mapping[str, str],
    before_creating: Callable[[], None] = lambda: None,
) -> tuple[ModelVersion, bool]:
    """The version of `name` for the run, created unless it exists; True when it was created.

    `before_creating` runs only when a version is about to be created, and a failure there
    leaves the model unregistered. An existing version's package was made when it was created,
    so nothing attached now would reach it.
    """
    run_id = str(run_info["run_id"])
    found = existing_version(client, name, run_id)
    if found is not None:
        for key, value in tags.items():
            if found.tags.get(key) != value:
                client.set_model_version_tag(name, found.version, key, value)
        return found, False
    before_creating()
    # Tags go in with the version so nothing triggered by its creation sees it untagged.
    return mlflow.register_model(str(run_info["model_uri"]), name, tags=dict(tags)), True


def tracking_uri(cli_value: str | None, environ: Mapping[str, str]) -> str | None:
    """The option, else the tracking server ARN, else MLFLOW_TRACKING_URI; None keeps MLflow's default."""
    return cli_value or environ.get("MLFLOW_TRACKING_ARN") or environ.get("MLFLOW_TRACKING_URI") or None


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--evaluation-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/registration"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--registered-model-name", default=environ.get("MLFLOW_REGISTERED_MODEL_NAME") or None)
    parser.add_argument("--serving-image-uri", default=environ.get("SERVING_IMAGE_URI") or None)
    parser.add_argument("--model-data-url", default=environ.get("MODEL_DATA_URL") or None)
    parser.add_argument("--trigger-reason", default=environ.get("TRIGGER_REASON") or "manual")
    parser.add_argument("--trigger-event-id", default=environ.get("TRIGGER_EVENT_ID") or "")
    parser.add_argument("--pipeline-execution-arn", default=environ.get("PIPELINE_EXECUTION_ARN") or "")
    parser.add_argument("--evidence-uri", default=environ.get("EVIDENCE_URI") or "")
    parser.add_argument(
        "--package-link-timeout",
        type=float,
        default=float(environ.get("PACKAGE_LINK_TIMEOUT_SECONDS") or 0),
        help="seconds to wait for the version's package before recording the execution on it (0: do not)",
    )
    args = parser.parse_args(argv)
    if not args.registered_model_name:
        parser.error("no model name: set MLFLOW_REGISTERED_MODEL_NAME or pass --registered-model-name")
    # Without these the package would have no inference specification and could not be deployed.
    if not args.serving_image_uri:
        parser.error("no serving image: set SERVING_IMAGE_URI or pass --serving-image-uri")
    if not args.model_data_url or not args.model_data_url.startswith("s3://"):
        parser.error(
            f"MODEL_DATA_URL / --model-data-url must be the model artifact's s3:// URI, got {args.model_data_url!r}"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    environ = dict(os.environ)
    args = parse_args(argv, environ)
    run_info = read_run_info(args.model_dir)
    test_metrics = read_test_metrics(args.evaluation_dir)

    uri = tracking_uri(args.tracking_uri, environ)
    if uri:
        mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    run_id = str(run_info["run_id"])
    logged = log_test_metrics(client, run_id, test_metrics)
    provenance = provenance_tags(args.pipeline_execution_arn, args.evidence_uri)
    for key, value in provenance.items():
        client.set_tag(run_id, key, value)
    tags = version_tags(
        test_metrics,
        {"trigger_reason": args.trigger_reason, "trigger_event_id": args.trigger_event_id, **provenance},
    )
    specification = inference_specification(args.serving_image_uri, args.model_data_url)
    attached: list[str] = []

    def attach() -> None:
        attached.append(attach_inference_specification(str(run_info["model_id"]), specification))

    version, created = register(
        client, name=args.registered_model_name, run_info=run_info, tags=tags, before_creating=attach
    )

    package = link_package(client, args, str(version.version), provenance)

    record = {
        "registered_model_name": args.registered_model_name,
        "version": str(version.version),
        "created": created,
        "run_id": run_id,
        "model_uri": run_info["model_uri"],
        "test_metrics": test_metrics,
        "inference_specification": specification,
        "inference_specification_uri": attached[0] if attached else None,
        "provenance": provenance,
        "package": package,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / REGISTRATION_FILE).write_text(json.dumps(record, indent=2) + "\n")
    print(f"logged {', '.join(logged) or 'no new metric'} to run {run_id}")
    state = "registered" if created else "already registered as"
    print(
        f"{state} {args.registered_model_name} version {version.version} from run {run_id} at {mlflow.get_tracking_uri()}"
    )
    return 0


def link_package(
    client: mlflow.MlflowClient, args: argparse.Namespace, version: str, provenance: Mapping[str, str]
) -> dict[str, Any]:
    """Record the execution and evidence on the version's package; what happened, for registration.json."""
    if not provenance or args.package_link_timeout <= 0:
        return {"recorded": False, "reason": "not asked to (no execution, or no wait for automatic registration)"}
    package_arn = wait_for_package(client, args.registered_model_name, version, args.package_link_timeout)
    if package_arn is None:
        print(f"warning: no {PACKAGE_ARN_TAG} on version {version} within {args.package_link_timeout:.0f} s")
        return {"recorded": False, "reason": f"no {PACKAGE_ARN_TAG} within {args.package_link_timeout:.0f} s"}
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        record_on_package(boto3.client("sagemaker"), package_arn, provenance)
    except (BotoCoreError, ClientError) as error:
        # The gate records the verified execution on the package itself; this is a convenience.
        print(f"warning: could not record the execution on {package_arn}: {error}")
        return {"arn": package_arn, "recorded": False, "reason": str(error)}
    print(f"recorded {', '.join(provenance)} on {package_arn}")
    return {"arn": package_arn, "recorded": True}


if __name__ == "__main__":
    raise SystemExit(main())
