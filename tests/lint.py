"""cfn-lint's findings on a template, remembered across test processes and runs (tests/synth_cache.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests import synth_cache
from tools import cfn_lint


def findings(template: dict[str, Any], regions: Sequence[str], also_ignored: Sequence[str] = ()) -> list[str]:
    """`tools.cfn_lint.findings`, computed once per template, regions and ignore list."""
    key = synth_cache.key_for("cfn-lint", template, list(regions), list(also_ignored))
    found: list[str] = synth_cache.get_or_create(key, lambda: cfn_lint.findings(template, regions, also_ignored))
    return found
