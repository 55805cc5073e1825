"""The batch launcher's SageMaker and S3 requests are ones AWS accepts, at the longest names configuration allows.

CreateTransformJob and CreateModel are built by the launcher's own request functions for a model
whose prefix, environment and name are as long as validation accepts (`tests.contracts.configs`),
at a large package version, and checked against botocore's service model with every `max`,
`pattern` and `enum` it carries (`tests.contracts.service_model`). TransformJobName and
ModelName: "Length Constraints: Minimum length of 1. Maximum length of 63. Pattern:
^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" (SageMaker API Reference, "DescribeTransformJob",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html, the
same member as CreateTransformJob's). The manifest is S3DataType ManifestFile ("TransformS3DataSource",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformS3DataSource.html).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from batch_launcher.requests import create_model_request, job_name, model_name, transform_job_request

from platform_common import monitoring
from tests.batch.world import BATCH, KEY_ARN
from tests.contracts.service_model import problems
from tests.contracts.test_request_shapes import ROLE_ARN, longest_settings
from tests.handlers.fakes import ACCOUNT, REGION

BUCKET = f"mlops-dev-data-{ACCOUNT}-{REGION}"
# An EventBridge event id is a UUID (Amazon S3 User Guide, "EventBridge event message structure").
EVENT_ID = "17793124-05d4-b198-2fde-7ededc63b103"
AT = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
VERSIONS = (1, 99999)


@pytest.mark.parametrize("version", VERSIONS)
def test_create_transform_job_at_the_longest_names_matches_the_service_model(version: int) -> None:
    settings = longest_settings(serves_endpoint=False, batch=BATCH)
    name = job_name(settings, EVENT_ID, AT)
    manifest = f"s3://{BUCKET}/{monitoring.batch_manifest_key(settings.name, name)}"
    request = transform_job_request(
        settings,
        BATCH,
        name=name,
        version=version,
        package_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{settings.name}-d9f6c7/{version}",
        bucket=BUCKET,
        manifest_uri=manifest,
        kms_key_arn=KEY_ARN,
        trigger_event_id=EVENT_ID,
    )
    assert len(request["TransformJobName"]) <= 63
    assert len(request["ModelName"]) <= 63
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "ManifestFile"
    assert problems("sagemaker", "CreateTransformJob", request) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_create_model_at_the_longest_names_matches_the_service_model(version: int) -> None:
    settings = longest_settings(serves_endpoint=False, batch=BATCH)
    package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{settings.name}-d9f6c7/{version}"
    request = create_model_request(settings, version, package, ROLE_ARN)
    assert request["ModelName"] == model_name(settings, version)
    assert problems("sagemaker", "CreateModel", request) == []


def test_job_names_of_different_events_differ_at_the_longest_names() -> None:
    """The name is the idempotency key of a start: two events must not share one."""
    settings = longest_settings(serves_endpoint=False, batch=BATCH)
    assert job_name(settings, EVENT_ID, AT) != job_name(settings, "another-event", AT)
    assert job_name(settings, EVENT_ID, AT) == job_name(settings, EVENT_ID, AT)


def test_the_manifest_put_matches_the_s3_service_model() -> None:
    settings = longest_settings(serves_endpoint=False, batch=BATCH)
    key = monitoring.batch_manifest_key(settings.name, job_name(settings, EVENT_ID, AT))
    assert problems("s3", "PutObject", {"Bucket": BUCKET, "Key": key, "Body": b"[]"}) == []
