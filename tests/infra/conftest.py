"""The routing world of a test module's synthesized rules (its `templates` and `resolver` fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from tests.cfn import REGION, Resolver
from tests.handlers.clients import POOL
from tests.infra.routing import RoutingWorld, synthesized_rules


@pytest.fixture(scope="module")
def routing_world(templates: dict[str, dict[str, Any]], resolver: Resolver) -> Iterator[RoutingWorld]:
    """moto EventBridge with the module's synthesized rules, built once for the module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }.items():
            patch.setenv(key, value)
        with mock_aws():
            yield RoutingWorld(synthesized_rules(templates, resolver))


@pytest.fixture
def routed(routing_world: RoutingWorld) -> Iterator[RoutingWorld]:
    """The routing world as if just built: no message in any queue, no other service's state."""
    routing_world.reset()
    with POOL.lend():
        yield routing_world
