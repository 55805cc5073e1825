"""Requests checked against botocore's copy of AWS's service models, and clients that record them.

botocore's own `ParamValidator` checks required members, types and minimums only (its
`VALIDATED_METADATA_ATTRS` are required, min, document, union). The service models also
carry each member's `max`, `pattern` and `enum`, which AWS enforces on its side; `problems`
checks those too, so a request that botocore would send but AWS would refuse fails here.
Patterns are written in Java's regex dialect (`\\p{L}` and friends), hence the `regex` module.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import regex
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def operation_names(service: str) -> dict[str, str]:
    """`update_endpoint` -> `UpdateEndpoint` for every operation of the service."""
    from botocore import xform_name

    return {xform_name(name): name for name in service_model(service).operation_names}


def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


def problems(service: str, operation_name: str, params: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a request by the service model: botocore's checks plus max, pattern, enum."""
    shape = operation(service, operation_name).input_shape
    found: list[str] = []
    report = ParamValidator().validate(dict(params), shape)
    if report.has_errors():
        found.append(report.generate_report())
    _walk(params, shape, operation_name, found)
    return found


@functools.cache
def _compiled(pattern: str) -> Any:
    # Some models close a pattern with `${1,128}` (a length after the anchor); lengths are
    # checked through min/max, so the quantifier is dropped.
    cleaned = regex.sub(r"\$\{\d+,\d+\}$", "$", pattern)
    return regex.compile(cleaned)


def walk_shape(value: Any, shape: Shape, where: str, found: list[str]) -> None:
    """Append to `found` every max, pattern and enum of `shape` that `value` breaks (values of other types pass)."""
    _walk(value, shape, where, found)


def _walk(value: Any, shape: Shape, where: str, found: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            member = shape.members.get(key)  # type: ignore[attr-defined]
            if member is not None:
                _walk(item, member, f"{where}.{key}", found)
    elif kind == "list" and isinstance(value, list | tuple):
        _at_most(len(value), meta, where, "items", found)
        for index, item in enumerate(value):
            _walk(item, shape.member, f"{where}[{index}]", found)  # type: ignore[attr-defined]
    elif kind == "map" and isinstance(value, Mapping):
        _at_most(len(value), meta, where, "entries", found)
        for key, item in value.items():
            _walk(key, shape.key, f"{where} key {key!r}", found)  # type: ignore[attr-defined]
            _walk(item, shape.value, f"{where}[{key!r}]", found)  # type: ignore[attr-defined]
    elif kind == "string" and isinstance(value, str):
        _at_most(len(value), meta, where, "characters", found)
        if shape.enum and value not in shape.enum:
            found.append(f"{where}: {value!r} is not one of {shape.enum}")
        pattern = meta.get("pattern")
        if pattern and _compiled(pattern).fullmatch(value) is None:
            found.append(f"{where}: {value[:80]!r} does not match the pattern {pattern}")
    elif kind in ("integer", "long", "double", "float") and isinstance(value, int | float):
        _above(value, meta, where, found)


def _above(value: float, meta: Mapping[str, Any], where: str, found: list[str]) -> None:
    if "max" in meta and value > meta["max"]:
        found.append(f"{where}: {value} is above the maximum {meta['max']}")


def _at_most(size: int, meta: Mapping[str, Any], where: str, unit: str, found: list[str]) -> None:
    if "max" in meta and size > meta["max"]:
        found.append(f"{where}: {size} {unit}, at most {meta['max']} allowed")


def not_found(operation_name: str) -> ClientError:
    """SageMaker's answer for a model, config or endpoint that does not exist."""
    return ClientError(
        {"Error": {"Code": "ValidationException", "Message": "Could not find the resource."}}, operation_name
    )


Responder = Callable[[dict[str, Any]], Any]


@dataclass
class RecordingClient:
    """A stand-in boto3 client that records every request and answers from a script.

    `answers` maps an operation name (`DescribeEndpoint`) to a response, an exception, or a
    callable taking the request. Unknown operations answer `{}`.
    """

    service: str
    answers: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        names = operation_names(self.service)
        if method not in names:
            raise AttributeError(method)
        name = names[method]

        def call(**params: Any) -> Any:
            # A round trip through JSON drops nothing and catches values boto3 could not send.
            self.requests.append((name, json.loads(json.dumps(params))))
            answer = self.answers.get(name, {})
            if isinstance(answer, BaseException):
                raise answer
            return answer(params) if callable(answer) else answer

        return call

    def sent(self, name: str) -> list[dict[str, Any]]:
        """The parameters of every request of one operation, in order."""
        return [params for op, params in self.requests if op == name]
