"""What the trigger remembers about a model between events, kept next to the model's lease.

One item per model (`<model>#state`) in the lock table, read and written only by the holder
of the model's lease (`lease.py`):

- `active`: the run the trigger started last and has not seen end. A listing of executions
  taken right after a start may not show the new run yet; this record does.
- `waiting`: the newest data set that landed while a run executed or inside the coalescing
  window and that no run has read yet. One trailing run starts on it when the run ends or the
  window closes.
- `covered_until`: the event time of the newest data that a started run reads; a drop older
  than that, delivered late, is superseded rather than trained on again.
- `absorbed`: ids of the latest data events already accounted for (started, waiting or
  superseded), so that a redelivery of one of them stays a duplicate.

The item lives where the lease lives because it changes only under the lease. Each write is
conditional on the version that was read, so that even a holder that somehow outlived its lease
cannot overwrite a newer state ("Condition expressions", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
An item with nothing waiting and no active run gets a TTL a few days out: by then no
redelivery of an event it absorbed can arrive (EventBridge retries for 24 hours at most here,
Lambda's asynchronous queue keeps an event for 6), and losing it loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from platform_common.lease import KEY_ATTRIBUTE, TTL_ATTRIBUTE, Clock

STATE_SUFFIX = "#state"
IDLE_RETENTION = timedelta(days=3)
# Enough for the files of several drops; the oldest ids drop out first.
ABSORBED_LIMIT = 200


class StateConflictError(RuntimeError):
    """The model's state changed between this invocation's read and its write."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"model {model}: its retraining state changed while this invocation held the lease; "
            "nothing was written and the event is raised so that Lambda retries it"
        )


@dataclass(frozen=True)
class ActiveRun:
    """A run the trigger started and has not yet seen end."""

    arn: str
    started_at: datetime
    display_name: str
    event_id: str


@dataclass(frozen=True)
class WaitingData:
    """The newest data set that no run has read yet."""

    uri: str
    key: str
    event_id: str
    event_time: datetime


@dataclass(frozen=True)
class ModelState:
    """One model's retraining state; version 0 means no item exists yet."""

    model: str
    version: int = 0
    active: ActiveRun | None = None
    waiting: WaitingData | None = None
    covered_until: datetime | None = None
    absorbed: tuple[str, ...] = ()

    def absorb(self, *event_ids: str) -> ModelState:
        """This state, with `event_ids` recorded as accounted for."""
        kept = [e for e in self.absorbed if e not in event_ids]
        return replace(self, absorbed=tuple([*kept, *event_ids][-ABSORBED_LIMIT:]))

    def cover(self, moment: datetime) -> ModelState:
        """This state, with data up to `moment` recorded as read by a started run."""
        newest = moment if self.covered_until is None else max(self.covered_until, moment)
        return replace(self, covered_until=newest)


def _text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _moment(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return str(value) if value is not None else None


def to_item(state: ModelState, *, version: int, now: datetime) -> dict[str, Any]:
    """The DynamoDB item (low-level format) for `state` written as `version`."""
    item: dict[str, Any] = {
        KEY_ATTRIBUTE: {"S": state.model + STATE_SUFFIX},
        "version": {"N": str(version)},
        "updatedAt": {"S": _text(now)},
    }
    if state.active is not None:
        item["activeArn"] = {"S": state.active.arn}
        item["activeStartedAt"] = {"S": _text(state.active.started_at)}
        item["activeDisplayName"] = {"S": state.active.display_name}
        item["activeEventId"] = {"S": state.active.event_id}
    if state.waiting is not None:
        item["waitingUri"] = {"S": state.waiting.uri}
        item["waitingKey"] = {"S": state.waiting.key}
        item["waitingEventId"] = {"S": state.waiting.event_id}
        item["waitingEventTime"] = {"S": _text(state.waiting.event_time)}
    if state.covered_until is not None:
        item["coveredUntil"] = {"S": _text(state.covered_until)}
    if state.absorbed:
        item["absorbed"] = {"L": [{"S": event_id} for event_id in state.absorbed]}
    if state.active is None and state.waiting is None:
        item[TTL_ATTRIBUTE] = {"N": str(int((now + IDLE_RETENTION).timestamp()))}
    return item


def from_item(model: str, item: Mapping[str, Any] | None) -> ModelState:
    """The state an item holds (an empty state when there is no item)."""
    if not item:
        return ModelState(model)
    active = None
    arn, started, name, event_id = (
        _s(item, key) for key in ("activeArn", "activeStartedAt", "activeDisplayName", "activeEventId")
    )
    if arn and started:
        active = ActiveRun(arn, _moment(started), name or "", event_id or "")
    waiting = None
    uri, key, waiting_id, waiting_time = (
        _s(item, name) for name in ("waitingUri", "waitingKey", "waitingEventId", "waitingEventTime")
    )
    if uri and waiting_id and waiting_time:
        waiting = WaitingData(uri, key or "", waiting_id, _moment(waiting_time))
    covered = _s(item, "coveredUntil")
    absorbed = tuple(str(entry["S"]) for entry in item.get("absorbed", {}).get("L", []) if "S" in entry)
    return ModelState(
        model=model,
        version=int(item.get("version", {}).get("N", "0")),
        active=active,
        waiting=waiting,
        covered_until=_moment(covered) if covered else None,
        absorbed=absorbed,
    )


class StateTable:
    """Reads and writes models' retraining state in the lock table (low-level client)."""

    def __init__(self, dynamodb: Any, table_name: str, *, clock: Clock) -> None:
        self._dynamodb = dynamodb
        self.table_name = table_name
        self._clock = clock

    def load(self, model: str) -> ModelState:
        """The model's state as last written (a strongly consistent read)."""
        response = self._dynamodb.get_item(
            TableName=self.table_name, Key={KEY_ATTRIBUTE: {"S": model + STATE_SUFFIX}}, ConsistentRead=True
        )
        return from_item(model, response.get("Item"))

    def save(self, state: ModelState) -> ModelState:
        """Write `state` if nobody wrote since it was read; return it with its new version."""
        version = state.version + 1
        condition = f"attribute_not_exists({KEY_ATTRIBUTE})" if state.version == 0 else "version = :read_version"
        values = {} if state.version == 0 else {":read_version": {"N": str(state.version)}}
        try:
            self._dynamodb.put_item(
                TableName=self.table_name,
                Item=to_item(state, version=version, now=self._clock()),
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            raise StateConflictError(state.model) from None
        return replace(state, version=version)
