"""Configurations at the edges of what validation accepts, for the contract tests.

Names computed from config are longest with the longest prefix, the longest environment name
and the longest model name; each must still fit the limits of the service that owns it.
"""

from __future__ import annotations

import copy
from typing import Any

LONGEST_PREFIX = "p" * 15 + "x"  # 16 characters, the most `prefix` allows
LONGEST_ENVIRONMENT = "staging"
LONGEST_MODEL = "m" + "x" * 30 + "z"  # 32 characters, the most `models[].name` allows
ACCOUNT = "123456789012"


def _model(name: str, **overrides: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"name": name, "schedule": "cron(0 3 ? * MON *)"}
    model.update(overrides)
    return model


def extreme_platform(*, kind: str = "tracking-server", region: str | None = None) -> dict[str, Any]:
    """A `platform` context object whose staging environment pushes every name to its limit."""
    environment: dict[str, Any] = {
        "prefix": LONGEST_PREFIX,
        "mlflow": {"kind": kind},
        "notifications": {"emails": ["ops@example.com"]},
        "personas": {"trusted_principals": [ACCOUNT]},
        "models": [
            _model(LONGEST_MODEL),
            _model("linear-" + "y" * 25, deployment={"strategy": "linear", "linear_step_percent": 10}),
            _model(
                "serverless-" + "s" * 21,
                endpoint={"serverless": {"memory_size_mb": 6144, "max_concurrency": 200}},
                deployment={"strategy": "all-at-once"},
            ),
            _model("ab", endpoint={"instance_count": 4}, deployment={"strategy": "canary", "canary_percent": 50}),
        ],
    }
    if region is not None:
        environment["account"] = ACCOUNT
        environment["region"] = region
    return {"prefix": LONGEST_PREFIX, "environments": {LONGEST_ENVIRONMENT: copy.deepcopy(environment)}}
