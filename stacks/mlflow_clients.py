"""The MLflow client that each supported managed MLflow server version needs, in one place.

AWS advises matching the MLflow client to the tracking server's version (SageMaker Developer
Guide, "Integrate MLflow with your environment",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments.html: "To ensure
compatibility between your MLflow client and tracking server, use the corresponding MLflow
version based on your tracking server version", for example server 3.0.x with an mlflow 3.0
client). Each entry pins the newest patch release of that line and the sagemaker-mlflow
plugin that works with it.

Only MLflow 3 servers are supported: the Register step attaches an inference specification to
the logged model with `sagemaker_mlflow.log_inference_specification`, which needs MLflow 3
logged models (sagemaker-mlflow 0.5.0, `sagemaker_model_registry/__init__.py`: "requires
MLflow >= 3.0").

Who reads it: the lock tool (`make lock` writes ml/mlflow_client/mlflow-<line>.lock, every
dependency of these two pinned and hashed, which the Train and Register steps install offline),
the pipeline definition (it refuses a server version without a client), the Makefile (the test
environment's real MLflow server and client, `python -m stacks.mlflow_clients`), and the tests,
which hold the locks, the README and the test environment to the same pins. Plain Python, no
CDK: the Makefile runs it with the system interpreter.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Names requirements-mlflow.txt (the test environment) uses as `${NAME}`; pip
# expands them from the environment when it reads the file ("Requirements File Format",
# https://pip.pypa.io/en/stable/reference/requirements-file-format/, "Using environment
# variables": `${NAME}` in POSIX form).
ENV_MLFLOW_CLIENT_VERSION = "MLFLOW_CLIENT_VERSION"
ENV_MLFLOW_PLUGIN_VERSION = "MLFLOW_PLUGIN_VERSION"


@dataclass(frozen=True)
class MlflowClient:
    """Exact versions of the `mlflow` package and of AWS's `sagemaker-mlflow` plugin."""

    mlflow: str
    sagemaker_mlflow: str

    def environment(self) -> dict[str, str]:
        """The variables the requirements files expand to these versions."""
        return {ENV_MLFLOW_CLIENT_VERSION: self.mlflow, ENV_MLFLOW_PLUGIN_VERSION: self.sagemaker_mlflow}

    def requirements(self) -> list[str]:
        """The two packages as pip requirement specifiers."""
        return [f"mlflow=={self.mlflow}", f"sagemaker-mlflow=={self.sagemaker_mlflow}"]


# Server version line (major.minor) -> client. mlflow 3.0.1 is the last release of the 3.0
# line; its scikit-learn flavour is tested with scikit-learn 1.3.0-1.6.1
# (mlflow/ml_package_versions.py), which covers the SageMaker scikit-learn 1.4-2 image.
CLIENTS: Mapping[str, MlflowClient] = {
    "3.0": MlflowClient(mlflow="3.0.1", sagemaker_mlflow="0.5.0"),
}
# An MLflow App takes no version (neither CreateMlflowApp nor AWS::SageMaker::MlflowApp has the
# property): SageMaker chooses it, and DescribeMlflowApp reports it as MlflowVersion. Until a
# deployed App says otherwise, its callers use the newest pinned line.
APP_SERVER_VERSION = "3.0"


class UnsupportedMlflowVersion(ValueError):
    """No client is pinned for the configured server version."""

    def __init__(self, server_version: str, config_path: str) -> None:
        self.server_version = server_version
        supported = ", ".join(sorted(CLIENTS))
        super().__init__(
            f"invalid configuration at '{config_path}': got {server_version!r}; expected an MLflow server version "
            f"whose client the platform pins (stacks/mlflow_clients.py): {supported}. The pipeline's Register "
            "step needs MLflow 3 (logged models and their inference specification)"
        )


def server_line(server_version: str | None, *, config_path: str = "mlflow.version") -> str:
    """The pinned line (a key of CLIENTS) of a server version such as `3.0.2`; None: an MLflow App."""
    if server_version is None:
        return APP_SERVER_VERSION
    line = ".".join(server_version.split(".")[:2])
    if line not in CLIENTS:
        raise UnsupportedMlflowVersion(server_version, config_path)
    return line


def client_for(server_version: str | None, *, config_path: str = "mlflow.version") -> MlflowClient:
    """The client for a server version such as `3.0` or `3.0.2` (matched on major.minor); None: an MLflow App."""
    return CLIENTS[server_line(server_version, config_path=config_path)]


def _configured_version(environment: str, platform: object) -> tuple[str | None, str]:
    from stacks.config import load_environment

    config = load_environment(platform, environment)
    return config.mlflow.version, f"environments.{environment}.mlflow.version"


def _platform_settings(cdk_json: Path, platform_json: Path | None) -> object:
    """The `platform` object: a file holding it alone (a test fixture) or cdk.json's context key."""
    if platform_json is not None:
        return json.loads(platform_json.read_text())
    return json.loads(cdk_json.read_text())["context"]["platform"]


def main(argv: Sequence[str] | None = None) -> int:
    """Print `NAME=version` assignments of the client for an environment's configured server."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--env", default="dev", help="environment in cdk.json (default dev)")
    parser.add_argument("--cdk-json", type=Path, default=Path(__file__).resolve().parent.parent / "cdk.json")
    parser.add_argument(
        "--platform-json",
        type=Path,
        help="a file holding the platform configuration alone, read instead of cdk.json (the tests' fixture)",
    )
    args = parser.parse_args(argv)
    try:
        version, config_path = _configured_version(args.env, _platform_settings(args.cdk_json, args.platform_json))
        client = client_for(version, config_path=config_path)
    except ValueError as error:
        print(f"cdk.json: {error}", file=sys.stderr)
        return 2
    print(" ".join(f"{name}={value}" for name, value in client.environment().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
