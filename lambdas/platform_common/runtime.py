"""Per-process state the handlers share: settings, AWS clients and the model catalog.

Nothing here runs at import time. Settings are read from the environment on first use,
clients are built on first use (boto3 itself is imported then, which keeps the handler
modules cheap to import), and the catalog is re-read from SSM once it is a few minutes
old. `reset()` forgets all of it, so tests can start every case from a clean process state.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from platform_common import env_names
from platform_common.catalog import Catalog, load_catalog

T = TypeVar("T")

# Standard mode retries throttling errors and 5xx answers with jittered exponential backoff
# (at most 1, 2, 4, 8, 16 s). botocore's Config counts `max_attempts` as retries after the
# first call, so a call is tried six times in all and gives up after at most about 31 s of
# waiting; the Lambda async retries and the DLQ take over from there.
MAX_RETRIES = 5

# A model stack that adds or changes a catalog entry is seen by warm functions within
# this many seconds; one SSM call per five minutes per warm instance is cheap.
CATALOG_MAX_AGE_SECONDS = 300.0

_reset_hooks: list[Callable[[], None]] = []


class MissingSettingError(RuntimeError):
    """A required environment variable is not set (a deployment fault, not a bad event)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"environment variable {name} is not set; the function's stack must provide it")


def require_env(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The non-empty value of environment variable `name`, or MissingSettingError."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise MissingSettingError(name)
    return value


def lazy(factory: Callable[[], T]) -> Callable[[], T]:
    """Wrap a zero-argument factory so it runs once, on first call, until `reset()`."""
    cached = functools.cache(factory)
    _reset_hooks.append(cached.cache_clear)
    return cached


@dataclass(frozen=True)
class PlatformSettings:
    """The environment every platform handler receives from the automation stack."""

    bus_name: str
    catalog_path: str
    environment: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PlatformSettings:
        source = os.environ if environ is None else environ
        return cls(
            bus_name=require_env(env_names.PLATFORM_BUS_NAME, source),
            catalog_path=require_env(env_names.MODEL_CATALOG_PATH, source),
            environment=source.get(env_names.ENVIRONMENT_NAME) or None,
        )


settings = lazy(PlatformSettings.from_env)


def _make_client(service_name: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": MAX_RETRIES})
    return boto3.client(service_name, config=config)


@functools.cache
def client(service_name: str) -> Any:
    """The process's boto3 client for `service_name`, built on first use with standard retries."""
    return _make_client(service_name)


_reset_hooks.append(client.cache_clear)


@functools.cache
def client_in(service_name: str, region: str) -> Any:
    """The process's boto3 client for `service_name` in another Region (the registry of record's)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service_name, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": MAX_RETRIES})
    )


_reset_hooks.append(client_in.cache_clear)


class _CatalogCache:
    def __init__(self) -> None:
        self.value: Catalog | None = None
        self.loaded_at = 0.0

    def clear(self) -> None:
        self.value = None
        self.loaded_at = 0.0


_catalog_cache = _CatalogCache()
_reset_hooks.append(_catalog_cache.clear)


def catalog(max_age_seconds: float = CATALOG_MAX_AGE_SECONDS) -> Catalog:
    """The model catalog under the configured SSM path, re-read once older than `max_age_seconds`."""
    now = time.monotonic()
    if _catalog_cache.value is None or now - _catalog_cache.loaded_at >= max_age_seconds:
        _catalog_cache.value = load_catalog(client("ssm"), settings().catalog_path)
        _catalog_cache.loaded_at = now
    return _catalog_cache.value


def reset() -> None:
    """Forget cached settings, clients and catalog (tests call this between cases)."""
    for hook in _reset_hooks:
        hook()
