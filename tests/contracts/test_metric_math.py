"""Every metric-math expression of every alarm and dashboard is metric math as CloudWatch defines it.

An expression CloudWatch does not accept fails the deploy (PutMetricAlarm validates it) or,
on a dashboard, shows an error instead of a graph. The rules, the function table and their
source page are in tests/contracts/metric_math.py (CloudWatch User Guide, "Using math
expressions with CloudWatch metrics",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stacks import naming
from tests.contracts.conftest import Synthesized
from tests.contracts.deployed import deployed
from tests.contracts.metric_math import TS, MetricMathError, check, check_for_alarm


def _alarm_expressions(synthesized: Synthesized) -> Iterator[tuple[str, str, dict[str, str], bool]]:
    """(alarm name, expression, ids in scope, whether the alarm watches it) of every alarm."""
    env = deployed(synthesized)
    for alarm in env.of_type("AWS::CloudWatch::Alarm"):
        queries = alarm.prop("Metrics", [])
        if not queries:
            continue
        ids = {q["Id"]: TS for q in queries if "MetricStat" in q}
        for query in queries:
            if "Expression" in query:
                watched = query.get("ReturnData", True) is True
                yield alarm.prop("AlarmName"), query["Expression"], ids, watched
                ids = {**ids, query["Id"]: TS}


def _dashboard_expressions(synthesized: Synthesized) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(widget title, expression, ids on the widget) of every metric-math row of every dashboard.

    A row is [namespace, metric, dims..., {options}] or [{"expression": ..., "id": ...}]
    (CloudWatch API Reference, "Dashboard Body Structure and Syntax", metrics array).
    """
    env = deployed(synthesized)
    for dashboard in env.of_type("AWS::CloudWatch::Dashboard"):
        for widget in json.loads(dashboard.prop("DashboardBody"))["widgets"]:
            rows = widget.get("properties", {}).get("metrics", [])
            options = [row[-1] for row in rows if row and isinstance(row[-1], dict)]
            ids = {o["id"]: TS for o in options if "id" in o and "expression" not in o}
            for option in options:
                if "expression" in option:
                    yield widget["properties"].get("title", "?"), option["expression"], ids


def test_every_expression_of_alarms_and_dashboards_is_documented_metric_math(synthesized_env: Synthesized) -> None:
    """Given every metric-math expression of the alarms and dashboards, then each parses with
    documented functions in documented forms, and the one an alarm watches is a single time
    series using none of the functions the documentation advises against in alarms."""
    for alarm, expression, ids, watched in _alarm_expressions(synthesized_env):
        try:
            (check_for_alarm if watched else check)(expression, ids)
        except MetricMathError as error:
            pytest.fail(f"alarm {alarm}: {expression!r}: {error}")
    for widget, expression, ids in _dashboard_expressions(synthesized_env):
        try:
            check(expression, ids)
        except MetricMathError as error:
            pytest.fail(f"dashboard widget {widget!r}: {expression!r}: {error}")


def test_every_model_has_a_metric_math_rollback_alarm_under_check(synthesized_env: Synthesized) -> None:
    """Given a configuration with models, then the sweep above covers each model's error-rate
    alarm and each monitored model's silent-monitor alarm (the platform's metric math), so an
    empty sweep cannot pass for a model by accident."""
    config = synthesized_env.config
    alarms = {alarm for alarm, *_ in _alarm_expressions(synthesized_env)}
    expected = {naming.rollback_alarm_names(config, m.name)[0] for m in config.models}
    expected |= {naming.silent_monitor_alarm_name(config, m.name) for m in config.models if m.monitoring.platform}
    assert alarms == expected


# The checker itself, on the page's own examples and on forms the page does not define.
DOCUMENTED_EXAMPLES = [
    "m1+m2",
    "e1-MIN(e1)",
    "SUM(METRICS())",
    "METRICS()/100",
    'SUM(METRICS("errors"))',
    "PERIOD(m1)/60 * m1",
    "SUM(100/[m1, m2])",
    "AVG([m1,m2]/m3)",
    "-5*m1",
    "IF(m1<400, 10, 2)",
    "IF(latency>threshold, 1, 0)",
    "IF(DAY(m1)<6,m1)",
    "FILL(m1, REPEAT)",
    "FILL(METRICS(), 0)",
    "FILL(m1, MIN(m1))",
    "IF(FIRST(SORT(METRICS(), AVG, DESC))>100, 1, 0)",
    "SLICE(SORT(METRICS(), SUM, DESC), 0, 10)",
    "TIME_SERIES(MAX(m1))",
    "(metric1 > 15 AND metric2 > 15)",
]
IDS = dict.fromkeys(("m1", "m2", "m3", "e1", "latency", "threshold", "metric1", "metric2"), TS)


@pytest.mark.parametrize("expression", DOCUMENTED_EXAMPLES)
def test_the_checker_accepts_the_documentations_examples(expression: str) -> None:
    assert check(expression, IDS).type in ("TS", "TS[]")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("100 * errors / MAX([errors, invocations, 1])", "an array holds time series"),
        ("MAX(1, 2)", "not a documented form"),
        ("max(m1)", "upper case"),
        ("AVG(m1)", "the result is S"),
        ("SEARCH('{AWS/EC2} CPUUtilization', 'Average', 300)", "unexpected character"),
        ("m1 + unknown", "not the id"),
        ("IF(1, 2, 3)", "documented IF syntaxes"),
        ("[m1, m2] * [m1, m2]", "TS[] * TS[]"),
    ],
)
def test_the_checker_refuses_undocumented_forms(expression: str, reason: str) -> None:
    with pytest.raises(MetricMathError, match=reason):
        check(expression, {"m1": TS, "m2": TS, "errors": TS, "invocations": TS})


def test_an_alarm_must_not_watch_functions_the_page_advises_against() -> None:
    with pytest.raises(MetricMathError, match="advises against"):
        check_for_alarm("m1 - AVG(m1)", {"m1": TS})
    assert check_for_alarm("IF(invocations > 0, 100 * errors / invocations, 0)", {"errors": TS, "invocations": TS})
