"""A consuming environment's deployer acts on PromotionRequested: verify in the registry of record, then deploy.

Everything AWS is moto (SageMaker registry, models and endpoints, S3 with versioning, SSM,
DynamoDB, EventBridge to SQS for what is published); endpoint statuses come from
`EndpointLifecycle`. moto holds one account, so the registry of record (dev's group, bucket and
pipeline) and the consuming environment (staging's group, endpoint) live side by side in it,
told apart by name: these tests prove the decisions, while the cross-account grants they rely on
are asserted on the synthesized templates (tests/delivery/test_promotion_infra.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from deployer import handler
from platform_common import domain_events, env_names, registry, runtime
from platform_common.catalog import registration_suffix
from platform_common.promotion_request import PROMOTED_FROM_KEY, PROMOTION_REFUSED, PROMOTION_REQUESTED
from tests.handlers.conftest import ACCOUNT, BUS_NAME, REGION, FakeLambdaContext, example_settings, put_catalog
from tests.handlers.endpoint_lifecycle import EndpointLifecycle
from tests.handlers.fakes import FakeMlflow
from tests.handlers.provenance import Execution, Pipelines

DEV_BUCKET = f"mlops-dev-mlflow-artifacts-{ACCOUNT}-{REGION}"
DEV_GROUP = f"churn-{registration_suffix('mlops-dev-mlflow')}"
STAGING_TRACKING_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/mlops-staging-mlflow"
STAGING_GROUP = registry.package_group_name("churn", STAGING_TRACKING_ARN)
STAGING_ENDPOINT = "mlops-staging-churn"
ENGINEER = f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-staging-mlops-engineer/alice"


class Registry:
    """Dev as the registry of record: its pipeline's executions and the packages they registered."""

    def __init__(self) -> None:
        self.pipelines = Pipelines(bucket=DEV_BUCKET)
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.sagemaker.create_model_package_group(ModelPackageGroupName=DEV_GROUP)
        self.runs = 0

    def register(self, *, approved: bool = True, group: str = DEV_GROUP, execution: Execution | None = None) -> str:
        """A package the model's pipeline registered (and the gate verified), Approved unless told otherwise."""
        self.runs += 1
        execution = execution or self.pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id=f"run{self.runs}")
        created = self.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
            InferenceSpecification=execution.inference_specification(),
            CustomerMetadataProperties=execution.claim(),
        )
        return str(created["ModelPackageArn"])


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def staging(aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Staging's deployer configured with dev as its registry of record, and a queue of what it publishes."""
    monkeypatch.setenv(env_names.ENVIRONMENT_NAME, "staging")
    monkeypatch.setenv(env_names.MLFLOW_TRACKING_SERVER_ARN, STAGING_TRACKING_ARN)
    monkeypatch.setenv(env_names.ARTIFACT_BUCKET_NAME, f"mlops-staging-mlflow-artifacts-{ACCOUNT}-{REGION}")
    for name, value in {
        env_names.REGISTRY_ACCOUNT: ACCOUNT,
        env_names.REGISTRY_REGION: REGION,
        env_names.REGISTRY_ARTIFACT_BUCKET: DEV_BUCKET,
        env_names.REGISTRY_RESOURCE_PREFIX: "mlops-dev",
        env_names.REGISTRY_PACKAGE_GROUP_SUFFIX: registration_suffix("mlops-dev-mlflow"),
    }.items():
        monkeypatch.setenv(name, value)
    put_catalog(
        example_settings(
            endpoint_name=STAGING_ENDPOINT,
            pipeline_name="mlops-staging-churn",
            rollback_alarm_names=("mlops-staging-churn-5xx-errors",),
        )
    )
    lifecycle = EndpointLifecycle(boto3.client("sagemaker", region_name=REGION))
    monkeypatch.setattr(handler, "sagemaker", lambda: lifecycle)
    monkeypatch.setattr(handler, "mlflow_registry", lambda: FakeMlflow())
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS_NAME)
    queue_url = sqs.create_queue(QueueName="published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=BUS_NAME, EventPattern=json.dumps({"source": [domain_events.SOURCE]}))
    events.put_targets(Rule="all", EventBusName=BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return {"sqs": sqs, "queue_url": queue_url, "sagemaker": lifecycle.client, "registry": Registry()}


def published(world: dict[str, Any]) -> list[dict[str, Any]]:
    messages = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def promotion(package_arn: str, model: str = "churn") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "promotion-1",
        "detail-type": PROMOTION_REQUESTED,
        "source": domain_events.SOURCE,
        "account": ACCOUNT,
        "time": "2026-03-02T09:20:03Z",
        "region": REGION,
        "resources": [],
        "detail": {"model": model, "modelPackageArn": package_arn, "requestedBy": ENGINEER},
    }


def local_packages(sagemaker: Any) -> list[dict[str, Any]]:
    try:
        listed = sagemaker.list_model_packages(ModelPackageGroupName=STAGING_GROUP, ModelPackageType="Versioned")
    except sagemaker.exceptions.ClientError:
        return []
    return [
        sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])
        for s in listed["ModelPackageSummaryList"]
    ]


def test_an_approved_dev_package_promoted_to_staging_is_deployed_there(staging: dict[str, Any]) -> None:
    # Given an Approved package the model's pipeline registered in dev
    dev_package = staging["registry"].register()

    # When staging's MLOpsEngineer promotes it
    outcome = handler.lambda_handler(promotion(dev_package), FakeLambdaContext())

    # Then staging registers it in its own group, Approved, serving dev's container, and creates the endpoint
    assert outcome["action"] == "created"
    (local,) = local_packages(staging["sagemaker"])
    assert local["ModelApprovalStatus"] == "Approved"
    assert local["CustomerMetadataProperties"][PROMOTED_FROM_KEY] == dev_package
    source = staging["sagemaker"].describe_model_package(ModelPackageName=dev_package)
    assert local["InferenceSpecification"]["Containers"] == source["InferenceSpecification"]["Containers"]
    endpoint = staging["sagemaker"].describe_endpoint(EndpointName=STAGING_ENDPOINT)
    assert endpoint["EndpointConfigName"] == f"{STAGING_ENDPOINT}-v1"
    model = staging["sagemaker"].describe_model(ModelName=f"{STAGING_ENDPOINT}-v1")
    assert model["Containers"][0]["ModelPackageName"] == local["ModelPackageArn"]
    assert [event["detail-type"] for event in published(staging)] == [domain_events.DEPLOYMENT_STARTED]


def test_promoting_the_same_version_again_registers_it_once(staging: dict[str, Any]) -> None:
    dev_package = staging["registry"].register()
    handler.lambda_handler(promotion(dev_package), FakeLambdaContext())

    handler.lambda_handler(promotion(dev_package), FakeLambdaContext())

    assert len(local_packages(staging["sagemaker"])) == 1


def _refused(staging: dict[str, Any], package_arn: str, check: str, model: str = "churn") -> dict[str, Any]:
    outcome = handler.lambda_handler(promotion(package_arn, model), FakeLambdaContext())
    assert outcome["action"] == "refused"
    events = published(staging)
    assert [event["detail-type"] for event in events] == [PROMOTION_REFUSED]
    assert events[0]["detail"]["check"] == check
    assert events[0]["detail"]["requestedBy"] == ENGINEER
    assert local_packages(staging["sagemaker"]) == []
    assert staging["sagemaker"].list_endpoints()["Endpoints"] == []
    assert staging["sagemaker"].list_models()["Models"] == []
    return events[0]


def test_an_unapproved_dev_package_is_refused_naming_the_approval_check(staging: dict[str, Any]) -> None:
    event = _refused(staging, staging["registry"].register(approved=False), "approval")

    assert "PendingManualApproval" in event["detail"]["reason"]


def test_another_models_package_is_refused_naming_the_group_check(staging: dict[str, Any]) -> None:
    # Given an Approved package in another model's group of dev
    fraud_group = f"fraud-{registration_suffix('mlops-dev-mlflow')}"
    staging["registry"].sagemaker.create_model_package_group(ModelPackageGroupName=fraud_group)
    package = staging["registry"].register(group=fraud_group)

    # Then promoting it as churn is refused before anything is read of it
    _refused(staging, package, "group")


def test_a_package_serving_an_artifact_outside_pipelines_is_refused(staging: dict[str, Any]) -> None:
    # Given an Approved package whose artifact was put outside the prefix only the pipeline writes
    execution = staging["registry"].pipelines.execute(
        "churn", metrics={"accuracy": 0.95}, run_id="run-x", artifact_key="uploads/churn/model.tar.gz"
    )
    package = staging["registry"].register(execution=execution)

    _refused(staging, package, "artifact_location")


def test_a_package_whose_evidence_names_another_artifact_is_refused_naming_the_evidence_check(
    staging: dict[str, Any],
) -> None:
    reg = staging["registry"]
    evaluated = reg.pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run-a")
    other = reg.pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run-b")
    created = reg.sagemaker.create_model_package(
        ModelPackageGroupName=DEV_GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification=other.inference_specification(),
        CustomerMetadataProperties=evaluated.claim(),
    )

    event = _refused(staging, created["ModelPackageArn"], "evidence:evidence-mismatch")

    assert evaluated.artifact_uri in event["detail"]["reason"]


def test_a_dev_approval_alone_changes_nothing_in_staging(staging: dict[str, Any]) -> None:
    # Given a dev package approved in dev, and its state change delivered to staging's deployer
    dev_package = staging["registry"].register()
    approval = {
        "version": "0",
        "id": "dev-approval",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-03-02T09:20:03Z",
        "region": REGION,
        "resources": [dev_package],
        "detail": {
            "ModelPackageGroupName": DEV_GROUP,
            "ModelPackageArn": dev_package,
            "ModelApprovalStatus": "Approved",
        },
    }

    outcome = handler.lambda_handler(approval, FakeLambdaContext())

    # Then it is not staging's group: nothing is registered, created or promoted
    assert outcome["action"] == "event_rejected"
    assert [event["detail-type"] for event in published(staging)] == [domain_events.EVENT_REJECTED]
    assert local_packages(staging["sagemaker"]) == []
    assert staging["sagemaker"].list_endpoints()["Endpoints"] == []


def test_a_registry_in_another_region_is_refused_naming_the_region_check(
    staging: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ContainerDefinition.ModelDataUrl: "The model artifacts must be in an S3 bucket that is in the same region as
    the model or endpoint you are creating" (SageMaker API Reference, "ContainerDefinition",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html)."""
    dev_package = staging["registry"].register()
    monkeypatch.setenv("AWS_REGION", "eu-central-1")

    event = _refused(staging, dev_package, "region")

    assert "eu-central-1" in event["detail"]["reason"]
