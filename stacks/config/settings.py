"""The typed configuration: what each setting means, its default, and the error for a bad one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ENVIRONMENT_NAMES = ("dev", "staging", "prod")
MLFLOW_KINDS = ("tracking-server", "app")
TRACKING_SERVER_SIZES = ("Small", "Medium", "Large")
# The MLflow versions a tracking server runs (SageMaker Developer Guide, "Integrate MLflow with
# your environment": "For tracking server 2.13.x ..., 2.16.x ..., 3.0.x ...",
# https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments.html). An MLflow App
# takes no version: neither CreateMlflowApp nor AWS::SageMaker::MlflowApp has the property.
TRACKING_SERVER_MLFLOW_VERSIONS = ("2.13", "2.16", "3.0")
DEFAULT_MLFLOW_VERSION = "3.0"
APPROVAL_MODES = ("auto", "manual")
# How an approved version is served: an instance endpoint, a serverless endpoint, or only by
# batch transform jobs. A realtime or serverless model may have batch transform beside it.
SERVING_MODES = ("realtime", "serverless", "batch")
# What the batch launcher sends: CSV split into lines, so that DataProcessing can drop the
# inference id from each record and join it back (SageMaker Developer Guide, "Associate
# Prediction Results with Input Records",
# https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html:
# "You can use input files in JSON and CSV format only").
BATCH_CONTENT_TYPES = ("text/csv",)
BATCH_SPLIT_TYPES = ("Line",)
DEPLOYMENT_STRATEGIES = ("all-at-once", "canary", "linear")
MONITORING_ENGINES = ("platform", "model-monitor")
ALARM_COMPARISONS = (
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
)
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""

    def __init__(self, path: str, value: object, expected: str) -> None:
        self.path = path
        self.value = value
        self.expected = expected
        super().__init__(f"invalid configuration at '{path}': got {value!r}; expected {expected}")


@dataclass(frozen=True)
class MlflowConfig:
    """Which managed MLflow to run and how."""

    kind: Literal["tracking-server", "app"] = "tracking-server"
    size: Literal["Small", "Medium", "Large"] = "Small"
    version: str | None = DEFAULT_MLFLOW_VERSION  # None for an MLflow App
    maintenance_window: str = "Sun:02:00"
    automatic_model_registration: bool = True


@dataclass(frozen=True)
class RetentionConfig:
    """How long data and logs are kept."""

    noncurrent_version_days: int = 90
    incomplete_upload_days: int = 7
    access_log_days: int = 365
    log_retention_days: int = 365
    event_archive_days: int = 365


@dataclass(frozen=True)
class PersonaConfig:
    """Who may assume the persona roles and for how long."""

    trusted_principals: tuple[str, ...] = ()
    max_session_hours: int = 4


@dataclass(frozen=True)
class MetricGate:
    """The metric a challenger must meet and by how much it must beat the champion."""

    name: str = "accuracy"
    threshold: float = 0.90
    margin: float = 0.0
    greater_is_better: bool = True


@dataclass(frozen=True)
class TrainingConfig:
    """The training job of a model's pipeline."""

    image_uri: str | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    max_runtime_seconds: int = 3600
    hyperparameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessingConfig:
    """The data preparation and evaluation jobs of a model's pipeline."""

    image_uri: str | None = None
    instance_type: str = "ml.m5.large"


@dataclass(frozen=True)
class ServerlessEndpoint:
    """Serverless inference settings."""

    memory_size_mb: int = 2048
    max_concurrency: int = 5


@dataclass(frozen=True)
class EndpointConfig:
    """Where an approved model version is served."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    serverless: ServerlessEndpoint | None = None


@dataclass(frozen=True)
class BatchConfig:
    """Batch transform of the champion over `inference/<model>/` into `predictions/<model>/`."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    max_concurrent_transforms: int = 1
    max_payload_mb: int = 6
    schedule: str | None = None
    content_type: str = "text/csv"
    split_type: str = "Line"


@dataclass(frozen=True)
class DeploymentConfig:
    """How a new version replaces the running one (SageMaker blue/green)."""

    strategy: Literal["all-at-once", "canary", "linear"] = "canary"
    canary_percent: int = 10
    linear_step_percent: int = 25
    wait_minutes: int = 10
    termination_wait_minutes: int = 5
    max_error_rate_percent: float = 1.0
    max_latency_ms: int = 1000


@dataclass(frozen=True)
class QualityMetric:
    """The CloudWatch metric whose breach starts retraining."""

    namespace: str | None = None
    metric_name: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    statistic: str = "Average"
    period_minutes: int = 60
    evaluation_periods: int = 1
    threshold: float | None = None
    comparison: str = "LessThanThreshold"


@dataclass(frozen=True)
class MonitoringConfig:
    """How a served model is watched: data capture, the monitoring job's schedule and its alarms.

    `engine` "platform" runs the platform's own monitoring job (jobs/monitor_model.py); "model-monitor"
    keeps the alarm on SageMaker Model Monitor's metric for accounts that still have Model Monitor.
    """

    enabled: bool = True
    engine: Literal["platform", "model-monitor"] = "platform"
    sampling_percent: int = 100
    # Daily: labels usually arrive hours to days after the inference, a day of traffic is a
    # sample drift statistics can judge, and each run costs a Processing job's start-up. A new
    # batch of ground truth starts a run too, so quality is not left waiting for the schedule.
    schedule: str = "rate(1 day)"
    drift_threshold: float = 0.5
    label_lookback_days: int = 7
    max_silence_hours: int = 26
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = 3600

    @property
    def platform(self) -> bool:
        """Whether the platform's own monitoring job watches the model."""
        return self.enabled and self.engine == "platform"


@dataclass(frozen=True)
class ModelConfig:
    """One model the platform keeps current."""

    name: str
    data_prefix: str
    training: TrainingConfig
    processing: ProcessingConfig
    metric: MetricGate
    approval: Literal["auto", "manual"]
    endpoint: EndpointConfig
    deployment: DeploymentConfig
    schedule: str | None
    quality: QualityMetric
    coalesce_minutes: int = 30
    monitoring: MonitoringConfig = field(default_factory=lambda: MonitoringConfig())
    # The label column of the model's data set; the pipeline passes it to every step as --target.
    target: str = "label"
    serving: Literal["realtime", "serverless", "batch"] = "realtime"
    batch: BatchConfig | None = None

    @property
    def has_endpoint(self) -> bool:
        """Whether an approved version is served by an endpoint (realtime or serverless)."""
        return self.serving != "batch"


@dataclass(frozen=True)
class NotificationConfig:
    """Who hears about failures, rejections and deployments."""

    emails: tuple[str, ...] = ()


# The platform's Lambda functions (the retraining loop's handlers), by name.
HANDLER_NAMES = ("retraining-trigger", "model-gate", "deployer", "monitoring-launcher", "batch-launcher")
# Lambda keeps at least 100 of a Region's concurrency unreserved, and the default quota is
# 1,000 ("Configuring reserved concurrency for a function" and "Lambda quotas", Lambda
# Developer Guide); new accounts start lower. 900 is all a default account can reserve.
MAX_RESERVED_CONCURRENCY = 900


@dataclass(frozen=True)
class FunctionsConfig:
    """Opt-in reserved concurrency per handler; none by default so any account can deploy."""

    reserved_concurrency: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that varies between dev, staging and prod."""

    name: str
    prefix: str
    account: str | None
    region: str | None
    tags: Mapping[str, str]
    mlflow: MlflowConfig
    retention: RetentionConfig
    personas: PersonaConfig
    permissions_boundary_arn: str | None
    termination_protection: bool
    notifications: NotificationConfig
    models: tuple[ModelConfig, ...]
    functions: FunctionsConfig = field(default_factory=lambda: FunctionsConfig())

    @property
    def resource_prefix(self) -> str:
        """Prefix of every physical name: `<prefix>-<env>`."""
        return f"{self.prefix}-{self.name}"

    def stack_name(self, unit: str) -> str:
        """Name of a deployable unit's stack in this environment."""
        return f"{self.resource_prefix}-{unit}"
