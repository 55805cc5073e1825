"""Record a promotion: `make promote ENV=staging MODEL=<name> PACKAGE=<registry model package ARN>`.

Puts one PromotionRequested event on ENV's platform bus; ENV's deployer then verifies the version
in the registry of record (dev) and deploys it. The decision belongs to the environment that
receives the version, so the command runs with ENV's credentials (MLOpsEngineer), and the bus
refuses the event from anyone else. The caller's ARN, from STS, is recorded as who asked.
Every problem stops the command with one line and exit code 2 before anything is sent.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_common.promotion_request import promotion_entry
from platform_common.registry import PACKAGE_ARN_RE
from stacks import naming
from stacks.config import ConfigError
from stacks.config.delivery import REGISTRY_ENVIRONMENT, DeliveryConfig, load_delivery

ROOT = Path(__file__).resolve().parent.parent


class PromotionError(RuntimeError):
    """The promotion cannot be recorded; the message names the input and what was expected."""


@dataclass(frozen=True)
class Caller:
    """Who runs the command, as STS GetCallerIdentity answers."""

    account: str
    arn: str


def promotion_request(
    delivery: DeliveryConfig, env_name: str, model: str, package_arn: str, caller: Caller
) -> dict[str, Any]:
    """The PutEvents entry for the request, after checking every input against the configuration."""
    consumers = [env.name for env in delivery.consumers()]
    if env_name not in consumers:
        raise PromotionError(
            f"ENV={env_name}: expected an environment that deploys promoted versions ({', '.join(consumers)})"
        )
    env = delivery.environment(env_name)
    models = [m.name for m in env.models]
    if model not in models:
        raise PromotionError(f"MODEL={model}: {env_name} has no such model (its models: {', '.join(models) or 'none'})")
    registry = delivery.registry
    match = PACKAGE_ARN_RE.match(package_arn)
    where = f"arn:aws:sagemaker:{registry.region}:{registry.account}:model-package/"
    if match is None or not package_arn.split(":model-package/")[0] + ":model-package/" == where:
        raise PromotionError(
            f"PACKAGE={package_arn}: expected a versioned model package of the registry of record "
            f"({REGISTRY_ENVIRONMENT}), {where}<group>/<version>"
        )
    if caller.account != env.account:
        raise PromotionError(
            f"the credentials are of account {caller.account}; ENV={env_name} is account {env.account} "
            f"(set AWS_PROFILE to {env_name}'s MLOpsEngineer)"
        )
    return promotion_entry(naming.platform_bus_name(env), model, package_arn, caller.arn)


def caller_identity(sts: Any) -> Caller:
    """The caller's account and ARN, or a PromotionError saying there are no usable credentials."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = sts.get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        raise PromotionError(f"AWS credentials: {error}; set AWS_PROFILE to the environment's MLOpsEngineer") from error
    return Caller(account=str(identity["Account"]), arn=str(identity["Arn"]))


def put(events: Any, entry: dict[str, Any]) -> str:
    """Put the entry; PromotionError when EventBridge refuses it (PutEvents reports that per entry)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = events.put_events(Entries=[entry])
    except (BotoCoreError, ClientError) as error:
        raise PromotionError(f"EventBridge refused the request on bus {entry['EventBusName']}: {error}") from error
    (result,) = response["Entries"]
    if response.get("FailedEntryCount") or "EventId" not in result:
        raise PromotionError(
            f"EventBridge refused the request on bus {entry['EventBusName']}: "
            f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}"
        )
    return str(result["EventId"])


def main(argv: Sequence[str] | None = None, *, session: Any = None, platform: object = None) -> int:
    """Validate, check the credentials' account, then put the event; one line and exit 2 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--package", required=True, help="the model package ARN in the registry of record")
    args = parser.parse_args(argv)
    try:
        if platform is None:
            platform = json.loads((ROOT / "cdk.json").read_text())["context"].get("platform")
        delivery = load_delivery(platform)
        if session is None:
            import boto3

            session = boto3.session.Session()
        region = delivery.environment(args.env).region if args.env in [e.name for e in delivery.environments] else None
        caller = caller_identity(session.client("sts", region_name=region))
        entry = promotion_request(delivery, args.env, args.model, args.package, caller)
        event_id = put(session.client("events", region_name=region), entry)
    except (PromotionError, ConfigError) as error:
        print(f"promote: {error}", file=sys.stderr)
        return 2
    print(f"promote: recorded PromotionRequested {event_id} for {args.model} on {entry['EventBusName']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
