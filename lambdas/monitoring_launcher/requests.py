"""The CreateProcessingJob request of one monitoring run (pure functions).

Names: a processing job name is at most 63 characters matching `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`
(SageMaker API Reference, "CreateProcessingJob", ProcessingJobName,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html). Every
monitoring job is named `<prefix>-<env>-monitor-<model>-<window end>`, shortened with a hash of
the model name when that is too long, so the notification rule for failed jobs matches them all by
the prefix `<prefix>-<env>-monitor-`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from platform_common import monitoring as contract
from platform_common.resource_names import MODEL_TAG, NAME_LIMIT

CODE_MOUNT = "/opt/ml/processing/input/code"
VOLUME_SIZE_GB = 30
WINDOW_END_TAG = "mlops:monitoring-window-end"


@dataclass(frozen=True)
class JobSettings:
    """What every monitoring job of the environment shares (from the launcher's environment)."""

    job_prefix: str
    role_arn: str
    data_bucket: str
    artifact_bucket: str
    key_arn: str
    namespace: str
    tracking_uri: str


@dataclass(frozen=True)
class Run:
    """One monitoring run of one model: what it watches and the window it reads."""

    model: str
    serving_target: str
    image_uri: str
    instance_type: str
    max_runtime_seconds: int
    metric_name: str
    drift_threshold: float
    lookback_days: int
    package_arn: str
    mlflow_run_id: str
    baseline_uri: str
    window_start: datetime
    window_end: datetime


def job_name(job_prefix: str, model: str, window_end: datetime) -> str:
    """`<job prefix><model>-<yyyymmddhhmmss>`, the model shortened with a hash of its name to fit 63 characters."""
    suffix = "-" + window_end.strftime("%Y%m%d%H%M%S")
    name = f"{job_prefix}{model}{suffix}"
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(model.encode()).hexdigest()[:6]
    room = NAME_LIMIT - len(job_prefix) - len(suffix) - len(digest) - 1
    return f"{job_prefix}{model[:room].rstrip('-')}-{digest}{suffix}"


def job_arguments(settings: JobSettings, run: Run, name: str) -> list[str]:
    """The job's options (jobs/monitor_model.py), `--<option> <value>` each; the run id is the job's name."""
    options = {
        contract.OPTION_MODEL: run.model,
        contract.OPTION_SERVING_TARGET: run.serving_target,
        contract.OPTION_DATA_BUCKET: settings.data_bucket,
        contract.OPTION_BASELINE_URI: run.baseline_uri,
        contract.OPTION_PACKAGE_ARN: run.package_arn,
        contract.OPTION_MLFLOW_RUN_ID: run.mlflow_run_id,
        contract.OPTION_METRIC: run.metric_name,
        contract.OPTION_DRIFT_THRESHOLD: f"{run.drift_threshold:g}",
        contract.OPTION_SINCE: _iso(run.window_start),
        contract.OPTION_UNTIL: _iso(run.window_end),
        contract.OPTION_LOOKBACK_DAYS: str(run.lookback_days),
        contract.OPTION_NAMESPACE: settings.namespace,
        contract.OPTION_TRACKING_URI: settings.tracking_uri,
        # The report folder (monitoring/<model>/reports/<job name>/) is then named after the job.
        contract.OPTION_RUN_ID: name,
    }
    return [item for option, value in options.items() for item in (f"--{option}", value)]


def entrypoint() -> list[str]:
    """Run the published job script; SageMaker appends ContainerArguments as its options.

    The job installs Evidently and the MLflow client itself, offline and hash-checked, from the
    lock and wheelhouse publish-code puts beside it (platform_common.monitoring), before it imports
    them. Installing them here instead took a shell line of more than 256 characters, and each
    ContainerEntrypoint string has "Maximum length of 256" (SageMaker API Reference,
    "AppSpecification",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html).
    """
    return ["python3", f"{CODE_MOUNT}/{contract.MONITOR_JOB_SCRIPT}"]


def processing_job(settings: JobSettings, run: Run) -> dict[str, Any]:
    """CreateProcessingJob's request for `run`: the model's published code, its image, the platform key.

    The job writes its reports and watermark to the data bucket itself (the bucket's default
    encryption is the platform key), so the request declares no processing outputs.
    """
    name = job_name(settings.job_prefix, run.model, run.window_end)
    return {
        "ProcessingJobName": name,
        "RoleArn": settings.role_arn,
        "AppSpecification": {
            "ImageUri": run.image_uri,
            "ContainerEntrypoint": entrypoint(),
            "ContainerArguments": job_arguments(settings, run, name),
        },
        "Environment": {"MLFLOW_DISABLE_TELEMETRY": "true"},
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{settings.artifact_bucket}/{contract.code_prefix(run.model)}",
                    "LocalPath": CODE_MOUNT,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": run.instance_type,
                "VolumeSizeInGB": VOLUME_SIZE_GB,
                "VolumeKmsKeyId": settings.key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": run.max_runtime_seconds},
        "Tags": [
            {"Key": MODEL_TAG, "Value": run.model},
            {"Key": WINDOW_END_TAG, "Value": _iso(run.window_end)},
        ],
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
