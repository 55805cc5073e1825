"""boto3 clients kept from one moto test to the next, for as long as no test changed them.

Building a client costs 5 to 25 ms (its class of several hundred methods, a copy of the
session's event handlers), a handler test builds about ten, and the handler's own clients are
built again after every `runtime.reset()`: about half of what a handler test costs. A client
holds no AWS state (moto's backends do, and `mock_aws` resets them), so one built for the same
arguments and environment can serve the next test, unless that test changed the client itself:
registered or removed an event handler (a Stubber, an injected fault) or set an attribute on it.
Such a client is dropped when the test ends, and the next test builds a fresh one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

# What a client takes from the environment when it is built (credentials, Region, profile files).
_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
)
_EMITTER_CHANGES = ("register", "register_first", "register_last", "unregister")
# Attributes botocore itself fills in on first use (`client.exceptions` builds `_exceptions`).
_LAZY = frozenset({"_exceptions"})


def _attributes(client: Any) -> dict[str, int]:
    return {name: id(value) for name, value in vars(client).items() if name not in _LAZY}


@dataclass
class _Kept:
    client: Any
    attributes: dict[str, int]
    changed: list[str] = field(default_factory=list)

    def untouched(self) -> bool:
        return not self.changed and _attributes(self.client) == self.attributes


def _argument(value: Any) -> Any:
    if isinstance(value, Config):
        return ("Config", repr(sorted(value._user_provided_options.items())))
    return repr(value)


class ClientPool:
    """Clients by (environment, arguments); `lend` makes `boto3.client` draw from it for one test."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], _Kept] = {}
        self._sessions: dict[tuple[str | None, ...], boto3.session.Session] = {}

    def _client(self, lent: dict[tuple[Any, ...], _Kept], *args: Any, **kwargs: Any) -> Any:
        environment = tuple(os.environ.get(name) for name in _ENVIRONMENT)
        key = (
            environment,
            tuple(_argument(a) for a in args),
            tuple(sorted((k, _argument(v)) for k, v in kwargs.items())),
        )
        kept = self._kept.get(key)
        if kept is None:
            session = self._sessions.get(environment)
            if session is None:
                session = self._sessions[environment] = boto3.session.Session()
            client = session.client(*args, **kwargs)
            kept = _Kept(client, _attributes(client))
            self._watch(kept)
            self._kept[key] = kept
        lent[key] = kept
        return kept.client

    @staticmethod
    def _watch(kept: _Kept) -> None:
        emitter = kept.client.meta.events
        for name in _EMITTER_CHANGES:
            original = getattr(emitter, name)

            def changing(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
                kept.changed.append(_name)
                return _original(*args, **kwargs)

            setattr(emitter, name, changing)

    @contextmanager
    def lend(self) -> Iterator[None]:
        """Within the block, `boto3.client` returns kept clients; those the block changed are dropped after it."""
        lent: dict[tuple[Any, ...], _Kept] = {}
        outer = boto3.client
        boto3.client = lambda *args, **kwargs: self._client(lent, *args, **kwargs)
        try:
            yield
        finally:
            boto3.client = outer
            for key, kept in lent.items():
                if not kept.untouched():
                    del self._kept[key]


POOL = ClientPool()
