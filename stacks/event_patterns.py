"""EventBridge event patterns of the retraining loop, as plain data.

Kept apart from the constructs so the tests can prove each pattern against real-shaped
events (and near misses) without synthesizing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from platform_common import domain_events
from platform_common.promotion import RECONCILE_INTERVAL_MINUTES

Pattern = dict[str, Any]

# EventBridge caps an event pattern at 2048 characters, so long lists of models are split
# over several rules of at most this many entries.
MODELS_PER_RULE = 40


def data_landed(bucket_name: str, datasets_prefix: str) -> Pattern:
    """A new object under the data sets prefix of the data bucket."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": datasets_prefix}]}},
    }


def ground_truth_landed(bucket_name: str, prefixes: Sequence[str]) -> Pattern:
    """A label file landed under one of the models' `monitoring/<model>/ground-truth/` prefixes."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": p} for p in sorted(prefixes)]}},
    }


def batch_input_landed(bucket_name: str, inference_prefix: str) -> Pattern:
    """A new object under the batch inputs prefix (`inference/`) of the data bucket."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": inference_prefix}]}},
    }


# A transform job ends in one of these (DescribeTransformJob, TransformJobStatus, SageMaker API
# Reference, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html).
TRANSFORM_END_STATUSES = ("Completed", "Failed", "Stopped")


def transform_job_ended(predictions_uri: str) -> Pattern:
    """A transform job writing under the platform's predictions prefix ended, whatever the outcome."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Transform Job State Change"],
        "detail": {
            "TransformJobStatus": list(TRANSFORM_END_STATUSES),
            "TransformOutput": {"S3OutputPath": [{"prefix": predictions_uri}]},
        },
    }


def quality_alarm(alarm_names: Sequence[str]) -> Pattern:
    """A model's quality or drift alarm entering ALARM (never the way back to OK)."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": sorted(alarm_names), "state": {"value": ["ALARM"]}},
    }


def monitoring_job_failed(job_prefix: str) -> Pattern:
    """One of the platform's monitoring Processing jobs failed.

    "SageMaker Processing Job State Change" carries `ProcessingJobName`, `ProcessingJobStatus`
    and `FailureReason` in its detail, as DescribeProcessingJob returns them (SageMaker
    Developer Guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge",
    https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html).
    """
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobName": [{"prefix": job_prefix}], "ProcessingJobStatus": ["Failed"]},
    }


def retraining_requested() -> Pattern:
    """A person (or a tool) asking for a model to be retrained, on the platform bus."""
    return {"source": [domain_events.SOURCE], "detail-type": [domain_events.RETRAINING_REQUESTED]}


def _groups(package_groups: Sequence[str]) -> list[Any]:
    # A name ending in '-' is a prefix (MLflow App: the suffix is only known after creation).
    return [{"prefix": g} if g.endswith("-") else g for g in sorted(package_groups)]


def model_package(package_groups: Sequence[str], approval_status: str) -> Pattern:
    """A model package version of one of the platform's groups reaching `approval_status`."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": _groups(package_groups), "ModelApprovalStatus": [approval_status]},
    }


def endpoint_state(endpoint_names: Sequence[str]) -> Pattern:
    """Status changes of the platform's endpoints (the deployer follows its deployments)."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Endpoint State Change"],
        "detail": {"EndpointName": sorted(endpoint_names)},
    }


def deployer_check_schedule() -> str:
    """How often the deployer reconciles every model: a rate expression ("rate(10 minutes)")."""
    # EventBridge User Guide, "Using cron and rate expressions to schedule rules in Amazon
    # EventBridge" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html):
    # "rate(value unit)", the unit plural when the value is greater than 1.
    unit = "minute" if RECONCILE_INTERVAL_MINUTES == 1 else "minutes"
    return f"rate({RECONCILE_INTERVAL_MINUTES} {unit})"


def pipeline_failed(pipeline_arn_wildcard: str) -> Pattern:
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        "detail": {"currentPipelineExecutionStatus": ["Failed"], "pipelineArn": [{"wildcard": pipeline_arn_wildcard}]},
    }


# A pipeline execution ends in one of these (PipelineExecutionSummary, Amazon SageMaker API
# Reference, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PipelineExecutionSummary.html).
PIPELINE_END_STATUSES = ("Succeeded", "Failed", "Stopped")


def pipeline_run_ended(pipeline_arn_wildcard: str) -> Pattern:
    """A run of one of the platform's pipelines ended, whatever the outcome."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        "detail": {
            "currentPipelineExecutionStatus": list(PIPELINE_END_STATUSES),
            "pipelineArn": [{"wildcard": pipeline_arn_wildcard}],
        },
    }


def platform_events(detail_types: Sequence[str] | None = None) -> Pattern:
    """Domain events the handlers publish (all of them when `detail_types` is None)."""
    pattern: Pattern = {"source": [domain_events.SOURCE]}
    if detail_types is not None:
        pattern["detail-type"] = list(detail_types)
    return pattern


def aws_activity(
    *,
    bucket_name: str,
    datasets_prefix: str,
    pipeline_arn_wildcard: str,
    package_groups: Sequence[str],
    endpoint_prefix: str,
    alarm_prefix: str,
) -> dict[str, Pattern]:
    """AWS events of interest for the audit trail (default bus), one pattern per kind."""
    patterns: dict[str, Pattern] = {
        "data": {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": datasets_prefix}]}},
        },
        "pipelines": {"source": ["aws.sagemaker"], "detail": {"pipelineArn": [{"wildcard": pipeline_arn_wildcard}]}},
        "endpoints": {"source": ["aws.sagemaker"], "detail": {"EndpointName": [{"prefix": endpoint_prefix}]}},
        "alarms": {"source": ["aws.cloudwatch"], "detail": {"alarmName": [{"prefix": alarm_prefix}]}},
    }
    if package_groups:
        patterns["registry"] = {
            "source": ["aws.sagemaker"],
            "detail": {"ModelPackageGroupName": _groups(package_groups)},
        }
    return patterns


def chunks(items: Sequence[str], size: int = MODELS_PER_RULE) -> list[list[str]]:
    ordered = sorted(items)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]
