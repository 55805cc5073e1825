"""A per-model lease in DynamoDB, so that one decision about a model is taken at a time.

The trigger reads the pipeline's executions and then starts one; two invocations doing that at
the same moment for the same model would both see nothing running and both start. The gate and
the deployer read the registry and the endpoint and then act on them, with the same risk
(`platform_common.promotion`). Whoever holds the model's lease is the only one deciding for that
model; each kind of decision has its own key. The lease is one item per model,
written with a condition ("Condition expressions", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html:
"If the condition expression evaluates to true, the operation succeeds; otherwise, the operation
fails"): it is taken only if no item exists or the one that exists has expired
(`attribute_not_exists(id) OR leaseExpiresAt < :now`), and given back only by its owner
(`owner = :owner`).

A lease outlives any invocation that holds it: its duration (LEASE_SECONDS for the trigger,
promotion.PROMOTION_LEASE_SECONDS for the gate and the deployer) is longer than the holder's
function timeout (tests/infra/test_model_locks.py holds them together), so an expired lease belongs
to an invocation that has ended, for instance one that crashed. Its item also carries a TTL
attribute (epoch seconds); "DynamoDB typically deletes expired items within two days of
expiration" (UpdateTimeToLive, Amazon DynamoDB API Reference,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html), which
is only housekeeping: correctness rests on the expiry in the condition, never on the deletion.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Longer than the function's 60-second timeout, so that a live invocation never loses its lease.
LEASE_SECONDS = 120
# How long an invocation waits for a busy lease before it gives the event back to Lambda's
# retries. Holders keep the lease for a few API calls, normally well under a second.
WAIT_SECONDS = 20.0
FIRST_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 2.0
# Expired lease items are left for DynamoDB's TTL to delete a day later.
TTL_GRACE_SECONDS = 24 * 3600

KEY_ATTRIBUTE = "id"
TTL_ATTRIBUTE = "expiresAt"
_LEASE_SUFFIX = "#lease"

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class LeaseBusyError(RuntimeError):
    """Another invocation held the model's lease for longer than this one could wait."""

    def __init__(self, model: str, holder: str | None, expires_at: float | None, waited: float) -> None:
        self.model = model
        self.holder = holder
        self.expires_at = expires_at
        until = datetime.fromtimestamp(expires_at, UTC).isoformat() if expires_at is not None else "unknown"
        super().__init__(
            f"model {model}: lease held by {holder or 'another invocation'} until {until}; waited {waited:.1f} s. "
            "Nothing was started; the event is raised so that Lambda retries it once the lease is free."
        )


@dataclass(frozen=True)
class Lease:
    """A lease this invocation holds on one model until `expires_at` (epoch seconds)."""

    model: str
    owner: str
    expires_at: float


class LeaseTable:
    """Takes and gives back per-model leases in one DynamoDB table (low-level client)."""

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        *,
        clock: Clock,
        sleep: Sleep,
        lease_seconds: float = LEASE_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self._dynamodb = dynamodb
        self.table_name = table_name
        self._clock = clock
        self._sleep = sleep
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds

    def try_acquire(self, model: str, owner: str) -> Lease | tuple[str | None, float | None]:
        """The lease, or (holder, expiry) of the lease that is in the way."""
        now = _epoch(self._clock())
        expires_at = float(math.ceil(now + self._lease_seconds))
        try:
            self._dynamodb.put_item(
                TableName=self.table_name,
                Item={
                    KEY_ATTRIBUTE: {"S": model + _LEASE_SUFFIX},
                    "owner": {"S": owner},
                    "leaseExpiresAt": {"N": str(int(expires_at))},
                    TTL_ATTRIBUTE: {"N": str(int(expires_at) + TTL_GRACE_SECONDS)},
                },
                ConditionExpression=f"attribute_not_exists({KEY_ATTRIBUTE}) OR leaseExpiresAt < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            held = error.response.get("Item") or {}
            holder = held.get("owner", {}).get("S")
            expiry = held.get("leaseExpiresAt", {}).get("N")
            return holder, float(expiry) if expiry is not None else None
        return Lease(model, owner, expires_at)

    def acquire(self, model: str, owner: str) -> Lease:
        """Take the model's lease, waiting up to `wait_seconds` for a holder to give it back."""
        started = _epoch(self._clock())
        delay = FIRST_POLL_SECONDS
        while True:
            result = self.try_acquire(model, owner)
            if isinstance(result, Lease):
                return result
            holder, expiry = result
            waited = _epoch(self._clock()) - started
            if waited >= self._wait_seconds:
                raise LeaseBusyError(model, holder, expiry, waited)
            self._sleep(min(delay, self._wait_seconds - waited))
            delay = min(delay * 2, MAX_POLL_SECONDS)

    def release(self, lease: Lease) -> bool:
        """Give the lease back; False if it had already expired and another invocation took it."""
        try:
            self._dynamodb.delete_item(
                TableName=self.table_name,
                Key={KEY_ATTRIBUTE: {"S": lease.model + _LEASE_SUFFIX}},
                # OWNER is a reserved word in expressions ("Reserved words in DynamoDB",
                # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ReservedWords.html).
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": lease.owner}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @contextmanager
    def hold(self, model: str, owner: str) -> Iterator[Lease]:
        """Hold the model's lease for the block; it is given back however the block ends."""
        lease = self.acquire(model, owner)
        try:
            yield lease
        finally:
            self.release(lease)


def new_owner(event_id: str) -> str:
    """An owner id unique to this attempt at handling `event_id` (redeliveries get their own)."""
    return f"{event_id[:64]}/{uuid.uuid4().hex}"
