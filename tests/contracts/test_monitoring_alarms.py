"""The monitoring alarms watch exactly what the monitoring job publishes, within CloudWatch's limits.

The job (jobs/monitor_model.py) and the alarms take namespace, metric names and dimensions from
one module, `platform_common.monitoring`; these tests read the synthesized alarms back and hold
them to that module, for every configuration.

- Amazon CloudWatch API Reference, "PutMetricAlarm"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html),
  Period: "An alarm's total current evaluation period can be no longer than seven days, so
  Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For alarms with a
  period of less than one hour (3,600 seconds), the total evaluation period can't be longer than
  one day (86,400 seconds)."
- "PutMetricData", Namespace: a namespace may not start with "AWS/"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
"""

from __future__ import annotations

from typing import Any

from platform_common import monitoring as contract
from stacks import naming
from tests.contracts.conftest import Synthesized, deployed_catalog

MAX_EVALUATION_SECONDS = 604_800
MAX_SUB_HOUR_EVALUATION_SECONDS = 86_400


def _alarms(found: Synthesized) -> dict[str, dict[str, Any]]:
    return {props["AlarmName"]: props for _, _, props in found.resources("AWS::CloudWatch::Alarm")}


def _dimensions(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def test_quality_drift_and_silence_alarms_watch_the_metrics_the_job_publishes(synthesized_env: Synthesized) -> None:
    config = synthesized_env.config
    alarms = _alarms(synthesized_env)
    namespace = contract.metric_namespace(config.resource_prefix)
    catalog = deployed_catalog(synthesized_env.label)
    for model in config.models:
        if not model.monitoring.platform or model.quality.namespace:
            continue
        # The job publishes under the serving target the launcher passes it from the catalog entry:
        # the endpoint, or for a batch-only model its batch target.
        serving_target = catalog[model.name].serving_target
        expected = (
            naming.endpoint_name(config, model.name)
            if model.has_endpoint
            else f"{config.resource_prefix}-{model.name}-batch"
        )
        assert serving_target == expected
        published = contract.metric_dimensions(model.name, serving_target)
        quality = alarms[naming.quality_alarm_name(config, model.name)]
        drift = alarms[naming.drift_alarm_name(config, model.name)]
        silent = alarms[naming.silent_monitor_alarm_name(config, model.name)]

        # The quality alarm: the model's own metric, in the platform's namespace, per model and endpoint
        assert (quality["Namespace"], quality["MetricName"]) == (namespace, model.metric.name)
        assert _dimensions(quality) == published
        # The drift alarm: the share of drifted features at or above the configured threshold
        assert (drift["Namespace"], drift["MetricName"]) == (namespace, contract.DRIFTED_FEATURE_SHARE)
        assert _dimensions(drift) == published
        assert drift["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert drift["Threshold"] == model.monitoring.drift_threshold
        # The silent-monitor alarm: no completed run (job) and no run awaiting a champion (launcher)
        # for max_silence_hours; an evaluation with no data at all counts as silent
        queries = {query["Id"]: query for query in silent["Metrics"]}
        watched = {
            query_id: (
                query["MetricStat"]["Metric"]["Namespace"],
                query["MetricStat"]["Metric"]["MetricName"],
                {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]},
                query["MetricStat"]["Stat"],
                query["MetricStat"]["Period"],
            )
            for query_id, query in queries.items()
            if "MetricStat" in query
        }
        assert watched == {
            "runs": (namespace, contract.MONITORING_RUNS, published, "Sum", 3600),
            "awaiting": (namespace, contract.MONITORING_AWAITING_CHAMPION, published, "Sum", 3600),
        }
        assert queries["alive"]["Expression"] == "FILL(runs, 0) + FILL(awaiting, 0)"
        assert [q["Id"] for q in silent["Metrics"] if q.get("ReturnData", True)] == ["alive"]
        assert (silent["ComparisonOperator"], silent["Threshold"]) == ("LessThanThreshold", 1)
        assert silent["TreatMissingData"] == "breaching"
        assert 3600 * silent["EvaluationPeriods"] == model.monitoring.max_silence_hours * 3600
        assert silent["DatapointsToAlarm"] == silent["EvaluationPeriods"]
        assert not namespace.startswith("AWS/")


def test_every_alarm_evaluates_within_cloudwatchs_window(synthesized_env: Synthesized) -> None:
    too_long = {}
    for name, alarm in _alarms(synthesized_env).items():
        periods = [alarm["Period"]] if "Period" in alarm else []
        periods += [q["MetricStat"]["Period"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        period = max(periods)
        total = period * alarm["EvaluationPeriods"]
        limit = MAX_EVALUATION_SECONDS if period >= 3600 else MAX_SUB_HOUR_EVALUATION_SECONDS
        if total > limit:
            too_long[name] = total
    assert too_long == {}


def test_only_drift_and_quality_alarms_feed_the_retraining_trigger(synthesized_env: Synthesized) -> None:
    config = synthesized_env.config
    routed: set[str] = set()
    for _, _, rule in synthesized_env.resources("AWS::Events::Rule"):
        pattern = rule.get("EventPattern") or {}
        if pattern.get("source") == ["aws.cloudwatch"] and "state" in pattern.get("detail", {}):
            routed.update(pattern["detail"]["alarmName"])
    expected = {naming.quality_alarm_name(config, m.name) for m in config.models}
    expected |= {naming.drift_alarm_name(config, m.name) for m in config.models if m.monitoring.platform}
    assert routed == expected
    assert not any(name.endswith("-monitor-silent") for name in routed)
