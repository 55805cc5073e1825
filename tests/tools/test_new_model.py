"""make new-model: a model folder from the example and its cdk.json entry, or nothing at all."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_environment
from tests.tools.conftest import platform
from tools import new_model
from tools.operator_session import OperatorError
from tools.publish_model_code import check_model_code, code_files

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkout with its own cdk.json (churn and fraud in dev) and the example model's code."""
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python3 app.py", "context": {"platform": platform()}}))
    shutil.copytree(REPOSITORY / "ml" / "churn", tmp_path / "ml" / "churn")
    return tmp_path


def models(root: Path) -> list[dict[str, Any]]:
    return list(json.loads((root / "cdk.json").read_text())["context"]["platform"]["environments"]["dev"]["models"])


def test_a_new_model_gets_the_files_publish_code_needs_and_its_target(root: Path) -> None:
    files = new_model.scaffold(root, "dev", "upsell", "bought")

    folder = root / "ml" / "upsell"
    assert sorted(p.name for p in files) == ["evaluate.py", "prepare.py", "register.py", "requirements.txt", "train.py"]
    check_model_code(folder, code_files(folder))  # raises if publish-code would refuse it
    assert (folder / "train.py").read_bytes() == (root / "ml" / "churn" / "train.py").read_bytes()
    assert models(root)[-1] == {"name": "upsell", "target": "bought"}
    (model,) = [m for m in load_environment(platform(), "dev").models if m.name == "churn"]
    assert model.target == "label"  # the fixture's churn has no target of its own


@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("Upsell!", "bought", "platform.environments.dev.models[2].name"),
        ("fraud", "bought", "NAME='fraud': environments.dev.models already has a model of that name"),
        ("upsell", "bought?", "platform.environments.dev.models[2].target"),
        ("u" * 33, "bought", "2-32 lower-case letters"),
    ],
)
def test_a_refused_name_or_target_writes_nothing(root: Path, name: str, target: str, message: str) -> None:
    before = (root / "cdk.json").read_text()
    with pytest.raises(OperatorError, match=re.escape(message)):
        new_model.scaffold(root, "dev", name, target)
    assert (root / "cdk.json").read_text() == before
    assert sorted(p.name for p in (root / "ml").iterdir()) == ["churn"]


def test_an_existing_folder_is_not_overwritten(root: Path) -> None:
    (root / "ml" / "upsell").mkdir()
    with pytest.raises(OperatorError, match="ml/upsell exists"):
        new_model.scaffold(root, "dev", "upsell", "bought")
    assert [m["name"] for m in models(root)] == ["churn", "fraud"]


def test_the_command_says_where_to_drop_data(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new_model.main(["--name", "upsell", "--target", "bought"], root=root) == 0
    out = capsys.readouterr().out
    assert "then drop data under datasets/upsell/" in out
    assert new_model.main(["--name", "upsell", "--target", "bought"], root=root) == 2
    assert capsys.readouterr().err.count("\n") == 1
