"""The batch launcher's core under moto (SageMaker transform jobs, DynamoDB): one job at a time per model.

moto implements CreateModel, CreateTransformJob, DescribeTransformJob, model packages and DynamoDB;
MLflow's champion alias is a small fake (the deployer's tests fake the registry the same way).
Every request the core sends is also checked against botocore's service model by moto's client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from batch_launcher import logic
from batch_launcher.requests import INPUT_FILTER, JOIN_SOURCE, OUTPUT_FILTER
from moto import mock_aws

from platform_common import domain_events
from platform_common.catalog import BatchSettings, ModelSettings
from platform_common.domain_events import DomainEvent
from platform_common.lease import LeaseTable

REGION = "eu-west-1"
GROUP = "scores-abc123"
BUCKET = "mlops-dev-data-123456789012-eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = "arn:aws:iam::123456789012:role/mlops-dev-model-execution"
TABLE = "mlops-dev-retraining-lock"
AT = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)

SETTINGS = ModelSettings(
    name="scores", pipeline_name="mlops-dev-scores", data_prefix="datasets/scores/",
    quality_alarm_name="mlops-dev-scores-quality", schedule_rule_name=None, coalesce_minutes=30,
    metric_name="accuracy", threshold=0.9, margin=0.0, greater_is_better=True, approval_mode="auto",
    endpoint_name="mlops-dev-scores", instance_type="ml.m5.large", instance_count=1, serverless_memory_mb=None,
    serverless_max_concurrency=None, deployment_strategy="all-at-once", canary_percent=10, linear_step_percent=25,
    wait_seconds=0, termination_wait_seconds=0, serves_endpoint=False,
    batch=BatchSettings(instance_type="ml.m5.large", instance_count=1, max_concurrent_transforms=1,
                        max_payload_mb=6, content_type="text/csv", split_type="Line",
                        schedule_rule_name="mlops-dev-scores-batch"),
)  # fmt: skip


class FakeChampionAlias:
    """MLflow's `champion` alias: the version and its package tag, or none."""

    def __init__(self) -> None:
        self.version: dict[str, Any] | None = None

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        assert (name, alias) == ("scores", "champion")
        return self.version


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        yield


def approved_package() -> str:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    container = {"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sklearn:1", "ModelDataUrl": "s3://a/m.tar.gz"}
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [container], "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]  # fmt: skip
    return str(arn)


def launcher(mlflow: FakeChampionAlias, published: list[DomainEvent]) -> logic.Launcher:
    return logic.Launcher(
        settings=SETTINGS, group_name=GROUP, sagemaker=boto3.client("sagemaker", region_name=REGION),
        dynamodb=boto3.client("dynamodb", region_name=REGION), table_name=TABLE, mlflow=mlflow,
        publish=published.append, data_bucket=BUCKET, kms_key_arn=KEY_ARN, execution_role_arn=ROLE_ARN,
    )  # fmt: skip


def leases() -> LeaseTable:
    return LeaseTable(boto3.client("dynamodb", region_name=REGION), TABLE, clock=lambda: AT, sleep=lambda _: None)


def drop(ctx: logic.Launcher, event_id: str) -> Any:
    step = lambda c: logic.request(c, event_id=event_id, at=AT, why="input file")  # noqa: E731
    return logic.decide(ctx, leases(), f"{event_id}/owner", step)


def transform_jobs() -> list[dict[str, Any]]:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    names = [j["TransformJobName"] for j in sagemaker.list_transform_jobs()["TransformJobSummaries"]]
    return [sagemaker.describe_transform_job(TransformJobName=name) for name in names]


def with_champion(version: str = "4") -> FakeChampionAlias:
    mlflow = FakeChampionAlias()
    mlflow.version = {"version": version, "tags": [{"key": "sagemaker.model_package_arn", "value": approved_package()}]}
    return mlflow


def test_given_a_champion_when_the_same_drop_is_delivered_twice_then_one_job_runs_the_champion(aws: None) -> None:
    # Given a batch model whose champion is package version 1
    mlflow, published = with_champion(), []
    ctx = launcher(mlflow, published)
    # When one input file's Object Created event arrives twice
    first = drop(ctx, "evt-1")
    second = drop(ctx, "evt-1")
    # Then exactly one transform job runs the champion's model, over the inputs, into its own folder
    (job,) = transform_jobs()
    assert (first.action, second.action) == ("started", "duplicate")
    assert job["ModelName"] == "mlops-dev-scores-v1"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/inference/scores/"
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/predictions/scores/{job['TransformJobName']}/"
    assert job["TransformOutput"]["KmsKeyId"] == KEY_ARN
    assert job["TransformResources"]["VolumeKmsKeyId"] == KEY_ARN
    assert job["DataProcessing"] == {
        "InputFilter": INPUT_FILTER,
        "JoinSource": JOIN_SOURCE,
        "OutputFilter": OUTPUT_FILTER,
    }
    model = boto3.client("sagemaker", region_name=REGION).describe_model(ModelName="mlops-dev-scores-v1")
    assert model["ExecutionRoleArn"] == ROLE_ARN
    assert [e.detail_type for e in published] == [domain_events.BATCH_TRANSFORM_STARTED]


def test_given_no_champion_when_a_file_drops_then_nothing_starts_and_the_skip_says_why(aws: None) -> None:
    published: list[DomainEvent] = []
    outcome = drop(launcher(FakeChampionAlias(), published), "evt-1")
    assert outcome.action == "skipped"
    assert "no 'champion' alias" in outcome.reason
    assert transform_jobs() == []
    assert [e.detail_type for e in published] == [domain_events.BATCH_TRANSFORM_SKIPPED]


def test_given_a_running_job_when_two_files_drop_then_one_trailing_job_starts_when_it_ends(aws: None) -> None:
    # Given a running transform job (moto completes jobs at once: it is set back to InProgress)
    from moto.sagemaker.models import sagemaker_backends

    published: list[DomainEvent] = []
    ctx = launcher(with_champion(), published)
    drop(ctx, "evt-1")
    (running,) = transform_jobs()
    backend = sagemaker_backends["123456789012"][REGION]
    backend.transform_jobs[running["TransformJobName"]].transform_job_status = "InProgress"
    # When two more files drop while it runs
    waiting = [drop(ctx, "evt-2").action, drop(ctx, "evt-3").action]
    # Then they wait, and nothing else starts yet
    assert waiting == ["coalesced", "coalesced"]
    assert len(transform_jobs()) == 1
    # When the running job's end is delivered (twice)
    backend.transform_jobs[running["TransformJobName"]].transform_job_status = "Completed"
    ended = lambda c: logic.job_ended(c, event_id="end-1", at=AT, name=running["TransformJobName"])  # noqa: E731
    first = logic.decide(ctx, leases(), "end-1/a", ended)
    again = logic.decide(ctx, leases(), "end-1/b", ended)
    # Then exactly one trailing job starts, with the champion
    assert first.action == "trailing_started"
    assert again.action == "ignored"
    assert len(transform_jobs()) == 2
    assert domain_events.BATCH_TRANSFORM_COMPLETED in first.published
