"""Reads one object of raw `cdk.json` context, tracking the key path for error messages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from stacks.config.settings import ConfigError

T = TypeVar("T")

_TAG_KEY_RE = re.compile(r"^[\w.:/=+\-@ ]{1,128}$")
_KIND_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    Mapping: "an object",
}


class Reader:
    """Reads one mapping of raw context, tracking the key path for error messages."""

    def __init__(self, raw: object, path: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(path, raw, "an object")
        self.raw: Mapping[str, Any] = raw
        self.path = path
        self._seen: set[str] = set()

    def child(self, key: str) -> Reader:
        value = self.raw.get(key, {})
        self._seen.add(key)
        return Reader(value, f"{self.path}.{key}")

    def has(self, key: str) -> bool:
        return key in self.raw and self.raw[key] is not None

    def get(self, key: str, default: T, kind: type | tuple[type, ...]) -> T:
        self._seen.add(key)
        if key not in self.raw or self.raw[key] is None:
            return default
        value = self.raw[key]
        # bool is an int in Python; never accept true/false where a number is asked for.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ConfigError(self._at(key), value, _kind_name(kind))
        if not isinstance(value, kind):
            raise ConfigError(self._at(key), value, _kind_name(kind))
        return cast(T, value)

    def string(
        self, key: str, default: str | None, pattern: re.Pattern[str] | None = None, expected: str = ""
    ) -> str | None:
        value = self.get(key, default, str)
        if value is not None and pattern is not None and not pattern.match(value):
            raise ConfigError(self._at(key), value, expected or f"a string matching {pattern.pattern}")
        return value

    def choice(self, key: str, default: str, allowed: Sequence[str]) -> str:
        value = self.get(key, default, str)
        if value not in allowed:
            raise ConfigError(self._at(key), value, "one of " + ", ".join(allowed))
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.get(key, default, int)
        if not low <= value <= high:
            raise ConfigError(self._at(key), value, f"an integer from {low} to {high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = float(self.get(key, default, (int, float)))
        if not low <= value <= high:
            raise ConfigError(self._at(key), value, f"a number from {low} to {high}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        return self.get(key, default, bool)

    def string_map(self, key: str) -> dict[str, str]:
        value: Mapping[str, Any] = self.get(key, {}, Mapping)
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str) or not _TAG_KEY_RE.match(str(k)):
                raise ConfigError(f"{self._at(key)}.{k}", v, "a string value under a key of 1-128 characters")
            out[str(k)] = v
        return out

    def string_list(self, key: str, pattern: re.Pattern[str], expected: str) -> tuple[str, ...]:
        value: list[Any] = self.get(key, [], list)
        for index, item in enumerate(value):
            if not isinstance(item, str) or not pattern.match(item):
                raise ConfigError(f"{self._at(key)}[{index}]", item, expected)
        return tuple(value)

    def finish(self) -> None:
        """Reject keys nobody read: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.raw) - self._seen)
        if unknown:
            known = ", ".join(sorted(self._seen))
            raise ConfigError(f"{self.path}.{unknown[0]}", self.raw[unknown[0]], f"no such key; known keys are {known}")

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}"


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
