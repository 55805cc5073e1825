"""The MLflow client bundle: a hash-checked lock and the wheels it names, for the pipeline's image.

The Train and Register steps install the MLflow client before they run the model's scripts.
They install it offline: only from the wheels published beside the scripts (`wheelhouse/`),
only the versions the lock pins, and only files whose SHA-256 the lock lists. Nothing is
fetched from PyPI at run time, so a run cannot pick up a release that appeared after the code
was published or a file that changed on the way.

What the bundle is built for is the image both steps run in by default, SageMaker's
scikit-learn 1.4-2 image (`stacks/images.py`). Every build of it runs CPython 3.10 on x86_64
Linux: Ubuntu 20.04 (glibc 2.31) in the first builds, Ubuntu 24.04 in the current ones
(aws/sagemaker-scikit-learn-container, branch v1.4-2, docker/1.4-2/base/Dockerfile.cpu:
`ARG PYTHON_VERSION=3.10`, `ARG UBUNTU_VERSION`). Wheels for glibc 2.31 or older run on both.

The image ships its own scientific stack (the same Dockerfile installs `numpy==2.1.0
scikit-learn==1.4.2 pyarrow==17.0.0`; its requirements.txt adds `pandas==2.3.2` and
`scipy>=1.9.0`). Those must stay as they are: the Evaluate step installs nothing and unpickles
the model Train wrote, with the image's versions. So the lock is resolved against exactly those
versions and leaves them out; pip then finds them installed and keeps them.

pip reads the lock in hash-checking mode ("Secure installs",
https://pip.pypa.io/en/stable/topics/secure-installs/: "Hashes are required for all
requirements", each pinned with `==`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# One lock per supported server line, shared by every model (they all install the same client).
LOCK_DIR = ROOT / "ml" / "mlflow_client"

# The monitoring job (jobs/monitor_model.py) installs its own bundle in the same image: Evidently,
# pinned exactly, with the MLflow client of the server line it logs to, resolved together so
# both share one set of dependencies. requirements-monitoring.txt (its test environment) pins the
# same Evidently; a test holds the two together.
EVIDENTLY_VERSION = "0.7.23"
MONITORING_PACKAGES: tuple[str, ...] = (f"evidently=={EVIDENTLY_VERSION}",)

# The image's interpreter and platform, as pip's download options name them ("pip download",
# https://pip.pypa.io/en/stable/cli/pip_download/: --platform, --python-version,
# --implementation; binary wheels only, so nothing is built on this machine). pip expands only
# the legacy manylinux2014/2010 names to older tags (src/pip/_internal/utils/compatibility_tags.py,
# `_get_custom_platforms`), so every glibc from 2.31 down is listed, newest first (preferred).
IMAGE_PYTHON_VERSION = "3.10"
IMAGE_PLATFORMS: tuple[str, ...] = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(31, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
# Environment markers as the image's interpreter evaluates them (PEP 508). pip's
# --python-version changes tag and Requires-Python checks, not markers, so the lock tool
# evaluates dependencies' markers with these values itself.
IMAGE_MARKERS: Mapping[str, str] = {
    "python_version": IMAGE_PYTHON_VERSION,
    "python_full_version": f"{IMAGE_PYTHON_VERSION}.0",
    "implementation_name": "cpython",
    "implementation_version": f"{IMAGE_PYTHON_VERSION}.0",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}
# The image's scientific stack: resolved against, never locked (see the module docstring).
IMAGE_PACKAGES: tuple[str, ...] = (
    "numpy==2.1.0",
    "scikit-learn==1.4.2",
    "pandas==2.3.2",
    "pyarrow==17.0.0",
    "scipy>=1.9.0",
)

_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s=;]+)(?P<hashes>(?:\s+--hash=\S+)+)$")
_HASH = re.compile(r"^--hash=sha256:(?P<digest>[0-9a-f]{64})$")


class LockError(ValueError):
    """A lock file, or the wheels beside it, do not have the expected form."""


@dataclass(frozen=True)
class LockEntry:
    """One pinned distribution and the SHA-256 digests its file may have."""

    name: str
    version: str
    sha256: tuple[str, ...]

    @property
    def key(self) -> str:
        """The name as pip compares it (PEP 503 normalised)."""
        return canonicalize_name(self.name)

    def line(self) -> str:
        """The entry as one requirements-file line."""
        return " ".join([f"{self.name}=={self.version}", *(f"--hash=sha256:{digest}" for digest in self.sha256)])


def image_package_names() -> frozenset[str]:
    """Normalised names of the packages the image provides and the lock leaves out."""
    return frozenset(canonicalize_name(re.split(r"[=<>!~ ]", spec, maxsplit=1)[0]) for spec in IMAGE_PACKAGES)


def lock_path(server_line: str, lock_dir: Path = LOCK_DIR) -> Path:
    """The lock of an MLflow server line such as `3.0` (by default the committed one)."""
    return lock_dir / f"mlflow-{server_line}.lock"


def monitoring_lock_path(server_line: str, lock_dir: Path = LOCK_DIR) -> Path:
    """The monitoring job's lock (Evidently and the MLflow client) for an MLflow server line."""
    return lock_dir / f"monitoring-{server_line}.lock"


def parse_lock(text: str, *, source: str) -> list[LockEntry]:
    """The entries of a lock; any line that is not a comment or `name==version --hash=sha256:...` is refused."""
    entries: list[LockEntry] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise LockError(
                f"{source}:{number}: got {line!r}; expected 'name==version --hash=sha256:<64 hex digits>' "
                "(one pinned distribution per line, at least one hash)"
            )
        digests = []
        for option in match["hashes"].split():
            hashed = _HASH.match(option)
            if hashed is None:
                raise LockError(f"{source}:{number}: got {option!r}; expected --hash=sha256:<64 lower-case hex digits>")
            digests.append(hashed["digest"])
        entry = LockEntry(name=match["name"], version=match["version"], sha256=tuple(digests))
        if entry.key in seen:
            raise LockError(f"{source}:{number}: {entry.name} is pinned twice")
        seen.add(entry.key)
        entries.append(entry)
    if not entries:
        raise LockError(f"{source}: no pinned distribution; expected one line per package to install")
    return entries


def read_lock(path: Path) -> list[LockEntry]:
    """The entries of the lock file at `path`."""
    return parse_lock(path.read_text(), source=str(path))


def render_lock(entries: Iterable[LockEntry], header: Sequence[str]) -> str:
    """A lock file: comment lines, then one line per entry, sorted by name."""
    lines = [f"# {text}".rstrip() for text in header]
    lines += [entry.line() for entry in sorted(entries, key=lambda entry: entry.key)]
    return "\n".join(lines) + "\n"


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, as lower-case hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_wheelhouse(entries: Sequence[LockEntry], wheelhouse: Path) -> list[Path]:
    """The wheelhouse's files, if there is exactly one per entry and each has a hash the lock lists."""
    files = sorted(path for path in wheelhouse.iterdir() if path.is_file())
    by_digest: dict[str, LockEntry] = {digest: entry for entry in entries for digest in entry.sha256}
    matched: dict[str, Path] = {}
    for path in files:
        if not path.name.endswith(".whl"):
            raise LockError(f"{path}: not a wheel; the wheelhouse holds only the lock's wheels")
        entry = by_digest.get(sha256_of(path))
        if entry is None:
            raise LockError(f"{path.name}: its SHA-256 is not in the lock; rebuild the wheelhouse from the lock")
        if entry.key in matched:
            raise LockError(
                f"{entry.name}=={entry.version}: two files in the wheelhouse ({matched[entry.key].name}, {path.name})"
            )
        matched[entry.key] = path
    missing = [f"{entry.name}=={entry.version}" for entry in entries if entry.key not in matched]
    if missing:
        raise LockError(f"the wheelhouse lacks {', '.join(missing)}; every locked distribution needs its wheel")
    return files


def target_options() -> list[str]:
    """pip options that select wheels for the image's interpreter and platform."""
    platforms = [option for platform in IMAGE_PLATFORMS for option in ("--platform", platform)]
    return ["--only-binary=:all:", "--implementation", "cp", "--python-version", IMAGE_PYTHON_VERSION, *platforms]


def download_command(lock: Path, destination: Path, *, python: str) -> list[str]:
    """The pip command that fetches the lock's wheels for the image into `destination`."""
    # --no-deps: the lock is complete for the image, and the image provides what it leaves out.
    options = ["--quiet", "--disable-pip-version-check", "--no-deps", "--require-hashes", *target_options()]
    return [python, "-m", "pip", "download", *options, "--dest", str(destination), "-r", str(lock)]
