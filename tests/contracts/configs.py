"""Configurations at the edges of what validation accepts, for the contract tests.

Names computed from config are longest with the longest prefix, the longest environment name
and the longest model name; each must still fit the limits of the service that owns it. The
lengths are not written down here: they are found by asking `load_environment` for ever longer
values until it refuses one, so the extremes move with validation. The prefix is pushed first
(with short model names), then the model names with that prefix.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

from stacks.config import ConfigError, load_environment

LONGEST_ENVIRONMENT = "staging"
ACCOUNT = "123456789012"
# Far above any limit AWS sets on a name; reaching it means validation stopped refusing.
_RUNAWAY = 1024


def prefix_of(length: int) -> str:
    """A prefix of `length` characters that matches the prefix pattern."""
    return "p" * length


def model_names(length: int) -> list[str]:
    """The extreme configuration's model names: four of `length` characters and the shortest."""
    longest = ["m" * length, "linear-" + "y" * (length - 7), "serverless-" + "s" * (length - 11)]
    return [*longest, "ab", "batch-" + "b" * (length - 6)]


def extreme_platform(
    *,
    kind: str = "tracking-server",
    region: str | None = None,
    prefix: str | None = None,
    model_length: int | None = None,
) -> dict[str, Any]:
    """A `platform` context object whose staging environment pushes every name to its limit.

    `prefix` and `model_length` default to the longest validation accepts for `kind` and
    `region`; tests pass other values to step over the limit.
    """
    if prefix is None:
        prefix = prefix_of(longest_prefix(kind, region))
    if model_length is None:
        model_length = longest_model_name(kind, region, prefix)
    return _platform(kind=kind, region=region, prefix=prefix, names=model_names(model_length))


@cache
def longest_prefix(kind: str = "tracking-server", region: str | None = None) -> int:
    """The longest prefix validation accepts in staging (with short model names)."""
    return _longest(lambda n: _platform(kind=kind, region=region, prefix=prefix_of(n), names=["ab"]), start=3)


@cache
def longest_model_name(kind: str = "tracking-server", region: str | None = None, prefix: str | None = None) -> int:
    """The longest model name validation accepts in staging with `prefix` (default: the longest)."""
    chosen = prefix if prefix is not None else prefix_of(longest_prefix(kind, region))
    return _longest(lambda n: _platform(kind=kind, region=region, prefix=chosen, names=["m" * n]), start=2)


def _longest(platform_of: Callable[[int], dict[str, Any]], *, start: int) -> int:
    load_environment(platform_of(start), LONGEST_ENVIRONMENT)  # the shortest must pass, or the search means nothing
    length = start
    while _accepted(platform_of(length + 1)):
        length += 1
        if length > _RUNAWAY:
            raise AssertionError(f"validation accepts names of {length} characters; no AWS name is that long")
    return length


def _accepted(platform: dict[str, Any]) -> bool:
    try:
        load_environment(platform, LONGEST_ENVIRONMENT)
    except ConfigError:
        return False
    return True


def _model(name: str, **overrides: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"name": name, "schedule": "cron(0 3 ? * MON *)"}
    model.update(overrides)
    return model


def _platform(*, kind: str, region: str | None, prefix: str, names: list[str]) -> dict[str, Any]:
    variants: list[dict[str, Any]] = [
        # Batch transform beside the endpoint, on its own schedule, at the payload limit.
        {"batch": {"schedule": "cron(0 4 * * ? *)", "max_concurrent_transforms": 4, "max_payload_mb": 25}},
        {"deployment": {"strategy": "linear", "linear_step_percent": 10}},
        {
            "endpoint": {"serverless": {"memory_size_mb": 6144, "max_concurrency": 200}},
            "deployment": {"strategy": "all-at-once"},
        },
        {"endpoint": {"instance_count": 4}, "deployment": {"strategy": "canary", "canary_percent": 50}},
        {"serving": "batch", "batch": {"instance_type": "ml.c5.xlarge", "instance_count": 100}},
    ]
    environment: dict[str, Any] = {
        "prefix": prefix,
        "mlflow": {"kind": kind},
        "notifications": {"emails": ["ops@example.com"]},
        "personas": {"trusted_principals": [ACCOUNT]},
        "models": [_model(name, **variant) for name, variant in zip(names, variants, strict=False)],
    }
    if region is not None:
        environment["account"] = ACCOUNT
        environment["region"] = region
    return {"prefix": prefix, "environments": {LONGEST_ENVIRONMENT: copy.deepcopy(environment)}}
