"""Reads the `platform` context object into the typed configuration of one environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from platform_common.deployment_policy import DeploymentPolicyError, plan_traffic_shift
from platform_common.monitoring import QUALITY_METRICS
from stacks.config.name_limits import check_names
from stacks.config.reader import Reader
from stacks.config.schedules import SOURCE as SCHEDULE_SOURCE
from stacks.config.schedules import ScheduleError, check_schedule
from stacks.config.settings import (
    ALARM_COMPARISONS,
    APPROVAL_MODES,
    BATCH_CONTENT_TYPES,
    BATCH_SPLIT_TYPES,
    DEFAULT_MLFLOW_VERSION,
    DEPLOYMENT_STRATEGIES,
    ENVIRONMENT_NAMES,
    HANDLER_NAMES,
    LOG_RETENTION_DAYS,
    MAX_RESERVED_CONCURRENCY,
    MLFLOW_KINDS,
    MONITORING_ENGINES,
    SERVING_MODES,
    TRACKING_SERVER_MLFLOW_VERSIONS,
    TRACKING_SERVER_SIZES,
    BatchConfig,
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
from stacks.images import supported_regions


@cache
def transform_instance_types() -> frozenset[str]:
    """The instance types CreateTransformJob accepts, from botocore's model of the SageMaker API.

    The enum of TransformResources.InstanceType, so a type SageMaker refuses stops synth. Read
    on first use: importing botocore's session and loading the SageMaker model take a few
    tenths of a second, and only a configuration with batch serving needs them.
    """
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("TransformInstanceType").enum)


MAX_TRANSFORM_PAYLOAD_MB = 100

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,14}[a-z0-9]$")
_MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_WINDOW_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$")
_PRINCIPAL_RE = re.compile(r"^(arn:aws[a-z-]*:iam::\d{12}:(root|role/.+|user/.+)|\d{12})$")
_POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+$")
_INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_IMAGE_URI_RE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[^\s]+$")
_METRIC_NAME_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
# A CSV header the scripts and a command line both carry as they are.
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _mlflow(r: Reader) -> MlflowConfig:
    kind = r.choice("kind", "tracking-server", MLFLOW_KINDS)
    config = MlflowConfig(
        kind=cast(Any, kind),
        size=cast(Any, r.choice("size", "Small", TRACKING_SERVER_SIZES)),
        version=_mlflow_version(r, kind),
        maintenance_window=r.string(
            "maintenance_window", "Sun:02:00", _WINDOW_RE, "a weekly window start like Sun:02:00 (Ddd:HH:MM, UTC)"
        )
        or "Sun:02:00",
        automatic_model_registration=r.boolean("automatic_model_registration", True),
    )
    r.finish()
    return config


def _mlflow_version(r: Reader, kind: str) -> str | None:
    """The MLflow version a tracking server runs; an App runs the one SageMaker chooses."""
    if kind == "app":
        version = r.get("version", None, str)
        if version is not None:
            raise ConfigError(
                f"{r.path}.version",
                version,
                "no version for an MLflow App (kind app): AWS::SageMaker::MlflowApp takes no MLflow version; "
                "remove the key, or choose kind tracking-server",
            )
        return None
    version = r.get("version", DEFAULT_MLFLOW_VERSION, str)
    if version not in TRACKING_SERVER_MLFLOW_VERSIONS:
        raise ConfigError(
            f"{r.path}.version",
            version,
            "an MLflow version a SageMaker tracking server runs, one of "
            + ", ".join(TRACKING_SERVER_MLFLOW_VERSIONS)
            + ' (SageMaker Developer Guide, "Integrate MLflow with your environment")',
        )
    return version


def _retention(r: Reader) -> RetentionConfig:
    log_days = r.get("log_retention_days", 365, int)
    if log_days not in LOG_RETENTION_DAYS:
        periods = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise ConfigError(f"{r.path}.log_retention_days", log_days, f"one of the CloudWatch Logs periods {periods}")
    config = RetentionConfig(
        noncurrent_version_days=r.integer("noncurrent_version_days", 90, 1, 3650),
        incomplete_upload_days=r.integer("incomplete_upload_days", 7, 1, 365),
        access_log_days=r.integer("access_log_days", 365, 1, 3650),
        log_retention_days=log_days,
        event_archive_days=r.integer("event_archive_days", 365, 1, 3650),
    )
    r.finish()
    return config


def _personas(r: Reader) -> PersonaConfig:
    config = PersonaConfig(
        trusted_principals=r.string_list(
            "trusted_principals", _PRINCIPAL_RE, "an account ID or an IAM root/role/user ARN"
        ),
        max_session_hours=r.integer("max_session_hours", 4, 1, 12),
    )
    r.finish()
    return config


def _model(r: Reader, env_path: str) -> ModelConfig:
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
    if "target" in training.hyperparameters:
        raise ConfigError(
            f"{t.path}.hyperparameters.target",
            training.hyperparameters["target"],
            f"no 'target' hyperparameter: the label column is set once, at {r.path}.target",
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

    serving = _serving_mode(r)
    e = r.child("endpoint")
    serverless: ServerlessEndpoint | None = None
    if serving == "serverless" and not e.has("serverless"):
        serverless = ServerlessEndpoint()
    if e.has("serverless"):
        if serving == "realtime":
            raise ConfigError(
                f"{r.path}.serving", serving, "serverless (or no serving key) for a model with endpoint.serverless"
            )
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

    batch = _batch(r, serving)
    config = ModelConfig(
        name=name,
        data_prefix=data_prefix,
        training=training,
        processing=processing,
        metric=metric,
        approval=cast(Any, r.choice("approval", "auto", APPROVAL_MODES)),
        endpoint=endpoint,
        deployment=deployment,
        schedule=_schedule(r),
        quality=quality,
        coalesce_minutes=r.integer("coalesce_minutes", 30, 0, 1440),
        monitoring=_monitoring(r.child("monitoring"), serving=serving, batch=batch),
        serving=cast(Any, serving),
        batch=batch,
        target=r.string(
            "target",
            "label",
            _COLUMN_RE,
            "a column name: 1-64 letters, digits, '_', '-' or '.', starting with a letter or '_'",
        )
        or "label",
    )
    r.finish()
    if config.monitoring.platform and metric.name not in QUALITY_METRICS:
        # The monitoring job computes these only, and refuses any other: every run would fail.
        raise ConfigError(
            f"{m.path}.name",
            metric.name,
            f"one of {', '.join(QUALITY_METRICS)} for a model the platform's monitoring job watches "
            f"(or set {r.path}.monitoring.engine to model-monitor, or {r.path}.monitoring.enabled to false)",
        )
    return config


# An alarm evaluates at most seven days: Period x EvaluationPeriods <= 604,800 seconds (Amazon
# CloudWatch API Reference, "PutMetricAlarm", Period,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html). The
# silent-monitor alarm counts hours, so at most 168 of them.
MAX_SILENCE_HOURS = 168
_RATE_HOURS = {"minute": 1 / 60, "minutes": 1 / 60, "hour": 1, "hours": 1, "day": 24, "days": 24}


def _monitoring(r: Reader, *, serving: str, batch: BatchConfig | None) -> MonitoringConfig:
    # The monitoring job reads endpoint data capture and batch predictions (predictions/<model>/),
    # so a model needs one of them. Serverless endpoints do not capture data: "Some of the features
    # currently available for SageMaker AI Real-time Inference are not supported for Serverless
    # Inference, including ... data capture, ... Model Monitor" (SageMaker Developer Guide, "Deploy
    # models with Amazon SageMaker Serverless Inference", Feature exclusions,
    # https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html). With neither
    # there is nothing to monitor, so monitoring is off unless the model has one.
    captures = serving == "realtime"
    enabled = r.boolean("enabled", captures or batch is not None)
    if enabled and not captures and batch is None:
        raise ConfigError(
            f"{r.path}.enabled",
            True,
            "false (or no key) for a serverless endpoint without batch transform: serverless endpoints do not "
            'capture data (SageMaker Developer Guide, "Deploy models with Amazon SageMaker Serverless Inference", '
            "Feature exclusions); serve the model from instances, or add batch settings, to monitor it",
        )
    schedule = r.get("schedule", MonitoringConfig.schedule, str)
    try:
        check_schedule(schedule)
    except ScheduleError as error:
        raise ConfigError(f"{r.path}.schedule", schedule, f"{error} ({SCHEDULE_SOURCE})") from None
    config = MonitoringConfig(
        enabled=enabled,
        engine=cast(Any, r.choice("engine", "platform", MONITORING_ENGINES)),
        # DataCaptureConfig.InitialSamplingPercentage: "Valid Range: Minimum value of 0. Maximum
        # value of 100" (SageMaker API Reference, "DataCaptureConfig",
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html).
        sampling_percent=r.integer("sampling_percent", MonitoringConfig.sampling_percent, 0, 100),
        schedule=schedule,
        drift_threshold=r.number("drift_threshold", MonitoringConfig.drift_threshold, 0.0, 1.0),
        label_lookback_days=r.integer("label_lookback_days", MonitoringConfig.label_lookback_days, 1, 90),
        max_silence_hours=r.integer("max_silence_hours", MonitoringConfig.max_silence_hours, 1, MAX_SILENCE_HOURS),
        instance_type=r.string(
            "instance_type", MonitoringConfig.instance_type, _INSTANCE_TYPE_RE, "an ml.* instance type"
        )
        or MonitoringConfig.instance_type,
        max_runtime_seconds=r.integer("max_runtime_seconds", MonitoringConfig.max_runtime_seconds, 60, 86400),
    )
    r.finish()
    interval = _rate_hours(schedule)
    if config.platform and interval is not None and config.max_silence_hours <= interval:
        raise ConfigError(
            f"{r.path}.max_silence_hours",
            config.max_silence_hours,
            f"more hours than the schedule's interval ({schedule}, {interval:g} h), or every run would be late",
        )
    return config


def _rate_hours(expression: str) -> float | None:
    """The interval of a rate(...) schedule in hours; None for cron, whose gaps vary."""
    if not expression.startswith("rate("):
        return None
    value, unit = expression[len("rate(") : -1].split(" ")
    return int(value) * _RATE_HOURS[unit]


def _serving_mode(r: Reader) -> str:
    """`serving`, or the mode the older keys imply: serverless with endpoint.serverless, else realtime."""
    implied = "serverless" if r.child("endpoint").has("serverless") else "realtime"
    serving = r.choice("serving", implied, SERVING_MODES)
    if serving == "batch":
        for key in ("endpoint", "deployment"):
            if r.has(key):
                raise ConfigError(
                    f"{r.path}.{key}",
                    r.get(key, None, object),
                    f"no {key} settings for a batch model (serving batch has no endpoint); "
                    "remove the key, or choose serving realtime or serverless with batch beside it",
                )
        if not r.has("batch"):
            raise ConfigError(
                f"{r.path}.batch", None, "batch settings (an object, {} for the defaults) for serving batch"
            )
    return serving


def _batch(r: Reader, serving: str) -> BatchConfig | None:
    """Batch transform settings: the only serving of a batch model, or beside an endpoint."""
    if not r.has("batch"):
        return None
    b = r.child("batch")
    instance_type = b.get("instance_type", "ml.m5.large", str)
    if instance_type not in transform_instance_types():
        raise ConfigError(
            f"{b.path}.instance_type",
            instance_type,
            "an instance type CreateTransformJob accepts (TransformResources.InstanceType), such as ml.m5.large",
        )
    schedule = b.get("schedule", None, str)
    if schedule is not None:
        try:
            check_schedule(schedule)
        except ScheduleError as error:
            raise ConfigError(f"{b.path}.schedule", schedule, f"{error} ({SCHEDULE_SOURCE})") from None
    # "The value of MaxPayloadInMB cannot be greater than 100 MB. If you specify the
    # MaxConcurrentTransforms parameter, the value of (MaxConcurrentTransforms * MaxPayloadInMB)
    # also cannot exceed 100 MB" (SageMaker API Reference, "CreateTransformJob",
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html).
    concurrent = b.integer("max_concurrent_transforms", 1, 1, 100)
    payload = b.integer("max_payload_mb", 6, 1, 100)
    if concurrent * payload > MAX_TRANSFORM_PAYLOAD_MB:
        raise ConfigError(
            f"{b.path}.max_payload_mb",
            payload,
            f"at most {MAX_TRANSFORM_PAYLOAD_MB // concurrent} with max_concurrent_transforms {concurrent} "
            f"(CreateTransformJob: max_concurrent_transforms * max_payload_mb at most {MAX_TRANSFORM_PAYLOAD_MB} MB)",
        )
    config = BatchConfig(
        instance_type=instance_type,
        instance_count=b.integer("instance_count", 1, 1, 100),
        max_concurrent_transforms=concurrent,
        max_payload_mb=payload,
        schedule=schedule,
        content_type=b.choice("content_type", "text/csv", BATCH_CONTENT_TYPES),
        split_type=b.choice("split_type", "Line", BATCH_SPLIT_TYPES),
    )
    b.finish()
    return config


def _schedule(r: Reader) -> str | None:
    expression = r.get("schedule", None, str)
    if expression is not None:
        try:
            check_schedule(expression)
        except ScheduleError as error:
            raise ConfigError(f"{r.path}.schedule", expression, f"{error} ({SCHEDULE_SOURCE})") from None
    return expression


def _models(r: Reader) -> tuple[ModelConfig, ...]:
    raw: list[Any] = r.get("models", [], list)
    models = tuple(_model(Reader(item, f"{r.path}.models[{i}]"), r.path) for i, item in enumerate(raw))
    names = [m.name for m in models]
    for i, model in enumerate(models):
        if names.index(model.name) != i:
            raise ConfigError(f"{r.path}.models[{i}].name", model.name, "a name no other model uses")
    prefixes = [m.data_prefix for m in models]
    for i, prefix in enumerate(prefixes):
        for j, other in enumerate(prefixes):
            if i != j and prefix.startswith(other):
                expected = f"a prefix that does not overlap models[{j}] ({other})"
                raise ConfigError(f"{r.path}.models[{i}].data_prefix", prefix, expected)
    return models


def load_environment(platform: object, env_name: str) -> EnvironmentConfig:
    """Validate the `platform` context object and return the settings of one environment."""
    root = Reader(platform, "platform")
    prefix = root.string("prefix", "mlops", _PREFIX_RE, "3-16 lower-case letters, digits or hyphens") or "mlops"
    environments: Mapping[str, Any] = root.get("environments", {}, Mapping)
    # The delivery pipeline's block is read by stacks.config.delivery; one environment ignores it.
    root.get("delivery", None, Mapping)
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

    r = Reader(environments[env_name], f"platform.environments.{env_name}")
    boundary = r.string("permissions_boundary_arn", None, _POLICY_ARN_RE, "an IAM managed policy ARN")
    prefix_key = f"{r.path}.prefix" if r.has("prefix") else "platform.prefix"
    mlflow = _mlflow(r.child("mlflow"))
    config = EnvironmentConfig(
        name=env_name,
        prefix=r.string("prefix", prefix, _PREFIX_RE, "3-16 lower-case letters, digits or hyphens") or prefix,
        account=r.string("account", None, _ACCOUNT_RE, "a 12-digit AWS account ID"),
        region=_region(r, mlflow.kind),
        tags=r.string_map("tags"),
        mlflow=mlflow,
        retention=_retention(r.child("retention")),
        personas=_personas(r.child("personas")),
        permissions_boundary_arn=boundary,
        termination_protection=r.boolean("termination_protection", env_name == "prod"),
        notifications=_notifications(r.child("notifications")),
        models=_models(r),
        functions=_functions(r.child("functions")),
    )
    r.finish()
    check_names(config, prefix_key=prefix_key, environment_path=r.path)
    return config


def _region(r: Reader, kind: str) -> str | None:
    region = r.string("region", None, _REGION_RE, "an AWS region such as eu-west-1")
    if region is not None and region not in supported_regions(kind):
        raise ConfigError(
            f"{r.path}.region",
            region,
            f"a region the platform supports with managed MLflow {kind}: "
            + ", ".join(supported_regions(kind))
            + " (where CloudFormation offers the MLflow resource and SageMaker publishes the default image; "
            "stacks/images.py)",
        )
    return region


def _notifications(r: Reader) -> NotificationConfig:
    config = NotificationConfig(emails=r.string_list("emails", _EMAIL_RE, "an e-mail address"))
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


def _functions(r: Reader) -> FunctionsConfig:
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
