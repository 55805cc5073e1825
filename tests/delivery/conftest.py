"""The three-account delivery app, synthesized once per test process."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_delivery
from stacks.delivery_stack import DeliveryStack
from tests import synth_cache
from tests.delivery.fixtures import three_accounts
from tests.synth import StoredTemplate, cdk_context, new_app


@cache
def delivery_app() -> tuple[cdk.App, DeliveryStack]:
    """The pipeline stack of the three-account fixture (cdk.json's feature flags, the fixture's platform)."""
    context = cdk_context()
    context["platform"] = three_accounts()
    app = new_app(context)
    build_delivery(app, context["platform"])
    (stack,) = [c for c in app.node.children if isinstance(c, DeliveryStack)]
    return app, stack


@cache
def _delivery_templates() -> dict[str, Any]:
    """The pipeline stack's template and each stage's templates, kept as tests/synth_cache.py says."""
    context = cdk_context()
    context["platform"] = three_accounts()

    def create() -> dict[str, Any]:
        stack = delivery_app()[1]
        return {
            "pipeline": {"stack_name": stack.stack_name, "region": stack.region, "template": _json(stack)},
            "stages": {
                name: {staged.stack_name: _json(staged) for staged in stage.platform.stacks}
                for name, stage in stack.stages.items()
            },
        }

    found: dict[str, Any] = synth_cache.get_or_create(synth_cache.key_for("delivery", context), create)
    return found


def _json(stack: cdk.Stack) -> dict[str, Any]:
    # Template.from_stack synthesizes the app: every gate has run on what is kept.
    found: dict[str, Any] = Template.from_stack(stack).to_json()
    return found


def pipeline_template() -> StoredTemplate:
    """The pipeline stack's template."""
    pipeline = _delivery_templates()["pipeline"]
    return StoredTemplate(pipeline["stack_name"], pipeline["region"], pipeline["template"])


def staged_templates(env_name: str) -> dict[str, dict[str, Any]]:
    """The templates the pipeline's stage of `env_name` deploys, by stack name (a fresh copy)."""
    return copy.deepcopy(_delivery_templates()["stages"][env_name])
