"""The monitoring job's pure core: records and the baseline in, Evidently's drift and quality results out.

No S3, CloudWatch or MLflow here: jobs/monitor_model.py reads and writes, this module computes.
Every statistic comes from Evidently (pinned in the monitoring lock): per-feature drift and
the share of drifted features from `DataDriftPreset` (its tests decide, per column and for the
data set, whether drift is detected), prediction drift from `ValueDrift` on the prediction
column, and the quality metric from its classification metrics.

Prediction drift is reported apart from the features: it needs no label, so it is the early
signal while ground truth is late. Its reference is the class distribution of the baseline's
target column (the training labels the model learned to reproduce); the baseline holds no
predictions of its own.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
from evidently.metrics import Accuracy, F1Score, Precision, Recall, ValueDrift
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
    prediction_drift_detected: bool | None
    prediction_drift_score: float | None
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


def _with_prediction(baseline: Baseline, features: pd.DataFrame, predictions: pd.Series) -> pd.DataFrame:
    return features.assign(**{PREDICTION: [normalise_label(value) for value in predictions]})


def drift(baseline: Baseline, current: pd.DataFrame, drift_threshold: float) -> tuple[dict[str, Any], Any]:
    """DataDriftPreset on the features and ValueDrift on the prediction: the result (as a dict) and the snapshot."""
    features = baseline.definition()
    definition = DataDefinition(
        numerical_columns=features.numerical_columns,
        categorical_columns=[*(features.categorical_columns or []), PREDICTION],
    )
    report = Report(
        [DataDriftPreset(columns=baseline.feature_names, drift_share=drift_threshold), ValueDrift(column=PREDICTION)],
        include_tests=True,
    )
    target = baseline.schema["target"]["name"]
    snapshot = report.run(
        Dataset.from_pandas(
            _with_prediction(baseline, baseline.typed(current), current[PREDICTION]), data_definition=definition
        ),
        Dataset.from_pandas(
            _with_prediction(baseline, baseline.typed(baseline.reference), baseline.reference[target]),
            data_definition=definition,
        ),
    )
    return snapshot.dict(), snapshot


def _test_type(test: Mapping[str, Any]) -> str:
    return str(test.get("metric_config", {}).get("params", {}).get("type", ""))


@dataclass(frozen=True)
class DriftFigures:
    """The drift verdicts of one run, as Evidently decided them."""

    share: float
    detected: bool
    per_feature: dict[str, bool]
    prediction_detected: bool
    prediction_score: float


def drift_figures(result: Mapping[str, Any]) -> DriftFigures:
    """Share of drifted features, whether the data set drifted, each feature's verdict and the prediction's."""
    share: float | None = None
    prediction_score: float | None = None
    for metric in result["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(f":{_DATASET_DRIFT_TEST}"):
            share = float(metric["value"]["share"])
        elif kind.endswith(f":{_COLUMN_DRIFT_TEST}") and metric["config"].get("column") == PREDICTION:
            prediction_score = float(metric["value"])
    detected: bool | None = None
    prediction_detected: bool | None = None
    per_feature: dict[str, bool] = {}
    for test in result["tests"]:
        kind = _test_type(test)
        if kind.endswith(f":{_DATASET_DRIFT_TEST}"):
            # The preset's test passes while the share stays below drift_share.
            detected = test["status"] == "FAIL"
        elif kind.endswith(f":{_COLUMN_DRIFT_TEST}"):
            column = test["metric_config"]["params"]["column"]
            if column == PREDICTION:
                prediction_detected = test["status"] == "FAIL"
            else:
                per_feature[column] = test["status"] == "FAIL"
    if share is None or detected is None:
        raise RuntimeError("Evidently's DataDriftPreset returned no DriftedColumnsCount result and test")
    if prediction_detected is None or prediction_score is None:
        raise RuntimeError("Evidently's ValueDrift on the prediction column returned no result and test")
    return DriftFigures(share, detected, per_feature, prediction_detected, prediction_score)


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
    figures: DriftFigures | None = None
    reports: dict[str, Any] = {}
    html: list[str] = []
    if current:
        drift_result, drift_snapshot = drift(baseline, inference_frame(current, names), drift_threshold)
        figures = drift_figures(drift_result)
        reports["drift"] = drift_result
        html.append(drift_snapshot.get_html_str(as_iframe=False))
    value, labelled, quality_result, quality_snapshot = quality(
        baseline, inference_frame(window, names), labels, metric
    )
    if quality_result is not None:
        reports["quality"] = quality_result
        html.append(quality_snapshot.get_html_str(as_iframe=False))
    return Analysis(
        drifted_feature_share=figures.share if figures else None,
        drift_detected=figures.detected if figures else None,
        drifted_features=figures.per_feature if figures else {},
        prediction_drift_detected=figures.prediction_detected if figures else None,
        prediction_drift_score=figures.prediction_score if figures else None,
        quality_value=value,
        labelled_inferences=labelled,
        report_json=json.dumps(reports, indent=2, default=str),
        report_html="\n".join(html) or "<p>No inference in the window: nothing to report.</p>",
    )
