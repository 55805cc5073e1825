"""One batch model in moto: its package group, pipeline evidence, data bucket, lock table and launcher core.

moto implements CreateModel, CreateTransformJob, DescribeTransformJob, model packages, S3 and
DynamoDB; every request the core sends is checked against botocore's service model by moto's
client. Packages come from pipeline executions that `tests.handlers.provenance.Pipelines` runs,
so the launcher's provenance check passes for the pipeline's packages only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from batch_launcher import logic

from platform_common import lease
from platform_common.catalog import BatchSettings, ModelSettings
from platform_common.champion_record import ChampionRecord, ChampionRecords
from platform_common.domain_events import DomainEvent
from platform_common.lease import LeaseTable
from tests.handlers.provenance import Pipelines

REGION = "eu-west-1"
ACCOUNT = "123456789012"
GROUP = "scores-abc123"
BUCKET = f"mlops-dev-data-{ACCOUNT}-{REGION}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-model-execution"
TABLE = "mlops-dev-retraining-lock"
AT = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)

BATCH = BatchSettings(
    instance_type="ml.m5.large",
    instance_count=1,
    max_concurrent_transforms=1,
    max_payload_mb=6,
    content_type="text/csv",
    split_type="Line",
    schedule_rule_name="mlops-dev-scores-batch",
)


def batch_settings(name: str = "scores", *, serves_endpoint: bool = False) -> ModelSettings:
    """A model served by batch transform (only, unless `serves_endpoint`), as its stack writes it."""
    return ModelSettings(
        name=name,
        pipeline_name=f"mlops-dev-{name}",
        data_prefix=f"datasets/{name}/",
        quality_alarm_name=f"mlops-dev-{name}-quality",
        schedule_rule_name=None,
        coalesce_minutes=30,
        metric_name="accuracy",
        threshold=0.9,
        margin=0.0,
        greater_is_better=True,
        approval_mode="auto",
        endpoint_name=f"mlops-dev-{name}",
        instance_type="ml.m5.large",
        instance_count=1,
        serverless_memory_mb=None,
        serverless_max_concurrency=None,
        deployment_strategy="all-at-once",
        canary_percent=10,
        linear_step_percent=25,
        wait_seconds=0,
        termination_wait_seconds=0,
        serves_endpoint=serves_endpoint,
        batch=BATCH,
    )


@dataclass
class BatchWorld:
    """The AWS side of one batch model and what the launcher published."""

    settings: ModelSettings = field(default_factory=batch_settings)
    published: list[DomainEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": lease.KEY_ATTRIBUTE, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": lease.KEY_ATTRIBUTE, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        self.pipelines = Pipelines()
        self.records = ChampionRecords(self.dynamodb, TABLE)

    def launcher(self, sagemaker: Any = None) -> logic.Launcher:
        return logic.Launcher(
            settings=self.settings,
            group_name=GROUP,
            sagemaker=sagemaker or self.sagemaker,
            dynamodb=self.dynamodb,
            s3=self.s3,
            table_name=TABLE,
            champions=self.records,
            evidence=self.pipelines.store(),
            publish=self.published.append,
            data_bucket=BUCKET,
            kms_key_arn=KEY_ARN,
            execution_role_arn=ROLE_ARN,
        )

    def package(self, *, approved: bool = True, verified: bool = True, group: str = GROUP) -> str:
        """A package of the model's pipeline (evidence and artifact in the artifact bucket); returns its ARN."""
        execution = self.pipelines.execute(self.settings.name, metrics={"accuracy": 0.95}, run_id="run0001")
        if group != GROUP:
            self.sagemaker.create_model_package_group(ModelPackageGroupName=group)
        arn = self.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
            InferenceSpecification=execution.inference_specification(),
            CustomerMetadataProperties=execution.claim() if verified else {"team": "scoring"},
        )["ModelPackageArn"]
        return str(arn)

    def record_champion(self, arn: str) -> None:
        """What the deployer writes once it made `arn` champion."""
        version = int(arn.rsplit("/", 1)[-1])
        self.records.write(self.settings.name, ChampionRecord(arn, version, str(version), AT.isoformat()))

    def land(self, *names: str) -> None:
        for name in names:
            self.s3.put_object(Bucket=BUCKET, Key=f"inference/{self.settings.name}/{name}", Body=b"id-1,0.5,3\n")

    def drop(self, event_id: str, ctx: logic.Launcher | None = None) -> Any:
        """A request (an input file's event) decided under the model's batch lease."""
        step = lambda c: logic.request(c, event_id=event_id, at=AT, why="input file")  # noqa: E731
        return logic.decide(ctx or self.launcher(), leases(), f"{event_id}/owner", step)

    def end(self, event_id: str, name: str) -> Any:
        step = lambda c: logic.job_ended(c, event_id=event_id, at=AT, name=name)  # noqa: E731
        return logic.decide(self.launcher(), leases(), f"{event_id}/owner", step)

    def jobs(self) -> list[dict[str, Any]]:
        names = [j["TransformJobName"] for j in self.sagemaker.list_transform_jobs()["TransformJobSummaries"]]
        return [self.sagemaker.describe_transform_job(TransformJobName=name) for name in names]

    def manifest(self, job: dict[str, Any]) -> list[Any]:
        uri = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return list(json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))

    def set_status(self, name: str, status: str) -> None:
        """moto completes a job at once; a test sets the status it needs."""
        from moto.sagemaker.models import sagemaker_backends

        sagemaker_backends[ACCOUNT][REGION].transform_jobs[name].transform_job_status = status


def leases() -> LeaseTable:
    return LeaseTable(boto3.client("dynamodb", region_name=REGION), TABLE, clock=lambda: AT, sleep=lambda _: None)
