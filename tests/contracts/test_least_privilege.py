"""Least privilege that stays least: a wildcard is granted only where it is acknowledged.

cdk-nag names a wildcard finding by its resource alone (`AwsSolutions-IAM5[Resource::*]`), so
an acknowledgement written for one statement on `*` silently covers any later statement on
`*` in the same role. The platform's own check compares every (action, resource) pair with a
wildcard in the synthesized policies with the pairs acknowledged for that role or policy, and
stops synthesis naming what is not covered.

AWS documentation relied on:
- AWS KMS Developer Guide, "Creating a key policy"
  (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html): in a key
  policy, `"Resource": "*"` means "this KMS key", so it is no wildcard there.
- AWS KMS Developer Guide, "AWS KMS condition keys", kms:GrantIsForAWSResource
  (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html): set to true, it
  allows CreateGrant only when an AWS service integrated with AWS KMS calls it on the
  principal's behalf, never directly; the documented form is
  `"Bool": {"kms:GrantIsForAWSResource": true}`.
- SageMaker Developer Guide, "Automatically register SageMaker AI models with SageMaker Model
  Registry": a model registered in MLflow becomes a package version in the group
  `<MLflow model name>-<suffix>`, the suffix being the first six characters of the SHA-256
  hash of the last segment of the tracking server or MLflow App ARN.
- IAM User Guide, "IAM JSON policy elements: Resource"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html):
  `?` in an ARN matches any single character, so `<model>-??????` matches a six-character suffix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam

from stacks.config import load_environment
from stacks.naming import mlflow_name
from stacks.platform import Platform, build_platform
from tests.access.cfn_resolver import Resolver
from tests.contracts.conftest import Synthesized, synthesized
from tests.synth import cdk_context, new_app, synth

ENVIRONMENTS = ("dev", "staging", "prod")

# Grants that once passed every gate when added next to an acknowledged `*`.
ROGUE_GRANTS = [
    ("iam:PassRole", "*"),
    ("s3:DeleteObject", "*"),
    ("sagemaker:UpdateModelPackage", "*"),
]


def _function_role(name: str) -> Callable[[Platform], tuple[iam.IRole, Callable[[iam.PolicyStatement], Any]]]:
    def locate(platform: Platform) -> tuple[iam.IRole, Callable[[iam.PolicyStatement], Any]]:
        role = getattr(platform.automation, name).role
        return role, role.add_to_principal_policy

    return locate


def _data_scientist(platform: Platform) -> tuple[iam.IRole, Callable[[iam.PolicyStatement], Any]]:
    # The persona's own managed policy: the one whose SageMakerRead statement is acknowledged on `*`.
    role = platform.access.personas.data_scientist
    stack = Stack.of(role)
    policies = [
        child
        for child in platform.access.personas.node.children
        if isinstance(child, iam.ManagedPolicy)
        and stack.resolve(role.role_name) in stack.resolve(child.node.default_child.roles)  # type: ignore[union-attr]
    ]
    assert len(policies) == 1, "the DataScientist has one managed policy of its own"
    return role, policies[0].add_statements


ROLES = {
    "retraining-trigger": _function_role("trigger"),
    "model-gate": _function_role("gate"),
    "deployer": _function_role("deployer"),
    "DataScientist": _data_scientist,
}


def _dev_platform() -> tuple[App, Platform]:
    context = cdk_context()
    app = new_app(context)
    return app, build_platform(app, load_environment(context["platform"], "dev"))


def _names_the_grant(report: str, role_name: str, action: str, resource: str) -> bool:
    """Whether one line of the report names the role, the action and the resource together."""
    quoted = re.escape(json.dumps(resource))
    pattern = rf"{re.escape(role_name)}\b.*{re.escape(action)}\b.*{quoted}"
    return any(re.search(pattern, line) for line in report.splitlines())


@pytest.mark.parametrize(("action", "resource"), ROGUE_GRANTS, ids=[a for a, _ in ROGUE_GRANTS])
def test_an_unacknowledged_wildcard_grant_stops_synthesis(action: str, resource: str) -> None:
    # Given the dev platform, where each of these roles already holds an acknowledged grant on `*`
    app, platform = _dev_platform()
    role_names = {}
    for role_key, role_of in ROLES.items():
        role, add = role_of(platform)
        role_names[role_key] = str(role.node.default_child.role_name)  # type: ignore[union-attr]
        # When a grant of `action` on `resource` is added next to it
        add(iam.PolicyStatement(actions=[action], resources=[resource]))
    # Then synthesis fails, and the report names every one of those roles with the action and the resource
    # (one synthesis for the four roles: the check reports every uncovered grant, not only the first)
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    report = str(failure.value)
    missing = [key for key, name in role_names.items() if not _names_the_grant(report, name, action, resource)]
    assert missing == [], report[:3000]


# Metadata type of a wildcard acknowledgement in the cloud assembly.
ACKNOWLEDGEMENT = "platform:wildcard-acknowledgement"
WILDCARD = re.compile(r"[*?]")


def _granted_pairs(template: dict[str, Any], logical_id: str) -> Iterator[tuple[str, str, bool]]:
    """(action, resource as JSON, has a wildcard) of every Allow grant of one policy-holding resource."""
    resource = template["Resources"][logical_id]
    properties = resource.get("Properties", {})
    documents = [properties.get(key) for key in ("PolicyDocument", "KeyPolicy")]
    documents += (
        [p["PolicyDocument"] for p in properties.get("Policies", [])] if resource["Type"] == "AWS::IAM::Role" else []
    )
    for document in documents:
        # A policy held as a string (a logs resource policy) is not parsed here.
        if not isinstance(document, dict) or "Statement" not in document:
            continue
        for statement in _as_list(document["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            for action in _as_list(statement.get("Action")):
                for target in _as_list(statement.get("Resource")):
                    # A key policy's "*" is the key itself (AWS KMS Developer Guide, "Creating a key policy").
                    wild_target = bool(WILDCARD.search(json.dumps(target))) and not (
                        resource["Type"] == "AWS::KMS::Key" and target == "*"
                    )
                    yield action, json.dumps(target, sort_keys=True), bool(WILDCARD.search(action)) or wild_target


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_wildcard_is_acknowledged_by_the_statement_that_grants_it(env_name: str) -> None:
    # Given the environment as cdk.json configures it, synthesized into a cloud assembly
    env = synthesized(env_name)
    wildcard_grants = 0
    for unit, template in env.templates.items():
        metadata = env.metadata[unit]
        paths = {
            e["data"]: path for path, entries in metadata.items() for e in entries if e["type"] == "aws:cdk:logicalId"
        }
        acknowledgements = [
            (path, e["data"]) for path, entries in metadata.items() for e in entries if e["type"] == ACKNOWLEDGEMENT
        ]
        granted: dict[str, set[tuple[str, str]]] = {}
        for logical_id in template["Resources"]:
            for action, target, wild in _granted_pairs(template, logical_id):
                path = paths[logical_id]
                granted.setdefault(path, set()).add((action, target))
                if not wild:
                    continue
                wildcard_grants += 1
                # Then each wildcard grant is listed, action and resource, by an acknowledgement of its own policy
                listed = [
                    p
                    for p, data in acknowledgements
                    if (path == p or path.startswith(p + "/"))
                    and action in data["actions"]
                    and target in {json.dumps(r, sort_keys=True) for r in data["resources"]}
                ]
                assert listed, f"{path}: {action} on {target} is granted without an acknowledgement that lists it"
        # And each acknowledgement lists only grants that its policies make (no spare action or resource)
        for p, data in acknowledgements:
            below = set().union(*(pairs for path, pairs in granted.items() if path == p or path.startswith(p + "/")))
            listed_pairs = {(a, json.dumps(r, sort_keys=True)) for a in data["actions"] for r in data["resources"]}
            assert listed_pairs <= below, f"{p} acknowledges grants it does not make: {sorted(listed_pairs - below)}"
            assert len(data["reason"]) >= 40, f"{p}: reason too thin: {data['reason']!r}"
    assert wildcard_grants, "the platform grants wildcards (X-Ray, log streams, ...); none were found"


def _policy_statements(env: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(unit, logical id, statement) of every identity-based policy statement."""
    for unit, template in env.templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            properties = resource.get("Properties", {})
            documents = []
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents.append(properties["PolicyDocument"])
            elif resource["Type"] == "AWS::IAM::Role":
                documents.extend(p["PolicyDocument"] for p in properties.get("Policies", []))
            for document in documents:
                for statement in document["Statement"]:
                    yield unit, logical_id, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_create_grant_is_only_allowed_for_aws_resources(env_name: str) -> None:
    # Given every identity-based statement of the environment
    env = synthesized(env_name)
    granting = [
        (unit, logical_id, statement)
        for unit, logical_id, statement in _policy_statements(env)
        if statement["Effect"] == "Allow" and "kms:CreateGrant" in _as_list(statement.get("Action", []))
    ]
    # Then the pipeline role may create grants (training volumes are encrypted with the key) ...
    assert granting, "no statement allows kms:CreateGrant; the pipeline role needs it"
    for unit, logical_id, statement in granting:
        where = f"{unit}/{logical_id}/{statement.get('Sid')}"
        # ... only in a statement of its own, and only when an AWS service asks on its behalf
        assert _as_list(statement["Action"]) == ["kms:CreateGrant"], where
        assert statement.get("Condition") in (
            {"Bool": {"kms:GrantIsForAWSResource": True}},
            {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ), where


def _registration_resources(env: Synthesized) -> list[str] | None:
    """The resources of the MLflow service role's AutomaticModelRegistration statement, resolved."""
    resolver = Resolver({env.stack_names["tracking"]: env.templates["tracking"]})
    found = [
        (logical_id, statement)
        for unit, logical_id, statement in _policy_statements(env)
        if unit == "tracking" and statement.get("Sid") == "AutomaticModelRegistration"
    ]
    if not found:
        return None
    assert len(found) == 1, found
    resources = resolver.resolve(env.stack_names["tracking"], found[0][1]["Resource"])
    return sorted(_as_list(resources))


def _expected_registration_resources(env: Synthesized, group_suffix: str) -> list[str]:
    sagemaker = "arn:aws:sagemaker:eu-west-1:123456789012"
    expected = []
    for model in env.config.models:
        expected.append(f"{sagemaker}:model-package-group/{model.name}-{group_suffix}")
        expected.append(f"{sagemaker}:model-package/{model.name}-{group_suffix}/*")
    return sorted(expected)


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_mlflow_registers_only_the_configured_models_of_this_server(env_name: str) -> None:
    # Given a tracking server, whose name (the last segment of its ARN) is known at synth time
    env = synthesized(env_name)
    server_name = mlflow_name(env.config)
    suffix = hashlib.sha256(server_name.encode()).hexdigest()[:6]
    # Then its service role may create and update only the package groups and versions of the
    # configured models, in the groups this server's automatic registration names
    resources = _registration_resources(env)
    if not env.config.models:
        assert resources is None, "no model is configured, so nothing may be registered"
    else:
        assert resources == _expected_registration_resources(env, suffix)


@cache
def _app_platform() -> Synthesized:
    platform_context = cdk_context()["platform"]
    platform_context["environments"]["dev"]["mlflow"] = {"kind": "app"}
    return Synthesized.of("dev-app", synth("dev", platform_context), load_environment(platform_context, "dev"))


def test_an_mlflow_app_registers_only_the_configured_models_whatever_its_id() -> None:
    # Given an MLflow App, whose ID (and so the group suffix) is only known once it exists
    env = _app_platform()
    assert env.config.models, "the dev configuration has a model"
    # Then the groups are matched by model name and a six-character suffix
    assert _registration_resources(env) == _expected_registration_resources(env, "??????")
