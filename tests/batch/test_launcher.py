"""The batch launcher's core: one job at a time per model, each on the inputs new since the last one.

SageMaker, S3 and DynamoDB are moto (`tests.batch.world`). The manifest format is the one the
SageMaker API Reference gives for S3DataType ManifestFile ("TransformS3DataSource",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformS3DataSource.html): a
`{"prefix": ...}` element followed by keys relative to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from batch_launcher.requests import INPUT_FILTER, JOIN_SOURCE, OUTPUT_FILTER
from moto import mock_aws

from platform_common import domain_events
from tests.batch.world import BUCKET, KEY_ARN, REGION, ROLE_ARN, BatchWorld
from tests.handlers.clients import POOL


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[BatchWorld]:
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    with mock_aws(), POOL.lend():
        yield BatchWorld()


@pytest.fixture
def champion(world: BatchWorld) -> str:
    arn = world.package()
    world.record_champion(arn)
    return arn


def types(world: BatchWorld) -> list[str]:
    return [event.detail_type for event in world.published]


def test_given_a_champion_when_the_same_drop_is_delivered_twice_then_one_job_scores_the_new_files(
    world: BatchWorld, champion: str
) -> None:
    # Given two input files and a marker file
    world.land("2026-11-28/a.csv", "2026-11-28/b.csv", "2026-11-28/_SUCCESS")
    # When one Object Created event arrives twice
    first, second = world.drop("evt-1"), world.drop("evt-1")
    # Then exactly one transform job runs the champion's model over a manifest of the two files
    (job,) = world.jobs()
    assert (first.action, second.action) == ("started", "duplicate")
    assert job["ModelName"] == "mlops-dev-scores-v1"
    source = job["TransformInput"]["DataSource"]["S3DataSource"]
    assert source == {
        "S3DataType": "ManifestFile",
        "S3Uri": f"s3://{BUCKET}/batch-manifests/scores/{job['TransformJobName']}.json",
    }
    assert world.manifest(job) == [
        {"prefix": f"s3://{BUCKET}/inference/scores/"},
        "2026-11-28/a.csv",
        "2026-11-28/b.csv",
    ]
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/predictions/scores/{job['TransformJobName']}/"
    assert job["TransformOutput"]["KmsKeyId"] == KEY_ARN
    assert job["TransformResources"]["VolumeKmsKeyId"] == KEY_ARN
    assert job["DataProcessing"] == {
        "InputFilter": INPUT_FILTER,
        "JoinSource": JOIN_SOURCE,
        "OutputFilter": OUTPUT_FILTER,
    }
    assert world.sagemaker.describe_model(ModelName="mlops-dev-scores-v1")["ExecutionRoleArn"] == ROLE_ARN
    assert types(world) == [domain_events.BATCH_TRANSFORM_STARTED]
    assert world.published[0].data["inputFiles"] == 2


def test_given_a_finished_job_when_a_new_file_lands_then_the_next_job_scores_only_that_file(
    world: BatchWorld, champion: str
) -> None:
    # Given a job that scored a.csv and ended
    world.land("a.csv")
    world.drop("evt-1")
    (first,) = world.jobs()
    world.end("end-1", first["TransformJobName"])
    # When b.csv lands
    world.land("b.csv")
    outcome = world.drop("evt-2")
    # Then the second job's manifest names b.csv alone
    assert outcome.action == "started"
    (second,) = [job for job in world.jobs() if job["TransformJobName"] != first["TransformJobName"]]
    assert world.manifest(second)[1:] == ["b.csv"]


def test_given_nothing_new_when_the_schedule_fires_then_nothing_starts_and_the_skip_says_so(
    world: BatchWorld, champion: str
) -> None:
    world.land("a.csv")
    world.drop("evt-1")
    world.end("end-1", world.jobs()[0]["TransformJobName"])
    world.published.clear()

    outcome = world.drop("schedule-1")

    assert outcome.action == "skipped"
    assert outcome.reason.startswith("no new input file under inference/scores/ since ")
    assert len(world.jobs()) == 1
    assert types(world) == [domain_events.BATCH_TRANSFORM_SKIPPED]


def test_given_no_champion_record_when_a_file_drops_then_nothing_starts_and_the_file_waits(world: BatchWorld) -> None:
    world.land("a.csv")

    outcome = world.drop("evt-1")

    assert outcome.action == "skipped"
    assert "has recorded no champion of 'scores'" in outcome.reason
    assert world.jobs() == []
    assert types(world) == [domain_events.BATCH_TRANSFORM_SKIPPED]
    # And once the deployer records one, the waiting file is scored
    world.record_champion(world.package())
    assert world.drop("evt-2").action == "started"
    assert world.manifest(world.jobs()[0])[1:] == ["a.csv"]


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ({"approved": False}, "is PendingManualApproval, not Approved"),
        ({"verified": False}, "failed the provenance check"),
        ({"group": "scores-fff999"}, "not a version of this platform's group 'scores-abc123'"),
    ],
)
def test_a_recorded_champion_that_fails_the_deployers_checks_starts_nothing(
    world: BatchWorld, package: dict[str, Any], expected: str
) -> None:
    world.land("a.csv")
    world.record_champion(world.package(**package))

    outcome = world.drop("evt-1")

    assert outcome.action == "skipped"
    assert expected in outcome.reason
    assert world.jobs() == []


class CrashAfterCreate:
    """A SageMaker client whose CreateTransformJob succeeds and then the function dies."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_transform_job(self, **request: Any) -> Any:
        self._client.create_transform_job(**request)
        raise TimeoutError("the function timed out after CreateTransformJob")


class FailCreate(CrashAfterCreate):
    def create_transform_job(self, **request: Any) -> Any:
        raise TimeoutError("the function timed out before CreateTransformJob")


def test_given_a_crash_after_the_job_started_when_the_event_is_retried_then_the_job_is_adopted_not_doubled(
    world: BatchWorld, champion: str
) -> None:
    world.land("a.csv")
    with pytest.raises(TimeoutError):
        world.drop("evt-1", world.launcher(CrashAfterCreate(world.sagemaker)))

    retried = world.drop("evt-1")

    assert retried.action == "adopted"
    assert len(world.jobs()) == 1
    # And the adopted job's inputs count as scored: nothing new remains
    world.end("end-1", world.jobs()[0]["TransformJobName"])
    assert world.drop("schedule-1").action == "skipped"


def test_given_a_crash_before_the_job_started_when_the_event_is_retried_then_one_job_scores_the_files(
    world: BatchWorld, champion: str
) -> None:
    world.land("a.csv")
    with pytest.raises(TimeoutError):
        world.drop("evt-1", world.launcher(FailCreate(world.sagemaker)))
    assert world.jobs() == []

    retried = world.drop("evt-1")

    assert retried.action == "started"
    (job,) = world.jobs()
    assert world.manifest(job)[1:] == ["a.csv"]


def test_given_a_running_job_when_two_files_drop_then_one_trailing_job_scores_both(
    world: BatchWorld, champion: str
) -> None:
    # Given a running transform job over a.csv
    world.land("a.csv")
    world.drop("evt-1")
    (running,) = world.jobs()
    name = running["TransformJobName"]
    world.set_status(name, "InProgress")
    # When two more files drop while it runs
    world.land("b.csv")
    b = world.drop("evt-2").action
    world.land("c.csv")
    c = world.drop("evt-3").action
    # Then they wait, and nothing else starts yet
    assert (b, c) == ("coalesced", "coalesced")
    assert len(world.jobs()) == 1
    # When the running job's end is delivered (twice)
    world.set_status(name, "Completed")
    first, again = world.end("end-1", name), world.end("end-1", name)
    # Then exactly one trailing job starts, with the champion, over the two new files
    assert (first.action, again.action) == ("trailing_started", "ignored")
    (trailing,) = [job for job in world.jobs() if job["TransformJobName"] != name]
    assert world.manifest(trailing)[1:] == ["b.csv", "c.csv"]
    assert domain_events.BATCH_TRANSFORM_COMPLETED in first.published
