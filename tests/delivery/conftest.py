"""The three-account delivery app, synthesized once per test process."""

from __future__ import annotations

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
def pipeline_template() -> StoredTemplate:
    """The pipeline stack's template (synthesizes the app, so every gate has run; kept as tests/synth_cache.py says)."""
    context = cdk_context()
    context["platform"] = three_accounts()

    def create() -> dict[str, Any]:
        stack = delivery_app()[1]
        return {
            "stack_name": stack.stack_name,
            "region": stack.region,
            "template": Template.from_stack(stack).to_json(),
        }

    entry = synth_cache.get_or_create(synth_cache.key_for("delivery", context), create)
    return StoredTemplate(entry["stack_name"], entry["region"], entry["template"])
