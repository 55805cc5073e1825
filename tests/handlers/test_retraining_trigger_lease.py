"""Concurrent invocations of the retraining trigger: one decision per model at a time.

The function runs without reserved concurrency, so two events can be handled at the same
moment. Duplicates of one event are stopped by the request token; these tests are about two
*different* events for the same model, and about leases left behind by invocations that
crashed or failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from platform_common import lease, runtime
from platform_common.catalog import Catalog
from platform_common.s3_events import ObjectCreatedEvent
from retraining_trigger import handler, logic
from retraining_trigger.outcome import Outcome
from retraining_trigger.pipeline import Trigger
from retraining_trigger.state import StateConflictError
from tests.handlers.conftest import example_settings
from tests.handlers.trigger_platform import (
    DATA_BUCKET,
    Platform,
    after_listing,
    build_platform,
    keep_runs_executing,
    object_created,
    wait_for_the_other,
)

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def platform(aws: None, handler_env: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return build_platform(monkeypatch)


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def drop(name: str) -> ObjectCreatedEvent:
    """A parsed data drop for churn, as the handler would pass it to the core."""
    return ObjectCreatedEvent.model_validate(object_created(f"datasets/churn/{name}/data.csv", event_id=f"drop-{name}"))


def process(platform: Platform, event: ObjectCreatedEvent, clock: FakeClock, sagemaker: Any = None) -> Outcome:
    return logic.process(
        event,
        catalog=Catalog([example_settings("churn")]),
        data_bucket=DATA_BUCKET,
        services=platform.services(clock, clock.sleep, sagemaker=sagemaker),
    )


class ListThenInterleave:
    """SageMaker whose first ListPipelineExecutions answer is followed by `between()`.

    That is the moment a race would hurt: this invocation has seen nothing running and has
    not started anything yet, and another invocation runs its whole decision in between.
    """

    def __init__(self, client: Any, between: Callable[[], None]) -> None:
        self._client = client
        self._between: Callable[[], None] | None = between

    def list_pipeline_executions(self, **kwargs: Any) -> Any:
        answer = self._client.list_pipeline_executions(**kwargs)
        between, self._between = self._between, None
        if between is not None:
            between()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class NoLease:
    """A stand-in without mutual exclusion: what the trigger did before it had leases."""

    @contextmanager
    def hold(self, model: str, owner: str) -> Iterator[None]:
        yield


def test_two_drops_handled_at_once_start_exactly_one_run(platform: Platform) -> None:
    """Two invocations at the same moment: each pauses after listing until the other has listed too.

    Without mutual exclusion both see nothing running and both start. With the lease, the
    second waits for the first to give its lease back, then sees the first run executing.
    """
    # Given runs that take a while, as real ones do, and two different drops for churn
    sagemaker = runtime.client("sagemaker")
    keep_runs_executing(sagemaker)
    after_listing(sagemaker, wait_for_the_other(threading.Barrier(2, timeout=1.0)))
    drops = [
        object_created("datasets/churn/2025-03-14/a.csv", event_id="drop-a"),
        object_created("datasets/churn/2025-03-15/b.csv", event_id="drop-b"),
    ]

    # When both are handled at once
    results: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=lambda e=e: results.update({e["id"]: platform.invoke(e)})) for e in drops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then exactly one execution exists, and the other event was coalesced into it, not lost
    [execution] = platform.executions()
    assert sorted(r["outcome"] for r in results.values()) == ["coalesced", "started"]
    [coalesced] = [r for r in results.values() if r["outcome"] == "coalesced"]
    assert coalesced["reason"] == "execution-running"
    assert coalesced["executionArn"] == execution["PipelineExecutionArn"]
    # And no lease is left behind
    assert platform.lease_item() is None


def test_an_event_decided_inside_anothers_decision_waits_and_is_coalesced(platform: Platform) -> None:
    # Given drop a, whose invocation has listed the executions (none) but not started yet,
    # when drop b's invocation runs right then (and, as Lambda does, again after it failed)
    clock = FakeClock()
    keep_runs_executing(platform.sagemaker)
    second_attempts: list[Outcome | Exception] = []

    def handle_b() -> None:
        try:
            second_attempts.append(process(platform, drop("b"), clock))
        except lease.LeaseBusyError as error:
            second_attempts.append(error)

    first = process(platform, drop("a"), clock, sagemaker=ListThenInterleave(platform.sagemaker, handle_b))
    retried = process(platform, drop("b"), clock)

    # Then b's first attempt started nothing and asked to be retried, naming the model and the holder
    [busy] = second_attempts
    assert isinstance(busy, lease.LeaseBusyError)
    assert "model churn" in str(busy)
    assert busy.holder is not None and busy.holder.startswith("drop-a/")
    assert "Nothing was started" in str(busy)
    # And a started one run, which b's retry was coalesced into
    [execution] = platform.executions()
    assert (first.outcome, first.execution_arn) == ("started", execution["PipelineExecutionArn"])
    assert (retried.outcome, retried.reason) == ("coalesced", "execution-running")
    assert retried.execution_arn == execution["PipelineExecutionArn"]


def test_without_the_lease_the_same_interleaving_starts_two_runs(platform: Platform) -> None:
    """The interleaving above is a real race: without mutual exclusion it starts a second run.

    The state's version check notices afterwards (the first invocation cannot record its run),
    but only the lease keeps the second run from starting.
    """
    clock = FakeClock()
    keep_runs_executing(platform.sagemaker)
    unguarded = replace(platform.services(clock, clock.sleep), leases=NoLease())

    def handle_b() -> None:
        logic.run(Trigger(example_settings("churn"), "data", "s3://b/", "drop-b", clock(), "b"), unguarded)

    interleaved = replace(unguarded, sagemaker=ListThenInterleave(platform.sagemaker, handle_b))
    with pytest.raises(StateConflictError, match="model churn"):
        logic.run(Trigger(example_settings("churn"), "data", "s3://a/", "drop-a", clock(), "a"), interleaved)

    assert [e["PipelineExecutionStatus"] for e in platform.executions()] == ["Executing", "Executing"]


def test_a_crashed_holders_lease_expires_and_the_event_goes_ahead(platform: Platform) -> None:
    # Given a lease left by an invocation that crashed with 15 s of its lease left
    clock = FakeClock()
    platform.put_lease(owner="crashed-invocation", expires_at=clock.now + timedelta(seconds=15))

    # When a drop arrives
    outcome = process(platform, drop("a"), clock)

    # Then it waited for the lease to expire (not longer), took it over and started the run
    assert outcome.outcome == "started"
    assert 15 < sum(clock.slept) <= 15 + lease.MAX_POLL_SECONDS + 1
    assert len(platform.executions()) == 1
    # And gave the lease back
    assert platform.lease_item() is None


def test_a_lease_held_longer_than_the_wait_raises_and_starts_nothing(platform: Platform) -> None:
    # Given a lease another invocation holds for another 100 s
    clock = FakeClock()
    platform.put_lease(owner="busy-invocation", expires_at=clock.now + timedelta(seconds=100))

    # When a drop arrives, Then it gives up after the wait, so that Lambda retries it later
    with pytest.raises(lease.LeaseBusyError, match="model churn: lease held by busy-invocation") as raised:
        process(platform, drop("a"), clock)
    assert raised.value.model == "churn"
    assert sum(clock.slept) == pytest.approx(lease.WAIT_SECONDS)
    # And nothing started, and the other lease is untouched
    assert platform.executions() == []
    item = platform.lease_item()
    assert item is not None and item["owner"]["S"] == "busy-invocation"


def test_an_error_while_holding_the_lease_gives_it_back(platform: Platform) -> None:
    # Given SageMaker refusing the start outright (an error botocore does not retry)
    sagemaker = runtime.client("sagemaker")
    stubber = Stubber(sagemaker)
    stubber.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": []})
    stubber.add_client_error("start_pipeline_execution", "ValidationException", "pipeline is being updated")

    # When a drop arrives, Then the error escapes (the event is retried or dead-lettered)
    with stubber, pytest.raises(ClientError, match="pipeline is being updated"):
        platform.invoke(object_created("datasets/churn/2025-03-14/a.csv", event_id="drop-a"))

    # And the lease is free again: the next event takes it at once and starts
    assert platform.lease_item() is None
    clock = FakeClock()
    assert process(platform, drop("b"), clock).outcome == "started"
    assert clock.slept == []


def test_a_lease_is_given_back_only_by_its_owner(platform: Platform) -> None:
    # Given a lease that expired and was taken over by another invocation
    clock = FakeClock()
    leases = platform.services(clock, clock.sleep).leases
    stale = leases.acquire("churn", "slow-invocation")
    clock.sleep(lease.LEASE_SECONDS + 1)
    current = leases.acquire("churn", "next-invocation")

    # When the first invocation gives its lease back late
    given_back = leases.release(stale)

    # Then the current holder keeps its lease
    assert given_back is False
    item = platform.lease_item()
    assert item is not None and item["owner"]["S"] == current.owner


def test_a_lease_item_expires_for_ttl_a_day_after_the_lease() -> None:
    """DynamoDB TTL reads epoch seconds; the item outlives the lease so the condition decides, not TTL."""
    clock = FakeClock()
    written: dict[str, Any] = {}

    class Recorder:
        class exceptions:
            ConditionalCheckFailedException = type("ConditionalCheckFailedException", (Exception,), {})

        def put_item(self, **request: Any) -> None:
            written.update(request)

    lease.LeaseTable(Recorder(), "t", clock=clock, sleep=clock.sleep).try_acquire("churn", "me")
    expires = int(written["Item"]["leaseExpiresAt"]["N"])
    assert expires == int(T0.timestamp()) + lease.LEASE_SECONDS
    assert int(written["Item"][lease.TTL_ATTRIBUTE]["N"]) == expires + 24 * 3600
    assert written["ConditionExpression"] == "attribute_not_exists(id) OR leaseExpiresAt < :now"
