"""No dropped data: drops that cannot start a run now wait, and one trailing run starts on the newest.

A data drop while a run executes, or inside the coalescing window of the last data run, waits.
When the run ends (SageMaker's status change event) or the window closes (the trigger's own
one-time schedule), one trailing run starts on the newest waiting data set, never while another
run of the model executes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from platform_common import domain_events, runtime
from retraining_trigger import handler, logic, pipeline
from tests.handlers.conftest import REGION, load_event
from tests.handlers.trigger_platform import (
    CHURN_PREFIX,
    DATA_BUCKET,
    TIMER_DEAD_LETTER_ARN,
    TIMER_GROUP,
    TIMER_ROLE_ARN,
    Platform,
    build_platform,
    keep_runs_executing,
    object_created,
    retraining_requested,
    run_ended,
    start_other_execution,
)


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def platform(aws: None, handler_env: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return build_platform(monkeypatch)


@pytest.fixture
def runs_take_time(platform: Platform) -> None:
    """Runs the handler starts stay Executing until a test ends them (moto finishes them at once)."""
    keep_runs_executing(runtime.client("sagemaker"))


def folder(day: str) -> str:
    return f"s3://{DATA_BUCKET}/datasets/churn/{day}/"


def drop(day: str, *, event_id: str | None = None, time: str | None = None, name: str = "part-0.csv") -> dict[str, Any]:
    return object_created(f"datasets/churn/{day}/{name}", event_id=event_id or f"drop-{day}-{name}", time=time)


def _minutes_after(start: str, minutes: int) -> str:
    moment = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


T = "2025-03-14T09:26:53Z"


# A drop during a run


def test_a_drop_during_a_run_gets_exactly_one_trailing_run_after_it_ends(
    platform: Platform, runs_take_time: None
) -> None:
    # Given a run executing on the drop of the 14th
    first = platform.invoke(drop("2025-03-14", time=T))
    assert first["outcome"] == "started"

    # When the 15th's data lands while it runs
    waiting = platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # Then nothing starts yet; the drop is recorded as waiting for that run
    assert (waiting["outcome"], waiting["reason"]) == ("coalesced", "execution-running")
    assert waiting["executionArn"] == first["executionArn"]
    assert waiting["waitingDataUri"] == folder("2025-03-15")
    assert len(platform.executions()) == 1

    # When the run ends
    trailing = platform.end_run(first["executionArn"])

    # Then exactly one trailing run starts, on the waiting data, tagged with the drop's event
    assert trailing["outcome"] == "started"
    _, second_run = platform.executions()
    assert trailing["executionArn"] == second_run["PipelineExecutionArn"]
    assert platform.parameters(second_run["PipelineExecutionArn"]) == {
        "InputDataUri": folder("2025-03-15"),
        "TriggerReason": "data",
        "TriggerEventId": "drop-2025-03-15-part-0.csv",
    }
    assert second_run["PipelineExecutionDisplayName"].startswith("data-20250314T093153-")
    # And it is announced as a data run started after the run that ended
    published = platform.published()
    assert [e["detail-type"] for e in published] == [
        domain_events.RETRAINING_STARTED,
        domain_events.RETRAINING_COALESCED,
        domain_events.RETRAINING_STARTED,
    ]
    assert published[2]["detail"]["inputDataUri"] == folder("2025-03-15")
    assert first["executionArn"] in published[2]["detail"]["trailingAfter"]


def test_the_run_ending_again_or_the_trailing_run_ending_starts_nothing_more(
    platform: Platform, runs_take_time: None
) -> None:
    # Given a trailing run that started when the first run ended
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))
    trailing = platform.end_run(first["executionArn"])

    # When SageMaker sends the first run's end again, and the trailing run ends too
    again = platform.end_run(first["executionArn"], event_id="end-again")
    last = platform.end_run(trailing["executionArn"])

    # Then nothing more starts and nothing more is announced
    assert (again["outcome"], last["outcome"]) == ("ignored", "ignored")
    assert len(platform.executions()) == 2
    assert [e["detail-type"] for e in platform.published()] == [
        domain_events.RETRAINING_STARTED,
        domain_events.RETRAINING_COALESCED,
        domain_events.RETRAINING_STARTED,
    ]


@pytest.mark.parametrize(
    ("second_time", "third_time"),
    [
        pytest.param(_minutes_after(T, 5), _minutes_after(T, 9), id="later-event-time"),
        pytest.param(T, T, id="same-event-time-later-arrival"),
    ],
)
def test_two_drops_during_one_run_give_one_trailing_run_on_the_newest(
    platform: Platform, runs_take_time: None, second_time: str, third_time: str
) -> None:
    # Given a run executing, and two more drops landing while it runs
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=second_time))
    platform.invoke(drop("2025-03-16", time=third_time))

    # When the run ends
    trailing = platform.end_run(first["executionArn"])

    # Then one trailing run starts, on the newest of the two
    assert trailing["outcome"] == "started"
    assert len(platform.executions()) == 2
    assert platform.parameters(trailing["executionArn"])["InputDataUri"] == folder("2025-03-16")


def test_a_failed_or_stopped_run_also_releases_the_waiting_data(platform: Platform, runs_take_time: None) -> None:
    # Given data waiting for a run that then fails
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # When the run ends Failed
    trailing = platform.end_run(first["executionArn"], "Failed")

    # Then the trailing run still starts on the waiting data
    assert trailing["outcome"] == "started"
    assert trailing["inputDataUri"] == folder("2025-03-15")


def test_data_waits_for_a_run_started_by_someone_else_and_trails_it(platform: Platform) -> None:
    # Given a run started from Studio, still executing
    studio = start_other_execution(platform, status="Executing")

    # When data lands, Then it waits for that run
    waiting = platform.invoke(drop("2025-03-15"))
    assert (waiting["outcome"], waiting["executionArn"]) == ("coalesced", studio)

    # And starts when that run ends
    trailing = platform.end_run(studio)
    assert trailing["outcome"] == "started"
    assert trailing["inputDataUri"] == folder("2025-03-15")


# Duplicates


def test_a_duplicate_stays_a_duplicate(platform: Platform, runs_take_time: None) -> None:
    # Given a run on the 14th and the 15th waiting for it
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # When both events are delivered again, before and after the trailing run started
    again_first = platform.invoke(drop("2025-03-14", time=T))
    again_waiting = platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))
    trailing = platform.end_run(first["executionArn"])
    again_after = platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # Then each redelivery is a duplicate, and the trailing run is still the only one
    assert (again_first["outcome"], again_first["reason"]) == ("duplicate", "duplicate-delivery")
    assert (again_waiting["outcome"], again_waiting["reason"]) == ("duplicate", "already-handled")
    assert (again_after["outcome"], again_after["reason"]) == ("duplicate", "duplicate-delivery")
    assert again_after["executionArn"] == trailing["executionArn"]
    assert len(platform.executions()) == 2
    # And when the trailing run ends nothing is left waiting
    assert platform.end_run(trailing["executionArn"])["outcome"] == "ignored"
    assert len(platform.executions()) == 2


def test_a_superseded_drop_delivered_again_starts_no_third_run(platform: Platform, runs_take_time: None) -> None:
    # Given two drops during a run, the older one superseded by the newer one's trailing run
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=T))
    platform.invoke(drop("2025-03-16", time=T))
    trailing = platform.end_run(first["executionArn"])

    # When the superseded drop is delivered again while the trailing run executes
    again = platform.invoke(drop("2025-03-15", time=T))

    # Then it is a duplicate, and the end of the trailing run starts nothing
    assert (again["outcome"], again["reason"]) == ("duplicate", "already-handled")
    assert platform.end_run(trailing["executionArn"])["outcome"] == "ignored"
    assert len(platform.executions()) == 2


def test_a_drop_older_than_the_data_a_run_reads_is_superseded(platform: Platform, runs_take_time: None) -> None:
    # Given a run on data that landed at T
    first = platform.invoke(drop("2025-03-14", time=T))

    # When a drop of an hour earlier is delivered late
    late = platform.invoke(drop("2025-03-13", time=_minutes_after(T, -60)))

    # Then it is superseded, not queued behind the run
    assert (late["outcome"], late["reason"]) == ("coalesced", "superseded-by-newer-data")
    assert platform.end_run(first["executionArn"])["outcome"] == "ignored"
    assert len(platform.executions()) == 1


# The coalescing window


def test_a_drop_inside_the_window_of_a_finished_run_starts_when_the_window_closes(platform: Platform) -> None:
    # Given a data run that started at T and has already finished (moto finishes it at once)
    first = platform.invoke(drop("2025-03-14", time=T))
    [run] = platform.executions()
    window_end = run["StartTime"].astimezone(UTC) + timedelta(minutes=30)

    # When more data lands inside its 30-minute window
    waiting = platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))

    # Then it waits for the window, and a one-time schedule will wake the trigger when it closes
    assert (waiting["outcome"], waiting["reason"]) == ("coalesced", "within-coalesce-window")
    assert waiting["executionArn"] == first["executionArn"]
    [schedule] = platform.schedules()
    assert schedule["ScheduleExpression"] == f"at({window_end:%Y-%m-%dT%H:%M:%S})"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["RoleArn"] == TIMER_ROLE_ARN
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": TIMER_DEAD_LETTER_ARN}
    assert schedule["GroupName"] == TIMER_GROUP
    assert waiting["schedule"] == schedule["Name"]
    assert len(platform.executions()) == 1

    # When the window closes and the schedule fires
    trailing = platform.fire(schedule)

    # Then one trailing run starts on the waiting data
    assert trailing["outcome"] == "started"
    assert trailing["inputDataUri"] == folder("2025-03-15")
    assert len(platform.executions()) == 2


def test_more_drops_in_the_same_window_share_one_schedule_and_one_trailing_run(platform: Platform) -> None:
    # Given a finished data run, then three more drops inside its window
    platform.invoke(drop("2025-03-14", time=T))
    for minutes, day in ((2, "2025-03-15"), (4, "2025-03-16"), (6, "2025-03-17")):
        platform.invoke(drop(day, time=_minutes_after(T, minutes)))

    # When the window closes
    [schedule] = platform.schedules()
    trailing = platform.fire(schedule)

    # Then one trailing run starts, on the newest
    assert trailing["inputDataUri"] == folder("2025-03-17")
    assert len(platform.executions()) == 2


def test_the_end_of_the_run_does_not_wait_for_the_window(platform: Platform, runs_take_time: None) -> None:
    # Given a run still executing when a drop lands inside its window
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))

    # When the run ends ten minutes in, before its window closes
    trailing = platform.end_run(first["executionArn"])

    # Then the trailing run starts at once
    assert trailing["outcome"] == "started"
    assert len(platform.executions()) == 2


def test_a_window_schedule_firing_with_nothing_waiting_starts_nothing(platform: Platform) -> None:
    # Given data that waited for a window, then started when the run's end arrived
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))
    platform.end_run(first["executionArn"], event_id="end-first")
    [schedule] = platform.schedules()

    # When the window's schedule fires after all
    result = platform.fire(schedule)

    # Then nothing more starts and nothing is announced for it
    assert (result["outcome"], result["reason"]) == ("ignored", "nothing-waiting")
    assert len(platform.executions()) == 2
    assert [e["detail-type"] for e in platform.published()][-1] == domain_events.RETRAINING_STARTED


def test_the_window_counts_from_the_last_data_run_only(platform: Platform) -> None:
    # Given a schedule run that started moments ago and finished
    platform.invoke(load_event("scheduled_event"))

    # When data lands after it started
    landed = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = platform.invoke(drop("2025-03-15", time=landed))

    # Then it starts at once: only data runs hold the window
    assert result["outcome"] == "started"
    assert len(platform.executions()) == 2


# Other triggers and waiting data


def test_a_run_on_the_whole_prefix_reads_the_waiting_data_too(platform: Platform) -> None:
    # Given data waiting for the window of a finished data run
    platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))

    # When a person asks for a run on the whole prefix
    manual = platform.invoke(retraining_requested(model="churn", reason="monthly refresh"))

    # Then it starts, and the window's schedule later finds nothing left waiting
    assert manual["outcome"] == "started"
    assert manual["inputDataUri"] == CHURN_PREFIX
    platform.set_status(manual["executionArn"], "Succeeded")
    [schedule] = platform.schedules()
    assert platform.fire(schedule)["reason"] == "nothing-waiting"
    assert len(platform.executions()) == 2


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(lambda: load_event("scheduled_event"), id="schedule"),
        pytest.param(lambda: load_event("cloudwatch_alarm_alarm"), id="quality"),
        pytest.param(lambda: retraining_requested(model="churn", reason="urgent fix"), id="manual"),
    ],
)
def test_triggers_without_new_data_never_wait(platform: Platform, runs_take_time: None, event: Any) -> None:
    # Given a run executing
    first = platform.invoke(drop("2025-03-14", time=T))

    # When a trigger that carries no new data arrives, Then it is coalesced into the run
    result = platform.invoke(event())
    assert (result["outcome"], result["reason"]) == ("coalesced", "execution-running")

    # And the run's end starts nothing for it
    assert platform.end_run(first["executionArn"])["outcome"] == "ignored"
    assert len(platform.executions()) == 1


# Events the trailing edge listens to


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"currentPipelineExecutionStatus": "Executing"}, "run-not-ended", id="not-ended"),
        pytest.param(
            {
                "pipelineArn": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/mlops-dev-fraud",
                "pipelineExecutionArn": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/mlops-dev-fraud/execution/x",
            },
            "unknown-pipeline",
            id="other-pipeline",
        ),
    ],
)
def test_status_changes_that_end_no_run_of_a_model_change_nothing(
    platform: Platform, change: dict[str, str], why: str
) -> None:
    event = load_event("pipeline_execution_succeeded")
    event["detail"].update(change)
    result = platform.invoke(event)
    assert (result["outcome"], result["reason"]) == ("ignored", why)
    assert platform.executions() == []
    assert platform.published() == []


def test_a_run_end_without_the_optional_fields_is_understood(platform: Platform, runs_take_time: None) -> None:
    # Given data waiting for a run
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # When its end arrives with only the execution ARN and the status
    platform.set_status(first["executionArn"], "Succeeded")
    event = run_ended(first["executionArn"], event_id="end-minimal")
    event["detail"] = {
        "pipelineExecutionArn": first["executionArn"],
        "currentPipelineExecutionStatus": "Succeeded",
    }
    result = platform.invoke(event)

    # Then the trailing run starts
    assert result["outcome"] == "started"


# What survives: the state and the listing


class UnlistedNewRuns:
    """SageMaker whose listing does not show executions yet (a listing that lags behind a start)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def list_pipeline_executions(self, **_: Any) -> dict[str, Any]:
        return {"PipelineExecutionSummaries": []}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_run_the_listing_does_not_show_yet_still_holds_new_data(
    platform: Platform, runs_take_time: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run started moments ago
    first = platform.invoke(drop("2025-03-14", time=T))

    # When data lands and the listing does not show that run yet
    with_listing = handler.services

    def services_with_lagging_listing(function_arn: str) -> Any:
        services = with_listing(function_arn)
        return replace(services, sagemaker=UnlistedNewRuns(services.sagemaker))

    monkeypatch.setattr(handler, "services", services_with_lagging_listing)
    result = platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # Then the state's record of the run, checked with DescribePipelineExecution, keeps it from starting
    assert (result["outcome"], result["reason"]) == ("coalesced", "execution-running")
    assert result["executionArn"] == first["executionArn"]
    assert len(platform.executions()) == 1


def test_waiting_data_is_kept_in_the_lock_table(platform: Platform, runs_take_time: None) -> None:
    # Given data waiting for a run
    first = platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 5)))

    # Then the model's state item says what waits and which run is active, and has no TTL
    state = platform.state()
    assert state.waiting is not None and state.waiting.uri == folder("2025-03-15")
    assert state.active is not None and state.active.arn == first["executionArn"]
    item = platform.dynamodb.get_item(TableName="mlops-dev-retraining-lock", Key={"id": {"S": "churn#state"}})["Item"]
    assert "expiresAt" not in item

    # And once the trailing run has ended, nothing waits and the item may expire
    trailing = platform.end_run(first["executionArn"])
    platform.end_run(trailing["executionArn"])
    state = platform.state()
    assert (state.waiting, state.active) == (None, None)
    item = platform.dynamodb.get_item(TableName="mlops-dev-retraining-lock", Key={"id": {"S": "churn#state"}})["Item"]
    assert int(item["expiresAt"]["N"]) > int(datetime.now(UTC).timestamp())


def test_when_the_window_cannot_be_scheduled_nothing_is_recorded_and_the_event_is_retried(
    platform: Platform,
) -> None:
    # Given a finished data run, and EventBridge Scheduler refusing the schedule
    platform.invoke(drop("2025-03-14", time=T))
    stubber = Stubber(runtime.client("scheduler"))
    stubber.add_client_error("create_schedule", "ServiceQuotaExceededException", "too many schedules")

    # When data lands inside the window, Then the error escapes (Lambda retries the event)
    with stubber, pytest.raises(Exception, match="too many schedules"):
        platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))

    # And nothing was recorded: the retry waits and schedules as if it were the first delivery
    assert platform.state().waiting is None
    retried = platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))
    assert (retried["outcome"], retried["reason"]) == ("coalesced", "within-coalesce-window")
    assert len(platform.schedules()) == 1


def test_the_window_schedule_input_is_an_event_the_trigger_understands(platform: Platform) -> None:
    platform.invoke(drop("2025-03-14", time=T))
    platform.invoke(drop("2025-03-15", time=_minutes_after(T, 3)))
    [schedule] = platform.schedules()
    event = json.loads(schedule["Target"]["Input"])
    assert event["source"] == domain_events.SOURCE
    assert event["detail-type"] == domain_events.RETRAINING_WINDOW_CLOSED
    assert event["detail"]["model"] == "churn"
    assert event["id"] == schedule["Name"]
    assert len(schedule["Name"]) <= 64


def test_display_names_mark_data_runs_for_the_window() -> None:
    trigger_time = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    name = pipeline.display_name("data", trigger_time, "drop-1")
    assert pipeline.Execution("arn", "Succeeded", name, trigger_time).is_data_run
    assert not pipeline.Execution("arn", "Succeeded", "studio-run", trigger_time).is_data_run
    assert not pipeline.Execution(
        "arn", "Succeeded", pipeline.display_name("manual", trigger_time, "m"), None
    ).is_data_run


def test_a_window_schedule_invokes_the_function_itself_not_a_version_or_alias(platform: Platform) -> None:
    """The timer role may invoke the function's unqualified ARN only (stacks/constructs/trigger_timer.py)."""
    timer = platform.services(logic.utc_now, lambda _: None).timer
    qualified = "arn:aws:lambda:eu-west-1:123456789012:function:mlops-dev-retraining-trigger:live"
    name = timer.ensure(model="churn", at=datetime(2030, 1, 1, tzinfo=UTC), now=logic.utc_now(), function_arn=qualified)
    schedule = platform.scheduler.get_schedule(Name=name, GroupName=TIMER_GROUP)
    assert schedule["Target"]["Arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:mlops-dev-retraining-trigger"
