"""Where a model's monitoring reads and writes, and what it publishes: one definition for all sides.

The deployer (data capture), the monitoring job (jobs/monitor_model.py), the batch launcher,
the alarms and the dashboard (stacks/) all name S3 prefixes, CloudWatch metrics and dimensions
through this module, so the metric an alarm watches is the metric the job publishes.

Data bucket layout per model (all under the platform's data bucket, encrypted with the platform key):

    monitoring/<model>/capture/        endpoint data capture (SageMaker adds endpoint/variant/yyyy/mm/dd/hh/)
    monitoring/<model>/ground-truth/   labels, JSON Lines {"inferenceId": ..., "label": ...}, any sub-keys
    monitoring/<model>/reports/        one folder per monitoring run (report, metrics, malformed inputs)
    inference/<model>/                 batch inputs (CSV, first column the inference id)
    predictions/<model>/               batch outputs (one folder per transform job)
    batch-manifests/<model>/           what each transform job scores, written by the batch launcher only

CloudWatch namespaces may not start with "AWS/" (Amazon CloudWatch API Reference, "PutMetricData",
Namespace: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
"""

from __future__ import annotations

MONITORING_PREFIX = "monitoring"
INFERENCE_PREFIX = "inference"
PREDICTIONS_PREFIX = "predictions"
BATCH_MANIFEST_PREFIX = "batch-manifests"

# Metric names the monitoring job publishes, each with the dimensions below.
DRIFTED_FEATURE_SHARE = "DriftedFeatureShare"  # 0..1, share of features whose distribution drifted
DRIFT_DETECTED = "DriftDetected"  # 1 when the share reaches the drift threshold, else 0
PREDICTION_DRIFT = "PredictionDrift"  # 1 when the predicted classes drifted from the training labels, else 0
MONITORING_RUNS = "MonitoringRuns"  # 1 per completed run: its absence is the silent-monitor alarm
INFERENCES_ANALYSED = "InferencesAnalysed"  # captured inferences read by the run
LABELLED_INFERENCES = "LabelledInferences"  # inferences joined with ground truth
MALFORMED_RECORDS = "MalformedRecords"  # capture or label records the run could not read
# Published by the launcher, not the job: 1 per scheduled run skipped because the model has no
# champion yet. The silent-monitor alarm counts it with MonitoringRuns, so a fresh deploy waiting
# for its first champion does not page.
MONITORING_AWAITING_CHAMPION = "MonitoringAwaitingChampion"
# The quality metric is published under the model's configured metric name (e.g. "accuracy").
# The quality metrics the job computes (jobs/monitoring/analysis.py). A model the platform
# monitors must gate on one of them: its quality alarm watches the metric the job publishes under
# that name, and the job refuses any other (stacks/config refuses it at synth).
QUALITY_METRICS = ("accuracy", "f1", "precision", "recall")

DIMENSION_MODEL = "Model"
DIMENSION_ENDPOINT = "Endpoint"


def metric_namespace(resource_prefix: str) -> str:
    """The CloudWatch namespace of one environment's monitoring metrics, e.g. `mlops-dev/ModelMonitoring`."""
    return f"{resource_prefix}/ModelMonitoring"


def metric_dimensions(model: str, serving_target: str) -> dict[str, str]:
    """The dimensions of every monitoring metric of `model` served by `serving_target`.

    `serving_target` is the endpoint name for real-time and serverless serving, and the batch
    target name (`<prefix>-<env>-<model>-batch`) for batch transform.
    """
    return {DIMENSION_MODEL: model, DIMENSION_ENDPOINT: serving_target}


def capture_prefix(model: str) -> str:
    """Key prefix (no bucket) of `model`'s endpoint data capture."""
    return f"{MONITORING_PREFIX}/{model}/capture/"


def ground_truth_prefix(model: str) -> str:
    """Key prefix under which ground truth labels for `model` are delivered."""
    return f"{MONITORING_PREFIX}/{model}/ground-truth/"


def reports_prefix(model: str) -> str:
    """Key prefix of `model`'s monitoring reports."""
    return f"{MONITORING_PREFIX}/{model}/reports/"


def inference_prefix(model: str) -> str:
    """Key prefix of `model`'s batch inputs."""
    return f"{INFERENCE_PREFIX}/{model}/"


def predictions_prefix(model: str) -> str:
    """Key prefix of `model`'s batch predictions."""
    return f"{PREDICTIONS_PREFIX}/{model}/"


# A version's baseline lies beside its evidence report, in the artifact bucket:
# evidence/<model>/<execution id>/baseline/{reference.csv,schema.json}
# (only the pipeline role may write under evidence/; see platform_common.evidence).
BASELINE_DIR = "baseline"
BASELINE_REFERENCE_FILE = "reference.csv"
BASELINE_SCHEMA_FILE = "schema.json"

# Beside the run folders under reports/: the end of the last completed run's window, where the
# next run's drift window starts (monitoring/<model>/reports/watermark.json).
WATERMARK_FILE = "watermark.json"

# Where tools/publish_model_code.py publishes a model's code in the artifact bucket (code/<model>/):
# the monitoring job's entry script under platform/, and the hashed lock of Evidently and the
# MLflow client with its wheels, installed offline when the job starts.
CODE_PREFIX = "code"
MONITOR_JOB_SCRIPT = "platform/monitor_model.py"
MONITORING_LOCK_FILE = "platform/monitoring.lock"
MONITORING_WHEELHOUSE_DIR = "platform/monitoring-wheelhouse"

# The monitoring job's command-line options (jobs/monitor_model.py): the launcher passes each as
# `--<option> <value>`. tests/handlers/test_monitoring_launcher.py feeds the launcher's request to
# the job's own parser, so a rename on either side fails there.
OPTION_MODEL = "model-name"
OPTION_SERVING_TARGET = "serving-target"
OPTION_DATA_BUCKET = "data-bucket"
OPTION_BASELINE_URI = "baseline-uri"
OPTION_PACKAGE_ARN = "model-package-arn"
OPTION_MLFLOW_RUN_ID = "mlflow-run-id"
OPTION_METRIC = "metric"
OPTION_DRIFT_THRESHOLD = "drift-threshold"
OPTION_SINCE = "since"
OPTION_UNTIL = "until"
OPTION_LOOKBACK_DAYS = "lookback-days"
OPTION_NAMESPACE = "metric-namespace"
OPTION_TRACKING_URI = "tracking-uri"
OPTION_RUN_ID = "run-id"


def code_prefix(model: str) -> str:
    """Key prefix (artifact bucket) of `model`'s published code."""
    return f"{CODE_PREFIX}/{model}/"


def baseline_prefix(model: str, execution_id: str) -> str:
    """Key prefix (artifact bucket) of the baseline one pipeline execution wrote beside its evidence."""
    return f"evidence/{model}/{execution_id}/{BASELINE_DIR}/"


def batch_manifest_key(model: str, job_name: str) -> str:
    """Key (no bucket) of the manifest naming the input files transform job `job_name` scores."""
    return f"{BATCH_MANIFEST_PREFIX}/{model}/{job_name}.json"
