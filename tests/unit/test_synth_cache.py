"""The kept templates (tests/synth_cache.py): read back only for the same inputs, written only after success."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import synth_cache


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A checkout of its own: the digest is computed from these files, not the repository's."""
    root = tmp_path / "checkout"
    for name in (*synth_cache.SOURCE_DIRECTORIES, "tests", "tools"):
        (root / name).mkdir(parents=True)
    (root / "stacks" / "data_stack.py").write_text("BUCKETS = 2\n")
    (root / "lambdas" / "handler.py").write_text("def handler(event, context): ...\n")
    for name in synth_cache.SOURCE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"# {name}\n")
    monkeypatch.setattr(synth_cache, "ROOT", root)
    synth_cache.sources_digest.cache_clear()
    yield root
    synth_cache.sources_digest.cache_clear()


@pytest.fixture
def kept(tmp_path: Path, sources: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache configured into a folder of this test (restored afterwards)."""
    monkeypatch.delenv(synth_cache.SWITCH, raising=False)
    monkeypatch.setattr(synth_cache, "_directory", None)
    folder = tmp_path / "synth"
    folder.mkdir()
    synth_cache.configure(folder)
    return folder


def test_a_change_to_a_stack_or_a_handler_changes_every_key(sources: Path) -> None:
    before = synth_cache.key_for("platform", "dev", {"prefix": "mlops"})
    (sources / "stacks" / "data_stack.py").write_text("BUCKETS = 3\n")
    synth_cache.sources_digest.cache_clear()
    after_stack = synth_cache.key_for("platform", "dev", {"prefix": "mlops"})
    (sources / "lambdas" / "handler.py").write_text("def handler(event, context): return 1\n")
    synth_cache.sources_digest.cache_clear()
    after_handler = synth_cache.key_for("platform", "dev", {"prefix": "mlops"})
    assert len({before, after_stack, after_handler}) == 3


def test_the_cdks_environment_is_part_of_the_key_and_other_variables_are_not(
    sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = synth_cache.key_for("platform", "dev")
    monkeypatch.setenv("CDK_DISABLE_CLI_TELEMETRY", "true")
    synth_cache.sources_digest.cache_clear()
    assert synth_cache.key_for("platform", "dev") == before
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    synth_cache.sources_digest.cache_clear()
    assert synth_cache.key_for("platform", "dev") != before


def test_compiled_files_do_not_change_the_key(sources: Path) -> None:
    before = synth_cache.key_for("platform", "dev")
    (sources / "lambdas" / "__pycache__").mkdir()
    (sources / "lambdas" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\x00compiled")
    synth_cache.sources_digest.cache_clear()
    assert synth_cache.key_for("platform", "dev") == before


def test_each_input_of_a_synthesis_is_part_of_its_key(sources: Path) -> None:
    keys = {
        synth_cache.key_for("platform", "dev", {"prefix": "mlops"}),
        synth_cache.key_for("platform", "prod", {"prefix": "mlops"}),
        synth_cache.key_for("platform", "dev", {"prefix": "ops"}),
        synth_cache.key_for("delivery", "dev", {"prefix": "mlops"}),
    }
    assert len(keys) == 4


def test_a_kept_value_is_created_once_and_read_back(kept: Path) -> None:
    calls: list[int] = []

    def create() -> dict[str, int]:
        calls.append(1)
        return {"resources": 42}

    first = synth_cache.get_or_create("k", create)
    second = synth_cache.get_or_create("k", create)
    assert first == second == {"resources": 42}
    assert len(calls) == 1


def test_a_synthesis_that_fails_keeps_nothing(kept: Path) -> None:
    def failing() -> dict[str, int]:
        raise RuntimeError("Validation failed")

    with pytest.raises(RuntimeError, match="Validation failed"):
        synth_cache.get_or_create("k", failing)
    assert synth_cache.get_or_create("k", lambda: {"after": 1}) == {"after": 1}


def test_two_workers_asking_at_once_create_once(kept: Path) -> None:
    calls: list[int] = []
    started = threading.Barrier(2)

    def create() -> str:
        calls.append(1)
        return "templates"

    def ask() -> None:
        started.wait()
        synth_cache.get_or_create("shared", create)

    workers = [threading.Thread(target=ask) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls) == 1


def test_pruning_keeps_only_the_current_sources_folder(kept: Path) -> None:
    synth_cache.get_or_create("k", lambda: 1)
    stale = kept / "0123456789abcdef"
    stale.mkdir()
    (stale / "old.json").write_text("1")
    (kept / "loose.json").write_text("1")
    synth_cache.configure(kept, prune=True)
    assert [path.name for path in kept.iterdir()] == [synth_cache.sources_digest()[:16]]


def test_switched_off_nothing_is_kept(kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(synth_cache.SWITCH, "off")
    synth_cache.configure(kept)
    calls: list[int] = []
    for _ in range(2):
        synth_cache.get_or_create("k", lambda: calls.append(1))
    assert len(calls) == 2
    assert not any(kept.rglob("*.json"))
