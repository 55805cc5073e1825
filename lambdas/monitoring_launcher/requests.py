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

NAME_LIMIT = 63
CODE_MOUNT = "/opt/ml/processing/code"
REPORT_MOUNT = "/opt/ml/processing/reports"
VOLUME_SIZE_GB = 30
MODEL_TAG = "mlops:model"
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


def reports_uri(settings: JobSettings, run: Run, name: str) -> str:
    """Where this run's report goes: one folder per job under the model's reports prefix."""
    return f"s3://{settings.data_bucket}/{contract.reports_prefix(run.model)}{name}/"


def processing_job(settings: JobSettings, run: Run) -> dict[str, Any]:
    """CreateProcessingJob's request for `run`: the model's published code, its image, the platform key."""
    name = job_name(settings.job_prefix, run.model, run.window_end)
    reports = reports_uri(settings, run, name)
    arguments = {
        contract.ARG_MODEL: run.model,
        contract.ARG_SERVING_TARGET: run.serving_target,
        contract.ARG_DATA_BUCKET: settings.data_bucket,
        contract.ARG_BASELINE_URI: run.baseline_uri,
        contract.ARG_PACKAGE_ARN: run.package_arn,
        contract.ARG_MLFLOW_RUN_ID: run.mlflow_run_id,
        contract.ARG_TRACKING_URI: settings.tracking_uri,
        contract.ARG_METRIC_NAME: run.metric_name,
        contract.ARG_DRIFT_THRESHOLD: f"{run.drift_threshold:g}",
        contract.ARG_WINDOW_START: _iso(run.window_start),
        contract.ARG_WINDOW_END: _iso(run.window_end),
        contract.ARG_LOOKBACK_DAYS: str(run.lookback_days),
        contract.ARG_NAMESPACE: settings.namespace,
        contract.ARG_REPORTS_URI: reports,
    }
    return {
        "ProcessingJobName": name,
        "RoleArn": settings.role_arn,
        "AppSpecification": {
            "ImageUri": run.image_uri,
            "ContainerEntrypoint": ["python3", f"{CODE_MOUNT}/{contract.JOB_SCRIPT}"],
            "ContainerArguments": [item for key, value in arguments.items() for item in (f"--{key}", value)],
        },
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
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "reports",
                    "S3Output": {"S3Uri": reports, "LocalPath": REPORT_MOUNT, "S3UploadMode": "EndOfJob"},
                }
            ],
            "KmsKeyId": settings.key_arn,
        },
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
