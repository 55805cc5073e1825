"""Generating the MLflow client lock from pip's installation report, with a fake resolver.

The report has the shape pip documents ("Installation Report",
https://pip.pypa.io/en/stable/reference/installation-report/): `install[].metadata.{name,
version, requires_dist}` and `install[].download_info.archive_info.hashes.sha256`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from stacks.mlflow_clients import MlflowClient
from tools.client_bundle import EVIDENTLY_VERSION, LockError, parse_lock
from tools.lock_mlflow_client import lock_entries, main

CLIENT = MlflowClient(mlflow="3.0.1", sagemaker_mlflow="0.5.0")


def fake_digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def distribution(name: str, version: str, *requires: str, digest: str | None = None) -> dict[str, Any]:
    archive = {"hashes": {"sha256": digest or fake_digest(name)}}
    return {
        "metadata": {"name": name, "version": version, "requires_dist": list(requires)},
        "download_info": {"url": f"https://files.example/{name}-{version}.whl", "archive_info": archive},
    }


# What pip resolves on the machine's own Python 3.11: markers for 3.10 are not applied.
BASE = [
    distribution("mlflow", "3.0.1", "mlflow-skinny==3.0.1", "scikit-learn<2", "numpy<3", "alembic<2"),
    distribution("sagemaker-mlflow", "0.5.0", "boto3>=1.34", "mlflow-skinny>=3.0"),
    distribution("mlflow-skinny", "3.0.1", "uvicorn[standard]<1", "pywin32; sys_platform == 'win32'"),
    distribution(
        "alembic",
        "1.20.1",
        "tomli; python_version < '3.11'",
        "backports-zoneinfo; python_version < '3.9'",
        "only-new-pythons; python_version >= '3.11'",
    ),
    distribution("uvicorn", "0.54.0", "h11>=0.8", "httptools>=0.6; extra == 'standard'", "colorama; extra == 'dev'"),
    distribution("httptools", "0.7.1"),
    distribution("h11", "0.16.0"),
    distribution("boto3", "1.44.8", "botocore==1.44.8"),
    distribution("botocore", "1.44.8"),
    distribution("scikit-learn", "1.4.2", "joblib>=1.2", "numpy>=1.19"),
    distribution("joblib", "1.6.0"),
    distribution("numpy", "2.1.0"),
    # Resolved on 3.11, needed only from 3.11 on: not part of the lock for a 3.10 image.
    distribution("only-new-pythons", "1.0"),
]


class FakeResolver:
    """Answers like pip on 3.11: tomli appears only once asked for explicitly."""

    def __init__(self, installs: Sequence[Mapping[str, Any]]) -> None:
        self.installs = list(installs)
        self.calls: list[list[str]] = []

    def __call__(self, requirements: Sequence[str]) -> Mapping[str, Any]:
        self.calls.append(list(requirements))
        extra = [distribution("tomli", "2.5.0")] if "tomli" in requirements else []
        return {"version": "1", "install": [*self.installs, *extra]}


def test_the_lock_holds_what_python_3_10_needs_and_resolves_again_for_it() -> None:
    # Given pip resolved on 3.11, where alembic does not need tomli
    resolve = FakeResolver(BASE)
    # When the lock is built for the image's 3.10
    entries = lock_entries(CLIENT.requirements(), resolve)
    # Then tomli was asked for in a second resolution, and is locked
    assert resolve.calls == [
        ["mlflow==3.0.1", "sagemaker-mlflow==0.5.0"],
        ["mlflow==3.0.1", "sagemaker-mlflow==0.5.0", "tomli"],
    ]
    names = [entry.name for entry in entries]
    assert "tomli" in names
    # And what 3.10 on Linux does not need is left out: other platforms, other Pythons, unused extras
    for absent in ("pywin32", "backports-zoneinfo", "only-new-pythons", "colorama"):
        assert absent not in names


def test_requested_extras_bring_their_dependencies() -> None:
    names = {entry.name for entry in lock_entries(CLIENT.requirements(), FakeResolver(BASE))}
    assert {"uvicorn", "h11", "httptools"} <= names


def test_the_images_packages_are_resolved_against_but_not_locked() -> None:
    names = {entry.name for entry in lock_entries(CLIENT.requirements(), FakeResolver(BASE))}
    assert names.isdisjoint({"scikit-learn", "numpy"})
    # joblib is scikit-learn's dependency: the image installed it with scikit-learn.
    assert "joblib" not in names


def test_each_entry_carries_the_reports_hash_and_version() -> None:
    entries = {entry.name: entry for entry in lock_entries(CLIENT.requirements(), FakeResolver(BASE))}
    assert entries["mlflow"].version == "3.0.1"
    assert entries["mlflow"].sha256 == (fake_digest("mlflow"),)
    assert entries["sagemaker-mlflow"].version == "0.5.0"


def test_a_distribution_without_a_hash_is_refused() -> None:
    broken = [*BASE[:-1], {**distribution("only-new-pythons", "1.0"), "download_info": {"url": "x"}}]
    with pytest.raises(LockError, match=r"only-new-pythons==1.0: the index gave no SHA-256"):
        lock_entries(CLIENT.requirements(), FakeResolver(broken))


def test_a_dependency_the_resolver_never_provides_stops_the_lock() -> None:
    class Stubborn(FakeResolver):
        def __call__(self, requirements: Sequence[str]) -> Mapping[str, Any]:
            self.calls.append(list(requirements))
            return {"install": self.installs}

    with pytest.raises(LockError, match=r"still lacks tomli after 5 rounds"):
        lock_entries(CLIENT.requirements(), Stubborn(BASE))


def test_main_writes_a_hashed_lock_with_a_header_naming_its_origin(tmp_path: Path) -> None:
    assert (
        main(["--server-line", "3.0", "--bundle", "mlflow-client"], resolve=FakeResolver(BASE), lock_dir=tmp_path) == 0
    )
    text = (tmp_path / "mlflow-3.0.lock").read_text()
    assert text.startswith("# The MLflow client for MLflow server 3.0: mlflow==3.0.1, sagemaker-mlflow==0.5.0.\n")
    assert "numpy==2.1.0, scikit-learn==1.4.2, pandas==2.3.2, pyarrow==17.0.0, scipy>=1.9.0" in text
    entries = parse_lock(text, source="lock")
    assert [entry.key for entry in entries] == sorted(entry.key for entry in entries)


# The monitoring job's lock: Evidently beside the same MLflow client

EVIDENTLY = [
    distribution(
        "evidently", "0.7.23", "pandas>=1.3.5", "scikit-learn>=1.0.1", "plotly<6,>=5.10.0", "uuid6>=2024.7.10"
    ),
    distribution("plotly", "5.24.1", "tenacity>=6.2.0"),
    distribution("tenacity", "9.2.1"),
    distribution("uuid6", "2025.0.1"),
    distribution("pandas", "2.3.2", "numpy>=1.22.4", "python-dateutil>=2.8.2"),
]


def test_main_writes_the_monitoring_lock_from_evidently_and_the_client_of_the_line(tmp_path: Path) -> None:
    # Given a resolution of Evidently together with the MLflow client of server line 3.0
    resolve = FakeResolver([*BASE, *EVIDENTLY])
    # When only the monitoring lock is written
    assert main(["--server-line", "3.0", "--bundle", "monitoring"], resolve=resolve, lock_dir=tmp_path) == 0
    # Then pip was asked for Evidently pinned exactly and the line's two client pins, in one resolution
    assert resolve.calls[0] == [f"evidently=={EVIDENTLY_VERSION}", "mlflow==3.0.1", "sagemaker-mlflow==0.5.0"]
    assert [path.name for path in tmp_path.iterdir()] == ["monitoring-3.0.lock"]
    text = (tmp_path / "monitoring-3.0.lock").read_text()
    assert text.startswith(
        f"# The monitoring job (jobs/monitor_model.py) for MLflow server 3.0: evidently=={EVIDENTLY_VERSION}, "
        "mlflow==3.0.1, sagemaker-mlflow==0.5.0.\n"
    )
    pins = {entry.key: entry.version for entry in parse_lock(text, source="lock")}
    # And it holds Evidently's own dependencies and the client's, but not the image's pandas
    assert pins["evidently"] == EVIDENTLY_VERSION and pins["mlflow"] == "3.0.1"
    assert {"plotly", "tenacity", "uuid6", "alembic", "tomli"} <= set(pins)
    assert "pandas" not in pins and "python-dateutil" not in pins


def test_main_without_a_bundle_writes_both_locks_of_each_line(tmp_path: Path) -> None:
    assert main(["--server-line", "3.0"], resolve=FakeResolver([*BASE, *EVIDENTLY]), lock_dir=tmp_path) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlflow-3.0.lock", "monitoring-3.0.lock"]
