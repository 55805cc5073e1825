"""What a request may make the pipeline do: read the model's own data, with the configured resources.

Whoever may put a RetrainingRequested event on the bus may ask for a run. The trigger passes the
pipeline three parameters only (InputDataUri, TriggerReason, TriggerEventId); instance types and
count and the metric threshold keep the values the model's configuration gave the pipeline. A
requested inputDataUri must lie under the model's data prefix in the platform's data bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from platform_common import domain_events
from retraining_trigger import handler, keys, pipeline
from stacks import pipeline_definition
from tests.handlers.conftest import example_settings, load_event, put_catalog
from tests.handlers.trigger_platform import (
    CHURN_PREFIX,
    DATA_BUCKET,
    Platform,
    build_platform,
    object_created,
    retraining_requested,
)

TRIGGER_PARAMETERS = {pipeline.PARAM_INPUT_DATA_URI, pipeline.PARAM_TRIGGER_REASON, pipeline.PARAM_TRIGGER_EVENT_ID}


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def platform(aws: None, handler_env: None, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return build_platform(monkeypatch)


# Where a requested run may read


@pytest.mark.parametrize(
    "uri",
    [
        f"{CHURN_PREFIX}2025-02-relabelled/",
        CHURN_PREFIX,
        f"{CHURN_PREFIX}year=2025/month=02/customers.csv",
    ],
    ids=["folder", "whole-prefix", "one-object"],
)
def test_a_request_may_name_data_under_the_models_prefix(platform: Platform, uri: str) -> None:
    result = platform.invoke(retraining_requested(model="churn", reason="relabelled", inputDataUri=uri))
    assert result["outcome"] == "started"
    assert platform.parameters(result["executionArn"])[pipeline.PARAM_INPUT_DATA_URI] == uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        pytest.param("s3://someone-elses-bucket/datasets/churn/x/", "not in the platform's data bucket", id="bucket"),
        pytest.param(f"s3://{DATA_BUCKET}/datasets/fraud/2025-03-01/", "not under the model's data prefix", id="model"),
        pytest.param(
            f"s3://{DATA_BUCKET}/datasets/churn-archive/x/", "not under the model's data prefix", id="lookalike"
        ),
        pytest.param(f"s3://{DATA_BUCKET}/pipelines/churn/", "not under the model's data prefix", id="not-datasets"),
        pytest.param(f"s3://{DATA_BUCKET}/", "not under the model's data prefix", id="bucket-root"),
        pytest.param(f"{CHURN_PREFIX}../fraud/", "'..' path segment", id="dot-dot"),
        pytest.param(f"{CHURN_PREFIX}a//b/", "empty, '.' or '..' path segment", id="empty-segment"),
    ],
)
def test_a_request_for_data_outside_the_models_prefix_is_refused(platform: Platform, uri: str, why: str) -> None:
    # Given a person asking for a run on data that is not the model's
    event = retraining_requested(model="churn", reason="try this", inputDataUri=uri)

    # When it is handled
    result = platform.invoke(event)

    # Then nothing starts, and the rejection names the field, the value, why and what is allowed
    assert (result["outcome"], result["reason"]) == ("rejected", "input-outside-model-data")
    assert "detail.inputDataUri" in result["message"]
    assert repr(uri) in result["message"]
    assert why in result["message"]
    assert f"expected a location under {CHURN_PREFIX}" in result["message"]
    assert result["allowedPrefix"] == CHURN_PREFIX
    assert platform.executions() == []
    [rejected] = platform.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert rejected["detail"]["model"] == "churn"
    assert rejected["detail"]["allowedPrefix"] == CHURN_PREFIX


def test_a_request_cannot_reach_a_model_nested_under_another(platform: Platform) -> None:
    # Given a catalog where one model's prefix lies inside another's (validation forbids it; the trigger does not rely on that)
    put_catalog(example_settings("churn"), example_settings("churn-eu", data_prefix="datasets/churn/eu/"))

    # When churn's run is asked to read churn-eu's data
    result = platform.invoke(
        retraining_requested(model="churn", reason="x", inputDataUri=f"{CHURN_PREFIX}eu/2025-03-01/")
    )

    # Then it is refused, naming the owner
    assert (result["outcome"], result["reason"]) == ("rejected", "input-outside-model-data")
    assert "model churn-eu's data prefix" in result["message"]
    assert platform.executions() == []


def test_outside_reason_accepts_exactly_the_prefix_and_below() -> None:
    assert keys.outside_reason(f"s3://{DATA_BUCKET}/datasets/churn/", DATA_BUCKET, "datasets/churn/") is None
    assert keys.outside_reason(f"s3://{DATA_BUCKET}/datasets/churn/a/b.csv", DATA_BUCKET, "datasets/churn/") is None
    assert keys.outside_reason(f"s3://{DATA_BUCKET}/datasets/churn", DATA_BUCKET, "datasets/churn/") is not None
    assert keys.outside_reason(f"https://{DATA_BUCKET}/datasets/churn/", DATA_BUCKET, "datasets/churn/") is not None


# What a request may set


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        pytest.param("TrainingInstanceType", "ml.p4d.24xlarge", "come from the model's configuration", id="type"),
        pytest.param("trainingInstanceCount", 20, "come from the model's configuration", id="count"),
        pytest.param("ProcessingInstanceType", "ml.m5.24xlarge", "come from the model's configuration", id="proc"),
        pytest.param("MetricThreshold", 0.1, "come from the model's configuration", id="threshold"),
        pytest.param("pipelineParameters", [{"Name": "MetricThreshold", "Value": "0"}], "configuration", id="params"),
        pytest.param("inputDataURI", f"{CHURN_PREFIX}x/", "did you mean inputDataUri?", id="misspelt-uri"),
    ],
)
def test_a_request_that_sets_anything_else_is_refused_by_field(
    platform: Platform, field: str, value: Any, hint: str
) -> None:
    # Given a request that tries to choose the pipeline's resources or threshold (or misspells a field)
    event = retraining_requested(model="churn", reason="bigger please", **{field: value})

    # When it is handled
    result = platform.invoke(event)

    # Then nothing starts, and the rejection names the field, what is accepted and where such settings live
    assert (result["outcome"], result["reason"]) == ("rejected", "field-not-accepted")
    assert f"detail.{field}" in result["message"]
    assert "accepted: model, reason, inputDataUri, requestedBy" in result["message"]
    assert hint in result["message"]
    assert platform.executions() == []
    [rejected] = platform.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(lambda: object_created("datasets/churn/2025-03-14/a.csv", event_id="d"), id="data"),
        pytest.param(lambda: load_event("cloudwatch_alarm_alarm"), id="quality"),
        pytest.param(lambda: load_event("scheduled_event"), id="schedule"),
        pytest.param(lambda: load_event("retraining_requested"), id="manual"),
    ],
)
def test_no_run_is_given_resources_or_a_threshold(platform: Platform, event: Callable[[], dict[str, Any]]) -> None:
    result = platform.invoke(event())
    assert result["outcome"] == "started"
    assert set(platform.parameters(result["executionArn"])) == TRIGGER_PARAMETERS


def test_the_trigger_and_the_pipeline_agree_on_parameter_names() -> None:
    """The three the trigger passes and the four it never passes are exactly what the pipeline declares."""
    assert (pipeline.PARAM_INPUT_DATA_URI, pipeline.PARAM_TRIGGER_REASON, pipeline.PARAM_TRIGGER_EVENT_ID) == (
        pipeline_definition.PARAM_INPUT_DATA_URI,
        pipeline_definition.PARAM_TRIGGER_REASON,
        pipeline_definition.PARAM_TRIGGER_EVENT_ID,
    )
    assert set(pipeline.CONFIGURED_PARAMETERS) == {
        pipeline_definition.PARAM_TRAINING_INSTANCE_TYPE,
        pipeline_definition.PARAM_TRAINING_INSTANCE_COUNT,
        pipeline_definition.PARAM_PROCESSING_INSTANCE_TYPE,
        pipeline_definition.PARAM_METRIC_THRESHOLD,
    }
