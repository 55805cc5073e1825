"""Synthesized templates (and cfn-lint's findings on them) kept on disk between test processes and runs.

Synthesizing one environment costs one to two seconds (most of it round trips into the CDK's
Node.js runtime), and the suite asks for the same configurations in both xdist workers and on
every run. The templates are a pure function of the configuration, the environment's name, the
project's CDK context, the sources under stacks/ and lambdas/ (the Lambda asset hashes come from
lambdas/), and the versions of the CDK libraries; the key is a digest of all of them, so any
change to one of them is a miss and a fresh synthesis. cfn-lint's findings are kept the same way,
keyed by the template, the regions, cfn-lint's version and tools/cfn_lint.py's settings.

What a hit skips is only repeated work: an entry is written after its synthesis passed every
validation plugin (cdk-nag and the least-privilege check raise inside `Template.from_stack`),
and a synthesis that raises writes nothing. The entries live in pytest's cache directory
(`.pytest_cache/d/synth`): `pytest --cache-clear` empties it, `-p no:cacheprovider` turns it off,
and so does `PLATFORM_TEST_SYNTH_CACHE=off`.

Why not a library: pytest's cache (`config.cache.set`) stores JSON values but has no lock, and
two xdist workers asking for the same configuration at once should synthesize it once. An
exclusive `fcntl` lock per entry does that (POSIX only, as is the Makefile).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Everything a synthesis reads besides its configuration: the stacks, the Lambda sources (one
# asset, hashed into the templates), and the modules that decide how apps are built and linted.
SOURCE_DIRECTORIES = ("stacks", "lambdas")
SOURCE_FILES = (
    "app.py",
    "tests/synth.py",
    "tests/delivery/conftest.py",
    "tests/synth_cache.py",
    "tests/lint.py",
    "tools/cfn_lint.py",
    "tools/check_config.py",
    "tools/template_snapshot.py",
)
IGNORED_PARTS = ("__pycache__", ".mypy_cache")
LIBRARIES = ("aws-cdk-lib", "constructs", "cdk-nag", "jsii", "cfn-lint")
# The variables the CDK's App reads when it is built: context (merged into the App's), and the
# account and Region environment-agnostic code may look up (`cdk synth` sets them). Others, such
# as CDK_DISABLE_CLI_TELEMETRY, which the Makefile exports, leave the templates as they are.
CDK_ENVIRONMENT = ("CDK_CONTEXT_JSON", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")
SWITCH = "PLATFORM_TEST_SYNTH_CACHE"
FORMAT = 1

_directory: Path | None = None


def configure(directory: Path | None, *, prune: bool = False) -> None:
    """Where entries are kept for this process (None: no cache); conftest.py calls this once.

    Entries live in a folder named after the sources' digest. With `prune` (the process that
    starts the run, before any worker), the folders of other digests are deleted: they can never
    be read again, and a folder per edit would otherwise pile up.
    """
    global _directory
    if directory is None or os.environ.get(SWITCH) == "off":
        _directory = None
        return
    _directory = directory / sources_digest()[:16]
    if prune:
        for stale in directory.iterdir():
            if stale == _directory:
                continue
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


@cache
def sources_digest() -> str:
    """A digest of the sources and library versions every synthesis depends on (computed once per process)."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for library in LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}\n".encode())
    for path in _source_files():
        digest.update(f"{path.relative_to(ROOT).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    # What an App reads from the environment besides its own arguments.
    for name in CDK_ENVIRONMENT:
        digest.update(f"{name}={os.environ.get(name)}\n".encode())
    return digest.hexdigest()


def _source_files() -> Iterator[Path]:
    for directory in SOURCE_DIRECTORIES:
        for path in sorted((ROOT / directory).rglob("*")):
            if path.is_file() and path.suffix != ".pyc" and not any(part in IGNORED_PARTS for part in path.parts):
                yield path
    for name in SOURCE_FILES:
        yield ROOT / name


def key_for(*parts: Any) -> str:
    """The entry name for one synthesis: the sources' digest plus its own inputs (JSON-serializable)."""
    inputs = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{sources_digest()}\n{inputs}".encode()).hexdigest()[:32]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def get_or_create(key: str, create: Callable[[], Any]) -> Any:
    """The stored value of `key`, or `create()`'s (stored for next time); one creator at a time per key."""
    if _directory is None:
        return create()
    entry = _directory / f"{key}.json"
    with ExitStack() as held:
        try:
            _directory.mkdir(parents=True, exist_ok=True)
            held.enter_context(_locked(_directory / f"{key}.lock"))
        except OSError:
            # The folder went away under us (`--cache-clear` in another process): work without it.
            return create()
        try:
            return json.loads(entry.read_text())
        except (OSError, ValueError):
            pass
        value = create()
        _store(entry, value)
        return value


def _store(entry: Path, value: Any) -> None:
    """Write atomically; a cache that cannot be written (cleared meanwhile, disk full) only costs time."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(value, handle, separators=(",", ":"))
        os.replace(temporary, entry)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
