"""A delivery block changes only the registry's sharing and the consumers' promotion intake; the pipeline deploys what `make synth` writes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.delivery.conftest import staged_templates
from tests.delivery.fixtures import three_accounts, without_delivery
from tests.infra.test_snapshots import normalise
from tests.synth import by_stack_name, synth

_PATH_DERIVED = re.compile(r"AllowEventRule[A-Za-z0-9]+")


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_a_delivery_block_changes_only_the_promotion_intake_of_a_consuming_environment(env_name: str) -> None:
    # Given a consuming environment with and without a delivery block (without it, the template
    # snapshots of tests/infra prove the single-account templates byte-identical)
    _, with_block = synth(env_name, three_accounts())
    _, without_block = synth(env_name, without_delivery(three_accounts()))
    # Then only the automation stack (promotion rule, deployer settings and registry reads) and the
    # access stack (the MLOpsEngineer records promotions) differ
    assert sorted(with_block) == sorted(without_block)
    changed = sorted(
        unit for unit, template in with_block.items() if template.to_json() != without_block[unit].to_json()
    )
    assert changed == ["access", "automation"]


def test_a_delivery_block_changes_only_the_registry_data_stack_of_dev() -> None:
    # Given dev with and without a delivery block
    _, with_block = synth("dev", three_accounts())
    _, without_block = synth("dev", without_delivery(three_accounts()))
    # Then only the data stack (bucket and key policies) and the automation stack (the gate shares package groups)
    # differ: staging and prod may read released versions
    changed = sorted(
        unit for unit, template in with_block.items() if template.to_json() != without_block[unit].to_json()
    )
    assert changed == ["automation", "data"]


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_the_pipeline_deploys_what_make_synth_writes(env_name: str) -> None:
    # Given the pipeline's stage for an environment, and that environment synthesized on its own (make synth ENV=...)
    staged = staged_templates(env_name)
    single = by_stack_name(synth(env_name, three_accounts())[1])
    # Then both have the same stacks with the same templates
    assert sorted(staged) == sorted(single)
    for stack_name, template in single.items():
        staged_template = _comparable(staged[stack_name])
        assert staged_template == _comparable(template), stack_name


def _comparable(template: dict[str, Any]) -> dict[str, Any]:
    """The template with the names CDK derives from construct paths taken out.

    CDK names an EventBridge rule's Lambda permission (logical ID) and its dead-letter queue
    statement (Sid) after the rule's and function's construct paths, which inside a Stage include
    the stage. Everything they grant must be equal; an environment deployed by hand and then moved
    into the pipeline gets these permissions and statements replaced under their new names.
    """
    resources = dict(template["Resources"])
    permissions = sorted(
        json.dumps(resources.pop(logical_id), sort_keys=True)
        for logical_id in [k for k, v in resources.items() if v["Type"] == "AWS::Lambda::Permission"]
    )
    rest = json.loads(_PATH_DERIVED.sub("AllowEventRule<path>", json.dumps({**template, "Resources": resources})))
    return {**normalise(rest), "Permissions": permissions}
