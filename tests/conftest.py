"""Fixtures shared by every test: synthesized templates of each environment."""

from __future__ import annotations

import os

# Before the first aws_cdk import starts the jsii runtime, which prints Node's end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest
from aws_cdk.assertions import Template

from tests.synth import synth_default


@pytest.fixture(scope="session")
def dev_templates() -> dict[str, Template]:
    """Templates of the dev environment keyed by unit (data, tracking, access, ...)."""
    return synth_default("dev")[1]


@pytest.fixture(scope="session")
def prod_templates() -> dict[str, Template]:
    return synth_default("prod")[1]
