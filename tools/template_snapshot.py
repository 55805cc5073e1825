"""What the template snapshots hold, shared by the test snapshots and `make check-config`."""

from __future__ import annotations

import re
from typing import Any

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# CDK Pipelines publishes each asset to `<account>-<region>-<8 hex>`, the suffix a hash of the
# destination's content: a template change elsewhere must not change the pipeline's snapshot.
_ASSET_DESTINATION = re.compile(r"(:\d{12}-[a-z0-9-]+?)-[0-9a-f]{8}\b")

# W3005 (DependsOn already implied by GetAtt/Ref): CDK emits explicit DependsOn for ordering it
# also expresses through references; harmless and not ours to change.
CFN_LINT_IGNORED = ["W3005"]


def normalise(value: Any) -> Any:
    """Blank content hashes of assets so a code change is not a template change."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return _ASSET_DESTINATION.sub(r"\1-<destination-hash>", _ASSET_HASH.sub("<asset-hash>", value))
    return value
