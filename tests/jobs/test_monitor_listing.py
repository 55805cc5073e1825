"""What a monitoring run lists in S3: capture only from the hour folders its window can touch (jobs/monitoring/listing.py).

Run against moto's S3, whose ListObjectsV2 implements Prefix, Delimiter, StartAfter and key order
as the API documents them (Amazon S3 API Reference, "ListObjectsV2",
https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). Capture keys follow
SageMaker's layout `<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl` (SageMaker Developer
Guide, "Capture data from real-time endpoint", "View Captured Data",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html).

moto stamps every object with the time of the put, so each object here is "last modified" now
and the window (after, until] is put around now: what the listing returns is decided by the key
layout alone, which is what these tests measure.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from jobs.monitoring import listing

BUCKET = "mlops-dev-data-123456789012-eu-west-1"
PREFIX = "monitoring/churn/capture/"
VARIANTS = ("mlops-dev-churn/AllTraffic/", "mlops-dev-churn/Canary/")
HISTORY_HOURS = 24 * 10


def hour_key(variant: str, hour: datetime.datetime, name: str = "part") -> str:
    return f"{PREFIX}{variant}{hour:%Y/%m/%d/%H}/{name}.jsonl"


class Listed:
    """Every key S3 returned to the listing calls, and how many calls were made."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.calls = 0

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        self.keys += [item["Key"] for item in parsed.get("Contents", [])]


@pytest.fixture(scope="module")
def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def _history(now: datetime.datetime) -> Iterator[None]:
    """Ten days of hourly capture for two variants, one file per hour, and one file beside the variants.

    Written once for the module (481 puts); `s3` takes away whatever a test adds.
    """
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }.items():
            patch.setenv(key, value)
        with mock_aws():
            client = boto3.client("s3", region_name="eu-west-1")
            client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            this_hour = now.replace(minute=0, second=0, microsecond=0)
            for variant in VARIANTS:
                for back in range(HISTORY_HOURS):
                    client.put_object(
                        Bucket=BUCKET, Key=hour_key(variant, this_hour - datetime.timedelta(hours=back)), Body=b"{}"
                    )
            client.put_object(Bucket=BUCKET, Key=f"{PREFIX}mlops-dev-churn/notes.jsonl", Body=b"{}")
            yield


@pytest.fixture
def s3(_history: None) -> Iterator[Any]:
    """The capture history through a client of the test's own; objects the test puts are deleted after it."""
    client = boto3.client("s3", region_name="eu-west-1")
    added: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: added.append(params["Key"]))
    yield client
    for key in added:
        client.delete_object(Bucket=BUCKET, Key=key)


def list_window(s3: Any, after: datetime.datetime, until: datetime.datetime) -> tuple[list[str], Listed]:
    listed = Listed()
    s3.meta.events.register("after-call.s3.ListObjectsV2", listed)
    found = listing.capture_objects(s3, BUCKET, PREFIX, after=after, until=until)
    return [item.key for item in found], listed


def hours_of(keys: list[str]) -> set[datetime.datetime]:
    return {hour for key in keys if (hour := listing.hour_of(key[len(PREFIX) + len(VARIANTS[0]) :])) is not None}


def test_a_run_lists_only_the_hours_since_its_watermark_not_the_history(s3: Any, now: datetime.datetime) -> None:
    # Given ten days of capture, and a watermark three hours ago
    after = now - datetime.timedelta(hours=3)
    # When the capture of the window is listed
    found, listed = list_window(s3, after, now + datetime.timedelta(minutes=1))
    # Then S3 returned the hour folders from the watermark's hour, less one hour of delivery allowance, to now
    first = (after - listing.CAPTURE_DELIVERY_ALLOWANCE).replace(minute=0, second=0, microsecond=0)
    expected = {first + datetime.timedelta(hours=n) for n in range(5)}
    assert hours_of(listed.keys) == expected
    # And nothing else: 5 hours x 2 variants, plus the loose file, out of 480 objects
    assert len(listed.keys) == 5 * len(VARIANTS) + 1
    # And the run reads every object in those hours, of both variants
    assert sorted(found) == sorted(
        [hour_key(variant, hour) for variant in VARIANTS for hour in expected]
        + [f"{PREFIX}mlops-dev-churn/notes.jsonl"]
    )


def test_the_lookback_for_late_labels_widens_the_listing_to_its_own_start(s3: Any, now: datetime.datetime) -> None:
    # Given the label join's seven-day lookback (the run passes the earlier of watermark and lookback start)
    after = now - datetime.timedelta(days=7)
    found, listed = list_window(s3, after, now + datetime.timedelta(minutes=1))
    # Then the listing covers those seven days and one hour, and not the three days before
    assert len(hours_of(listed.keys)) == 7 * 24 + 2
    assert min(hours_of(listed.keys)) == (after - datetime.timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    )
    assert len(found) == (7 * 24 + 2) * len(VARIANTS) + 1


def test_a_capture_file_delivered_late_into_the_previous_hour_is_still_read(s3: Any, now: datetime.datetime) -> None:
    # Given a file filed under the hour before the watermark's (an invocation at 10:59 delivered at 11:01)
    after = now.replace(minute=0, second=0, microsecond=0)
    late = hour_key(VARIANTS[0], after - datetime.timedelta(hours=1), "late")
    s3.put_object(Bucket=BUCKET, Key=late, Body=b"{}")
    found, _ = list_window(s3, after - datetime.timedelta(seconds=1), now + datetime.timedelta(minutes=1))
    assert late in found


@pytest.mark.parametrize(
    ("relative", "hour"),
    [
        ("2026/03/01/09/part.jsonl", datetime.datetime(2026, 3, 1, 9, tzinfo=datetime.UTC)),
        ("2026/03/01/9/part.jsonl", None),
        ("2026/13/01/09/part.jsonl", None),
        ("notes.jsonl", None),
    ],
)
def test_only_keys_in_the_documented_hour_layout_have_an_hour(relative: str, hour: datetime.datetime | None) -> None:
    assert listing.hour_of(relative) == hour
