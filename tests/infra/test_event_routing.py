"""The synthesized rules, loaded into moto EventBridge, route real-shaped events (and only them).

Then the handler a rule targets, as the template configures it (Handler and Environment),
runs on the routed event under moto: a data drop starts exactly one pipeline execution.
"""

from __future__ import annotations

import copy
import importlib
import json
from typing import Any

import boto3
import pytest
from moto.sagemaker.models import sagemaker_backends

from platform_common import domain_events, env_names
from platform_common import monitoring as contract
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
        (
            _with(load_event("s3_object_created"), ["detail", "bucket", "name"], "someone-elses-bucket"),
            "default",
            set(),
        ),
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
        (
            load_event("retraining_requested"),
            "mlops-dev-platform",
            {"mlops-dev-retraining-requested", "mlops-dev-audit-platform"},
        ),
    ],
    ids=[
        "s3",
        "s3-minimal",
        "s3-other-bucket",
        "s3-other-prefix",
        "alarm",
        "alarm-back-to-ok",
        "other-alarm",
        "package-pending",
        "package-approved",
        "other-group",
        "other-suffix",
        "endpoint",
        "other-endpoint",
        "retraining-requested",
    ],
)
def test_rules_route_events_and_reject_near_misses(
    routed: Any, event: dict[str, Any], bus: str, expected: set[str]
) -> None:
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
    assert set(routed.matched()) == {
        "mlops-dev-notify-pipeline-failed",
        "mlops-dev-audit-pipelines",
        "mlops-dev-pipeline-run-ended",
    }


def pipeline_status(status: str, pipeline: str = "mlops-dev-churn", execution_arn: str | None = None) -> dict[str, Any]:
    event = load_event("pipeline_execution_succeeded")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{pipeline}"
    execution = execution_arn or f"{arn}/execution/k2u7c5x0q9fa"
    event["detail"].update(currentPipelineExecutionStatus=status, pipelineArn=arn, pipelineExecutionArn=execution)
    event["resources"] = [arn, execution]
    return event


@pytest.mark.parametrize(
    ("status", "pipeline", "expected"),
    [
        ("Succeeded", "mlops-dev-churn", {"mlops-dev-pipeline-run-ended", "mlops-dev-audit-pipelines"}),
        ("Stopped", "mlops-dev-churn", {"mlops-dev-pipeline-run-ended", "mlops-dev-audit-pipelines"}),
        (
            "Failed",
            "mlops-dev-churn",
            {"mlops-dev-pipeline-run-ended", "mlops-dev-audit-pipelines", "mlops-dev-notify-pipeline-failed"},
        ),
        ("Executing", "mlops-dev-churn", {"mlops-dev-audit-pipelines"}),
        ("Stopping", "mlops-dev-churn", {"mlops-dev-audit-pipelines"}),
        ("Succeeded", "team-b-churn", set()),
    ],
    ids=["succeeded", "stopped", "failed", "executing", "stopping", "other-pipeline"],
)
def test_the_end_of_a_run_reaches_the_trigger(routed: Any, status: str, pipeline: str, expected: set[str]) -> None:
    """Every end of a platform pipeline's run, whatever its outcome, and nothing else."""
    routed.put(pipeline_status(status, pipeline))
    assert set(routed.matched()) == expected


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


def _invoke(
    handler_path: str, environment: dict[str, str], event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    module_name, function_name = handler_path.rsplit(".", 1)
    module = importlib.import_module(module_name)
    runtime = importlib.import_module("platform_common.runtime")
    runtime.reset()
    return getattr(module, function_name)(event, FakeLambdaContext())


def _deploy_lock_table(templates: dict[str, dict[str, Any]], resolver: Resolver) -> None:
    """Create the trigger's lock table with the declared key schema, under the name the trigger is told."""
    template = templates["automation"]
    _, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            props = resolver.resolve(resource["Properties"], template)
            dynamodb.create_table(
                TableName=environment[env_names.RETRAINING_LOCK_TABLE_NAME],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props["BillingMode"],
            )


def _deploy_model_state(templates: dict[str, dict[str, Any]], resolver: Resolver) -> str:
    """Create what the model stack would (its pipeline and catalog entry), and the trigger's lock table."""
    _deploy_lock_table(templates, resolver)
    template = templates["model-churn"]
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    ssm = boto3.client("ssm", region_name=REGION)
    pipeline_name = ""
    for resource in template["Resources"].values():
        props = resolver.resolve(resource.get("Properties", {}), template)
        if resource["Type"] == "AWS::SageMaker::Pipeline":
            pipeline_name = props["PipelineName"]
            sagemaker.create_pipeline(
                PipelineName=pipeline_name,
                RoleArn=props["RoleArn"],
                PipelineDefinition=props["PipelineDefinition"]["PipelineDefinitionBody"],
            )
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


def test_a_drift_alarm_reaches_the_trigger_and_the_audit_trail_and_retrains_as_drift(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the model's pipeline and catalog entry as its stack creates them
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    # When the model's drift alarm enters ALARM (the event CloudWatch sends for it)
    routed.put(load_event("cloudwatch_drift_alarm"))
    matched = routed.matched()
    # Then the drift rule and the audit trail receive it, and nothing else
    assert set(matched) == {"mlops-dev-drift-alarm-0", "mlops-dev-audit-alarms"}
    # And the trigger starts one run whose reason is drift
    (delivered,) = matched["mlops-dev-drift-alarm-0"]
    result = _invoke(handler, environment, delivered, monkeypatch)
    executions = boto3.client("sagemaker", region_name=REGION).list_pipeline_executions(PipelineName=pipeline)
    assert (result["outcome"], result["trigger"]) == ("started", "drift")
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_a_drift_alarm_back_to_ok_and_other_alarms_do_not_retrain(routed: Any) -> None:
    # Given the drift alarm recovering, and the silent-monitor alarm firing
    back = _with(load_event("cloudwatch_drift_alarm"), ["detail", "state", "value"], "OK")
    silent = _with(load_event("cloudwatch_drift_alarm"), ["detail", "alarmName"], "mlops-dev-churn-monitor-silent")
    # When they arrive
    routed.put(back)
    recovered = routed.matched()
    routed.put(silent)
    silenced = routed.matched()
    # Then both are audited; neither reaches the trigger
    assert set(recovered) == {"mlops-dev-audit-alarms"}
    assert set(silenced) == {"mlops-dev-audit-alarms"}


def test_a_failed_monitoring_job_is_notified_and_a_completed_or_foreign_one_is_not(routed: Any) -> None:
    # Given a failed monitoring job of the platform, a completed one, and a failed job of someone else
    failed = load_event("processing_job_failed")
    completed = _with(failed, ["detail", "ProcessingJobStatus"], "Completed")
    foreign = _with(failed, ["detail", "ProcessingJobName"], "team-x-monitor-churn-20250316030000")
    # When each arrives, only the platform's failure is routed to the notification rule
    routed.put(failed)
    assert "mlops-dev-notify-monitoring-failed" in routed.matched()
    for other in (completed, foreign):
        routed.put(other)
        assert "mlops-dev-notify-monitoring-failed" not in routed.matched()


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


def test_a_run_end_routed_to_the_configured_handler_starts_the_trailing_run(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run of the churn pipeline executing (started from Studio), and data that landed meanwhile
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    running = sagemaker.start_pipeline_execution(
        PipelineName=pipeline, PipelineExecutionDisplayName="studio-run", ClientRequestToken="s" * 32
    )["PipelineExecutionArn"]
    backend = sagemaker_backends[ACCOUNT][REGION].pipelines[pipeline].pipeline_executions[running]
    backend.pipeline_execution_status = "Executing"
    routed.put(load_event("s3_object_created"))
    (landed,) = routed.matched()["mlops-dev-data-landed"]
    waiting = _invoke(handler, environment, landed, monkeypatch)

    # When the run ends and the rule delivers SageMaker's status change
    backend.pipeline_execution_status = "Succeeded"
    routed.put(pipeline_status("Succeeded", pipeline, running))
    (ended,) = routed.matched()["mlops-dev-pipeline-run-ended"]
    trailing = _invoke(handler, environment, ended, monkeypatch)

    # Then the drop waited for the run, and one trailing run started on it when the run ended
    executions = sagemaker.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
    assert (waiting["outcome"], waiting["reason"]) == ("coalesced", "execution-running")
    assert trailing["outcome"] == "started"
    assert trailing["inputDataUri"].endswith("/datasets/churn/2025-03-14/")
    assert len(executions) == 2


def _notification(templates: dict[str, dict[str, Any]], rule_name: str, event: dict[str, Any]) -> str:
    """The text EventBridge would send to the topic: the rule's input template filled from `event`.

    A path the event lacks comes out as null, as EventBridge renders it (that is how rejections
    used to read "model null version null").
    """
    template = templates["automation"]
    [rule] = [r for r in template["Resources"].values() if r["Properties"].get("Name") == rule_name]
    [target] = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    text = json.loads(transformer["InputTemplate"])
    for name, path in transformer["InputPathsMap"].items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = text.replace(f"<{name}>", "null" if value is None else str(value))
    return str(text)


def test_a_rejected_request_is_notified_with_model_reason_and_next_step(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a request to retrain churn on data outside its prefix, handled by the configured trigger
    _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    request = load_event("retraining_requested")
    request["detail"]["inputDataUri"] = "s3://someone-elses-bucket/churn/"
    _invoke(handler, environment, request, monkeypatch)

    # When the EventRejected it published is routed
    matched = routed.matched()
    (rejected,) = matched["mlops-dev-notify-decisions"]

    # Then the notification names the model, what happened, why and what to do, with no
    # placeholder left empty
    text = _notification(templates, "mlops-dev-notify-decisions", rejected)
    assert text.startswith(
        "[mlops-dev] EventRejected: Retraining trigger, model churn: event rejected, nothing started"
    )
    assert "detail.inputDataUri" in text
    assert "expected a location under s3://" in text
    assert "Next step: put the data under the allowed prefix" in text
    assert "null" not in text


def test_a_rejection_by_another_handler_is_notified_without_empty_fields(templates: dict[str, dict[str, Any]]) -> None:
    """The gate and the deployer publish EventRejected without a summary; the shared event fills one in."""
    event = domain_events.DomainEvent(
        domain_events.EVENT_REJECTED, None, "malformed-event", {"handler": "deployer"}, "evt-42"
    )
    text = _notification(
        templates, "mlops-dev-notify-decisions", {"detail-type": "EventRejected", "detail": event.detail()}
    )
    assert text.startswith("[mlops-dev] EventRejected: deployer rejected an event (no known model): malformed-event")
    assert "correlationId evt-42" in text
    assert "null" not in text


def test_the_deployer_checks_every_model_every_ten_minutes_through_the_configured_handler(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic check: a schedule rule (EventBridge "rate(10 minutes)") whose only target is the deployer."""
    # Given the synthesized check rule
    template = templates["automation"]
    [rule] = [
        resolver.resolve(r["Properties"], template)
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("Name") == "mlops-dev-deployer-check"
    ]
    deployer_handler, environment = _function(templates, resolver, "mlops-dev-deployer")
    # Then it fires every ten minutes into the deployer only, with retries and a dead-letter queue
    assert rule["ScheduleExpression"] == "rate(10 minutes)"
    [target] = rule["Targets"]
    assert target["Arn"].endswith(":function:mlops-dev-deployer")
    assert target["DeadLetterConfig"]["Arn"].endswith(":mlops-dev-events-dlq")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 600}
    # And the deployer, as configured, handles the Scheduled Event it sends: with no endpoint, nothing is created
    _deploy_model_state(templates, resolver)
    scheduled = {
        **load_event("scheduled_event"),
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule['Name']}"],
    }
    result = _invoke(deployer_handler, environment, scheduled, monkeypatch)
    assert result["action"] == "checked"
    assert result["models"]["churn"]["action"] == "ignored"
    assert boto3.client("sagemaker", region_name=REGION).list_endpoints()["Endpoints"] == []


def _rule(templates: dict[str, dict[str, Any]], resolver: Resolver, unit: str, name: str) -> dict[str, Any]:
    """One synthesized rule's properties, resolved as CloudFormation would."""
    template = templates[unit]
    [rule] = [
        resolver.resolve(r["Properties"], template)
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"].get("Name") == name
    ]
    return rule


def _only_target(rule: dict[str, Any]) -> str:
    [target] = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"].endswith(":mlops-dev-events-dlq")
    return str(target["Arn"])


LAUNCHER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mlops-dev-monitoring-launcher"


def test_the_monitoring_schedule_reaches_the_launcher_which_monitors_that_model(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model stack's monitoring rule fires on the model's schedule into the launcher only.

    A scheduled rule sends a "Scheduled Event" naming the rule's ARN in `resources` (EventBridge
    User Guide, "Creating a rule that runs on a schedule in Amazon EventBridge",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html).
    """
    # Given the synthesized monitoring schedule of churn
    rule = _rule(templates, resolver, "model-churn", "mlops-dev-churn-monitoring")
    # Then it runs daily (the default monitoring.schedule) into the launcher, with a dead-letter queue
    assert rule["ScheduleExpression"] == "rate(1 day)"
    assert _only_target(rule) == LAUNCHER_ARN
    # And the launcher, as configured, takes its Scheduled Event for churn: no champion yet, so nothing starts
    _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-monitoring-launcher")
    scheduled = {
        **load_event("scheduled_event"),
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule['Name']}"],
    }
    result = _invoke(handler, environment, scheduled, monkeypatch)
    assert (result["action"], result["model"]) == ("skipped", "churn")
    assert result["reason"].startswith("no-champion")
    assert boto3.client("sagemaker", region_name=REGION).list_processing_jobs()["ProcessingJobSummaries"] == []


def ground_truth_landed(key: str) -> dict[str, Any]:
    """S3 "Object Created" for a label file in the data bucket (Amazon S3 User Guide, "EventBridge
    event message structure", https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html)."""
    event = _with(load_event("s3_object_created"), ["detail", "object", "key"], key)
    event["detail"]["reason"] = "PutObject"
    return event


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("monitoring/churn/ground-truth/2026/11/30/labels-0001.jsonl", {"mlops-dev-ground-truth-landed-0"}),
        ("monitoring/churn/ground-truth/labels.jsonl", {"mlops-dev-ground-truth-landed-0"}),
        # Capture and reports are written by SageMaker and the job: neither starts a run
        ("monitoring/churn/capture/mlops-dev-churn/AllTraffic/2026/11/30/06/c.jsonl", set()),
        ("monitoring/churn/reports/watermark.json", set()),
        ("monitoring/fraud/ground-truth/labels.jsonl", set()),
    ],
    ids=["labels", "labels-flat", "capture", "reports", "unmonitored-model"],
)
def test_ground_truth_reaches_the_launcher_and_not_the_retraining_trigger(
    routed: Any, key: str, expected: set[str]
) -> None:
    routed.put(ground_truth_landed(key))
    assert set(routed.matched()) == expected


def test_a_label_file_routed_to_the_configured_launcher_asks_for_its_models_run(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the ground-truth rule, whose only target is the launcher
    assert _only_target(_rule(templates, resolver, "automation", "mlops-dev-ground-truth-landed-0")) == LAUNCHER_ARN
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-monitoring-launcher")
    # When churn's labels land and the rule delivers them
    routed.put(ground_truth_landed("monitoring/churn/ground-truth/2026/11/30/labels-0001.jsonl"))
    (delivered,) = routed.matched()["mlops-dev-ground-truth-landed-0"]
    result = _invoke(handler, environment, delivered, monkeypatch)
    # Then the launcher handles it for churn (no champion yet: nothing starts), and no pipeline runs
    assert (result["action"], result["model"]) == ("skipped", "churn")
    assert result["reason"].startswith("no-champion")
    executions = boto3.client("sagemaker", region_name=REGION).list_pipeline_executions(PipelineName=pipeline)
    assert executions["PipelineExecutionSummaries"] == []


def alarm_entered(templates: dict[str, dict[str, Any]], resolver: Resolver, alarm_name: str) -> dict[str, Any]:
    """The event CloudWatch sends when the synthesized alarm `alarm_name` enters ALARM.

    Shape: CloudWatch User Guide, "Alarm events and EventBridge"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html):
    source aws.cloudwatch, detail-type "CloudWatch Alarm State Change", detail.alarmName,
    detail.state.value, detail.previousState and detail.configuration.metrics[].metricStat.
    """
    template = templates["model-churn"]
    [alarm] = [
        resolver.resolve(r["Properties"], template)
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("AlarmName") == alarm_name
    ]
    event = load_event("cloudwatch_drift_alarm")
    event["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm_name}"]
    event["detail"]["alarmName"] = alarm_name
    event["detail"]["configuration"] = {
        "description": alarm.get("AlarmDescription", ""),
        "metrics": [
            {
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": alarm["Namespace"],
                        "name": alarm["MetricName"],
                        "dimensions": {d["Name"]: d["Value"] for d in alarm["Dimensions"]},
                    },
                    "period": alarm["Period"],
                    "stat": alarm["Statistic"],
                },
                "returnData": True,
            }
        ],
    }
    return event


@pytest.mark.parametrize(
    ("alarm_name", "metric", "rule", "reason"),
    [
        ("mlops-dev-churn-quality", "accuracy", "mlops-dev-quality-alarm-0", "quality"),
        ("mlops-dev-churn-drift", contract.DRIFTED_FEATURE_SHARE, "mlops-dev-drift-alarm-0", "drift"),
    ],
    ids=["quality", "drift"],
)
def test_an_alarm_on_a_metric_the_monitoring_publishes_retrains_once_with_its_reason_and_is_audited(
    routed: Any,
    templates: dict[str, dict[str, Any]],
    resolver: Resolver,
    monkeypatch: pytest.MonkeyPatch,
    alarm_name: str,
    metric: str,
    rule: str,
    reason: str,
) -> None:
    # Given churn's alarm as synthesized: it watches what the monitoring job publishes for churn
    event = alarm_entered(templates, resolver, alarm_name)
    (watched,) = event["detail"]["configuration"]["metrics"]
    assert watched["metricStat"]["metric"] == {
        "namespace": contract.metric_namespace("mlops-dev"),
        "name": metric,
        "dimensions": contract.metric_dimensions("churn", "mlops-dev-churn"),
    }
    pipeline = _deploy_model_state(templates, resolver)
    handler, environment = _function(templates, resolver, "mlops-dev-retraining-trigger")
    # When it enters ALARM
    routed.put(event)
    matched = routed.matched()
    # Then its retraining rule (targeting the trigger) and the audit trail take it, and nothing else
    assert set(matched) == {rule, "mlops-dev-audit-alarms"}
    assert _only_target(_rule(templates, resolver, "automation", rule)).endswith(
        ":function:mlops-dev-retraining-trigger"
    )
    # And the configured trigger, given the event twice (EventBridge delivers at least once), starts one run
    (delivered,) = matched[rule]
    first = _invoke(handler, environment, delivered, monkeypatch)
    second = _invoke(handler, environment, delivered, monkeypatch)
    executions = boto3.client("sagemaker", region_name=REGION).list_pipeline_executions(PipelineName=pipeline)
    assert (first["outcome"], first["trigger"]) == ("started", reason)
    assert second["outcome"] in {"duplicate", "coalesced"}
    assert len(executions["PipelineExecutionSummaries"]) == 1


def test_a_failed_monitoring_job_is_told_to_the_topic_with_its_name_and_reason(
    routed: Any, templates: dict[str, dict[str, Any]], resolver: Resolver
) -> None:
    # Given a monitoring job of churn that failed (SageMaker's Processing Job State Change)
    failed = load_event("processing_job_failed")
    # When it is routed
    routed.put(failed)
    (delivered,) = routed.matched()["mlops-dev-notify-monitoring-failed"]
    # Then the rule publishes to the platform's topic, with a dead-letter queue
    rule = _rule(templates, resolver, "automation", "mlops-dev-notify-monitoring-failed")
    assert _only_target(rule) == f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-dev-notifications"
    # And the message names the job and why it failed, with no empty field
    text = _notification(templates, "mlops-dev-notify-monitoring-failed", delivered)
    assert text.startswith("[mlops-dev] Monitoring job mlops-dev-monitor-churn-20250316030000 failed: ")
    assert "AlgorithmError: no baseline schema at the given URI" in text
    assert "null" not in text
