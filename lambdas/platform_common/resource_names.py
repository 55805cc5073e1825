"""Names and tags of the SageMaker resources the platform creates outside CloudFormation.

The deployer names a model and its endpoint config `<endpoint>-v<package version>` and tags each
with the model's name (MODEL_TAG); the batch launcher names its transform jobs from the same base;
`make destroy` and `make remove-model` find them by both.

Models, endpoint configs, endpoints and transform jobs allow at most 63 characters matching
`[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}` (SageMaker API Reference, "CreateEndpointConfig",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html;
"DescribeTransformJob", TransformJobName,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html).
"""

from __future__ import annotations

import hashlib

NAME_LIMIT = 63
MODEL_TAG = "mlops:model"


def fit_name(base: str, suffix: str, limit: int = NAME_LIMIT) -> str:
    """`<base><suffix>`, the base shortened and marked with a hash of itself when too long."""
    if len(base) + len(suffix) <= limit:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    head = base[: limit - len(suffix) - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}{suffix}"


def version_resource_name(endpoint_name: str, version: int) -> str:
    """`<endpoint>-v<version>`: the SageMaker model (and endpoint config) of one package version."""
    return fit_name(endpoint_name, f"-v{version}")
