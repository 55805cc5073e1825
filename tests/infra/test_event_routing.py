"""The synthesized rules, loaded into moto EventBridge, route real-shaped events (and only them).

Then the handler a rule targets, as the template configures it (Handler and Environment),
runs on the routed event under moto: a data drop starts exactly one pipeline execution.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from platform_common import domain_events
from stacks.constructs.managed_mlflow import model_package_group_suffix
from tests.cfn import ACCOUNT, REGION, Resolver
from tests.handlers.conftest import FakeLambdaContext, load_event
from tests.synth import synth_default

GROUP = f"churn-{model_package_group_suffix('mlops-dev-mlflow')}"

pytestmark = pytest.mark.xdist_group("routing")


def dev_templates() -> dict[str, dict[str, Any]]:
    _, templates = synth_default("dev")
    return {unit: template.to_json() for unit, template in templates.items()}


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return dev_templates()


@pytest.fixture(scope="module")
def resolver(templates: dict[str, dict[str, Any]]) -> Resolver:
    return Resolver(templates)


def synthesized_rules(templates: dict[str, dict[str, Any]], resolver: Resolver) -> dict[str, dict[str, Any]]:
    """Every pattern rule of the environment: name -> {pattern, bus}."""
    rules = {}
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::Events::Rule" or "EventPattern" not in resource["Properties"]:
                continue
            props = resolver.resolve(resource["Properties"], template)
            rules[props["Name"]] = {"pattern": props["EventPattern"], "bus": props.get("EventBusName", "default")}
    return rules


@pytest.fixture
def routed(templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto EventBridge holding the synthesized rules, each delivering to its own SQS queue."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        rules = synthesized_rules(templates, resolver)
        buses = {r["bus"] for r in rules.values()} - {"default"}
        for bus in buses:
            events.create_event_bus(Name=bus)
        queues = {}
        for name, rule in rules.items():
            events.put_rule(Name=name, EventPattern=json.dumps(rule["pattern"]), EventBusName=rule["bus"])
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_targets(Rule=name, EventBusName=rule["bus"], Targets=[{"Id": "capture", "Arn": arn}])
            queues[name] = url

        class Router:
            def put(self, event: dict[str, Any], bus: str = "default") -> None:
                entry = {"Source": event["source"], "DetailType": event["detail-type"],
                         "Detail": json.dumps(event["detail"]), "Resources": event.get("resources", []),
                         "EventBusName": bus}  # fmt: skip
                result = events.put_events(Entries=[entry])
                assert result["FailedEntryCount"] == 0

            def matched(self) -> dict[str, list[dict[str, Any]]]:
                out = {}
                for name, url in queues.items():
                    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                    if messages:
                        out[name] = [json.loads(m["Body"]) for m in messages]
                return out

        yield Router()


def _with(event: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def pending(group: str = GROUP, status: str = "PendingManualApproval") -> dict[str, Any]:
    event = load_event("model_package_pending")
    event["detail"]["ModelPackageGroupName"] = group
    event["detail"]["ModelApprovalStatus"] = status
    return event


@pytest.mark.parametrize(
    ("event", "bus", "expected"),
    [
        (load_event("s3_object_created"), "default", {"mlops-dev-data-landed", "mlops-dev-audit-data"}),
        (load_event("s3_object_created_minimal"), "default", {"mlops-dev-data-landed", "mlops-dev-audit-data"}),
        (_with(load_event("s3_object_created"), ["detail", "bucket", "name"], "someone-elses-bucket"), "default",
         set()),
        (_with(load_event("s3_object_created"), ["detail", "object", "key"], "raw/churn/file.csv"), "default", set()),
        (load_event("cloudwatch_alarm_alarm"), "default", {"mlops-dev-quality-alarm-0", "mlops-dev-audit-alarms"}),
        (load_event("cloudwatch_alarm_ok"), "default", {"mlops-dev-audit-alarms"}),
        (_with(load_event("cloudwatch_alarm_alarm"), ["detail", "alarmName"], "other-team-alarm"), "default", set()),
        (pending(), "default", {"mlops-dev-model-pending-0", "mlops-dev-audit-registry"}),
        (pending(status="Approved"), "default", {"mlops-dev-model-approved-0", "mlops-dev-audit-registry"}),
        (pending(group="fraud-d9f6c7"), "default", set()),
        (pending(group="churn-000000"), "default", set()),
        (load_event("endpoint_in_service"), "default", {"mlops-dev-endpoint-state-0", "mlops-dev-audit-endpoints"}),
        (_with(load_event("endpoint_in_service"), ["detail", "EndpointName"], "other-endpoint"), "default", set()),
        (load_event("retraining_requested"), "mlops-dev-platform",
         {"mlops-dev-retraining-requested", "mlops-dev-audit-platform"}),
    ],
    ids=["s3", "s3-minimal", "s3-other-bucket", "s3-other-prefix", "alarm", "alarm-back-to-ok", "other-alarm",
         "package-pending", "package-approved", "other-group", "other-suffix", "endpoint", "other-endpoint",
         "retraining-requested"],
)  # fmt: skip
def test_rules_route_events_and_reject_near_misses(routed: Any, event: dict[str, Any], bus: str,
                                                   expected: set[str]) -> None:  # fmt: skip
    routed.put(event, bus)
    assert set(routed.matched()) == expected


def test_pipeline_failure_is_notified(routed: Any) -> None:
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        "detail": {
            "pipelineArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn",
            "pipelineExecutionArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn/execution/abc",
            "currentPipelineExecutionStatus": "Failed",
            "previousPipelineExecutionStatus": "Executing",
            "executionStartTime": "2026-11-28T03:00:00Z",
            "executionEndTime": "2026-11-28T03:20:00Z",
        },
    }
    routed.put(event)
    assert set(routed.matched()) == {"mlops-dev-notify-pipeline-failed", "mlops-dev-audit-pipelines"}


@pytest.mark.parametrize(
    ("detail_type", "expected"),
    [
        (domain_events.MODEL_REJECTED, {"mlops-dev-audit-platform", "mlops-dev-notify-decisions"}),
        # Data scientists' experiment versions become packages all the time: audited, nobody e-mailed.
        (domain_events.MODEL_PROVENANCE_REJECTED, {"mlops-dev-audit-platform"}),
    ],
)
def test_rejections_of_versions_the_pipeline_did_not_produce_are_audited_not_notified(
    routed: Any, detail_type: str, expected: set[str]
) -> None:
    # Given the gate's rejection on the platform bus, when it is routed, then only the expected rules take it
    detail = {"model": "churn", "version": 7, "reason": "not produced by the model's pipeline"}
    routed.put({"source": domain_events.SOURCE, "detail-type": detail_type, "detail": detail}, "mlops-dev-platform")
    assert set(routed.matched()) == expected


def _function(templates: dict[str, dict[str, Any]], resolver: Resolver, name: str) -> tuple[str, dict[str, str]]:
    template = templates["automation"]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("FunctionName") == name:
            props = resolver.resolve(resource["Properties"], template)
            return props["Handler"], props["Environment"]["Variables"]
    raise AssertionError(f"no function {name}")


def _invoke(handler_path: str, environment: dict[str, str], event: dict[str, Any],
            monkeypatch: pytest.MonkeyPatch) -> Any:  # fmt: skip
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    module_name, function_name = handler_path.rsplit(".", 1)
    module = importlib.import_module(module_name)
    runtime = importlib.import_module("platform_common.runtime")
    runtime.reset()
    return getattr(module, function_name)(event, FakeLambdaContext())


def _deploy_model_state(templates: dict[str, dict[str, Any]], resolver: Resolver) -> str:
    """Create what the model stack would: its pipeline and its catalog entry."""
    template = templates["model-churn"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    ssm = boto3.client("ssm", region_name=REGION)
    pipeline_name = ""
    for resource in template["Resources"].values():
        props = resolver.resolve(resource.get("Properties", {}), template)
        if resource["Type"] == "AWS::SageMaker::Pipeline":
            pipeline_name = props["PipelineName"]
            sagemaker.create_pipeline(PipelineName=pipeline_name, RoleArn=props["RoleArn"],
                                      PipelineDefinition=props["PipelineDefinition"]["PipelineDefinitionBody"])  # fmt: skip
        if resource["Type"] == "AWS::SSM::Parameter":
            ssm.put_parameter(Name=props["Name"], Value=props["Value"], Type=props["Type"])
    return pipeline_name


def test_a_data_drop_routed_to_the_configured_handler_starts_exactly_one_run(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the model's pipeline and catalog entry as its stack creates them
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    # When a data set object lands and the rule delivers it (twice: EventBridge is at-least-once)
    routed.put(load_event("s3_object_created"))
    (delivered,) = routed.matched()["mlops-dev-data-landed"]
    first = _invoke(handler, environment, delivered, monkeypatch)
    second = _invoke(handler, environment, delivered, monkeypatch)
    # Then exactly one execution runs, with the data set as its input
    executions = boto3.client("sagemaker", region_name=REGION).list_pipeline_executions(PipelineName=pipeline)
    assert len(executions["PipelineExecutionSummaries"]) == 1
    assert first["outcome"] == "started"
    assert second["outcome"] in {"duplicate", "coalesced"}


def test_a_quality_alarm_routed_to_the_configured_handler_retrains(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    routed.put(load_event("cloudwatch_alarm_alarm"))
    (delivered,) = routed.matched()["mlops-dev-quality-alarm-0"]
    result = _invoke(handler, environment, delivered, monkeypatch)
    executions = boto3.client("sagemaker", region_name=REGION).list_pipeline_executions(PipelineName=pipeline)
    assert result["outcome"] == "started"
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_a_malformed_event_changes_nothing(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    broken = load_event("s3_object_created")
    del broken["detail"]["object"]
    result = _invoke(handler, environment, broken, monkeypatch)
    executions = boto3.client("sagemaker", region_name=REGION).list_pipeline_executions(PipelineName=pipeline)
    assert result["outcome"] == "rejected"
    assert executions["PipelineExecutionSummaries"] == []
