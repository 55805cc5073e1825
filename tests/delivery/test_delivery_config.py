"""platform.delivery: defaults, and an error naming the key for every bad value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import ConfigError, load_environment
from stacks.config.delivery import has_delivery, load_delivery
from tests.delivery.fixtures import ACCOUNTS, TOOLING, three_accounts, without_delivery


def test_three_accounts_load_in_order_with_default_promotion() -> None:
    # Given three environments in three accounts and a delivery block with no promotion policy
    delivery = load_delivery(three_accounts())
    # Then the pipeline deploys them in order, each into its own account
    assert [env.name for env in delivery.environments] == ["dev", "staging", "prod"]
    assert [env.account for env in delivery.environments] == [ACCOUNTS["dev"], ACCOUNTS["staging"], ACCOUNTS["prod"]]
    assert delivery.account == TOOLING
    assert delivery.branch == "main"
    assert delivery.pipeline_name == "mlops-delivery"
    # And each consumer takes versions from the previous environment, on its own approval
    assert delivery.registry.name == "dev"
    assert {name: (p.source, p.approver) for name, p in delivery.promotion.items()} == {
        "staging": ("dev", "staging"),
        "prod": ("staging", "prod"),
    }


def test_a_single_environment_ignores_the_delivery_block() -> None:
    platform = three_accounts()
    assert has_delivery(platform) and not has_delivery(without_delivery(platform))
    assert load_environment(platform, "staging") == load_environment(without_delivery(platform), "staging")


def _with(path: str, value: Any) -> dict[str, Any]:
    platform = three_accounts()
    *parents, last = path.split(".")
    node = platform
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return platform


@pytest.mark.parametrize(
    ("path", "value", "reported", "expected"),
    [
        ("delivery.account", None, "platform.delivery.account", "runs in (required)"),
        ("delivery.account", "12", "platform.delivery.account", "12-digit"),
        ("delivery.region", "Ireland", "platform.delivery.region", "AWS region"),
        (
            "delivery.connection_arn",
            "arn:aws:iam::111111111111:role/x",
            "platform.delivery.connection_arn",
            "CodeConnections connection ARN",
        ),
        ("delivery.repository", "no-owner", "platform.delivery.repository", "owner/name"),
        ("delivery.branch", "bad..branch", "platform.delivery.branch", "git branch name"),
        ("delivery.execution_policy_arns", [], "platform.delivery.execution_policy_arns", "--cloudformation-execution"),
        ("delivery.execution_policy_arns", ["admin"], "platform.delivery.execution_policy_arns[0]", "managed policy"),
        ("delivery.extra", 1, "platform.delivery.extra", "no such key"),
        (
            "environments.staging.account",
            None,
            "platform.environments.staging.account",
            "required with platform.delivery",
        ),
        ("environments.prod.region", None, "platform.environments.prod.region", "required with platform.delivery"),
        (
            "delivery.promotion",
            {"dev": {}},
            "platform.delivery.promotion.dev",
            "deploys promoted versions: staging, prod",
        ),
        (
            "delivery.promotion",
            {"staging": {"approver": "dev"}},
            "platform.delivery.promotion.staging.approver",
            "one of staging, prod",
        ),
        (
            "delivery.promotion",
            {"staging": {"source": "prod"}},
            "platform.delivery.promotion.staging.source",
            "one of dev",
        ),
        (
            "delivery.promotion",
            {"prod": {"approver": "staging"}},
            "platform.delivery.promotion.prod.approver",
            "one of prod",
        ),
        ("delivery.promotion", {"prod": {"sorce": "dev"}}, "platform.delivery.promotion.prod.sorce", "no such key"),
        # SageMaker creates a model only from artifacts in its own region (API Reference,
        # "ContainerDefinition", ModelDataUrl), and promoted versions stay in dev's bucket.
        (
            "environments.prod.region",
            "eu-central-1",
            "platform.environments.prod.region",
            "eu-west-1, the region of dev",
        ),
    ],
)
def test_bad_values_name_their_key(path: str, value: Any, reported: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_delivery(_with(path, value))
    assert caught.value.path == reported
    assert expected in caught.value.expected


def test_prod_may_take_versions_straight_from_dev_on_its_own_approval() -> None:
    delivery = load_delivery(_with("delivery.promotion", {"prod": {"source": "dev"}}))
    assert (delivery.promotion["prod"].source, delivery.promotion["prod"].approver) == ("dev", "prod")


def test_the_registry_environment_is_required() -> None:
    platform = three_accounts()
    del platform["environments"]["dev"]
    with pytest.raises(ConfigError) as caught:
        load_delivery(platform)
    assert caught.value.path == "platform.environments.dev"


def test_loading_does_not_change_the_input() -> None:
    platform = three_accounts()
    before = copy.deepcopy(platform)
    load_delivery(platform)
    assert platform == before
