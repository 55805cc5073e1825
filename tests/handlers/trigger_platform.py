"""The AWS side the retraining trigger talks to, under moto, and the events it is fed.

Shared by the trigger's test modules; each declares its own `platform` fixture with
`build_platform` (fixtures are not shared across modules outside conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto.sagemaker.models import sagemaker_backends

from platform_common import domain_events, env_names, lease
from retraining_trigger import handler, logic, pipeline, state, timer
from tests.handlers.conftest import (
    ACCOUNT,
    BUS_NAME,
    REGION,
    FakeLambdaContext,
    example_settings,
    load_event,
    put_catalog,
)

DATA_BUCKET = f"mlops-dev-data-{ACCOUNT}-{REGION}"
PIPELINE = "mlops-dev-churn"
LOCK_TABLE = "mlops-dev-retraining-lock"
TIMER_GROUP = "mlops-dev-retraining-window"
TIMER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-retraining-window"
TIMER_DEAD_LETTER_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mlops-dev-events-dlq"
CHURN_FOLDER = f"s3://{DATA_BUCKET}/datasets/churn/2025-03-14/"
CHURN_PREFIX = f"s3://{DATA_BUCKET}/datasets/churn/"

# A stand-in pipeline: it declares the parameters the trigger passes (SageMaker refuses
# undeclared ones) and validates against the published pipeline definition schema.
PIPELINE_DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": pipeline.PARAM_INPUT_DATA_URI, "Type": "String"},
        {"Name": pipeline.PARAM_TRIGGER_REASON, "Type": "String", "DefaultValue": "manual"},
        {"Name": pipeline.PARAM_TRIGGER_EVENT_ID, "Type": "String", "DefaultValue": "none"},
    ],
    "Steps": [{"Name": "Placeholder", "Type": "Fail", "Arguments": {"ErrorMessage": "stands in for training"}}],
}


@dataclass
class Platform:
    """The AWS side the handler talks to, plus ways to look at what it did."""

    sagemaker: Any
    dynamodb: Any
    scheduler: Any
    sqs: Any
    queue_url: str

    def invoke(self, event: Any) -> dict[str, Any]:
        result = handler.lambda_handler(event, cast(LambdaContext, FakeLambdaContext()))
        assert isinstance(result, dict)
        return result

    def executions(self) -> list[dict[str, Any]]:
        summaries = self.sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]
        return sorted(summaries, key=lambda s: s["StartTime"])

    def parameters(self, execution_arn: str) -> dict[str, str]:
        response = self.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)
        return {p["Name"]: p["Value"] for p in response["PipelineParameters"]}

    def published(self) -> list[dict[str, Any]]:
        """Domain events that reached the bus since the last call, oldest first."""
        events = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(events, key=lambda e: e["time"])

    def backend_execution(self, execution_arn: str) -> Any:
        return sagemaker_backends[ACCOUNT][REGION].pipelines[PIPELINE].pipeline_executions[execution_arn]

    def set_status(self, execution_arn: str, status: str) -> None:
        self.backend_execution(execution_arn).pipeline_execution_status = status

    def lease_item(self, model: str = "churn") -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=LOCK_TABLE, Key={lease.KEY_ATTRIBUTE: {"S": f"{model}#lease"}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def put_lease(self, *, owner: str, expires_at: datetime, model: str = "churn") -> None:
        """A lease left behind by another invocation (a live one, or one that crashed)."""
        self.dynamodb.put_item(
            TableName=LOCK_TABLE,
            Item={
                lease.KEY_ATTRIBUTE: {"S": f"{model}#lease"},
                "owner": {"S": owner},
                "leaseExpiresAt": {"N": str(int(expires_at.timestamp()))},
            },
        )

    def services(self, clock: lease.Clock, sleep: lease.Sleep, *, sagemaker: Any = None) -> logic.Services:
        """The core's AWS side on the test's clock (for calling the core directly)."""
        return logic.Services(
            sagemaker=sagemaker or self.sagemaker,
            leases=lease.LeaseTable(self.dynamodb, LOCK_TABLE, clock=clock, sleep=sleep),
            states=state.StateTable(self.dynamodb, LOCK_TABLE, clock=clock),
            timer=timer.WindowTimer(
                self.scheduler, group_name=TIMER_GROUP, role_arn=TIMER_ROLE_ARN, dead_letter_arn=TIMER_DEAD_LETTER_ARN
            ),
            function_arn=FakeLambdaContext.invoked_function_arn,
            clock=clock,
        )

    def state(self, model: str = "churn") -> state.ModelState:
        return state.StateTable(self.dynamodb, LOCK_TABLE, clock=logic.utc_now).load(model)

    def schedules(self) -> list[dict[str, Any]]:
        """The window schedules in the trigger's group, with their targets."""
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=TIMER_GROUP)["Schedules"]]
        return [self.scheduler.get_schedule(Name=n, GroupName=TIMER_GROUP) for n in sorted(names)]

    def fire(self, schedule: dict[str, Any]) -> dict[str, Any]:
        """Do what EventBridge Scheduler does when the schedule is due: invoke its target with its input."""
        assert schedule["Target"]["Arn"] == FakeLambdaContext.invoked_function_arn
        self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=TIMER_GROUP)
        return self.invoke(json.loads(schedule["Target"]["Input"]))

    def end_run(self, execution_arn: str, status: str = "Succeeded", *, event_id: str | None = None) -> dict[str, Any]:
        """The run ends in SageMaker, and its status change event reaches the trigger."""
        self.set_status(execution_arn, status)
        return self.invoke(run_ended(execution_arn, status, event_id=event_id or f"end-{execution_arn[-12:]}"))


def build_platform(monkeypatch: pytest.MonkeyPatch) -> Platform:
    """Catalog, pipeline, lock table and a queue that captures domain events, all in moto."""
    monkeypatch.setenv(env_names.DATA_BUCKET_NAME, DATA_BUCKET)
    monkeypatch.setenv(env_names.RETRAINING_LOCK_TABLE_NAME, LOCK_TABLE)
    monkeypatch.setenv(env_names.RETRAINING_TIMER_GROUP_NAME, TIMER_GROUP)
    monkeypatch.setenv(env_names.RETRAINING_TIMER_ROLE_ARN, TIMER_ROLE_ARN)
    monkeypatch.setenv(env_names.RETRAINING_TIMER_DEAD_LETTER_ARN, TIMER_DEAD_LETTER_ARN)
    put_catalog(example_settings("churn"))

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps(PIPELINE_DEFINITION),
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-pipeline",
    )

    # The same key schema and TTL attribute as stacks/constructs/model_locks.py.
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=LOCK_TABLE,
        KeySchema=[{"AttributeName": lease.KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": lease.KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=LOCK_TABLE, TimeToLiveSpecification={"AttributeName": lease.TTL_ATTRIBUTE, "Enabled": True}
    )

    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name=TIMER_GROUP)

    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS_NAME)
    queue_url = sqs.create_queue(QueueName="domain-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="capture-domain-events",
        EventBusName=BUS_NAME,
        EventPattern=json.dumps({"source": [domain_events.SOURCE]}),
    )
    events.put_targets(Rule="capture-domain-events", EventBusName=BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return Platform(sagemaker=sagemaker, dynamodb=dynamodb, scheduler=scheduler, sqs=sqs, queue_url=queue_url)


def keep_runs_executing(sagemaker_client: Any) -> None:
    """Leave every execution that `sagemaker_client` starts Executing (moto finishes them at once)."""

    def mark_executing(parsed: dict[str, Any], **_: Any) -> None:
        arn = parsed.get("PipelineExecutionArn")
        if arn:
            pipeline = arn.split(":pipeline/", 1)[1].split("/", 1)[0]
            backend = sagemaker_backends[ACCOUNT][REGION].pipelines[pipeline].pipeline_executions[arn]
            backend.pipeline_execution_status = "Executing"

    sagemaker_client.meta.events.register("after-call.sagemaker.StartPipelineExecution", mark_executing)


def after_listing(sagemaker_client: Any, action: Callable[[], None]) -> None:
    """Run `action` each time `sagemaker_client` has listed a pipeline's executions."""

    def run_action(**_: Any) -> None:
        action()

    sagemaker_client.meta.events.register("after-call.sagemaker.ListPipelineExecutions", run_action)


def wait_for_the_other(barrier: threading.Barrier) -> Callable[[], None]:
    """An action that holds a thread until the other has reached the same point (or the barrier gave up)."""

    def wait() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    return wait


def object_created(
    key: str, *, event_id: str, size: int | None = 1024, bucket: str = DATA_BUCKET, time: str | None = None
) -> dict[str, Any]:
    event = load_event("s3_object_created")
    event["id"] = event_id
    if time is not None:
        event["time"] = time
    event["detail"]["bucket"]["name"] = bucket
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["object"]["key"] = key
    if size is None:
        del event["detail"]["object"]["size"]
    else:
        event["detail"]["object"]["size"] = size
    return event


def run_ended(execution_arn: str, status: str = "Succeeded", *, event_id: str) -> dict[str, Any]:
    """SageMaker's status change event for the end of `execution_arn` (documented shape)."""
    event = load_event("pipeline_execution_succeeded")
    pipeline_arn = execution_arn.split("/execution/", 1)[0]
    event["id"] = event_id
    event["resources"] = [pipeline_arn, execution_arn]
    event["detail"].update(
        pipelineArn=pipeline_arn, pipelineExecutionArn=execution_arn, currentPipelineExecutionStatus=status
    )
    return event


def retraining_requested(**detail: Any) -> dict[str, Any]:
    event = load_event("retraining_requested")
    event["detail"] = detail
    return event


def start_other_execution(platform: Platform, *, status: str) -> str:
    """An execution started outside the trigger (from Studio, say), forced into `status`."""
    arn = str(
        platform.sagemaker.start_pipeline_execution(
            PipelineName=PIPELINE, PipelineExecutionDisplayName="studio-run", ClientRequestToken="s" * 32
        )["PipelineExecutionArn"]
    )
    platform.set_status(arn, status)
    return arn
