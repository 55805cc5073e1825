"""The retraining trigger's lock table, as synthesized: encrypted, recoverable, and only the trigger's."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from platform_common import env_names, lease
from stacks.constructs import model_locks
from stacks.constructs.platform_functions import RETRAINING_TRIGGER


def _only(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = resources.items()
    return logical_id, resource


def _statements_of(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@pytest.fixture(scope="module")
def automation(dev_templates: dict[str, Template]) -> Template:
    return dev_templates["automation"]


def test_lock_table_is_encrypted_with_the_automation_key_and_recoverable(automation: Template) -> None:
    (key_id,) = automation.find_resources("AWS::KMS::Key")
    _, table = _only(automation.find_resources("AWS::DynamoDB::Table"))
    props = table["Properties"]
    assert props["TableName"] == "mlops-dev-retraining-lock"
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_lock_table_schema_is_the_one_the_trigger_writes(automation: Template) -> None:
    _, table = _only(automation.find_resources("AWS::DynamoDB::Table"))
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": lease.KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": lease.TTL_ATTRIBUTE, "Enabled": True}
    assert (model_locks.KEY_ATTRIBUTE, model_locks.TTL_ATTRIBUTE) == (lease.KEY_ATTRIBUTE, lease.TTL_ATTRIBUTE)


def test_lock_table_is_not_retained(automation: Template) -> None:
    """It holds leases of two minutes at most; deleting the stack loses nothing worth keeping."""
    _, table = _only(automation.find_resources("AWS::DynamoDB::Table"))
    assert table["DeletionPolicy"] == "Delete"
    assert table["UpdateReplacePolicy"] == "Delete"


def _trigger(automation: Template) -> dict[str, Any]:
    functions = automation.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "mlops-dev-retraining-trigger"}}
    )
    return _only(functions)[1]


def test_trigger_is_told_the_table_name(automation: Template) -> None:
    table_id, _ = _only(automation.find_resources("AWS::DynamoDB::Table"))
    variables = _trigger(automation)["Properties"]["Environment"]["Variables"]
    assert variables[env_names.RETRAINING_LOCK_TABLE_NAME] == {"Ref": table_id}


def test_trigger_may_use_the_key_through_dynamodb_only(automation: Template) -> None:
    (key_id,) = automation.find_resources("AWS::KMS::Key")
    trigger_role = _trigger(automation)["Properties"]["Role"]["Fn::GetAtt"][0]
    [statement] = [s for s in _statements_of(automation, trigger_role) if s.get("Sid") == "UseModelLocksKey"]
    assert statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert _actions(statement) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    }


def test_a_lease_outlives_the_function_that_holds_it(automation: Template) -> None:
    """An expired lease must mean its holder has ended; Lambda stops an invocation at its timeout."""
    timeout = _trigger(automation)["Properties"]["Timeout"]
    assert timeout == RETRAINING_TRIGGER.timeout_seconds
    assert timeout < lease.LEASE_SECONDS
    assert timeout > lease.WAIT_SECONDS
