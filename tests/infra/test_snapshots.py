"""One JSON snapshot per stack per environment; review every change with `--snapshot-update`."""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.synth import synth_default
from tools.template_snapshot import normalise


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_templates_match_snapshots(env_name: str, snapshot_json: SnapshotAssertion) -> None:
    _, templates = synth_default(env_name)
    for unit in sorted(templates):
        assert normalise(templates[unit].to_json()) == snapshot_json(name=f"{env_name}-{unit}")
