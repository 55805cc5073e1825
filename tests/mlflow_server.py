"""Run a real local `mlflow server` for tests, from the separate MLflow environment.

The server runs in its own process group so that stopping it also stops the worker it
forks; killing only the parent leaves that worker holding the port.

It must be the MLflow version the platform pins for the configured server version
(stacks/mlflow_clients.py, read for the dev environment of tests/fixtures/platform.json, which
`make` builds the environment for): a test against another version would prove nothing about
the managed server. The fixture, not cdk.json, decides it, so a user who configures another
server version gets the same suite; `make check-config` checks their configuration.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from stacks.config import load_environment
from stacks.mlflow_clients import client_for
from tests.synth import FIXTURES, cdk_context

REPO_ROOT = Path(__file__).resolve().parent.parent
MLFLOW_BIN = REPO_ROOT / ".venv-mlflow" / "bin" / "mlflow"
READY_TIMEOUT_SECONDS = 60.0
# Under pytest-xdist each worker has its own session fixtures; `--dist loadgroup` keeps the tests
# of this group on one worker, so one server serves them all. pytest 9.2 with pytest-xdist 3.8
# silently ignores the group (pytest-dev/pytest-xdist#1386): then each worker starts its own.
MLFLOW_XDIST_GROUP = "mlflow-server"
_STOP_GRACE_SECONDS = 10.0
# The configuration and environment whose MLflow server version the test environment is built
# for (the Makefile's `.venv-mlflow` rule passes the same two to stacks.mlflow_clients).
TEST_PLATFORM = FIXTURES / "platform.json"
TEST_ENVIRONMENT = "dev"
_LOG_TAIL_LINES = 40


class MlflowServerError(RuntimeError):
    """The local MLflow server could not be started."""


@dataclass
class MlflowServer:
    """A running local MLflow server and where it keeps its state."""

    url: str
    port: int
    version: str
    backend_store_uri: str
    artifact_root: Path
    workdir: Path
    log_path: Path
    ready_seconds: float
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def api_url(self) -> str:
        """Base of the MLflow REST API, e.g. for seeding data with plain HTTP calls."""
        return f"{self.url}/api/2.0/mlflow"

    def client_env(self) -> dict[str, str]:
        """Environment for a process (a training script) that should log to this server.

        MLFLOW_TRACKING_URI covers plain mlflow; SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT lets code that
        uses a tracking server ARN as its tracking URI (via sagemaker-mlflow) land here too.
        """
        return {"MLFLOW_TRACKING_URI": self.url, "SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": self.url}

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the server's combined stdout/stderr."""
        return _tail(self.log_path, lines)

    def stop(self) -> None:
        """Stop the whole process group at once (KILL) and wait until it is gone."""
        _stop_group(self.process)


def expected_mlflow_version() -> str:
    """The mlflow client (and local server) version pinned for the test environment's server version."""
    config = load_environment(cdk_context()["platform"], TEST_ENVIRONMENT)
    return client_for(config.mlflow.version, config_path=f"environments.{TEST_ENVIRONMENT}.mlflow.version").mlflow


@dataclass
class LaunchedServer:
    """An `mlflow server` process that was started and may not answer yet."""

    url: str
    port: int
    backend_store_uri: str
    artifact_root: Path
    workdir: Path
    log_path: Path
    started: float
    process: subprocess.Popen[bytes] = field(repr=False)

    def wait_until_ready(self, ready_timeout_seconds: float = READY_TIMEOUT_SECONDS) -> MlflowServer:
        """Wait for /health and check the version; stop the server if it does not come up as expected."""
        try:
            _wait_until_healthy(self.process, self.url, self.log_path, ready_timeout_seconds)
            version = _running_version(self.url)
            expected = expected_mlflow_version()
            if version != expected:
                raise MlflowServerError(
                    f"the MLflow test environment runs mlflow {version}, but the configured server version needs "
                    f"{expected} (stacks/mlflow_clients.py); rebuild it: rm -f .make/mlflow-venv && make test"
                )
            _open_store(self.url)
        except BaseException:
            self.stop()
            raise
        return MlflowServer(
            url=self.url,
            port=self.port,
            version=version,
            backend_store_uri=self.backend_store_uri,
            artifact_root=self.artifact_root,
            workdir=self.workdir,
            log_path=self.log_path,
            ready_seconds=time.monotonic() - self.started,
            process=self.process,
        )

    def stop(self) -> None:
        """Stop the whole process group at once (KILL) and wait until it is gone."""
        _stop_group(self.process)


def launch_mlflow_server(workdir: Path, *, mlflow_bin: Path = MLFLOW_BIN) -> LaunchedServer:
    """Start `mlflow server` on a free local port with its state under `workdir`, without waiting for it."""
    if not mlflow_bin.exists():
        raise MlflowServerError(
            f"{mlflow_bin} does not exist: the MLflow test environment is missing. Run `make test`, which creates it."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    artifact_root = workdir / "artifacts"
    artifact_root.mkdir(exist_ok=True)
    backend_store_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    log_path = workdir / "server.log"
    port = _free_port()
    command = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--default-artifact-root",
        str(artifact_root),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The job runner would start background workers the tests do not need.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    return LaunchedServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        backend_store_uri=backend_store_uri,
        artifact_root=artifact_root,
        workdir=workdir,
        log_path=log_path,
        started=started,
        process=process,
    )


def start_mlflow_server(
    workdir: Path,
    *,
    mlflow_bin: Path = MLFLOW_BIN,
    ready_timeout_seconds: float = READY_TIMEOUT_SECONDS,
) -> MlflowServer:
    """Start `mlflow server` on a free local port with its state under `workdir`; wait for /health."""
    return launch_mlflow_server(workdir, mlflow_bin=mlflow_bin).wait_until_ready(ready_timeout_seconds)


def _free_port() -> int:
    # The port is released before the server binds it; on a test machine the race is harmless,
    # and a lost race shows up as the server exiting, reported with its log.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _running_version(url: str) -> str:
    with urllib.request.urlopen(f"{url}/version", timeout=5) as response:
        return str(response.read().decode().strip())


def _open_store(url: str) -> None:
    # gunicorn's worker opens the tracking store on the first request that reads it (about a
    # second: the database engine and its schema check). Asking for the Default experiment now
    # does that while the caller may still be busy elsewhere (generating data), not during the
    # first training's first call.
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=30) as response:
        response.read()


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MlflowServerError(
                f"mlflow server exited with code {process.returncode} before becoming healthy.\n"
                f"--- last lines of {log_path} ---\n{_tail(log_path, _LOG_TAIL_LINES)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_error = repr(error)
        # A refused connection costs next to nothing: look often, so readiness is noticed at once.
        time.sleep(0.05)
    raise MlflowServerError(
        f"mlflow server at {url} was not healthy after {timeout:g} s (last check: {last_error}).\n"
        f"--- last lines of {log_path} ---\n{_tail(log_path, _LOG_TAIL_LINES)}"
    )


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    # KILL, not TERM: the server's state lives in the session's temporary directory and is thrown
    # away, so a graceful shutdown (gunicorn lets its worker finish, about 2 s) buys nothing.
    # start_new_session made the server the leader of its own group, so its pid is the group id.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        # Reap the leader: an unreaped (zombie) leader keeps the group looking alive.
        process.poll()
        if not _group_alive(process.pid):
            return
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs; a killed one that waits to be reaped (a zombie) does not.

    The server's worker is orphaned when its parents die, and whichever process adopts it reaps
    it when it gets round to it (about 1.5 s on a container's init); a zombie holds no port.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis.
        state, _, group = stat.rpartition(")")[2].split()[:3]
        if int(group) == pgid and state != "Z":
            return True
    return False


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"
