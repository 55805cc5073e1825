"""The model lock table, as synthesized: encrypted, recoverable, and used item by item by the three handlers."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from platform_common import env_names, lease
from platform_common.promotion import PROMOTION_LEASE_SECONDS
from stacks.constructs import model_locks
from stacks.constructs.platform_functions import DEPLOYER, MODEL_GATE, RETRAINING_TRIGGER

HANDLERS = (
    "mlops-dev-retraining-trigger",
    "mlops-dev-model-gate",
    "mlops-dev-deployer",
    "mlops-dev-monitoring-launcher",
)


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


def _function(automation: Template, name: str = "mlops-dev-retraining-trigger") -> dict[str, Any]:
    functions = automation.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": name}})
    return _only(functions)[1]


def test_trigger_is_told_the_table_name(automation: Template) -> None:
    table_id, _ = _only(automation.find_resources("AWS::DynamoDB::Table"))
    variables = _function(automation)["Properties"]["Environment"]["Variables"]
    assert variables[env_names.RETRAINING_LOCK_TABLE_NAME] == {"Ref": table_id}


@pytest.mark.parametrize("name", ["mlops-dev-model-gate", "mlops-dev-deployer"])
def test_gate_and_deployer_are_told_the_table_name(automation: Template, name: str) -> None:
    table_id, _ = _only(automation.find_resources("AWS::DynamoDB::Table"))
    variables = _function(automation, name)["Properties"]["Environment"]["Variables"]
    assert variables[env_names.MODEL_LOCK_TABLE_NAME] == {"Ref": table_id}


def test_only_the_three_handlers_may_use_the_table_and_only_item_by_item(automation: Template) -> None:
    table_id, _ = _only(automation.find_resources("AWS::DynamoDB::Table"))
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    policies = automation.find_resources("AWS::IAM::Policy")
    grants = [
        (policy_id, statement)
        for policy_id, policy in policies.items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in _actions(statement))
    ]
    roles = [{"Ref": _function(automation, name)["Properties"]["Role"]["Fn::GetAtt"][0]} for name in HANDLERS]
    assert sorted(
        (r for policy_id, _ in grants for r in policies[policy_id]["Properties"]["Roles"]), key=str
    ) == sorted(roles, key=str)
    for _, statement in grants:
        assert _actions(statement) == set(model_locks.ITEM_ACTIONS)
        assert statement["Resource"] == table_arn
        assert statement["Effect"] == "Allow"


@pytest.mark.parametrize("name", HANDLERS)
def test_handlers_may_use_the_key_through_dynamodb_only(automation: Template, name: str) -> None:
    (key_id,) = automation.find_resources("AWS::KMS::Key")
    role = _function(automation, name)["Properties"]["Role"]["Fn::GetAtt"][0]
    [statement] = [s for s in _statements_of(automation, role) if s.get("Sid") == "UseModelLocksKey"]
    assert statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert _actions(statement) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    }


def test_a_lease_outlives_the_function_that_holds_it(automation: Template) -> None:
    """An expired lease must mean its holder has ended; Lambda stops an invocation at its timeout."""
    timeout = _function(automation)["Properties"]["Timeout"]
    assert timeout == RETRAINING_TRIGGER.timeout_seconds
    assert timeout < lease.LEASE_SECONDS
    assert timeout > lease.WAIT_SECONDS


@pytest.mark.parametrize(("name", "spec"), [("mlops-dev-model-gate", MODEL_GATE), ("mlops-dev-deployer", DEPLOYER)])
def test_a_promotion_lease_outlives_the_gate_and_the_deployer(automation: Template, name: str, spec: Any) -> None:
    """The gate and the deployer share `<model>#promotion` leases; each must end before its lease expires."""
    timeout = _function(automation, name)["Properties"]["Timeout"]
    assert timeout == spec.timeout_seconds
    assert timeout < PROMOTION_LEASE_SECONDS
    assert timeout > lease.WAIT_SECONDS
