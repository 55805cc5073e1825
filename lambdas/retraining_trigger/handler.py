"""Lambda entry point of the retraining trigger: parse the event, then hand over to `logic`.

A malformed event is answered with an EventRejected event and a normal return: retrying
cannot repair it. Any AWS error (botocore has already retried throttling and 5xx answers)
propagates, so Lambda's async retries and the dead-letter queue keep the event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from platform_common import env_names, runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from pydantic import ValidationError

    from retraining_trigger import logic
    from retraining_trigger.models import TriggerEvent
    from retraining_trigger.outcome import Outcome

MAX_REPORTED_ERRORS = 10

logger = Logger()


@dataclass(frozen=True)
class TriggerSettings:
    """What the automation stack tells the trigger beyond the settings every handler gets."""

    data_bucket: str
    lock_table: str
    timer_group: str
    timer_role_arn: str
    timer_dead_letter_arn: str

    @classmethod
    def from_env(cls) -> TriggerSettings:
        """Read the settings; a missing one raises MissingSettingError naming the variable."""
        return cls(
            data_bucket=runtime.require_env(env_names.DATA_BUCKET_NAME),
            lock_table=runtime.require_env(env_names.RETRAINING_LOCK_TABLE_NAME),
            timer_group=runtime.require_env(env_names.RETRAINING_TIMER_GROUP_NAME),
            timer_role_arn=runtime.require_env(env_names.RETRAINING_TIMER_ROLE_ARN),
            timer_dead_letter_arn=runtime.require_env(env_names.RETRAINING_TIMER_DEAD_LETTER_ARN),
        )


trigger_settings = runtime.lazy(TriggerSettings.from_env)


def services(function_arn: str) -> logic.Services:
    """The core's AWS side: SageMaker, the lock table (leases and state) and the window timer."""
    from platform_common.lease import LeaseTable
    from retraining_trigger import logic
    from retraining_trigger.state import StateTable
    from retraining_trigger.timer import WindowTimer

    settings = trigger_settings()
    dynamodb = runtime.client("dynamodb")
    return logic.Services(
        sagemaker=runtime.client("sagemaker"),
        leases=LeaseTable(dynamodb, settings.lock_table, clock=logic.utc_now, sleep=time.sleep),
        states=StateTable(dynamodb, settings.lock_table, clock=logic.utc_now),
        timer=WindowTimer(
            runtime.client("scheduler"),
            group_name=settings.timer_group,
            role_arn=settings.timer_role_arn,
            dead_letter_arn=settings.timer_dead_letter_arn,
        ),
        function_arn=function_arn,
    )


def reset() -> None:
    """Forget every cached setting, client and catalog (between tests)."""
    runtime.reset()


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:MAX_REPORTED_ERRORS]:
        location = ".".join(str(part) for part in item["loc"]) or "event"
        problems.append(f"{location}: {item['msg']}")
    more = error.error_count() - MAX_REPORTED_ERRORS
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)


def parse_event(event: Any) -> TriggerEvent | Outcome:
    """The typed event, or the rejection that says what was wrong with it."""
    from aws_lambda_powertools.utilities.parser import parse
    from pydantic import ValidationError

    from retraining_trigger.models import model_for
    from retraining_trigger.outcome import rejection

    if not isinstance(event, dict):
        return rejection(
            "malformed-event",
            f"event is a {type(event).__name__}, not a JSON object",
            source=None,
            detail_type=None,
            event_id=None,
        )
    source, detail_type, event_id = event.get("source"), event.get("detail-type"), event.get("id")
    model = model_for(source, detail_type)
    if model is None:
        return rejection(
            "unsupported-event",
            f"this function does not handle source {source!r} with detail-type {detail_type!r}",
            source=source,
            detail_type=detail_type,
            event_id=event_id,
        )
    try:
        return parse(event=event, model=model)
    except ValidationError as error:
        return rejection(
            "malformed-event",
            f"{detail_type} event failed validation: {_describe(error)}",
            source=source,
            detail_type=detail_type,
            event_id=event_id,
        )


def _log(outcome: Outcome) -> None:
    fields = {"retraining": outcome.as_dict()}
    if outcome.outcome == "rejected":
        logger.warning(f"rejected event, nothing started: {outcome.message}", extra=fields)
    else:
        logger.info(f"{outcome.outcome}: {outcome.message}", extra=fields)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Start, coalesce, ignore or reject one trigger event; return what happened."""
    # The event models (pydantic), the core and its clients load on the first event, not at
    # import: the same cold-start budget as the other handlers (bench: handler_import_ratio).
    from retraining_trigger import logic
    from retraining_trigger.outcome import Outcome, announce

    try:
        settings = runtime.settings()
        parsed = parse_event(event)
        if isinstance(parsed, Outcome):
            outcome = parsed
        else:
            outcome = logic.process(
                parsed,
                catalog=runtime.catalog(),
                data_bucket=trigger_settings().data_bucket,
                services=services(context.invoked_function_arn),
            )
        # Logged before publishing, so a run that started is on record even if the bus fails.
        _log(outcome)
        announce(outcome, events=runtime.client("events"), bus_name=settings.bus_name)
    except Exception:
        logger.exception("could not finish handling the event; raising so that it is retried or dead-lettered")
        raise
    return outcome.as_dict()
