"""The monitoring job's pure core: records and the baseline in, Evidently's drift and quality results out.

No S3, CloudWatch or MLflow here: jobs/monitor_model.py reads and writes, this module computes.
Every statistic comes from Evidently (pinned in the monitoring lock): per-feature drift and
the share of drifted features from `DataDriftPreset` (its tests decide, per column and for the
data set, whether drift is detected), and the quality metric from its classification metrics.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
from evidently.metrics import Accuracy, F1Score, Precision, Recall
from evidently.presets import DataDriftPreset

from jobs.monitoring.records import Inference, normalise_label

TARGET = "target"
PREDICTION = "prediction"
_QUALITY = {"accuracy": Accuracy, "f1": F1Score, "precision": Precision, "recall": Recall}
_DATASET_DRIFT_TEST = "DriftedColumnsCount"
_COLUMN_DRIFT_TEST = "ValueDrift"


class BaselineError(ValueError):
    """The baseline's schema or reference data cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Baseline:
    """The champion's reference data and schema (jobs/write_baseline.py)."""

    schema: Mapping[str, Any]
    reference: pd.DataFrame

    @property
    def feature_names(self) -> list[str]:
        """Feature names in the order the endpoint receives them."""
        return [feature["name"] for feature in self.schema["features"]]

    @property
    def classes(self) -> list[str]:
        """The target's classes, normalised as labels are."""
        return [normalise_label(value) for value in self.schema["target"]["classes"]]

    @classmethod
    def from_texts(cls, *, schema: str, reference: str) -> Baseline:
        """Parse schema.json and reference.csv; BaselineError naming what is wrong."""
        parsed = json.loads(schema)
        features = parsed.get("features") if isinstance(parsed, dict) else None
        if not isinstance(features, list) or not features:
            raise BaselineError("schema.json: features must be a non-empty list of {name, type}")
        for index, feature in enumerate(features):
            if not isinstance(feature, dict) or feature.get("type") not in ("numerical", "categorical"):
                raise BaselineError(f"schema.json: features[{index}] must have a name and type numerical|categorical")
        target = parsed.get("target")
        if not isinstance(target, dict) or not target.get("name") or len(target.get("classes") or []) < 2:
            raise BaselineError("schema.json: target must name the column and at least two classes")
        frame = pd.read_csv(io.StringIO(reference), dtype=str, keep_default_na=False)
        missing = [f["name"] for f in features if f["name"] not in frame.columns]
        if missing or target["name"] not in frame.columns:
            raise BaselineError(f"reference.csv lacks columns {[*missing, target['name']]} that schema.json names")
        return cls(schema=parsed, reference=frame)

    def typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of `frame`, numerical ones as numbers (unparseable values become missing)."""
        out = pd.DataFrame(index=frame.index)
        for feature in self.schema["features"]:
            column = frame[feature["name"]]
            out[feature["name"]] = pd.to_numeric(column, errors="coerce") if feature["type"] == "numerical" else column
        return out

    def definition(self) -> DataDefinition:
        """Evidently's column types for the features."""
        kinds = {feature["name"]: feature["type"] for feature in self.schema["features"]}
        return DataDefinition(
            numerical_columns=[name for name, kind in kinds.items() if kind == "numerical"],
            categorical_columns=[name for name, kind in kinds.items() if kind == "categorical"],
        )


@dataclass(frozen=True)
class Analysis:
    """What one run found."""

    drifted_feature_share: float | None
    drift_detected: bool | None
    drifted_features: dict[str, bool]
    quality_value: float | None
    labelled_inferences: int
    report_json: str
    report_html: str


def inference_frame(inferences: Sequence[Inference], feature_names: Sequence[str]) -> pd.DataFrame:
    """One row per inference: its id, its features (as text) and its prediction."""
    rows = [dict(zip(feature_names, item.features, strict=True)) for item in inferences]
    frame = pd.DataFrame(rows, columns=list(feature_names), dtype=str)
    frame.insert(0, "inference_id", [item.inference_id for item in inferences])
    frame[PREDICTION] = [item.prediction for item in inferences]
    return frame


def drift(baseline: Baseline, current: pd.DataFrame, drift_threshold: float) -> tuple[dict[str, Any], Any]:
    """Evidently's DataDriftPreset on the features: its result (as a dict) and the snapshot."""
    definition = baseline.definition()
    report = Report([DataDriftPreset(drift_share=drift_threshold)], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(baseline.typed(current), data_definition=definition),
        Dataset.from_pandas(baseline.typed(baseline.reference), data_definition=definition),
    )
    return snapshot.dict(), snapshot


def _test_type(test: Mapping[str, Any]) -> str:
    return str(test.get("metric_config", {}).get("params", {}).get("type", ""))


def drift_figures(result: Mapping[str, Any]) -> tuple[float, bool, dict[str, bool]]:
    """Share of drifted features, whether the data set drifted, and each feature's verdict, as Evidently decided."""
    share: float | None = None
    for metric in result["metrics"]:
        if metric["config"]["type"].endswith(f":{_DATASET_DRIFT_TEST}"):
            share = float(metric["value"]["share"])
    detected: bool | None = None
    per_feature: dict[str, bool] = {}
    for test in result["tests"]:
        kind = _test_type(test)
        if kind.endswith(f":{_DATASET_DRIFT_TEST}"):
            # The preset's test passes while the share stays below drift_share.
            detected = test["status"] == "FAIL"
        elif kind.endswith(f":{_COLUMN_DRIFT_TEST}"):
            per_feature[test["metric_config"]["params"]["column"]] = test["status"] == "FAIL"
    if share is None or detected is None:
        raise RuntimeError("Evidently's DataDriftPreset returned no DriftedColumnsCount result and test")
    return share, detected, per_feature


def quality(
    baseline: Baseline, window: pd.DataFrame, labels: Mapping[str, str], metric: str
) -> tuple[float | None, int, dict[str, Any] | None, Any]:
    """The metric on the window's inferences that have a label: value, how many, Evidently's result, snapshot."""
    joined = window.assign(**{TARGET: window["inference_id"].map(labels)}).dropna(subset=[TARGET])
    joined = joined.drop_duplicates(subset="inference_id", keep="last")
    if joined.empty:
        return None, 0, None, None
    classes = baseline.classes
    task: BinaryClassification | MulticlassClassification
    if len(classes) == 2:
        # The positive class is the largest label, as the pipeline's evaluation scores it.
        task = BinaryClassification(target=TARGET, prediction_labels=PREDICTION, pos_label=max(classes, key=_order))
    else:
        task = MulticlassClassification(target=TARGET, prediction_labels=PREDICTION)
    definition = DataDefinition(categorical_columns=[TARGET, PREDICTION], classification=[task])
    frame = joined[[TARGET, PREDICTION]].astype(str)
    snapshot = Report([_QUALITY[metric]()]).run(Dataset.from_pandas(frame, data_definition=definition), None)
    result = snapshot.dict()
    (entry,) = result["metrics"]
    return float(entry["value"]), len(joined), result, snapshot


def _order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def analyse(
    baseline: Baseline,
    *,
    current: Sequence[Inference],
    window: Sequence[Inference],
    labels: Mapping[str, str],
    metric: str,
    drift_threshold: float,
) -> Analysis:
    """Drift of the current inferences against the reference, and quality of the labelled window."""
    if metric not in _QUALITY:
        raise ValueError(f"metric: got {metric!r}; expected one of {', '.join(_QUALITY)}")
    names = baseline.feature_names
    share: float | None = None
    detected: bool | None = None
    per_feature: dict[str, bool] = {}
    reports: dict[str, Any] = {}
    html: list[str] = []
    if current:
        drift_result, drift_snapshot = drift(baseline, inference_frame(current, names), drift_threshold)
        share, detected, per_feature = drift_figures(drift_result)
        reports["drift"] = drift_result
        html.append(drift_snapshot.get_html_str(as_iframe=False))
    value, labelled, quality_result, quality_snapshot = quality(
        baseline, inference_frame(window, names), labels, metric
    )
    if quality_result is not None:
        reports["quality"] = quality_result
        html.append(quality_snapshot.get_html_str(as_iframe=False))
    return Analysis(
        drifted_feature_share=share,
        drift_detected=detected,
        drifted_features=per_feature,
        quality_value=value,
        labelled_inferences=labelled,
        report_json=json.dumps(reports, indent=2, default=str),
        report_html="\n".join(html) or "<p>No inference in the window: nothing to report.</p>",
    )
