"""What every operator command shares: the environment's configuration, the caller's AWS session, one-line errors.

The commands (redrive, replay, destroy, publish-code) act on one deployed environment. Before
any of them calls AWS it checks that credentials exist and, when the environment pins an
account, that they belong to it: a command run with the wrong profile stops before it changes
anything, with one line naming what is missing or wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, EnvironmentConfig, load_environment

ROOT = Path(__file__).resolve().parent.parent


class OperatorError(RuntimeError):
    """The command cannot go on; the message says why and names the input."""


@dataclass(frozen=True)
class Caller:
    """A session in the environment's account and region."""

    session: Any
    account: str
    region: str


def platform_settings() -> Mapping[str, Any]:
    """cdk.json's `context.platform`."""
    path = ROOT / "cdk.json"
    try:
        settings: Mapping[str, Any] = json.loads(path.read_text())["context"]["platform"]
    except (OSError, ValueError, KeyError) as error:
        raise OperatorError(f"{path}: cannot read context.platform ({error})") from error
    return settings


def environment(name: str, settings: Mapping[str, Any] | None = None) -> EnvironmentConfig:
    """The validated configuration of environment `name`."""
    try:
        return load_environment(settings if settings is not None else platform_settings(), name)
    except ConfigError as error:
        raise OperatorError(f"cdk.json: {error}") from error


def caller(config: EnvironmentConfig, session: Any = None) -> Caller:
    """The caller's session, checked against the environment's pinned account and region."""
    from botocore.exceptions import BotoCoreError, ClientError

    if session is None:
        import boto3

        try:
            session = boto3.session.Session(region_name=config.region) if config.region else boto3.session.Session()
        except BotoCoreError as error:
            raise OperatorError(f"AWS configuration: {error}") from error
    region = session.region_name
    if not region:
        raise OperatorError(
            f"no AWS region: environment {config.name!r} pins none; set AWS_DEFAULT_REGION or a region in the profile"
        )
    if config.region and region != config.region:
        raise OperatorError(f"the session's region is {region}; environment {config.name!r} is in {config.region}")
    try:
        account = str(session.client("sts").get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as error:
        raise OperatorError(
            f"AWS credentials: {error}; set AWS_PROFILE or credentials of the account of environment {config.name!r}"
        ) from error
    if config.account and account != config.account:
        raise OperatorError(
            f"the credentials belong to account {account}; environment {config.name!r} is pinned to account "
            f"{config.account} (cdk.json: environments.{config.name}.account); use that account's credentials"
        )
    return Caller(session=session, account=account, region=str(region))


def run(command: str, body: Callable[[], int]) -> int:
    """Run a command's body; an OperatorError or an AWS error becomes one line on stderr and exit status 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return body()
    except OperatorError as error:
        print(f"{command}: {error}", file=sys.stderr)
    except (BotoCoreError, ClientError) as error:
        print(f"{command}: AWS refused or failed: {error}", file=sys.stderr)
    return 2
