"""The committed MLflow client locks, and the format every lock and wheelhouse must have.

pip's hash-checking mode ("Secure installs", https://pip.pypa.io/en/stable/topics/secure-installs/)
needs every requirement pinned with `==` and carrying a hash; the lock is what the Train and
Register steps install, so it must also pin exactly the client stacks/mlflow_clients.py pins for
its server line and leave the image's scientific stack alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks.images import SKLEARN_IMAGE_TAG
from stacks.mlflow_clients import CLIENTS
from tests.tools.wheels import build_wheel, lock_line
from tools.client_bundle import (
    EVIDENTLY_VERSION,
    IMAGE_PACKAGES,
    IMAGE_PLATFORMS,
    MONITORING_PACKAGES,
    ROOT,
    LockEntry,
    LockError,
    download_command,
    image_package_names,
    lock_path,
    monitoring_lock_path,
    parse_lock,
    read_lock,
    verify_wheelhouse,
)

# A pinned distribution and at least one SHA-256, nothing else: written out here rather than
# taken from the parser, so the committed files are checked against the rule, not the code.
HASHED_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+( --hash=sha256:[0-9a-f]{64})+$")
IMAGE_STACK = ("numpy", "scikit-learn", "pandas", "scipy", "pyarrow")


def requirement_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("server_line", sorted(CLIENTS))
def test_every_pinned_server_line_has_a_committed_lock(server_line: str) -> None:
    assert lock_path(server_line).is_file(), f"make lock writes {lock_path(server_line)}"


@pytest.mark.parametrize("server_line", sorted(CLIENTS))
def test_every_line_of_the_lock_is_pinned_and_hashed(server_line: str) -> None:
    lines = requirement_lines(lock_path(server_line))
    assert len(lines) > 2, "the lock holds the client's dependencies too, not only the two pins"
    unhashed = [line for line in lines if not HASHED_LINE.match(line)]
    assert unhashed == []


@pytest.mark.parametrize("server_line", sorted(CLIENTS))
def test_the_lock_pins_exactly_the_client_of_its_server_line(server_line: str) -> None:
    client = CLIENTS[server_line]
    pins = {entry.key: entry.version for entry in parse_lock(lock_path(server_line).read_text(), source="lock")}
    assert pins["mlflow"] == client.mlflow
    assert pins["sagemaker-mlflow"] == client.sagemaker_mlflow


@pytest.mark.parametrize("server_line", sorted(CLIENTS))
def test_the_lock_leaves_the_images_scientific_stack_to_the_image(server_line: str) -> None:
    # Evaluate unpickles Train's model with the image's versions: Train must not replace them.
    names = {entry.key for entry in parse_lock(lock_path(server_line).read_text(), source="lock")}
    assert names.isdisjoint(IMAGE_STACK)
    assert set(IMAGE_STACK) <= image_package_names()


def test_the_bundle_targets_the_image_the_pipeline_runs_in() -> None:
    # The 1.4-2 image runs CPython 3.10; its oldest build is Ubuntu 20.04, glibc 2.31.
    assert SKLEARN_IMAGE_TAG.startswith("1.4-2-")
    command = download_command(Path("mlflow-3.0.lock"), Path("wheelhouse"), python="python3")
    assert command[:4] == ["python3", "-m", "pip", "download"]
    for option in ("--no-deps", "--require-hashes", "--only-binary=:all:"):
        assert option in command
    assert command[command.index("--python-version") + 1] == "3.10"
    assert command[command.index("--implementation") + 1] == "cp"
    platforms = [command[i + 1] for i, word in enumerate(command) if word == "--platform"]
    assert platforms == list(IMAGE_PLATFORMS)
    assert platforms[0] == "manylinux_2_31_x86_64"
    glibc = [int(p.split("_")[2]) for p in platforms if p.startswith("manylinux_2_")]
    assert max(glibc) == 31 and min(glibc) == 5
    assert command[-2:] == ["-r", "mlflow-3.0.lock"]


# The lock format

DIGEST = "a" * 64


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("mlflow==3.0.1", "expected 'name==version --hash=sha256:"),
        ("mlflow>=3.0 --hash=sha256:" + DIGEST, "expected 'name==version --hash=sha256:"),
        ("mlflow==3.0.1 --hash=md5:" + "a" * 32, "expected --hash=sha256:"),
        ("mlflow==3.0.1 --hash=sha256:" + "A" * 64, "expected --hash=sha256:"),
        ("--index-url https://example.org/simple", "expected 'name==version --hash=sha256:"),
    ],
)
def test_a_lock_line_that_is_not_pinned_and_hashed_is_refused_by_line_number(line: str, reason: str) -> None:
    text = f"# header\nsix==1.17.0 --hash=sha256:{DIGEST}\n{line}\n"
    with pytest.raises(LockError) as caught:
        parse_lock(text, source="mlflow-3.0.lock")
    assert str(caught.value).startswith("mlflow-3.0.lock:3: ")
    assert reason in str(caught.value)


def test_a_distribution_pinned_twice_is_refused() -> None:
    text = f"PyYAML==6.0.4 --hash=sha256:{DIGEST}\npyyaml==6.0.3 --hash=sha256:{'b' * 64}\n"
    with pytest.raises(LockError, match=r"lock:2: pyyaml is pinned twice"):
        parse_lock(text, source="lock")


def test_an_empty_lock_is_refused() -> None:
    with pytest.raises(LockError, match="no pinned distribution"):
        parse_lock("# nothing\n", source="lock")


def test_a_lock_line_may_carry_several_hashes() -> None:
    (entry,) = parse_lock(f"six==1.17.0 --hash=sha256:{DIGEST} --hash=sha256:{'b' * 64}\n", source="lock")
    assert entry == LockEntry(name="six", version="1.17.0", sha256=(DIGEST, "b" * 64))


# The wheelhouse against the lock


@pytest.fixture
def wheelhouse(tmp_path: Path) -> tuple[Path, list[LockEntry]]:
    folder = tmp_path / "wheelhouse"
    lines = [lock_line(build_wheel(folder, name, "1.0"), name, "1.0") for name in ("alpha", "beta")]
    return folder, parse_lock("\n".join(lines), source="lock")


def test_a_wheelhouse_with_one_matching_wheel_per_entry_is_accepted(wheelhouse: tuple[Path, list[LockEntry]]) -> None:
    folder, entries = wheelhouse
    assert [path.name for path in verify_wheelhouse(entries, folder)] == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-any.whl",
    ]


def test_a_wheel_whose_hash_the_lock_does_not_list_is_refused(wheelhouse: tuple[Path, list[LockEntry]]) -> None:
    folder, entries = wheelhouse
    (folder / "beta-1.0-py3-none-any.whl").write_bytes(b"tampered")
    with pytest.raises(LockError, match=r"beta-1.0-py3-none-any.whl: its SHA-256 is not in the lock"):
        verify_wheelhouse(entries, folder)


def test_a_locked_distribution_without_its_wheel_is_refused(wheelhouse: tuple[Path, list[LockEntry]]) -> None:
    folder, entries = wheelhouse
    (folder / "alpha-1.0-py3-none-any.whl").unlink()
    with pytest.raises(LockError, match=r"the wheelhouse lacks alpha==1.0"):
        verify_wheelhouse(entries, folder)


def test_anything_but_the_locks_wheels_is_refused(wheelhouse: tuple[Path, list[LockEntry]]) -> None:
    folder, entries = wheelhouse
    (folder / "notes.txt").write_text("x")
    with pytest.raises(LockError, match=r"notes.txt: not a wheel"):
        verify_wheelhouse(entries, folder)


# The monitoring job's lock (Evidently with the MLflow client of the line)


@pytest.mark.parametrize("server_line", sorted(CLIENTS))
def test_every_pinned_server_line_has_a_committed_monitoring_lock_pinned_and_hashed(server_line: str) -> None:
    path = monitoring_lock_path(server_line)
    assert path.is_file(), f"make lock writes {path}"
    lines = requirement_lines(path)
    assert len(lines) > 3
    assert [line for line in lines if not HASHED_LINE.match(line)] == []


@pytest.mark.parametrize("server_line", sorted(CLIENTS))
def test_the_monitoring_lock_pins_evidently_and_the_same_client_as_the_pipeline(server_line: str) -> None:
    monitoring = {entry.key: entry.version for entry in read_lock(monitoring_lock_path(server_line))}
    client = CLIENTS[server_line]
    assert monitoring["evidently"] == EVIDENTLY_VERSION
    assert (monitoring["mlflow"], monitoring["sagemaker-mlflow"]) == (client.mlflow, client.sagemaker_mlflow)
    # The image's scientific stack stays the image's: Evidently runs on its pandas and scikit-learn.
    assert set(monitoring).isdisjoint(IMAGE_STACK)


def test_the_monitoring_test_environment_pins_the_locked_evidently_and_the_images_stack() -> None:
    # .venv-monitoring runs the job's tests: the Evidently of the lock, on the image's versions.
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements-monitoring.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["evidently"] == EVIDENTLY_VERSION
    assert f"evidently=={EVIDENTLY_VERSION}" in MONITORING_PACKAGES
    image = dict(spec.split("==", 1) for spec in IMAGE_PACKAGES if "==" in spec)
    for name in ("numpy", "pandas", "scikit-learn"):
        assert pins[name] == image[name]
