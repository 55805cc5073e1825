"""What the monitoring job reads, parsed with the standard library: capture records, batch outputs, labels.

Every reader takes the text of one file and returns what it could read plus what it could not
(`Malformed`, with the file, the line and the reason): one bad line or file never stops a run.

Endpoint data capture (SageMaker Developer Guide, "Capture data from real-time endpoint",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html, "View
Captured Data"): JSON Lines, one record per invocation,

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "<features>", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "<prediction>", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "2022-02-14T17:25:49Z"},
     "eventVersion": "0"}

`encoding` is `CSV`, `JSON` or `BASE64`: SageMaker base64-encodes a payload whose content type
is not listed in the capture configuration's CaptureContentTypeHeader (SageMaker API Reference,
"DataCaptureConfig": "If no headers are specified SageMaker AI will by default base64 encode when
capturing the data", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html).
The record's inference id is `eventMetadata.inferenceId` (the InvokeEndpoint caller's InferenceId)
and, when the caller gave none, `eventMetadata.eventId`, the rule Model Monitor itself applies
(SageMaker Developer Guide, "Ingest Ground Truth labels and merge them with predictions",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html). A request
of several CSV rows is read row by row, the n-th row (from 0) with id `<inference id>:<n>`.

Batch transform output (JoinSource=Input, the input's first column the inference id): CSV lines
`inference_id,<features...>,<prediction>`.

Ground truth: JSON Lines `{"inferenceId": "...", "label": <number or string>}`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Inference:
    """One prediction the serving version made: its id, its feature values (request order) and its label."""

    inference_id: str
    features: tuple[str, ...]
    prediction: str
    source: str


@dataclass(frozen=True)
class Label:
    """The ground truth of one inference."""

    inference_id: str
    label: str
    source: str


@dataclass(frozen=True)
class Malformed:
    """A line (or a whole file, line None) the job skipped, and why."""

    source: str
    line: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as the run's malformed-records file lists it."""
        return {"source": self.source, "line": self.line, "reason": self.reason}


class _Skip(ValueError):
    """One record cannot be read; the message says why."""


def _payload(capture: Any, part: str) -> str:
    if not isinstance(capture, Mapping) or not isinstance(capture.get(part), Mapping):
        raise _Skip(f"captureData.{part} is missing")
    entry = capture[part]
    data, encoding = entry.get("data"), str(entry.get("encoding", "")).upper()
    if not isinstance(data, str):
        raise _Skip(f"captureData.{part}.data is not a string")
    if encoding == "BASE64":
        try:
            return base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise _Skip(f"captureData.{part}.data is not base64 of UTF-8 text: {error}") from error
    if encoding in ("CSV", "JSON"):
        return data
    raise _Skip(f"captureData.{part}.encoding {entry.get('encoding')!r} is not CSV, JSON or BASE64")


def _csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text.strip())) if row]


def _predictions(text: str) -> list[str]:
    """The predicted labels of one response: CSV lines (first value each) or JSON."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise _Skip(f"endpointOutput is neither CSV nor JSON: {error}") from error
        if isinstance(value, Mapping):
            value = value.get("predictions")
        if not isinstance(value, list) or not value:
            raise _Skip("endpointOutput JSON holds no list of predictions")
        return [_scalar(item[0] if isinstance(item, list) and item else item) for item in value]
    rows = _csv_rows(stripped)
    if not rows:
        raise _Skip("endpointOutput is empty")
    return [row[0].strip() for row in rows]


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Skip(f"prediction {value!r} is not a number or a string")
    return normalise_label(value)


def normalise_label(value: Any) -> str:
    """A class label as text, so 1, 1.0 and "1" compare equal."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _capture_record(record: Any, source: str, feature_count: int) -> list[Inference]:
    if not isinstance(record, Mapping):
        raise _Skip("not a JSON object")
    metadata = record.get("eventMetadata")
    if not isinstance(metadata, Mapping):
        raise _Skip("eventMetadata is missing")
    inference_id = metadata.get("inferenceId") or metadata.get("eventId")
    if not isinstance(inference_id, str) or not inference_id:
        raise _Skip("eventMetadata has neither inferenceId nor eventId")
    capture = record.get("captureData")
    rows = _csv_rows(_payload(capture, "endpointInput"))
    predictions = _predictions(_payload(capture, "endpointOutput"))
    if not rows:
        raise _Skip("endpointInput holds no CSV row")
    if len(rows) != len(predictions):
        raise _Skip(f"endpointInput has {len(rows)} rows but endpointOutput {len(predictions)} predictions")
    for row in rows:
        if len(row) != feature_count:
            raise _Skip(f"endpointInput row has {len(row)} values; the baseline has {feature_count} features")
    if len(rows) == 1:
        return [Inference(inference_id, tuple(rows[0]), predictions[0], source)]
    return [
        Inference(f"{inference_id}:{index}", tuple(row), prediction, source)
        for index, (row, prediction) in enumerate(zip(rows, predictions, strict=True))
    ]


def read_capture(text: str, *, source: str, feature_count: int) -> tuple[list[Inference], list[Malformed]]:
    """The inferences of one data-capture file (JSON Lines)."""
    found: list[Inference] = []
    skipped: list[Malformed] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.extend(_capture_record(json.loads(line), source, feature_count))
        except json.JSONDecodeError as error:
            skipped.append(Malformed(source, number, f"not JSON: {error.msg}"))
        except _Skip as error:
            skipped.append(Malformed(source, number, str(error)))
    return found, skipped


def read_batch_output(text: str, *, source: str, feature_count: int) -> tuple[list[Inference], list[Malformed]]:
    """The inferences of one batch transform output file: `inference_id,<features...>,<prediction>` lines."""
    found: list[Inference] = []
    skipped: list[Malformed] = []
    expected = feature_count + 2
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if len(row) != expected:
            reason = f"{len(row)} values; expected {expected}: inference id, {feature_count} features, prediction"
            skipped.append(Malformed(source, number, reason))
        elif not row[0].strip():
            skipped.append(Malformed(source, number, "the inference id (first value) is empty"))
        else:
            found.append(Inference(row[0].strip(), tuple(row[1:-1]), normalise_label(row[-1]), source))
    return found, skipped


def read_labels(text: str, *, source: str) -> tuple[list[Label], list[Malformed]]:
    """The labels of one ground-truth file (JSON Lines `{"inferenceId": ..., "label": ...}`)."""
    found: list[Label] = []
    skipped: list[Malformed] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            skipped.append(Malformed(source, number, f"not JSON: {error.msg}"))
            continue
        inference_id = record.get("inferenceId") if isinstance(record, Mapping) else None
        label = record.get("label") if isinstance(record, Mapping) else None
        if not isinstance(inference_id, str) or not inference_id:
            skipped.append(Malformed(source, number, "inferenceId is missing or not a non-empty string"))
        elif isinstance(label, bool) or not isinstance(label, str | int | float):
            skipped.append(Malformed(source, number, "label is missing or not a number or a string"))
        else:
            found.append(Label(inference_id, normalise_label(label), source))
    return found, skipped


def latest_labels(labels: Iterable[Label]) -> dict[str, str]:
    """One label per inference id: a later delivery (later in `labels`) corrects an earlier one."""
    return {label.inference_id: label.label for label in labels}


def parse_time(text: str, *, name: str) -> datetime.datetime:
    """An ISO 8601 instant (timezone required, `Z` accepted); ValueError naming `name` otherwise."""
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"{name}: got {text!r}; expected an ISO 8601 time such as 2026-01-31T00:00:00Z") from error
    if value.tzinfo is None:
        raise ValueError(f"{name}: got {text!r}; expected a time with a timezone, e.g. ending in Z")
    return value
