"""Start a new model from the example: ml/<name>/ from ml/churn/, and the model in cdk.json.

The name is checked with the configuration's own rules (pattern, uniqueness, and the names it
makes with the prefix measured against AWS's limits) by loading cdk.json with the model added,
before anything is written. The scaffold is the files a pipeline runs and `publish-code`
uploads: the four step scripts and requirements.txt. The label column is the model's `target`,
which the pipeline passes to every step.

    make new-model NAME=fraud TARGET=is_fraud [ENV=dev]
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, load_environment
from stacks.pipeline_definition import EVALUATE_SCRIPT, PREPARE_SCRIPT, REGISTER_SCRIPT, REQUIREMENTS_FILE, TRAIN_SCRIPT
from tools.operator_session import ROOT, OperatorError, run

TEMPLATE = "churn"
# What publish-code requires of a model folder (tools/publish_model_code.py, check_model_code).
SCAFFOLD = (PREPARE_SCRIPT, TRAIN_SCRIPT, EVALUATE_SCRIPT, REGISTER_SCRIPT, REQUIREMENTS_FILE)


def with_model(cdk: dict[str, Any], environment: str, name: str, target: str) -> dict[str, Any]:
    """cdk.json's content with the model added to `environment`, validated as synth would."""
    updated = copy.deepcopy(cdk)
    environments = updated["context"]["platform"].get("environments", {})
    if environment not in environments:
        raise OperatorError(f"ENV={environment!r}: cdk.json has no environments.{environment}")
    models = environments[environment].setdefault("models", [])
    if any(isinstance(m, dict) and m.get("name") == name for m in models):
        raise OperatorError(f"NAME={name!r}: environments.{environment}.models already has a model of that name")
    models.append({"name": name, "target": target})
    try:
        load_environment(updated["context"]["platform"], environment)
    except ConfigError as error:
        raise OperatorError(f"NAME={name!r} TARGET={target!r}: {error}") from error
    return updated


def scaffold(root: Path, environment: str, name: str, target: str) -> list[Path]:
    """Write ml/<name>/ and the cdk.json entry; nothing is written unless both can be."""
    cdk_path = root / "cdk.json"
    updated = with_model(json.loads(cdk_path.read_text()), environment, name, target)
    destination = root / "ml" / name
    if destination.exists():
        raise OperatorError(f"NAME={name!r}: {destination} exists; choose another name or remove it")
    template = root / "ml" / TEMPLATE
    with tempfile.TemporaryDirectory(dir=root / "ml", prefix=f".{name}-") as staging:
        staged = Path(staging) / name
        staged.mkdir()
        for file in SCAFFOLD:
            shutil.copy2(template / file, staged / file)
        staged.rename(destination)
    try:
        cdk_path.write_text(json.dumps(updated, indent=2) + "\n")
    except OSError:
        shutil.rmtree(destination)
        raise
    return [destination / file for file in SCAFFOLD]


def main(argv: Sequence[str] | None = None, *, root: Path = ROOT) -> int:
    """Scaffold one model; one line and exit 2 when the name or target is refused."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--name", required=True)
    parser.add_argument("--target", required=True, help="the label column of the model's data set")
    args = parser.parse_args(argv)

    def body() -> int:
        files = scaffold(root, args.env, args.name, args.target)
        config = load_environment(json.loads((root / "cdk.json").read_text())["context"]["platform"], args.env)
        (model,) = [m for m in config.models if m.name == args.name]
        print(
            f"created {len(files)} files in ml/{args.name}/ (from ml/{TEMPLATE}/) and added {args.name} to "
            f"environments.{args.env}.models in cdk.json (target {args.target!r})"
        )
        print(
            "next: adapt the scripts to your data; make test; make deploy ENV=<env>; "
            f"make publish-code ENV=<env> MODEL={args.name}; then drop data under {model.data_prefix}"
        )
        return 0

    return run("new-model", body)


if __name__ == "__main__":
    sys.exit(main())
