"""cfn-lint over synthesized templates, with the rule set loaded once per process.

`cfnlint.api.lint` builds a new `Runner` for every template, and a Runner loads every rule
module again (the IAM permissions rule alone parses cfn-lint's action catalogue): about a second
per call, more than linting one of these templates takes. cfn-lint's own command line loads the
rules once and runs them over every template it is given, configuring them per template; this
does the same, so each template is still decoded, configured (ignore list, regions) and checked
exactly as `lint` would check it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from cfnlint.api import ManualArgs
from cfnlint.config import ConfigMixIn
from cfnlint.decode.decode import decode_str
from cfnlint.rules import Rules
from cfnlint.runner import Runner, run_template_by_data

from tools.template_snapshot import CFN_LINT_IGNORED


@cache
def _rules() -> Rules:
    # Which rules exist does not depend on the per-template settings (ignore list, regions):
    # the Runner reads them from cfn-lint's rules directory and any custom rules file only.
    return Runner(ConfigMixIn()).rules


def findings(template: dict[str, Any], regions: Sequence[str], also_ignored: Sequence[str] = ()) -> list[str]:
    """cfn-lint's findings for one template in `regions`, with the suite's ignore list (empty when clean)."""
    decoded, errors = decode_str(json.dumps(template))
    if errors:
        return [str(error) for error in errors]
    config = ConfigMixIn(**ManualArgs(ignore_checks=[*CFN_LINT_IGNORED, *also_ignored], regions=list(regions)))
    return [str(match) for match in run_template_by_data(decoded, config, _rules())]
