"""Batch serving through the synthesized rules: batch inputs and job ends reach the launcher only.

The rules of an environment with a batch-only model (`scores`) and a realtime model (`churn`)
are loaded into moto EventBridge (as in test_event_routing). Event shapes: Amazon S3 User Guide,
"EventBridge event message structure" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html);
SageMaker Developer Guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge"
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html),
SageMaker Transform Job State Change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cfn import REGION, Resolver
from tests.handlers.conftest import load_event
from tests.synth import synth

pytestmark = pytest.mark.xdist_group("routing")


def batch_platform() -> dict[str, Any]:
    """This module's own environment: a realtime model and a batch-only one (cdk.json is not read)."""
    churn = {"name": "churn", "schedule": "cron(0 3 ? * MON *)"}
    scores = {"name": "scores", "serving": "batch", "batch": {"schedule": "cron(0 4 * * ? *)"}}
    return {"prefix": "mlops", "environments": {"dev": {"models": [churn, scores]}}}


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    _, built = synth("dev", batch_platform())
    return {unit: template.to_json() for unit, template in built.items()}


@pytest.fixture(scope="module")
def resolver(templates: dict[str, dict[str, Any]]) -> Resolver:
    return Resolver(templates)


def s3_put(key: str, bucket: str | None = None) -> dict[str, Any]:
    event = load_event("s3_object_created")
    event["detail"]["object"]["key"] = key
    if bucket is not None:
        event["detail"]["bucket"]["name"] = bucket
    return event


def transform_end(status: str, output: str) -> dict[str, Any]:
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Transform Job State Change",
        "detail": {
            "TransformJobName": "mlops-dev-scores-b20261128040000-abc123",
            "TransformJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:transform-job/mlops-dev-scores-b1",
            "TransformJobStatus": status,
            "ModelName": "mlops-dev-scores-v1",
            "TransformOutput": {"S3OutputPath": output},
            "CreationTime": 1764302400000,
            "Tags": {},
        },
    }


def test_a_batch_input_reaches_the_launcher_and_not_the_retraining_trigger(routed: Any) -> None:
    data_bucket = load_event("s3_object_created")["detail"]["bucket"]["name"]
    routed.put(s3_put("inference/scores/2026-11-28.csv", data_bucket))
    assert set(routed.matched()) == {"mlops-dev-batch-input-landed", "mlops-dev-audit-batch"}


def test_a_data_set_drop_does_not_reach_the_launcher(routed: Any) -> None:
    data_bucket = load_event("s3_object_created")["detail"]["bucket"]["name"]
    routed.put(s3_put("datasets/churn/2026-11-28/train.csv", data_bucket))
    assert set(routed.matched()) == {"mlops-dev-data-landed", "mlops-dev-audit-data"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Completed", {"mlops-dev-transform-job-ended", "mlops-dev-audit-transforms"}),
        ("Failed", {"mlops-dev-transform-job-ended", "mlops-dev-audit-transforms"}),
        ("Stopped", {"mlops-dev-transform-job-ended", "mlops-dev-audit-transforms"}),
        ("InProgress", set()),
    ],
)
def test_the_end_of_a_transform_job_reaches_the_launcher(routed: Any, status: str, expected: set[str]) -> None:
    data_bucket = load_event("s3_object_created")["detail"]["bucket"]["name"]
    routed.put(transform_end(status, f"s3://{data_bucket}/predictions/scores/job/"))
    assert set(routed.matched()) == expected


def test_another_teams_transform_job_does_not_reach_the_launcher(routed: Any) -> None:
    routed.put(transform_end("Completed", "s3://someone-elses-bucket/predictions/scores/job/"))
    assert routed.matched() == {}


def test_an_environment_without_batch_models_has_no_batch_rules() -> None:
    """Realtime models' environments are unchanged: no launcher, no batch rules (the snapshots hold the rest)."""
    _, templates = synth("dev", {"prefix": "mlops", "environments": {"dev": {"models": [{"name": "churn"}]}}})
    automation = templates["automation"].to_json()
    names = {r["Properties"].get("Name") for r in automation["Resources"].values() if r["Type"] == "AWS::Events::Rule"}
    functions = {
        r["Properties"].get("FunctionName")
        for r in automation["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert not {"mlops-dev-batch-input-landed", "mlops-dev-transform-job-ended"} & names
    assert "mlops-dev-deployer" in functions
    assert "mlops-dev-batch-launcher" not in functions


def test_labels_of_a_batch_only_model_reach_the_monitoring_launcher_not_the_trigger(routed: Any) -> None:
    data_bucket = load_event("s3_object_created")["detail"]["bucket"]["name"]
    routed.put(s3_put("monitoring/scores/ground-truth/2026/11/28/labels.jsonl", data_bucket))
    assert set(routed.matched()) == {"mlops-dev-ground-truth-landed-0"}


def test_a_batch_only_model_is_monitored_over_its_predictions_under_its_batch_target(
    templates: dict[str, dict[str, Any]], resolver: Resolver
) -> None:
    """No endpoint captures its traffic, so its catalog entry asks for no capture; the monitoring job
    reads its batch predictions, and its metrics and alarms name the batch target as `Endpoint`
    (platform_common.monitoring.metric_dimensions)."""
    resources = templates["model-scores"]["Resources"]
    (entry,) = [r for r in resources.values() if r["Type"] == "AWS::SSM::Parameter"]
    catalog = json.loads(resolver.resolve(entry["Properties"]["Value"], templates["model-scores"]))
    assert catalog["capture_sampling_percent"] is None
    assert catalog["monitoring_engine"] == "platform"
    assert catalog["serves_endpoint"] is False
    assert catalog["serving_target"] == "mlops-dev-scores-batch"
    assert catalog["monitoring_schedule_name"] == "mlops-dev-scores-monitoring"
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    for name in ("mlops-dev-scores-quality", "mlops-dev-scores-drift"):
        assert {d["Name"]: d["Value"] for d in alarms[name]["Dimensions"]} == {
            "Model": "scores",
            "Endpoint": "mlops-dev-scores-batch",
        }
    silent = alarms["mlops-dev-scores-monitor-silent"]["Metrics"]
    assert {
        d["Value"] for query in silent if "MetricStat" in query for d in query["MetricStat"]["Metric"]["Dimensions"]
    } == {"scores", "mlops-dev-scores-batch"}
