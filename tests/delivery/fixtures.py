"""A three-account delivery configuration, built here so no test depends on cdk.json."""

from __future__ import annotations

import copy
from typing import Any

TOOLING = "111111111111"
TOOLING_REGION = "eu-west-1"
ACCOUNTS = {"dev": "222222222222", "staging": "333333333333", "prod": "444444444444"}
REGIONS = {"dev": "eu-west-1", "staging": "eu-west-1", "prod": "eu-west-1"}
CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/7d2469ff-514a-4e4f-9003-5ca4a43cdc41"
EXECUTION_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def _model() -> dict[str, Any]:
    return {"name": "churn", "metric": {"name": "accuracy", "threshold": 0.9}, "endpoint": {"instance_count": 2}}


def delivery_block() -> dict[str, Any]:
    """The `platform.delivery` object of the fixture."""
    return {
        "account": TOOLING,
        "region": TOOLING_REGION,
        "connection_arn": CONNECTION,
        "repository": "example-org/mlops-platform",
        "branch": "main",
        "execution_policy_arns": [EXECUTION_POLICY],
    }


def three_accounts(**delivery_overrides: Any) -> dict[str, Any]:
    """A `platform` context object: dev, staging and prod in their own accounts, and the pipeline."""
    environments = {
        name: {"account": ACCOUNTS[name], "region": REGIONS[name], "models": [_model()]} for name in ACCOUNTS
    }
    delivery = delivery_block()
    delivery.update(delivery_overrides)
    return {"prefix": "mlops", "environments": environments, "delivery": delivery}


def without_delivery(platform: dict[str, Any]) -> dict[str, Any]:
    """The same platform with no delivery block: the single-account configuration."""
    single = copy.deepcopy(platform)
    single.pop("delivery", None)
    return single
