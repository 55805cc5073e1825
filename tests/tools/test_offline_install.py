"""The offline, hash-checked install the Train and Register steps run, done for real with pip.

A throw-away environment stands in for the image: it already has `shipped` (the image's
scikit-learn), and the published code folder holds the model's real requirements.txt, a lock and
a wheelhouse of wheels built here. pip runs with no index and no configuration of this machine,
so anything not in the wheelhouse cannot be found at all.

The two ways the pipeline installs:
- script-mode training: the toolkit runs `python -m pip install -r requirements.txt` with the
  unpacked archive as working directory (sagemaker-training-toolkit v4.8.0,
  src/sagemaker_training/modules.py, `install_requirements`);
- the Register step: the command in its container entrypoint (stacks/pipeline_definition.py).
pip resolves `-r` against the including file's folder, and a relative `--find-links` too when
that folder has it (pip, src/pip/_internal/req/req_file.py, `handle_option_line`), so the
install also works from any other working directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

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
    script = "import importlib.metadata as m; print(*(f'{d.name}={d.version}' for d in m.distributions()))"
    output = subprocess.run([str(image.python), "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(item.split("=", 1) for item in output.split())


@pytest.fixture
def image(tmp_path: Path) -> Image:
    # No index, no find-links or constraints of this machine: only what the test provides.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": str(tmp_path / "cache"),
    }
    venv.EnvBuilder(with_pip=False).create(tmp_path / "image")
    python = tmp_path / "image" / "bin" / "python"
    stand_in = Image(python=python, code=tmp_path / "code", elsewhere=tmp_path / "elsewhere", environment=environment)
    shipped = build_wheel(tmp_path / "image-build", "shipped", "1.0")
    result = pip(stand_in, "install", "--no-index", str(shipped), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
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
