"""Which S3 objects are training data, and which S3 location a run reads.

An object under a model's prefix is *not* data, and is ignored with
a RetrainingIgnored event naming the rule, when:

1. its key ends with ``/`` (a folder marker from a console or a sync tool);
2. its size is 0 (a marker object; an event without a size is not judged on size);
3. any path segment below the data prefix, the file name included, starts with ``_`` or
   ``.``: completion markers (``_SUCCESS``, ``_committed_*``), hidden files (``.DS_Store``),
   checksum files (``.part-0.crc``) and whole staging folders (``_temporary/``,
   ``.spark-staging-*/``, ``_delta_log/``). This is the rule Hadoop and Spark use to hide
   paths from readers, so the training job would not read these objects either;
4. its name ends (any case) with ``.tmp``, ``.temp``, ``.part``, ``.crc`` or ``_$folder$``
   (in-flight uploads, checksums, EMR/Glue folder placeholders).

Keys under no model's prefix are ignored as ``unknown-prefix``; objects in a bucket other
than the data bucket as ``foreign-bucket``.
"""

from __future__ import annotations

TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".crc", "_$folder$")


def non_data_reason(key: str, size: int | None, data_prefix: str) -> str | None:
    """Why the object is not training data (see the module docstring), or None if it is."""
    if key.endswith("/"):
        return "folder marker"
    if size == 0:
        return "empty object"
    relative = key[len(data_prefix) :] if key.startswith(data_prefix) else key
    segments = relative.split("/")
    for segment in segments[:-1]:
        if segment.startswith(("_", ".")):
            return f"under hidden or staging folder {segment!r}"
    name = segments[-1]
    if name.startswith(("_", ".")):
        return f"marker or hidden file {name!r}"
    if name.lower().endswith(TEMPORARY_SUFFIXES):
        return f"temporary file {name!r}"
    return None


def folder_uri(bucket: str, key: str) -> str:
    """`s3://bucket/<key up to and including its last '/'>`: the folder the object landed in."""
    folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    return f"s3://{bucket}/{folder}"


def prefix_uri(bucket: str, prefix: str) -> str:
    """`s3://bucket/prefix`: a model's whole data prefix."""
    return f"s3://{bucket}/{prefix}"
