"""Every request the handlers send is one AWS accepts: the service model, and the rules it cannot express.

Each request is built by the handlers' own core functions (recorded by a stand-in client),
then checked two ways:

* against botocore's copy of the service model (`tests/contracts/service_model.py`: botocore's
  `ParamValidator` for required members, types and minimums, plus every `max`, `pattern` and
  `enum` the model carries, which botocore leaves to AWS);
* against documented cross-field rules that a service model cannot express:

  - SageMaker API Reference, "TrafficRoutingConfig"
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html):
    `CanarySize` "must be less than or equal to 50% of the variant's total instance count",
    `LinearStepSize` "must be 10-50% of the variant's total instance count". A batch of
    traffic is carried by whole instances ("CapacitySize", `INSTANCE_COUNT` at least 1), so a
    size that comes to less than one instance of the variant is no valid batch either.
  - "BlueGreenUpdatePolicy"
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html):
    "the timeout value should be larger than the total waiting time specified in
    TerminationWaitInSeconds and WaitIntervalInSeconds"; linear bakes once per step
    (Developer Guide, "Use linear traffic shifting",
    https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-linear.html).
  - Serverless endpoints get no deployment configuration: canary and linear sizes count
    instances a serverless variant does not have, and the deployment guardrails pages
    (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html) describe
    instance fleets only.
  - EventBridge User Guide, "Calculating PutEvents event entry size"
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html): Source,
    DetailType and Detail counted in UTF-8 bytes, "The total entry size must be less than 256KB".
  - "UpdateModelPackage"
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html):
    CustomerMetadataProperties at most 50 entries (carried by the model, checked here).
  - "AppSpecification"
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html):
    each string of a Processing job's ContainerEntrypoint and ContainerArguments "Maximum length
    of 256", at most 100 of each (carried by the model, checked here at the longest names).

The gate and the deployer verify a package's evidence before they act (DescribePipelineExecution,
GetObject, HeadObject); those requests are recorded and checked the same way.

Settings are taken to the extremes configuration validation allows: canary on 1, 2 and 4
instances, linear steps of 10 and 50 percent with the waits at their maximum, serverless.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from monitoring_launcher import logic as launcher
from monitoring_launcher.requests import JobSettings
from moto import mock_aws

from deployer import logic as deployer
from deployer import requests as deployer_requests
from deployer.run import APPROVAL, ENDPOINT_CHANGE, Deployment, Trigger
from jobs import write_evidence
from model_gate import logic as gate
from model_gate.models import ModelPackageDetail as PendingPackage
from platform_common import domain_events, lease
from platform_common import monitoring as contract
from platform_common.catalog import Catalog, ModelSettings
from platform_common.evidence import EXECUTION_KEY, EvidenceStore, evidence_key
from retraining_trigger import logic as trigger
from retraining_trigger import state, timer
from retraining_trigger.models import RetrainingRequestedEvent
from stacks.config import ConfigError, load_environment
from tests.contracts.configs import LONGEST_ENVIRONMENT, longest_model_name, longest_prefix, prefix_of
from tests.contracts.service_model import RecordingClient, not_found, problems
from tests.handlers.conftest import example_settings
from tests.handlers.fakes import ACCOUNT, GROUP_SUFFIX, REGION, FakeMlflow, package_arn

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-model-execution"
ENTRY_LIMIT_BYTES = 256 * 1024
MAX_WAIT_SECONDS = 3600
# The longest names validation accepts (tests/contracts/configs.py finds them).
LONGEST_PREFIX = prefix_of(longest_prefix())
LONGEST_MODEL = "m" * longest_model_name()
ENDPOINT_PREFIX = f"{LONGEST_PREFIX}-{LONGEST_ENVIRONMENT}"
ARTIFACT_BUCKET = f"{LONGEST_PREFIX}-{LONGEST_ENVIRONMENT}-mlflow-artifacts-{ACCOUNT}-{REGION}"
DATA_BUCKET = f"{LONGEST_PREFIX}-{LONGEST_ENVIRONMENT}-data-{ACCOUNT}-{REGION}"
DATA_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SERVING_IMAGE = f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
EXECUTION_ID = "k3x9q2w7zv1a"


class Evidence:
    """One pipeline execution of a model, as SageMaker and S3 answer for it, with recording clients."""

    def __init__(self, settings: ModelSettings, sagemaker: RecordingClient) -> None:
        self.arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{settings.pipeline_name}/execution/{EXECUTION_ID}"
        key = f"pipelines/{settings.name}/{EXECUTION_ID}/train/pipelines-{EXECUTION_ID}-Train/output/model.tar.gz"
        self.artifact_uri = f"s3://{ARTIFACT_BUCKET}/{key}"
        version_id, etag = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", '"9b2cf535f27731c974343645a3985328"'
        report = write_evidence.build_report(
            model=settings.name,
            execution_arn=self.arn,
            run_id="run0003",
            evaluation={"metrics": {settings.metric_name: {"value": 0.95}}},
            artifact={"uri": self.artifact_uri, "version_id": version_id, "etag": etag, "sha256": "0" * 64, "size": 9},
            serving_image=SERVING_IMAGE,
        )
        body = json.dumps(report).encode()
        sagemaker.answers["DescribePipelineExecution"] = {
            "PipelineArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{settings.pipeline_name}",
            "PipelineExecutionArn": self.arn,
        }
        self.s3 = RecordingClient(
            "s3",
            answers={
                "GetObject": lambda _: {"Body": io.BytesIO(body)},
                "HeadObject": {"VersionId": version_id, "ETag": etag},
            },
        )
        self.store = EvidenceStore(ARTIFACT_BUCKET, self.s3, sagemaker)
        self.key = evidence_key(settings.name, EXECUTION_ID)

    def specification(self) -> dict[str, Any]:
        return {
            "Containers": [{"Image": SERVING_IMAGE, "ModelDataUrl": self.artifact_uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        }


def longest_settings(**overrides: Any) -> ModelSettings:
    """A catalog entry whose names are as long as configuration allows."""
    endpoint = f"{ENDPOINT_PREFIX}-{LONGEST_MODEL}"
    values: dict[str, Any] = {
        "name": LONGEST_MODEL,
        "pipeline_name": endpoint,
        "data_prefix": f"datasets/{LONGEST_MODEL}/",
        "quality_alarm_name": f"{endpoint}-quality",
        "schedule_rule_name": f"{endpoint}-schedule",
        "endpoint_name": endpoint,
        "rollback_alarm_names": (f"{endpoint}-5xx-errors", f"{endpoint}-model-latency"),
        "capture_sampling_percent": 100,
    }
    values.update(overrides)
    return example_settings(**values)


def all_problems(service: str, client: RecordingClient) -> list[str]:
    return [problem for name, params in client.requests for problem in problems(service, name, params)]


def guardrail_problems(update: dict[str, Any], variant: dict[str, Any]) -> list[str]:
    """The documented rules linking UpdateEndpoint's DeploymentConfig to the new config's variant."""
    config = update.get("DeploymentConfig")
    if "ServerlessConfig" in variant:
        return ["DeploymentConfig sent for a serverless variant"] if config else []
    if not config:
        return []
    found: list[str] = []
    policy = config["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    count = variant["InitialInstanceCount"]

    def instances(size: dict[str, Any]) -> float:
        return float(size["Value"] if size["Type"] == "INSTANCE_COUNT" else count * size["Value"] / 100)

    bakes = 1
    if routing["Type"] == "CANARY":
        canary = instances(routing["CanarySize"])
        if not 1 <= canary <= count / 2:
            found.append(f"canary of {canary:g} instance(s) on a variant of {count}: needs 1 to {count / 2:g}")
    elif routing["Type"] == "LINEAR":
        step = instances(routing["LinearStepSize"])
        if not (step >= 1 and count * 0.1 <= step <= count / 2):
            found.append(f"linear step of {step:g} instance(s) on a variant of {count}: needs 10-50% and >= 1")
        bakes = math.ceil(count / step) if step > 0 else 10**6
    waits = bakes * routing["WaitIntervalInSeconds"] + policy.get("TerminationWaitInSeconds", 0)
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and not timeout > waits:
        found.append(f"MaximumExecutionTimeoutInSeconds {timeout} does not exceed the {waits} s of waits")
    return found


ENDPOINT_ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/"


def sagemaker_for(
    settings: ModelSettings,
    *,
    serving: int | None,
    endpoint_tags: dict[str, str] | None = None,
    failure: str | None = None,
    approved: int = 3,
    package_metadata: dict[str, str] | None = None,
) -> tuple[RecordingClient, Evidence]:
    """SageMaker where package `approved` is the newest approved, verified one and the endpoint serves `serving`."""
    endpoint_name = settings.endpoint_name

    def endpoint(params: dict[str, Any]) -> dict[str, Any]:
        if serving is None:
            raise not_found("DescribeEndpoint")
        answer = {
            "EndpointName": params["EndpointName"],
            "EndpointArn": ENDPOINT_ARN_PREFIX + params["EndpointName"],
            "EndpointConfigName": deployer_requests.version_resource_name(endpoint_name, serving),
            "EndpointStatus": "InService",
        }
        return {**answer, "FailureReason": failure} if failure else answer

    def config(params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        if serving is None or name != deployer_requests.version_resource_name(endpoint_name, serving):
            raise not_found("DescribeEndpointConfig")
        return {
            "EndpointConfigName": name,
            "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{name}",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": name}],
        }

    def model(params: dict[str, Any]) -> dict[str, Any]:
        if serving is None or params["ModelName"] != deployer_requests.version_resource_name(endpoint_name, serving):
            raise not_found("DescribeModel")
        return {"Containers": [{"ModelPackageName": package_arn(settings.name, serving)}]}

    def tags(params: dict[str, Any]) -> dict[str, Any]:
        if params["ResourceArn"].startswith(ENDPOINT_ARN_PREFIX):
            return {"Tags": [{"Key": key, "Value": value} for key, value in (endpoint_tags or {}).items()]}
        return {
            "Tags": [
                {"Key": "mlops:model", "Value": settings.name},
                {"Key": "mlops:model-package-arn", "Value": package_arn(settings.name, serving or 0)},
            ]
        }

    def package(params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ModelPackageArn": params["ModelPackageName"],
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": evidence.specification(),
            # What the gate records once it verified the package's execution, unless the test says otherwise.
            "CustomerMetadataProperties": dict(
                {EXECUTION_KEY: evidence.arn} if package_metadata is None else package_metadata
            ),
        }

    sagemaker = RecordingClient(
        "sagemaker",
        answers={
            "DescribeEndpoint": endpoint,
            "DescribeEndpointConfig": config,
            "DescribeModel": model,
            "ListTags": tags,
            "ListModelPackages": {
                "ModelPackageSummaryList": [{"ModelPackageArn": package_arn(settings.name, approved)}]
            },
            "DescribeModelPackage": package,
        },
    )
    evidence = Evidence(settings, sagemaker)
    return sagemaker, evidence


def reconcile(
    settings: ModelSettings,
    sagemaker: RecordingClient,
    evidence: Evidence,
    *,
    kind: str = APPROVAL,
    mlflow: FakeMlflow | None = None,
) -> list[Any]:
    """Run the deployer's reconciliation once and return what it published."""
    published: list[Any] = []
    group = f"{settings.name}-{GROUP_SUFFIX}"
    deployer.reconcile(
        Deployment(
            settings,
            group,
            sagemaker,
            mlflow or FakeMlflow(),
            published.append,
            ROLE_ARN,
            evidence.store,
            capture=(DATA_BUCKET, DATA_KEY_ARN),
        ),
        Trigger(kind, package_arn(settings.name, 3) if kind == APPROVAL else None, "event-1"),
    )
    return published


def deploy(settings: ModelSettings, *, endpoint_exists: bool = True) -> tuple[RecordingClient, list[Any]]:
    """Approval of package 3, the endpoint serving version 2 (already promoted) or not existing yet."""
    promoted = {"mlops:promoted-package-arn": package_arn(settings.name, 2)}
    sagemaker, evidence = sagemaker_for(settings, serving=2 if endpoint_exists else None, endpoint_tags=promoted)
    published = reconcile(settings, sagemaker, evidence)
    assert all_problems("s3", evidence.s3) == []
    return sagemaker, published


EXTREMES = [
    pytest.param({"deployment_strategy": "canary", "instance_count": 1}, id="canary-10pct-1-instance"),
    pytest.param({"deployment_strategy": "canary", "instance_count": 2}, id="canary-10pct-2-instances"),
    pytest.param({"deployment_strategy": "canary", "instance_count": 4}, id="canary-10pct-4-instances"),
    pytest.param(
        {"deployment_strategy": "canary", "instance_count": 4, "canary_percent": 50}, id="canary-50pct-4-instances"
    ),
    pytest.param(
        {"deployment_strategy": "linear", "linear_step_percent": 50, "instance_count": 1},
        id="linear-50pct-1-instance-waits-max",
    ),
    pytest.param(
        {"deployment_strategy": "linear", "linear_step_percent": 50, "instance_count": 4},
        id="linear-50pct-4-instances-waits-max",
    ),
    pytest.param(
        {"deployment_strategy": "linear", "linear_step_percent": 10, "instance_count": 20, "wait_seconds": 2340},
        id="linear-10pct-20-instances-longest-wait-that-fits",
    ),
    pytest.param({"deployment_strategy": "all-at-once", "instance_count": 100}, id="all-at-once-100-instances"),
    pytest.param({"capture_sampling_percent": 0}, id="canary-capture-0pct"),
    pytest.param({"capture_sampling_percent": None}, id="canary-no-capture"),
    pytest.param(
        {"deployment_strategy": "all-at-once", "serverless_memory_mb": 6144, "serverless_max_concurrency": 200},
        id="serverless",
    ),
]


def update_problems(settings: ModelSettings) -> list[str]:
    """What is wrong with the requests of an update of an endpoint in service on version 2."""
    sagemaker, _ = deploy(settings)
    found = all_problems("sagemaker", sagemaker)
    configs, updates = sagemaker.sent("CreateEndpointConfig"), sagemaker.sent("UpdateEndpoint")
    if len(configs) != 1 or len(updates) != 1:
        return [*found, f"expected one CreateEndpointConfig and one UpdateEndpoint, got {sagemaker.requests}"]
    return found + guardrail_problems(updates[0], configs[0]["ProductionVariants"][0])


def test_a_first_deployment_with_capture_sends_a_data_capture_config_sagemaker_accepts() -> None:
    """DataCaptureConfig (SageMaker API Reference, "DataCaptureConfig",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html):
    DestinationS3Uri at most 512 characters matching `^(https|s3)://([^/])/?(.*)$`,
    InitialSamplingPercentage 0-100, CaptureOptions 1-32 entries, KmsKeyId `^[a-zA-Z0-9:/_-]*$`."""
    # Given the longest names, the longest bucket, and capture of every request
    settings = longest_settings(capture_sampling_percent=100)

    # When the first version is deployed
    sagemaker, _ = deploy(settings, endpoint_exists=False)

    # Then its config carries data capture, and every request fits the service model
    (config,) = sagemaker.sent("CreateEndpointConfig")
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{DATA_BUCKET}/monitoring/{LONGEST_MODEL}/capture/"
    assert all_problems("sagemaker", sagemaker) == []


def test_every_endpoint_update_at_the_settings_extremes_is_a_request_sagemaker_accepts() -> None:
    # Given settings at each extreme, waits at their maximum unless stated, and the longest names
    found: dict[str, list[str]] = {}
    for case in EXTREMES:
        (overrides,) = case.values
        settings = longest_settings(
            **{"wait_seconds": MAX_WAIT_SECONDS, "termination_wait_seconds": MAX_WAIT_SECONDS, **overrides}
        )

        # When version 3 replaces version 2, and when it is the first version deployed
        found[f"{case.id} update"] = update_problems(settings)
        first, _ = deploy(settings, endpoint_exists=False)
        found[f"{case.id} create"] = all_problems("sagemaker", first)
        if [name for name, _ in first.requests if name.startswith("Create")] != [
            "CreateModel",
            "CreateEndpointConfig",
            "CreateEndpoint",
        ]:
            found[f"{case.id} create"].append(f"unexpected requests {first.requests}")

    # Then every request fits the service model, and every update's traffic shifting its variant
    assert {case: problems for case, problems in found.items() if problems} == {}


def test_a_serverless_update_sends_no_deployment_config() -> None:
    # Given a serverless model
    settings = longest_settings(serverless_memory_mb=1024, serverless_max_concurrency=1)

    # When its endpoint is updated
    sagemaker, _ = deploy(settings)

    # Then UpdateEndpoint carries no deployment configuration
    (update,) = sagemaker.sent("UpdateEndpoint")
    assert "DeploymentConfig" not in update


def test_linear_steps_whose_waits_cannot_fit_the_timeout_are_refused_without_a_request() -> None:
    # Given linear steps of 10% (ten bakes) of an hour each: 10 h of waits, SageMaker allows 8 h in all
    settings = longest_settings(
        deployment_strategy="linear",
        linear_step_percent=10,
        instance_count=20,
        wait_seconds=MAX_WAIT_SECONDS,
        termination_wait_seconds=MAX_WAIT_SECONDS,
    )

    # When the approval arrives
    sagemaker, published = deploy(settings)

    # Then nothing is created or updated, and the failure names the settings to change
    assert [name for name, _ in sagemaker.requests if not name.startswith(("Describe", "List"))] == []
    (failed,) = published
    assert failed.detail_type == domain_events.DEPLOYMENT_FAILED
    for key in ("deployment.linear_step_percent", "deployment.wait_minutes", "deployment.termination_wait_minutes"):
        assert key in failed.reason


def test_configuration_refuses_linear_waits_that_cannot_fit_naming_the_keys() -> None:
    # Given a model whose linear update would wait 10 x 60 min + 60 min
    platform = {
        "prefix": "mlops",
        "environments": {
            "dev": {
                "models": [
                    {
                        "name": "churn",
                        "endpoint": {"instance_count": 20},
                        "deployment": {
                            "strategy": "linear",
                            "linear_step_percent": 10,
                            "wait_minutes": 60,
                            "termination_wait_minutes": 60,
                        },
                    }
                ]
            }
        },
    }

    # When it is loaded, then synth stops and the error names each key involved
    with pytest.raises(ConfigError) as error:
        load_environment(platform, "dev")
    for key in ("deployment.linear_step_percent", "deployment.wait_minutes", "deployment.termination_wait_minutes"):
        assert f"platform.environments.dev.models[0].{key}" in str(error.value)


def test_the_endpoint_outcome_is_read_back_with_requests_sagemaker_accepts() -> None:
    # Given an endpoint in service on the version-3 config of the longest names, not promoted yet
    settings = longest_settings()
    sagemaker, evidence = sagemaker_for(settings, serving=3)
    mlflow = FakeMlflow()
    mlflow.add_version(settings.name, 3)

    # When the deployer reconciles on the endpoint's state change
    reconcile(settings, sagemaker, evidence, kind=ENDPOINT_CHANGE, mlflow=mlflow)

    # Then it described the endpoint, promoted what serves, and every request fits the service model
    assert sagemaker.sent("DescribeEndpoint") == [{"EndpointName": settings.endpoint_name}]
    assert mlflow.aliases[(settings.name, "champion")] == "3"
    assert all_problems("sagemaker", sagemaker) == []


def test_the_newest_approved_version_is_asked_for_as_list_model_packages_documents() -> None:
    """SageMaker API Reference, "ListModelPackages" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListModelPackages.html).

    `ModelPackageType` defaults to "UNVERSIONED - List only unversioined models", `SortOrder` to
    ascending; `MaxResults` has a "Valid Range: Minimum value of 1. Maximum value of 100".
    """
    # Given the longest names, when the deployer reconciles on an approval
    settings = longest_settings()
    sagemaker, _ = deploy(settings)

    # Then it asked for the group's newest Approved version, in a request that fits the service model
    [listing] = sagemaker.sent("ListModelPackages")
    assert listing == {
        "ModelPackageGroupName": f"{settings.name}-{GROUP_SUFFIX}",
        "ModelApprovalStatus": "Approved",
        "ModelPackageType": "Versioned",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 1,
    }
    assert problems("sagemaker", "ListModelPackages", listing) == []


@pytest.mark.parametrize("existing_entries", [0, 47, 48, 50])
def test_a_rollback_is_marked_with_requests_sagemaker_accepts_however_much_metadata_the_package_has(
    existing_entries: int,
) -> None:
    """UpdateModelPackage: at most 50 CustomerMetadataProperties, values within the documented pattern.

    SageMaker API Reference, "UpdateModelPackage"
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
    """
    # Given the update to version 3 rolled back (the endpoint serves 2 again, with a FailureReason),
    # and package 3 carrying `existing_entries` metadata entries of its own
    settings = longest_settings()
    metadata = {f"owner-key-{index:02d}": f"value {index}" for index in range(existing_entries)}
    tags = {
        "mlops:target-package-arn": package_arn(settings.name, 3),
        "mlops:promoted-package-arn": package_arn(settings.name, 2),
    }
    reason = "Alarm " + "x" * 900 + " went into ALARM: (rolled back) <canary>"
    sagemaker, evidence = sagemaker_for(
        settings, serving=2, endpoint_tags=tags, failure=reason, package_metadata=metadata
    )

    # When the deployer reconciles
    published = reconcile(settings, sagemaker, evidence, kind=ENDPOINT_CHANGE)

    # Then the package is marked, keeping every entry it had, in requests that fit the service model
    [mark] = sagemaker.sent("UpdateModelPackage")
    assert metadata.items() <= mark["CustomerMetadataProperties"].items()
    assert mark["ModelApprovalStatus"] == "Approved"
    assert all_problems("sagemaker", sagemaker) == []
    assert [event.detail_type for event in published] == [domain_events.DEPLOYMENT_ROLLED_BACK]
    # And the endpoint's target tag is pointed back at what serves, in an AddTags that fits too
    assert sagemaker.sent("AddTags")[-1]["Tags"] == [
        {"Key": "mlops:target-package-arn", "Value": package_arn(settings.name, 2)}
    ]


def gate_update(existing_entries: int) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """The gate's UpdateModelPackage for a package that carries `existing_entries` metadata entries."""
    settings = longest_settings(approval_mode="auto")
    arn = package_arn(settings.name, 3)
    metadata = {f"owner-key-{index:02d}": f"value {index}" for index in range(existing_entries)}
    sagemaker = RecordingClient("sagemaker")
    evidence = Evidence(settings, sagemaker)
    sagemaker.answers["DescribeModelPackage"] = {
        "ModelPackageArn": arn,
        "ModelApprovalStatus": "PendingManualApproval",
        "ModelPackageStatus": "Completed",
        "CustomerMetadataProperties": metadata,
        "InferenceSpecification": evidence.specification(),
    }
    mlflow = FakeMlflow()
    mlflow.add_version(settings.name, 3, {"accuracy": 0.95}, tags={EXECUTION_KEY: evidence.arn})
    detail = PendingPackage.model_validate(
        {
            "ModelPackageGroupName": f"{settings.name}-{GROUP_SUFFIX}",
            "ModelPackageArn": arn,
            "ModelApprovalStatus": "PendingManualApproval",
        }
    )

    gate.evaluate_package(
        detail, settings, sagemaker=sagemaker, mlflow=mlflow, evidence=evidence.store, publish=lambda _: None
    )
    (update,) = sagemaker.sent("UpdateModelPackage")
    assert update["ModelApprovalStatus"] == "Approved", update.get("ApprovalDescription")
    assert evidence.s3.sent("GetObject") == [{"Bucket": ARTIFACT_BUCKET, "Key": evidence.key}]
    return metadata, update, all_problems("sagemaker", sagemaker) + all_problems("s3", evidence.s3)


def test_the_gate_decision_fits_update_model_package_however_much_metadata_the_package_has() -> None:
    for existing_entries in (0, 42, 45, 50):
        # Given a pending package that already carries metadata entries of its own
        # When the gate decides
        metadata, update, found = gate_update(existing_entries)

        # Then UpdateModelPackage fits the service model (entry count, key and value limits)
        assert (existing_entries, found) == (existing_entries, [])
        # And the package keeps every entry it had
        assert metadata.items() <= update["CustomerMetadataProperties"].items()


def entry_size(entry: dict[str, Any]) -> int:
    """EventBridge's size of a PutEvents entry (14 bytes for Time when given)."""
    size = 14 if "Time" in entry else 0
    size += sum(len(str(entry.get(key, "")).encode("utf-8")) for key in ("Source", "DetailType", "Detail"))
    return size + sum(len(resource.encode("utf-8")) for resource in entry.get("Resources", []))


def test_a_domain_event_fits_put_events_whatever_it_echoes() -> None:
    for echo_bytes in (0, 100_000, 300_000):
        assert_fits_put_events(echo_bytes)


def assert_fits_put_events(echo_bytes: int) -> None:
    # Given a rejection that quotes what it was given (here, a field of `echo_bytes` characters)
    event = domain_events.DomainEvent(
        domain_events.EVENT_REJECTED,
        None,
        "not a usable event: " + "é" * (echo_bytes // 2),
        {"handler": "deployer", "detailType": "x" * echo_bytes, "problems": [{"field": "f", "problem": "p"}] * 500},
        "3d5a7c9e-1b2f-4e6a-8c0d-9f7e5b3a1c24",
    )
    events = RecordingClient("events", answers={"PutEvents": {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}})

    # When it is published
    domain_events.publish(events, f"{ENDPOINT_PREFIX}-platform", event)

    # Then the entry fits the service model and EventBridge's size limit, and stays valid JSON
    (request,) = events.sent("PutEvents")
    (entry,) = request["Entries"]
    assert all_problems("events", events) == []
    assert (echo_bytes, entry_size(entry) < ENTRY_LIMIT_BYTES) == (echo_bytes, True)
    assert json.loads(entry["Detail"])["correlationId"] == "3d5a7c9e-1b2f-4e6a-8c0d-9f7e5b3a1c24"


def test_the_trigger_starts_runs_with_requests_sagemaker_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard: the trigger's requests already fit; it keeps them fitting at the longest names."""
    # Given the longest model and pipeline names, and a request quoting a long reason
    settings = longest_settings()
    event = RetrainingRequestedEvent.model_validate(
        {
            "version": "0",
            "id": "5a7e3c2d-9b1f-4d6e-a8c0-3f2b1e9d7c65" * 4,
            "detail-type": domain_events.RETRAINING_REQUESTED,
            "source": domain_events.SOURCE,
            "account": ACCOUNT,
            "time": "2025-03-18T13:45:12Z",
            "region": REGION,
            "resources": [],
            "detail": {"model": settings.name, "reason": "r" * 1024},
        }
    )
    sagemaker = RecordingClient(
        "sagemaker",
        answers={
            "ListPipelineExecutions": {"PipelineExecutionSummaries": []},
            "StartPipelineExecution": {"PipelineExecutionArn": "arn:execution"},
        },
    )
    now = datetime(2025, 3, 18, 13, 46, tzinfo=UTC)

    # When the trigger handles it, with its lease and state table in moto
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        table = f"{ENDPOINT_PREFIX}-retraining-lock"
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": lease.KEY_ATTRIBUTE, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": lease.KEY_ATTRIBUTE, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        group = f"{ENDPOINT_PREFIX}-retraining-window"
        scheduler = boto3.client("scheduler", region_name=REGION)
        scheduler.create_schedule_group(Name=group)
        services = trigger.Services(
            sagemaker=sagemaker,
            leases=lease.LeaseTable(dynamodb, table, clock=lambda: now, sleep=lambda _: None),
            states=state.StateTable(dynamodb, table, clock=lambda: now),
            timer=timer.WindowTimer(
                scheduler,
                group_name=group,
                role_arn=f"arn:aws:iam::{ACCOUNT}:role/{group}",
                dead_letter_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{ENDPOINT_PREFIX}-events-dlq",
            ),
            function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ENDPOINT_PREFIX}-retraining-trigger",
            clock=lambda: now,
        )
        trigger.process(
            event,
            catalog=Catalog([settings]),
            data_bucket=f"{ENDPOINT_PREFIX}-data-{ACCOUNT}-{REGION}",
            services=services,
        )

    # Then the run was started, and the lease taken and given back, with requests that fit the service models
    assert len(sagemaker.sent("StartPipelineExecution")) == 1
    assert all_problems("sagemaker", sagemaker) == []
    # The lease and state calls go through a real botocore client (served by moto), which
    # validates each request against DynamoDB's service model before it is sent.


def _lock_table(table: str) -> Any:
    """The platform's lock table in moto, keyed as the automation stack declares it."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": lease.KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": lease.KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def test_the_launcher_starts_monitoring_jobs_with_requests_sagemaker_accepts_at_the_longest_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CreateProcessingJob at the longest prefix, environment and model name validation accepts.

    The job name (63 characters at most), each ContainerEntrypoint and ContainerArguments string
    (256 characters at most) and every other member are held to SageMaker's service model; the
    S3 and DynamoDB requests of the same launch too.
    """
    # Given a champion of the longest-named model, verified, with a baseline beside its evidence
    endpoint = f"{ENDPOINT_PREFIX}-{LONGEST_MODEL}"
    settings = longest_settings(
        monitoring_engine="platform",
        monitoring_schedule_name=f"{endpoint}-monitoring",
        monitoring_image_uri=SERVING_IMAGE,
        monitoring_instance_type="ml.m5.24xlarge",
        monitoring_max_runtime_seconds=86400,
    )
    promoted = {launcher.PROMOTED_PACKAGE_TAG: package_arn(settings.name, 2)}
    sagemaker, evidence = sagemaker_for(settings, serving=2, endpoint_tags=promoted, approved=2)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    now = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    published: list[Any] = []

    # When the schedule asks for a run (DynamoDB in moto: botocore validates those requests as it sends them)
    with mock_aws():
        table = f"{ENDPOINT_PREFIX}-retraining-lock"
        dynamodb = _lock_table(table)
        outcome = launcher.launch(
            launcher.Launcher(
                sagemaker=sagemaker,
                dynamodb=dynamodb,
                table_name=table,
                leases=lease.LeaseTable(dynamodb, table, clock=lambda: now, sleep=lambda _: None),
                evidence=evidence.store,
                job=JobSettings(
                    job_prefix=f"{ENDPOINT_PREFIX}-monitor-",
                    role_arn=f"arn:aws:iam::{ACCOUNT}:role/{ENDPOINT_PREFIX}-monitoring-job",
                    data_bucket=DATA_BUCKET,
                    artifact_bucket=ARTIFACT_BUCKET,
                    key_arn=DATA_KEY_ARN,
                    namespace=contract.metric_namespace(ENDPOINT_PREFIX),
                    tracking_uri=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/{ENDPOINT_PREFIX}-mlflow",
                ),
                publish=published.append,
                cloudwatch=RecordingClient("cloudwatch"),
                clock=lambda: now,
            ),
            settings,
            cause=launcher.CAUSE_SCHEDULE,
            owner="5a7e3c2d-9b1f-4d6e-a8c0-3f2b1e9d7c65",
        )

    # Then one job starts, and every request of the launch fits its service model
    (request,) = sagemaker.sent("CreateProcessingJob")
    assert (outcome.action, outcome.job_name) == ("started", request["ProcessingJobName"])
    assert all_problems("sagemaker", sagemaker) == []
    assert all_problems("s3", evidence.s3) == []
    # And the request is the one for this model's champion and window, under the environment's job prefix
    assert request["ProcessingJobName"].startswith(f"{ENDPOINT_PREFIX}-monitor-")
    arguments = request["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--model-name") + 1] == LONGEST_MODEL
    assert arguments[arguments.index("--until") + 1] == "2025-12-31T23:59:59Z"
