"""The offline, hash-checked installs the Train and Register steps and the monitoring job run, done for real with pip.

A throw-away environment stands in for the image: it already has `shipped` (the image's
scikit-learn), and the published code folder holds the model's real requirements.txt, a lock and
a wheelhouse of wheels built here. pip runs with no index and no configuration of this machine,
so anything not in the wheelhouse cannot be found at all.

The two ways the pipeline installs:
- script-mode training: the toolkit runs `python -m pip install -r requirements.txt` with the
  unpacked archive as working directory (sagemaker-training-toolkit v4.8.0,
  src/sagemaker_training/modules.py, `install_requirements`);
- the Register step: the command in its container entrypoint (stacks/pipeline_definition.py).
- the monitoring job: jobs/monitor_model.py installs its own bundle (platform/monitoring.lock and
  platform/monitoring-wheelhouse/, beside the script) before it imports Evidently.
pip resolves `-r` against the including file's folder, and a relative `--find-links` too when
that folder has it (pip, src/pip/_internal/req/req_file.py, `handle_option_line`), so the
install also works from any other working directory.
"""

from __future__ import annotations

import importlib.metadata
import os
import shlex
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs import monitor_model
from platform_common import monitoring
from stacks import pipeline_definition as pd
from tests.tools.wheels import build_wheel, lock_line
from tests.unit.test_pipeline_definition import build, steps_by_name

CHURN_REQUIREMENTS = Path(pd.__file__).resolve().parent.parent / "ml" / "churn" / pd.REQUIREMENTS_FILE


@dataclass(frozen=True)
class Image:
    """A Python environment with one package already installed, and a published code folder."""

    python: Path
    code: Path
    elsewhere: Path
    environment: dict[str, str]


def pip(image: Image, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """This machine's pip, installing into the stand-in image (pip --python)."""
    command = [sys.executable, "-m", "pip", "--python", str(image.python), *arguments]
    return subprocess.run(command, cwd=cwd, env=image.environment, capture_output=True, text=True, timeout=120)


def installed(image: Image) -> dict[str, str]:
    """Distributions in the stand-in image's site-packages (the only place its interpreter looks: no system site)."""
    (site_packages,) = image.python.parent.parent.glob("lib/python*/site-packages")
    return {d.name: d.version for d in importlib.metadata.distributions(path=[str(site_packages)])}


@pytest.fixture(scope="module")
def shipped_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with `shipped` installed by pip, built once and copied for each test."""
    root = tmp_path_factory.mktemp("shipped-image")
    venv.EnvBuilder(with_pip=False).create(root / "image")
    template = Image(
        python=root / "image" / "bin" / "python", code=root, elsewhere=root, environment=pip_environment(root)
    )
    shipped = build_wheel(root / "image-build", "shipped", "1.0")
    result = pip(template, "install", "--no-index", str(shipped), cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "image"


def pip_environment(folder: Path) -> dict[str, str]:
    # No index, no find-links or constraints of this machine: only what the test provides.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    return environment | {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": str(folder / "cache"),
    }


@pytest.fixture
def image(tmp_path: Path, shipped_image: Path) -> Image:
    # A venv finds its prefix from the pyvenv.cfg beside its interpreter, so a copy is an environment of its own.
    shutil.copytree(shipped_image, tmp_path / "image", symlinks=True)
    python = tmp_path / "image" / "bin" / "python"
    stand_in = Image(
        python=python, code=tmp_path / "code", elsewhere=tmp_path / "elsewhere", environment=pip_environment(tmp_path)
    )
    assert installed(stand_in) == {"shipped": "1.0"}
    stand_in.elsewhere.mkdir()
    return stand_in


def publish_bundle(image: Image, *, client_requires: list[str]) -> Path:
    """The code folder as publish-code leaves it: requirements.txt, requirements.lock, wheelhouse/."""
    wheelhouse = image.code / pd.WHEELHOUSE_DIR
    dep = build_wheel(wheelhouse, "dep", "1.0")
    client = build_wheel(wheelhouse, "client", "1.0", requires=client_requires)
    shutil.copy(CHURN_REQUIREMENTS, image.code / pd.REQUIREMENTS_FILE)
    lines = [lock_line(client, "client", "1.0"), lock_line(dep, "dep", "1.0")]
    (image.code / pd.CLIENT_LOCK_FILE).write_text("\n".join(lines) + "\n")
    return wheelhouse


def register_install_command(image: Image) -> list[str]:
    """The Register step's install, with the container's code folder and interpreter replaced."""
    entrypoint = steps_by_name(build())["Register"]["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
    command, *positional = entrypoint[2:]
    install = command.split(" && ")[0]
    # The shell's positional parameters ($0, $1, ...) as /bin/sh -c would substitute them.
    for index, value in enumerate(positional):
        install = install.replace(f'"${index}"', shlex.quote(value))
    words = shlex.split(install.replace(pd.CODE_DIR, str(image.code)))
    assert words[:4] == ["python3", "-m", "pip", "install"]
    return words[3:]


def test_training_installs_the_locked_wheels_offline_and_keeps_what_the_image_ships(image: Image) -> None:
    # Given a published bundle whose client needs a locked dependency and the image's own package
    publish_bundle(image, client_requires=["dep==1.0", "shipped>=1.0"])
    # When the training toolkit installs requirements.txt in the code folder
    result = pip(image, "install", "-r", "requirements.txt", cwd=image.code)
    # Then the locked wheels are installed and the image's package is left as it was
    assert result.returncode == 0, result.stderr
    packages = installed(image)
    assert (packages["client"], packages["dep"], packages["shipped"]) == ("1.0", "1.0", "1.0")
    assert "Requirement already satisfied: shipped" in result.stdout


def test_the_relative_wheelhouse_is_found_from_any_working_directory(image: Image) -> None:
    publish_bundle(image, client_requires=["dep==1.0"])
    result = pip(image, "install", "-r", str(image.code / pd.REQUIREMENTS_FILE), cwd=image.elsewhere)
    assert result.returncode == 0, result.stderr
    assert installed(image)["client"] == "1.0"


def test_the_register_steps_command_installs_offline(image: Image) -> None:
    publish_bundle(image, client_requires=["dep==1.0", "shipped>=1.0"])
    result = pip(image, *register_install_command(image), cwd=image.elsewhere)
    assert result.returncode == 0, result.stderr
    assert (installed(image)["client"], installed(image)["shipped"]) == ("1.0", "1.0")


def test_a_wheel_that_was_changed_after_locking_is_refused(image: Image) -> None:
    # Given a wheel replaced by another build of the same version after the lock was written
    wheelhouse = publish_bundle(image, client_requires=["dep==1.0"])
    (wheelhouse / "dep-1.0-py3-none-any.whl").unlink()
    build_wheel(wheelhouse, "dep", "1.0", requires=["shipped"])
    # Then pip refuses the whole install and installs nothing
    result = pip(image, "install", "-r", "requirements.txt", cwd=image.code)
    assert result.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in result.stderr
    assert "client" not in installed(image) and "dep" not in installed(image)


def test_a_dependency_neither_locked_nor_shipped_fails_instead_of_reaching_an_index(image: Image) -> None:
    publish_bundle(image, client_requires=["dep==1.0", "unlocked>=1"])
    result = pip(image, *register_install_command(image), cwd=image.elsewhere)
    assert result.returncode != 0
    assert "No matching distribution found for unlocked>=1" in result.stderr
    assert "client" not in installed(image)


# The monitoring job's bundle


def publish_monitoring_bundle(image: Image, *, evidently_requires: list[str]) -> Path:
    """platform/ as publish-code leaves it: the job's lock and its wheelhouse, at platform_common.monitoring's paths."""
    wheelhouse = image.code / monitoring.MONITORING_WHEELHOUSE_DIR
    lines = [
        lock_line(build_wheel(wheelhouse, "evidently", "0.7.23", requires=evidently_requires), "evidently", "0.7.23"),
        lock_line(build_wheel(wheelhouse, "mlflow", "3.0.1", requires=["dep==1.0"]), "mlflow", "3.0.1"),
        lock_line(build_wheel(wheelhouse, "dep", "1.0"), "dep", "1.0"),
    ]
    (image.code / monitoring.MONITORING_LOCK_FILE).write_text("\n".join(lines) + "\n")
    return wheelhouse


def monitoring_install_command(image: Image) -> list[str]:
    """The job's install from the folder it runs in, with the image's pip run from this machine."""
    script_dir = (image.code / monitoring.MONITOR_JOB_SCRIPT).parent
    words = monitor_model.offline_install_command(script_dir, python="python3")
    assert words[:4] == ["python3", "-m", "pip", "install"]
    return words[3:]


def test_the_monitoring_bundle_sits_beside_the_jobs_script() -> None:
    # The job finds its bundle in its own folder: all three share platform/.
    folders = {
        Path(path).parent
        for path in (
            monitoring.MONITOR_JOB_SCRIPT,
            monitoring.MONITORING_LOCK_FILE,
            monitoring.MONITORING_WHEELHOUSE_DIR,
        )
    }
    assert folders == {Path(pd.PLATFORM_CODE_DIR)}


def test_the_monitoring_job_installs_its_locked_wheels_offline_and_keeps_what_the_image_ships(image: Image) -> None:
    # Given the job's published bundle, Evidently needing the image's package besides the locked ones
    publish_monitoring_bundle(image, evidently_requires=["dep==1.0", "shipped>=1.0"])
    # When the job installs it, from any working directory
    result = pip(image, *monitoring_install_command(image), cwd=image.elsewhere)
    # Then Evidently, the MLflow client and their dependency are installed; the image's package is kept
    assert result.returncode == 0, result.stderr
    packages = installed(image)
    assert (packages["evidently"], packages["mlflow"], packages["dep"]) == ("0.7.23", "3.0.1", "1.0")
    assert packages["shipped"] == "1.0"


def test_a_monitoring_wheel_changed_after_locking_is_refused_and_nothing_installed(image: Image) -> None:
    wheelhouse = publish_monitoring_bundle(image, evidently_requires=["dep==1.0"])
    (wheelhouse / "dep-1.0-py3-none-any.whl").unlink()
    build_wheel(wheelhouse, "dep", "1.0", requires=["shipped"])
    result = pip(image, *monitoring_install_command(image), cwd=image.elsewhere)
    assert result.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in result.stderr
    assert "evidently" not in installed(image) and "mlflow" not in installed(image)


def test_a_monitoring_dependency_neither_locked_nor_shipped_fails_instead_of_reaching_an_index(image: Image) -> None:
    publish_monitoring_bundle(image, evidently_requires=["dep==1.0", "unlocked>=1"])
    result = pip(image, *monitoring_install_command(image), cwd=image.elsewhere)
    assert result.returncode != 0
    assert "No matching distribution found for unlocked>=1" in result.stderr
    assert "evidently" not in installed(image)
