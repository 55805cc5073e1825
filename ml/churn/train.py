"""Train the churn classifier and log it to MLflow (the pipeline's Train step).

The model is logged to the run but not registered: registration happens in the Register step,
after the pipeline's metric check has passed, so no model version (and, with automatic model
registration, no SageMaker model package awaiting approval) exists for a model that failed it.
The run id and the logged model's URI go to `mlflow_run.json` beside `model.joblib`, so they
travel inside the model artifact to the later steps.

In SageMaker script mode the toolkit passes each hyperparameter as an option
(`--n_estimators 300`) and the data and model paths as SM_* environment variables. The
pipeline sets the MLflow settings in the environment:

- MLFLOW_TRACKING_ARN: the managed tracking server; the sagemaker-mlflow plugin turns the ARN
  into a signed endpoint. MLFLOW_TRACKING_URI (e.g. a local `mlflow server`) is used when no
  ARN is set.
- MLFLOW_EXPERIMENT_NAME: the experiment the run goes to.
- TRIGGER_REASON, TRIGGER_EVENT_ID, PIPELINE_EXECUTION_ARN: why this run happened, kept as
  run tags.

Every setting has an option too, so the script runs locally. `--registered-model-name`
registers the model straight away, which is for experiments outside the pipeline only:

    python train.py --train prepared/train --validation prepared/validation --model-dir model/ \\
        --tracking-uri http://127.0.0.1:5000 --experiment-name churn --target churned
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import matplotlib

matplotlib.use("Agg")  # no display in a training container

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

ALGORITHMS = ("gradient_boosting", "random_forest")
# Validation metrics, logged to MLflow under these names and printed for SageMaker's metric
# definitions as `validation:<name>=<value>`.
METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")
CONFUSION_MATRIX_ARTIFACT = "plots/confusion_matrix.png"
FEATURE_IMPORTANCE_ARTIFACT = "plots/feature_importance.png"
MODEL_FILE = "model.joblib"
# Read by register.py from the model artifact; names the run and the logged model to register.
RUN_INFO_FILE = "mlflow_run.json"
MODEL_ARTIFACT_PATH = "model"
# What loading the logged model needs besides MLflow itself: the estimator's library, the arrays
# inside it and the serializer MLflow's scikit-learn flavor pickles it with.
MODEL_DISTRIBUTIONS = ("scikit-learn", "numpy", "scipy", "cloudpickle")
DEFAULT_EXPERIMENT = "churn"


class DataError(ValueError):
    """The training data cannot be used as it is."""


def read_channel(directory: Path) -> pd.DataFrame:
    """All CSV files of one data channel as one frame."""
    files = sorted(path for path in directory.rglob("*.csv") if path.is_file())
    if not files:
        raise DataError(f"no .csv file in {directory}")
    return pd.concat([pd.read_csv(path) for path in files], ignore_index=True)


def features_and_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise DataError(f"the target column {target!r} is missing; columns are {list(frame.columns)}")
    features = frame.drop(columns=[target])
    # Numbers as float64, so the logged signature accepts a missing value at inference time
    # (an integer column cannot hold one and would fail MLflow's schema check).
    numeric = features.select_dtypes(include="number").columns
    return features.astype(dict.fromkeys(numeric, "float64")), frame[target]


def build_model(features: pd.DataFrame, hyperparameters: argparse.Namespace) -> Pipeline:
    """One-hot encoding of the text columns, numeric columns as they are, then the classifier."""
    # Not "object == dtype": pandas 3 gives text columns a string dtype of their own.
    categorical = list(features.select_dtypes(exclude="number").columns)
    numeric = [column for column in features.columns if column not in categorical]
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numeric", "passthrough", numeric),
        ]
    )
    classifier: GradientBoostingClassifier | RandomForestClassifier
    if hyperparameters.algorithm == "gradient_boosting":
        classifier = GradientBoostingClassifier(
            n_estimators=hyperparameters.n_estimators,
            learning_rate=hyperparameters.learning_rate,
            max_depth=hyperparameters.max_depth or 3,
            min_samples_leaf=hyperparameters.min_samples_leaf,
            random_state=hyperparameters.random_state,
        )
    else:
        classifier = RandomForestClassifier(
            n_estimators=hyperparameters.n_estimators,
            max_depth=hyperparameters.max_depth or None,
            min_samples_leaf=hyperparameters.min_samples_leaf,
            random_state=hyperparameters.random_state,
            n_jobs=-1,
        )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def score(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    """The binary classification metrics of `model` on one data set (positive class: the largest label)."""
    positive = model.classes_[-1]
    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, -1]
    return {
        "accuracy": float(accuracy_score(target, predicted)),
        "f1": float(f1_score(target, predicted, pos_label=positive, zero_division=0)),
        "precision": float(precision_score(target, predicted, pos_label=positive, zero_division=0)),
        "recall": float(recall_score(target, predicted, pos_label=positive, zero_division=0)),
        "roc_auc": float(roc_auc_score(target == positive, probability)),
    }


def confusion_matrix_figure(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> Any:
    figure, axes = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(target, model.predict(features), ax=axes, colorbar=False)
    axes.set_title("Validation confusion matrix")
    figure.tight_layout()
    return figure


def feature_importance_figure(model: Pipeline, top: int = 15) -> Any:
    names = model.named_steps["preprocess"].get_feature_names_out()
    importances = pd.Series(model.named_steps["classifier"].feature_importances_, index=names)
    largest = importances.sort_values().tail(top)
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(largest) + 1.2))
    axes.barh([name.split("__", 1)[-1] for name in largest.index], largest.to_numpy())
    axes.set_xlabel("importance")
    axes.set_title("Feature importance")
    figure.tight_layout()
    return figure


def tracking_uri(cli_value: str | None, environ: Mapping[str, str]) -> str | None:
    """The option, else the tracking server ARN, else MLFLOW_TRACKING_URI; None keeps MLflow's default."""
    return cli_value or environ.get("MLFLOW_TRACKING_ARN") or environ.get("MLFLOW_TRACKING_URI") or None


def run_tags(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    tags = {
        "trigger_reason": args.trigger_reason,
        "trigger_event_id": args.trigger_event_id,
        "pipeline_execution_arn": environ.get("PIPELINE_EXECUTION_ARN", ""),
        "training_job_name": environ.get("TRAINING_JOB_NAME", ""),
    }
    return {key: value for key, value in tags.items() if value}


def model_requirements() -> list[str]:
    """The logged model's pip requirements: MODEL_DISTRIBUTIONS at the versions this training ran with.

    Named rather than inferred: to infer them MLflow loads the model again in a child process
    (about two seconds a training) and arrives at these same pins. MLflow adds its own pin to the
    list it is given (MLflow documentation, "Managing Dependencies in MLflow Models", section
    "Defining All Dependencies by Yourself": https://mlflow.org/docs/latest/ml/model/dependencies).
    """
    return [f"{name}=={version(name)}" for name in MODEL_DISTRIBUTIONS]


def write_run_info(model_dir: Path, run: Any, model_info: Any) -> Path:
    """Record which MLflow run and logged model produced the artifact in `model_dir`."""
    info = {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_uri": model_info.model_uri,
        "model_id": model_info.model_id,
        "artifact_path": MODEL_ARTIFACT_PATH,
    }
    path = model_dir / RUN_INFO_FILE
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    paths = parser.add_argument_group("data and model paths (SageMaker sets SM_CHANNEL_* and SM_MODEL_DIR)")
    paths.add_argument("--train", type=Path, default=Path(environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")))
    paths.add_argument(
        "--validation", type=Path, default=Path(environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    )
    paths.add_argument("--model-dir", type=Path, default=Path(environ.get("SM_MODEL_DIR", "/opt/ml/model")))
    paths.add_argument("--target", required=True, help="the label column (the pipeline passes the model's target)")

    # Hyperparameters arrive as the keys were written in the config, so accept both spellings.
    hyper = parser.add_argument_group("hyperparameters")
    hyper.add_argument("--algorithm", choices=ALGORITHMS, default="gradient_boosting")
    hyper.add_argument("--n-estimators", "--n_estimators", dest="n_estimators", type=int, default=200)
    hyper.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float, default=0.1)
    hyper.add_argument(
        "--max-depth", "--max_depth", dest="max_depth", type=int, default=0, help="0: the algorithm's default"
    )
    hyper.add_argument("--min-samples-leaf", "--min_samples_leaf", dest="min_samples_leaf", type=int, default=1)
    hyper.add_argument("--random-state", "--random_state", dest="random_state", type=int, default=42)

    tracking = parser.add_argument_group("MLflow")
    tracking.add_argument("--tracking-uri", default=None)
    tracking.add_argument("--experiment-name", default=environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)
    # Deliberately not read from the environment: in the pipeline only the Register step registers.
    tracking.add_argument(
        "--registered-model-name", default=None, help="register the model at once (local use; the pipeline does not)"
    )
    tracking.add_argument("--trigger-reason", default=environ.get("TRIGGER_REASON") or "manual")
    tracking.add_argument("--trigger-event-id", default=environ.get("TRIGGER_EVENT_ID") or "")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    environ = dict(os.environ)
    args = parse_args(argv, environ)
    train_x, train_y = features_and_target(read_channel(args.train), args.target)
    validation_x, validation_y = features_and_target(read_channel(args.validation), args.target)

    model = build_model(train_x, args).fit(train_x, train_y)
    metrics = score(model, validation_x, validation_y)
    for name in METRICS:
        print(f"validation:{name}={metrics[name]:.6f}")

    args.model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model_dir / MODEL_FILE)

    uri = tracking_uri(args.tracking_uri, environ)
    if uri:
        mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(args.experiment_name)
    tags = run_tags(args, environ)
    with mlflow.start_run(run_name=environ.get("TRAINING_JOB_NAME") or None, tags=tags) as run:
        mlflow.log_params(
            {
                "algorithm": args.algorithm,
                "n_estimators": args.n_estimators,
                "learning_rate": args.learning_rate,
                "max_depth": args.max_depth,
                "min_samples_leaf": args.min_samples_leaf,
                "random_state": args.random_state,
                "train_rows": len(train_x),
                "validation_rows": len(validation_x),
                "features": len(train_x.columns),
            }
        )
        mlflow.log_metrics(metrics)
        for figure, artifact in (
            (confusion_matrix_figure(model, validation_x, validation_y), CONFUSION_MATRIX_ARTIFACT),
            (feature_importance_figure(model), FEATURE_IMPORTANCE_ARTIFACT),
        ):
            mlflow.log_figure(figure, artifact)
            plt.close(figure)
        model_info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT_PATH,
            signature=infer_signature(validation_x, model.predict(validation_x)),
            input_example=train_x.head(5),
            pip_requirements=model_requirements(),
            registered_model_name=args.registered_model_name,
        )
        write_run_info(args.model_dir, run, model_info)
        if args.registered_model_name:
            print(f"registered {args.registered_model_name} version {model_info.registered_model_version}")
        else:
            print("the model is logged, not registered: the pipeline registers it once it passes the metric check")
        print(f"mlflow run {run.info.run_id} in experiment {args.experiment_name!r} at {mlflow.get_tracking_uri()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
