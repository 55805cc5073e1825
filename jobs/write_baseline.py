"""Write one model version's monitoring baseline (the pipeline's Baseline step, after the metric check passed).

The monitoring job (jobs/monitor_model.py) compares what the serving version sees with what it
learned from. Its reference is written here, from the training split the Prepare step wrote:

- `reference.csv`: the split's rows (features and target, a seeded sample of at most
  `--max-rows` rows, so every monitoring run reads a bounded file);
- `schema.json`: the feature names in the order the endpoint receives them, each typed
  `numerical` or `categorical`, the target column and its classes, and what the prediction
  column holds (the class label the endpoint returns, first CSV value of its response).

SageMaker uploads the step's output, with the pipeline role, to
`s3://<artifact bucket>/evidence/<model>/<execution id>/baseline/`, beside the evidence report and
under the same prefix only the pipeline role may write (platform_common.monitoring names the files).

Runs in the processing image with the standard library only. Settings come from the environment
the pipeline sets (MODEL_NAME, PIPELINE_EXECUTION_ARN), each with an option for local runs, and
the label column from `--target`, as every step of the pipeline receives it (`models[].target`).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA_FORMAT = "mlops-platform-baseline/1"
# The names platform_common.monitoring fixes for the monitoring job (this script runs without it).
REFERENCE_FILE = "reference.csv"
SCHEMA_FILE = "schema.json"
PREDICTION_COLUMN = "prediction"
NUMERICAL = "numerical"
CATEGORICAL = "categorical"
DEFAULT_MAX_ROWS = 10_000
_SEED = 42


class BaselineJobError(RuntimeError):
    """The baseline cannot be written from the given data; the step fails and nothing is registered."""


def read_rows(data_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of every CSV file under `data_dir` (name order); all files must share the header."""
    files = sorted(path for path in data_dir.rglob("*.csv") if path.is_file())
    if not files:
        raise BaselineJobError(f"no .csv file under {data_dir}: the Prepare step's training split is needed")
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for path in files:
        with path.open(newline="") as stream:
            reader = csv.DictReader(stream)
            fields = list(reader.fieldnames or [])
            if header is None:
                header = fields
            elif fields != header:
                raise BaselineJobError(f"{path} has columns {fields}; {files[0]} has {header}")
            rows.extend(reader)
    if not header or not rows:
        raise BaselineJobError(f"the CSV files under {data_dir} hold no rows")
    return header, rows


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def column_type(values: Sequence[str]) -> str:
    """`numerical` when every non-empty value is a finite number, else `categorical`."""
    present = [value for value in values if value != ""]
    return NUMERICAL if present and all(_is_number(value) for value in present) else CATEGORICAL


def _class_value(text: str) -> Any:
    # Labels the model was trained on, as JSON numbers where they are numbers, so 1 and "1" agree.
    if _is_number(text):
        number = float(text)
        return int(number) if number.is_integer() else number
    return text


def build_schema(
    *, model: str, execution_arn: str, header: Sequence[str], rows: Sequence[Mapping[str, str]], target: str
) -> dict[str, Any]:
    """The baseline's schema.json: features in request order, the target and the prediction's meaning."""
    if target not in header:
        raise BaselineJobError(f"--target {target!r} is not a column of the training split; columns: {header}")
    if PREDICTION_COLUMN in header:
        raise BaselineJobError(
            f"the training split has a column {PREDICTION_COLUMN!r}, a name the monitoring job reserves"
        )
    features = [{"name": name, "type": column_type([row[name] for row in rows])} for name in header if name != target]
    classes = sorted({_class_value(row[target]) for row in rows if row[target] != ""}, key=lambda value: str(value))
    if len(classes) < 2:
        raise BaselineJobError(f"the target column {target!r} has fewer than two classes: {classes}")
    return {
        "format": SCHEMA_FORMAT,
        "model": model,
        "pipeline_execution_arn": execution_arn,
        "task": "classification",
        "features": features,
        "target": {"name": target, "classes": classes},
        "prediction": {
            "name": PREDICTION_COLUMN,
            "meaning": "the class label the model predicts: the first value of the endpoint's CSV response, "
            "or the last column of a batch transform output line",
            "classes": classes,
        },
        "reference": {"file": REFERENCE_FILE, "rows": len(rows), "source": "training split"},
    }


def sample(rows: Sequence[dict[str, str]], max_rows: int) -> list[dict[str, str]]:
    """At most `max_rows` rows, the same ones for the same input."""
    if len(rows) <= max_rows:
        return list(rows)
    return random.Random(_SEED).sample(list(rows), max_rows)


def write_baseline(
    output_dir: Path, *, header: Sequence[str], rows: Sequence[Mapping[str, str]], schema: Mapping[str, Any]
) -> None:
    """reference.csv and schema.json into `output_dir`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / REFERENCE_FILE).open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    (output_dir / SCHEMA_FILE).write_text(json.dumps(schema, indent=2) + "\n")


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("/opt/ml/processing/train"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/baseline"))
    parser.add_argument("--model-name", default=environ.get("MODEL_NAME") or None)
    parser.add_argument("--pipeline-execution-arn", default=environ.get("PIPELINE_EXECUTION_ARN") or None)
    parser.add_argument("--target", required=True, help="the label column (models[].target)")
    parser.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS)
    args = parser.parse_args(argv)
    for option, variable in (
        ("model_name", "MODEL_NAME"),
        ("pipeline_execution_arn", "PIPELINE_EXECUTION_ARN"),
    ):
        if not getattr(args, option):
            parser.error(f"no {option.replace('_', ' ')}: set {variable} or pass --{option.replace('_', '-')}")
    if args.max_rows < 1:
        parser.error(f"--max-rows must be at least 1, got {args.max_rows}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, dict(os.environ))
    header, rows = read_rows(args.data_dir)
    reference = sample(rows, args.max_rows)
    schema = build_schema(
        model=args.model_name,
        execution_arn=args.pipeline_execution_arn,
        header=header,
        rows=reference,
        target=args.target,
    )
    write_baseline(args.output_dir, header=header, rows=reference, schema=schema)
    print(f"baseline for {args.model_name}: {len(reference)} of {len(rows)} rows, {len(schema['features'])} features")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
