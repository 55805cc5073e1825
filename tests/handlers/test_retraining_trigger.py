"""The retraining trigger, end to end against moto: which events start a run, and which do not."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.core.models import botocore_stubber

from platform_common import domain_events, env_names, runtime
from retraining_trigger import handler, keys, logic, pipeline
from tests.handlers.conftest import ACCOUNT, BUS_NAME, REGION, example_settings, load_event, put_catalog
from tests.handlers.trigger_platform import (
    CHURN_FOLDER,
    CHURN_PREFIX,
    DATA_BUCKET,
    Platform,
    build_platform,
    object_created,
    retraining_requested,
    start_other_execution,
)

# SageMaker's own constraints on the two idempotency fields.
DISPLAY_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,81}$")


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def platform(aws: None, handler_env: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return build_platform(monkeypatch)


def _without_detail() -> dict[str, Any]:
    event = load_event("s3_object_created")
    del event["detail"]
    return event


def _with(name: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = load_event(name)
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


# Data drops


def test_data_drop_starts_one_execution_on_the_objects_folder(platform: Platform) -> None:
    # Given an object landing under the churn data prefix
    event = load_event("s3_object_created")

    # When the trigger handles its Object Created event
    result = platform.invoke(event)

    # Then exactly one execution runs on the object's folder, tagged with the event
    executions = platform.executions()
    assert len(executions) == 1
    arn = executions[0]["PipelineExecutionArn"]
    assert result["outcome"] == "started"
    assert result["executionArn"] == arn
    assert platform.parameters(arn) == {
        "InputDataUri": CHURN_FOLDER,
        "TriggerReason": "data",
        "TriggerEventId": event["id"],
    }
    name = executions[0]["PipelineExecutionDisplayName"]
    assert DISPLAY_NAME_RE.match(name)
    assert name == f"data-20250314T092653-{pipeline.event_hash(event['id'])}"
    # And RetrainingStarted says what started and why
    [started] = platform.published()
    assert started["detail-type"] == domain_events.RETRAINING_STARTED
    assert started["detail"]["model"] == "churn"
    assert started["detail"]["reason"] == "data"
    assert started["detail"]["executionArn"] == arn
    assert started["detail"]["inputDataUri"] == CHURN_FOLDER
    assert started["detail"]["correlationId"] == event["id"]


def test_event_without_optional_s3_fields_still_starts(platform: Platform) -> None:
    # Given an Object Created event with no size, etag, version-id, requester or source IP
    event = load_event("s3_object_created_minimal")

    # When it is handled
    result = platform.invoke(event)

    # Then it starts a run on the object's folder like a full event would
    assert result["outcome"] == "started"
    assert result["inputDataUri"] == CHURN_FOLDER
    assert len(platform.executions()) == 1


def test_redelivered_event_starts_nothing_the_second_time(platform: Platform) -> None:
    # Given an event that already started a run
    event = load_event("s3_object_created")
    first = platform.invoke(event)

    # When EventBridge (or Lambda's retry) delivers the same event again
    second = platform.invoke(load_event("s3_object_created"))

    # Then the second delivery is recognised and points at the first run
    assert second["outcome"] == "duplicate"
    assert second["reason"] == "duplicate-delivery"
    assert second["executionArn"] == first["executionArn"]
    assert len(platform.executions()) == 1
    started, coalesced = platform.published()
    assert started["detail-type"] == domain_events.RETRAINING_STARTED
    assert coalesced["detail-type"] == domain_events.RETRAINING_COALESCED
    assert coalesced["detail"]["reason"] == "duplicate-delivery"
    assert coalesced["detail"]["executionArn"] == first["executionArn"]


def test_burst_of_files_within_the_window_starts_one_run(platform: Platform) -> None:
    # Given three files of one drop arriving within the model's 30-minute window
    keys = [f"datasets/churn/2025-03-14/customers-000{i}.csv" for i in (1, 2, 3)]

    # When each Object Created event is handled
    results = [platform.invoke(object_created(key, event_id=f"burst-event-{i}")) for i, key in enumerate(keys)]

    # Then the first starts a run and the other two are coalesced into it
    assert [r["outcome"] for r in results] == ["started", "coalesced", "coalesced"]
    [execution] = platform.executions()
    arn = execution["PipelineExecutionArn"]
    assert [r["reason"] for r in results[1:]] == ["within-coalesce-window", "within-coalesce-window"]
    assert all(r["executionArn"] == arn for r in results)
    published = platform.published()
    assert [e["detail-type"] for e in published] == [
        domain_events.RETRAINING_STARTED,
        domain_events.RETRAINING_COALESCED,
        domain_events.RETRAINING_COALESCED,
    ]
    assert {e["detail"]["executionArn"] for e in published} == {arn}


def test_data_after_the_window_starts_a_new_run(platform: Platform) -> None:
    # Given a run that started 45 minutes ago, beyond the 30-minute window, and finished
    first = platform.invoke(object_created("datasets/churn/2025-03-14/a.csv", event_id="early-event"))
    old = platform.backend_execution(first["executionArn"])
    old.start_time = old.start_time - timedelta(minutes=45)

    # When new data lands
    result = platform.invoke(object_created("datasets/churn/2025-03-15/b.csv", event_id="late-event"))

    # Then a second run starts on the new folder
    assert result["outcome"] == "started"
    assert result["inputDataUri"] == f"s3://{DATA_BUCKET}/datasets/churn/2025-03-15/"
    assert len(platform.executions()) == 2


def test_failed_run_does_not_hold_the_window(platform: Platform) -> None:
    # Given a run that started a minute ago and failed
    first = platform.invoke(object_created("datasets/churn/2025-03-14/a.csv", event_id="failed-event"))
    platform.backend_execution(first["executionArn"]).pipeline_execution_status = "Failed"

    # When the corrected file lands
    result = platform.invoke(object_created("datasets/churn/2025-03-14/a-fixed.csv", event_id="fixed-event"))

    # Then a new run starts
    assert result["outcome"] == "started"
    assert len(platform.executions()) == 2


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(lambda: load_event("scheduled_event"), id="schedule"),
        pytest.param(lambda: retraining_requested(model="churn", reason="urgent fix"), id="manual"),
        pytest.param(lambda: object_created("datasets/churn/x/y.csv", event_id="data-event"), id="data"),
    ],
)
def test_running_execution_coalesces_every_trigger(platform: Platform, event: Callable[[], dict[str, Any]]) -> None:
    # Given an execution of the churn pipeline that is still running
    running_arn = start_other_execution(platform, status="Executing")

    # When any trigger arrives
    result = platform.invoke(event())

    # Then nothing starts, and the coalesced event names the running execution
    assert result["outcome"] == "coalesced"
    assert result["reason"] == "execution-running"
    assert result["executionArn"] == running_arn
    assert len(platform.executions()) == 1
    [coalesced] = platform.published()
    assert coalesced["detail-type"] == domain_events.RETRAINING_COALESCED
    assert coalesced["detail"]["executionArn"] == running_arn


def test_manual_request_bypasses_the_burst_window(platform: Platform) -> None:
    # Given a data run that started moments ago and has finished
    platform.invoke(load_event("s3_object_created"))

    # When a person asks for a run
    result = platform.invoke(load_event("retraining_requested"))

    # Then a second run starts despite the window
    assert result["outcome"] == "started"
    assert len(platform.executions()) == 2


def test_window_of_zero_minutes_starts_a_run_per_file(platform: Platform) -> None:
    # Given a model configured without a burst window
    put_catalog(example_settings("churn", coalesce_minutes=0))

    # When two files land back to back
    outcomes = [
        platform.invoke(object_created(f"datasets/churn/d/{i}.csv", event_id=f"no-window-{i}"))["outcome"]
        for i in range(2)
    ]

    # Then each starts its own run
    assert outcomes == ["started", "started"]
    assert len(platform.executions()) == 2


# Keys that are not data


@pytest.mark.parametrize(
    ("key", "size", "why"),
    [
        ("datasets/churn/2025-03-14/", 0, "folder marker"),
        ("datasets/churn/2025-03-14/empty.csv", 0, "empty object"),
        ("datasets/churn/2025-03-14/_SUCCESS", 0, "empty object"),
        ("datasets/churn/2025-03-14/_SUCCESS", 12, "marker or hidden file '_SUCCESS'"),
        ("datasets/churn/2025-03-14/_committed_8842", 90, "marker or hidden file '_committed_8842'"),
        ("datasets/churn/2025-03-14/.DS_Store", 6148, "marker or hidden file '.DS_Store'"),
        ("datasets/churn/2025-03-14/upload.csv.TMP", 10, "temporary file 'upload.csv.TMP'"),
        ("datasets/churn/2025-03-14/upload.temp", 10, "temporary file 'upload.temp'"),
        ("datasets/churn/2025-03-14/chunk.part", 10, "temporary file 'chunk.part'"),
        ("datasets/churn/2025-03-14/part-0.parquet.crc", 10, "temporary file 'part-0.parquet.crc'"),
        ("datasets/churn/2025-03-14_$folder$", 10, "temporary file '2025-03-14_$folder$'"),
        ("datasets/churn/_temporary/0/part-0.parquet", 10, "under hidden or staging folder '_temporary'"),
        ("datasets/churn/out/_temporary_1/part-0.csv", 10, "under hidden or staging folder '_temporary_1'"),
        ("datasets/churn/.spark-staging-1/part-0.csv", 10, "under hidden or staging folder '.spark-staging-1'"),
        ("datasets/churn/table/_delta_log/0000.json", 10, "under hidden or staging folder '_delta_log'"),
    ],
)
def test_rule_names_why_a_key_is_not_data(key: str, size: int, why: str) -> None:
    assert keys.non_data_reason(key, size, "datasets/churn/") == why


@pytest.mark.parametrize(
    ("key", "size"),
    [
        ("datasets/churn/2025-03-14/customers-0001.csv", 48213),
        ("datasets/churn/2025-03-14/part-00000-1b2c.snappy.parquet", 10),
        ("datasets/churn/year=2025/month=03/data.json", 10),
        ("datasets/churn/col=__HIVE_DEFAULT_PARTITION__/data.csv", 10),
        ("datasets/churn/2025-03-14/no-size.csv", None),
    ],
)
def test_rule_accepts_data_objects(key: str, size: int | None) -> None:
    assert keys.non_data_reason(key, size, "datasets/churn/") is None


def test_marker_object_is_ignored_with_the_rule_it_broke(platform: Platform) -> None:
    # Given Spark's completion marker landing next to the data it wrote
    event = object_created("datasets/churn/2025-03-14/_SUCCESS", event_id="marker-event", size=0)

    # When it is handled
    result = platform.invoke(event)

    # Then nothing starts and RetrainingIgnored says which rule applied
    assert result["outcome"] == "ignored"
    assert result["reason"] == "not-data"
    assert platform.executions() == []
    [ignored] = platform.published()
    assert ignored["detail-type"] == domain_events.RETRAINING_IGNORED
    assert ignored["detail"]["model"] == "churn"
    assert "empty object" in ignored["detail"]["message"]


def test_key_under_no_models_prefix_is_ignored(platform: Platform) -> None:
    # Given an object under a prefix that belongs to no model
    event = object_created("datasets/fraud/2025-03-14/tx.csv", event_id="stray-event")

    # When it is handled
    result = platform.invoke(event)

    # Then nothing starts and RetrainingIgnored records the unknown prefix
    assert result["outcome"] == "ignored"
    assert result["reason"] == "unknown-prefix"
    assert platform.executions() == []
    [ignored] = platform.published()
    assert ignored["detail-type"] == domain_events.RETRAINING_IGNORED
    assert ignored["detail"]["reason"] == "unknown-prefix"
    assert ignored["detail"]["key"] == "datasets/fraud/2025-03-14/tx.csv"


def test_object_in_another_bucket_is_ignored(platform: Platform) -> None:
    # Given a churn-looking key in a bucket that is not the data bucket
    event = object_created("datasets/churn/2025-03-14/a.csv", event_id="foreign-event", bucket="someone-elses-bucket")

    # When it is handled
    result = platform.invoke(event)

    # Then nothing starts
    assert result["outcome"] == "ignored"
    assert result["reason"] == "foreign-bucket"
    assert platform.executions() == []


# Quality alarm, schedule, people


def test_quality_alarm_entering_alarm_starts_a_run_on_the_whole_prefix(platform: Platform) -> None:
    # Given the churn quality alarm going from OK to ALARM
    event = load_event("cloudwatch_alarm_alarm")

    # When it is handled
    result = platform.invoke(event)

    # Then a quality run starts on the model's whole data prefix
    assert result["outcome"] == "started"
    [execution] = platform.executions()
    assert platform.parameters(execution["PipelineExecutionArn"]) == {
        "InputDataUri": CHURN_PREFIX,
        "TriggerReason": "quality",
        "TriggerEventId": event["id"],
    }


def test_quality_alarm_going_back_to_ok_does_nothing(platform: Platform) -> None:
    # Given the churn quality alarm recovering from ALARM to OK
    event = load_event("cloudwatch_alarm_ok")

    # When it is handled
    result = platform.invoke(event)

    # Then no run starts and nothing is published
    assert result["outcome"] == "ignored"
    assert result["reason"] == "alarm-not-in-alarm"
    assert platform.executions() == []
    assert platform.published() == []


def test_scheduled_event_starts_a_schedule_run(platform: Platform) -> None:
    # Given the churn schedule rule firing
    event = load_event("scheduled_event")

    # When it is handled
    result = platform.invoke(event)

    # Then a schedule run starts on the whole prefix
    assert result["outcome"] == "started"
    [execution] = platform.executions()
    assert execution["PipelineExecutionDisplayName"].startswith("schedule-20250317T020000-")
    params = platform.parameters(execution["PipelineExecutionArn"])
    assert params["TriggerReason"] == "schedule"
    assert params["InputDataUri"] == CHURN_PREFIX


def test_manual_request_starts_a_run_on_the_requested_data(platform: Platform) -> None:
    # Given a person asking for a run on a relabelled snapshot
    event = load_event("retraining_requested")

    # When it is handled
    result = platform.invoke(event)

    # Then a manual run starts on exactly that data
    assert result["outcome"] == "started"
    [execution] = platform.executions()
    params = platform.parameters(execution["PipelineExecutionArn"])
    assert params["TriggerReason"] == "manual"
    assert params["InputDataUri"] == event["detail"]["inputDataUri"]
    [started] = platform.published()
    assert started["detail"]["trigger"] == "manual"


def test_manual_request_without_data_uri_uses_the_models_prefix(platform: Platform) -> None:
    # Given a request that names no data
    event = retraining_requested(model="churn", reason="monthly refresh")

    # When it is handled
    result = platform.invoke(event)

    # Then the run reads the model's whole prefix
    assert result["outcome"] == "started"
    assert result["inputDataUri"] == CHURN_PREFIX


def test_manual_request_for_an_unknown_model_is_refused_by_name(platform: Platform) -> None:
    # Given a request for a model the catalog does not hold
    event = retraining_requested(model="fraud", reason="please")

    # When it is handled
    result = platform.invoke(event)

    # Then nothing starts and the rejection names the model and the known ones
    assert result["outcome"] == "rejected"
    assert result["reason"] == "unknown-model"
    assert "'fraud'" in result["message"]
    assert "known models: churn" in result["message"]
    assert platform.executions() == []
    [rejected] = platform.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert "'fraud'" in rejected["detail"]["message"]


@pytest.mark.parametrize(
    ("event", "named"),
    [
        pytest.param(
            lambda: _with("cloudwatch_alarm_alarm", ("detail", "alarmName"), "mlops-dev-fraud-quality"),
            "quality alarm 'mlops-dev-fraud-quality'",
            id="alarm",
        ),
        pytest.param(
            lambda: _with(
                "scheduled_event", ("resources",), [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/mlops-dev-fraud-schedule"]
            ),
            "schedule rule 'mlops-dev-fraud-schedule'",
            id="schedule",
        ),
    ],
)
def test_alarm_or_rule_of_no_model_is_rejected(
    platform: Platform, event: Callable[[], dict[str, Any]], named: str
) -> None:
    # Given an alarm or schedule rule the catalog does not know (catalog and rules drifted apart)
    # When its event arrives
    result = platform.invoke(event())

    # Then nothing starts and the rejection names what was not found
    assert result["outcome"] == "rejected"
    assert result["reason"] == "unknown-model"
    assert named in result["message"]
    assert platform.executions() == []
    [rejected] = platform.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED


# Malformed and unsupported events


@pytest.mark.parametrize(
    ("event", "named"),
    [
        pytest.param(_without_detail, "detail: Field required", id="missing-detail"),
        pytest.param(
            lambda: _with("s3_object_created", ("detail", "object", "key"), 42), "detail.object.key", id="key"
        ),
        pytest.param(
            lambda: _with("s3_object_created", ("detail", "object", "size"), "lots"), "detail.object.size", id="size"
        ),
        pytest.param(
            lambda: _with("cloudwatch_alarm_alarm", ("detail", "state"), "ALARM"), "detail.state", id="alarm-state"
        ),
        pytest.param(lambda: _with("scheduled_event", ("resources",), []), "resources", id="no-rule"),
        pytest.param(lambda: _with("retraining_requested", ("detail", "model"), ["churn"]), "detail.model", id="model"),
        pytest.param(
            lambda: _with("retraining_requested", ("detail", "inputDataUri"), "/local/path"),
            "detail.inputDataUri",
            id="uri",
        ),
    ],
)
def test_malformed_event_is_rejected_without_starting_anything(
    platform: Platform, caplog: pytest.LogCaptureFixture, event: Callable[[], dict[str, Any]], named: str
) -> None:
    # Given an event whose shape is wrong
    bad = event()

    # When it is handled
    result = platform.invoke(bad)

    # Then it is rejected, naming the field, with no run and no exception
    assert result["outcome"] == "rejected"
    assert result["reason"] == "malformed-event"
    assert named in result["message"]
    assert platform.executions() == []
    [rejected] = platform.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert rejected["detail"]["reason"] == "malformed-event"
    assert named in rejected["detail"]["message"]
    assert rejected["detail"]["correlationId"] == bad["id"]
    # And the log says so on one warning line
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert named in warnings[0]


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}, id="other"),
        pytest.param(["not", "an", "object"], id="not-a-dict"),
    ],
)
def test_event_this_function_does_not_handle_is_rejected(platform: Platform, event: Any) -> None:
    # When an event of another kind reaches the function
    result = platform.invoke(event)

    # Then it is rejected and nothing starts
    assert result["outcome"] == "rejected"
    assert platform.executions() == []
    [rejected] = platform.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED


# Transient AWS errors


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class FlakySageMaker:
    """Answers StartPipelineExecution with an error `failures` times, then lets moto answer.

    botocore calls every before-send handler and keeps the first response, so moto's
    handler is taken off this one client and called from here: a failed attempt must
    never reach moto, or moto would start an execution for it.
    """

    def __init__(self, code: str, status: int, failures: int) -> None:
        self.code, self.status, self.failures = code, status, failures
        self.attempts = 0

    def __call__(self, event_name: str, request: Any, **kwargs: Any) -> AWSResponse | None:
        if event_name.endswith(".StartPipelineExecution"):
            self.attempts += 1
            if self.attempts <= self.failures:
                body = json.dumps({"__type": self.code, "message": f"injected {self.code}"}).encode()
                headers = {"x-amzn-RequestId": f"req-{self.attempts}", "Content-Type": "application/x-amz-json-1.1"}
                return AWSResponse(request.url, self.status, headers, _RawBody(body))
        response: AWSResponse | None = botocore_stubber(event_name=event_name, request=request, **kwargs)
        return response

    def install(self) -> None:
        events = runtime.client("sagemaker").meta.events
        events.unregister("before-send", botocore_stubber)
        events.register("before-send", self)


@pytest.fixture
def backoff_delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record botocore's retry sleeps instead of sleeping through them."""
    delays: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=delays.append))
    return delays


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottlingException", 400), ("InternalFailure", 500), ("ServiceUnavailable", 503)],
)
def test_transient_start_failures_are_retried_by_botocore(
    platform: Platform, backoff_delays: list[float], code: str, status: int
) -> None:
    # Given SageMaker failing the first two start attempts
    flaky = FlakySageMaker(code, status, failures=2)
    flaky.install()

    # When a data drop is handled
    result = platform.invoke(load_event("s3_object_created"))

    # Then botocore retried with backoff and the third attempt started exactly one run
    assert result["outcome"] == "started"
    assert flaky.attempts == 3
    assert len(backoff_delays) == 2
    assert len(platform.executions()) == 1


def test_persistent_throttling_raises_so_the_event_is_retried_later(
    platform: Platform, backoff_delays: list[float]
) -> None:
    # Given SageMaker throttling every start attempt
    flaky = FlakySageMaker("ThrottlingException", 400, failures=100)
    flaky.install()

    # When a data drop is handled, Then the error escapes after the configured attempts
    with pytest.raises(ClientError) as raised:
        platform.invoke(load_event("s3_object_created"))
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert flaky.attempts == 1 + runtime.MAX_RETRIES
    assert len(backoff_delays) == runtime.MAX_RETRIES
    # And nothing started and nothing was announced
    assert platform.executions() == []
    assert platform.published() == []


def test_run_is_not_started_twice_when_announcing_it_failed(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run that started but whose RetrainingStarted could not be published
    monkeypatch.setenv(env_names.PLATFORM_BUS_NAME, "mlops-dev-missing-bus")
    handler.reset()
    event = load_event("s3_object_created")
    with pytest.raises(ClientError, match="mlops-dev-missing-bus"):
        platform.invoke(event)
    [execution] = platform.executions()

    # When Lambda retries the event once the bus is back
    monkeypatch.setenv(env_names.PLATFORM_BUS_NAME, BUS_NAME)
    handler.reset()
    result = platform.invoke(load_event("s3_object_created"))

    # Then no second run starts, and the record links the event to the first run
    assert result["outcome"] == "duplicate"
    assert len(platform.executions()) == 1
    [coalesced] = platform.published()
    assert coalesced["detail"]["reason"] == "duplicate-delivery"
    assert coalesced["detail"]["executionArn"] == execution["PipelineExecutionArn"]
    assert coalesced["detail"]["correlationId"] == event["id"]


# Pure parts and process state


@pytest.mark.parametrize("reason", ["data", "quality", "schedule", "manual"])
def test_idempotency_fields_fit_sagemaker_limits(reason: str) -> None:
    event_id = "5a7e3c2d-9b1f-4d6e-a8c0-3f2b1e9d7c65"
    token = pipeline.request_token(event_id)
    name = pipeline.display_name(reason, datetime(2025, 3, 18, 13, 45, 12, tzinfo=UTC), event_id)
    assert 32 <= len(token) <= 128
    assert DISPLAY_NAME_RE.match(name)
    assert name.endswith(token[: pipeline.EVENT_HASH_LENGTH])
    assert pipeline.request_token(event_id) == token


def test_redelivery_is_recognised_before_a_running_execution() -> None:
    # Given the event's own run is still executing, next to an older running one
    model = example_settings("churn")
    now = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
    trigger = pipeline.Trigger(model, "data", CHURN_FOLDER, "evt-1", now, "test")
    own = pipeline.Execution("arn:own", "Executing", trigger.display_name, now - timedelta(minutes=1))
    other = pipeline.Execution("arn:other", "Executing", "studio-run", now)

    # When deciding, Then it is a duplicate of its own run, not a coalesce into the other
    decision = logic.decide(trigger, [other, own], now)
    assert (decision.action, decision.execution) == ("duplicate", own)


def test_catalog_is_read_once_and_forgotten_on_reset(platform: Platform) -> None:
    # Given a catalog that has been read
    first = runtime.catalog()

    # When the SSM parameter changes
    put_catalog(example_settings("churn", coalesce_minutes=5))

    # Then the cached copy is used until reset or expiry
    assert runtime.catalog() is first
    assert runtime.catalog(max_age_seconds=0).by_name("churn").coalesce_minutes == 5
    handler.reset()
    assert runtime.catalog().by_name("churn").coalesce_minutes == 5


def test_missing_data_bucket_setting_fails_loudly(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment that forgot the data bucket variable
    monkeypatch.delenv(env_names.DATA_BUCKET_NAME)

    # When an event arrives, Then the error names the variable (and the event is retried)
    with pytest.raises(runtime.MissingSettingError, match=env_names.DATA_BUCKET_NAME):
        platform.invoke(load_event("scheduled_event"))


def test_importing_the_handler_loads_no_aws_sdk() -> None:
    # Given a fresh interpreter, When the handler module is imported,
    # Then boto3 and botocore's client machinery stay unloaded (clients are built on first use)
    sdk = ("boto3", "botocore.client", "botocore.session")
    code = f"import sys, retraining_trigger.handler; print(sorted(m for m in {sdk!r} if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={"PYTHONPATH": str(root / "lambdas")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
