"""Which S3 objects a monitoring run reads, listed so a run's cost follows its window, not the history.

Endpoint data capture is laid out by the hour of the invocation (SageMaker Developer Guide,
"Capture data from real-time endpoint", "View Captured Data",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html: "The
format of the Amazon S3 path is: s3:///{endpoint-name}/{variant-name}/yyyy/mm/dd/hh/filename.jsonl",
"organized based on the hour when the invocation occurred"). ListObjectsV2 (Amazon S3 API
Reference, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html) "returns objects
in lexicographical order based on their key names" in general purpose buckets (the data bucket is
one), and "Amazon S3 starts listing after this specified key" (StartAfter); zero-padded
`yyyy/mm/dd/hh` sorts in time order. So each variant is listed from the first hour
folder the window can touch to the last one, and older hours are never returned.

The same page says "The delivery of capture data to Amazon S3 can require a couple of minutes":
a file's LastModified (what the window compares) comes after the hour it is filed under. The
listing therefore starts CAPTURE_DELIVERY_ALLOWANCE before the window's start. Keys that do not
follow the layout are still read when they sort inside the listed range.

Batch predictions and ground truth have no time layout of their own (one folder per transform
job; labels under any sub-key), so they are listed whole and filtered by LastModified.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# How long after an invocation's hour its capture file may still land. The documented delay is
# "a couple of minutes"; an hour keeps a late delivery inside the listing at the cost of one
# extra hour folder per variant.
CAPTURE_DELIVERY_ALLOWANCE = datetime.timedelta(hours=1)
_HOUR_FOLDER = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


@dataclass(frozen=True)
class Object:
    """One S3 object a run may read."""

    key: str
    modified: datetime.datetime


def _in_window(item: dict[str, Any], after: datetime.datetime, until: datetime.datetime) -> bool:
    return not item["Key"].endswith("/") and after < item["LastModified"] <= until


def prefix_objects(
    s3: Any, bucket: str, prefix: str, *, after: datetime.datetime, until: datetime.datetime
) -> list[Object]:
    """Every object under `prefix` last modified in (after, until], oldest first."""
    found = [
        Object(item["Key"], item["LastModified"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if _in_window(item, after, until)
    ]
    return sorted(found, key=lambda item: (item.modified, item.key))


def _level(s3: Any, bucket: str, prefix: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The folders directly under `prefix` and the objects lying at that level."""
    folders: list[str] = []
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        folders += [entry["Prefix"] for entry in page.get("CommonPrefixes", [])]
        objects += page.get("Contents", [])
    return folders, objects


def hour_of(relative_key: str) -> datetime.datetime | None:
    """The hour folder a key (relative to its variant folder) is filed under, if it follows the layout."""
    match = _HOUR_FOLDER.match(relative_key)
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    try:
        return datetime.datetime(year, month, day, hour, tzinfo=datetime.UTC)
    except ValueError:
        return None


def _variant_objects(
    s3: Any, bucket: str, variant: str, first: datetime.datetime, last: datetime.datetime
) -> Iterator[dict[str, Any]]:
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=variant, StartAfter=f"{variant}{first:%Y/%m/%d/%H}"
    )
    for page in pages:
        for item in page.get("Contents", []):
            hour = hour_of(item["Key"][len(variant) :])
            if hour is not None and hour > last:
                # Every later key is a later hour: nothing past the window's end is listed.
                return
            yield item


def capture_objects(
    s3: Any, bucket: str, prefix: str, *, after: datetime.datetime, until: datetime.datetime
) -> list[Object]:
    """Capture objects under `prefix` (<endpoint>/<variant>/yyyy/mm/dd/hh/...) last modified in (after, until].

    Lists only the hour folders from `after` (less the delivery allowance) to `until`.
    """
    first = (after.astimezone(datetime.UTC) - CAPTURE_DELIVERY_ALLOWANCE).replace(minute=0, second=0, microsecond=0)
    last = until.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    endpoints, items = _level(s3, bucket, prefix)
    for endpoint in endpoints:
        variants, loose = _level(s3, bucket, endpoint)
        items += loose
        for variant in variants:
            items += _variant_objects(s3, bucket, variant, first, last)
    found = [Object(item["Key"], item["LastModified"]) for item in items if _in_window(item, after, until)]
    return sorted(found, key=lambda item: (item.modified, item.key))
