"""The Baseline step's job (jobs/write_baseline.py): what the monitoring job will read as the version's reference."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from jobs import write_baseline
from platform_common import monitoring

EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-churn/execution/k3x9q2w7zv1a"


def train_split(directory: Path, rows: int = 30) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["tenure,monthly_charges,contract,churned"]
    lines += [f"{n},{50 + n / 2},{('one-year', 'two-year')[n % 2]},{n % 2}" for n in range(rows)]
    (directory / "train.csv").write_text("\n".join(lines) + "\n")
    return directory


def run(tmp_path: Path, *extra: str) -> int:
    return write_baseline.main(
        [
            *("--data-dir", str(train_split(tmp_path / "train")), "--output-dir", str(tmp_path / "out")),
            *("--model-name", "churn", "--pipeline-execution-arn", EXECUTION_ARN, "--target", "churned"),
            *extra,
        ]
    )


def test_the_schema_names_features_in_request_order_with_types_target_and_prediction(tmp_path: Path) -> None:
    assert run(tmp_path) == 0
    schema = json.loads((tmp_path / "out" / monitoring.BASELINE_SCHEMA_FILE).read_text())
    assert schema["features"] == [
        {"name": "tenure", "type": "numerical"},
        {"name": "monthly_charges", "type": "numerical"},
        {"name": "contract", "type": "categorical"},
    ]
    assert schema["target"] == {"name": "churned", "classes": [0, 1]}
    assert schema["prediction"]["name"] == "prediction"
    assert schema["prediction"]["classes"] == [0, 1]
    assert schema["model"] == "churn" and schema["pipeline_execution_arn"] == EXECUTION_ARN


def test_the_reference_is_the_training_split_sampled_to_at_most_max_rows(tmp_path: Path) -> None:
    assert run(tmp_path, "--max-rows", "10") == 0
    with (tmp_path / "out" / monitoring.BASELINE_REFERENCE_FILE).open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 10
    assert list(rows[0]) == ["tenure", "monthly_charges", "contract", "churned"]


def test_a_target_that_is_not_a_column_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(write_baseline.BaselineJobError, match="--target 'label' is not a column"):
        write_baseline.main(
            [
                *("--data-dir", str(train_split(tmp_path / "train")), "--output-dir", str(tmp_path / "out")),
                *("--model-name", "churn", "--pipeline-execution-arn", EXECUTION_ARN, "--target", "label"),
            ]
        )
    assert not (tmp_path / "out").exists()
