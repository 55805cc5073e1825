"""The monitoring launcher under moto: SageMaker (endpoint, packages, Processing jobs), S3, DynamoDB, SSM.

Every AWS call is served by moto (CreateProcessingJob, DescribeProcessingJob, DynamoDB, S3,
CloudWatch PutMetricData, EventBridge PutEvents); no call uses Stubber. moto runs no job, so each
test sets the status DescribeProcessingJob reports (InProgress, Completed, Failed) in moto's backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from monitoring_launcher import handler, logic
from monitoring_launcher.requests import JobSettings, Run, processing_job
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from jobs import monitor_model
from platform_common import env_names, registry
from platform_common import monitoring as contract
from platform_common.catalog import BatchSettings
from platform_common.champion_record import ChampionRecord, ChampionRecords
from tests.handlers.conftest import (
    ACCOUNT,
    BUS_NAME,
    DATA_BUCKET,
    DATA_KEY_ARN,
    LOCK_TABLE,
    REGION,
    TRACKING_SERVER_ARN,
    FakeLambdaContext,
    example_settings,
    put_catalog,
)
from tests.handlers.provenance import ARTIFACT_BUCKET, Execution, Pipelines

JOB_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-monitoring-job"
NAMESPACE = contract.metric_namespace("mlops-dev")
ENDPOINT = "mlops-dev-churn"
SCHEDULE_RULE = "mlops-dev-churn-monitoring"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
GROUP = registry.package_group_name("churn", TRACKING_SERVER_ARN)


def scheduled_event(rule: str = SCHEDULE_RULE) -> dict[str, Any]:
    """EventBridge's Scheduled Event as a scheduled rule delivers it (EventBridge User Guide,
    "Creating a rule that runs on a schedule in Amazon EventBridge")."""
    return {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-30T06:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def label_event(key: str = "monitoring/churn/ground-truth/2026/11/30/labels-0001.jsonl") -> dict[str, Any]:
    """S3 Object Created via EventBridge (Amazon S3 User Guide, "EventBridge event message structure")."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-30T06:10:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{DATA_BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": DATA_BUCKET},
            "object": {"key": key, "size": 120, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "00617F08"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "reason": "PutObject",
        },
    }


class World:
    """One environment in moto: the churn model's catalog entry, endpoint, champion packages and baselines."""

    def __init__(self) -> None:
        self.pipelines = Pipelines()
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.s3.create_bucket(Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS_NAME)
        self.queue_url = self.sqs.create_queue(QueueName="platform-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="all", EventBusName=BUS_NAME, EventPattern='{"source": [{"prefix": ""}]}')
        events.put_targets(Rule="all", EventBusName=BUS_NAME, Targets=[{"Id": "q", "Arn": queue_arn}])
        self.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        self.settings = example_settings(
            capture_sampling_percent=100,
            monitoring_engine="platform",
            monitoring_schedule_name=SCHEDULE_RULE,
            monitoring_image_uri=IMAGE,
        )
        put_catalog(self.settings)
        self.endpoint_arn: str | None = None

    def champion(self, run_id: str, *, baseline: bool = True) -> tuple[str, Execution]:
        """A verified version with (or without) a baseline beside its evidence, deployed and tagged as champion."""
        execution = self.pipelines.execute("churn", metrics={"accuracy": 0.93}, run_id=run_id)
        if baseline:
            key = contract.baseline_prefix("churn", execution.execution_id) + contract.BASELINE_REFERENCE_FILE
            self.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=b"f1,f2\n1,2\n")
        package = self.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            CustomerMetadataProperties=execution.claim(),
            InferenceSpecification=execution.inference_specification(),
        )["ModelPackageArn"]
        if self.endpoint_arn is None:
            self.sagemaker.create_model(
                ModelName="mlops-dev-churn-v1",
                ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-model-execution",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": execution.artifact_uri},
            )
            self.sagemaker.create_endpoint_config(
                EndpointConfigName="mlops-dev-churn-v1",
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": "mlops-dev-churn-v1",
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
            )
            self.endpoint_arn = self.sagemaker.create_endpoint(
                EndpointName=ENDPOINT, EndpointConfigName="mlops-dev-churn-v1"
            )["EndpointArn"]
        self.sagemaker.add_tags(
            ResourceArn=self.endpoint_arn, Tags=[{"Key": logic.PROMOTED_PACKAGE_TAG, "Value": package}]
        )
        return package, execution

    def jobs(self) -> list[dict[str, Any]]:
        """Every Processing job created, described."""
        names = [j["ProcessingJobName"] for j in self.sagemaker.list_processing_jobs()["ProcessingJobSummaries"]]
        return [self.sagemaker.describe_processing_job(ProcessingJobName=n) for n in names]

    def domain_events(self) -> list[str]:
        """Detail types published on the platform bus so far."""
        import json

        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"])["detail-type"])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    @staticmethod
    def set_job_status(name: str, status: str) -> None:
        """End a job as SageMaker would (moto has no job runner)."""
        job = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].processing_jobs[name]
        job.processing_job_status = status


@pytest.fixture
def world(aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv(env_names.MONITORING_JOB_ROLE_ARN, JOB_ROLE_ARN)
    monkeypatch.setenv(env_names.MONITORING_JOB_PREFIX, "mlops-dev-monitor-")
    monkeypatch.setenv(env_names.MONITORING_NAMESPACE, NAMESPACE)
    handler.reset()
    yield World()
    handler.reset()


def invoke(event: dict[str, Any], now: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(logic, "utc_now", lambda: now)
    return handler.lambda_handler(event, FakeLambdaContext())


NOW = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)


def test_a_scheduled_run_with_a_champion_starts_one_job_on_the_champions_baseline(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a champion whose execution wrote a baseline, when the schedule fires, then exactly one
    job starts, reading that baseline, as the monitoring job role, named under the monitoring prefix."""
    package, execution = world.champion("run0001")

    outcome = invoke(scheduled_event(), NOW, monkeypatch)

    jobs = world.jobs()
    assert outcome["action"] == "started"
    assert [job["ProcessingJobName"] for job in jobs] == [outcome["job_name"]]
    assert outcome["job_name"].startswith("mlops-dev-monitor-churn-")
    arguments = jobs[0]["AppSpecification"]["ContainerArguments"]
    baseline = f"s3://{ARTIFACT_BUCKET}/{contract.baseline_prefix('churn', execution.execution_id)}"
    assert arguments[arguments.index("--baseline-uri") + 1] == baseline
    assert arguments[arguments.index("--model-package-arn") + 1] == package
    assert jobs[0]["RoleArn"] == JOB_ROLE_ARN
    assert world.domain_events() == ["MonitoringStarted"]


def test_a_second_trigger_while_the_job_runs_starts_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a job in progress, when the schedule fires again, then no second job starts."""
    world.champion("run0001")
    first = invoke(scheduled_event(), NOW, monkeypatch)
    world.set_job_status(first["job_name"], "InProgress")
    world.domain_events()

    second = invoke(scheduled_event(), NOW + timedelta(hours=1), monkeypatch)

    assert second["action"] == "skipped"
    assert second["reason"].startswith("run-in-progress")
    assert len(world.jobs()) == 1
    assert world.domain_events() == ["MonitoringSkipped"]


def test_a_burst_of_label_files_starts_one_run(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a champion, when twenty label files land within a minute, then one job starts and the
    other deliveries are coalesced without an event each."""
    world.champion("run0001")

    outcomes = [
        invoke(
            label_event(f"monitoring/churn/ground-truth/labels-{i:04d}.jsonl"), NOW + timedelta(seconds=i), monkeypatch
        )
        for i in range(20)
    ]

    assert [o["action"] for o in outcomes] == ["started"] + ["coalesced"] * 19
    assert len(world.jobs()) == 1
    assert world.domain_events() == ["MonitoringStarted"]


def test_labels_after_the_quiet_interval_start_the_next_run(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a completed run, when labels land more than coalesce_minutes after it started, then a new run starts."""
    world.champion("run0001")
    first = invoke(label_event(), NOW, monkeypatch)
    world.set_job_status(first["job_name"], "Completed")

    later = invoke(label_event(), NOW + timedelta(minutes=world.settings.coalesce_minutes + 1), monkeypatch)

    assert later["action"] == "started"
    assert len(world.jobs()) == 2


def test_no_champion_skips_and_publishes_a_heartbeat(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no endpoint yet, when the schedule fires, then nothing starts, MonitoringSkipped says
    why, and MonitoringAwaitingChampion=1 tells the silent-monitor alarm this is not silence."""
    outcome = invoke(scheduled_event(), NOW, monkeypatch)

    assert outcome["action"] == "skipped"
    assert outcome["reason"].startswith("no-champion")
    assert world.jobs() == []
    assert world.domain_events() == ["MonitoringSkipped"]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=contract.MONITORING_AWAITING_CHAMPION,
        Dimensions=[{"Name": k, "Value": v} for k, v in contract.metric_dimensions("churn", ENDPOINT).items()],
        StartTime=NOW - timedelta(hours=1),
        EndTime=NOW + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in points] == [1.0]


BATCH_TARGET = "mlops-dev-churn-batch"


def serve_by_batch_only(world: World) -> None:
    """Make churn a model served only by batch transform: no endpoint, no capture, its batch target named."""
    world.settings = example_settings(
        monitoring_engine="platform",
        monitoring_schedule_name=SCHEDULE_RULE,
        monitoring_image_uri=IMAGE,
        serves_endpoint=False,
        batch=BatchSettings("ml.m5.large", 1, 1, 6, "text/csv", "Line"),
        serving_target=BATCH_TARGET,
    )
    put_catalog(world.settings)
    handler.reset()


def record_champion(world: World, run_id: str) -> tuple[str, Execution]:
    """A verified, approved version with a baseline, recorded as champion where the deployer records a batch model's."""
    execution = world.pipelines.execute("churn", metrics={"accuracy": 0.93}, run_id=run_id)
    key = contract.baseline_prefix("churn", execution.execution_id) + contract.BASELINE_REFERENCE_FILE
    world.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=b"f1,f2\n1,2\n")
    package = world.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties=execution.claim(),
        InferenceSpecification=execution.inference_specification(),
    )["ModelPackageArn"]
    records = ChampionRecords(boto3.client("dynamodb", region_name=REGION), LOCK_TABLE)
    records.write("churn", ChampionRecord(package, 1, "1", NOW.isoformat()))
    return package, execution


def test_a_batch_only_model_is_monitored_on_its_recorded_champion_under_its_batch_target(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a model served only by batch transform (no endpoint, nothing captured) whose champion the
    deployer recorded, when its schedule fires, then one job starts on that champion's baseline and
    publishes under the batch target name (platform_common.monitoring.metric_dimensions)."""
    serve_by_batch_only(world)
    package, execution = record_champion(world, "run0001")

    outcome = invoke(scheduled_event(), NOW, monkeypatch)

    assert outcome["action"] == "started"
    (job,) = world.jobs()
    arguments = job["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--model-package-arn") + 1] == package
    assert arguments[arguments.index("--serving-target") + 1] == BATCH_TARGET
    baseline = f"s3://{ARTIFACT_BUCKET}/{contract.baseline_prefix('churn', execution.execution_id)}"
    assert arguments[arguments.index("--baseline-uri") + 1] == baseline
    assert world.domain_events() == ["MonitoringStarted"]


def test_a_batch_only_model_without_a_recorded_champion_skips_with_a_heartbeat_on_its_batch_target(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_by_batch_only(world)

    outcome = invoke(scheduled_event(), NOW, monkeypatch)

    assert outcome["action"] == "skipped"
    assert outcome["reason"].startswith("no-champion")
    assert "recorded none for its batch transforms" in outcome["reason"]
    assert world.jobs() == []
    points = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=contract.MONITORING_AWAITING_CHAMPION,
        Dimensions=[{"Name": k, "Value": v} for k, v in contract.metric_dimensions("churn", BATCH_TARGET).items()],
        StartTime=NOW - timedelta(hours=1),
        EndTime=NOW + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [p["Sum"] for p in points] == [1.0]


def test_a_model_with_neither_capture_nor_batch_transform_is_skipped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.settings = example_settings(
        monitoring_engine="platform", monitoring_schedule_name=SCHEDULE_RULE, monitoring_image_uri=IMAGE
    )
    put_catalog(world.settings)
    handler.reset()
    world.champion("run0001")

    outcome = invoke(scheduled_event(), NOW, monkeypatch)

    assert outcome["action"] == "skipped"
    assert outcome["reason"].startswith("no-data-capture")
    assert world.jobs() == []


def test_a_new_champions_baseline_is_used_on_the_next_run(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a run on champion A, when B becomes champion, then the next run reads B's baseline."""
    world.champion("run0001")
    first = invoke(scheduled_event(), NOW, monkeypatch)
    world.set_job_status(first["job_name"], "Completed")
    package_b, execution_b = world.champion("run0002")

    second = invoke(scheduled_event(), NOW + timedelta(days=1), monkeypatch)

    job = world.sagemaker.describe_processing_job(ProcessingJobName=second["job_name"])
    arguments = job["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--model-package-arn") + 1] == package_b
    baseline_b = f"s3://{ARTIFACT_BUCKET}/{contract.baseline_prefix('churn', execution_b.execution_id)}"
    assert arguments[arguments.index("--baseline-uri") + 1] == baseline_b


@pytest.mark.parametrize(("status", "since"), [("Failed", NOW - timedelta(days=7)), ("Completed", NOW)])
def test_a_failed_job_leaves_the_watermark_so_its_window_is_read_again(
    world: World, monkeypatch: pytest.MonkeyPatch, status: str, since: datetime
) -> None:
    """Given a first run over the lookback window, when it ends with `status`, then the next run
    starts where the last completed window ended: a failed window is read again."""
    world.champion("run0001")
    first = invoke(scheduled_event(), NOW, monkeypatch)
    world.set_job_status(first["job_name"], status)

    second = invoke(scheduled_event(), NOW + timedelta(days=1), monkeypatch)

    arguments = world.sagemaker.describe_processing_job(ProcessingJobName=second["job_name"])["AppSpecification"][
        "ContainerArguments"
    ]
    assert arguments[arguments.index("--since") + 1] == since.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_label_file_of_an_unknown_model_is_rejected(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given no model named fraud, when its labels land, then nothing starts and EventRejected names the key."""
    outcome = invoke(label_event("monitoring/fraud/ground-truth/x.jsonl"), NOW, monkeypatch)

    assert outcome["action"] == "rejected"
    assert "fraud" in outcome["reason"]
    assert world.jobs() == []
    assert world.domain_events() == ["EventRejected"]


def test_the_request_is_what_the_jobs_own_parser_accepts() -> None:
    """Given the launcher's CreateProcessingJob request, when its ContainerArguments and Environment
    are fed to jobs/monitor_model.py's own settings parser, then every value arrives under the name
    the job reads (a rename on either side fails here)."""
    settings = JobSettings(
        job_prefix="mlops-dev-monitor-",
        role_arn=JOB_ROLE_ARN,
        data_bucket=DATA_BUCKET,
        artifact_bucket=ARTIFACT_BUCKET,
        key_arn=DATA_KEY_ARN,
        namespace=NAMESPACE,
        tracking_uri=TRACKING_SERVER_ARN,
    )
    run = Run(
        model="churn",
        serving_target=ENDPOINT,
        image_uri=IMAGE,
        instance_type="ml.m5.large",
        max_runtime_seconds=3600,
        metric_name="f1",
        drift_threshold=0.3,
        lookback_days=5,
        package_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/3",
        mlflow_run_id="0123456789abcdef",
        baseline_uri=f"s3://{ARTIFACT_BUCKET}/evidence/churn/exec1/baseline/",
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
    )
    request = processing_job(settings, run)

    parsed = monitor_model.parse_settings(request["AppSpecification"]["ContainerArguments"], request["Environment"])

    assert parsed.model == "churn"
    assert parsed.serving_target == ENDPOINT
    assert parsed.data_bucket == DATA_BUCKET
    assert (parsed.baseline_bucket, parsed.baseline_prefix) == (ARTIFACT_BUCKET, "evidence/churn/exec1/baseline/")
    assert parsed.model_package_arn == run.package_arn
    assert parsed.mlflow_run_id == run.mlflow_run_id
    assert parsed.metric == "f1"
    assert parsed.drift_threshold == 0.3
    assert (parsed.since, parsed.until) == (run.window_start, run.window_end)
    assert parsed.lookback_days == 5
    assert parsed.namespace == NAMESPACE
    assert parsed.tracking_uri == TRACKING_SERVER_ARN
    assert parsed.run_id == request["ProcessingJobName"]
    # The entrypoint runs the job script where the code input mounts the model's published code
    # (code/<model>/ in the artifact bucket, as publish-code lays it out)
    (code,) = request["ProcessingInputs"]
    assert code["S3Input"]["S3Uri"] == f"s3://{ARTIFACT_BUCKET}/{contract.code_prefix('churn')}"
    mount = code["S3Input"]["LocalPath"]
    script = Path(mount) / contract.MONITOR_JOB_SCRIPT
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["python3", str(script)]
    # And the job, run from there, installs from the lock and wheelhouse publish-code puts beside it
    command = monitor_model.offline_install_command(script.parent, python="python3")
    assert command[command.index("-r") + 1] == str(Path(mount) / contract.MONITORING_LOCK_FILE)
    assert command[command.index("--find-links") + 1] == str(Path(mount) / contract.MONITORING_WHEELHOUSE_DIR)
