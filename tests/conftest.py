"""Fixtures shared by every test: synthesized templates of each environment."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import botocore.session
import pytest

from tests import synth_cache

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def pytest_configure(config: pytest.Config) -> None:
    """Keep synthesized templates in pytest's cache directory (tests/synth_cache.py), when pytest has one."""
    cache = getattr(config, "cache", None)
    # xdist workers start after this process configured itself: only it removes stale entries.
    synth_cache.configure(
        cache.mkdir("synth") if cache is not None else None, prune="PYTEST_XDIST_WORKER" not in os.environ
    )


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_loader() -> Iterator[None]:
    """Let every botocore session share one loader of botocore's JSON service models.

    moto hands each test a fresh boto3 default session, and each session would parse the
    service models (sagemaker's is megabytes) and endpoint data again: about half a second
    per handler test. The files never change during a run, so parsing them once is enough.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", functools.cache(botocore.session.create_loader))
        yield


@pytest.fixture(scope="session")
def dev_templates() -> dict[str, Template]:
    """Templates of the dev environment keyed by unit (data, tracking, access, ...)."""
    # Imported here: under xdist this module also loads in the process that only hands out tests,
    # which would otherwise import the CDK (about a second) before starting any worker.
    from tests.synth import synth_default

    return synth_default("dev")[1]


@pytest.fixture(scope="session")
def prod_templates() -> dict[str, Template]:
    from tests.synth import synth_default

    return synth_default("prod")[1]
