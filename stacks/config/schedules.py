"""EventBridge schedule expressions, checked the way EventBridge documents them.

Amazon EventBridge User Guide, "Schedule expressions for rules" (Using cron and rate expressions
to schedule rules), https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html:

- `rate(value unit)`: a positive number and a unit of minute(s), hour(s) or day(s); "If the value
  is equal to 1, then the unit must be singular. Similarly, for values greater than 1, the unit
  must be plural."
- `cron(fields)`: "six required fields, which are separated by white space": minutes 0-59
  (`, - * /`), hours 0-23 (`, - * /`), day-of-month 1-31 (`, - * ? / L W`), month 1-12 or
  JAN-DEC (`, - * /`), day-of-week 1-7 or SUN-SAT (`, - * ? L #`), year 1970-2199 (`, - * /`).
  "You can't specify the Day-of-month and Day-of-week fields in the same cron expression. If you
  specify a value or a * (asterisk) in one of the fields, you must use a ? (question mark) in the
  other." With '#', "you can define only one expression in the day-of-week field".

Where the page gives no example of a form (an increment starting at `*`, `5L`, `LW`, names with
'#', ranges running backwards), the form is refused: a schedule written the documented way
always exists, and a refused one costs a rewrite where an accepted one EventBridge refuses
costs a failed deployment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOURCE = 'Amazon EventBridge User Guide, "Schedule expressions for rules"'
_RATE_UNITS = ("minute", "minutes", "hour", "hours", "day", "days")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NUMBER = re.compile(r"[0-9]+")


class ScheduleError(ValueError):
    """A schedule expression EventBridge would refuse; the message says what it expects."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    wildcards: str
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        values = f"{self.low}-{self.high}"
        if self.names:
            values += f" or {self.names[0]}-{self.names[-1]}"
        return f"{self.name} takes {values} and the wildcards {' '.join(self.wildcards)}"


_FIELDS = (
    _Field("minutes", 0, 59, ",-*/"),
    _Field("hours", 0, 23, ",-*/"),
    _Field("day-of-month", 1, 31, ",-*?/LW"),
    _Field("month", 1, 12, ",-*/", _MONTHS),
    _Field("day-of-week", 1, 7, ",-*?L#", _DAYS),
    _Field("year", 1970, 2199, ",-*/"),
)


def check_schedule(expression: str) -> None:
    """Raise ScheduleError, saying what EventBridge expects, unless `expression` is a valid schedule."""
    if expression.startswith("rate(") and expression.endswith(")"):
        _check_rate(expression[len("rate(") : -1])
    elif expression.startswith("cron(") and expression.endswith(")"):
        _check_cron(expression[len("cron(") : -1])
    else:
        raise ScheduleError("an EventBridge cron(...) or rate(...) expression")


def _check_rate(inner: str) -> None:
    parts = inner.split(" ")
    if len(parts) != 2:
        raise ScheduleError("rate(value unit), with one space between the value and the unit")
    value, unit = parts
    if not re.fullmatch(r"[1-9][0-9]*", value):
        raise ScheduleError(f"rate(value unit) whose value is a positive whole number; got {value!r}")
    if unit not in _RATE_UNITS:
        raise ScheduleError(f"rate(value unit) with a unit of minute(s), hour(s) or day(s); got {unit!r}")
    singular = unit.removesuffix("s")
    if value == "1" and unit != singular:
        raise ScheduleError(f"rate(1 {singular}): a value of 1 takes the singular unit")
    if value != "1" and unit == singular:
        raise ScheduleError(f"rate({value} {singular}s): a value above 1 takes the plural unit")


def _check_cron(inner: str) -> None:
    fields = inner.split(" ")
    if len(fields) != len(_FIELDS):
        raise ScheduleError(
            "cron(fields) with six fields separated by single spaces (minutes hours day-of-month month "
            f"day-of-week year); got {len(fields)}"
        )
    for field, text in zip(_FIELDS, fields, strict=True):
        _check_field(field, text)
    day_of_month, day_of_week = fields[2], fields[4]
    if day_of_month == "?" and day_of_week == "?":
        raise ScheduleError("only one of day-of-month and day-of-week as '?'; the other says which days")
    if day_of_month != "?" and day_of_week != "?":
        raise ScheduleError(
            "'?' in day-of-month or day-of-week: a value or * in both is refused "
            "(for example cron(0 3 ? * MON *) or cron(0 3 1 * ? *))"
        )


@dataclass(frozen=True)
class _Refusal:
    """Builds the error for one field, naming the field, what it takes and the text found."""

    field: _Field
    text: str

    def __call__(self, detail: str = "") -> ScheduleError:
        return ScheduleError(f"a cron expression whose {self.field.describe()}; got {self.text!r}{detail}")


def _check_field(field: _Field, text: str) -> None:
    refuse = _Refusal(field, text)
    if text in ("*", "?", "L"):
        if text not in field.wildcards:
            raise refuse()
        return
    if "#" in text:
        if "#" not in field.wildcards:
            raise refuse()
        if "," in text:
            raise refuse(": with '#' the day-of-week field holds one expression only")
        # day#instance: the instance-th such day of the month (3#2, the second Tuesday).
        if not re.fullmatch(r"[1-7]#[1-5]", text):
            raise refuse(": '#' takes a day number 1-7 and an instance 1-5, such as 3#2")
        return
    for item in text.split(","):
        _check_item(field, item, refuse)


def _check_item(field: _Field, item: str, refuse: _Refusal) -> None:
    if item.endswith("W") and "W" in field.wildcards:
        # nW: the weekday nearest day n of the month.
        _value(field, item[:-1], refuse)
        return
    if "/" in item:
        if "/" not in field.wildcards:
            raise refuse()
        start, step = item.split("/", 1)
        if start == "*":
            raise refuse(f": write an increment as start/step, such as {field.low}/5")
        _value(field, start, refuse)
        if not _NUMBER.fullmatch(step) or not 1 <= int(step) <= field.high:
            raise refuse(f": the increment after '/' is a whole number from 1 to {field.high}")
        return
    if "-" in item:
        first, _, last = item.partition("-")
        if _value(field, first, refuse) > _value(field, last, refuse):
            raise refuse(": a range runs from the lower value to the higher")
        return
    _value(field, item, refuse)


def _value(field: _Field, token: str, refuse: _Refusal) -> int:
    if _NUMBER.fullmatch(token) and field.low <= int(token) <= field.high:
        return int(token)
    if token in field.names:
        return field.names.index(token) + field.low
    raise refuse()
