"""The configuration loader: defaults, and a precise error for every kind of bad value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import ConfigError, load_environment
from tests.synth import cdk_context


def platform_with(dev: dict[str, Any]) -> dict[str, Any]:
    return {"prefix": "mlops", "environments": {"dev": dev}}


def test_shipped_environments_load() -> None:
    platform = cdk_context()["platform"]
    for name in ("dev", "staging", "prod"):
        config = load_environment(platform, name)
        assert config.name == name
        assert config.resource_prefix == f"mlops-{name}"
    assert load_environment(platform, "prod").termination_protection is True
    assert load_environment(platform, "dev").termination_protection is False


def test_defaults_fill_an_empty_environment() -> None:
    config = load_environment(platform_with({}), "dev")
    assert config.account is None and config.region is None
    assert config.mlflow.kind == "tracking-server"
    assert config.mlflow.size == "Small"
    assert config.mlflow.automatic_model_registration is True
    assert config.mlflow.maintenance_window == "Sun:02:00"
    assert config.personas.trusted_principals == ()
    assert config.permissions_boundary_arn is None
    assert config.models == ()


def test_model_defaults() -> None:
    config = load_environment(platform_with({"models": [{"name": "churn"}]}), "dev")
    (model,) = config.models
    assert model.data_prefix == "datasets/churn/"
    assert model.metric.name == "accuracy"
    assert model.metric.threshold == pytest.approx(0.90)
    assert model.approval == "auto"
    assert model.quality.namespace is None  # Model Monitor's metric by default
    assert model.quality.threshold == pytest.approx(0.90)
    assert model.target == "label"


@pytest.mark.parametrize(
    ("dev", "path", "expected"),
    [
        ({"mlflow": {"size": "Huge"}}, "platform.environments.dev.mlflow.size", "one of Small, Medium, Large"),
        ({"mlflow": {"kind": "server"}}, "platform.environments.dev.mlflow.kind", "one of tracking-server, app"),
        (
            {"mlflow": {"maintenance_window": "Sunday 2am"}},
            "platform.environments.dev.mlflow.maintenance_window",
            "Ddd:HH:MM",
        ),
        ({"mlflow": {"version": "latest"}}, "platform.environments.dev.mlflow.version", "MLflow version"),
        (
            {"mlflow": {"automatic_model_registration": "yes"}},
            "platform.environments.dev.mlflow.automatic_model_registration",
            "true or false",
        ),
        ({"account": "1234"}, "platform.environments.dev.account", "12-digit"),
        ({"region": "Europe"}, "platform.environments.dev.region", "AWS region"),
        (
            {"retention": {"log_retention_days": 10}},
            "platform.environments.dev.retention.log_retention_days",
            "CloudWatch Logs periods",
        ),
        (
            {"retention": {"noncurrent_version_days": 0}},
            "platform.environments.dev.retention.noncurrent_version_days",
            "from 1 to 3650",
        ),
        (
            {"retention": {"noncurrent_version_days": True}},
            "platform.environments.dev.retention.noncurrent_version_days",
            "an integer",
        ),
        (
            {"personas": {"trusted_principals": ["bob"]}},
            "platform.environments.dev.personas.trusted_principals[0]",
            "account ID or an IAM",
        ),
        (
            {"personas": {"max_session_hours": 13}},
            "platform.environments.dev.personas.max_session_hours",
            "from 1 to 12",
        ),
        (
            {"permissions_boundary_arn": "boundary"},
            "platform.environments.dev.permissions_boundary_arn",
            "managed policy ARN",
        ),
        ({"tags": {"team": 5}}, "platform.environments.dev.tags.team", "a string value"),
        ({"mlflw": {}}, "platform.environments.dev.mlflw", "no such key"),
        ({"models": [{"name": "Churn!"}]}, "platform.environments.dev.models[0].name", "lower-case"),
        ({"models": [{}]}, "platform.environments.dev.models[0].name", "required"),
        ({"models": [{"name": "a1"}, {"name": "a1"}]}, "platform.environments.dev.models[1].name", "no other model"),
        (
            {"models": [{"name": "churn", "data_prefix": "raw/churn/"}]},
            "platform.environments.dev.models[0].data_prefix",
            "under datasets/",
        ),
        (
            {"models": [{"name": "aa", "data_prefix": "datasets/a/"}, {"name": "bb", "data_prefix": "datasets/a/b/"}]},
            "platform.environments.dev.models[1].data_prefix",
            "does not overlap",
        ),
        (
            {"models": [{"name": "churn", "approval": "sometimes"}]},
            "platform.environments.dev.models[0].approval",
            "one of auto, manual",
        ),
        (
            {"models": [{"name": "churn", "deployment": {"strategy": "blue-green"}}]},
            "platform.environments.dev.models[0].deployment.strategy",
            "all-at-once, canary, linear",
        ),
        (
            {"models": [{"name": "churn", "schedule": "every day"}]},
            "platform.environments.dev.models[0].schedule",
            "cron(...) or rate(...)",
        ),
        (
            {"models": [{"name": "churn", "metric": {"threshold": "high"}}]},
            "platform.environments.dev.models[0].metric.threshold",
            "an integer or a number",
        ),
        (
            {"models": [{"name": "churn", "training": {"instance_type": "m5.large"}}]},
            "platform.environments.dev.models[0].training.instance_type",
            "ml.* instance type",
        ),
        (
            {"models": [{"name": "churn", "endpoint": {"serverless": {"memory_size_mb": 1000}}}]},
            "platform.environments.dev.models[0].endpoint.serverless.memory_size_mb",
            "1024",
        ),
        (
            {"models": [{"name": "churn", "endpoint": {"serverless": {}}, "deployment": {"strategy": "canary"}}]},
            "platform.environments.dev.models[0].deployment.strategy",
            "all-at-once for a serverless endpoint",
        ),
        (
            {"models": [{"name": "churn", "quality": {"namespace": "Custom"}}]},
            "platform.environments.dev.models[0].quality",
            "both namespace and metric_name",
        ),
        ({"models": "churn"}, "platform.environments.dev.models", "a list"),
        (
            {"models": [{"name": "churn", "target": "churned?"}]},
            "platform.environments.dev.models[0].target",
            "a column name",
        ),
        (
            {"models": [{"name": "churn", "training": {"hyperparameters": {"target": "y"}}}]},
            "platform.environments.dev.models[0].training.hyperparameters.target",
            "at platform.environments.dev.models[0].target",
        ),
    ],
)
def test_invalid_values_name_the_key_the_value_and_what_is_allowed(
    dev: dict[str, Any], path: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(platform_with(dev), "dev")
    assert caught.value.path == path
    assert expected in str(caught.value)
    assert path in str(caught.value)


MONITORING = "platform.environments.dev.models[0].monitoring"


def with_monitoring(monitoring: dict[str, Any], **model: Any) -> dict[str, Any]:
    return platform_with({"models": [{"name": "churn", "monitoring": monitoring, **model}]})


@pytest.mark.parametrize(
    ("monitoring", "model", "key", "expected"),
    [
        pytest.param({"sampling_percent": 101}, {}, "sampling_percent", "an integer from 0 to 100", id="sampling"),
        pytest.param({"drift_threshold": 1.5}, {}, "drift_threshold", "a number from 0.0 to 1.0", id="drift"),
        pytest.param({"engine": "evidently"}, {}, "engine", "one of platform, model-monitor", id="engine"),
        pytest.param({"schedule": "hourly"}, {}, "schedule", "cron(...) or rate(...)", id="schedule"),
        pytest.param({"max_silence_hours": 169}, {}, "max_silence_hours", "from 1 to 168", id="silence-over-7-days"),
        pytest.param(
            {"schedule": "rate(1 day)", "max_silence_hours": 24},
            {},
            "max_silence_hours",
            "more hours than the schedule's interval",
            id="silence-not-longer-than-schedule",
        ),
        pytest.param({"label_lookback_days": 0}, {}, "label_lookback_days", "from 1 to 90", id="lookback"),
        pytest.param({"instance_type": "m5.large"}, {}, "instance_type", "ml.* instance type", id="instance"),
        pytest.param(
            {"enabled": True},
            {"endpoint": {"serverless": {}}, "deployment": {"strategy": "all-at-once"}},
            "enabled",
            "serverless endpoints do not capture data",
            id="serverless-enabled",
        ),
        pytest.param({"sampling": 10}, {}, "sampling", "no such key", id="typo"),
    ],
)
def test_an_invalid_monitoring_block_names_its_key(
    monitoring: dict[str, Any], model: dict[str, Any], key: str, expected: str
) -> None:
    # Given a model whose monitoring block has one bad value; When the configuration is loaded
    with pytest.raises(ConfigError) as caught:
        load_environment(with_monitoring(monitoring, **model), "dev")
    # Then the error names the key path and what is allowed
    assert caught.value.path == f"{MONITORING}.{key}"
    assert expected in str(caught.value)


def test_monitoring_defaults_to_the_platform_engine_daily_and_off_for_serverless() -> None:
    # Given one model on instances and one serverless, neither with a monitoring block
    platform = platform_with(
        {
            "models": [
                {"name": "churn"},
                {"name": "fraud", "endpoint": {"serverless": {}}, "deployment": {"strategy": "all-at-once"}},
            ]
        }
    )
    # When loaded
    churn, fraud = load_environment(platform, "dev").models
    # Then the instance model is monitored by the platform daily, capturing every request
    assert churn.monitoring.platform
    assert (churn.monitoring.schedule, churn.monitoring.sampling_percent) == ("rate(1 day)", 100)
    assert churn.monitoring.max_silence_hours == 26
    # And the serverless one is not monitored (serverless endpoints cannot capture data)
    assert not fraud.monitoring.enabled


def test_monitoring_follows_batch_predictions_where_no_endpoint_captures() -> None:
    """The monitoring job reads endpoint capture and batch predictions (predictions/<model>/): a model
    with either is monitored by default; a serverless one with batch transform beside it too."""
    # Given a batch-only model, a serverless model with batch beside it, and one opting out
    platform = platform_with(
        {
            "models": [
                {"name": "upsell", "serving": "batch", "batch": {}},
                {"name": "fraud", "serving": "serverless", "deployment": {"strategy": "all-at-once"}, "batch": {}},
                {"name": "churn", "serving": "batch", "batch": {}, "monitoring": {"enabled": False}},
            ]
        }
    )
    # When loaded
    upsell, fraud, churn = load_environment(platform, "dev").models
    # Then the two with batch predictions are watched by the platform's job, the opted-out one is not
    assert upsell.monitoring.platform and fraud.monitoring.platform
    assert not churn.monitoring.enabled


def test_a_monitored_batch_only_model_publishes_under_its_batch_target_and_captures_nothing() -> None:
    from stacks import monitoring, naming

    config = load_environment(platform_with({"models": [{"name": "upsell", "serving": "batch", "batch": {}}]}), "dev")
    (upsell,) = config.models
    # The `Endpoint` dimension of its metrics is the batch target (platform_common.monitoring.metric_dimensions)
    assert monitoring.serving_target(config, upsell) == naming.batch_target_name(config, "upsell")
    assert monitoring.drift_metric(config, upsell).dimensions == {
        "Model": "upsell",
        "Endpoint": f"{config.resource_prefix}-upsell-batch",
    }


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="one of dev, staging, prod"):
        load_environment(platform_with({}), "qa")


def test_missing_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"platform\.environments\.prod"):
        load_environment(platform_with({}), "prod")


def test_bad_prefix_is_refused() -> None:
    platform = copy.deepcopy(platform_with({}))
    platform["prefix"] = "ML_Ops"
    with pytest.raises(ConfigError, match=r"'platform\.prefix'"):
        load_environment(platform, "dev")


def model_with_schedule(schedule: str) -> dict[str, Any]:
    return platform_with({"models": [{"name": "churn", "schedule": schedule}]})


# EventBridge User Guide, "Schedule expressions for rules" (Using cron and rate expressions to
# schedule rules): https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
@pytest.mark.parametrize(
    "schedule",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 3 ? * MON *)",
        "cron(0/15 * * * ? *)",
        # The examples of the page's cron table.
        "cron(0 10 * * ? *)",
        "cron(15 12 * * ? *)",
        "cron(0 18 ? * MON-FRI *)",
        "cron(0 8 1 * ? *)",
        "cron(0/10 * ? * MON-FRI *)",
        "cron(0/5 8-17 ? * MON-FRI *)",
        "cron(0 9 ? * 2#1 *)",
        # Each field's other values and wildcards.
        "cron(0 12 L * ? *)",
        "cron(0 12 3W * ? *)",
        "cron(0 12 ? * L *)",
        "cron(5,35 0-6,18-23 1-15 JAN,JUL ? 2030-2035)",
        "cron(59 23 31 12 ? 2199)",
        "cron(0 0 ? 1-12 1-7 1970/5)",
    ],
)
def test_schedules_eventbridge_accepts_load(schedule: str) -> None:
    (model,) = load_environment(model_with_schedule(schedule), "dev").models
    assert model.schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("rate(1 days)", "rate(1 day)"),
        ("rate(1 hours)", "rate(1 hour)"),
        ("rate(5 day)", "rate(5 days)"),
        ("rate(5 minute)", "rate(5 minutes)"),
        ("rate(0 minutes)", "a positive whole number"),
        ("rate(2 weeks)", "minute(s), hour(s) or day(s)"),
        ("rate(5  minutes)", "rate(value unit)"),
        ("cron(0 3 * * MON *)", "'?' in day-of-month or day-of-week"),
        ("cron(0 3 1 * MON *)", "'?' in day-of-month or day-of-week"),
        ("cron(0 3 ? * ? *)", "only one of day-of-month and day-of-week"),
        ("cron(0 3 ? * MON)", "six fields"),
        ("cron(0 3 ? * MON * *)", "six fields"),
        ("cron(60 3 ? * MON *)", "minutes"),
        ("cron(0 24 ? * MON *)", "hours"),
        ("cron(0 3 32 * ? *)", "day-of-month"),
        ("cron(0 3 0 * ? *)", "day-of-month"),
        ("cron(0 3 ? 13 MON *)", "month"),
        ("cron(0 3 ? * 8 *)", "day-of-week"),
        ("cron(0 3 ? * MON 1969)", "year"),
        ("cron(0 3 ? * MON 2200)", "year"),
        ("cron(0 3 ? JUNE MON *)", "month"),
        ("cron(0 3 ? * mon *)", "day-of-week"),
        ("cron(0 3 L * ? *)", None),  # L is a day-of-month wildcard, valid (control for the next cases)
        ("cron(0 L ? * MON *)", "hours"),
        ("cron(0 3 ? * MON#2 *)", "day-of-week"),
        ("cron(0 3 ? * 2#1,6#3 *)", "'#'"),
        ("cron(0 3 ? * 2#6 *)", "day-of-week"),
        ("cron(0 3 ? * 5W *)", "day-of-week"),
        ("cron(*/5 * * * ? *)", "0/5"),
        ("cron(0 3 10-5 * ? *)", "day-of-month"),
        ("cron(0 3 ? * MON-FRI/2 *)", "day-of-week"),
        ("cron(0 3 ? * MON *", "cron(...) or rate(...)"),
        ("every day", "cron(...) or rate(...)"),
    ],
)
def test_schedules_eventbridge_refuses_are_refused(schedule: str, reason: str | None) -> None:
    if reason is None:
        assert load_environment(model_with_schedule(schedule), "dev").models[0].schedule == schedule
        return
    with pytest.raises(ConfigError) as caught:
        load_environment(model_with_schedule(schedule), "dev")
    assert caught.value.path == "platform.environments.dev.models[0].schedule"
    assert caught.value.value == schedule
    assert reason in caught.value.expected


def test_tracking_server_versions_are_the_documented_ones() -> None:
    # SageMaker Developer Guide, "Integrate MLflow with your environment": tracking servers run
    # MLflow 2.13.x, 2.16.x or 3.0.x.
    for version in ("2.13", "2.16", "3.0"):
        config = load_environment(platform_with({"mlflow": {"version": version}}), "dev")
        assert config.mlflow.version == version
    assert load_environment(platform_with({}), "dev").mlflow.version == "3.0"


@pytest.mark.parametrize("version", ["2.15", "3.1", "4.0", "3", "3.0.0.1", "latest"])
def test_undocumented_tracking_server_versions_are_refused(version: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(platform_with({"mlflow": {"version": version}}), "dev")
    assert caught.value.path == "platform.environments.dev.mlflow.version"
    assert "2.13, 2.16, 3.0" in caught.value.expected


def test_an_mlflow_app_takes_no_version() -> None:
    # AWS::SageMaker::MlflowApp and CreateMlflowApp have no MLflow version property.
    config = load_environment(platform_with({"mlflow": {"kind": "app"}}), "dev")
    assert config.mlflow.version is None
    with pytest.raises(ConfigError) as caught:
        load_environment(platform_with({"mlflow": {"kind": "app", "version": "3.0"}}), "dev")
    assert caught.value.path == "platform.environments.dev.mlflow.version"
    assert "MLflow App" in caught.value.expected


def staging_with(environment: dict[str, Any], platform_prefix: str = "mlops") -> dict[str, Any]:
    return {"prefix": platform_prefix, "environments": {"staging": environment}}


def test_a_prefix_too_long_for_the_bucket_names_is_refused_with_the_count_to_remove() -> None:
    # prefix-staging-mlflow-artifacts-<12-digit account>-<region>, the region at its longest
    # supported name (14 characters): 63 allows a 10-character prefix in staging.
    with pytest.raises(ConfigError) as caught:
        load_environment(staging_with({"prefix": "p" * 13}), "staging")
    assert caught.value.path == "platform.environments.staging.prefix"
    assert "S3 bucket name" in caught.value.expected
    assert "at most 63" in caught.value.expected
    assert "remove 3 characters" in caught.value.expected
    assert load_environment(staging_with({"prefix": "p" * 10}), "staging").prefix == "p" * 10


def test_the_platform_prefix_is_named_when_the_environment_inherits_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(staging_with({}, platform_prefix="p" * 11), "staging")
    assert caught.value.path == "platform.prefix"
    assert "remove 1 character " in caught.value.expected


def test_a_pinned_region_counts_at_its_own_length() -> None:
    # us-east-1 is 9 characters: the staging prefix may be 15 instead of 10.
    pinned = {"account": "123456789012", "region": "us-east-1", "prefix": "p" * 15}
    assert load_environment(staging_with(pinned), "staging").prefix == "p" * 15


def test_prefix_and_model_name_together_are_refused_naming_both_keys() -> None:
    # With us-east-1 pinned, a 15-character prefix and a 32-character model make the schedule
    # rule <prefix>-staging-<model>-schedule 65 characters; EventBridge allows 64.
    pinned = {
        "account": "123456789012",
        "region": "us-east-1",
        "prefix": "p" * 15,
        "models": [{"name": "m" * 32, "schedule": "rate(1 day)"}],
    }
    with pytest.raises(ConfigError) as caught:
        load_environment(staging_with(pinned), "staging")
    assert caught.value.path == (
        "platform.environments.staging.prefix and platform.environments.staging.models[0].name"
    )
    assert "EventBridge rule name" in caught.value.expected
    assert "at most 64" in caught.value.expected
    assert "remove 1 character " in caught.value.expected
    # Without a schedule there is no rule, and the same names fit.
    del pinned["models"][0]["schedule"]  # type: ignore[index]
    assert load_environment(staging_with(pinned), "staging").models[0].name == "m" * 32


@pytest.mark.parametrize(
    ("prefix", "rule"),
    [
        ("xn--ml", "S3 bucket name"),  # S3: bucket names must not start with xn--
        ("sthree-ml", "S3 bucket name"),  # S3: nor with sthree-
        ("awsml", "SSM parameter name"),  # SSM: names must not be prefixed with aws or ssm
        ("ssm-ml", "SSM parameter name"),
    ],
)
def test_prefixes_that_make_reserved_names_are_refused(prefix: str, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(platform_with({"prefix": prefix, "models": [{"name": "churn"}]}), "dev")
    assert caught.value.path.startswith("platform.environments.dev.prefix")
    assert rule in caught.value.expected


@pytest.mark.parametrize("metric", ["auc", "rmse", "Accuracy"])
def test_a_platform_monitored_model_gating_on_a_metric_the_job_cannot_compute_is_refused(metric: str) -> None:
    # Given a model the platform's monitoring job watches (the default), gating on another metric
    platform = platform_with({"models": [{"name": "ab"}, {"name": "churn", "metric": {"name": metric}}]})
    # When the configuration is loaded (as synth does)
    with pytest.raises(ConfigError) as caught:
        load_environment(platform, "dev")
    # Then the error names the metric's key, the value and the metrics the job computes
    assert caught.value.path == "platform.environments.dev.models[1].metric.name"
    assert caught.value.value == metric
    assert "one of accuracy, f1, precision, recall" in str(caught.value)
    assert "platform.environments.dev.models[1].monitoring.engine" in str(caught.value)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "precision", "recall"])
def test_each_metric_the_monitoring_job_computes_is_accepted(metric: str) -> None:
    (model,) = load_environment(
        platform_with({"models": [{"name": "churn", "metric": {"name": metric}}]}), "dev"
    ).models
    assert (model.metric.name, model.monitoring.platform) == (metric, True)


@pytest.mark.parametrize(
    "monitoring",
    [{"engine": "model-monitor"}, {"enabled": False}],
    ids=["model-monitor", "monitoring-off"],
)
def test_any_metric_is_accepted_where_the_platforms_job_does_not_watch_the_model(monitoring: dict[str, Any]) -> None:
    # Given a model gating on auc whose quality the platform's monitoring job does not compute
    (model,) = load_environment(with_monitoring(monitoring, metric={"name": "auc"}), "dev").models
    # Then it loads: only the platform's job is limited to its four metrics
    assert (model.metric.name, model.monitoring.platform) == ("auc", False)
