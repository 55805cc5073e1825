"""Serving modes: realtime (default), serverless, batch, and batch beside an endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, load_environment

MODEL_PATH = "platform.environments.dev.models[0]"


def load_model(model: dict[str, Any]) -> Any:
    (loaded,) = load_environment({"environments": {"dev": {"models": [model]}}}, "dev").models
    return loaded


def test_given_no_serving_key_when_loaded_then_the_model_is_realtime_without_batch() -> None:
    model = load_model({"name": "churn"})
    assert model.serving == "realtime"
    assert model.has_endpoint is True
    assert model.batch is None
    assert model.endpoint.serverless is None


def test_given_the_older_endpoint_serverless_key_when_loaded_then_the_model_is_serverless() -> None:
    model = load_model(
        {
            "name": "churn",
            "endpoint": {"serverless": {"memory_size_mb": 3072}},
            "deployment": {"strategy": "all-at-once"},
        }
    )
    assert model.serving == "serverless"
    assert model.endpoint.serverless is not None
    assert model.endpoint.serverless.memory_size_mb == 3072


def test_given_serving_serverless_without_settings_when_loaded_then_the_serverless_defaults_apply() -> None:
    model = load_model({"name": "churn", "serving": "serverless", "deployment": {"strategy": "all-at-once"}})
    assert model.endpoint.serverless is not None
    assert model.endpoint.serverless.memory_size_mb == 2048
    assert model.endpoint.serverless.max_concurrency == 5


def test_given_a_batch_model_when_loaded_then_it_has_no_endpoint_and_the_batch_defaults() -> None:
    model = load_model({"name": "scores", "serving": "batch", "batch": {}})
    assert model.serving == "batch"
    assert model.has_endpoint is False
    assert model.batch is not None
    assert model.batch.instance_type == "ml.m5.large"
    assert model.batch.instance_count == 1
    assert model.batch.max_concurrent_transforms == 1
    assert model.batch.max_payload_mb == 6
    assert model.batch.schedule is None
    assert model.batch.content_type == "text/csv"
    assert model.batch.split_type == "Line"


def test_given_batch_beside_a_realtime_endpoint_when_loaded_then_both_are_kept() -> None:
    model = load_model(
        {
            "name": "churn",
            "batch": {"instance_type": "ml.c5.xlarge", "instance_count": 2, "schedule": "cron(0 4 * * ? *)"},
        }
    )
    assert model.serving == "realtime"
    assert model.has_endpoint is True
    assert model.batch is not None
    assert model.batch.instance_type == "ml.c5.xlarge"
    assert model.batch.instance_count == 2
    assert model.batch.schedule == "cron(0 4 * * ? *)"


@pytest.mark.parametrize(
    ("model", "path", "expected"),
    [
        ({"serving": "stream"}, f"{MODEL_PATH}.serving", "one of realtime, serverless, batch"),
        ({"serving": "batch"}, f"{MODEL_PATH}.batch", "batch settings"),
        (
            {"serving": "batch", "batch": {}, "endpoint": {"instance_count": 2}},
            f"{MODEL_PATH}.endpoint",
            "no endpoint settings for a batch model",
        ),
        (
            {"serving": "batch", "batch": {}, "deployment": {"strategy": "linear"}},
            f"{MODEL_PATH}.deployment",
            "no deployment settings for a batch model",
        ),
        (
            {"serving": "realtime", "endpoint": {"serverless": {}}},
            f"{MODEL_PATH}.serving",
            "serverless (or no serving key)",
        ),
        (
            {"batch": {"instance_type": "ml.t3.medium"}},
            f"{MODEL_PATH}.batch.instance_type",
            "an instance type CreateTransformJob accepts",
        ),
        ({"batch": {"instance_count": 0}}, f"{MODEL_PATH}.batch.instance_count", "1"),
        ({"batch": {"max_payload_mb": 101}}, f"{MODEL_PATH}.batch.max_payload_mb", "100"),
        ({"batch": {"max_concurrent_transforms": 0}}, f"{MODEL_PATH}.batch.max_concurrent_transforms", "1"),
        ({"batch": {"schedule": "cron(0 4 * * MON *)"}}, f"{MODEL_PATH}.batch.schedule", "?"),
        ({"batch": {"content_type": "application/json"}}, f"{MODEL_PATH}.batch.content_type", "one of text/csv"),
        ({"batch": {"split_type": "None"}}, f"{MODEL_PATH}.batch.split_type", "one of Line"),
        ({"batch": {"instance_typ": "ml.m5.large"}}, f"{MODEL_PATH}.batch.instance_typ", ""),
        ({"batch": "yes"}, f"{MODEL_PATH}.batch", "an object"),
    ],
)
def test_bad_serving_settings_name_the_key_and_what_is_allowed(model: dict[str, Any], path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_model({"name": "churn", **model})
    assert raised.value.path == path
    assert expected in raised.value.expected


def test_concurrent_transforms_times_payload_above_100_mb_names_the_key() -> None:
    """ "If you specify the MaxConcurrentTransforms parameter, the value of (MaxConcurrentTransforms *
    MaxPayloadInMB) also cannot exceed 100 MB" (SageMaker API Reference, "CreateTransformJob",
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html)."""
    with pytest.raises(ConfigError) as raised:
        load_model({"name": "churn", "batch": {"max_concurrent_transforms": 4, "max_payload_mb": 26}})
    assert raised.value.path == f"{MODEL_PATH}.batch.max_payload_mb"
    assert "at most 25" in raised.value.expected


def test_concurrent_transforms_times_payload_of_exactly_100_mb_is_accepted() -> None:
    model = load_model({"name": "churn", "batch": {"max_concurrent_transforms": 4, "max_payload_mb": 25}})
    assert model.batch is not None
    assert (model.batch.max_concurrent_transforms, model.batch.max_payload_mb) == (4, 25)
