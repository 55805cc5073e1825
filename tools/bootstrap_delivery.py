"""Bootstrap one account for the delivery pipeline: `make bootstrap-delivery ENV=dev|staging|prod|tooling`.

A target environment (dev, staging, prod) is bootstrapped to trust the tooling account, with the
CloudFormation execution policies `platform.delivery.execution_policy_arns` names:

    cdk bootstrap aws://<account>/<region> --trust <tooling account> \
        --cloudformation-execution-policies <arn>[,<arn>...]

("To bootstrap a different environment for deploying CDK applications into using a pipeline in
account 111111111111 ... --trust 11111111111", aws-cdk-lib.pipelines README, "CDK Environment
Bootstrapping", https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.pipelines-readme.html;
"--cloudformation-execution-policies ... if you also specify the `--trust` flag ... you must
specify a value here"). `ENV=tooling` bootstraps the pipeline's own account and region, which
trusts nobody. Run it with credentials of the account being bootstrapped: the command stops, with
one line, when there are none or they belong to another account.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stacks.config import ConfigError
from stacks.config.delivery import DeliveryConfig, load_delivery

ROOT = Path(__file__).resolve().parent.parent
TOOLING = "tooling"
CDK = ("npx", "--no-install", "cdk")


class BootstrapError(RuntimeError):
    """Bootstrapping cannot go ahead; the message says why."""


def bootstrap_arguments(delivery: DeliveryConfig, target: str) -> list[str]:
    """The `cdk bootstrap` arguments for `target` (an environment name or `tooling`)."""
    policies = ",".join(delivery.execution_policy_arns)
    if target == TOOLING:
        return [
            "bootstrap",
            f"aws://{delivery.account}/{delivery.region}",
            "--cloudformation-execution-policies",
            policies,
        ]
    names = [env.name for env in delivery.environments]
    if target not in names:
        raise BootstrapError(f"ENV={target}: expected one of {', '.join([*names, TOOLING])}")
    env = delivery.environment(target)
    return [
        "bootstrap",
        f"aws://{env.account}/{env.region}",
        "--trust",
        delivery.account,
        "--cloudformation-execution-policies",
        policies,
    ]


def target_account(delivery: DeliveryConfig, target: str) -> str:
    """The account `target` is bootstrapped in."""
    if target == TOOLING:
        return delivery.account
    account = delivery.environment(target).account
    assert account is not None  # load_delivery requires it
    return account


def caller_account(session: Any) -> str:
    """The account of the caller's credentials, or a BootstrapError saying there are none."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(session.client("sts").get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as error:
        raise BootstrapError(f"AWS credentials: {error}; set AWS_PROFILE to an administrator of the account") from error


def main(
    argv: Sequence[str] | None = None,
    *,
    session: Any = None,
    run: Callable[[list[str]], int] = lambda command: subprocess.call(command, cwd=ROOT),
    platform: object = None,
) -> int:
    """Check the configuration and the credentials, then run `cdk bootstrap`; one line and exit 2 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, help="dev, staging, prod or tooling")
    args = parser.parse_args(argv)
    try:
        if platform is None:
            platform = json.loads((ROOT / "cdk.json").read_text())["context"].get("platform")
        delivery = load_delivery(platform)
        arguments = bootstrap_arguments(delivery, args.env)
        expected = target_account(delivery, args.env)
        if session is None:
            import boto3

            session = boto3.session.Session()
        actual = caller_account(session)
        if actual != expected:
            raise BootstrapError(f"the credentials are of account {actual}; ENV={args.env} is account {expected}")
    except (BootstrapError, ConfigError) as error:
        print(f"bootstrap-delivery: {error}", file=sys.stderr)
        return 2
    return run([*CDK, *arguments])


if __name__ == "__main__":
    sys.exit(main())
