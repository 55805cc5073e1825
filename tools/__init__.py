"""Operator commands run through make."""

import sys
from pathlib import Path

# The commands share contracts with the handlers (serving names and tags, env-var names, where the
# monitoring job's bundle goes); they import them from the Lambda code root, as stacks/ does, also
# when run as `python -m tools.<x>`.
_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
