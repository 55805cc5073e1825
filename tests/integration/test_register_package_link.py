"""The Register step records the execution on the package automatic registration creates, keeping what is there.

register.py imports MLflow, so its helpers run in the MLflow environment (.venv-mlflow), against
stand-ins for the MLflow client and SageMaker that record what they are asked. The SageMaker API
Reference ("UpdateModelPackage",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html) does not
say whether CustomerMetadataProperties replaces the package's map or is merged into it, so the
step must send the whole map: every entry the package had, plus its own.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

# One worker drives every scenario of the module in one process: importing register.py (and so
# MLflow) takes about a second each time.
pytestmark = [pytest.mark.mlflow, pytest.mark.xdist_group("register-package-link")]

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW_PYTHON = REPO_ROOT / ".venv-mlflow" / "bin" / "python"
CHURN = REPO_ROOT / "ml" / "churn"
PACKAGE_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-1a2b3c/4"
ENTRIES = {
    "platform.pipeline_execution_arn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-churn/execution/x1",
    "platform.evidence_uri": "s3://bucket/evidence/churn/x1/evaluation.json",
}

# Runs in the MLflow environment: imports register.py once and drives its helpers with recording
# stand-ins, one fresh set per scenario; prints each scenario's result by name.
_DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import register

scenarios = json.loads(sys.argv[2])


class Version:
    def __init__(self, tags):
        self.tags = tags


class Client:
    def __init__(self, tags_per_call):
        self.tags_per_call = list(tags_per_call)
        self.calls = 0

    def get_model_version(self, name, version):
        tags = self.tags_per_call[min(self.calls, len(self.tags_per_call) - 1)]
        self.calls += 1
        return Version(tags)


class SageMaker:
    def __init__(self, metadata):
        self.metadata = dict(metadata)
        self.updates = []

    def describe_model_package(self, ModelPackageName):
        return {"ModelPackageArn": ModelPackageName, "CustomerMetadataProperties": dict(self.metadata)}

    def update_model_package(self, **request):
        self.updates.append(request)
        self.metadata = dict(request["CustomerMetadataProperties"])


def drive(scenario):
    result = {}
    if scenario["kind"] == "record":
        sagemaker = SageMaker(scenario["metadata"])
        result["merged"] = register.record_on_package(sagemaker, scenario["arn"], scenario["entries"])
        result["updates"] = sagemaker.updates
    else:
        clock = [0.0]
        slept = []

        def sleep(seconds):
            slept.append(seconds)
            clock[0] += seconds

        client = Client(scenario["tags_per_call"])
        result["arn"] = register.wait_for_package(
            client, "churn", "4", scenario["timeout"], sleep=sleep, clock=lambda: clock[0]
        )
        result["slept"] = slept
        result["calls"] = client.calls
    return result


print(json.dumps({name: drive(scenario) for name, scenario in scenarios.items()}))
"""


# Given, per scenario: the package's entries and what the step records on it ("record"), or the
# version's tags on each look and how long the step waits for the package's tag ("wait").
EXISTING = {"team": "retention", "ModelCardName": "churn-card"}
SCENARIOS: dict[str, dict[str, Any]] = {
    "record on a package with entries of its own": {
        "kind": "record",
        "metadata": EXISTING,
        "arn": PACKAGE_ARN,
        "entries": ENTRIES,
    },
    "record again on a package that carries the entries": {
        "kind": "record",
        "metadata": {"team": "retention", **ENTRIES},
        "arn": PACKAGE_ARN,
        "entries": ENTRIES,
    },
    # The package tag appears on the third look; the step waits up to five minutes.
    "wait for a tag on the third look": {
        "kind": "wait",
        "tags_per_call": [{}, {}, {"sagemaker.model_package_arn": PACKAGE_ARN}],
        "timeout": 300,
    },
    "wait for a tag that never comes": {"kind": "wait", "tags_per_call": [{}], "timeout": 25},
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    """What register.py's helpers returned and asked for in each scenario, from one MLflow-environment process."""
    if not MLFLOW_PYTHON.exists():
        pytest.fail(f"{MLFLOW_PYTHON} is missing: create the MLflow test environment (`make test` does)", pytrace=False)
    completed = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", _DRIVER, str(CHURN), json.dumps(SCENARIOS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    parsed: dict[str, dict[str, Any]] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert parsed.keys() == SCENARIOS.keys()
    return parsed


def test_the_execution_is_added_to_the_packages_metadata_keeping_every_entry(
    results: dict[str, dict[str, Any]],
) -> None:
    # Given a package with entries of its own
    # When the Register step records its execution and evidence
    result = results["record on a package with entries of its own"]

    # Then one update sends the whole map: the package's entries and the step's
    assert result["updates"] == [
        {"ModelPackageArn": PACKAGE_ARN, "CustomerMetadataProperties": {**EXISTING, **ENTRIES}}
    ]
    assert result["merged"] == {**EXISTING, **ENTRIES}


def test_a_retried_step_does_not_update_a_package_that_already_carries_the_entries(
    results: dict[str, dict[str, Any]],
) -> None:
    result = results["record again on a package that carries the entries"]

    assert result["updates"] == []


def test_the_step_waits_for_automatic_registration_to_name_the_package(results: dict[str, dict[str, Any]]) -> None:
    # Given a version whose package tag appears on the third look
    # When the step waits up to five minutes
    result = results["wait for a tag on the third look"]

    # Then it found the package after two pauses of the poll interval
    assert result == {"arn": PACKAGE_ARN, "slept": [10.0, 10.0], "calls": 3}


def test_the_step_gives_up_when_no_package_is_named_in_time(results: dict[str, dict[str, Any]]) -> None:
    result = results["wait for a tag that never comes"]

    # It looked at 0, 10, 20 and 25 s, never slept past the deadline, and found nothing
    assert result == {"arn": None, "slept": [10.0, 10.0, 5.0], "calls": 4}
