"""What the platform watches, as data: each model's quality metric and the environment dashboard.

Kept as plain dictionaries so the model stacks, the dashboard and the tests share one
definition, and so a dashboard for a hundred models costs one CloudFormation property rather
than hundreds of construct calls at synth time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from platform_common import monitoring as contract
from stacks import naming
from stacks.config import EnvironmentConfig, ModelConfig

# SageMaker Model Monitor's model-quality job publishes here, per endpoint and schedule.
MODEL_MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
# A rollback alarm's 5xx rate of a minute in percent, over the query ids `errors` and
# `invocations`; 0 when nothing was invoked. Documented forms only (CloudWatch User Guide, "Using
# math expressions with CloudWatch metrics"): IF(TS comparison S, TS, S) is one of the listed IF
# syntaxes, and arithmetic treats a missing point of `errors` as 0. MAX takes time series, not
# scalars, so MAX([errors, invocations, 1]) is no guard against dividing by zero.
ERROR_RATE_EXPRESSION = "IF(invocations > 0, 100 * errors / invocations, 0)"
# The silent-monitor alarm counts runs per hour; monitoring.max_silence_hours of them empty alarm.
SILENCE_PERIOD_SECONDS = 3600
# The silent-monitor alarm's hourly signs of life: completed runs plus scheduled runs that found no
# champion yet. FILL(m, 0) gives an hour without a point the value 0, so one series missing an
# hour does not drop the other's point from the sum (CloudWatch User Guide, "Using math
# expressions with CloudWatch metrics", FILL,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
SIGNS_OF_LIFE_EXPRESSION = "FILL(runs, 0) + FILL(awaiting, 0)"
# CloudWatch refuses a dashboard with more widgets than this.
MAX_DASHBOARD_WIDGETS = 500
_WIDGETS_PER_MODEL = 5
_SHARED_WIDGETS = 2


@dataclass(frozen=True)
class MetricSpec:
    """One CloudWatch metric, independent of any construct library."""

    namespace: str
    name: str
    dimensions: dict[str, str] = field(default_factory=dict)
    statistic: str = "Average"
    period_seconds: int = 300

    def as_widget_row(self) -> list[Any]:
        row: list[Any] = [self.namespace, self.name]
        for key, value in self.dimensions.items():
            row += [key, value]
        return [*row, {"stat": self.statistic, "period": self.period_seconds}]


def quality_metric(config: EnvironmentConfig, model: ModelConfig) -> MetricSpec:
    """The metric a model's quality alarm watches.

    The platform's monitoring job publishes the model's configured metric (e.g. `accuracy`) in
    the environment's namespace with the model and serving target as dimensions
    (platform_common.monitoring). Accounts that still have SageMaker Model Monitor may keep its
    model-quality metric (`monitoring.engine: model-monitor`); `quality.namespace` names any other.
    """
    quality = model.quality
    period = quality.period_minutes * 60
    if quality.namespace and quality.metric_name:
        return MetricSpec(quality.namespace, quality.metric_name, dict(quality.dimensions), quality.statistic, period)
    endpoint = naming.endpoint_name(config, model.name)
    if model.monitoring.engine == "model-monitor":
        return MetricSpec(
            MODEL_MONITOR_NAMESPACE,
            model.metric.name,
            {"Endpoint": endpoint, "MonitoringSchedule": f"{endpoint}-model-quality"},
            quality.statistic,
            period,
        )
    return platform_metric(config, model, model.metric.name, quality.statistic, period)


def platform_metric(
    config: EnvironmentConfig, model: ModelConfig, name: str, statistic: str, period_seconds: int
) -> MetricSpec:
    """One of the metrics the platform's monitoring job publishes for `model`."""
    return MetricSpec(
        contract.metric_namespace(config.resource_prefix),
        name,
        contract.metric_dimensions(model.name, serving_target(config, model)),
        statistic,
        period_seconds,
    )


def serving_target(config: EnvironmentConfig, model: ModelConfig) -> str:
    """What serves the model, as its monitoring metrics name it: its endpoint, or for a batch-only model its batch target."""
    if model.has_endpoint:
        return naming.endpoint_name(config, model.name)
    return naming.batch_target_name(config, model.name)


def drift_metric(config: EnvironmentConfig, model: ModelConfig) -> MetricSpec:
    """The share of drifted features the monitoring job last found (the worst run of a period)."""
    return platform_metric(config, model, contract.DRIFTED_FEATURE_SHARE, "Maximum", SILENCE_PERIOD_SECONDS)


def runs_metric(config: EnvironmentConfig, model: ModelConfig) -> MetricSpec:
    """Completed monitoring runs per hour: the silent-monitor alarm's metric."""
    return platform_metric(config, model, contract.MONITORING_RUNS, "Sum", SILENCE_PERIOD_SECONDS)


def awaiting_champion_metric(config: EnvironmentConfig, model: ModelConfig) -> MetricSpec:
    """Scheduled runs per hour that found no champion yet (the launcher's heartbeat)."""
    return platform_metric(config, model, contract.MONITORING_AWAITING_CHAMPION, "Sum", SILENCE_PERIOD_SECONDS)


def job_instance_types(config: EnvironmentConfig) -> list[str]:
    """The instance types the platform's monitoring jobs may run on: those its monitored models configure."""
    return sorted({m.monitoring.instance_type for m in config.models if m.monitoring.platform})


def models_on_dashboard(config: EnvironmentConfig) -> tuple[ModelConfig, ...]:
    """The models that fit on one dashboard; the rest are left to their own alarms and logs."""
    room = (MAX_DASHBOARD_WIDGETS - _SHARED_WIDGETS) // _WIDGETS_PER_MODEL
    return config.models[:room]


def dashboard_body(
    config: EnvironmentConfig,
    *,
    region: str,
    function_names: Sequence[str],
    queue_names: Sequence[str],
    audit_log_group: str,
) -> dict[str, Any]:
    """The CloudWatch dashboard of an environment: handlers, DLQs, then per model runs,
    decisions, endpoint health and quality."""

    def graph(title: str, metrics: list[MetricSpec], width: int) -> dict[str, Any]:
        return {
            "type": "metric",
            "width": width,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "metrics": [m.as_widget_row() for m in metrics],
            },
        }

    widgets = [
        graph(
            "Handler invocations / errors",
            [
                MetricSpec("AWS/Lambda", m, {"FunctionName": f}, "Sum", 3600)
                for f in function_names
                for m in ("Invocations", "Errors")
            ],
            12,
        ),
        graph(
            "Undelivered events (DLQ depth)",
            [
                MetricSpec("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": q}, "Maximum", 300)
                for q in queue_names
            ],
            12,
        ),
    ]
    for model in models_on_dashboard(config):
        pipeline = naming.pipeline_name(config, model.name)
        variant = {"EndpointName": naming.endpoint_name(config, model.name), "VariantName": "AllTraffic"}
        widgets += [
            graph(
                f"{model.name}: pipeline runs",
                [
                    MetricSpec("AWS/Sagemaker/ModelBuildingPipeline", m, {"PipelineName": pipeline}, "Sum", 86400)
                    for m in ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed")
                ],
                6,
            ),
            {
                "type": "log",
                "width": 6,
                "height": 6,
                "properties": {
                    "title": f"{model.name}: approvals and deployments",
                    "region": region,
                    "view": "table",
                    "query": (
                        f"SOURCE '{audit_log_group}' | fields @timestamp, `detail-type`, detail.version, "
                        f"detail.reason | filter detail.model = '{model.name}' | sort @timestamp desc | limit 20"
                    ),
                },
            },
            graph(
                f"{model.name}: endpoint health",
                [
                    MetricSpec("AWS/SageMaker", m, variant, "Sum", 300)
                    for m in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
                ],
                6,
            ),
            graph(f"{model.name}: {model.metric.name}", [quality_metric(config, model)], 6),
        ]
        if model.monitoring.platform:
            widgets.append(
                graph(
                    f"{model.name}: drifted feature share and monitoring runs",
                    [drift_metric(config, model), runs_metric(config, model)],
                    6,
                )
            )
    return {"widgets": widgets}
