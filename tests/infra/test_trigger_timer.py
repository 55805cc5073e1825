"""The retraining trigger's window timer, as synthesized: one schedule group, one narrow role, narrow grants."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from platform_common import env_names


def _only(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = resources.items()
    return logical_id, resource


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@pytest.fixture(scope="module")
def automation(dev_templates: dict[str, Template]) -> Template:
    return dev_templates["automation"]


def _trigger(automation: Template) -> dict[str, Any]:
    functions = automation.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "mlops-dev-retraining-trigger"}}
    )
    return _only(functions)[1]


def _timer_role(automation: Template) -> tuple[str, dict[str, Any]]:
    roles = automation.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "mlops-dev-retraining-window"}})
    return _only(roles)


def _statements(automation: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in automation.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_one_schedule_group_for_the_window_schedules(automation: Template) -> None:
    _, group = _only(automation.find_resources("AWS::Scheduler::ScheduleGroup"))
    assert group["Properties"]["Name"] == "mlops-dev-retraining-window"


def test_only_eventbridge_scheduler_acting_for_that_group_may_use_the_timer_role(automation: Template) -> None:
    _, role = _timer_role(automation)
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnEquals": {"aws:SourceArn": _scheduler_arn("schedule-group/mlops-dev-retraining-window")},
    }


def _scheduler_arn(resource: str) -> dict[str, Any]:
    parts = ["arn:", {"Ref": "AWS::Partition"}, ":scheduler:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}]
    return {"Fn::Join": ["", [*parts, f":{resource}"]]}


def test_timer_role_may_invoke_the_trigger_and_dead_letter_nothing_else(automation: Template) -> None:
    role_id, _ = _timer_role(automation)
    (key_id,) = automation.find_resources("AWS::KMS::Key")
    trigger_id = _only(
        automation.find_resources(
            "AWS::Lambda::Function", {"Properties": {"FunctionName": "mlops-dev-retraining-trigger"}}
        )
    )[0]
    queues = automation.find_resources("AWS::SQS::Queue", {"Properties": {"QueueName": "mlops-dev-events-dlq"}})
    queue_id, _ = _only(queues)
    granted = {
        (frozenset(_actions(s)), str(s["Resource"])) for s in _statements(automation, role_id) if s["Effect"] == "Allow"
    }
    assert granted == {
        (frozenset({"lambda:InvokeFunction"}), str({"Fn::GetAtt": [trigger_id, "Arn"]})),
        (frozenset({"sqs:SendMessage"}), str({"Fn::GetAtt": [queue_id, "Arn"]})),
        (frozenset({"kms:GenerateDataKey", "kms:Decrypt"}), str({"Fn::GetAtt": [key_id, "Arn"]})),
    }


def test_trigger_may_create_schedules_in_its_group_only_and_pass_only_the_timer_role(automation: Template) -> None:
    role_id, _ = _timer_role(automation)
    trigger = _trigger(automation)
    statements = _statements(automation, trigger["Properties"]["Role"]["Fn::GetAtt"][0])
    [create] = [s for s in statements if "scheduler:CreateSchedule" in _actions(s)]
    assert _actions(create) == {"scheduler:CreateSchedule"}
    assert create["Resource"] == _scheduler_arn("schedule/mlops-dev-retraining-window/*")
    [passing] = [s for s in statements if "iam:PassRole" in _actions(s)]
    assert passing["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    assert not [
        s
        for s in statements
        if any(a.startswith("scheduler:") and a != "scheduler:CreateSchedule" for a in _actions(s))
    ]


def test_trigger_is_told_the_group_role_and_dead_letter_queue(automation: Template) -> None:
    role_id, _ = _timer_role(automation)
    queue_id, _ = _only(
        automation.find_resources("AWS::SQS::Queue", {"Properties": {"QueueName": "mlops-dev-events-dlq"}})
    )
    variables = _trigger(automation)["Properties"]["Environment"]["Variables"]
    assert variables[env_names.RETRAINING_TIMER_GROUP_NAME] == "mlops-dev-retraining-window"
    assert variables[env_names.RETRAINING_TIMER_ROLE_ARN] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert variables[env_names.RETRAINING_TIMER_DEAD_LETTER_ARN] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_trigger_may_describe_executions_of_the_platforms_pipelines_only(automation: Template) -> None:
    statements = _statements(automation, _trigger(automation)["Properties"]["Role"]["Fn::GetAtt"][0])
    [describe] = [s for s in statements if "sagemaker:DescribePipelineExecution" in _actions(s)]
    assert _actions(describe) == {"sagemaker:DescribePipelineExecution"}
    assert describe["Resource"]["Fn::Join"][1][-1] == ":pipeline/mlops-dev-*/execution/*"
