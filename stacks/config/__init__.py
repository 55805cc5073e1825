"""Typed platform configuration, read once from `cdk.json` context and validated.

Every invalid value raises `ConfigError` naming the key path (for example
`platform.environments.dev.mlflow.size`), the value found and what is allowed, so `cdk synth`
stops before any construct is built. The modules: `settings` (the typed configuration),
`reader` (walking the raw context), `loader` (reading one environment), `schedules` (EventBridge
schedule expressions), `name_limits` (names computed from the configuration against AWS's limits).
"""

from stacks.config.loader import load_environment
from stacks.config.settings import (
    ALARM_COMPARISONS,
    APPROVAL_MODES,
    DEFAULT_MLFLOW_VERSION,
    DEPLOYMENT_STRATEGIES,
    ENVIRONMENT_NAMES,
    HANDLER_NAMES,
    LOG_RETENTION_DAYS,
    MAX_RESERVED_CONCURRENCY,
    MLFLOW_KINDS,
    TRACKING_SERVER_MLFLOW_VERSIONS,
    TRACKING_SERVER_SIZES,
    ConfigError,
    DeploymentConfig,
    EndpointConfig,
    EnvironmentConfig,
    FunctionsConfig,
    MetricGate,
    MlflowConfig,
    ModelConfig,
    MonitoringConfig,
    NotificationConfig,
    PersonaConfig,
    ProcessingConfig,
    QualityMetric,
    RetentionConfig,
    ServerlessEndpoint,
    TrainingConfig,
)

__all__ = [
    "ALARM_COMPARISONS",
    "APPROVAL_MODES",
    "DEFAULT_MLFLOW_VERSION",
    "DEPLOYMENT_STRATEGIES",
    "ENVIRONMENT_NAMES",
    "HANDLER_NAMES",
    "LOG_RETENTION_DAYS",
    "MAX_RESERVED_CONCURRENCY",
    "MLFLOW_KINDS",
    "TRACKING_SERVER_MLFLOW_VERSIONS",
    "TRACKING_SERVER_SIZES",
    "ConfigError",
    "DeploymentConfig",
    "EndpointConfig",
    "EnvironmentConfig",
    "FunctionsConfig",
    "MetricGate",
    "MlflowConfig",
    "ModelConfig",
    "MonitoringConfig",
    "NotificationConfig",
    "PersonaConfig",
    "ProcessingConfig",
    "QualityMetric",
    "RetentionConfig",
    "ServerlessEndpoint",
    "TrainingConfig",
    "load_environment",
]
