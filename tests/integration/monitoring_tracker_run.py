"""Log one monitoring run with jobs/monitor_model.MlflowTracker, in the MLflow client environment.

Run by tests/integration/test_monitoring_tracker.py against its local server: creates a
champion's training run, records a monitoring run under it with the tracker, and prints the ids
as JSON. The assertions read the server, in the test module.
"""

from __future__ import annotations

import datetime
import json
import os
import sys

import mlflow

from jobs import monitor_model

UNTIL = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)


def main() -> int:
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    experiment_id = mlflow.create_experiment(f"churn-monitoring-{os.getpid()}")
    with mlflow.start_run(experiment_id=experiment_id, run_name="train") as champion:
        mlflow.log_metric("accuracy", 0.91)
    settings = monitor_model.parse_settings(
        [
            *("--model-name", "churn", "--serving-target", "mlops-dev-churn", "--data-bucket", "data"),
            *("--baseline-uri", "s3://artifacts/evidence/churn/k3x9q2w7zv1a/baseline/"),
            *("--model-package-arn", "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-abc123/3"),
            *("--mlflow-run-id", champion.info.run_id, "--metric", "accuracy", "--drift-threshold", "0.5"),
            *("--metric-namespace", "mlops-dev/ModelMonitoring", "--until", UNTIL.isoformat(), "--run-id", "run-1200"),
        ],
        {},
    )
    figures = {"accuracy": 0.85, "DriftedFeatureShare": 2 / 3, "DriftDetected": 1.0, "PredictionDrift": 0.0}
    artifacts = {
        "report.json": '{"drift": {}}',
        "report.html": "<html></html>",
        "summary.json": '{"run_id": "run-1200"}',
    }
    tracker = monitor_model.MlflowTracker(os.environ["MLFLOW_TRACKING_URI"])
    run_id = tracker.record(settings=settings, figures=figures, artifacts=artifacts)
    json.dump({"experiment_id": experiment_id, "champion": champion.info.run_id, "monitoring": run_id}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
