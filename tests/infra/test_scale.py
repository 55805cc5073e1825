"""The platform keeps scaling with the number of models: one stack each, none near CloudFormation's limit."""

from __future__ import annotations

import pytest

from tests.synth import cdk_context, synth

MODEL_COUNT = 100
# CloudFormation refuses stacks of more than 500 resources; 450 leaves room for growth.
RESOURCE_CEILING = 450

pytestmark = pytest.mark.xdist_group("scale")


@pytest.fixture(scope="module")
def many_models() -> tuple[list[str], dict[str, int]]:
    names = [f"m{index:03d}" for index in range(1, MODEL_COUNT + 1)]
    platform_context = cdk_context()["platform"]
    platform_context["environments"]["dev"]["models"] = [{"name": name} for name in names]
    _, templates = synth("dev", platform_context)
    resources = {unit: len(template.to_json().get("Resources", {})) for unit, template in templates.items()}
    return names, resources


def test_no_stack_reaches_the_resource_ceiling(many_models: tuple[list[str], dict[str, int]]) -> None:
    # Given dev with 100 models, then every stack stays under the ceiling
    _, resources = many_models
    too_big = {unit: count for unit, count in resources.items() if count >= RESOURCE_CEILING}
    assert too_big == {}, f"stacks at or above {RESOURCE_CEILING} resources with {MODEL_COUNT} models"


def test_every_model_has_its_own_stack(many_models: tuple[list[str], dict[str, int]]) -> None:
    # Given dev with 100 models, then each model is deployed by a stack of its own
    names, resources = many_models
    missing = [name for name in names if f"model-{name}" not in resources]
    assert missing == []
    assert len([unit for unit in resources if unit.startswith("model-")]) == MODEL_COUNT
