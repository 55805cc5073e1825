"""Monitoring runs on generated data, executed in the monitoring environment (.venv-monitoring) with real Evidently.

Run by tests/jobs/test_monitor_model.py as one process (Evidently is imported once): every
scenario runs jobs/monitor_model.run against an in-memory S3 whose objects carry the
LastModified times a scenario needs, and a CloudWatch client that records each request. The
process prints one JSON object: per scenario, each run's summary, PutMetricData request
(timestamps as ISO text) and the report files written. The assertions live in the test module.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from jobs import monitor_model
from platform_common import monitoring

MODEL = "churn"
ENDPOINT = "mlops-dev-churn"
DATA_BUCKET = "mlops-dev-data-123456789012-eu-west-1"
ARTIFACT_BUCKET = "mlops-dev-mlflow-artifacts-123456789012-eu-west-1"
BASELINE_PREFIX = "evidence/churn/k3x9q2w7zv1a/baseline/"
T0 = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
FEATURES = ("tenure", "monthly_charges", "contract")
CONTRACTS = ("month-to-month", "one-year", "two-year")
REFERENCE_ROWS = 300
CURRENT_ROWS = 200


class NoSuchKey(Exception):
    """The fake's missing-key error, where boto3 raises s3.exceptions.NoSuchKey."""


class _Paginator:
    def __init__(self, store: FakeS3) -> None:
        self._store = store

    def paginate(
        self, *, Bucket: str, Prefix: str, Delimiter: str | None = None, StartAfter: str = ""
    ) -> Iterator[dict[str, Any]]:
        # ListObjectsV2's semantics: key order, keys after StartAfter, and keys holding the
        # delimiter past the prefix rolled up into CommonPrefixes.
        contents: list[dict[str, Any]] = []
        folders: list[str] = []
        for (bucket, key), (_, modified) in sorted(self._store.objects.items()):
            if bucket != Bucket or not key.startswith(Prefix) or key <= StartAfter:
                continue
            rest = key[len(Prefix) :]
            if Delimiter and Delimiter in rest:
                folder = Prefix + rest.split(Delimiter, 1)[0] + Delimiter
                if folder not in folders:
                    folders.append(folder)
            else:
                contents.append({"Key": key, "LastModified": modified})
        page: dict[str, Any] = {}
        if contents:
            page["Contents"] = contents
        if folders:
            page["CommonPrefixes"] = [{"Prefix": folder} for folder in folders]
        yield page


class FakeS3:
    """The S3 calls the job makes: list (paginated), get and put, with settable LastModified."""

    class exceptions:
        NoSuchKey = NoSuchKey

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, datetime.datetime]] = {}
        self.clock = T0

    def put(self, bucket: str, key: str, body: bytes | str, modified: datetime.datetime) -> None:
        self.objects[(bucket, key)] = (body.encode() if isinstance(body, str) else body, modified)

    def get_paginator(self, name: str) -> _Paginator:
        assert name == "list_objects_v2"
        return _Paginator(self)

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if (Bucket, Key) not in self.objects:
            raise NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)][0])}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, Any]:
        self.objects[(Bucket, Key)] = (Body, self.clock)
        return {}


class RecordingCloudWatch:
    """Keeps every PutMetricData request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def put_metric_data(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {}


def rows(count: int, seed: int, *, shift: bool = False) -> list[tuple[str, str, str]]:
    """Generated feature rows; `shift` moves both numerical features far from the reference."""
    rng = np.random.default_rng(seed)
    tenure = rng.normal(40 + (30 if shift else 0), 10, count).round(1)
    charges = rng.normal(70 + (60 if shift else 0), 15, count).round(2)
    contract = rng.choice(CONTRACTS, count, p=(0.5, 0.3, 0.2))
    return [(str(t), str(c), str(k)) for t, c, k in zip(tenure, charges, contract, strict=True)]


def baseline(s3: FakeS3) -> None:
    reference = rows(REFERENCE_ROWS, seed=1)
    lines = ["tenure,monthly_charges,contract,churned"]
    lines += [f"{t},{c},{k},{i % 2}" for i, (t, c, k) in enumerate(reference)]
    schema = {
        "format": "mlops-platform-baseline/1",
        "model": MODEL,
        "task": "classification",
        "features": [
            {"name": "tenure", "type": "numerical"},
            {"name": "monthly_charges", "type": "numerical"},
            {"name": "contract", "type": "categorical"},
        ],
        "target": {"name": "churned", "classes": [0, 1]},
        "prediction": {"name": "prediction", "classes": [0, 1]},
    }
    s3.put(ARTIFACT_BUCKET, BASELINE_PREFIX + monitoring.BASELINE_REFERENCE_FILE, "\n".join(lines) + "\n", T0)
    s3.put(ARTIFACT_BUCKET, BASELINE_PREFIX + monitoring.BASELINE_SCHEMA_FILE, json.dumps(schema), T0)


def capture_line(inference_id: str, row: tuple[str, ...], prediction: str, *, base64_input: bool = False) -> str:
    """One data-capture record as SageMaker writes it (see jobs/monitoring/records.py for the page)."""
    data = ",".join(row)
    endpoint_input = {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": "CSV"}
    if base64_input:
        endpoint_input |= {"data": base64.b64encode(data.encode()).decode(), "encoding": "BASE64"}
    return json.dumps(
        {
            "captureData": {
                "endpointInput": endpoint_input,
                "endpointOutput": {
                    "observedContentType": "text/csv; charset=utf-8",
                    "mode": "OUTPUT",
                    "data": prediction,
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {
                "eventId": f"event-{inference_id}",
                "inferenceId": inference_id,
                "inferenceTime": "2026-03-01T10:00:00Z",
            },
            "eventVersion": "0",
        }
    )


def capture_key(hour: int, name: str = "part") -> str:
    return f"{monitoring.capture_prefix(MODEL)}{ENDPOINT}/AllTraffic/2026/03/01/{hour:02d}/{name}.jsonl"


def labels_text(labels: dict[str, str]) -> str:
    return "".join(json.dumps({"inferenceId": key, "label": int(value)}) + "\n" for key, value in labels.items())


def run(s3: FakeS3, until: datetime.datetime, *, threshold: float = 0.5, lookback_days: int = 7) -> dict[str, Any]:
    """One monitoring run at `until`; what it returned, published and wrote."""
    s3.clock = until
    cloudwatch = RecordingCloudWatch()
    settings = monitor_model.parse_settings(
        [
            *("--model-name", MODEL, "--serving-target", ENDPOINT, "--data-bucket", DATA_BUCKET),
            *("--baseline-uri", f"s3://{ARTIFACT_BUCKET}/{BASELINE_PREFIX}"),
            *("--model-package-arn", "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-abc123/3"),
            *("--mlflow-run-id", "run0003", "--metric", "accuracy", "--drift-threshold", str(threshold)),
            *("--until", until.isoformat(), "--lookback-days", str(lookback_days)),
            *("--metric-namespace", monitoring.metric_namespace("mlops-dev"), "--run-id", f"run-{until:%H%M}"),
        ],
        {},
    )
    summary = monitor_model.run(settings, s3=s3, cloudwatch=cloudwatch, tracker=monitor_model.NoTracker())
    report_prefix = f"{monitoring.reports_prefix(MODEL)}run-{until:%H%M}/"
    written = {
        key[len(report_prefix) :]: body.decode()
        for (bucket, key), (body, _) in s3.objects.items()
        if bucket == DATA_BUCKET and key.startswith(report_prefix)
    }
    return {"summary": summary, "requests": cloudwatch.requests, "written": written}


def no_drift() -> list[dict[str, Any]]:
    s3 = FakeS3()
    baseline(s3)
    lines = [capture_line(f"i{n}", row, "0") for n, row in enumerate(rows(CURRENT_ROWS, seed=2))]
    s3.put(DATA_BUCKET, capture_key(10), "\n".join(lines) + "\n", T0 + datetime.timedelta(hours=10))
    return [run(s3, T0 + datetime.timedelta(hours=12))]


def shifted() -> list[dict[str, Any]]:
    s3 = FakeS3()
    baseline(s3)
    lines = [capture_line(f"i{n}", row, "1") for n, row in enumerate(rows(CURRENT_ROWS, seed=3, shift=True))]
    s3.put(DATA_BUCKET, capture_key(10), "\n".join(lines) + "\n", T0 + datetime.timedelta(hours=10))
    return [run(s3, T0 + datetime.timedelta(hours=12))]


def _accuracy_labels(predictions: dict[str, str], correct: int) -> dict[str, str]:
    return {
        key: value if index < correct else str(1 - int(value)) for index, (key, value) in enumerate(predictions.items())
    }


def accuracy_085() -> list[dict[str, Any]]:
    """200 captured inferences, 170 labels equal to the prediction: accuracy 0.85."""
    s3 = FakeS3()
    baseline(s3)
    predictions = {f"i{n}": str(n % 2) for n in range(CURRENT_ROWS)}
    features = rows(CURRENT_ROWS, seed=4)
    lines = [capture_line(key, features[n], value) for n, (key, value) in enumerate(predictions.items())]
    s3.put(DATA_BUCKET, capture_key(10), "\n".join(lines) + "\n", T0 + datetime.timedelta(hours=10))
    labels = _accuracy_labels(predictions, correct=170)
    s3.put(
        DATA_BUCKET,
        monitoring.ground_truth_prefix(MODEL) + "2026/03/01/labels.jsonl",
        labels_text(labels),
        T0 + datetime.timedelta(hours=11),
    )
    return [run(s3, T0 + datetime.timedelta(hours=12))]


def late_label() -> list[dict[str, Any]]:
    """Run 1 sees 10 inferences, 9 labelled; the 10th label lands after run 1; run 2 joins it."""
    s3 = FakeS3()
    baseline(s3)
    features = rows(10, seed=5)
    lines = [capture_line(f"i{n}", features[n], "1") for n in range(10)]
    s3.put(DATA_BUCKET, capture_key(10), "\n".join(lines) + "\n", T0 + datetime.timedelta(hours=10))
    s3.put(
        DATA_BUCKET,
        monitoring.ground_truth_prefix(MODEL) + "first.jsonl",
        labels_text({f"i{n}": "1" for n in range(9)}),
        T0 + datetime.timedelta(hours=11),
    )
    first = run(s3, T0 + datetime.timedelta(hours=12))
    s3.put(
        DATA_BUCKET,
        monitoring.ground_truth_prefix(MODEL) + "late.jsonl",
        labels_text({"i9": "0"}),
        T0 + datetime.timedelta(days=2),
    )
    second = run(s3, T0 + datetime.timedelta(days=2, hours=1))
    return [first, second]


def malformed() -> list[dict[str, Any]]:
    """Good records beside four bad capture lines, one unreadable capture file and one bad label line."""
    s3 = FakeS3()
    baseline(s3)
    features = rows(50, seed=6)
    good = [capture_line(f"i{n}", features[n], "1", base64_input=n % 5 == 0) for n in range(50)]
    bad = [
        "{not json",
        json.dumps({"captureData": {}, "eventVersion": "0"}),
        capture_line("short", ("1.0", "2.0"), "1"),
        json.dumps(
            {
                "captureData": {
                    "endpointInput": {"data": "!!!", "encoding": "BASE64", "mode": "INPUT"},
                    "endpointOutput": {"data": "1", "encoding": "CSV", "mode": "OUTPUT"},
                },
                "eventMetadata": {"eventId": "e-bad"},
            }
        ),
    ]
    s3.put(
        DATA_BUCKET,
        capture_key(10),
        "\n".join([*good[:25], *bad, *good[25:]]) + "\n",
        T0 + datetime.timedelta(hours=10),
    )
    s3.put(DATA_BUCKET, capture_key(11, "binary"), b"\xff\xfe\x00garbage", T0 + datetime.timedelta(hours=11))
    s3.put(
        DATA_BUCKET,
        monitoring.ground_truth_prefix(MODEL) + "labels.jsonl",
        labels_text({f"i{n}": "1" for n in range(50)}) + '{"label": 1}\n',
        T0 + datetime.timedelta(hours=11),
    )
    return [run(s3, T0 + datetime.timedelta(hours=12))]


def batch() -> list[dict[str, Any]]:
    """The accuracy scenario's inferences delivered as batch transform output instead of capture."""
    s3 = FakeS3()
    baseline(s3)
    predictions = {f"b{n}": str(n % 2) for n in range(CURRENT_ROWS)}
    features = rows(CURRENT_ROWS, seed=4)
    lines = [",".join([key, *features[n], value]) for n, (key, value) in enumerate(predictions.items())]
    key = monitoring.predictions_prefix(MODEL) + "mlops-dev-churn-batch-0001/input.csv.out"
    s3.put(DATA_BUCKET, key, "\n".join(lines) + "\n", T0 + datetime.timedelta(hours=10))
    s3.put(
        DATA_BUCKET,
        monitoring.ground_truth_prefix(MODEL) + "batch-labels.jsonl",
        labels_text(_accuracy_labels(predictions, correct=170)),
        T0 + datetime.timedelta(hours=11),
    )
    return [run(s3, T0 + datetime.timedelta(hours=12))]


SCENARIOS = {
    "no_drift": no_drift,
    "shifted": shifted,
    "accuracy_085": accuracy_085,
    "late_label": late_label,
    "malformed": malformed,
    "batch": batch,
}


def main() -> int:
    results = {name: scenario() for name, scenario in SCENARIOS.items()}
    json.dump(results, sys.stdout, default=lambda value: value.isoformat())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
