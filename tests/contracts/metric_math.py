"""A checker for CloudWatch metric math: parses an expression and types it as the docs do.

Source: Amazon CloudWatch User Guide, "Using math expressions with CloudWatch metrics",
sections "Metric math syntax and functions", "Functions supported for metric math" and
"Using IF expressions" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
The page types every argument as S (a scalar), TS (one time series) or TS[] (an array of time
series) and says:

- "All functions must be written in uppercase letters", and the Id of every metric and
  expression "must start with a lowercase letter";
- "The final result of any math expression must be a single time series or an array of time
  series"; an alarm "can watch only one time series";
- arithmetic (+ - * / ^) takes S, TS or TS[] operands, and "Missing values in a time series
  are treated as 0"; comparison and logical operators take "a pair of time series or a pair of
  single scalar values" (or a time series and a scalar, as in its example `metric1 >= 30`);
- MAX, MIN, AVG, SUM, STDDEV and DATAPOINT_COUNT take TS (giving S) or TS[] (giving TS), not
  scalars; several functions carry "We recommend that you do not use this function in
  CloudWatch alarms".

Only the functions in `FUNCTIONS` are accepted; anything else (a typo, lower case, SEARCH)
is refused, so the checker errs on the side of failing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

S, TS, TS_ARRAY = "S", "TS", "TS[]"
STRING, KEYWORD = "string", "keyword"


class MetricMathError(ValueError):
    """The expression is not metric math in a form the CloudWatch documentation defines."""


# How each documented function may be called: a list of (argument types, result type), one
# per documented form. A keyword argument is named by its literal (FILL's REPEAT and LINEAR,
# SORT's statistic and order); "S|TS" means either.
Signature = tuple[tuple[str, ...], str]
_AGGREGATE: list[Signature] = [((TS,), S), ((TS_ARRAY,), TS)]
_PER_POINT: list[Signature] = [((TS,), TS), ((TS_ARRAY,), TS_ARRAY)]
FUNCTIONS: dict[str, list[Signature]] = {
    "ABS": _PER_POINT,
    "ANOMALY_DETECTION_BAND": [((TS,), TS_ARRAY), ((TS, S), TS_ARRAY)],
    "AVG": _AGGREGATE,
    "CEIL": _PER_POINT,
    "DATAPOINT_COUNT": _AGGREGATE,
    "DIFF": _PER_POINT,
    "DIFF_TIME": _PER_POINT,
    "FILL": [((TS, "S|REPEAT|LINEAR"), TS), ((TS_ARRAY, "TS|S|REPEAT|LINEAR"), TS_ARRAY)],
    "FIRST": [((TS_ARRAY,), TS)],
    "LAST": [((TS_ARRAY,), TS)],
    "FLOOR": _PER_POINT,
    "LOG": _PER_POINT,
    "LOG10": _PER_POINT,
    "MAX": _AGGREGATE,
    "METRIC_COUNT": [((TS_ARRAY,), S)],
    "METRICS": [((), TS_ARRAY), ((STRING,), TS_ARRAY)],
    "MIN": _AGGREGATE,
    **{name: [((TS,), TS)] for name in ("MINUTE", "HOUR", "DAY", "DATE", "MONTH", "YEAR", "EPOCH")},
    "PERIOD": [((TS,), S)],
    "RATE": _PER_POINT,
    "REMOVE_EMPTY": [((TS_ARRAY,), TS_ARRAY)],
    "RUNNING_SUM": _PER_POINT,
    "SLICE": [((TS_ARRAY, S, S), TS_ARRAY), ((TS_ARRAY, S), TS_ARRAY)],
    "SORT": [
        ((TS_ARRAY, "AVG|MIN|MAX|SUM", "ASC|DESC"), TS_ARRAY),
        ((TS_ARRAY, "AVG|MIN|MAX|SUM", "ASC|DESC", S), TS_ARRAY),
    ],
    "STDDEV": _AGGREGATE,
    "SUM": _AGGREGATE,
    "TIME_SERIES": [((S,), TS)],
}
# IF has its own list of valid syntaxes on the page ("Using IF expressions"), checked in code.
IF_FUNCTION = "IF"
# Functions the page recommends not to use in alarms: they behave differently when the alarm
# asks for more data points than its evaluation periods.
NOT_FOR_ALARMS = frozenset({"AVG", "DATAPOINT_COUNT", "MAX", "MIN", "REMOVE_EMPTY", "RUNNING_SUM", "STDDEV", "SUM"})
_KEYWORDS = frozenset({"REPEAT", "LINEAR", "ASC", "DESC"})

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<string>\"[^\"]*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/^<>()\[\],]))"
)


@dataclass(frozen=True)
class Checked:
    """What an expression turned out to be: its type and the functions and ids it uses."""

    type: str
    functions: frozenset[str]
    ids: frozenset[str]


def tokenize(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise MetricMathError(f"unexpected character at {position}: {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over: or > and > comparison > additive > multiplicative > unary > power."""

    def __init__(self, expression: str, id_types: Mapping[str, str]) -> None:
        self.tokens = tokenize(expression)
        self.position = 0
        self.id_types = id_types
        self.functions: set[str] = set()
        self.ids: set[str] = set()

    def parse(self) -> str:
        kind = self._or()
        if self.position != len(self.tokens):
            raise MetricMathError(f"unexpected {self.tokens[self.position][1]!r} after a complete expression")
        return kind

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise MetricMathError(f"the expression ends where {expected or 'more'} was expected")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise MetricMathError(f"expected {expected!r}, found {token[1]!r}")
        self.position += 1
        return token

    def _binary(
        self, operators: Sequence[str], operand: Callable[[], str], combine: Callable[[str, str, str], str]
    ) -> str:
        left = operand()
        while self._peek() in operators:
            operator = self._take()[1]
            left = combine(operator, left, operand())
        return left

    def _or(self) -> str:
        return self._binary(("OR", "||"), self._and, _logical)

    def _and(self) -> str:
        return self._binary(("AND", "&&"), self._comparison, _logical)

    def _comparison(self) -> str:
        return self._binary(("==", "!=", "<=", ">=", "<", ">"), self._additive, _logical)

    def _additive(self) -> str:
        return self._binary(("+", "-"), self._multiplicative, _arithmetic)

    def _multiplicative(self) -> str:
        return self._binary(("*", "/"), self._unary, _arithmetic)

    def _unary(self) -> str:
        if self._peek() == "-":
            self._take()
            operand = self._unary()
            if operand not in (S, TS, TS_ARRAY):
                raise MetricMathError(f"unary minus on {operand}")
            return operand
        return self._binary(("^",), self._primary, _arithmetic)

    def _primary(self) -> str:
        kind, text = self._take()
        if kind == "number":
            return S
        if kind == "string":
            return STRING
        if text == "(":
            inner = self._or()
            self._take(")")
            return inner
        if text == "[":
            return self._array()
        if kind != "name":
            raise MetricMathError(f"unexpected {text!r}")
        if self._peek() == "(":
            return self._call(text)
        if text in _KEYWORDS or text in ("AVG", "MIN", "MAX", "SUM"):
            return f"{KEYWORD}:{text}"
        if not text[0].islower():
            raise MetricMathError(f"{text!r} is neither a function call nor an id (ids start with a lowercase letter)")
        if text not in self.id_types:
            raise MetricMathError(f"{text!r} is not the id of a metric or expression of the same alarm or widget")
        self.ids.add(text)
        return self.id_types[text]

    def _array(self) -> str:
        while True:
            element = self._or()
            if element not in (TS, TS_ARRAY):
                raise MetricMathError(f"an array holds time series (TS or TS[]), not {element}")
            separator = self._take()[1]
            if separator == "]":
                return TS_ARRAY
            if separator != ",":
                raise MetricMathError(f"expected ',' or ']' in an array, found {separator!r}")

    def _arguments(self) -> list[str]:
        self._take("(")
        arguments: list[str] = []
        if self._peek() == ")":
            self._take()
            return arguments
        while True:
            arguments.append(self._or())
            separator = self._take()[1]
            if separator == ")":
                return arguments
            if separator != ",":
                raise MetricMathError(f"expected ',' or ')' between arguments, found {separator!r}")

    def _call(self, name: str) -> str:
        if name != name.upper():
            raise MetricMathError(f"{name}: functions are written in upper case")
        arguments = self._arguments()
        self.functions.add(name)
        if name == IF_FUNCTION:
            return _if(arguments)
        if name not in FUNCTIONS:
            raise MetricMathError(f"{name} is not a metric math function this check knows from the documentation")
        for parameters, result in FUNCTIONS[name]:
            if len(parameters) == len(arguments) and all(
                _fits(argument, parameter) for argument, parameter in zip(arguments, parameters, strict=True)
            ):
                return result
        forms = "; ".join(f"{name}({', '.join(p)})" for p, _ in FUNCTIONS[name])
        raise MetricMathError(f"{name}({', '.join(arguments)}) is not a documented form; documented: {forms}")


def _fits(argument: str, parameter: str) -> bool:
    for alternative in parameter.split("|"):
        if alternative in (S, TS, TS_ARRAY, STRING) and argument == alternative:
            return True
        if argument == f"{KEYWORD}:{alternative}":
            return True
    return False


def _arithmetic(operator: str, left: str, right: str) -> str:
    values = (S, TS, TS_ARRAY)
    if left not in values or right not in values:
        raise MetricMathError(f"{left} {operator} {right}: arithmetic takes scalars and time series")
    if left == TS_ARRAY and right == TS_ARRAY:
        raise MetricMathError(f"TS[] {operator} TS[] is not among the documented operand pairs")
    return max(left, right, key=values.index)


def _logical(operator: str, left: str, right: str) -> str:
    if left not in (S, TS) or right not in (S, TS):
        raise MetricMathError(f"{left} {operator} {right}: comparisons take time series or scalars")
    return TS if TS in (left, right) else S


def _if(arguments: list[str]) -> str:
    """IF(condition, trueValue[, falseValue]): the page's list of valid syntaxes."""
    if len(arguments) not in (2, 3):
        raise MetricMathError(f"IF takes 2 or 3 arguments, got {len(arguments)}")
    condition, *values = arguments
    if any(v not in (S, TS) for v in values):
        raise MetricMathError(f"IF values must be scalars or time series, got {values}")
    if condition == TS:
        return TS
    if condition == S and all(v == TS for v in values):
        return TS
    raise MetricMathError(f"IF({', '.join(arguments)}) is not among the documented IF syntaxes")


def check(expression: str, id_types: Mapping[str, str]) -> Checked:
    """Parse and type `expression`; `id_types` gives the type of each id it may refer to."""
    parser = _Parser(expression, id_types)
    result = parser.parse()
    if result not in (TS, TS_ARRAY):
        raise MetricMathError(f"the result is {result}; it must be a time series or an array of them")
    return Checked(result, frozenset(parser.functions), frozenset(parser.ids))


def check_for_alarm(expression: str, id_types: Mapping[str, str]) -> Checked:
    """As `check`, for the expression an alarm watches: one time series, no functions the page
    advises against in alarms."""
    checked = check(expression, id_types)
    if checked.type != TS:
        raise MetricMathError(f"an alarm watches one time series; this expression gives {checked.type}")
    discouraged = checked.functions & NOT_FOR_ALARMS
    if discouraged:
        raise MetricMathError(f"{sorted(discouraged)}: the documentation advises against these in alarms")
    return checked
