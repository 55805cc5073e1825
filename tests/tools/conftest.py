"""Fixtures of the operator command tests: a platform configuration of their own, and moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

ACCOUNT = "123456789012"  # moto's account
REGION = "eu-west-1"


def platform(**dev: Any) -> dict[str, Any]:
    """A platform with one environment, `ops` prefix, two models; `dev` overrides its settings."""
    models = [{"name": "churn"}, {"name": "fraud", "schedule": "rate(1 day)"}]
    return {"prefix": "ops", "environments": {"dev": {"region": REGION, "models": models, **dev}}}


@pytest.fixture
def settings() -> dict[str, Any]:
    return platform()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    """A moto account with credentials in the environment, and a session in its region."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No credentials anywhere botocore looks (environment, shared files, instance metadata)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
