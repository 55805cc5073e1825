"""Names and tags of what the deployer creates outside CloudFormation: shared with the operator commands.

Models, endpoint configs and endpoints allow at most 63 characters matching
`[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}` (SageMaker API Reference, "CreateEndpointConfig",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html).
The deployer names a model and its endpoint config `<endpoint>-v<package version>` and tags
each with the model's name; `make destroy` and `make remove-model` find them by both.
"""

from __future__ import annotations

import hashlib

NAME_LIMIT = 63
MODEL_TAG = "mlops:model"


def version_resource_name(endpoint_name: str, version: int) -> str:
    """`<endpoint>-v<version>`, shortened with a hash of the endpoint name to fit 63 characters."""
    suffix = f"-v{version}"
    if len(endpoint_name) + len(suffix) <= NAME_LIMIT:
        return endpoint_name + suffix
    digest = hashlib.sha256(endpoint_name.encode()).hexdigest()[:6]
    head = endpoint_name[: NAME_LIMIT - len(suffix) - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}{suffix}"
