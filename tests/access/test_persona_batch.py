"""What the personas may do with batch transform, judged by the IAM evaluator (docs/testing-personas.md).

The platform is built from this module's own configuration: a batch-only model (`scores`) and a
realtime model without batch (`churn`). DataScientist drops inputs under `inference/<batch
model>/` (put only) and reads predictions; MLOpsEngineer starts, stops and describes this
environment's transform jobs. Nobody but the launcher writes the manifests that say what a job
scores (`batch-manifests/`). Transform jobs are authorised on resource type `transform-job`
(Service Authorization Reference, "Actions, resources, and condition keys for Amazon SageMaker AI",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from stacks.config import load_environment
from tests.access.iam_eval import Request
from tests.access.resolved_platform import ResolvedPlatform, _resolve
from tests.access.test_persona_permissions import VIA_S3, Call
from tests.synth import synth

SETTINGS: dict[str, Any] = {
    "prefix": "mlops",
    "environments": {
        "dev": {"models": [{"name": "churn"}, {"name": "scores", "serving": "batch", "batch": {}}]},
        "prod": {"models": [{"name": "scores", "serving": "batch", "batch": {}}]},
    },
}

INPUT = "arn:aws:s3:::{data}/inference/scores/2026-11-28.csv"
REALTIME_INPUT = "arn:aws:s3:::{data}/inference/churn/2026-11-28.csv"
PREDICTION = "arn:aws:s3:::{data}/predictions/scores/{prefix}-scores-b20261128040000-0a1b2c/2026-11-28.csv.out"
MANIFEST = "arn:aws:s3:::{data}/batch-manifests/scores/{prefix}-scores-b20261128040000-0a1b2c.json"
DATA_BUCKET = "arn:aws:s3:::{data}"
JOB = "{sm}:transform-job/{prefix}-scores-b20261128040000-0a1b2c"
OTHER_ENV_JOB = "{sm}:transform-job/mlops-prod-scores-b20261128040000-0a1b2c"
OTHER_TEAM_JOB = "{sm}:transform-job/forecasting-scores-b20261128040000-0a1b2c"

ROWS = [
    ("DataScientist", Call("s3:PutObject", INPUT), True),
    ("DataScientist", Call("s3:AbortMultipartUpload", INPUT), True),
    ("DataScientist", Call("kms:GenerateDataKey", "{key}", VIA_S3), True),
    ("DataScientist", Call("s3:GetObject", PREDICTION), True),
    ("DataScientist", Call("s3:ListBucket", DATA_BUCKET, {"s3:prefix": "predictions/scores/"}), True),
    ("DataScientist", Call("s3:ListBucket", DATA_BUCKET, {"s3:prefix": "inference/scores/"}), True),
    ("DataScientist", Call("s3:DeleteObject", INPUT), False),
    ("DataScientist", Call("s3:PutObject", REALTIME_INPUT), False),
    ("DataScientist", Call("s3:PutObject", PREDICTION), False),
    ("DataScientist", Call("s3:PutObject", MANIFEST), False),
    ("DataScientist", Call("sagemaker:CreateTransformJob", JOB), False),
    ("DataScientist", Call("sagemaker:StopTransformJob", JOB), False),
    ("MLOpsEngineer", Call("sagemaker:CreateTransformJob", JOB), True),
    ("MLOpsEngineer", Call("sagemaker:StopTransformJob", JOB), True),
    ("MLOpsEngineer", Call("sagemaker:DescribeTransformJob", JOB), True),
    ("MLOpsEngineer", Call("sagemaker:StopTransformJob", OTHER_ENV_JOB), False),
    ("MLOpsEngineer", Call("sagemaker:CreateTransformJob", OTHER_TEAM_JOB), False),
    ("MLOpsEngineer", Call("s3:PutObject", MANIFEST), False),
    ("MLOpsEngineer", Call("s3:PutObject", INPUT), False),
    ("Auditor", Call("sagemaker:StopTransformJob", JOB), False),
    ("Auditor", Call("s3:GetObject", PREDICTION), False),
]


@cache
def batch_platform() -> ResolvedPlatform:
    _, templates = synth("dev", SETTINGS)
    return _resolve(templates, load_environment(SETTINGS, "dev"))


@pytest.mark.parametrize(
    ("persona", "call", "allowed"), ROWS, ids=[f"{p}-{'may' if a else 'may-not'}-{c}" for p, c, a in ROWS]
)
def test_batch_decision(persona: str, call: Call, allowed: bool) -> None:
    platform = batch_platform()
    request = call.request(platform)
    assert platform.decide(persona, request).allowed is allowed, f"{persona}: {request}"


def test_without_a_batch_model_no_persona_holds_batch_grants() -> None:
    """An environment with no batch model keeps the personas' policies as they were."""
    settings = {"prefix": "mlops", "environments": {"dev": {"models": [{"name": "churn"}]}}}
    _, templates = synth("dev", settings)
    resolved = _resolve(templates, load_environment(settings, "dev"))
    assert not resolved.decide("DataScientist", Request("s3:PutObject", resolved.fill(INPUT))).allowed
    assert not resolved.decide("MLOpsEngineer", Request("sagemaker:StopTransformJob", resolved.fill(JOB))).allowed
