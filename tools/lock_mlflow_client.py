"""Regenerate the hashed locks in ml/mlflow_client/ from the package index.

Usage (network access to the package index; no AWS credentials):

    make lock

Two locks per server line that stacks/mlflow_clients.py pins:

- `mlflow-<line>.lock`, the MLflow client the pipeline's Train and Register steps install;
- `monitoring-<line>.lock`, what the monitoring job installs: Evidently
  (tools/client_bundle.py MONITORING_PACKAGES) and the same MLflow client, resolved together.

For each lock, pip resolves its root packages for the pipeline's image without installing anything (`pip install --dry-run --report`; "Installation
Report", https://pip.pypa.io/en/stable/reference/installation-report/: every distribution pip
would install, with its file's `archive_info.hashes` and its metadata's `requires_dist`),
constrained to the image's scientific stack. The tool then walks the dependencies from the
pinned root packages, with markers evaluated as the image's Python 3.10 evaluates them (pip's
`--python-version` does not change markers), leaves out what the image provides, and writes one
`name==version --hash=sha256:...` line per distribution. A dependency that only Python 3.10
needs (pip resolved on another Python) is added as a requirement and the resolution repeated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks.mlflow_clients import CLIENTS, MlflowClient
from tools.client_bundle import (
    IMAGE_MARKERS,
    IMAGE_PACKAGES,
    IMAGE_PLATFORMS,
    IMAGE_PYTHON_VERSION,
    LOCK_DIR,
    MONITORING_PACKAGES,
    LockEntry,
    LockError,
    image_package_names,
    lock_path,
    monitoring_lock_path,
    render_lock,
    target_options,
)

# requirement specifiers -> pip's installation report (a parsed JSON object)
Resolver = Callable[[Sequence[str]], Mapping[str, Any]]

_MAX_ROUNDS = 5


@dataclass(frozen=True)
class Resolved:
    """One distribution of an installation report."""

    name: str
    version: str
    sha256: str
    requires_dist: tuple[str, ...]


def pip_resolver(requirements: Sequence[str]) -> Mapping[str, Any]:
    """Resolve `requirements` for the image with pip, against the image's packages; install nothing."""
    with tempfile.TemporaryDirectory() as scratch:
        constraints = Path(scratch) / "image-packages.txt"
        constraints.write_text("\n".join(IMAGE_PACKAGES) + "\n")
        report = Path(scratch) / "report.json"
        command = [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"),
            *("--disable-pip-version-check", "--report", str(report), "-c", str(constraints)),
            *target_options(),
            *requirements,
        ]
        subprocess.run(command, check=True)
        parsed: Mapping[str, Any] = json.loads(report.read_text())
        return parsed


def resolved_distributions(report: Mapping[str, Any]) -> dict[str, Resolved]:
    """The report's distributions by normalised name; each must come with its file's SHA-256."""
    found: dict[str, Resolved] = {}
    for item in report.get("install", []):
        metadata = item["metadata"]
        digest = item.get("download_info", {}).get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:
            raise LockError(f"{metadata['name']}=={metadata['version']}: the index gave no SHA-256 for its file")
        found[canonicalize_name(metadata["name"])] = Resolved(
            name=metadata["name"],
            version=metadata["version"],
            sha256=digest,
            requires_dist=tuple(metadata.get("requires_dist", ())),
        )
    return found


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**IMAGE_MARKERS, "extra": extra}) for extra in (*extras, ""))


def _unmarked(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def needed_on_image(
    resolved: Mapping[str, Resolved], roots: Sequence[str], image_packages: frozenset[str]
) -> tuple[set[str], list[str]]:
    """What the roots need on the image (normalised names), and what they need that pip did not resolve.

    The walk stops at the image's own packages: the image installs their dependencies.
    """
    needed: set[str] = set()
    missing: list[str] = []
    visited: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(root) for root in roots]
    while pending:
        requirement = pending.pop()
        key = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if (key, extras) in visited:
            continue
        visited.add((key, extras))
        needed.add(key)
        if key in image_packages:
            continue
        distribution = resolved.get(key)
        if distribution is None:
            missing.append(_unmarked(requirement))
            continue
        for text in distribution.requires_dist:
            dependency = Requirement(text)
            if _applies(dependency, extras):
                pending.append(dependency)
    return needed, sorted(set(missing))


def lock_entries(roots: Sequence[str], resolve: Resolver) -> list[LockEntry]:
    """The lock of the `roots` for the image: every distribution they need there, except the image's own."""
    image_packages = image_package_names()
    added: list[str] = []
    for _ in range(_MAX_ROUNDS):
        resolved = resolved_distributions(resolve([*roots, *added]))
        needed, missing = needed_on_image(resolved, roots, image_packages)
        if not missing:
            return [
                LockEntry(name=resolved[key].name, version=resolved[key].version, sha256=(resolved[key].sha256,))
                for key in sorted(needed - image_packages)
            ]
        added += [requirement for requirement in missing if requirement not in added]
    raise LockError(f"the resolution for {' '.join(roots)} still lacks {', '.join(missing)} after {_MAX_ROUNDS} rounds")


@dataclass(frozen=True)
class LockSpec:
    """One lock file to write: where, its root packages and what its header says they are."""

    path: Path
    roots: tuple[str, ...]
    title: str
    sources: str


BUNDLES = ("mlflow-client", "monitoring")


def lock_specs(server_line: str, client: MlflowClient, lock_dir: Path) -> dict[str, LockSpec]:
    """The locks of one server line, by bundle name."""
    roots = tuple(client.requirements())
    return {
        "mlflow-client": LockSpec(
            path=lock_path(server_line, lock_dir),
            roots=roots,
            title=f"The MLflow client for MLflow server {server_line}: {', '.join(roots)}.",
            sources="stacks/mlflow_clients.py",
        ),
        "monitoring": LockSpec(
            path=monitoring_lock_path(server_line, lock_dir),
            roots=(*MONITORING_PACKAGES, *roots),
            title=(
                f"The monitoring job (jobs/monitor_model.py) for MLflow server {server_line}: "
                f"{', '.join((*MONITORING_PACKAGES, *roots))}."
            ),
            sources="tools/client_bundle.py MONITORING_PACKAGES and stacks/mlflow_clients.py",
        ),
    }


def lock_header(spec: LockSpec) -> list[str]:
    """The comment lines at the top of a lock file."""
    return [
        spec.title,
        f"Generated by `make lock` (tools/lock_mlflow_client.py) from {spec.sources}; do not edit by hand.",
        f"For the SageMaker scikit-learn 1.4-2 image: CPython {IMAGE_PYTHON_VERSION}, {IMAGE_PLATFORMS[0]} or older.",
        f"Provided by the image, so resolved against and left out: {', '.join(IMAGE_PACKAGES)}.",
        "",
    ]


def main(argv: Sequence[str] | None = None, *, resolve: Resolver = pip_resolver, lock_dir: Path = LOCK_DIR) -> int:
    """Write the locks of every pinned server line (or of the lines and bundles named)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-line", action="append", choices=sorted(CLIENTS), help="only this line (repeatable)")
    parser.add_argument("--bundle", action="append", choices=BUNDLES, help="only this lock (repeatable)")
    args = parser.parse_args(argv)
    for server_line in args.server_line or sorted(CLIENTS):
        specs = lock_specs(server_line, CLIENTS[server_line], lock_dir)
        for bundle in args.bundle or BUNDLES:
            if not _write(specs[bundle], resolve):
                return 2
    return 0


def _write(spec: LockSpec, resolve: Resolver) -> bool:
    try:
        entries = lock_entries(spec.roots, resolve)
    except subprocess.CalledProcessError as error:
        print(f"pip could not resolve {' '.join(spec.roots)} (exit {error.returncode})", file=sys.stderr)
        return False
    except LockError as error:
        print(str(error), file=sys.stderr)
        return False
    path = spec.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_lock(entries, lock_header(spec)))
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"{shown}: {len(entries)} distributions")
    return True


if __name__ == "__main__":
    sys.exit(main())
