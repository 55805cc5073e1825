"""The check the gate and the deployer share: a package group is ours only with our own suffix.

Automatic registration names a model's group `<model>-<suffix>`, the suffix being "the first six
characters of the SHA-256 hash of the last segment of the tracking server or MLflow App ARN (the
tracking server name or the MLflow App ID)" (SageMaker Developer Guide, "Automatically register
SageMaker AI models with SageMaker Model Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
The expected suffixes below are computed from that sentence with hashlib, not with the code under test.
"""

from __future__ import annotations

import hashlib

import pytest

from platform_common.catalog import (
    ForeignPackageGroupError,
    UnknownModelError,
    own_package_group,
    require_own_package_group,
)
from stacks.constructs.managed_mlflow import model_package_group_suffix
from tests.handlers.conftest import example_settings

APP_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-app/app-0123456789ab"
SERVER_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev-mlflow"


def documented_suffix(last_segment: str) -> str:
    return hashlib.sha256(last_segment.encode()).hexdigest()[:6]


@pytest.mark.parametrize(("arn", "last_segment"), [(APP_ARN, "app-0123456789ab"), (SERVER_ARN, "mlops-dev-mlflow")])
def test_our_group_is_the_model_name_and_the_suffix_of_our_arns_last_segment(arn: str, last_segment: str) -> None:
    assert own_package_group("churn", arn) == f"churn-{documented_suffix(last_segment)}"


def test_the_stacks_and_the_handlers_compute_the_same_suffix() -> None:
    # The tracking server's suffix is known at synth; the handlers derive it from the ARN.
    assert own_package_group("churn", SERVER_ARN) == f"churn-{model_package_group_suffix('mlops-dev-mlflow')}"


def test_our_own_group_passes() -> None:
    require_own_package_group(f"churn-{documented_suffix('app-0123456789ab')}", example_settings(), APP_ARN)


@pytest.mark.parametrize(
    "group",
    [
        "churn-1a2b3c",  # another App's or server's "churn"
        "churn",  # a group made by hand, without a suffix
        f"churn-{documented_suffix('app-0123456789ab')}0",  # one character too many
        f"CHURN-{documented_suffix('app-0123456789ab')}",  # group names are compared exactly
    ],
)
def test_any_other_group_is_refused_naming_it_and_ours(group: str) -> None:
    ours = f"churn-{documented_suffix('app-0123456789ab')}"
    with pytest.raises(ForeignPackageGroupError) as caught:
        require_own_package_group(group, example_settings(), APP_ARN)
    message = str(caught.value)
    assert message.startswith(f"model package group {group!r} is not this platform's: ")
    assert f"automatic registration by {APP_ARN} puts this model's versions in {ours!r}" in message
    # The handlers' existing rejection path (UnknownModelError) takes it: nothing is changed.
    assert isinstance(caught.value, UnknownModelError)
    assert (caught.value.what, caught.value.value) == ("model package group", group)
