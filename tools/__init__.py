"""Operator commands that act on a deployed environment (run through the Makefile)."""

import sys
from pathlib import Path

# publish-code reads where the monitoring job's bundle goes from the contract module the job
# itself reads (platform_common.monitoring), from the Lambda code root as stacks/ does.
_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
