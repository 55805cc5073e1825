"""Replay a time window of the platform's archived domain events into the rules that record and tell.

The archive holds every domain event of the platform bus, `RetrainingRequested` included. A
replay without a rule filter sends them through every rule of the bus, so the trigger would start
the requested runs again (new pipeline executions, new e-mails). This command replays into the
audit and notification rules only, by naming them in `Destination.FilterArns` ("A list of ARNs for
rules to replay events to"; the destination bus must be "the event bus specified to create the
archive": Amazon EventBridge API Reference, "ReplayDestination",
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ReplayDestination.html). The
trigger's rule is added only with --include-trigger. Rule ARNs are read from EventBridge
(ListRules), not built here, so they are exactly the ones it will match.

    make replay ENV=dev FROM=2026-11-27T00:00:00Z TO=2026-11-28T00:00:00Z [INCLUDE_TRIGGER=1]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from stacks import naming
from stacks.config import EnvironmentConfig
from tools.operator_session import OperatorError, caller, environment, run

# Replay names: at most 64 characters of [.-_A-Za-z0-9] (Amazon EventBridge API Reference,
# "StartReplay", https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_StartReplay.html).
REPLAY_NAME_LIMIT = 64


def parse_time(value: str, option: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise OperatorError(f"{option}={value!r}: expected an ISO 8601 time such as 2026-11-27T00:00:00Z") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rule_names(config: EnvironmentConfig, *, include_trigger: bool) -> list[str]:
    """The platform bus's rules a replay goes to: audit and notifications, the trigger only when asked."""
    rules = [naming.AUDIT_RULE, naming.NOTIFY_RULE] + ([naming.RETRAINING_REQUESTED_RULE] if include_trigger else [])
    return [naming.bus_rule_name(config, rule) for rule in rules]


def replay_name(config: EnvironmentConfig, now: datetime) -> str:
    """`<prefix>-<env>-replay-<UTC time>`: the persona may watch and cancel replays of this prefix only."""
    name = f"{config.resource_prefix}-replay-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    if len(name) > REPLAY_NAME_LIMIT:
        raise OperatorError(f"replay name {name!r} is {len(name)} characters; EventBridge allows {REPLAY_NAME_LIMIT}")
    return name


def replay_request(
    *, name: str, archive_arn: str, bus_arn: str, rule_arns: Sequence[str], start: datetime, end: datetime
) -> dict[str, Any]:
    """The StartReplay request: the archive's window, onto its own bus, into the named rules only."""
    return {
        "ReplayName": name,
        "Description": "Domain events replayed into " + ", ".join(arn.rsplit("/", 1)[-1] for arn in rule_arns),
        "EventSourceArn": archive_arn,
        "EventStartTime": start,
        "EventEndTime": end,
        "Destination": {"Arn": bus_arn, "FilterArns": list(rule_arns)},
    }


def _rules_on_bus(events: Any, bus: str, prefix: str) -> Mapping[str, str]:
    found: dict[str, str] = {}
    token: str | None = None
    while True:
        page = events.list_rules(EventBusName=bus, NamePrefix=prefix, **({"NextToken": token} if token else {}))
        found.update({rule["Name"]: rule["Arn"] for rule in page.get("Rules", [])})
        token = page.get("NextToken")
        if not token:
            return found


def start_replay(
    events: Any, config: EnvironmentConfig, *, start: datetime, end: datetime, include_trigger: bool, now: datetime
) -> dict[str, Any]:
    """Check the window, find the archive, its bus and the rules, start the replay; return the request sent."""
    if start >= end:
        raise OperatorError(f"FROM={start.isoformat()} is not before TO={end.isoformat()}")
    if end > now:
        raise OperatorError(f"TO={end.isoformat()} is in the future; a replay covers events already archived")
    archive = events.describe_archive(ArchiveName=naming.platform_archive_name(config))
    bus_arn = archive["EventSourceArn"]
    bus_name = bus_arn.rsplit("/", 1)[-1]
    rules = _rules_on_bus(events, bus_name, config.resource_prefix)
    wanted = rule_names(config, include_trigger=include_trigger)
    missing = [name for name in wanted if name not in rules]
    if missing:
        raise OperatorError(f"no rule {', '.join(missing)} on bus {bus_name}: is environment {config.name} deployed?")
    request = replay_request(
        name=replay_name(config, now),
        archive_arn=archive["ArchiveArn"],
        bus_arn=bus_arn,
        rule_arns=[rules[name] for name in wanted],
        start=start,
        end=end,
    )
    events.start_replay(**request)
    return request


def main(argv: Sequence[str] | None = None, *, session: Any = None, settings: Any = None) -> int:
    """Start a filtered replay of the platform archive; one line and exit 2 when that is not possible."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--from", dest="start", required=True, help="ISO 8601, e.g. 2026-11-27T00:00:00Z")
    parser.add_argument("--to", dest="end", required=True, help="ISO 8601")
    parser.add_argument("--include-trigger", action="store_true", help="also replay into the retraining trigger")
    args = parser.parse_args(argv)

    def body() -> int:
        config = environment(args.env, settings)
        start, end = parse_time(args.start, "FROM"), parse_time(args.end, "TO")
        events = caller(config, session).session.client("events")
        request = start_replay(
            events, config, start=start, end=end, include_trigger=args.include_trigger, now=datetime.now(UTC)
        )
        name = request["ReplayName"]
        print(f"replay {name} started: {request['Description']}")
        print(f"watch it:  aws events describe-replay --replay-name {name} --query '[State,StateReason]'")
        print(f"cancel it: aws events cancel-replay --replay-name {name}")
        return 0

    return run("replay", body)


if __name__ == "__main__":
    sys.exit(main())
