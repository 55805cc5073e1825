"""IAM policy sizes: every policy the stacks create fits IAM's quotas, however many models.

IAM User Guide, "IAM and AWS STS quotas"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): a managed
policy holds at most 6,144 characters and a role's inline policies at most 10,240 characters
in total; "IAM doesn't count white space when calculating the size of a policy". A policy over
either limit is refused when CloudFormation creates it, after synth has accepted the config, so
the sizes are measured here on the resolved documents (the values CloudFormation would put in),
at every environment, the configurations at the limits and a hundred models of each MLflow kind.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest

from stacks.config import load_environment
from stacks.constructs.managed_mlflow import MAX_MODELS_NAMED_IN_POLICIES
from tests.access.cfn_resolver import Resolver
from tests.contracts.conftest import CONFIGURATIONS, Synthesized, synthesized
from tests.synth import cdk_context, synth

MANAGED_POLICY_LIMIT = 6144
ROLE_INLINE_LIMIT = 10240
MANY_MODELS = 100


def _size(document: Any) -> int:
    """Characters IAM counts: the JSON text without white space."""
    return len("".join(json.dumps(document, separators=(",", ":")).split()))


@cache
def _stacks(label: str) -> dict[str, dict[str, Any]]:
    """Templates by stack name for a configuration label, including the hundred-model ones."""
    if label.startswith(("many-", "named-")):
        size, kind = label.split("-", 1)
        batch = kind.endswith(BATCH_SUFFIX)
        kind = kind.removesuffix(BATCH_SUFFIX)
        count = MANY_MODELS if size == "many" else MAX_MODELS_NAMED_IN_POLICIES
        platform_context = copy.deepcopy(cdk_context()["platform"])
        dev = platform_context["environments"]["dev"]
        dev["mlflow"] = {"kind": kind} if kind == "app" else dev["mlflow"]
        # Long model names (24 characters), so each named model costs close to the most it can.
        dev["models"] = [{"name": f"m{index:03d}" + "x" * 20} for index in range(count)]
        if batch:
            # Every grant at once: batch transform (inputs named per model) beside monitoring of
            # every model, half of them served by batch only.
            for index, model in enumerate(dev["models"]):
                model["batch"] = {"schedule": "rate(1 day)"}
                if index % 2:
                    model["serving"] = "batch"
        return Synthesized.of(
            label, synth("dev", platform_context), load_environment(platform_context, "dev")
        ).by_stack_name()
    return synthesized(label).by_stack_name()


def _measure(label: str) -> tuple[dict[str, int], dict[str, int]]:
    """(managed policy sizes by logical path, inline policy totals by role logical path)."""
    stacks = _stacks(label)
    resolver = Resolver(stacks)
    managed: dict[str, int] = {}
    inline: dict[str, int] = {}
    for stack in resolver.stack_names:
        for logical, resource in resolver.template(stack).get("Resources", {}).items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                managed[f"{stack}/{logical}"] = _size(resolver.resolve(stack, props["PolicyDocument"]))
            elif resource["Type"] == "AWS::IAM::Policy":
                size = _size(resolver.resolve(stack, props["PolicyDocument"]))
                for role in props.get("Roles", []):
                    key = f"{stack}/{role['Ref']}"
                    inline[key] = inline.get(key, 0) + size
            elif resource["Type"] == "AWS::IAM::Role":
                for policy in props.get("Policies", []):
                    key = f"{stack}/{logical}"
                    inline[key] = inline.get(key, 0) + _size(resolver.resolve(stack, policy["PolicyDocument"]))
    return managed, inline


# The most models still named one by one, and a hundred, are measured with both MLflow kinds: an
# App's policies name each model in more statements, a tracking server's carry longer ARNs.
# The "-batch" labels give every model batch transform beside platform monitoring, half of them
# served by batch only, so every grant of both features is measured together.
BATCH_SUFFIX = "-batch"
LABELS = (
    *CONFIGURATIONS,
    "named-app",
    "named-tracking-server",
    "many-app",
    "many-tracking-server",
    "named-app-batch",
    "many-app-batch",
    "many-tracking-server-batch",
)


@pytest.mark.parametrize("label", LABELS)
def test_every_policy_fits_iams_size_quotas(label: str) -> None:
    managed, inline = _measure(label)
    assert managed, "no managed policy measured"
    too_big = {path: size for path, size in managed.items() if size > MANAGED_POLICY_LIMIT}
    assert too_big == {}, f"managed policies over {MANAGED_POLICY_LIMIT} characters: {too_big}"
    too_big = {path: size for path, size in inline.items() if size > ROLE_INLINE_LIMIT}
    assert too_big == {}, f"roles whose inline policies exceed {ROLE_INLINE_LIMIT} characters: {too_big}"
