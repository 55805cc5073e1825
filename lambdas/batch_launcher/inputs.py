"""Which objects under `inference/<model>/` a transform job scores: the input files new since the last job.

Input files follow the retraining trigger's rules for data drops: folder markers, empty objects,
names starting with `.` or `_` (`_SUCCESS` and other markers) and temporary uploads (`*.tmp`,
`*.part`, `*.crc`, `_temporary/` paths) are neither a reason to start a job nor scored.

Each job scores only what arrived since the previous one. The launcher keeps a watermark, the
newest LastModified among the files it handed to a job and the keys carrying exactly that time
(ListObjectsV2 reports LastModified to the second, so a file landing in the same second is told
apart by its key), and lists the prefix for files past it. The files go to the job in a manifest
(S3DataType ManifestFile): "a JSON file with the following format: [ {"prefix":
"s3://customer_bucket/some/prefix/"}, "relative/path/to/custdata-1", ...]" (SageMaker API
Reference, "TransformS3DataSource",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformS3DataSource.html). The
manifest is written under `batch-manifests/<model>/`, a prefix only the launcher writes, so
nobody can change what a job scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from platform_common import monitoring

_TEMPORARY_SUFFIXES = (".tmp", ".part", ".crc")


def is_input_file(key: str, size: int | None) -> bool:
    """Whether an object `key` (of `size` bytes, when known) is a batch input file."""
    if key.endswith("/") or size == 0:
        return False
    parts = key.split("/")
    if "_temporary" in parts or parts[-1].startswith((".", "_")):
        return False
    return not parts[-1].endswith(_TEMPORARY_SUFFIXES)


@dataclass(frozen=True)
class Watermark:
    """The newest input already handed to a job: its LastModified and every key with exactly that time."""

    last_modified: datetime
    keys: tuple[str, ...]

    def covers(self, key: str, last_modified: datetime) -> bool:
        """Whether the object was handed to a job already (or is older than what was)."""
        if last_modified != self.last_modified:
            return last_modified < self.last_modified
        return key in self.keys


@dataclass(frozen=True)
class NewInputs:
    """The input files past the watermark (full keys, sorted) and the watermark once they are scored."""

    keys: tuple[str, ...]
    watermark: Watermark | None


def new_inputs(s3: Any, bucket: str, model: str, watermark: Watermark | None) -> NewInputs:
    """The input files under `inference/<model>/` that no job was given yet."""
    prefix = monitoring.inference_prefix(model)
    found: list[tuple[str, datetime]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key, modified = str(item["Key"]), item["LastModified"]
            if not is_input_file(key, int(item.get("Size", 0))):
                continue
            if watermark is None or not watermark.covers(key, modified):
                found.append((key, modified))
    if not found:
        return NewInputs((), watermark)
    newest = max(modified for _, modified in found)
    at_newest = {key for key, modified in found if modified == newest}
    if watermark is not None and watermark.last_modified == newest:
        at_newest |= set(watermark.keys)
    return NewInputs(tuple(sorted(key for key, _ in found)), Watermark(newest, tuple(sorted(at_newest))))


def manifest_body(bucket: str, model: str, keys: tuple[str, ...]) -> bytes:
    """The manifest naming `keys` relative to `s3://<bucket>/inference/<model>/`."""
    prefix = monitoring.inference_prefix(model)
    relative = [key.removeprefix(prefix) for key in keys]
    return json.dumps([{"prefix": f"s3://{bucket}/{prefix}"}, *relative], indent=1).encode()


def write_manifest(s3: Any, bucket: str, model: str, job_name: str, keys: tuple[str, ...]) -> str:
    """Write the job's manifest (overwriting one an earlier attempt left) and return its S3 URI."""
    key = monitoring.batch_manifest_key(model, job_name)
    s3.put_object(Bucket=bucket, Key=key, Body=manifest_body(bucket, model, keys), ContentType="application/json")
    return f"s3://{bucket}/{key}"
