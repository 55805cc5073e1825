"""Deployable units of the platform and the constructs they are built from."""

import sys
from pathlib import Path

# The stacks share a small contract with the handlers (environment variable names, domain
# event names, the catalog entry's shape). They import it from the Lambda code root, as the
# functions do, so both sides always read the same module.
_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
