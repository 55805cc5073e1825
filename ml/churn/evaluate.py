"""Score the trained churn model on the test split and write evaluation.json (the pipeline's Evaluate step).

The pipeline's metric check reads `metrics.<name>.value` from the file, for example

    {"metrics": {"accuracy": {"value": 0.95}, ...}, "test_rows": 750}

The model arrives as SageMaker packs it (`model.tar.gz` holding `model.joblib`); a directory
holding `model.joblib` itself works too, for local runs:

    python evaluate.py --model-dir model/ --test-dir prepared/test --output-dir evaluation/ --target churned

Only scikit-learn, pandas and joblib are needed: this runs in the processing image, which has
no MLflow.
"""

from __future__ import annotations

import argparse
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

MODEL_FILE = "model.joblib"
MODEL_ARCHIVE = "model.tar.gz"
EVALUATION_FILE = "evaluation.json"


class EvaluationError(ValueError):
    """The model or the test data cannot be evaluated."""


def load_model(model_dir: Path) -> Any:
    """The model from `model.joblib` in `model_dir`, or from inside `model.tar.gz` there."""
    if (model_dir / MODEL_FILE).is_file():
        return joblib.load(model_dir / MODEL_FILE)
    archive = model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        raise EvaluationError(f"neither {MODEL_FILE} nor {MODEL_ARCHIVE} is in {model_dir}")
    with tarfile.open(archive, "r:gz") as tar:
        # Read the one member in place: nothing is unpacked, so no archive path can escape.
        members = [m for m in tar.getmembers() if m.isfile() and m.name.removeprefix("./") == MODEL_FILE]
        if not members:
            raise EvaluationError(f"{archive} holds no {MODEL_FILE}; it holds {tar.getnames()}")
        model_file = tar.extractfile(members[0])
        if model_file is None:
            raise EvaluationError(f"{MODEL_FILE} in {archive} cannot be read")
        with model_file:
            return joblib.load(model_file)


def read_test_set(directory: Path, target: str) -> tuple[pd.DataFrame, pd.Series]:
    files = sorted(path for path in directory.rglob("*.csv") if path.is_file())
    if not files:
        raise EvaluationError(f"no .csv file in {directory}")
    frame = pd.concat([pd.read_csv(path) for path in files], ignore_index=True)
    if target not in frame.columns:
        raise EvaluationError(f"the target column {target!r} is missing; columns are {list(frame.columns)}")
    return frame.drop(columns=[target]), frame[target]


def evaluate(model: Any, features: pd.DataFrame, target: pd.Series) -> dict[str, Any]:
    """The evaluation report of `model` on a labelled test set (positive class: the largest label)."""
    positive = model.classes_[-1]
    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, -1]
    metrics = {
        "accuracy": accuracy_score(target, predicted),
        "f1": f1_score(target, predicted, pos_label=positive, zero_division=0),
        "precision": precision_score(target, predicted, pos_label=positive, zero_division=0),
        "recall": recall_score(target, predicted, pos_label=positive, zero_division=0),
        "roc_auc": roc_auc_score(target == positive, probability),
    }
    return {
        "metrics": {name: {"value": float(value)} for name, value in metrics.items()},
        "test_rows": len(features),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument("--target", required=True, help="the label column (the pipeline passes the model's target)")
    args = parser.parse_args(argv)

    features, target = read_test_set(args.test_dir, args.target)
    report = evaluate(load_model(args.model_dir), features, target)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2) + "\n")
    summary = ", ".join(f"{name}={entry['value']:.4f}" for name, entry in report["metrics"].items())
    print(f"test set ({report['test_rows']} rows): {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
