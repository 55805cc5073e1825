"""Fixtures shared by every test: synthesized templates of each environment."""

from __future__ import annotations

import functools
import gc
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


# Allocations between young-generation collections, and young collections per older one, in a
# test process. CPython's defaults are (700, 10, 10) (Python docs, "gc — Garbage Collector
# interface", gc.set_threshold).
TEST_PROCESS_GC_THRESHOLDS = (20_000, 20, 20)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep the garbage collector off what every test process holds for its whole run.

    A test process keeps large object graphs alive from start to end: the imported CDK, boto3,
    moto and botocore's parsed service models. With the default thresholds a worker spent about
    3.5 s of a warm run in collections, mostly full ones walking those graphs again and again,
    and 1.8 s more in the five full collections pytest makes when the session ends. `gc.freeze`
    moves every object alive after collection into the permanent generation, which later
    collections skip (Python docs, gc.freeze); the higher thresholds make collections rarer.
    Cyclic garbage the tests make is still collected, only less often.
    """
    del session
    gc.collect()
    gc.freeze()
    gc.set_threshold(*TEST_PROCESS_GC_THRESHOLDS)


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
