"""The batch launcher as Lambda runs it, and a batch model from approval to transform job.

Events are written from the documented shapes: S3's "Object Created" (Amazon S3 User Guide,
"EventBridge event message structure", https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html:
`detail.bucket.name`, `detail.object.{key,size,etag,version-id,sequencer}`, `detail.reason`) and
SageMaker's "SageMaker Transform Job State Change" (listed in SageMaker Developer Guide, "Events
that Amazon SageMaker AI sends to Amazon EventBridge",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html; its
detail carries DescribeTransformJob's fields, SageMaker API Reference, "DescribeTransformJob",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html). The
launcher acts on DescribeTransformJob's answer, never on the event's status alone.

The end-to-end tests run the deployer's handler on an approval (`tests.handlers.test_deployer`'s
world: moto SageMaker with endpoint statuses, pipeline evidence, a fake MLflow), then deliver a
data drop through the environment's synthesized EventBridge rules (moto's pattern matcher, as
tests/infra/test_batch_routing.py does) to the launcher's handler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from batch_launcher import handler as launcher_handler
from botocore.exceptions import ClientError

from deployer.endpoint import PROMOTED_PACKAGE_TAG
from platform_common import domain_events, env_names, runtime
from platform_common.catalog import BatchSettings
from platform_common.champion_record import ChampionRecords
from tests.batch.world import BATCH, KEY_ARN
from tests.cfn import Resolver
from tests.handlers.conftest import ACCOUNT, LOCK_TABLE, REGION, FakeLambdaContext, example_settings, load_event
from tests.handlers.test_deployer import ENDPOINT, World, arn, build_world
from tests.infra.routing import RoutingWorld, synthesized_rules
from tests.synth import synth

DATA_BUCKET = f"mlops-dev-data-{ACCOUNT}-{REGION}"
INPUT_RULE = "mlops-dev-batch-input-landed"
END_RULE = "mlops-dev-transform-job-ended"


def batch_platform() -> dict[str, Any]:
    """An environment with a realtime model (churn), a batch-only one (scores) and one with both (fraud)."""
    return {
        "prefix": "mlops",
        "environments": {
            "dev": {
                "models": [
                    {"name": "churn"},
                    {"name": "scores", "serving": "batch", "batch": {}},
                    {"name": "fraud", "batch": {"schedule": "cron(0 4 * * ? *)"}},
                ]
            }
        },
    }


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    """The synthesized rules on the default bus (where S3 and SageMaker deliver): name -> {pattern, bus}."""
    _, built = synth("dev", batch_platform())
    templates = {unit: template.to_json() for unit, template in built.items()}
    found = synthesized_rules(templates, Resolver(templates))
    return {name: rule for name, rule in found.items() if rule["bus"] == "default"}


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def deliver(rules: dict[str, dict[str, Any]], event: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Put `event` on the default bus of moto EventBridge holding `rules`; returns what each matching rule delivered."""
    world = RoutingWorld(rules)
    world.put(event)
    return world.matched()


def batch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the automation stack gives the launcher besides every handler's environment."""
    monkeypatch.setenv(env_names.DATA_BUCKET_NAME, DATA_BUCKET)
    monkeypatch.setenv(env_names.DATA_KEY_ARN, KEY_ARN)
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def world_for(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> World:
    world = build_world(monkeypatch, example_settings("churn", **settings))
    batch_env(monkeypatch)
    return world


def drop(key: str, event_id: str = "3f6c1e2a-8b4d-4f0e-9c71-5a2d8e6b4c10") -> dict[str, Any]:
    """Land an object in the data bucket and return S3's Object Created event for it."""
    s3 = boto3.client("s3", region_name=REGION)
    put = s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"id-1,42,0.3\n")
    event = load_event("s3_object_created")
    event["id"] = event_id
    event["detail"]["object"].update(key=key, size=12, etag=put["ETag"].strip('"'))
    return event


def launch(event: dict[str, Any]) -> dict[str, Any]:
    return dict(launcher_handler.lambda_handler(event, FakeLambdaContext()))


def transform_jobs() -> list[dict[str, Any]]:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    names = [j["TransformJobName"] for j in sagemaker.list_transform_jobs()["TransformJobSummaries"]]
    return [sagemaker.describe_transform_job(TransformJobName=name) for name in names]


def endpoints() -> list[str]:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    return [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]


# --- end to end: approval, then a data drop through the synthesized rules ---------------------


def test_a_batch_models_approval_and_data_drop_start_exactly_one_transform_job_with_the_champion(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch, rules: dict[str, Any]
) -> None:
    # Given a batch-only model whose verified package v1 is approved
    world = world_for(monkeypatch, serves_endpoint=False, batch=BATCH)
    version = world.register()
    approval = world.invoke(world.approve(version))
    # Then the deployer makes it champion, records it, and creates no endpoint
    assert approval["action"] == "promoted"
    assert world.champion() == "1"
    record = ChampionRecords(model_locks, LOCK_TABLE).read("churn")
    assert record is not None
    assert (record.package_arn, record.version) == (arn(1), 1)
    assert endpoints() == []
    assert transform_jobs() == []
    # When a data file lands and S3's event goes through the environment's rules
    delivered = deliver(rules, drop("inference/churn/2026-11-28.csv"))
    # Then only the batch rules take it, and the launcher starts exactly one job on the champion's model
    assert INPUT_RULE in delivered
    assert "mlops-dev-data-landed" not in delivered
    outcome = launch(delivered[INPUT_RULE][0])
    (job,) = transform_jobs()
    assert outcome["action"] == "started"
    assert job["ModelName"] == "mlops-dev-churn-v1"
    model = boto3.client("sagemaker", region_name=REGION).describe_model(ModelName="mlops-dev-churn-v1")
    assert model["Containers"] == [{"ModelPackageName": arn(1)}]
    assert endpoints() == []


def test_a_realtime_models_approval_and_data_drop_start_no_transform_job(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch, rules: dict[str, Any]
) -> None:
    # Given a realtime model without batch, whose approval the deployer puts on an endpoint
    world = world_for(monkeypatch)
    approval = world.invoke(world.approve(world.register()))
    assert approval["action"] == "created"
    assert endpoints() == [ENDPOINT]
    assert ChampionRecords(model_locks, LOCK_TABLE).read("churn") is None
    # When a file lands under its inference prefix
    delivered = deliver(rules, drop("inference/churn/2026-11-28.csv"))
    outcome = launch(delivered[INPUT_RULE][0])
    # Then nothing starts, and the rejection names the model and why
    assert outcome["action"] == "event_rejected"
    assert outcome["reason"] == "model 'churn' has no batch transform configured; nothing was started"
    assert transform_jobs() == []


def test_a_model_with_endpoint_and_batch_keeps_its_endpoint_path_and_batch_runs_the_endpoints_champion(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch, rules: dict[str, Any]
) -> None:
    # Given a realtime model with batch beside it
    world = world_for(monkeypatch, batch=BATCH)
    version = world.register()
    # When it is approved: the endpoint path is the realtime one (create, then promote on InService)
    created = world.invoke(world.approve(version))
    assert created["action"] == "created"
    assert world.champion() is None
    assert transform_jobs() == []
    world.sagemaker.finish(ENDPOINT)
    promoted = world.invoke(world.endpoint_event("InService"))
    assert promoted["action"] == "promoted"
    assert world.endpoint_tags()[PROMOTED_PACKAGE_TAG] == arn(1)
    assert ChampionRecords(model_locks, LOCK_TABLE).read("churn") is None
    # And a data drop runs one transform job on the package the endpoint's champion tag names
    delivered = deliver(rules, drop("inference/churn/2026-11-28.csv"))
    outcome = launch(delivered[INPUT_RULE][0])
    (job,) = transform_jobs()
    assert outcome["action"] == "started"
    assert job["ModelName"] == "mlops-dev-churn-v1"


def test_moving_the_mlflow_alias_does_not_change_what_a_batch_job_runs(
    aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given v1 champion of a batch-only model, and v2 approved-free in the registry
    world = world_for(monkeypatch, serves_endpoint=False, batch=BATCH)
    world.invoke(world.approve(world.register()))
    world.register()
    # When someone moves MLflow's champion alias to v2 (possible with an MLflow App)
    world.mlflow.aliases[("churn", "champion")] = "2"
    outcome = launch(drop("inference/churn/a.csv"))
    # Then the job still runs the package the deployer recorded
    (job,) = transform_jobs()
    assert outcome["action"] == "started"
    assert job["ModelName"] == "mlops-dev-churn-v1"


# --- the handler on each event it receives ----------------------------------------------------


@pytest.fixture
def batch_world(aws: None, handler_env: None, model_locks: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    world = world_for(monkeypatch, serves_endpoint=False, batch=BATCH)
    world.invoke(world.approve(world.register()))
    world.published()
    return world


def test_an_object_created_event_with_only_the_required_fields_starts_a_job(batch_world: World) -> None:
    event = load_event("s3_object_created_minimal")
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=DATA_BUCKET, Key="inference/churn/a.csv", Body=b"id-1,42\n")
    event["detail"]["bucket"]["name"] = DATA_BUCKET
    event["detail"]["object"] = {"key": "inference/churn/a.csv"}

    outcome = launch(event)

    assert outcome["action"] == "started"
    assert batch_world.published_types() == [domain_events.BATCH_TRANSFORM_STARTED]


def test_a_transform_job_state_change_records_the_end_from_describe_transform_job(batch_world: World) -> None:
    # Given a job the launcher started
    launch(drop("inference/churn/a.csv"))
    (job,) = transform_jobs()
    batch_world.published()
    # When SageMaker's state change arrives for it
    event = load_event("transform_job_completed")
    event["detail"]["TransformJobName"] = job["TransformJobName"]
    event["detail"]["TransformOutput"]["S3OutputPath"] = job["TransformOutput"]["S3OutputPath"]
    outcome = launch(event)
    # Then the job's end is published, with where its predictions are
    assert outcome["action"] == "ended"
    (completed,) = batch_world.published()
    assert completed["detail-type"] == domain_events.BATCH_TRANSFORM_COMPLETED
    assert completed["outputUri"] == job["TransformOutput"]["S3OutputPath"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["detail"].pop("TransformJobName"), "detail.TransformJobName"),
        (lambda e: e["detail"].pop("TransformOutput"), "detail.TransformOutput"),
    ],
)
def test_a_malformed_transform_job_event_is_rejected_naming_the_field(
    batch_world: World, change: Any, field: str
) -> None:
    event = load_event("transform_job_completed")
    change(event)

    outcome = launch(event)

    assert outcome["action"] == "event_rejected"
    (rejected,) = batch_world.published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert [p["field"] for p in rejected["problems"]] == [field]
    assert transform_jobs() == []


def test_an_object_created_in_another_bucket_is_rejected_and_starts_nothing(batch_world: World) -> None:
    event = drop("inference/churn/a.csv")
    event["detail"]["bucket"]["name"] = "someone-elses-bucket"

    outcome = launch(event)

    assert outcome["action"] == "event_rejected"
    assert "is not the data bucket" in outcome["reason"]
    assert transform_jobs() == []


def test_a_marker_file_starts_nothing(batch_world: World) -> None:
    outcome = launch(drop("inference/churn/_SUCCESS"))

    assert outcome["action"] == "ignored"
    assert transform_jobs() == []


def test_an_unknown_model_is_rejected_with_no_side_effects(batch_world: World) -> None:
    outcome = launch(drop("inference/nobody/a.csv"))

    assert outcome["action"] == "event_rejected"
    assert "nobody" in outcome["reason"]
    assert transform_jobs() == []
    with pytest.raises(ClientError):
        boto3.client("s3", region_name=REGION).head_object(Bucket=DATA_BUCKET, Key="batch-manifests/nobody/")


def test_batch_settings_round_trip_through_the_catalog() -> None:
    settings = example_settings("churn", serves_endpoint=False, batch=BATCH)
    assert type(settings).from_mapping(json.loads(settings.to_json())) == settings
    assert isinstance(settings.batch, BatchSettings)
