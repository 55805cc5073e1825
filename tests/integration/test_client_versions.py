"""The MLflow client the data scientists, the pipeline and the tests use is the one the server version needs.

AWS advises matching the MLflow client to the tracking server's version (SageMaker Developer
Guide, "Integrate MLflow with your environment",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments.html). The pins live
in stacks/mlflow_clients.py; the pipeline definition reads them (tests/unit), and these tests
hold the README's instructions and the test environment to the same pins.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pytest

from stacks.config import load_environment
from stacks.mlflow_clients import (
    CLIENTS,
    ENV_MLFLOW_CLIENT_VERSION,
    ENV_MLFLOW_PLUGIN_VERSION,
    MlflowClient,
    client_for,
    main,
)
from tests.mlflow_server import TEST_ENVIRONMENT, TEST_PLATFORM
from tests.synth import cdk_context

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW_SITE_PACKAGES = sorted((REPO_ROOT / ".venv-mlflow" / "lib").glob("python3*/site-packages"))


def configured_client(environment: str = TEST_ENVIRONMENT) -> MlflowClient:
    config = load_environment(cdk_context()["platform"], environment)
    return client_for(config.mlflow.version)


def test_the_readme_tells_data_scientists_to_install_the_pinned_client() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    installs = re.findall(r"pip install (mlflow==\S+ sagemaker-mlflow==\S+)", readme)
    assert installs == [" ".join(configured_client().requirements())]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_configured_environment_has_a_pinned_client(environment: str) -> None:
    # client_for refuses a version without one, naming the key; synth would stop there too.
    assert configured_client(environment) in CLIENTS.values()


def test_the_test_environment_is_installed_from_the_pins() -> None:
    requirements = (REPO_ROOT / "requirements-mlflow.txt").read_text().splitlines()
    assert f"mlflow==${{{ENV_MLFLOW_CLIENT_VERSION}}}" in requirements
    assert f"sagemaker-mlflow==${{{ENV_MLFLOW_PLUGIN_VERSION}}}" in requirements


def test_make_gets_the_pins_for_the_environment_it_builds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", TEST_ENVIRONMENT, "--platform-json", str(TEST_PLATFORM)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [f"{name}={value}" for name, value in configured_client().environment().items()]


def test_make_builds_the_test_environment_from_the_fixture_not_cdk_json() -> None:
    # Given the Makefile's rule for the MLflow test environment
    makefile = (REPO_ROOT / "Makefile").read_text()
    # Then it asks for the pins of the fixture's test environment, and rebuilds when the fixture changes
    relative = TEST_PLATFORM.relative_to(REPO_ROOT)
    assert f"--env {TEST_ENVIRONMENT} --platform-json {relative}" in makefile
    (rule,) = [line for line in makefile.splitlines() if line.startswith("$(STAMPS)/mlflow-venv:")]
    assert str(relative) in rule and "cdk.json" not in rule


def test_without_a_fixture_the_pins_follow_the_users_cdk_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a cdk.json whose dev names a server version without a pinned client
    platform = {"environments": {"dev": {"mlflow": {"kind": "tracking-server", "version": "2.16"}}}}
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"platform": platform}}))
    # When the pins are asked for from that file
    # Then the answer is a refusal naming the key and the version
    assert main(["--env", "dev", "--cdk-json", str(cdk_json)]) == 2
    error = capsys.readouterr().err
    assert "environments.dev.mlflow.version" in error and "'2.16'" in error


def test_make_refuses_an_unknown_environment_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "qa"]) == 2
    assert "'qa'" in capsys.readouterr().err


@pytest.mark.mlflow
def test_the_mlflow_test_environment_runs_the_pinned_versions() -> None:
    assert MLFLOW_SITE_PACKAGES, "the MLflow test environment (.venv-mlflow) is missing; `make test` creates it"
    installed = {
        dist.metadata["Name"].lower(): dist.version
        for dist in importlib.metadata.distributions(path=[str(p) for p in MLFLOW_SITE_PACKAGES])
    }
    client = configured_client()
    assert (installed.get("mlflow"), installed.get("sagemaker-mlflow")) == (client.mlflow, client.sagemaker_mlflow)
