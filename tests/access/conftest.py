"""Fixtures of the persona access tests: resolved platforms, synthesized once per process."""

from __future__ import annotations

import pytest

from tests.access.resolved_platform import ResolvedPlatform, customised_platform, default_platform


@pytest.fixture(scope="session")
def dev() -> ResolvedPlatform:
    """The dev environment as tests/fixtures/platform.json configures it (account root trusted, no boundary)."""
    return default_platform("dev")


@pytest.fixture(scope="session")
def customised() -> ResolvedPlatform:
    """dev with trusted principals, a boundary, a longer session and the MLflow App."""
    return customised_platform()
