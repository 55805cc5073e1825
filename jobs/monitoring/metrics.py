"""The PutMetricData request of one monitoring run, in platform_common.monitoring's namespace, names and dimensions.

Limits it keeps to (Amazon CloudWatch API Reference, "PutMetricData",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html): "up to 30
dimensions per metric"; "Each request is also limited to no more than 1000 different metrics";
NaN and infinities are "not supported"; a namespace may not begin with "AWS/". A run publishes
at most eight metrics with two dimensions each, in one request; a quality metric that could not be
computed (no labelled inference) is left out rather than sent as NaN.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_common import monitoring

MAX_DIMENSIONS = 30
MAX_METRICS_PER_REQUEST = 1000


@dataclass(frozen=True)
class RunFigures:
    """What one run measured, as CloudWatch receives it."""

    quality_metric: str
    quality_value: float | None
    drifted_feature_share: float | None
    drift_detected: bool | None
    prediction_drift_detected: bool | None
    inferences_analysed: int
    labelled_inferences: int
    malformed_records: int


def put_metric_data_request(
    figures: RunFigures, *, namespace: str, dimensions: Mapping[str, str], timestamp: datetime.datetime
) -> dict[str, Any]:
    """The keyword arguments of one `cloudwatch.put_metric_data` call for the run."""
    if namespace.startswith("AWS/"):
        raise ValueError(f"--metric-namespace: got {namespace!r}; namespaces beginning with 'AWS/' are AWS's own")
    if not 1 <= len(dimensions) <= MAX_DIMENSIONS:
        raise ValueError(f"--dimensions: got {len(dimensions)} dimensions; expected 1 to {MAX_DIMENSIONS}")
    values: list[tuple[str, float, str]] = [
        (monitoring.MONITORING_RUNS, 1.0, "Count"),
        (monitoring.INFERENCES_ANALYSED, float(figures.inferences_analysed), "Count"),
        (monitoring.LABELLED_INFERENCES, float(figures.labelled_inferences), "Count"),
        (monitoring.MALFORMED_RECORDS, float(figures.malformed_records), "Count"),
    ]
    if figures.drifted_feature_share is not None and figures.drift_detected is not None:
        values.append((monitoring.DRIFTED_FEATURE_SHARE, figures.drifted_feature_share, "None"))
        values.append((monitoring.DRIFT_DETECTED, 1.0 if figures.drift_detected else 0.0, "None"))
    if figures.prediction_drift_detected is not None:
        values.append((monitoring.PREDICTION_DRIFT, 1.0 if figures.prediction_drift_detected else 0.0, "None"))
    if figures.quality_value is not None and math.isfinite(figures.quality_value):
        values.append((figures.quality_metric, figures.quality_value, "None"))
    wire_dimensions = [{"Name": name, "Value": value} for name, value in dimensions.items()]
    return {
        "Namespace": namespace,
        "MetricData": [
            {"MetricName": name, "Dimensions": wire_dimensions, "Timestamp": timestamp, "Value": value, "Unit": unit}
            for name, value, unit in values
        ],
    }
