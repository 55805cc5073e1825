"""One JSON snapshot per stack per environment; review every change with `--snapshot-update`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.synth import synth_default

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(value: Any) -> Any:
    """Blank content hashes of assets so a code change is not a template change."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return _ASSET_HASH.sub("<asset-hash>", value)
    return value


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_templates_match_snapshots(env_name: str, snapshot_json: SnapshotAssertion) -> None:
    _, templates = synth_default(env_name)
    for unit in sorted(templates):
        assert normalise(templates[unit].to_json()) == snapshot_json(name=f"{env_name}-{unit}")
