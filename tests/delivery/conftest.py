"""The three-account delivery app, synthesized once per test process."""

from __future__ import annotations

from functools import cache

import aws_cdk as cdk
from aws_cdk.assertions import Template

from app import build_delivery
from stacks.delivery_stack import DeliveryStack
from tests.delivery.fixtures import three_accounts
from tests.synth import cdk_context, new_app


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
def pipeline_template() -> Template:
    """The pipeline stack's template (synthesizes the app, so every gate has run)."""
    return Template.from_stack(delivery_app()[1])
