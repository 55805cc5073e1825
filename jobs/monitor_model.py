"""Monitor the serving version of one model: data drift against its baseline and quality against ground truth.

Runs as a SageMaker Processing job in the pipeline's scikit-learn image, started as
`python3 platform/monitor_model.py` from the model's published code. Before it imports Evidently
or MLflow it installs them offline from the bundle publish-code puts beside it
(platform_common.monitoring MONITORING_LOCK_FILE and MONITORING_WHEELHOUSE_DIR; `make lock`
writes the lock): `pip install --no-index --find-links <wheelhouse> --require-hashes -r <lock>`,
so only the locked files, checked against their hashes, can be installed. Run from the
repository (no bundle beside the script), it uses the packages already installed. Every setting is
an option or, in brackets, the environment variable the launcher may set instead:

    --model-name            [MODEL_NAME]            the model, as in the platform configuration
    --serving-target        [SERVING_TARGET]        endpoint name, or the batch target name
    --data-bucket           [DATA_BUCKET]           the platform's data bucket (capture, labels, reports)
    --baseline-uri          [BASELINE_URI]          s3://.../evidence/<model>/<execution id>/baseline/ of the champion
    --model-package-arn     [MODEL_PACKAGE_ARN]     the champion's model package (version) ARN
    --mlflow-run-id         [MLFLOW_RUN_ID]         the champion's MLflow run
    --metric                [QUALITY_METRIC]        accuracy, f1, precision or recall
    --drift-threshold       [DRIFT_THRESHOLD]       share of drifted features (0-1] at which drift is detected
    --since                 [WINDOW_SINCE]          ISO 8601 start of the drift window (default: the last run's watermark)
    --until                 [WINDOW_UNTIL]          ISO 8601 end of the window (default: now)
    --lookback-days         [LOOKBACK_DAYS]         how far back inferences are joined with late labels (default 7)
    --metric-namespace      [METRIC_NAMESPACE]      CloudWatch namespace (platform_common.monitoring.metric_namespace)
    --tracking-uri          [MLFLOW_TRACKING_URI]   MLflow tracking server ARN or URI; without one nothing is logged to MLflow
    --run-id                [MONITORING_RUN_ID]     the run's id, its report folder (default: generated)

The metric dimensions are platform_common.monitoring.metric_dimensions(model, serving target).

What a run does:

1. Reads the baseline (`reference.csv`, `schema.json`, written by the pipeline's Baseline step).
2. Reads endpoint data capture under `monitoring/<model>/capture/` and batch outputs under
   `predictions/<model>/` (formats: jobs/monitoring/records.py). Objects last modified in
   (since, until] are the run's current data, compared with the reference for drift with
   Evidently's DataDriftPreset. Objects in (until - lookback, until] are joined by inference id
   with every label delivered under `monitoring/<model>/ground-truth/` since the lookback start,
   so a label that arrives after its inference is counted on the next run that still covers it.
   Prediction drift (the predicted classes against the training labels' classes) is measured on
   the same data and reported on its own (PredictionDrift): it moves before labels arrive.
3. Computes the configured quality metric on the joined inferences with Evidently.
4. Writes `summary.json`, `report.json`, `report.html` and `malformed.jsonl` under
   `monitoring/<model>/reports/<run id>/`, and the new watermark (until) beside the runs.
5. Logs the report and the figures to MLflow as a run nested under the champion's run.
6. Publishes the figures to CloudWatch (jobs/monitoring/metrics.py).

Malformed capture, batch or label lines and unreadable files are skipped, listed and counted
(MalformedRecords), never fatal. A bad setting stops the job at once with one line naming it.

The S3 watermark (`monitoring/<model>/reports/watermark.json`) is for manual runs only. Runs the
platform starts take their window from the launcher, which keeps its own watermark in the
platform's lock table (lambdas/monitoring_launcher/logic.py), moves it only once it sees the job
Completed, and always passes `--since`; the job then never reads the S3 file. A run started by
hand without `--since` (a CreateProcessingJob by an operator, or this script run locally) starts
where the last completed run of either kind ended, which is why every run still writes it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jobs.monitoring import listing, metrics, records
from platform_common import monitoring

QUALITY_METRICS = monitoring.QUALITY_METRICS
DEFAULT_LOOKBACK_DAYS = 7
SUMMARY_FILE = "summary.json"
REPORT_JSON_FILE = "report.json"
REPORT_HTML_FILE = "report.html"
MALFORMED_FILE = "malformed.jsonl"
SUMMARY_FORMAT = "mlops-platform-monitoring-run/1"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    """One run's settings, validated."""

    model: str
    serving_target: str
    data_bucket: str
    baseline_bucket: str
    baseline_prefix: str
    model_package_arn: str
    mlflow_run_id: str
    metric: str
    drift_threshold: float
    since: datetime.datetime | None
    until: datetime.datetime
    lookback_days: int
    namespace: str
    tracking_uri: str | None
    run_id: str

    @property
    def lookback_start(self) -> datetime.datetime:
        """The oldest inference time still joined with labels."""
        return self.until - datetime.timedelta(days=self.lookback_days)

    @property
    def report_prefix(self) -> str:
        """Key prefix of this run's report folder."""
        return f"{monitoring.reports_prefix(self.model)}{self.run_id}/"


_OPTIONS: tuple[tuple[str, str, bool], ...] = (
    # (option, environment variable, required)
    ("model-name", "MODEL_NAME", True),
    ("serving-target", "SERVING_TARGET", True),
    ("data-bucket", "DATA_BUCKET", True),
    ("baseline-uri", "BASELINE_URI", True),
    ("model-package-arn", "MODEL_PACKAGE_ARN", True),
    ("mlflow-run-id", "MLFLOW_RUN_ID", True),
    ("metric", "QUALITY_METRIC", True),
    ("drift-threshold", "DRIFT_THRESHOLD", True),
    ("since", "WINDOW_SINCE", False),
    ("until", "WINDOW_UNTIL", False),
    ("lookback-days", "LOOKBACK_DAYS", False),
    ("metric-namespace", "METRIC_NAMESPACE", True),
    ("tracking-uri", "MLFLOW_TRACKING_URI", False),
    ("run-id", "MONITORING_RUN_ID", False),
)


def parse_settings(
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    *,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> Settings:
    """The run's settings from options and environment; SettingsError naming the first bad one."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, variable, _ in _OPTIONS:
        parser.add_argument(f"--{option}", default=environ.get(variable) or None, help=f"(env {variable})")
    args = vars(parser.parse_args(argv))
    value: dict[str, str | None] = {option: args[option.replace("-", "_")] for option, _, _ in _OPTIONS}
    for option, variable, required in _OPTIONS:
        if required and not value[option]:
            raise SettingsError(f"--{option}: missing; pass it or set {variable}")
    given = {option: str(text) for option, text in value.items() if text}

    metric = given["metric"]
    if metric not in QUALITY_METRICS:
        raise SettingsError(f"--metric: got {metric!r}; expected one of {', '.join(QUALITY_METRICS)}")
    threshold = _number("drift-threshold", given["drift-threshold"])
    if not 0 < threshold <= 1:
        raise SettingsError(f"--drift-threshold: got {threshold}; expected a share in (0, 1]")
    lookback = _integer("lookback-days", given.get("lookback-days", str(DEFAULT_LOOKBACK_DAYS)))
    if lookback < 1:
        raise SettingsError(f"--lookback-days: got {lookback}; expected at least 1")
    until = _time("until", given["until"]) if "until" in given else now()
    since = _time("since", given["since"]) if "since" in given else None
    if since is not None and since >= until:
        raise SettingsError(f"--since: got {since.isoformat()}; expected a time before --until ({until.isoformat()})")
    baseline_bucket, baseline_prefix = _s3_prefix("baseline-uri", given["baseline-uri"])
    namespace = given["metric-namespace"]
    if namespace.startswith("AWS/") or namespace.startswith(":") or len(namespace) > 255:
        # Amazon CloudWatch API Reference, "PutMetricData" (Namespace: not "AWS/"; 1-255 characters,
        # pattern [^:].*), https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
        raise SettingsError(f"--metric-namespace: got {namespace!r}; expected 1-255 characters, not starting AWS/ or :")
    return Settings(
        model=given["model-name"],
        serving_target=given["serving-target"],
        data_bucket=given["data-bucket"],
        baseline_bucket=baseline_bucket,
        baseline_prefix=baseline_prefix,
        model_package_arn=given["model-package-arn"],
        mlflow_run_id=given["mlflow-run-id"],
        metric=metric,
        drift_threshold=threshold,
        since=since,
        until=until,
        lookback_days=lookback,
        namespace=namespace,
        tracking_uri=given.get("tracking-uri"),
        run_id=given.get("run-id") or f"{until:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}",
    )


def _number(option: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SettingsError(f"--{option}: got {text!r}; expected a number") from None


def _integer(option: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"--{option}: got {text!r}; expected a whole number") from None


def _time(option: str, text: str) -> datetime.datetime:
    try:
        return records.parse_time(text, name=f"--{option}")
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _s3_prefix(option: str, uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:] or not uri[5:].split("/", 1)[0]:
        raise SettingsError(f"--{option}: got {uri!r}; expected s3://<bucket>/<prefix>/")
    bucket, prefix = uri[5:].split("/", 1)
    return bucket, prefix if prefix.endswith("/") or not prefix else prefix + "/"


class Tracker(Protocol):
    """Where a run's report and figures are recorded besides S3 (MLflow, or nothing)."""

    def record(
        self, *, settings: Settings, figures: Mapping[str, float], artifacts: Mapping[str, str]
    ) -> str | None: ...


class NoTracker:
    """No tracking URI given: nothing is logged to MLflow."""

    def record(self, *, settings: Settings, figures: Mapping[str, float], artifacts: Mapping[str, str]) -> str | None:
        """Record nothing."""
        return None


class MlflowTracker:
    """A run nested under the champion's MLflow run, with the figures as metrics and the reports as artifacts."""

    def __init__(self, tracking_uri: str) -> None:
        self._tracking_uri = tracking_uri

    def record(self, *, settings: Settings, figures: Mapping[str, float], artifacts: Mapping[str, str]) -> str | None:
        """Log the run; returns the new MLflow run id."""
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(self._tracking_uri)
        client = MlflowClient()
        champion = client.get_run(settings.mlflow_run_id)
        # mlflow.parentRunId is the tag MLflow itself sets for nested runs: the UI lists the
        # monitoring runs under the champion's training run, in its experiment.
        run = client.create_run(
            champion.info.experiment_id,
            run_name=f"monitoring-{settings.run_id}",
            tags={
                "mlflow.parentRunId": settings.mlflow_run_id,
                "monitoring.serving_target": settings.serving_target,
                "monitoring.model_package_arn": settings.model_package_arn,
                "monitoring.window_until": settings.until.isoformat(),
            },
        )
        run_id: str = run.info.run_id
        for name, value in figures.items():
            client.log_metric(run_id, name, value)
        for name, text in artifacts.items():
            client.log_text(run_id, text, f"monitoring/{name}")
        client.set_terminated(run_id)
        return run_id


def _read_text(s3: Any, bucket: str, key: str) -> str:
    with s3.get_object(Bucket=bucket, Key=key)["Body"] as body:
        text: str = body.read().decode("utf-8")
    return text


@dataclass
class Collected:
    """Everything the run read: current inferences, the lookback window's, labels and what was skipped."""

    current: list[records.Inference]
    window: list[records.Inference]
    labels: dict[str, str]
    malformed: list[records.Malformed]


def read_watermark(s3: Any, settings: Settings) -> datetime.datetime | None:
    """The end of the last completed run's window, if one was recorded."""
    key = monitoring.reports_prefix(settings.model) + monitoring.WATERMARK_FILE
    try:
        text = _read_text(s3, settings.data_bucket, key)
    except s3.exceptions.NoSuchKey:
        return None
    return records.parse_time(json.loads(text)["until"], name=f"s3://{settings.data_bucket}/{key} until")


def collect(s3: Any, settings: Settings, *, since: datetime.datetime, feature_count: int) -> Collected:
    """Read capture, batch outputs and labels of the window; malformed input is listed, not raised."""
    start = min(since, settings.lookback_start)
    current: list[records.Inference] = []
    window: list[records.Inference] = []
    malformed: list[records.Malformed] = []
    # Capture is listed by its hour folders from the window's start (jobs/monitoring/listing.py).
    sources = (
        (monitoring.capture_prefix(settings.model), listing.capture_objects, records.read_capture),
        (monitoring.predictions_prefix(settings.model), listing.prefix_objects, records.read_batch_output),
    )
    for prefix, lister, reader in sources:
        for item in lister(s3, settings.data_bucket, prefix, after=start, until=settings.until):
            is_current = item.modified > since
            source = f"s3://{settings.data_bucket}/{item.key}"
            try:
                found, skipped = reader(
                    _read_text(s3, settings.data_bucket, item.key), source=source, feature_count=feature_count
                )
            except (UnicodeDecodeError, OSError) as error:
                found, skipped = [], [records.Malformed(source, None, f"unreadable: {error}")]
            if item.modified > settings.lookback_start:
                window.extend(found)
            if is_current:
                current.extend(found)
                # Lines are counted once, on the run whose window first holds their file.
                malformed.extend(skipped)
    delivered: list[records.Label] = []
    for item in listing.prefix_objects(
        s3, settings.data_bucket, monitoring.ground_truth_prefix(settings.model), after=start, until=settings.until
    ):
        source = f"s3://{settings.data_bucket}/{item.key}"
        try:
            labels, skipped = records.read_labels(_read_text(s3, settings.data_bucket, item.key), source=source)
        except (UnicodeDecodeError, OSError) as error:
            labels, skipped = [], [records.Malformed(source, None, f"unreadable: {error}")]
        delivered.extend(labels)
        if item.modified > since:
            malformed.extend(skipped)
    return Collected(current=current, window=window, labels=records.latest_labels(delivered), malformed=malformed)


def run(
    settings: Settings,
    *,
    s3: Any,
    cloudwatch: Any,
    tracker: Tracker,
    analyse: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """One monitoring run, from the baseline to the published metrics; returns the run summary."""
    from jobs.monitoring import analysis

    baseline = analysis.Baseline.from_texts(
        schema=_read_text(s3, settings.baseline_bucket, settings.baseline_prefix + monitoring.BASELINE_SCHEMA_FILE),
        reference=_read_text(
            s3, settings.baseline_bucket, settings.baseline_prefix + monitoring.BASELINE_REFERENCE_FILE
        ),
    )
    since = settings.since or read_watermark(s3, settings) or settings.lookback_start
    collected = collect(s3, settings, since=since, feature_count=len(baseline.feature_names))
    result = (analyse or analysis.analyse)(
        baseline,
        current=collected.current,
        window=collected.window,
        labels=collected.labels,
        metric=settings.metric,
        drift_threshold=settings.drift_threshold,
    )
    figures = metrics.RunFigures(
        quality_metric=settings.metric,
        quality_value=result.quality_value,
        drifted_feature_share=result.drifted_feature_share,
        drift_detected=result.drift_detected,
        prediction_drift_detected=result.prediction_drift_detected,
        inferences_analysed=len(collected.current),
        labelled_inferences=result.labelled_inferences,
        malformed_records=len(collected.malformed),
    )
    summary = _summary(settings, since, collected, result, figures)
    artifacts = {REPORT_JSON_FILE: result.report_json, REPORT_HTML_FILE: result.report_html, SUMMARY_FILE: ""}
    mlflow_figures = {
        name: float(value)
        for name, value in {
            settings.metric: figures.quality_value,
            monitoring.DRIFTED_FEATURE_SHARE: figures.drifted_feature_share,
            monitoring.DRIFT_DETECTED: None if figures.drift_detected is None else float(figures.drift_detected),
            monitoring.PREDICTION_DRIFT: None
            if figures.prediction_drift_detected is None
            else float(figures.prediction_drift_detected),
            monitoring.INFERENCES_ANALYSED: figures.inferences_analysed,
            monitoring.LABELLED_INFERENCES: figures.labelled_inferences,
            monitoring.MALFORMED_RECORDS: figures.malformed_records,
        }.items()
        if value is not None
    }
    artifacts[SUMMARY_FILE] = json.dumps(summary, indent=2)
    summary["mlflow_run_id"] = tracker.record(settings=settings, figures=mlflow_figures, artifacts=artifacts)
    _write_reports(s3, settings, summary, result, collected.malformed)
    cloudwatch.put_metric_data(
        **metrics.put_metric_data_request(
            figures,
            namespace=settings.namespace,
            dimensions=monitoring.metric_dimensions(settings.model, settings.serving_target),
            timestamp=settings.until,
        )
    )
    # Last: a run that failed before this point is read again, whole, by the next run.
    watermark = {"until": settings.until.isoformat(), "run_id": settings.run_id}
    s3.put_object(
        Bucket=settings.data_bucket,
        Key=monitoring.reports_prefix(settings.model) + monitoring.WATERMARK_FILE,
        Body=json.dumps(watermark).encode(),
    )
    return summary


def _summary(
    settings: Settings, since: datetime.datetime, collected: Collected, result: Any, figures: metrics.RunFigures
) -> dict[str, Any]:
    return {
        "format": SUMMARY_FORMAT,
        "run_id": settings.run_id,
        "model": settings.model,
        "serving_target": settings.serving_target,
        "champion": {
            "model_package_arn": settings.model_package_arn,
            "mlflow_run_id": settings.mlflow_run_id,
            "baseline_uri": f"s3://{settings.baseline_bucket}/{settings.baseline_prefix}",
        },
        "window": {
            "since": since.isoformat(),
            "until": settings.until.isoformat(),
            "lookback_start": settings.lookback_start.isoformat(),
        },
        "drift": {
            "threshold": settings.drift_threshold,
            "drifted_feature_share": figures.drifted_feature_share,
            "detected": figures.drift_detected,
            "features": result.drifted_features,
        },
        # Apart from the features: it needs no label (jobs/monitoring/analysis.py).
        "prediction_drift": {
            "detected": result.prediction_drift_detected,
            "score": result.prediction_drift_score,
            "reference": "the baseline's target classes",
        },
        "quality": {"metric": settings.metric, "value": figures.quality_value},
        "counts": {
            monitoring.INFERENCES_ANALYSED: figures.inferences_analysed,
            monitoring.LABELLED_INFERENCES: figures.labelled_inferences,
            monitoring.MALFORMED_RECORDS: figures.malformed_records,
        },
        "malformed_file": MALFORMED_FILE,
    }


def _write_reports(
    s3: Any, settings: Settings, summary: Mapping[str, Any], result: Any, malformed: Sequence[records.Malformed]
) -> None:
    files = {
        SUMMARY_FILE: json.dumps(summary, indent=2) + "\n",
        REPORT_JSON_FILE: result.report_json,
        REPORT_HTML_FILE: result.report_html,
        MALFORMED_FILE: "".join(json.dumps(item.as_dict()) + "\n" for item in malformed),
    }
    for name, text in files.items():
        s3.put_object(Bucket=settings.data_bucket, Key=settings.report_prefix + name, Body=text.encode())


def offline_install_command(bundle_dir: Path, *, python: str = sys.executable) -> list[str]:
    """pip's offline, hash-checked install of the bundle published in `bundle_dir` (the script's folder)."""
    lock = bundle_dir / Path(monitoring.MONITORING_LOCK_FILE).name
    wheelhouse = bundle_dir / Path(monitoring.MONITORING_WHEELHOUSE_DIR).name
    # Secure installs (https://pip.pypa.io/en/stable/topics/secure-installs/): with --require-hashes
    # every requirement must be pinned with == and match a listed hash, and --no-index leaves the
    # wheelhouse as the only source.
    options = ["--no-index", "--find-links", str(wheelhouse), "--require-hashes", "-r", str(lock)]
    return [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *options]


def _pip(command: Sequence[str]) -> int:
    return subprocess.run(command, check=False).returncode


def install_bundle(bundle_dir: Path, *, run_pip: Callable[[Sequence[str]], int] | None = None) -> str | None:
    """Install the published bundle if `bundle_dir` holds its lock; the error line if pip failed."""
    if not (bundle_dir / Path(monitoring.MONITORING_LOCK_FILE).name).is_file():
        return None
    command = offline_install_command(bundle_dir)
    code = (run_pip or _pip)(command)
    if code != 0:
        return f"offline install from {bundle_dir} failed (pip exit {code}); nothing was analysed: {' '.join(command)}"
    return None


def main(
    argv: Sequence[str] | None = None, *, s3: Any = None, cloudwatch: Any = None, bundle_dir: Path | None = None
) -> int:
    """Run once; a bad setting exits 2 with one line naming it, a failed install exits 3."""
    try:
        settings = parse_settings(argv, dict(os.environ))
    except SettingsError as error:
        print(f"monitor_model: {error}", file=sys.stderr)
        return 2
    if bundle_dir is not None:
        failure = install_bundle(bundle_dir)
        if failure:
            print(f"monitor_model: {failure}", file=sys.stderr)
            return 3
    if s3 is None or cloudwatch is None:
        import boto3

        s3 = s3 or boto3.client("s3")
        cloudwatch = cloudwatch or boto3.client("cloudwatch")
    tracker: Tracker = MlflowTracker(settings.tracking_uri) if settings.tracking_uri else NoTracker()
    summary = run(settings, s3=s3, cloudwatch=cloudwatch, tracker=tracker)
    shown = ("run_id", "drift", "prediction_drift", "quality", "counts")
    print(json.dumps({key: summary[key] for key in shown}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(bundle_dir=Path(__file__).resolve().parent))
