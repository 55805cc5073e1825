"""Wake the trigger when a model's coalescing window closes, with a one-time EventBridge Scheduler schedule.

Data that lands inside the window of a data run that has already ended has no run end to wait
for; a schedule at the end of the window brings it to a trailing run. The schedule:

- is a one-time schedule, `at(yyyy-mm-ddThh:mm:ss)` in UTC, that "invokes a target only once",
  with "60 second precision" ("Schedule types in EventBridge Scheduler",
  https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html);
- deletes itself after its one invocation (`ActionAfterCompletion: DELETE`, "Deleting a schedule
  in EventBridge Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-delete.html);
- invokes this function (a templated Lambda target), and "EventBridge Scheduler invokes your
  Lambda function asynchronously" ("Invoke a Lambda function on a schedule", AWS Lambda Developer
  Guide, https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html), so the
  function's retries and dead-letter queue apply as for any other event;
- sends what it could not deliver to the dead-letter queue it names ("Configuring a dead-letter
  queue for a schedule", https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).

Its name carries the model and the window's end, so asking twice for the same window finds the
first schedule (ConflictException) and leaves it alone.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from platform_common import domain_events

# Scheduler refuses a one-time schedule in the past; a window that closes in less than this is
# scheduled this far out instead.
MIN_LEAD = timedelta(minutes=1)


@dataclass(frozen=True)
class WindowTimer:
    """Creates one-time schedules in the trigger's schedule group."""

    scheduler: Any
    group_name: str
    role_arn: str
    dead_letter_arn: str

    def ensure(self, *, model: str, at: datetime, now: datetime, function_arn: str) -> str:
        """Make sure a schedule wakes `function_arn` for `model` at `at`; return the schedule's name."""
        moment = max(at, now + MIN_LEAD).astimezone(UTC).replace(microsecond=0)
        # arn:aws:lambda:<region>:<account>:function:<name>, without a version or alias qualifier:
        # the schedule's role may invoke the function itself and nothing else.
        function_arn = ":".join(function_arn.split(":")[:7])
        name = f"{model}-window-{moment:%Y%m%dT%H%M%S}"
        event = {
            "version": "0",
            "id": name,
            "source": domain_events.SOURCE,
            "detail-type": domain_events.RETRAINING_WINDOW_CLOSED,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": function_arn.split(":")[3] if function_arn.count(":") >= 4 else "",
            "account": function_arn.split(":")[4] if function_arn.count(":") >= 5 else "",
            "resources": [],
            "detail": {"model": model, "windowEnd": moment.isoformat()},
        }
        # The same window asked for again: the first schedule stands.
        with contextlib.suppress(self.scheduler.exceptions.ConflictException):
            self.scheduler.create_schedule(
                Name=name,
                GroupName=self.group_name,
                ScheduleExpression=f"at({moment:%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"Close the coalescing window of model {model}: start its trailing run on waiting data",
                Target={
                    "Arn": function_arn,
                    "RoleArn": self.role_arn,
                    "Input": json.dumps(event, sort_keys=True),
                    "DeadLetterConfig": {"Arn": self.dead_letter_arn},
                },
            )
        return name
