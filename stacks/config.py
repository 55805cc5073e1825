"""Typed platform configuration, read once from `cdk.json` context and validated.

Every invalid value raises `ConfigError` naming the key path (for example
`environments.dev.mlflow.size`), the value found and what is allowed, so `cdk synth`
stops before any construct is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from platform_common.deployment_policy import DeploymentPolicyError, plan_traffic_shift

ENVIRONMENT_NAMES = ("dev", "staging", "prod")
MLFLOW_KINDS = ("tracking-server", "app")
TRACKING_SERVER_SIZES = ("Small", "Medium", "Large")
APPROVAL_MODES = ("auto", "manual")
DEPLOYMENT_STRATEGIES = ("all-at-once", "canary", "linear")
ALARM_COMPARISONS = (
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
)
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)  # fmt: skip

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,14}[a-z0-9]$")
_MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_WINDOW_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$")
_MLFLOW_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?$")
_PRINCIPAL_RE = re.compile(r"^(arn:aws[a-z-]*:iam::\d{12}:(root|role/.+|user/.+)|\d{12})$")
_POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+$")
_INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_IMAGE_URI_RE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^\s]+$")
_SCHEDULE_RE = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
_METRIC_NAME_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG_KEY_RE = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")

T = TypeVar("T")


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
    version: str = "3.0"
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


@dataclass(frozen=True)
class NotificationConfig:
    """Who hears about failures, rejections and deployments."""

    emails: tuple[str, ...] = ()


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


class _Reader:
    """Reads one mapping of raw context, tracking the key path for error messages."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(path, raw, "an object")
        self.raw: Mapping[str, Any] = raw
        self.path = path
        self._seen: set[str] = set()

    def child(self, key: str) -> _Reader:
        value = self.raw.get(key, {})
        self._seen.add(key)
        return _Reader(value, f"{self.path}.{key}")

    def has(self, key: str) -> bool:
        return key in self.raw and self.raw[key] is not None

    def get(self, key: str, default: T, kind: type | tuple[type, ...]) -> T:
        self._seen.add(key)
        if key not in self.raw or self.raw[key] is None:
            return default
        value = self.raw[key]
        # bool is an int in Python; never accept true/false where a number is asked for.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ConfigError(self._at(key), value, _kind_name(kind))
        if not isinstance(value, kind):
            raise ConfigError(self._at(key), value, _kind_name(kind))
        return cast(T, value)

    def string(self, key: str, default: str | None, pattern: re.Pattern[str] | None = None,
               expected: str = "") -> str | None:  # fmt: skip
        value = self.get(key, default, str)
        if value is not None and pattern is not None and not pattern.match(value):
            raise ConfigError(self._at(key), value, expected or f"a string matching {pattern.pattern}")
        return value

    def choice(self, key: str, default: str, allowed: Sequence[str]) -> str:
        value = self.get(key, default, str)
        if value not in allowed:
            raise ConfigError(self._at(key), value, "one of " + ", ".join(allowed))
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, default, int)
        if not low <= value <= high:
            raise ConfigError(self._at(key), value, f"an integer from {low} to {high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = float(self.get(key, default, (int, float)))
        if not low <= value <= high:
            raise ConfigError(self._at(key), value, f"a number from {low} to {high}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        return self.get(key, default, bool)

    def string_map(self, key: str) -> dict[str, str]:
        value: Mapping[str, Any] = self.get(key, {}, Mapping)
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str) or not _TAG_KEY_RE.match(str(k)):
                raise ConfigError(f"{self._at(key)}.{k}", v, "a string value under a key of 1-128 characters")
            out[str(k)] = v
        return out

    def string_list(self, key: str, pattern: re.Pattern[str], expected: str) -> tuple[str, ...]:
        value: list[Any] = self.get(key, [], list)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item):
                raise ConfigError(f"{self._at(key)}[{index}]", item, expected)
        return tuple(value)

    def finish(self) -> None:
        """Reject keys nobody read: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.raw) - self._seen)
        if unknown:
            raise ConfigError(
                f"{self.path}.{unknown[0]}", self.raw[unknown[0]],
                "no such key; known keys are " + ", ".join(sorted(self._seen)),
            )  # fmt: skip

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}"


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", Mapping: "an object"}  # fmt: skip
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _mlflow(r: _Reader) -> MlflowConfig:
    config = MlflowConfig(
        kind=cast(Any, r.choice("kind", "tracking-server", MLFLOW_KINDS)),
        size=cast(Any, r.choice("size", "Small", TRACKING_SERVER_SIZES)),
        version=r.string("version", "3.0", _MLFLOW_VERSION_RE, "an MLflow version such as 3.0") or "3.0",
        maintenance_window=r.string(
            "maintenance_window", "Sun:02:00", _WINDOW_RE, "a weekly window start like Sun:02:00 (Ddd:HH:MM, UTC)"
        )
        or "Sun:02:00",
        automatic_model_registration=r.boolean("automatic_model_registration", True),
    )
    r.finish()
    return config


def _retention(r: _Reader) -> RetentionConfig:
    log_days = r.get("log_retention_days", 365, int)
    if log_days not in LOG_RETENTION_DAYS:
        raise ConfigError(f"{r.path}.log_retention_days", log_days,
                          "one of the CloudWatch Logs periods " + ", ".join(map(str, LOG_RETENTION_DAYS)))  # fmt: skip
    config = RetentionConfig(
        noncurrent_version_days=r.integer("noncurrent_version_days", 90, 1, 3650),
        incomplete_upload_days=r.integer("incomplete_upload_days", 7, 1, 365),
        access_log_days=r.integer("access_log_days", 365, 1, 3650),
        log_retention_days=log_days,
        event_archive_days=r.integer("event_archive_days", 365, 1, 3650),
    )
    r.finish()
    return config


def _personas(r: _Reader) -> PersonaConfig:
    config = PersonaConfig(
        trusted_principals=r.string_list(
            "trusted_principals", _PRINCIPAL_RE, "an account ID or an IAM root/role/user ARN"
        ),
        max_session_hours=r.integer("max_session_hours", 4, 1, 12),
    )
    r.finish()
    return config


def _model(r: _Reader, env_path: str) -> ModelConfig:
    name = r.string("name", None, _MODEL_NAME_RE, "2-32 lower-case letters, digits or hyphens, starting with a letter")
    if name is None:
        raise ConfigError(f"{r.path}.name", None, "a model name (required)")
    data_prefix = r.string("data_prefix", f"datasets/{name}/") or f"datasets/{name}/"
    if not data_prefix.startswith("datasets/") or not data_prefix.endswith("/") or "//" in data_prefix:
        raise ConfigError(f"{r.path}.data_prefix", data_prefix, "a key prefix under datasets/ ending in '/'")

    t = r.child("training")
    training = TrainingConfig(
        image_uri=t.string("image_uri", None, _IMAGE_URI_RE, "an ECR image URI"),
        instance_type=t.string("instance_type", "ml.m5.large", _INSTANCE_TYPE_RE, "an ml.* instance type")
        or "ml.m5.large",
        instance_count=t.integer("instance_count", 1, 1, 20),
        max_runtime_seconds=t.integer("max_runtime_seconds", 3600, 60, 432000),
        hyperparameters=t.string_map("hyperparameters"),
    )
    t.finish()

    p = r.child("processing")
    processing = ProcessingConfig(
        image_uri=p.string("image_uri", None, _IMAGE_URI_RE, "an ECR image URI"),
        instance_type=p.string("instance_type", "ml.m5.large", _INSTANCE_TYPE_RE, "an ml.* instance type")
        or "ml.m5.large",
    )
    p.finish()

    m = r.child("metric")
    metric = MetricGate(
        name=m.string("name", "accuracy", _METRIC_NAME_RE, "a metric name") or "accuracy",
        threshold=m.number("threshold", 0.90, -1e12, 1e12),
        margin=m.number("margin", 0.0, 0.0, 1e12),
        greater_is_better=m.boolean("greater_is_better", True),
    )
    m.finish()

    e = r.child("endpoint")
    serverless: ServerlessEndpoint | None = None
    if e.has("serverless"):
        s = e.child("serverless")
        memory = s.get("memory_size_mb", 2048, int)
        if memory not in (1024, 2048, 3072, 4096, 5120, 6144):
            raise ConfigError(f"{s.path}.memory_size_mb", memory, "one of 1024, 2048, 3072, 4096, 5120, 6144")
        serverless = ServerlessEndpoint(memory_size_mb=memory, max_concurrency=s.integer("max_concurrency", 5, 1, 200))
        s.finish()
    endpoint = EndpointConfig(
        instance_type=e.string("instance_type", "ml.m5.large", _INSTANCE_TYPE_RE, "an ml.* instance type")
        or "ml.m5.large",
        instance_count=e.integer("instance_count", 1, 1, 100),
        serverless=serverless,
    )
    e.finish()

    d = r.child("deployment")
    deployment = DeploymentConfig(
        strategy=cast(Any, d.choice("strategy", "canary", DEPLOYMENT_STRATEGIES)),
        canary_percent=d.integer("canary_percent", 10, 1, 50),
        linear_step_percent=d.integer("linear_step_percent", 25, 10, 50),
        wait_minutes=d.integer("wait_minutes", 10, 0, 60),
        termination_wait_minutes=d.integer("termination_wait_minutes", 5, 0, 60),
        max_error_rate_percent=d.number("max_error_rate_percent", 1.0, 0.0, 100.0),
        max_latency_ms=d.integer("max_latency_ms", 1000, 1, 600000),
    )
    d.finish()
    if serverless is not None and deployment.strategy != "all-at-once":
        # SageMaker supports only all-at-once blue/green shifting for serverless endpoints.
        raise ConfigError(f"{d.path}.strategy", deployment.strategy, "all-at-once for a serverless endpoint")
    _check_deployment(r.path, endpoint, deployment)

    q = r.child("quality")
    quality = QualityMetric(
        namespace=q.string("namespace", None, re.compile(r"^[^:].{0,254}$"), "a CloudWatch namespace"),
        metric_name=q.string("metric_name", None, re.compile(r"^.{1,255}$"), "a CloudWatch metric name"),
        dimensions=q.string_map("dimensions"),
        statistic=q.choice("statistic", "Average", ("Average", "Minimum", "Maximum", "Sum", "SampleCount")),
        period_minutes=q.integer("period_minutes", 60, 1, 1440),
        evaluation_periods=q.integer("evaluation_periods", 1, 1, 100),
        threshold=q.number("threshold", metric.threshold, -1e12, 1e12),
        comparison=q.choice("comparison", "LessThanThreshold", ALARM_COMPARISONS),
    )
    q.finish()
    if (quality.namespace is None) != (quality.metric_name is None):
        raise ConfigError(f"{q.path}", dict(q.raw), "both namespace and metric_name, or neither (Model Monitor)")

    config = ModelConfig(
        name=name,
        data_prefix=data_prefix,
        training=training,
        processing=processing,
        metric=metric,
        approval=cast(Any, r.choice("approval", "auto", APPROVAL_MODES)),
        endpoint=endpoint,
        deployment=deployment,
        schedule=r.string("schedule", None, _SCHEDULE_RE, "an EventBridge cron(...) or rate(...) expression"),
        quality=quality,
        coalesce_minutes=r.integer("coalesce_minutes", 30, 0, 1440),
    )
    r.finish()
    return config


def _check_deployment(model_path: str, endpoint: EndpointConfig, deployment: DeploymentConfig) -> None:
    """Refuse what SageMaker would refuse at UpdateEndpoint, by the rules the deployer applies too."""
    try:
        plan_traffic_shift(
            strategy=deployment.strategy,
            instance_count=endpoint.instance_count,
            serverless=endpoint.serverless is not None,
            canary_percent=deployment.canary_percent,
            linear_step_percent=deployment.linear_step_percent,
            wait_seconds=deployment.wait_minutes * 60,
            termination_wait_seconds=deployment.termination_wait_minutes * 60,
        )
    except DeploymentPolicyError as error:
        keys = ", ".join(f"{model_path}.{key}" for key in error.keys)
        raise ConfigError(keys, error.values, error.expected) from None


def _models(r: _Reader) -> tuple[ModelConfig, ...]:
    raw: list[Any] = r.get("models", [], list)
    models = tuple(_model(_Reader(item, f"{r.path}.models[{i}]"), r.path) for i, item in enumerate(raw))
    names = [m.name for m in models]
    for i, model in enumerate(models):
        if names.index(model.name) != i:
            raise ConfigError(f"{r.path}.models[{i}].name", model.name, "a name no other model uses")
    prefixes = [m.data_prefix for m in models]
    for i, prefix in enumerate(prefixes):
        for j, other in enumerate(prefixes):
            if i != j and prefix.startswith(other):
                raise ConfigError(f"{r.path}.models[{i}].data_prefix", prefix,
                                  f"a prefix that does not overlap models[{j}] ({other})")  # fmt: skip
    return models


def load_environment(platform: object, env_name: str) -> EnvironmentConfig:
    """Validate the `platform` context object and return the settings of one environment."""
    root = _Reader(platform, "platform")
    prefix = root.string("prefix", "mlops", _PREFIX_RE, "3-16 lower-case letters, digits or hyphens") or "mlops"
    environments: Mapping[str, Any] = root.get("environments", {}, Mapping)
    root.finish()
    if env_name not in ENVIRONMENT_NAMES:
        raise ConfigError("env", env_name, "one of " + ", ".join(ENVIRONMENT_NAMES) + " (set with -c env=NAME)")
    for key in environments:
        if key not in ENVIRONMENT_NAMES:
            raise ConfigError(
                f"platform.environments.{key}", key, "an environment named " + ", ".join(ENVIRONMENT_NAMES)
            )
    if env_name not in environments:
        raise ConfigError(f"platform.environments.{env_name}", None, "an object describing this environment")

    r = _Reader(environments[env_name], f"platform.environments.{env_name}")
    boundary = r.string("permissions_boundary_arn", None, _POLICY_ARN_RE, "an IAM managed policy ARN")
    config = EnvironmentConfig(
        name=env_name,
        prefix=r.string("prefix", prefix, _PREFIX_RE, "3-16 lower-case letters, digits or hyphens") or prefix,
        account=r.string("account", None, _ACCOUNT_RE, "a 12-digit AWS account ID"),
        region=r.string("region", None, _REGION_RE, "an AWS region such as eu-west-1"),
        tags=r.string_map("tags"),
        mlflow=_mlflow(r.child("mlflow")),
        retention=_retention(r.child("retention")),
        personas=_personas(r.child("personas")),
        permissions_boundary_arn=boundary,
        termination_protection=r.boolean("termination_protection", env_name == "prod"),
        notifications=_notifications(r.child("notifications")),
        models=_models(r),
        functions=_functions(r.child("functions")),
    )
    r.finish()
    return config


def _notifications(r: _Reader) -> NotificationConfig:
    config = NotificationConfig(emails=r.string_list("emails", _EMAIL_RE, "an e-mail address"))
    r.finish()
    return config


# Settings of the platform's Lambda functions (the retraining loop's handlers).
HANDLER_NAMES = ("retraining-trigger", "model-gate", "deployer")
# Lambda keeps at least 100 of a Region's concurrency unreserved, and the default quota is
# 1,000 ("Configuring reserved concurrency for a function" and "Lambda quotas", Lambda
# Developer Guide); new accounts start lower. 900 is all a default account can reserve.
MAX_RESERVED_CONCURRENCY = 900


@dataclass(frozen=True)
class FunctionsConfig:
    """Opt-in reserved concurrency per handler; none by default so any account can deploy."""

    reserved_concurrency: Mapping[str, int] = field(default_factory=dict)


def _functions(r: _Reader) -> FunctionsConfig:
    raw: Mapping[str, Any] = r.get("reserved_concurrency", {}, Mapping)
    path = f"{r.path}.reserved_concurrency"
    reserved: dict[str, int] = {}
    for name, value in raw.items():
        if name not in HANDLER_NAMES:
            raise ConfigError(f"{path}.{name}", value, "a handler name: " + ", ".join(HANDLER_NAMES))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESERVED_CONCURRENCY:
            raise ConfigError(f"{path}.{name}", value, f"an integer from 1 to {MAX_RESERVED_CONCURRENCY}")
        reserved[name] = value
    if sum(reserved.values()) > MAX_RESERVED_CONCURRENCY:
        raise ConfigError(
            path, dict(raw), f"at most {MAX_RESERVED_CONCURRENCY} in total (the default quota less 100 kept unreserved)"
        )
    r.finish()
    return FunctionsConfig(reserved_concurrency=reserved)
