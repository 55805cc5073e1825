"""Split the churn data set into train, validation and test CSV files (the pipeline's Prepare step).

Reads every CSV file under the input directory (the model's data prefix, as SageMaker
Processing downloads it), drops identifier columns, and writes stratified splits to
`<output>/train/train.csv`, `<output>/validation/validation.csv` and `<output>/test/test.csv`.
The defaults are the paths the pipeline mounts; pass options to run it anywhere:

    python prepare.py --input-dir data/ --output-dir prepared/ --target churned
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

ID_COLUMNS = ("customer_id",)
SPLITS = ("train", "validation", "test")


class DataError(ValueError):
    """The input data cannot be split as asked."""


def read_csv_files(directory: Path) -> pd.DataFrame:
    """All CSV files under `directory` (recursively, in name order) as one frame."""
    files = sorted(path for path in directory.rglob("*.csv") if path.is_file())
    if not files:
        raise DataError(f"no .csv file under {directory}; upload the data set under the model's data prefix")
    frames = [pd.read_csv(path) for path in files]
    columns = list(frames[0].columns)
    for path, frame in zip(files, frames, strict=True):
        if list(frame.columns) != columns:
            raise DataError(f"{path} has columns {list(frame.columns)}; {files[0]} has {columns}")
    print(f"read {sum(len(f) for f in frames)} rows from {len(files)} file(s) under {directory}")
    return pd.concat(frames, ignore_index=True)


def split(
    frame: pd.DataFrame, *, target: str, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, pd.DataFrame]:
    """Stratified train/validation/test splits of `frame`, identifier columns removed."""
    if target not in frame.columns:
        raise DataError(f"the target column {target!r} is missing; columns are {list(frame.columns)}")
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise DataError(
            f"validation ({validation_fraction}) and test ({test_fraction}) fractions must each be in (0, 1)"
            " and sum to less than 1"
        )
    labelled = frame.dropna(subset=[target]).drop(columns=[c for c in ID_COLUMNS if c in frame.columns])
    dropped = len(frame) - len(labelled)
    if dropped:
        print(f"dropped {dropped} rows without a {target!r} value")
    if labelled[target].nunique() < 2:
        raise DataError(f"the target column {target!r} has fewer than two classes; a classifier cannot be trained")

    held_out = validation_fraction + test_fraction
    train, rest = train_test_split(labelled, test_size=held_out, stratify=labelled[target], random_state=seed)
    validation, test = train_test_split(
        rest, test_size=test_fraction / held_out, stratify=rest[target], random_state=seed
    )
    return {"train": train, "validation": validation, "test": test}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--target", required=True, help="the label column (the pipeline passes the model's target)")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    splits = split(
        read_csv_files(args.input_dir),
        target=args.target,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    for name in SPLITS:
        directory = args.output_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        splits[name].to_csv(directory / f"{name}.csv", index=False)
        print(f"{name}: {len(splits[name])} rows, {splits[name][args.target].mean():.1%} positive")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
