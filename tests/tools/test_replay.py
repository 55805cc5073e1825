"""Replay: the archive's window goes into the audit and notification rules only, never the trigger unless asked.

Requests go through botocore's Stubber, which validates each against EventBridge's service model;
the ARNs in FilterArns must be exactly those ListRules returned for the intended rules
(ReplayDestination: "A list of ARNs for rules to replay events to", Amazon EventBridge API
Reference, https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ReplayDestination.html).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from stacks.config import load_environment
from tests.tools.conftest import ACCOUNT, REGION, platform
from tools import replay
from tools.operator_session import OperatorError

CONFIG = load_environment(platform(), "dev")
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/ops-dev-platform"
ARCHIVE = f"arn:aws:events:{REGION}:{ACCOUNT}:archive/ops-dev-platform"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)


def rule(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ops-dev-platform/{name}",
        "EventBusName": "ops-dev-platform",
        "State": "ENABLED",
    }


BUS_RULES = [rule("ops-dev-audit-platform"), rule("ops-dev-notify-decisions"), rule("ops-dev-retraining-requested")]


def stubbed(rules: list[dict[str, Any]], filter_arns: list[str] | None) -> tuple[Any, Stubber]:
    events = boto3.client("events", region_name=REGION)
    stub = Stubber(events)
    stub.add_response(
        "describe_archive",
        {"ArchiveName": "ops-dev-platform", "ArchiveArn": ARCHIVE, "EventSourceArn": BUS, "State": "ENABLED"},
        {"ArchiveName": "ops-dev-platform"},
    )
    stub.add_response("list_rules", {"Rules": rules}, {"EventBusName": "ops-dev-platform", "NamePrefix": "ops-dev"})
    if filter_arns is not None:
        expected = {
            "ReplayName": "ops-dev-replay-20261130T120000Z",
            "Description": ANY,
            "EventSourceArn": ARCHIVE,
            "EventStartTime": START,
            "EventEndTime": END,
            "Destination": {"Arn": BUS, "FilterArns": filter_arns},
        }
        stub.add_response(
            "start_replay",
            {"ReplayArn": f"arn:aws:events:{REGION}:{ACCOUNT}:replay/{expected['ReplayName']}", "State": "STARTING"},
            expected,
        )
    stub.activate()
    return events, stub


def test_a_replay_goes_to_the_audit_and_notification_rules_only() -> None:
    events, stub = stubbed(BUS_RULES, [BUS_RULES[0]["Arn"], BUS_RULES[1]["Arn"]])

    request = replay.start_replay(events, CONFIG, start=START, end=END, include_trigger=False, now=NOW)

    stub.assert_no_pending_responses()
    assert request["Destination"]["FilterArns"] == [BUS_RULES[0]["Arn"], BUS_RULES[1]["Arn"]]
    assert all("retraining-requested" not in arn for arn in request["Destination"]["FilterArns"])
    assert request["ReplayName"] == "ops-dev-replay-20261130T120000Z"


def test_the_trigger_gets_the_replay_only_when_asked() -> None:
    events, stub = stubbed(BUS_RULES, [r["Arn"] for r in BUS_RULES])

    request = replay.start_replay(events, CONFIG, start=START, end=END, include_trigger=True, now=NOW)

    stub.assert_no_pending_responses()
    assert request["Destination"]["FilterArns"][-1].endswith("/ops-dev-retraining-requested")


def test_a_missing_rule_starts_nothing_and_is_named() -> None:
    events, stub = stubbed([BUS_RULES[0]], None)

    with pytest.raises(OperatorError, match="no rule ops-dev-notify-decisions on bus ops-dev-platform"):
        replay.start_replay(events, CONFIG, start=START, end=END, include_trigger=False, now=NOW)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (END, START, "FROM=2026-11-28T00:00:00+00:00 is not before TO=2026-11-27T00:00:00+00:00"),
        (START, datetime(2026, 12, 1, tzinfo=UTC), "TO=2026-12-01T00:00:00+00:00 is in the future"),
    ],
)
def test_a_window_that_cannot_be_replayed_calls_nothing(start: datetime, end: datetime, message: str) -> None:
    events = boto3.client("events", region_name=REGION)
    with Stubber(events) as stub, pytest.raises(OperatorError, match=message.replace("+", r"\+")):
        replay.start_replay(events, CONFIG, start=start, end=end, include_trigger=False, now=NOW)
    stub.assert_no_pending_responses()


def test_times_are_iso_8601_and_the_bad_one_is_named() -> None:
    assert replay.parse_time("2026-11-27T00:00:00Z", "FROM") == START
    assert replay.parse_time("2026-11-27T00:00:00", "FROM") == START
    with pytest.raises(OperatorError, match=r"TO='yesterday': expected an ISO 8601 time"):
        replay.parse_time("yesterday", "TO")


def test_without_credentials_it_stops_with_one_line(no_credentials: None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--env", "dev", "--from", "2026-11-27T00:00:00Z", "--to", "2026-11-28T00:00:00Z"]
    assert replay.main(argv, settings=platform()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("replay: AWS credentials: Unable to locate credentials")
