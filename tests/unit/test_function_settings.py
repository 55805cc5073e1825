"""Opt-in reserved concurrency per handler: validated in config, applied only where asked for."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import HANDLER_NAMES, MAX_RESERVED_CONCURRENCY, ConfigError, load_environment
from stacks.constructs.platform_functions import HANDLERS
from tests.synth import cdk_context, synth


def with_functions(functions: object) -> dict[str, Any]:
    platform: dict[str, Any] = copy.deepcopy(cdk_context()["platform"])
    platform["environments"]["dev"]["functions"] = functions
    return platform


def test_the_config_knows_every_handler_by_its_name() -> None:
    assert {spec.name for spec in HANDLERS} == set(HANDLER_NAMES)


def test_no_reservation_unless_configured() -> None:
    assert load_environment(cdk_context()["platform"], "dev").functions.reserved_concurrency == {}


def test_a_configured_reservation_is_read() -> None:
    config = load_environment(with_functions({"reserved_concurrency": {"deployer": 1, "model-gate": 2}}), "dev")
    assert config.functions.reserved_concurrency == {"deployer": 1, "model-gate": 2}


@pytest.mark.parametrize(
    ("functions", "path", "expected"),
    [
        ({"reserved_concurrency": {"trigger": 1}}, "functions.reserved_concurrency.trigger", "a handler name"),
        ({"reserved_concurrency": {"deployer": 0}}, "functions.reserved_concurrency.deployer", "from 1 to 900"),
        ({"reserved_concurrency": {"deployer": True}}, "functions.reserved_concurrency.deployer", "from 1 to 900"),
        ({"reserved_concurrency": {"deployer": "1"}}, "functions.reserved_concurrency.deployer", "from 1 to 900"),
        (
            {"reserved_concurrency": {"deployer": 500, "model-gate": 401}},
            "functions.reserved_concurrency",
            f"at most {MAX_RESERVED_CONCURRENCY} in total",
        ),
        ({"reserved_concurrency": [1]}, "functions.reserved_concurrency", "an object"),
        ({"reserve": {}}, "functions.reserve", "no such key"),
    ],
)
def test_bad_reservations_name_the_key_and_what_is_allowed(functions: object, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_environment(with_functions(functions), "dev")
    assert error.value.path == f"platform.environments.dev.{path}"
    assert expected in str(error.value)


def test_only_the_configured_handler_reserves_concurrency() -> None:
    """Given a reservation for the deployer, then the deployer reserves exactly that and the
    other handlers reserve nothing."""
    _, templates = synth("dev", with_functions({"reserved_concurrency": {"deployer": 2}}))
    functions = templates["automation"].find_resources("AWS::Lambda::Function")
    reserved = {
        props["Properties"]["FunctionName"]: props["Properties"].get("ReservedConcurrentExecutions")
        for props in functions.values()
    }
    assert reserved == {
        "mlops-dev-retraining-trigger": None,
        "mlops-dev-model-gate": None,
        "mlops-dev-deployer": 2,
        "mlops-dev-monitoring-launcher": None,
    }
