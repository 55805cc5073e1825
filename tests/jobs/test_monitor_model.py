"""The monitoring job (jobs/monitor_model.py) on generated data, with the real Evidently of the monitoring environment.

The scenarios (tests/jobs/monitoring_scenarios.py) run once per session in .venv-monitoring, one
process so Evidently is imported once; these tests read what each run returned, published and
wrote. The PutMetricData requests are replayed here through a real botocore CloudWatch client under
botocore's Stubber: the client validates every parameter against CloudWatch's service model before
the Stubber compares it, so a request the API would refuse fails here.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from platform_common import monitoring

# One worker runs every test of the module, so the scenarios (and Evidently's import) run once per session.
pytestmark = [pytest.mark.monitoring, pytest.mark.xdist_group("monitoring")]

REPO_ROOT = Path(__file__).resolve().parents[2]
MONITORING_PYTHON = REPO_ROOT / ".venv-monitoring" / "bin" / "python"
NAMESPACE = "mlops-dev/ModelMonitoring"
DIMENSIONS = [{"Name": "Model", "Value": "churn"}, {"Name": "Endpoint", "Value": "mlops-dev-churn"}]
TIMEOUT_SECONDS = 300


@pytest.fixture(scope="session")
def runs() -> dict[str, list[dict[str, Any]]]:
    """Every scenario's runs, computed in one process of the monitoring environment."""
    if not MONITORING_PYTHON.exists():
        pytest.fail(
            f"{MONITORING_PYTHON} is missing: create the monitoring environment (`make test` does)", pytrace=False
        )
    completed = subprocess.run(
        [str(MONITORING_PYTHON), "-m", "tests.jobs.monitoring_scenarios"],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'lambdas'}"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    parsed: dict[str, list[dict[str, Any]]] = json.loads(completed.stdout)
    return parsed


def published(run: dict[str, Any]) -> dict[str, float]:
    (request,) = run["requests"]
    return {datum["MetricName"]: datum["Value"] for datum in request["MetricData"]}


def test_an_unchanged_distribution_raises_no_drift(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Given current data drawn like the reference, Evidently finds no drifted feature and DriftDetected is 0."""
    (run,) = runs["no_drift"]
    assert run["summary"]["drift"]["detected"] is False
    assert run["summary"]["drift"]["drifted_feature_share"] < 0.5
    assert set(run["summary"]["drift"]["features"]) == {"tenure", "monthly_charges", "contract"}
    assert published(run)[monitoring.DRIFT_DETECTED] == 0.0
    assert published(run)[monitoring.INFERENCES_ANALYSED] == 200


def test_a_shifted_distribution_is_detected_as_drift(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Given both numerical features shifted, two of three features drift: share 2/3 above 0.5, DriftDetected 1."""
    (run,) = runs["shifted"]
    drift = run["summary"]["drift"]
    assert drift["features"] == {"tenure": True, "monthly_charges": True, "contract": False}
    assert drift["drifted_feature_share"] == pytest.approx(2 / 3)
    assert drift["detected"] is True
    assert published(run)[monitoring.DRIFT_DETECTED] == 1.0
    assert published(run)[monitoring.DRIFTED_FEATURE_SHARE] == pytest.approx(2 / 3)


def test_predictions_that_lean_to_one_class_are_reported_as_prediction_drift_apart_from_features(
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """Given features drawn like the reference but every prediction 0 (training labels half 0, half 1),
    the features do not drift, the predictions do: PredictionDrift 1 beside DriftDetected 0."""
    (run,) = runs["no_drift"]
    assert published(run)[monitoring.DRIFT_DETECTED] == 0.0
    assert published(run)[monitoring.PREDICTION_DRIFT] == 1.0
    assert run["summary"]["prediction_drift"]["detected"] is True
    assert "prediction" not in run["summary"]["drift"]["features"]


def test_predictions_balanced_like_the_training_labels_raise_no_prediction_drift(
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """Given predictions alternating 0 and 1, as the reference's labels do, PredictionDrift is 0."""
    (run,) = runs["accuracy_085"]
    assert published(run)[monitoring.PREDICTION_DRIFT] == 0.0
    assert run["summary"]["prediction_drift"]["detected"] is False
    assert 0.0 <= run["summary"]["prediction_drift"]["score"] <= 1.0


def test_a_run_without_new_inferences_publishes_no_prediction_drift(runs: dict[str, list[dict[str, Any]]]) -> None:
    _, second = runs["late_label"]
    assert monitoring.PREDICTION_DRIFT not in published(second)
    assert second["summary"]["prediction_drift"]["detected"] is None


def test_labels_that_make_accuracy_085_publish_085(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Given 200 inferences of which 170 match their label, `accuracy` is published as 0.85."""
    (run,) = runs["accuracy_085"]
    assert published(run)["accuracy"] == pytest.approx(0.85)
    assert published(run)[monitoring.LABELLED_INFERENCES] == 200
    assert run["summary"]["quality"] == {"metric": "accuracy", "value": pytest.approx(0.85)}


def test_a_late_label_is_joined_on_a_later_run_within_the_lookback(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Given a label delivered after the run that saw its inference, the next run (within 7 days) joins it."""
    first, second = runs["late_label"]
    assert published(first)[monitoring.LABELLED_INFERENCES] == 9
    assert published(first)["accuracy"] == 1.0
    # The late label (0, the prediction was 1) now counts: 9 of 10 right.
    assert published(second)[monitoring.LABELLED_INFERENCES] == 10
    assert published(second)["accuracy"] == pytest.approx(0.9)
    # The inference itself is not new to the second run: it is not analysed twice for drift.
    assert published(second)[monitoring.INFERENCES_ANALYSED] == 0
    assert monitoring.DRIFT_DETECTED not in published(second)
    assert second["summary"]["window"]["since"] == first["summary"]["window"]["until"]


def test_malformed_records_are_reported_and_counted_not_fatal(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Given four bad capture lines, an unreadable capture file and a bad label line, the run completes with 6 counted."""
    (run,) = runs["malformed"]
    assert published(run)[monitoring.MALFORMED_RECORDS] == 6
    assert published(run)[monitoring.INFERENCES_ANALYSED] == 50
    assert published(run)[monitoring.MONITORING_RUNS] == 1.0
    listed = [json.loads(line) for line in run["written"]["malformed.jsonl"].splitlines()]
    assert len(listed) == 6
    reasons = " | ".join(item["reason"] for item in listed)
    for expected in ("not JSON", "eventMetadata is missing", "has 2 values", "not base64", "unreadable"):
        assert expected in reasons
    assert any(item["source"].endswith("ground-truth/labels.jsonl") and item["line"] == 51 for item in listed)
    assert set(run["written"]) == {"summary.json", "report.json", "report.html", "malformed.jsonl"}


def test_batch_prediction_files_are_read_like_capture(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Given the accuracy scenario as batch transform output (`id,features...,prediction`), the figures are the same."""
    (run,) = runs["batch"]
    assert published(run)[monitoring.INFERENCES_ANALYSED] == 200
    assert published(run)["accuracy"] == pytest.approx(0.85)
    assert published(run)[monitoring.MALFORMED_RECORDS] == 0


@pytest.mark.parametrize("scenario", ["no_drift", "shifted", "accuracy_085", "late_label", "malformed", "batch"])
def test_put_metric_data_requests_are_valid_with_the_shared_namespace_names_and_dimensions(
    runs: dict[str, list[dict[str, Any]]], scenario: str
) -> None:
    """Each request passes CloudWatch's service model (botocore Stubber) and uses platform_common.monitoring's contract.

    Limits: up to 30 dimensions per metric, at most 1000 metrics per request, no NaN (Amazon
    CloudWatch API Reference, "PutMetricData",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
    """
    allowed = {
        monitoring.DRIFTED_FEATURE_SHARE,
        monitoring.DRIFT_DETECTED,
        monitoring.PREDICTION_DRIFT,
        monitoring.MONITORING_RUNS,
        monitoring.INFERENCES_ANALYSED,
        monitoring.LABELLED_INFERENCES,
        monitoring.MALFORMED_RECORDS,
        "accuracy",
    }
    client = boto3.client("cloudwatch", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    for run in runs[scenario]:
        (request,) = run["requests"]
        for datum in request["MetricData"]:
            datum["Timestamp"] = datetime.datetime.fromisoformat(datum["Timestamp"])
        assert request["Namespace"] == monitoring.metric_namespace("mlops-dev") == NAMESPACE
        assert len(request["MetricData"]) <= 1000
        names = [datum["MetricName"] for datum in request["MetricData"]]
        assert set(names) <= allowed and len(names) == len(set(names))
        assert {monitoring.MONITORING_RUNS, monitoring.INFERENCES_ANALYSED, monitoring.MALFORMED_RECORDS} <= set(names)
        for datum in request["MetricData"]:
            assert datum["Dimensions"] == DIMENSIONS
            assert datum["Value"] == datum["Value"]  # not NaN
        with Stubber(client) as stubber:
            stubber.add_response("put_metric_data", {}, expected_params=request)
            client.put_metric_data(**request)
            stubber.assert_no_pending_responses()
