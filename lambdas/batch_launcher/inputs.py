"""Which objects under `inference/<model>/` are input files.

The same rules as the retraining trigger's data drops: folder markers, empty objects, names
starting with `.` or `_` (`_SUCCESS` and other markers) and temporary uploads (`*.tmp`, `*.part`,
`*.crc`, `_temporary/` paths) start nothing. SageMaker reads every object under the prefix, so
such files would still be scored; they only do not start a job by themselves.
"""

from __future__ import annotations

_TEMPORARY_SUFFIXES = (".tmp", ".part", ".crc")


def is_input_file(key: str, size: int | None) -> bool:
    """Whether an Object Created for `key` (of `size` bytes, when known) asks for a transform."""
    if key.endswith("/") or size == 0:
        return False
    parts = key.split("/")
    if "_temporary" in parts or parts[-1].startswith((".", "_")):
        return False
    return not parts[-1].endswith(_TEMPORARY_SUFFIXES)
