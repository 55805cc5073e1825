"""The deployer: approved packages onto endpoints, and promotion once an endpoint serves them.

SageMaker, SSM and EventBridge are served by moto; moto has no UpdateEndpoint, so the
update path runs the core against a `botocore.stub.Stubber` that checks every request.
MLflow is the in-memory registry of the gate's tests.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from deployer import handler, logic, requests
from deployer.models import EndpointStateDetail, ModelPackageDetail
from platform_common import domain_events, runtime
from platform_common.catalog import ModelSettings
from platform_common.deployment_policy import PROVISIONING_ALLOWANCE_SECONDS, DeploymentPolicyError
from platform_common.evidence import EvidenceStore
from tests.handlers.conftest import ACCOUNT, BUS_NAME, REGION, example_settings, load_event, put_catalog
from tests.handlers.fakes import FakeMlflow
from tests.handlers.provenance import Execution, Pipelines

GROUP = "churn-1a2b3c"
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/3"
ENDPOINT = "mlops-dev-churn"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-model-execution"
NOW = datetime.datetime(2026, 3, 2, 9, 20, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch) -> FakeMlflow:
    fake = FakeMlflow()
    monkeypatch.setattr(handler, "mlflow_registry", lambda: fake)
    return fake


@pytest.fixture
def published(aws: None) -> Callable[[], list[dict[str, Any]]]:
    """The platform bus, with every platform event copied to a queue; returns a reader."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS_NAME)
    queue_url = sqs.create_queue(QueueName="published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=BUS_NAME, EventPattern=json.dumps({"source": [domain_events.SOURCE]}))
    events.put_targets(Rule="all", EventBusName=BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(seen)
            for message in messages:
                body = json.loads(message["Body"])
                seen.append({"detail-type": body["detail-type"], **body["detail"]})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read


@pytest.fixture
def sagemaker(aws: None, handler_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION)


def approve_packages(
    sagemaker: Any, *, inference_specification: bool = True, count: int = 3, verified: bool = True
) -> str:
    """A group of `count` approved packages, each from its own pipeline execution; returns the ARN of the last one.

    `verified` packages carry the execution the gate verified, as the gate records it on approval.
    """
    pipelines = Pipelines()
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = ""
    for version in range(1, count + 1):
        execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id=f"run{version:04d}")
        extra: dict[str, Any] = {}
        if inference_specification:
            extra["InferenceSpecification"] = execution.inference_specification()
        if verified:
            extra["CustomerMetadataProperties"] = execution.claim()
        arn = sagemaker.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved", **extra)[
            "ModelPackageArn"
        ]
    return str(arn)


def unused_evidence_store() -> EvidenceStore:
    """For paths that end before anything is verified: any call fails the test."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    Stubber(sagemaker).activate()
    Stubber(s3).activate()
    return EvidenceStore("unused", s3, sagemaker)


def invoke(event: Any, lambda_context: Any) -> dict[str, Any]:
    return dict(handler.lambda_handler(event, lambda_context))


class TestBuildDeploymentConfig:
    """UpdateEndpoint's DeploymentConfig per catalog entry (rules in platform_common.deployment_policy)."""

    def test_canary_on_four_instances_bakes_one_instance_then_shifts_the_rest(self) -> None:
        # Given a 10 % canary on four instances, baking 600 s and keeping the old fleet 300 s
        settings = example_settings(deployment_strategy="canary", canary_percent=10, instance_count=4)

        # When the deployment config is built, then the canary is one instance (at most half of four)
        assert requests.build_deployment_config(settings) == {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 600,
                },
                "TerminationWaitInSeconds": 300,
                "MaximumExecutionTimeoutInSeconds": 600 + 300 + PROVISIONING_ALLOWANCE_SECONDS,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "mlops-dev-churn-5xx-errors"}, {"AlarmName": "mlops-dev-churn-model-latency"}]
            },
        }

    @pytest.mark.parametrize(("count", "percent", "size"), [(2, 10, 1), (4, 50, 2), (20, 10, 2), (100, 50, 50)])
    def test_the_canary_is_whole_instances_and_at_most_half_of_them(self, count: int, percent: int, size: int) -> None:
        settings = example_settings(deployment_strategy="canary", canary_percent=percent, instance_count=count)

        routing = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]  # type: ignore[index]

        assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": size}

    @pytest.mark.parametrize("strategy", ["canary", "linear"])
    def test_one_instance_shifts_all_at_once_and_says_why(self, strategy: str) -> None:
        # Given the default single instance, where no canary or linear step can be at most half of it
        settings = example_settings(deployment_strategy=strategy, instance_count=1)

        # When planned, then all traffic shifts at once, still baking, and the plan records why
        plan = requests.deployment_plan(settings)
        assert (plan.strategy, plan.requested) == ("all-at-once", strategy)
        assert plan.note is not None and "at least 2 instances" in plan.note
        routing = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]  # type: ignore[index]
        assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600}

    def test_linear_bakes_after_every_step(self) -> None:
        # Given linear steps of 25 % of eight instances, i.e. four steps of 600 s each
        settings = example_settings(deployment_strategy="linear", linear_step_percent=25, instance_count=8)

        # When the deployment config is built
        policy = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]  # type: ignore[index]

        # Then it shifts two instances a step and allows for all four bakes
        assert policy["TrafficRoutingConfiguration"] == {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 2},
            "WaitIntervalInSeconds": 600,
        }
        assert policy["MaximumExecutionTimeoutInSeconds"] == 4 * 600 + 300 + PROVISIONING_ALLOWANCE_SECONDS

    @pytest.mark.parametrize(
        ("count", "percent", "size"), [(2, 10, 1), (3, 10, 1), (10, 10, 1), (20, 10, 2), (4, 50, 2)]
    )
    def test_linear_steps_are_ten_to_fifty_percent_of_the_instances(self, count: int, percent: int, size: int) -> None:
        settings = example_settings(deployment_strategy="linear", linear_step_percent=percent, instance_count=count)

        routing = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]  # type: ignore[index]

        assert routing["LinearStepSize"] == {"Type": "INSTANCE_COUNT", "Value": size}
        assert count * 0.1 <= size <= count * 0.5

    def test_all_at_once_has_no_capacity_steps(self) -> None:
        settings = example_settings(deployment_strategy="all-at-once", wait_seconds=120, termination_wait_seconds=0)

        policy = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]  # type: ignore[index]

        assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 120}
        assert policy["TerminationWaitInSeconds"] == 0
        assert policy["MaximumExecutionTimeoutInSeconds"] == 120 + PROVISIONING_ALLOWANCE_SECONDS

    def test_a_serverless_endpoint_gets_no_deployment_config(self) -> None:
        # Given a serverless model whose catalog entry still says canary
        settings = example_settings(serverless_memory_mb=2048, serverless_max_concurrency=5)

        # When built, then there is none to send
        assert requests.build_deployment_config(settings) is None

    def test_no_alarms_means_no_auto_rollback_section(self) -> None:
        config = requests.build_deployment_config(example_settings(rollback_alarm_names=()))

        assert config is not None
        assert "AutoRollbackConfiguration" not in config

    def test_the_timeout_exceeds_the_waits_at_their_maximum(self) -> None:
        # Given canary waits of an hour each
        settings = example_settings(instance_count=2, wait_seconds=3600, termination_wait_seconds=3600)

        policy = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]  # type: ignore[index]

        assert policy["MaximumExecutionTimeoutInSeconds"] == 3600 + 3600 + PROVISIONING_ALLOWANCE_SECONDS

    def test_waits_that_cannot_fit_the_timeout_are_refused_naming_the_settings(self) -> None:
        # Given ten linear bakes of an hour: more than SageMaker's 28800 s timeout
        settings = example_settings(
            deployment_strategy="linear", linear_step_percent=10, instance_count=20, wait_seconds=3600
        )

        # When planned, then the error names every setting that adds to the waits
        with pytest.raises(DeploymentPolicyError) as error:
            requests.deployment_plan(settings)
        assert error.value.keys == (
            "deployment.strategy",
            "deployment.linear_step_percent",
            "endpoint.instance_count",
            "deployment.wait_minutes",
            "deployment.termination_wait_minutes",
        )
        assert "28800" in str(error.value)


class TestResourceNames:
    def test_a_short_endpoint_name_gets_the_version_appended(self) -> None:
        assert requests.version_resource_name(ENDPOINT, 3) == "mlops-dev-churn-v3"
        assert requests.version_from_config_name(ENDPOINT, "mlops-dev-churn-v3") == 3

    def test_a_long_endpoint_name_is_shortened_to_63_characters_and_still_read_back(self) -> None:
        # Given an endpoint name of the maximum length
        endpoint = "e" * 30 + "-" + "f" * 32

        # When a version-named resource is derived
        name = requests.version_resource_name(endpoint, 12345)

        # Then it fits SageMaker's name rules and maps back to the version
        assert len(name) <= 63
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
        assert requests.version_from_config_name(endpoint, name) == 12345

    @pytest.mark.parametrize("config_name", ["mlops-dev-churn-config", "other-endpoint-v3", "mlops-dev-churn-v0", None])
    def test_configs_the_deployer_did_not_name_have_no_version(self, config_name: str | None) -> None:
        assert requests.version_from_config_name(ENDPOINT, config_name) is None


def test_a_first_approval_creates_model_config_and_endpoint(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given an approved package v3 and no endpoint yet
    arn = approve_packages(sagemaker)
    put_catalog(example_settings())

    # When the deployer sees the approval
    outcome = invoke(load_event("model_package_approved"), lambda_context)

    # Then a model wraps the package, with the execution role and version tags
    model = sagemaker.describe_model(ModelName="mlops-dev-churn-v3")
    assert model["Containers"] == [{"ModelPackageName": arn}]
    assert model["ExecutionRoleArn"] == ROLE_ARN
    # And a version-named config holds the catalog's instance variant
    config = sagemaker.describe_endpoint_config(EndpointConfigName="mlops-dev-churn-v3")
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": "mlops-dev-churn-v3",
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 1.0,
        }
    ]
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=config["EndpointConfigArn"])["Tags"]}
    assert tags == {"mlops:model": "churn", "mlops:model-version": "3", "mlops:model-package-arn": arn}
    # And the endpoint runs that config
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == "mlops-dev-churn-v3"
    # And DeploymentStarted says so
    (started,) = published()
    assert started["detail-type"] == domain_events.DEPLOYMENT_STARTED
    assert started["action"] == "create"
    assert started["version"] == 3
    assert started["endpointConfigName"] == "mlops-dev-churn-v3"
    assert outcome["action"] == "created"


def test_a_serverless_model_gets_a_serverless_variant(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given a model served serverless
    approve_packages(sagemaker)
    put_catalog(example_settings(serverless_memory_mb=3072, serverless_max_concurrency=8))

    # When the approval arrives
    invoke(load_event("model_package_approved"), lambda_context)

    # Then the variant has a serverless config and no instances
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName="mlops-dev-churn-v3")["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": "mlops-dev-churn-v3",
        "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 8},
    }


def test_a_redelivered_approval_does_not_deploy_again(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given an approval already deployed
    approve_packages(sagemaker)
    put_catalog(example_settings())
    invoke(load_event("model_package_approved"), lambda_context)

    # When the same approval is delivered again
    outcome = invoke(load_event("model_package_approved"), lambda_context)

    # Then nothing new is created and DeploymentSkipped explains why
    assert outcome["action"] == "skipped"
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["mlops-dev-churn-v3"]
    assert [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]] == [
        "mlops-dev-churn-v3"
    ]
    started, skipped = published()
    assert started["detail-type"] == domain_events.DEPLOYMENT_STARTED
    assert skipped["detail-type"] == domain_events.DEPLOYMENT_SKIPPED
    assert "serves mlops-dev-churn-v3" in skipped["reason"]


def test_a_package_without_inference_specification_is_not_deployed(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given an approved package that has no inference container
    approve_packages(sagemaker, inference_specification=False)
    put_catalog(example_settings())

    # When the approval arrives
    outcome = invoke(load_event("model_package_approved"), lambda_context)

    # Then nothing is created and DeploymentFailed gives the reason
    assert sagemaker.list_models()["Models"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_endpoints()["Endpoints"] == []
    (failed,) = published()
    assert failed["detail-type"] == domain_events.DEPLOYMENT_FAILED
    assert f"model package {PACKAGE_ARN} has no InferenceSpecification" in failed["reason"]
    assert "sagemaker_mlflow.log_inference_specification before registering" in failed["reason"]
    assert outcome["action"] == "failed"


def test_the_minimal_event_deploys_from_what_the_package_says(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given an approval event without version or inference specification
    approve_packages(sagemaker)
    put_catalog(example_settings())
    event = load_event("model_package_minimal")
    event["detail"]["ModelApprovalStatus"] = "Approved"

    # When the deployer sees it
    outcome = invoke(event, lambda_context)

    # Then the version comes from the ARN and the container from the package
    assert outcome["version"] == 3
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == "mlops-dev-churn-v3"


def test_an_approval_withdrawn_before_delivery_is_skipped(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given a package approved and then rejected again
    arn = approve_packages(sagemaker)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    put_catalog(example_settings())

    # When the stale approval arrives
    outcome = invoke(load_event("model_package_approved"), lambda_context)

    # Then nothing is deployed
    assert outcome["action"] == "skipped"
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert [e["detail-type"] for e in published()] == [domain_events.DEPLOYMENT_SKIPPED]


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_packages_that_are_not_approved_are_ignored(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any, status: str
) -> None:
    approve_packages(sagemaker)
    put_catalog(example_settings())
    event = load_event("model_package_approved")
    event["detail"]["ModelApprovalStatus"] = status

    outcome = invoke(event, lambda_context)

    assert outcome["action"] == "ignored"
    assert sagemaker.list_models()["Models"] == []
    assert published() == []


def test_an_approval_for_an_unknown_group_is_rejected(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given a catalog that does not know the group
    approve_packages(sagemaker)
    put_catalog(example_settings(name="fraud"))

    # When the approval arrives, then only EventRejected is published
    outcome = invoke(load_event("model_package_approved"), lambda_context)

    assert outcome["action"] == "event_rejected"
    assert sagemaker.list_models()["Models"] == []
    assert [e["detail-type"] for e in published()] == [domain_events.EVENT_REJECTED]


def _package_description(status: str = "Approved", execution: Execution | None = None) -> dict[str, Any]:
    """DescribeModelPackage of package 3, produced by `execution` (any execution when the path never verifies)."""
    specification = (
        execution.inference_specification()
        if execution
        else {"Containers": [{"Image": "image", "ModelDataUrl": "s3://bucket/key"}]}
    )
    return {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": 3,
        "ModelPackageArn": PACKAGE_ARN,
        "CreationTime": NOW,
        "InferenceSpecification": specification,
        "CustomerMetadataProperties": execution.claim() if execution else {},
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []},
        "ModelApprovalStatus": status,
    }


def _endpoint_description(status: str, config: str, pending: str | None = None) -> dict[str, Any]:
    description: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    if pending:
        description["PendingDeploymentSummary"] = {"EndpointConfigName": pending}
    return description


def _not_found(stubber: Stubber, method: str, what: str) -> None:
    stubber.add_client_error(
        method,
        service_error_code="ValidationException",
        service_message=f"Could not find {what}.",
        http_status_code=400,
    )


def _approved_detail() -> ModelPackageDetail:
    return ModelPackageDetail.model_validate(load_event("model_package_approved")["detail"])


ALARMS = {"Alarms": [{"AlarmName": "mlops-dev-churn-5xx-errors"}, {"AlarmName": "mlops-dev-churn-model-latency"}]}
FOUR_INSTANCES = {
    "VariantName": "AllTraffic",
    "ModelName": "mlops-dev-churn-v3",
    "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 4,
    "InitialVariantWeight": 1.0,
}


@pytest.mark.parametrize(
    ("settings", "expected_variant", "expected_deployment_config"),
    [
        pytest.param(
            example_settings(deployment_strategy="canary", canary_percent=10, instance_count=4),
            FOUR_INSTANCES,
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                        "WaitIntervalInSeconds": 600,
                    },
                    "TerminationWaitInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 2700,
                },
                "AutoRollbackConfiguration": ALARMS,
            },
            id="canary",
        ),
        pytest.param(
            example_settings(deployment_strategy="linear", linear_step_percent=25, instance_count=4),
            FOUR_INSTANCES,
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "LINEAR",
                        "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                        "WaitIntervalInSeconds": 600,
                    },
                    "TerminationWaitInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 4500,
                },
                "AutoRollbackConfiguration": ALARMS,
            },
            id="linear",
        ),
        pytest.param(
            example_settings(
                deployment_strategy="all-at-once", serverless_memory_mb=2048, serverless_max_concurrency=5
            ),
            {
                "VariantName": "AllTraffic",
                "ModelName": "mlops-dev-churn-v3",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            },
            None,
            id="serverless-without-deployment-config",
        ),
    ],
)
def test_an_existing_endpoint_is_updated_blue_green_with_the_catalog_strategy(
    aws: None,
    settings: ModelSettings,
    expected_variant: dict[str, Any],
    expected_deployment_config: dict[str, Any] | None,
) -> None:
    # Given an endpoint in service on v2 (moto has no UpdateEndpoint, so every call is stubbed), and v3's
    # pipeline execution with its evidence (in moto)
    pipelines = Pipelines()
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "describe_model_package", _package_description(execution=execution), {"ModelPackageName": PACKAGE_ARN}
    )
    stubber.add_response(
        "describe_endpoint", _endpoint_description("InService", "mlops-dev-churn-v2"), {"EndpointName": ENDPOINT}
    )
    _not_found(stubber, "describe_model", "model")
    tags = [
        {"Key": "mlops:model", "Value": "churn"},
        {"Key": "mlops:model-version", "Value": "3"},
        {"Key": "mlops:model-package-arn", "Value": PACKAGE_ARN},
    ]
    stubber.add_response(
        "create_model",
        {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/mlops-dev-churn-v3"},
        {
            "ModelName": "mlops-dev-churn-v3",
            "ExecutionRoleArn": ROLE_ARN,
            "Containers": [{"ModelPackageName": PACKAGE_ARN}],
            "Tags": tags,
        },
    )
    _not_found(stubber, "describe_endpoint_config", "endpoint configuration")
    stubber.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/mlops-dev-churn-v3"},
        {"EndpointConfigName": "mlops-dev-churn-v3", "ProductionVariants": [expected_variant], "Tags": tags},
    )
    update: dict[str, Any] = {
        "EndpointName": ENDPOINT,
        "EndpointConfigName": "mlops-dev-churn-v3",
        "RetainAllVariantProperties": False,
    }
    if expected_deployment_config is not None:
        update["DeploymentConfig"] = expected_deployment_config
    stubber.add_response(
        "update_endpoint", {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"}, update
    )
    events: list[domain_events.DomainEvent] = []

    # When v3 is deployed
    with stubber:
        outcome = logic.deploy_approved(
            _approved_detail(),
            settings,
            sagemaker=client,
            evidence=pipelines.store(),
            publish=events.append,
            execution_role_arn=ROLE_ARN,
        )

    # Then exactly those requests were made, and DeploymentStarted names the update
    stubber.assert_no_pending_responses()
    assert outcome.action == "updated"
    (started,) = events
    assert started.detail_type == domain_events.DEPLOYMENT_STARTED
    assert started.data["action"] == "update"
    assert started.data["previousEndpointConfigName"] == "mlops-dev-churn-v2"
    assert started.data["strategy"] == settings.deployment_strategy


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(_endpoint_description("InService", "mlops-dev-churn-v3"), id="already-serving"),
        pytest.param(
            _endpoint_description("Updating", "mlops-dev-churn-v2", pending="mlops-dev-churn-v3"), id="updating-to-it"
        ),
    ],
)
def test_a_redelivered_approval_does_not_update_again(aws: None, endpoint: dict[str, Any]) -> None:
    # Given an endpoint already on (or moving to) v3; no create or update is stubbed
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("describe_model_package", _package_description(), {"ModelPackageName": PACKAGE_ARN})
    stubber.add_response("describe_endpoint", endpoint, {"EndpointName": ENDPOINT})
    events: list[domain_events.DomainEvent] = []

    # When the approval arrives again
    with stubber:
        outcome = logic.deploy_approved(
            _approved_detail(),
            example_settings(),
            sagemaker=client,
            evidence=unused_evidence_store(),
            publish=events.append,
            execution_role_arn=ROLE_ARN,
        )

    # Then the deployer only looked, and says why it did nothing
    stubber.assert_no_pending_responses()
    assert outcome.action == "skipped"
    assert [e.detail_type for e in events] == [domain_events.DEPLOYMENT_SKIPPED]


def test_a_busy_endpoint_raises_so_the_approval_is_retried(aws: None) -> None:
    # Given an endpoint in the middle of another update
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("describe_model_package", _package_description(), {"ModelPackageName": PACKAGE_ARN})
    stubber.add_response(
        "describe_endpoint",
        _endpoint_description("Updating", "mlops-dev-churn-v1", pending="mlops-dev-churn-v2"),
        {"EndpointName": ENDPOINT},
    )
    events: list[domain_events.DomainEvent] = []

    # When v3 is approved, then the deployer raises before creating anything
    with stubber, pytest.raises(logic.EndpointBusyError, match="is Updating"):
        logic.deploy_approved(
            _approved_detail(),
            example_settings(),
            sagemaker=client,
            evidence=unused_evidence_store(),
            publish=events.append,
            execution_role_arn=ROLE_ARN,
        )
    stubber.assert_no_pending_responses()
    assert events == []


def test_a_failed_endpoint_is_reported_not_updated(aws: None) -> None:
    # Given an endpoint that failed (SageMaker only lets it be deleted)
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("describe_model_package", _package_description(), {"ModelPackageName": PACKAGE_ARN})
    failed = {**_endpoint_description("Failed", "mlops-dev-churn-v2"), "FailureReason": "capacity error"}
    stubber.add_response("describe_endpoint", failed, {"EndpointName": ENDPOINT})
    events: list[domain_events.DomainEvent] = []

    # When v3 is approved
    with stubber:
        outcome = logic.deploy_approved(
            _approved_detail(),
            example_settings(),
            sagemaker=client,
            evidence=unused_evidence_store(),
            publish=events.append,
            execution_role_arn=ROLE_ARN,
        )

    # Then nothing is created and DeploymentFailed carries the endpoint's reason
    stubber.assert_no_pending_responses()
    assert outcome.action == "failed"
    (event,) = events
    assert event.detail_type == domain_events.DEPLOYMENT_FAILED
    assert "capacity error" in event.reason


def serve_version(sagemaker: Any, version: int, package: str = PACKAGE_ARN) -> str:
    """A model, config and endpoint (moto) serving `package` under the deployer's names; returns the config name."""
    name = f"mlops-dev-churn-v{version}"
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, Containers=[{"ModelPackageName": package}])
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)
    return name


def test_in_service_on_a_new_version_makes_it_champion_and_retires_the_old_one(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given MLflow version 2 is the champion and the endpoint now serves package 3 (MLflow version 3)
    put_catalog(example_settings())
    mlflow.add_version("churn", 2, {"accuracy": 0.93})
    mlflow.add_version("churn", 3, {"accuracy": 0.95})
    mlflow.aliases[("churn", "champion")] = "2"
    serve_version(sagemaker, 3)

    # When the endpoint reports it is in service
    outcome = invoke(load_event("endpoint_in_service"), lambda_context)

    # Then the champion alias points at version 3, version 2 is retired, and both facts are published
    assert mlflow.aliases[("churn", "champion")] == "3"
    assert mlflow.tags("churn", 2) == {"lifecycle": "retired"}
    assert mlflow.tags("churn", 3) == {"previous_champion": "2", "lifecycle": "champion"}
    succeeded, retired = published()
    assert succeeded["detail-type"] == domain_events.DEPLOYMENT_SUCCEEDED
    assert succeeded["version"] == 3
    assert succeeded["mlflowVersion"] == "3"
    assert succeeded["modelPackageArn"] == PACKAGE_ARN
    assert succeeded["previousChampion"] == "2"
    assert retired["detail-type"] == domain_events.MODEL_RETIRED
    assert retired["mlflowVersion"] == "2"
    assert retired["replacedByMlflowVersion"] == "3"
    assert "version" not in retired
    assert outcome["published"] == [domain_events.DEPLOYMENT_SUCCEEDED, domain_events.MODEL_RETIRED]


def test_the_mlflow_version_is_found_by_its_package_tag_not_by_number(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given package 3 was registered from MLflow version 5 (two versions never synchronised),
    # and MLflow version 3 belongs to another package
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, package=None)
    mlflow.add_version("churn", 5, package=PACKAGE_ARN)
    serve_version(sagemaker, 3)

    # When the endpoint is in service on package 3
    invoke(load_event("endpoint_in_service"), lambda_context)

    # Then MLflow version 5 becomes the champion and version 3 is untouched
    assert mlflow.aliases[("churn", "champion")] == "5"
    assert mlflow.tags("churn", 5) == {"lifecycle": "champion"}
    assert mlflow.tags("churn", 3) == {}
    assert mlflow.searches == ["name='churn'"]
    (succeeded,) = published()
    assert (succeeded["version"], succeeded["mlflowVersion"]) == (3, "5")


def test_a_served_package_no_mlflow_version_carries_is_rejected_without_moving_the_alias(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given MLflow version 3 exists but no version carries package 3's ARN
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, package=None)
    serve_version(sagemaker, 3)

    # When the endpoint is in service on package 3
    outcome = invoke(load_event("endpoint_in_service"), lambda_context)

    # Then nothing moves in MLflow and the rejection says which tag was looked for
    assert mlflow.writes == []
    (rejected,) = published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert f"sagemaker.model_package_arn={PACKAGE_ARN}" in rejected["reason"]
    assert "champion alias was not moved" in rejected["reason"]
    assert outcome["action"] == "event_rejected"


def test_the_first_version_in_service_becomes_champion_with_nothing_to_retire(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, {"accuracy": 0.95})
    serve_version(sagemaker, 3)

    invoke(load_event("endpoint_in_service"), lambda_context)

    assert mlflow.aliases[("churn", "champion")] == "3"
    assert [e["detail-type"] for e in published()] == [domain_events.DEPLOYMENT_SUCCEEDED]


def test_repeated_in_service_events_promote_only_once(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given version 3 already promoted
    put_catalog(example_settings())
    mlflow.add_version("churn", 2)
    mlflow.add_version("churn", 3)
    mlflow.aliases[("churn", "champion")] = "2"
    serve_version(sagemaker, 3)
    invoke(load_event("endpoint_in_service"), lambda_context)
    writes_after_first = list(mlflow.writes)

    # When SageMaker sends the same state again
    outcome = invoke(load_event("endpoint_in_service"), lambda_context)

    # Then nothing changes and nothing more is published
    assert outcome["action"] == "ignored"
    assert mlflow.writes == writes_after_first
    assert len(published()) == 2


def test_a_promotion_interrupted_after_the_alias_moved_still_retires_the_old_champion(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given an earlier attempt that recorded version 2 and moved the alias, then failed
    put_catalog(example_settings())
    mlflow.add_version("churn", 2)
    mlflow.add_version("churn", 3)
    mlflow.versions[("churn", "3")]["tags"]["previous_champion"] = "2"
    mlflow.aliases[("churn", "champion")] = "3"
    serve_version(sagemaker, 3)

    # When the event is retried
    invoke(load_event("endpoint_in_service"), lambda_context)

    # Then the promotion completes as if it had not been interrupted
    assert mlflow.tags("churn", 2) == {"lifecycle": "retired"}
    assert mlflow.tags("churn", 3)["lifecycle"] == "champion"
    assert [e["detail-type"] for e in published()] == [domain_events.DEPLOYMENT_SUCCEEDED, domain_events.MODEL_RETIRED]


def _state_detail(status: str = "IN_SERVICE", config: str | None = "mlops-dev-churn-v3") -> EndpointStateDetail:
    detail = {**load_event("endpoint_in_service")["detail"], "EndpointStatus": status}
    if config is None:
        detail.pop("EndpointConfigName")
    else:
        detail["EndpointConfigName"] = config
    return EndpointStateDetail.model_validate(detail)


def _read_back(
    stubber_setup: Callable[[Stubber], None], detail: EndpointStateDetail, mlflow: FakeMlflow
) -> tuple[logic.Outcome, list[domain_events.DomainEvent]]:
    client = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(client)
    stubber_setup(stubber)
    events: list[domain_events.DomainEvent] = []
    with stubber:
        outcome = logic.on_endpoint_state(
            detail, example_settings(), sagemaker=client, mlflow=mlflow, publish=events.append
        )
    stubber.assert_no_pending_responses()
    return outcome, events


def test_a_failed_endpoint_publishes_deployment_failed_with_the_reason_describe_endpoint_gives(aws: None) -> None:
    # Given an endpoint whose creation failed; the documented event carries no reason
    mlflow = FakeMlflow()
    mlflow.add_version("churn", 2)
    mlflow.aliases[("churn", "champion")] = "2"
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    described = {**_endpoint_description("Failed", "mlops-dev-churn-v3"), "FailureReason": reason}

    # When the FAILED state arrives, then DescribeEndpoint is asked for the outcome
    outcome, events = _read_back(
        lambda stub: stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT}),
        _state_detail("FAILED"),
        mlflow,
    )

    # And DeploymentFailed carries SageMaker's reason while the champion stays
    (failed,) = events
    assert failed.detail_type == domain_events.DEPLOYMENT_FAILED
    assert reason in failed.reason
    assert failed.data["version"] == 3
    assert failed.data["endpointStatus"] == "Failed"
    assert mlflow.writes == []
    assert outcome.action == "failed"


def test_a_rolled_back_update_is_read_from_describe_endpoint_and_publishes_deployment_failed(aws: None) -> None:
    # Given an update to version 3 that an alarm rolled back: in service again on version 2,
    # DescribeEndpoint giving the reason and the last deployment's canary policy
    mlflow = FakeMlflow()
    mlflow.add_version("churn", 2)
    mlflow.aliases[("churn", "champion")] = "2"
    described = {
        **_endpoint_description("InService", "mlops-dev-churn-v2"),
        "FailureReason": "Alarm mlops-dev-churn-5xx-errors went into ALARM during the deployment.",
        "LastDeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 600,
                }
            }
        },
    }

    # When the IN_SERVICE state arrives (the event itself says nothing about the failure)
    outcome, events = _read_back(
        lambda stub: stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT}),
        _state_detail("IN_SERVICE", "mlops-dev-churn-v2"),
        mlflow,
    )

    # Then the rollback is reported with what still serves, and MLflow is untouched
    (failed,) = events
    assert failed.detail_type == domain_events.DEPLOYMENT_FAILED
    assert "rolled back" in failed.reason
    assert "mlops-dev-churn-5xx-errors" in failed.reason
    assert failed.data["endpointConfigName"] == "mlops-dev-churn-v2"
    assert failed.data["lastDeploymentTrafficRouting"] == "CANARY"
    assert mlflow.writes == []
    assert outcome.action == "failed"


def test_an_in_service_event_overtaken_by_a_newer_update_is_ignored(aws: None) -> None:
    # Given an IN_SERVICE event delivered after the next update started
    mlflow = FakeMlflow()
    described = _endpoint_description("Updating", "mlops-dev-churn-v3", pending="mlops-dev-churn-v4")

    # When it arrives, then what DescribeEndpoint says wins: nothing is promoted or published
    outcome, events = _read_back(
        lambda stub: stub.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT}),
        _state_detail("IN_SERVICE"),
        mlflow,
    )
    assert outcome.action == "ignored"
    assert events == []
    assert mlflow.writes == []


@pytest.mark.parametrize("status", ["UPDATING", "CREATING", "ROLLING_BACK", "SYSTEM_UPDATING"])
def test_intermediate_endpoint_states_are_ignored_without_a_call(aws: None, status: str) -> None:
    # Given no stubbed response at all, when an intermediate state arrives, then nothing is asked or done
    mlflow = FakeMlflow()
    outcome, events = _read_back(lambda stub: None, _state_detail(status), mlflow)
    assert outcome.action == "ignored"
    assert events == []
    assert mlflow.writes == []


def test_the_documented_event_without_a_config_name_is_read_back_too(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given the minimal documented endpoint event (no config name, no variants, no tags)
    put_catalog(example_settings())
    mlflow.add_version("churn", 3)
    serve_version(sagemaker, 3)

    # When it arrives, then the served version comes from DescribeEndpoint and is promoted
    outcome = invoke(load_event("endpoint_in_service_minimal"), lambda_context)
    assert outcome["action"] == "promoted"
    assert mlflow.aliases[("churn", "champion")] == "3"


def test_an_endpoint_config_the_deployer_did_not_create_moves_no_alias(
    sagemaker: Any, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given an endpoint someone pointed at a hand-made config
    put_catalog(example_settings())
    sagemaker.create_model(
        ModelName="hand-made", ExecutionRoleArn=ROLE_ARN, Containers=[{"ModelPackageName": PACKAGE_ARN}]
    )
    sagemaker.create_endpoint_config(
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
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made-config")

    outcome = invoke(load_event("endpoint_in_service"), lambda_context)

    assert outcome["action"] == "ignored"
    assert mlflow.writes == []
    assert published() == []


def test_an_unknown_endpoint_is_rejected(
    aws: None, handler_env: None, mlflow: FakeMlflow, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    put_catalog(example_settings())
    event = load_event("endpoint_in_service")
    event["detail"]["EndpointName"] = "someone-elses-endpoint"

    outcome = invoke(event, lambda_context)

    assert outcome["action"] == "event_rejected"
    assert mlflow.writes == []
    (rejected,) = published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert rejected["endpointName"] == "someone-elses-endpoint"


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda e: e["detail"].pop("EndpointName"), id="no-endpoint-name"),
        pytest.param(lambda e: e["detail"].update(EndpointStatus="SLEEPING"), id="unknown-status"),
        pytest.param(lambda e: e.update({"detail-type": "SageMaker Training Job State Change"}), id="foreign-type"),
    ],
)
def test_malformed_endpoint_events_are_rejected_without_side_effects(
    aws: None,
    handler_env: None,
    mlflow: FakeMlflow,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    spoil: Callable[[dict[str, Any]], Any],
) -> None:
    put_catalog(example_settings())
    mlflow.add_version("churn", 3)
    event = load_event("endpoint_in_service")
    spoil(event)

    outcome = invoke(event, lambda_context)

    assert outcome["action"] == "event_rejected"
    assert mlflow.writes == []
    assert [e["detail-type"] for e in published()] == [domain_events.EVENT_REJECTED]


# Provenance: only the artifact version the model's pipeline evaluated is served


def deploy_package_made_by(sagemaker: Any, lambda_context: Any, **package: Any) -> dict[str, Any]:
    """Approve package 3 (two earlier packages before it) as given, and hand the approval to the deployer."""
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    for _ in range(2):
        sagemaker.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Rejected")
    sagemaker.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved", **package)
    put_catalog(example_settings())
    return invoke(load_event("model_package_approved"), lambda_context)


def assert_nothing_created(sagemaker: Any) -> None:
    assert sagemaker.list_models()["Models"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_endpoints()["Endpoints"] == []


def test_an_approved_package_the_gate_never_verified_is_not_deployed(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given a data scientist's package approved by hand: it names no verified execution
    pipelines = Pipelines()
    experiment = pipelines.execute("churn", metrics={"accuracy": 0.99}, run_id="experiment42", evidence=False)

    # When the approval reaches the deployer
    outcome = deploy_package_made_by(
        sagemaker, lambda_context, InferenceSpecification=experiment.inference_specification()
    )

    # Then nothing is created and the reason says what is missing
    assert_nothing_created(sagemaker)
    (failed,) = published()
    assert failed["detail-type"] == domain_events.DEPLOYMENT_FAILED
    assert failed["provenance"] == "no-claim"
    assert failed["reason"].startswith(f"version 3 is not deployed: model package {PACKAGE_ARN} carries no ")
    assert outcome["action"] == "failed"


def test_an_artifact_overwritten_after_evaluation_is_not_deployed(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given the pipeline's verified package, whose artifact was then replaced in S3
    pipelines = Pipelines()
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    replaced = pipelines.overwrite_artifact(execution)

    # When the approval reaches the deployer
    deploy_package_made_by(
        sagemaker,
        lambda_context,
        InferenceSpecification=execution.inference_specification(),
        CustomerMetadataProperties=execution.claim(),
    )

    # Then nothing is created, and both versions are named
    assert_nothing_created(sagemaker)
    (failed,) = published()
    assert failed["provenance"] == "artifact-changed"
    assert f"is now version {replaced}" in failed["reason"]
    assert f"evaluated version {execution.artifact_version_id}" in failed["reason"]


def test_a_package_serving_another_artifact_than_its_execution_evaluated_is_not_deployed(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given a package that names a real execution but serves another artifact
    pipelines = Pipelines()
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    other = pipelines.execute("churn", metrics={"accuracy": 0.70}, run_id="run0004")

    # When the approval reaches the deployer
    deploy_package_made_by(
        sagemaker,
        lambda_context,
        InferenceSpecification=other.inference_specification(),
        CustomerMetadataProperties=execution.claim(),
    )

    # Then nothing is created
    assert_nothing_created(sagemaker)
    (failed,) = published()
    assert failed["provenance"] == "evidence-mismatch"
    assert f"serves {other.artifact_uri}, but the pipeline evaluated {execution.artifact_uri}" in failed["reason"]


def test_the_pipelines_verified_package_is_deployed_from_the_evaluated_artifact(
    sagemaker: Any, published: Callable[[], list[dict[str, Any]]], lambda_context: Any
) -> None:
    # Given the pipeline's package, approved by the gate with the verified execution recorded
    pipelines = Pipelines()
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")

    # When the approval reaches the deployer
    outcome = deploy_package_made_by(
        sagemaker,
        lambda_context,
        InferenceSpecification=execution.inference_specification(),
        CustomerMetadataProperties=execution.claim(),
    )

    # Then the model wraps that package
    assert outcome["action"] == "created"
    model = sagemaker.describe_model(ModelName="mlops-dev-churn-v3")
    assert model["Containers"] == [{"ModelPackageName": PACKAGE_ARN}]
    package = sagemaker.describe_model_package(ModelPackageName=PACKAGE_ARN)
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == execution.artifact_uri
