"""The automation stack's outputs name every function an operator may need to find after a deploy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.synth import synth

ALWAYS = ("RetrainingTriggerFunctionName", "ModelGateFunctionName", "DeployerFunctionName")
LAUNCHERS = ("MonitoringLauncherFunctionName", "BatchLauncherFunctionName")


def _platform(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"prefix": "mlops", "environments": {"dev": {"models": models}}}


def _outputs(models: list[dict[str, Any]]) -> dict[str, Any]:
    _, templates = synth("dev", _platform(models))
    outputs: dict[str, Any] = templates["automation"].to_json()["Outputs"]
    return outputs


def _function_of(output: dict[str, Any]) -> str:
    """The logical id of the function whose name an output carries (a Ref to it)."""
    ref: str = output["Value"]["Ref"]
    return ref


@pytest.fixture(scope="module")
def with_launchers() -> dict[str, Any]:
    # Given an endpoint model watched by the platform's monitoring and a batch-only model.
    churn = {"name": "churn", "schedule": "cron(0 3 ? * MON *)"}
    scores = {"name": "scores", "serving": "batch", "batch": {"schedule": "cron(0 4 * * ? *)"}}
    return _outputs([churn, scores])


@pytest.mark.parametrize("name", ALWAYS + LAUNCHERS)
def test_each_function_is_named_in_an_output(with_launchers: dict[str, Any], name: str) -> None:
    assert name in with_launchers
    assert _function_of(with_launchers[name]).startswith(name.removesuffix("FunctionName"))


def test_launchers_are_named_only_where_they_exist() -> None:
    # Given a model with neither platform monitoring nor batch transform.
    outputs = _outputs([{"name": "churn", "schedule": "cron(0 3 ? * MON *)", "monitoring": {"enabled": False}}])

    assert set(ALWAYS) <= outputs.keys()
    assert outputs.keys().isdisjoint(LAUNCHERS)
