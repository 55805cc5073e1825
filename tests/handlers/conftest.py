"""Shared fixtures for the handler tests: fake AWS under moto, a Lambda context, events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from platform_common import env_names, lease, package_link
from platform_common.catalog import ModelSettings
from tests.handlers.clients import POOL

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
CATALOG_PATH = "/mlops/dev/models/"
BUS_NAME = "mlops-dev-platform"
TRACKING_SERVER_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/mlops-dev-mlflow"
LOCK_TABLE = "mlops-dev-retraining-lock"
DATA_BUCKET = f"mlops-dev-data-{ACCOUNT}-{REGION}"
DATA_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def load_event(name: str) -> dict[str, Any]:
    """An event fixture from tests/events/<name>.json (a fresh copy each call)."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and region, and every AWS call served by moto."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws(), POOL.lend():
        yield


def example_settings(name: str = "churn", **overrides: Any) -> ModelSettings:
    """Catalog settings for a model named `name`, as its stack would write them."""
    values: dict[str, Any] = {
        "name": name,
        "pipeline_name": f"mlops-dev-{name}",
        "data_prefix": f"datasets/{name}/",
        "quality_alarm_name": f"mlops-dev-{name}-quality",
        "schedule_rule_name": f"mlops-dev-{name}-schedule",
        "coalesce_minutes": 30,
        "metric_name": "accuracy",
        "threshold": 0.9,
        "margin": 0.01,
        "greater_is_better": True,
        "approval_mode": "auto",
        "endpoint_name": f"mlops-dev-{name}",
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "serverless_memory_mb": None,
        "serverless_max_concurrency": None,
        "deployment_strategy": "canary",
        "canary_percent": 10,
        "linear_step_percent": 25,
        "wait_seconds": 600,
        "termination_wait_seconds": 300,
        "rollback_alarm_names": (f"mlops-dev-{name}-5xx-errors", f"mlops-dev-{name}-model-latency"),
    }
    values.update(overrides)
    return ModelSettings(**values)


def put_catalog(*models: ModelSettings, path: str = CATALOG_PATH) -> None:
    """Write catalog parameters into (moto) SSM the way the model stacks do."""
    ssm = boto3.client("ssm", region_name=REGION)
    for model in models:
        ssm.put_parameter(Name=f"{path}{model.name}", Value=model.to_json(), Type="String", Overwrite=True)


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variables the automation stack gives every handler."""
    monkeypatch.setenv(env_names.PLATFORM_BUS_NAME, BUS_NAME)
    monkeypatch.setenv(env_names.MODEL_CATALOG_PATH, CATALOG_PATH)
    monkeypatch.setenv(env_names.ENVIRONMENT_NAME, "dev")
    monkeypatch.setenv(env_names.MLFLOW_TRACKING_SERVER_ARN, TRACKING_SERVER_ARN)
    monkeypatch.setenv(env_names.MODEL_EXECUTION_ROLE_ARN, f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-model-execution")
    monkeypatch.setenv(env_names.ARTIFACT_BUCKET_NAME, f"mlops-dev-mlflow-artifacts-{ACCOUNT}-{REGION}")
    monkeypatch.setenv(env_names.DATA_BUCKET_NAME, DATA_BUCKET)
    monkeypatch.setenv(env_names.DATA_KEY_ARN, DATA_KEY_ARN)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "mlops-test")


@pytest.fixture(autouse=True)
def _no_wait_for_the_package_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look for an MLflow version's package tag without pausing between attempts."""
    monkeypatch.setattr(package_link, "LOOKUP_WAIT_SECONDS", 0.0)


def create_lock_table(table_name: str = LOCK_TABLE) -> Any:
    """The per-model lease table in moto, with the key schema and TTL attribute the stack declares."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": lease.KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": lease.KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"AttributeName": lease.TTL_ATTRIBUTE, "Enabled": True}
    )
    return dynamodb


@pytest.fixture
def model_locks(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The lock table the gate and the deployer take their promotion leases in (moto DynamoDB client)."""
    monkeypatch.setenv(env_names.MODEL_LOCK_TABLE_NAME, LOCK_TABLE)
    return create_lock_table()
