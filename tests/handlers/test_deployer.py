"""The deployer reconciles: the registry says what should serve, DescribeEndpoint what does.

The handler runs as Lambda would run it, on sequences of events. SageMaker (registry, models,
configs, endpoints, tags), SSM, DynamoDB and EventBridge are moto; moto has no UpdateEndpoint
and no endpoint statuses that take time, which `EndpointLifecycle` adds (checking every
UpdateEndpoint request against the service model). One test replays the exact request sequence
of an update against a `botocore.stub.Stubber`. MLflow is the in-memory registry of the gate's tests.
Each package comes from a pipeline execution that `tests.handlers.provenance.Pipelines` runs in
moto (artifact and evidence in the versioned artifact bucket), so the deployer's provenance
check passes for the pipeline's packages and fails for anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from deployer import check, handler, logic
from deployer.endpoint import PROMOTED_PACKAGE_TAG, TARGET_PACKAGE_TAG
from deployer.run import APPROVAL, Deployment, Trigger
from platform_common import domain_events, lease, registry, runtime
from platform_common.catalog import ModelSettings
from platform_common.evidence import EvidenceStore
from platform_common.promotion import promotion_key, promotion_leases
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
from tests.handlers.endpoint_lifecycle import EndpointLifecycle, endpoint_event
from tests.handlers.fakes import FakeMlflow
from tests.handlers.provenance import Execution, Pipelines

ENDPOINT = "mlops-dev-churn"
GROUP = registry.package_group_name("churn", TRACKING_SERVER_ARN)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-model-execution"
ALARM_REASON = "Alarm mlops-dev-churn-5xx-errors went into ALARM during the deployment."


def arn(version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/{version}"


def config(version: int) -> str:
    return f"{ENDPOINT}-v{version}"


@dataclass
class World:
    """The AWS side of one model, the deployer as Lambda runs it, and what it published."""

    sagemaker: EndpointLifecycle
    mlflow: FakeMlflow
    sqs: Any
    queue_url: str
    settings: ModelSettings
    pipelines: Pipelines
    seen: list[dict[str, Any]] = field(default_factory=list)
    event_count: int = 0
    executions: dict[int, Execution] = field(default_factory=dict)

    def register(
        self,
        metrics: float = 0.95,
        *,
        approved: bool = False,
        hostable: bool = True,
        verified: bool = True,
        execution: Execution | None = None,
        serves: Execution | None = None,
    ) -> int:
        """A new package version of the group (and the MLflow version behind it); returns its number.

        By default the package is the model's pipeline's: its execution wrote the artifact and the
        evidence, and the package carries the execution as the gate records it once verified.
        `execution` makes it claim (and serve) another execution's, `serves` serve another's artifact;
        `verified=False` leaves the claim out.
        """
        if execution is None:
            run_id = f"run{len(self.executions) + 1:04d}"
            execution = self.pipelines.execute("churn", metrics={"accuracy": metrics}, run_id=run_id)
        extra = {"InferenceSpecification": (serves or execution).inference_specification()} if hostable else {}
        claim = execution.claim() if verified else {}
        package = self.sagemaker.client.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
            CustomerMetadataProperties={"team": "retention", **claim},
            **extra,
        )
        version = registry.package_version(package["ModelPackageArn"])
        assert version is not None
        self.executions[version] = execution
        # The deployer reads the claim from the package only; the version's own tags stay the deployer's.
        self.mlflow.add_version("churn", version, {"accuracy": metrics}, package=arn(version), run_id=execution.run_id)
        return version

    def approve(self, version: int) -> dict[str, Any]:
        """Approve a package as the gate (or a person) does, and return the state change SageMaker sends."""
        self.sagemaker.client.update_model_package(
            ModelPackageArn=arn(version),
            ModelApprovalStatus="Approved",
            CustomerMetadataProperties=self.package(version).get("CustomerMetadataProperties") or {},
        )
        return self.approval_event(version)

    def approval_event(self, version: int) -> dict[str, Any]:
        self.event_count += 1
        return {
            "version": "0",
            "id": f"approval-{version}-{self.event_count}",
            "detail-type": "SageMaker Model Package State Change",
            "source": "aws.sagemaker",
            "account": ACCOUNT,
            "time": "2026-03-02T09:20:03Z",
            "region": REGION,
            "resources": [arn(version)],
            "detail": {
                "ModelPackageGroupName": GROUP,
                "ModelPackageVersion": version,
                "ModelPackageArn": arn(version),
                "ModelApprovalStatus": "Approved",
            },
        }

    def endpoint_event(self, status: str, config_name: str | None = None) -> dict[str, Any]:
        self.event_count += 1
        return endpoint_event(ENDPOINT, status, config_name, event_id=f"endpoint-{self.event_count}")

    def tick(self, at: datetime = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)) -> dict[str, Any]:
        self.event_count += 1
        return self.invoke(
            {
                "version": "0",
                "id": f"tick-{self.event_count}",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": at.isoformat().replace("+00:00", "Z"),
                "region": REGION,
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/mlops-dev-deployer-check"],
                "detail": {},
            }
        )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return dict(handler.lambda_handler(event, FakeLambdaContext()))

    def published(self) -> list[dict[str, Any]]:
        """Domain events published since the last call."""
        fresh: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                self.seen.extend(fresh)
                return fresh
            for message in messages:
                body = json.loads(message["Body"])
                fresh.append({"detail-type": body["detail-type"], **body["detail"]})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def published_types(self) -> list[str]:
        return [event["detail-type"] for event in self.published()]

    def package(self, version: int) -> dict[str, Any]:
        return dict(self.sagemaker.client.describe_model_package(ModelPackageName=arn(version)))

    def champion(self) -> str | None:
        return self.mlflow.aliases.get(("churn", "champion"))

    def endpoint_tags(self) -> dict[str, str]:
        endpoint_arn = self.sagemaker.client.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"]
        return {t["Key"]: t["Value"] for t in self.sagemaker.client.list_tags(ResourceArn=endpoint_arn)["Tags"]}

    def serve(self, version: int) -> None:
        """Deploy `version` all the way (approval, creation or update, InService), as a starting point."""
        self.invoke(self.approve(version))
        self.sagemaker.finish(ENDPOINT)
        self.invoke(self.endpoint_event("InService"))
        assert self.champion() == str(version)
        self.published()


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def build_world(monkeypatch: pytest.MonkeyPatch, settings: ModelSettings) -> World:
    put_catalog(settings)
    client = boto3.client("sagemaker", region_name=REGION)
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    sagemaker = EndpointLifecycle(client)
    mlflow = FakeMlflow()
    monkeypatch.setattr(handler, "sagemaker", lambda: sagemaker)
    monkeypatch.setattr(handler, "mlflow_registry", lambda: mlflow)

    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS_NAME)
    queue_url = sqs.create_queue(QueueName="published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=BUS_NAME, EventPattern=json.dumps({"source": [domain_events.SOURCE]}))
    events.put_targets(Rule="all", EventBusName=BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return World(sagemaker, mlflow, sqs, queue_url, settings, Pipelines())


@pytest.fixture
def world(aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    return build_world(monkeypatch, example_settings())


# --- creating the endpoint -------------------------------------------------------------------


def test_a_first_approval_creates_model_config_and_endpoint_tagged_with_the_package(world: World) -> None:
    # Given package v1 approved and no endpoint yet
    version = world.register()

    # When the deployer sees the approval
    outcome = world.invoke(world.approve(version))

    # Then a model wraps the package, with the execution role and version tags
    client = world.sagemaker.client
    model = client.describe_model(ModelName=config(1))
    assert model["Containers"] == [{"ModelPackageName": arn(1)}]
    assert model["ExecutionRoleArn"] == ROLE_ARN
    # And a version-named config holds the catalog's instance variant, tagged with the package
    described = client.describe_endpoint_config(EndpointConfigName=config(1))
    assert described["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": config(1),
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 1.0,
        }
    ]
    tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=described["EndpointConfigArn"])["Tags"]}
    assert tags == {"mlops:model": "churn", "mlops:model-version": "1", "mlops:model-package-arn": arn(1)}
    # And the endpoint is being created on that config, naming the deployment it carries
    assert world.sagemaker.state(ENDPOINT).status == "Creating"
    assert world.endpoint_tags() == {"mlops:model": "churn", TARGET_PACKAGE_TAG: arn(1)}
    # And DeploymentStarted says what, to which version, and what comes next
    (started,) = world.published()
    assert started["detail-type"] == domain_events.DEPLOYMENT_STARTED
    assert (started["action"], started["version"], started["endpointConfigName"]) == ("create", 1, config(1))
    assert started["summary"] == f"churn version 1 is being deployed to a new endpoint {ENDPOINT}"
    assert "promotes it once the endpoint is InService" in started["nextStep"]
    assert (outcome["action"], outcome["version"]) == ("created", 1)
    # And nothing is champion before the endpoint serves
    assert world.champion() is None


def test_the_endpoint_in_service_makes_the_first_version_champion(world: World) -> None:
    # Given v1 being created
    world.invoke(world.approve(world.register()))
    world.published()

    # When SageMaker finishes and says so
    world.sagemaker.finish(ENDPOINT)
    outcome = world.invoke(world.endpoint_event("InService", config(1)))

    # Then v1 is champion, with nothing to retire, and the endpoint remembers it
    assert world.champion() == "1"
    assert world.mlflow.tags("churn", 1) == {"lifecycle": "champion"}
    (succeeded,) = world.published()
    assert succeeded["detail-type"] == domain_events.DEPLOYMENT_SUCCEEDED
    assert succeeded["summary"] == f"churn version 1 (MLflow version 1) serves on {ENDPOINT} and is the champion"
    assert world.endpoint_tags()[PROMOTED_PACKAGE_TAG] == arn(1)
    assert outcome["action"] == "promoted"


def test_a_serverless_model_gets_a_serverless_variant(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model served serverless
    world = build_world(monkeypatch, example_settings(serverless_memory_mb=3072, serverless_max_concurrency=8))

    # When its first approval arrives
    world.invoke(world.approve(world.register()))

    # Then the variant has a serverless config and no instances
    (variant,) = world.sagemaker.client.describe_endpoint_config(EndpointConfigName=config(1))["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": config(1),
        "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 8},
    }


def test_an_instance_endpoint_with_monitoring_captures_input_and_output_encrypted_under_the_model_prefix(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a model served from instances whose catalog entry asks for 25 % data capture
    world = build_world(monkeypatch, example_settings(capture_sampling_percent=25))

    # When its first approval arrives
    world.invoke(world.approve(world.register()))

    # Then the config captures requests and responses of 25 % of invocations, as text for CSV and
    # JSON, into the model's capture prefix of the data bucket, encrypted with the platform key
    described = world.sagemaker.client.describe_endpoint_config(EndpointConfigName=config(1))
    capture = described["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 25
    assert capture["DestinationS3Uri"] == f"s3://{DATA_BUCKET}/monitoring/churn/capture/"
    assert capture["KmsKeyId"] == DATA_KEY_ARN
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert capture["CaptureContentTypeHeader"] == {
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json", "application/jsonlines"],
    }


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"capture_sampling_percent": None}, id="monitoring-disabled"),
        pytest.param(
            {"capture_sampling_percent": 100, "serverless_memory_mb": 2048, "serverless_max_concurrency": 1},
            id="serverless",
        ),
    ],
)
def test_no_data_capture_is_configured_without_monitoring_or_on_a_serverless_endpoint(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any]
) -> None:
    # Given a model whose monitoring is off, or one served serverless (which cannot capture)
    world = build_world(monkeypatch, example_settings(**overrides))

    # When its first approval arrives
    world.invoke(world.approve(world.register()))

    # Then its endpoint config has no data capture at all
    described = world.sagemaker.client.describe_endpoint_config(EndpointConfigName=config(1))
    assert not described.get("DataCaptureConfig")


# --- approvals during a deployment --------------------------------------------------------------


def test_an_approval_during_a_deployment_waits_without_error_and_is_deployed_by_the_in_service_event(
    world: World,
) -> None:
    # Given v1 serving and champion, and v2 approved: the endpoint is Updating to v2
    world.serve(world.register(0.93))
    v2 = world.register(0.94)
    world.invoke(world.approve(v2))
    assert world.sagemaker.state(ENDPOINT).pending == config(2)
    world.published()

    # When v3 is approved while the canary of v2 still runs
    v3 = world.register(0.95)
    waiting = world.invoke(world.approve(v3))

    # Then the deployer returns normally (no retry, no dead-letter queue) and says v3 waits
    assert waiting["action"] == "waiting"
    assert world.sagemaker.refused_updates == []
    (deferred,) = world.published()
    assert deferred["detail-type"] == domain_events.DEPLOYMENT_DEFERRED
    assert (deferred["version"], deferred["endpointStatus"], deferred["movingTo"]) == (3, "Updating", config(2))
    assert deferred["summary"] == f"churn version 3 waits for endpoint {ENDPOINT} (Updating)"
    assert "every 10 minutes" in deferred["nextStep"]

    # When v2's update finishes and SageMaker says the endpoint is in service
    world.sagemaker.finish(ENDPOINT)
    after = world.invoke(world.endpoint_event("InService", config(2)))

    # Then v2 becomes champion, and only then the endpoint moves on to v3
    assert world.champion() == "2"
    assert [u["EndpointConfigName"] for u in world.sagemaker.updates] == [config(2), config(3)]
    assert world.published_types() == [
        domain_events.DEPLOYMENT_SUCCEEDED,
        domain_events.MODEL_RETIRED,
        domain_events.DEPLOYMENT_STARTED,
    ]
    assert (after["action"], after["version"]) == ("updated", 3)

    # And when v3 is in service it is champion, v2 retired
    world.sagemaker.finish(ENDPOINT)
    world.invoke(world.endpoint_event("InService", config(3)))
    assert world.champion() == "3"
    assert world.mlflow.tags("churn", 2)["lifecycle"] == "retired"


def test_an_approval_during_a_deployment_is_deployed_by_the_periodic_check_if_the_event_is_lost(
    world: World,
) -> None:
    # Given v1 serving, an update to v2 in progress, and v3 approved meanwhile
    world.serve(world.register(0.93))
    world.invoke(world.approve(world.register(0.94)))
    world.invoke(world.approve(world.register(0.95)))
    world.published()

    # When v2 finishes but its InService event never arrives, and the periodic check runs
    world.sagemaker.finish(ENDPOINT)
    report = world.tick()

    # Then the check promotes what serves and starts v3
    assert world.champion() == "2"
    assert world.sagemaker.state(ENDPOINT).pending == config(3)
    assert report["models"]["churn"]["action"] == "updated"
    assert world.published_types() == [
        domain_events.DEPLOYMENT_SUCCEEDED,
        domain_events.MODEL_RETIRED,
        domain_events.DEPLOYMENT_STARTED,
    ]


@pytest.mark.parametrize(
    "status", ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "OutOfService"]
)
def test_an_approval_while_the_endpoint_is_busy_returns_normally_and_changes_nothing(world: World, status: str) -> None:
    # Given v1 serving, then the endpoint busy for a reason of SageMaker's own
    world.serve(world.register())
    world.sagemaker.set_status(ENDPOINT, status)
    v2 = world.register()

    # When v2 is approved
    outcome = world.invoke(world.approve(v2))

    # Then nothing is created or updated, and the approval is recorded as waiting
    assert outcome["action"] == "waiting"
    assert world.sagemaker.updates == []
    assert [m["ModelName"] for m in world.sagemaker.client.list_models()["Models"]] == [config(1)]
    assert world.published_types() == [domain_events.DEPLOYMENT_DEFERRED]


def test_an_update_refused_because_another_is_in_progress_counts_as_busy(world: World) -> None:
    # Given v1 serving, and SageMaker starting another update between the deployer's look and its call
    world.serve(world.register())
    v2 = world.register()
    lifecycle = world.sagemaker
    original = lifecycle.update_endpoint

    def someone_else_first(**params: Any) -> Any:
        lifecycle.set_status(ENDPOINT, "Updating")
        return original(**params)

    lifecycle.update_endpoint = someone_else_first  # type: ignore[method-assign]

    # When v2 is approved
    outcome = world.invoke(world.approve(v2))

    # Then the refusal (a ValidationException) is a wait, not an error
    assert outcome["action"] == "waiting"
    assert len(lifecycle.refused_updates) == 1
    assert world.endpoint_tags()[TARGET_PACKAGE_TAG] == arn(1)
    assert world.published_types() == [domain_events.DEPLOYMENT_DEFERRED]


def test_an_update_refused_for_another_reason_raises_so_lambda_retries(world: World) -> None:
    # Given v1 serving and SageMaker refusing the update although the endpoint stays InService
    world.serve(world.register())
    v2 = world.register()

    def refuse(**params: Any) -> Any:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "bad config"}}, "UpdateEndpoint")

    world.sagemaker.update_endpoint = refuse  # type: ignore[method-assign]

    # When v2 is approved, then the error propagates and nothing claims the update started
    with pytest.raises(ClientError, match="bad config"):
        world.invoke(world.approve(v2))
    assert world.endpoint_tags()[TARGET_PACKAGE_TAG] == arn(1)
    assert world.published_types() == []


# --- duplicates, late and forged events ------------------------------------------------------------


def test_a_duplicated_approval_stays_one_deployment(world: World) -> None:
    # Given v1 serving and v2's approval handled once
    world.serve(world.register())
    approval = world.approve(world.register())
    world.invoke(approval)
    world.published()

    # When the same approval is delivered again during the update, and once more after it
    during = world.invoke(approval)
    world.sagemaker.finish(ENDPOINT)
    after = world.invoke(approval)

    # Then there was one update only, and each duplicate says why it did nothing more
    assert [u["EndpointConfigName"] for u in world.sagemaker.updates] == [config(2)]
    assert during["action"] == "waiting"
    skipped_during, *rest = world.published()
    assert skipped_during["detail-type"] == domain_events.DEPLOYMENT_SKIPPED
    assert "an approval delivered again does not redeploy" in skipped_during["reason"]
    # (the late duplicate also finds v2 serving and completes its promotion, the InService event being lost)
    assert [e["detail-type"] for e in rest] == [
        domain_events.DEPLOYMENT_SUCCEEDED,
        domain_events.MODEL_RETIRED,
        domain_events.DEPLOYMENT_SKIPPED,
    ]
    assert after["action"] == "promoted"


def test_a_duplicated_first_approval_creates_one_endpoint(world: World) -> None:
    # Given v1's approval handled once: the endpoint is Creating
    approval = world.approve(world.register())
    world.invoke(approval)

    # When it is delivered again
    outcome = world.invoke(approval)

    # Then no second model, config or endpoint is asked for
    assert world.sagemaker.calls.count("create_endpoint") == 1
    assert world.sagemaker.calls.count("create_model") == 1
    assert outcome["action"] == "waiting"


def test_a_late_in_service_event_leaves_the_champion_where_it_is(world: World) -> None:
    # Given v3 served and was promoted, then v4 replaced it and was promoted
    for version in (world.register(0.93), world.register(0.94), world.register(0.95)):
        world.serve(version)
    world.serve(world.register(0.96))
    assert world.champion() == "4"
    writes_before = list(world.mlflow.writes)

    # When v3's InService event arrives late
    outcome = world.invoke(world.endpoint_event("InService", config(3)))

    # Then DescribeEndpoint decides: v4 serves and stays champion, v4 is not retired, nothing is published
    assert world.champion() == "4"
    assert world.mlflow.tags("churn", 4)["lifecycle"] == "champion"
    assert world.mlflow.writes == writes_before
    assert world.published() == []
    assert outcome["action"] == "in_sync"


@pytest.mark.parametrize(
    ("status", "forged_config"),
    [("InService", config(1)), ("InService", "someone-elses-config"), ("Failed", config(1)), ("InService", None)],
)
def test_a_forged_endpoint_event_changes_nothing(world: World, status: str, forged_config: str | None) -> None:
    # Given v2 serving and champion
    world.serve(world.register(0.93))
    world.serve(world.register(0.95))
    writes_before = list(world.mlflow.writes)
    updates_before = list(world.sagemaker.updates)
    metadata_before = {v: world.package(v).get("CustomerMetadataProperties") for v in (1, 2)}

    # When an event claims something else about the endpoint (an older config, a failure)
    outcome = world.invoke(world.endpoint_event(status, forged_config))

    # Then nothing moves: not the alias, not the endpoint, not the packages' records
    assert world.champion() == "2"
    assert world.mlflow.writes == writes_before
    assert world.sagemaker.updates == updates_before
    assert {v: world.package(v).get("CustomerMetadataProperties") for v in (1, 2)} == metadata_before
    assert world.published() == []
    assert outcome["action"] == "in_sync"


# --- rollbacks and failures ------------------------------------------------------------------------


def test_a_rollback_is_reported_and_the_package_marked_so_it_is_not_retried(world: World) -> None:
    # Given v1 serving, and v2's canary rolled back by an alarm
    world.serve(world.register(0.93))
    world.invoke(world.approve(world.register(0.95)))
    world.published()
    world.sagemaker.roll_back(ENDPOINT, ALARM_REASON)

    # When the endpoint's InService event arrives (the event itself says nothing of the failure)
    outcome = world.invoke(world.endpoint_event("InService", config(1)))

    # Then the rollback is reported: what, which version, why, what next
    (rolled_back,) = world.published()
    assert rolled_back["detail-type"] == domain_events.DEPLOYMENT_ROLLED_BACK
    assert rolled_back["version"] == 2
    assert rolled_back["summary"] == f"churn version 2 was rolled back on {ENDPOINT}; version 1 still serves"
    assert ALARM_REASON in rolled_back["reason"]
    assert "--customer-metadata-properties-to-remove deployment_status" in rolled_back["nextStep"]
    assert rolled_back["failureReason"] == ALARM_REASON
    # And the package carries the mark, keeping its other metadata and its approval
    package = world.package(2)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"] == {
        "team": "retention",
        **world.executions[2].claim(),
        "deployment_status": "rolled_back",
        "deployment_endpoint_config": config(2),
    }
    assert package["ApprovalDescription"].startswith(f"Rolled back on {ENDPOINT}: {ALARM_REASON}")
    # And v1 stays champion, and v2 is not deployed again
    assert world.champion() == "1"
    assert len(world.sagemaker.updates) == 1
    assert outcome["action"] == "held"

    # When the mark's own state change, the same event again and the periodic check arrive
    world.invoke(world.approval_event(2))
    world.invoke(world.endpoint_event("InService", config(1)))
    world.tick()

    # Then nothing more happens and nothing is reported twice
    assert len(world.sagemaker.updates) == 1
    assert world.published() == []


def test_after_a_rollback_a_newer_approval_deploys_and_removing_the_mark_retries(world: World) -> None:
    # Given v2 rolled back on top of v1
    world.serve(world.register(0.93))
    world.invoke(world.approve(world.register(0.95)))
    world.sagemaker.roll_back(ENDPOINT, ALARM_REASON)
    world.invoke(world.endpoint_event("InService"))
    world.published()

    # When v3 is approved, then it deploys and becomes champion; the stale FailureReason is no rollback of v3
    world.invoke(world.approve(world.register(0.96)))
    world.sagemaker.finish(ENDPOINT)
    world.invoke(world.endpoint_event("InService"))
    assert world.champion() == "3"
    assert world.published_types() == [
        domain_events.DEPLOYMENT_STARTED,
        domain_events.DEPLOYMENT_SUCCEEDED,
        domain_events.MODEL_RETIRED,
    ]
    assert world.package(2)["CustomerMetadataProperties"]["deployment_status"] == "rolled_back"


def test_removing_the_mark_of_the_newest_package_deploys_it_again(world: World) -> None:
    # Given v2 rolled back on top of v1
    world.serve(world.register(0.93))
    world.invoke(world.approve(world.register(0.95)))
    world.sagemaker.roll_back(ENDPOINT, ALARM_REASON)
    world.invoke(world.endpoint_event("InService"))
    world.published()

    # When a person removes the mark (the update sends a state change of the still approved package;
    # moto drops the entries not restated, SageMaker keeps them)
    world.sagemaker.client.update_model_package(
        ModelPackageArn=arn(2),
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"team": "retention", **world.executions[2].claim()},
        CustomerMetadataPropertiesToRemove=["deployment_status"],
    )
    world.invoke(world.approval_event(2))

    # Then v2 is deployed again
    assert [u["EndpointConfigName"] for u in world.sagemaker.updates] == [config(2), config(2)]
    assert world.published_types() == [domain_events.DEPLOYMENT_STARTED]


@pytest.mark.parametrize("survives", [False, True])
def test_a_successful_update_is_promoted_whether_or_not_an_old_failure_reason_remains(
    world: World, survives: bool
) -> None:
    # Given a rollback of v2 whose FailureReason DescribeEndpoint may or may not keep after the next success
    world.sagemaker.failure_survives_success = survives
    world.serve(world.register(0.93))
    world.invoke(world.approve(world.register(0.95)))
    world.sagemaker.roll_back(ENDPOINT, ALARM_REASON)
    world.invoke(world.endpoint_event("InService"))

    # When v3 is deployed successfully
    world.invoke(world.approve(world.register(0.96)))
    world.sagemaker.finish(ENDPOINT)
    world.published()
    world.invoke(world.endpoint_event("InService"))

    # Then v3 is champion and no rollback of v3 is reported
    assert world.champion() == "3"
    assert world.package(3).get("CustomerMetadataProperties", {}).get("deployment_status") is None
    assert domain_events.DEPLOYMENT_ROLLED_BACK not in world.published_types()


def test_a_failed_creation_is_reported_once_and_its_package_marked(world: World) -> None:
    # Given v1's endpoint creation failing for good
    world.invoke(world.approve(world.register()))
    world.published()
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    world.sagemaker.fail(ENDPOINT, reason)

    # When the FAILED event arrives, twice
    first = world.invoke(world.endpoint_event("Failed", config(1)))
    second = world.invoke(world.endpoint_event("Failed", config(1)))

    # Then one DeploymentFailed carries SageMaker's reason and tells a person what to do
    (failed,) = world.published()
    assert failed["detail-type"] == domain_events.DEPLOYMENT_FAILED
    assert reason in failed["reason"]
    assert failed["summary"] == f"churn version 1 failed to deploy: endpoint {ENDPOINT} is Failed"
    assert f"aws sagemaker delete-endpoint --endpoint-name {ENDPOINT}" in failed["nextStep"]
    assert world.package(1)["CustomerMetadataProperties"]["deployment_status"] == "failed"
    assert (first["action"], second["action"]) == ("failed", "blocked")
    assert world.champion() is None


def test_a_package_without_inference_specification_is_reported_once_and_marked(world: World) -> None:
    # Given an approved package that has no inference container
    version = world.register(hostable=False)

    # When its approval arrives, and later the periodic check
    outcome = world.invoke(world.approve(version))
    world.tick()

    # Then nothing is created; one DeploymentFailed says why and what to do
    client = world.sagemaker.client
    assert (client.list_models()["Models"], client.list_endpoints()["Endpoints"]) == ([], [])
    (failed,) = world.published()
    assert failed["detail-type"] == domain_events.DEPLOYMENT_FAILED
    assert f"model package {arn(1)} has no InferenceSpecification" in failed["reason"]
    assert "sagemaker_mlflow.log_inference_specification" in failed["nextStep"]
    assert world.package(1)["CustomerMetadataProperties"]["deployment_status"] == "undeployable"
    assert outcome["action"] == "failed"


# --- the periodic check ------------------------------------------------------------------------------


def test_the_periodic_check_with_nothing_to_do_does_nothing(world: World) -> None:
    # Given v1 serving and champion, nothing newer approved
    world.serve(world.register())
    mlflow_calls_before = (list(world.mlflow.writes), list(world.mlflow.searches))
    world.sagemaker.calls.clear()

    # When the periodic check runs
    report = world.tick()

    # Then it only looked: no MLflow call, no change in SageMaker, nothing published
    assert report == {
        "action": "checked",
        "models": {
            "churn": {
                "action": "in_sync",
                "model": "churn",
                "version": 1,
                "reason": f"endpoint {ENDPOINT!r} serves {config(1)}, version 1, the newest approved package",
            }
        },
    }
    assert (world.mlflow.writes, world.mlflow.searches) == mlflow_calls_before
    changes = [c for c in world.sagemaker.calls if not c.startswith(("describe_", "list_"))]
    assert changes == []
    assert world.published() == []


def test_the_periodic_check_never_creates_an_endpoint(world: World) -> None:
    # Given an approved package whose endpoint does not exist (never created, or deleted on purpose)
    world.register(approved=True)

    # When the periodic check runs
    report = world.tick()

    # Then nothing is created
    assert report["models"]["churn"]["action"] == "ignored"
    assert world.sagemaker.client.list_endpoints()["Endpoints"] == []
    assert world.published() == []


def test_the_periodic_check_leaves_a_model_whose_lease_is_held_to_its_holder(world: World, model_locks: Any) -> None:
    # Given v1 serving and another invocation deciding for churn right now
    world.serve(world.register())
    world.register(approved=True)
    held = datetime.now(UTC) + timedelta(seconds=60)
    model_locks.put_item(
        TableName=LOCK_TABLE,
        Item={
            lease.KEY_ATTRIBUTE: {"S": promotion_key("churn") + "#lease"},
            "owner": {"S": "approval-4/abc"},
            "leaseExpiresAt": {"N": str(int(held.timestamp()))},
        },
    )

    # When the periodic check runs, then it does not wait and does not touch the model
    report = world.tick()
    assert report["models"]["churn"]["action"] == "lease_busy"
    assert world.sagemaker.updates == []


def test_the_periodic_check_goes_on_after_one_model_fails_then_raises(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two models, the first of which cannot be read
    world = build_world(monkeypatch, example_settings())
    put_catalog(example_settings("fraud"))
    calls: list[str] = []

    def deployment_for(settings: ModelSettings) -> Deployment:
        calls.append(settings.name)
        if settings.name == "churn":
            raise RuntimeError("SageMaker is unreachable")
        return handler.deployment(settings)

    leases = promotion_leases(model_locks, LOCK_TABLE, clock=lambda: datetime.now(UTC), sleep=lambda _: None)

    # When the check runs, then every model is tried and the failure is raised at the end
    with pytest.raises(check.CheckFailedError, match="churn: RuntimeError: SageMaker is unreachable") as raised:
        check.check_all(
            [example_settings("churn"), example_settings("fraud")],
            deployment_for=deployment_for,
            leases=leases,
            event_id="tick-1",
            time_left=lambda: 100.0,
        )
    assert calls == ["churn", "fraud"]
    assert raised.value.report.outcomes["fraud"].action == "ignored"
    assert world.published() == []


def test_the_periodic_check_postpones_models_it_has_no_time_for_and_starts_elsewhere_next_time() -> None:
    # Given three models and time for none of them
    models = [example_settings(name) for name in ("a-model", "b-model", "c-model")]

    # When the check runs with its rotation at 1
    report = check.check_all(
        models,
        deployment_for=lambda settings: pytest.fail("no model should be reconciled"),
        leases=None,  # type: ignore[arg-type]
        event_id="tick",
        time_left=lambda: 1.0,
        rotation=1,
    )

    # Then every model is postponed, in the rotated order
    assert report.postponed == ("b-model", "c-model", "a-model")


# --- the lease --------------------------------------------------------------------------------------


def test_an_approval_waits_for_the_lease_and_raises_if_it_stays_held(world: World, model_locks: Any) -> None:
    # Given another invocation holding churn's promotion lease for a long time
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    clock = [now]
    model_locks.put_item(
        TableName=LOCK_TABLE,
        Item={
            lease.KEY_ATTRIBUTE: {"S": "churn#promotion#lease"},
            "owner": {"S": "gate-decision/1"},
            "leaseExpiresAt": {"N": str(int((now + timedelta(seconds=170)).timestamp()))},
        },
    )
    leases = promotion_leases(
        model_locks,
        LOCK_TABLE,
        clock=lambda: clock[0],
        sleep=lambda s: clock.__setitem__(0, clock[0] + timedelta(seconds=s)),
    )
    world.register(approved=True)

    # When the deployer handles an approval, then it gives up after waiting and raises (Lambda retries)
    with pytest.raises(lease.LeaseBusyError, match="lease held by gate-decision/1"):
        logic.converge(
            handler.deployment(example_settings()),
            Trigger(APPROVAL, arn(1), "approval-1"),
            leases=leases,
            owner="approval-1/x",
        )
    # And it created nothing
    assert world.sagemaker.client.list_endpoints()["Endpoints"] == []


# --- promotion --------------------------------------------------------------------------------------


def test_the_mlflow_version_is_found_by_its_package_tag_not_by_number(world: World) -> None:
    # Given package 1 registered from MLflow version 5, while MLflow version 1 belongs to no package
    version = world.register()
    world.mlflow.versions.clear()
    world.mlflow.add_version("churn", 1, package=None)
    world.mlflow.add_version("churn", 5, package=arn(version))
    world.invoke(world.approve(version))
    world.sagemaker.finish(ENDPOINT)

    # When the endpoint is in service on package 1
    world.invoke(world.endpoint_event("InService"))

    # Then MLflow version 5 becomes champion and version 1 is untouched
    assert world.champion() == "5"
    assert world.mlflow.tags("churn", 1) == {}
    succeeded = [e for e in world.published() if e["detail-type"] == domain_events.DEPLOYMENT_SUCCEEDED]
    assert [(e["version"], e["mlflowVersion"]) for e in succeeded] == [(1, "5")]


def test_a_served_package_no_mlflow_version_carries_is_rejected_without_moving_the_alias(world: World) -> None:
    # Given package 1 in service, but no MLflow version carrying its ARN
    version = world.register()
    world.mlflow.versions[("churn", "1")]["tags"].clear()
    world.invoke(world.approve(version))
    world.sagemaker.finish(ENDPOINT)
    world.published()

    # When the endpoint is in service
    outcome = world.invoke(world.endpoint_event("InService"))

    # Then nothing moves in MLflow and the rejection says which tag was looked for, and what to do
    assert world.mlflow.writes == []
    (rejected,) = world.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert f"sagemaker.model_package_arn={arn(1)}" in rejected["reason"]
    assert "champion alias was not moved" in rejected["reason"]
    assert f"sagemaker.model_package_arn={arn(1)}" in rejected["nextStep"]
    assert outcome["action"] == "in_sync"
    assert PROMOTED_PACKAGE_TAG not in world.endpoint_tags()


def test_a_promotion_interrupted_after_the_alias_moved_still_retires_the_old_champion(world: World) -> None:
    # Given v1 champion, v2 serving, and an earlier attempt that recorded v1 and moved the alias, then failed
    world.serve(world.register())
    world.invoke(world.approve(world.register()))
    world.sagemaker.finish(ENDPOINT)
    world.published()
    world.mlflow.versions[("churn", "2")]["tags"]["previous_champion"] = "1"
    world.mlflow.aliases[("churn", "champion")] = "2"

    # When the event is handled (again)
    world.invoke(world.endpoint_event("InService"))

    # Then the promotion completes as if it had not been interrupted
    assert world.mlflow.tags("churn", 1) == {"lifecycle": "retired"}
    assert world.mlflow.tags("churn", 2)["lifecycle"] == "champion"
    assert world.published_types() == [domain_events.DEPLOYMENT_SUCCEEDED, domain_events.MODEL_RETIRED]


def test_an_endpoint_config_the_deployer_did_not_create_moves_no_alias(world: World) -> None:
    # Given an endpoint someone pointed at a hand-made config of package 1, nothing approved
    world.register()
    client = world.sagemaker.client
    client.create_model(ModelName="hand-made", ExecutionRoleArn=ROLE_ARN, Containers=[{"ModelPackageName": arn(1)}])
    client.create_endpoint_config(
        EndpointConfigName="hand-made-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "hand-made",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    client.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made-config")

    # When the endpoint reports it is in service
    outcome = world.invoke(world.endpoint_event("InService", "hand-made-config"))

    # Then nothing is promoted or deployed
    assert outcome["action"] == "nothing_to_deploy"
    assert world.mlflow.writes == []
    assert world.published() == []


# --- events the deployer does not act on ------------------------------------------------------------


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_packages_that_are_not_approved_are_ignored(world: World, status: str) -> None:
    world.register()
    event = world.approval_event(1)
    event["detail"]["ModelApprovalStatus"] = status

    outcome = world.invoke(event)

    assert outcome["action"] == "ignored"
    assert world.sagemaker.client.list_models()["Models"] == []
    assert world.published() == []


def test_an_approval_withdrawn_before_delivery_deploys_nothing(world: World) -> None:
    # Given v1 approved and then rejected again, nothing else approved
    world.approve(world.register())
    world.sagemaker.client.update_model_package(ModelPackageArn=arn(1), ModelApprovalStatus="Rejected")

    # When the stale approval arrives
    outcome = world.invoke(world.approval_event(1))

    # Then nothing is deployed, and the reason is on record
    assert outcome["action"] == "nothing_to_deploy"
    assert world.sagemaker.client.list_endpoints()["Endpoints"] == []
    (skipped,) = world.published()
    assert skipped["detail-type"] == domain_events.DEPLOYMENT_SKIPPED
    assert f"no package of group {GROUP!r} is Approved" in skipped["reason"]


def test_an_approval_for_an_unknown_group_is_rejected(world: World) -> None:
    event = world.approval_event(1)
    other = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/fraud-9f8e7d/1"
    event["detail"].update(ModelPackageGroupName="fraud-9f8e7d", ModelPackageArn=other)

    outcome = world.invoke(event)

    assert outcome["action"] == "event_rejected"
    (rejected,) = world.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert rejected["summary"].startswith("deployer rejected an event (no known model): no model in the catalog")
    assert "correlationId" in rejected["nextStep"]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda e: e["detail"].pop("EndpointName"), id="no-endpoint-name"),
        pytest.param(lambda e: e["detail"].update(EndpointStatus="SLEEPING"), id="unknown-status"),
        pytest.param(lambda e: e.update({"detail-type": "SageMaker Training Job State Change"}), id="foreign-type"),
        pytest.param(lambda e: e["detail"].update(EndpointName="someone-elses-endpoint"), id="unknown-endpoint"),
    ],
)
def test_malformed_or_foreign_endpoint_events_are_rejected_without_side_effects(world: World, spoil: Any) -> None:
    world.serve(world.register())
    writes_before = list(world.mlflow.writes)
    event = world.endpoint_event("InService", config(1))
    spoil(event)

    outcome = world.invoke(event)

    assert outcome["action"] == "event_rejected"
    assert world.mlflow.writes == writes_before
    assert world.published_types() == [domain_events.EVENT_REJECTED]


# --- the exact requests of an update -----------------------------------------------------------------


def test_an_update_sends_exactly_these_requests(aws: None) -> None:
    """Stubbed SageMaker: every call of a reconciliation that replaces v1 (serving, promoted) by v2.

    The artifact and its evidence are in moto's S3, written by a pipeline execution run in moto;
    the provenance check asks the stubbed client about that execution before CreateModel.
    """
    pipelines = Pipelines()
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0002")
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    endpoint_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
    now = datetime(2026, 3, 2, 9, 20, tzinfo=UTC)
    settings = example_settings(deployment_strategy="canary", canary_percent=10, instance_count=4)
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": endpoint_arn,
            "EndpointConfigName": config(1),
            "EndpointStatus": "InService",
            "CreationTime": now,
            "LastModifiedTime": now,
        },
        {"EndpointName": ENDPOINT},
    )
    stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": TARGET_PACKAGE_TAG, "Value": arn(1)}, {"Key": PROMOTED_PACKAGE_TAG, "Value": arn(1)}]},
        {"ResourceArn": endpoint_arn},
    )
    config_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{config(1)}"
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": config(1),
            "EndpointConfigArn": config_arn,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": config(1)}],
            "CreationTime": now,
        },
        {"EndpointConfigName": config(1)},
    )
    stubber.add_response(
        "describe_model",
        {
            "ModelName": config(1),
            "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{config(1)}",
            "Containers": [{"ModelPackageName": arn(1)}],
            "CreationTime": now,
        },
        {"ModelName": config(1)},
    )
    stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": "mlops:model", "Value": "churn"}, {"Key": "mlops:model-package-arn", "Value": arn(1)}]},
        {"ResourceArn": config_arn},
    )
    stubber.add_response(
        "list_model_packages",
        {
            "ModelPackageSummaryList": [
                {
                    "ModelPackageArn": arn(2),
                    "ModelPackageGroupName": GROUP,
                    "ModelPackageVersion": 2,
                    "CreationTime": now,
                    "ModelPackageStatus": "Completed",
                    "ModelApprovalStatus": "Approved",
                }
            ]
        },
        {
            "ModelPackageGroupName": GROUP,
            "ModelApprovalStatus": "Approved",
            "ModelPackageType": "Versioned",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": 1,
        },
    )
    stubber.add_response(
        "describe_model_package",
        {
            "ModelPackageName": GROUP,
            "ModelPackageGroupName": GROUP,
            "ModelPackageVersion": 2,
            "ModelPackageArn": arn(2),
            "CreationTime": now,
            "InferenceSpecification": execution.inference_specification(),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": execution.claim(),
        },
        {"ModelPackageName": arn(2)},
    )
    stubber.add_response(
        "describe_pipeline_execution",
        {"PipelineArn": execution.arn.split("/execution/")[0], "PipelineExecutionArn": execution.arn},
        {"PipelineExecutionArn": execution.arn},
    )
    for method in ("describe_model", "describe_endpoint_config"):
        stubber.add_client_error(method, service_error_code="ValidationException", service_message="Could not find it.")
        tags = [
            {"Key": "mlops:model", "Value": "churn"},
            {"Key": "mlops:model-version", "Value": "2"},
            {"Key": "mlops:model-package-arn", "Value": arn(2)},
        ]
        if method == "describe_model":
            stubber.add_response(
                "create_model",
                {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{config(2)}"},
                {
                    "ModelName": config(2),
                    "ExecutionRoleArn": ROLE_ARN,
                    "Containers": [{"ModelPackageName": arn(2)}],
                    "Tags": tags,
                },
            )
        else:
            variant = {
                "VariantName": "AllTraffic",
                "ModelName": config(2),
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 4,
                "InitialVariantWeight": 1.0,
            }
            stubber.add_response(
                "create_endpoint_config",
                {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{config(2)}"},
                {"EndpointConfigName": config(2), "ProductionVariants": [variant], "Tags": tags},
            )
    stubber.add_response(
        "update_endpoint",
        {"EndpointArn": endpoint_arn},
        {
            "EndpointName": ENDPOINT,
            "EndpointConfigName": config(2),
            "RetainAllVariantProperties": False,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                        "WaitIntervalInSeconds": 600,
                    },
                    "TerminationWaitInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 2700,
                },
                "AutoRollbackConfiguration": {
                    "Alarms": [
                        {"AlarmName": "mlops-dev-churn-5xx-errors"},
                        {"AlarmName": "mlops-dev-churn-model-latency"},
                    ]
                },
            },
        },
    )
    stubber.add_response(
        "add_tags", {"Tags": []}, {"ResourceArn": endpoint_arn, "Tags": [{"Key": TARGET_PACKAGE_TAG, "Value": arn(2)}]}
    )
    published: list[domain_events.DomainEvent] = []

    # When the deployer reconciles on v2's approval
    with stubber:
        outcome = logic.reconcile(
            Deployment(
                settings,
                GROUP,
                client,
                FakeMlflow(),
                published.append,
                ROLE_ARN,
                EvidenceStore(pipelines.bucket, pipelines.s3, client),
            ),
            Trigger(APPROVAL, arn(2), "approval-2"),
        )

    # Then exactly those requests were made, and DeploymentStarted names the update
    stubber.assert_no_pending_responses()
    assert outcome.action == "updated"
    (started,) = published
    assert started.detail_type == domain_events.DEPLOYMENT_STARTED
    assert (started.data["action"], started.data["previousEndpointConfigName"]) == ("update", config(1))
    assert started.data["strategy"] == "canary"


# --- provenance: only what the model's pipeline evaluated is deployed ------------------------------


def assert_nothing_created(world: World) -> None:
    client = world.sagemaker.client
    assert client.list_models()["Models"] == []
    assert client.list_endpoint_configs()["EndpointConfigs"] == []
    assert client.list_endpoints()["Endpoints"] == []


def refused_once(world: World, version: int, code: str) -> dict[str, Any]:
    """The approval of `version` is refused for `code`: marked undeployable, reported once, nothing created."""
    outcome = world.invoke(world.approve(version))
    assert outcome["action"] == "failed"
    assert_nothing_created(world)
    (failed,) = world.published()
    assert failed["detail-type"] == domain_events.DEPLOYMENT_FAILED
    assert failed["provenance"] == code
    assert failed["reason"].startswith(f"version {version} is not deployed: ")
    assert failed["summary"] and failed["nextStep"]
    metadata = world.package(version)["CustomerMetadataProperties"]
    assert metadata[registry.DEPLOYMENT_STATUS_KEY] == registry.UNDEPLOYABLE
    # And neither the echo of the mark nor the periodic check tries again
    assert world.invoke(world.approval_event(version))["action"] == "held"
    assert world.tick()["models"]["churn"]["action"] in ("held", "ignored")
    assert_nothing_created(world)
    assert world.published() == []
    return failed


def test_an_approved_package_the_gate_never_verified_is_not_deployed(world: World) -> None:
    # Given a data scientist's experiment registered as a package and approved by hand: it names no execution
    experiment = world.pipelines.execute("churn", metrics={"accuracy": 0.99}, run_id="experiment42", evidence=False)
    version = world.register(0.99, execution=experiment, verified=False)

    # When the approval reaches the deployer, then it is refused for naming no verified execution
    failed = refused_once(world, version, "no-claim")
    assert f"model package {arn(version)} carries no " in failed["reason"]


def test_an_artifact_overwritten_after_evaluation_is_not_deployed(world: World) -> None:
    # Given the pipeline's verified package, whose artifact was then replaced in S3
    version = world.register()
    execution = world.executions[version]
    replaced = world.pipelines.overwrite_artifact(execution)

    # When it is approved, then it is refused, and both artifact versions are named
    failed = refused_once(world, version, "artifact-changed")
    assert f"is now version {replaced}" in failed["reason"]
    assert f"evaluated version {execution.artifact_version_id}" in failed["reason"]


def test_a_package_serving_another_artifact_than_its_execution_evaluated_is_not_deployed(world: World) -> None:
    # Given a package that names a real execution but serves another execution's artifact
    execution = world.pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    other = world.pipelines.execute("churn", metrics={"accuracy": 0.70}, run_id="run0004")
    version = world.register(execution=execution, serves=other)

    # When it is approved, then it is refused for serving what was not evaluated
    failed = refused_once(world, version, "evidence-mismatch")
    assert f"serves {other.artifact_uri}, but the pipeline evaluated {execution.artifact_uri}" in failed["reason"]


def test_an_unproven_approval_leaves_the_serving_champion_and_a_newer_verified_one_still_deploys(
    world: World,
) -> None:
    # Given v1 serving as champion, and an unverified v2 approved by hand and refused
    world.serve(world.register())
    forged = world.register(0.99, verified=False)
    assert world.invoke(world.approve(forged))["action"] == "failed"
    assert world.published_types() == [domain_events.DEPLOYMENT_FAILED]
    assert world.champion() == "1"

    # When the pipeline's v3 is approved
    version = world.register(0.96)
    outcome = world.invoke(world.approve(version))

    # Then v3 is deployed from the artifact its pipeline evaluated, and becomes champion once InService
    assert outcome["action"] == "updated"
    model = world.sagemaker.client.describe_model(ModelName=config(version))
    assert model["Containers"] == [{"ModelPackageName": arn(version)}]
    spec = world.package(version)["InferenceSpecification"]["Containers"][0]
    assert spec["ModelDataUrl"] == world.executions[version].artifact_uri
    world.sagemaker.finish(ENDPOINT)
    world.invoke(world.endpoint_event("InService"))
    assert world.champion() == str(version)
