"""Managed MLflow, both kinds: how calls to it are signed, who may make them, what its own role may do.

The two kinds answer at different hosts, sign for different services and are authorised by
different IAM actions, per AWS's own MLflow plugin (github.com/aws/sagemaker-mlflow) and the
Service Authorization Reference:

- `sagemaker_mlflow/auth_provider.py` (`_get_auth_service_name`): a `mlflow-tracking-server`
  ARN is signed for service `sagemaker-mlflow`, a `mlflow-app` ARN for service `sagemaker`.
- `sagemaker_mlflow/mlflow_sagemaker_helpers.py` (`_get_endpoint`): a tracking server answers
  at `https://<region>.experiments.sagemaker.<suffix>`, an App at
  `https://mlflow.sagemaker.<region>.app.<suffix>` (suffix `aws` in the aws and aws-us-gov
  partitions).
- `sagemaker_mlflow/mlflow_sagemaker_request_header_provider.py`: the ARN travels in
  `x-mlflow-sm-tracking-server-arn` or `x-sm-mlflow-app-arn`.
- "Actions, resources, and condition keys for Amazon SageMaker AI"
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html):
  `sagemaker:CallMlflowAppApi`, "Grants permission to invoke MLflow APIs", access level Write,
  resource type `mlflow-app` (required), `arn:${Partition}:sagemaker:${Region}:${Account}:mlflow-app/${MLflowAppId}`.
  Tracking servers are authorised by the `sagemaker-mlflow:` actions on resource type
  `mlflow-tracking-server` ("Actions, resources, and condition keys for Amazon SageMaker with
  MLflow", https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemakerwithmlflow.html).

Decisions are made by the IAM evaluator of tests/access on the synthesized policies, resolved
for a fake account as CloudFormation would resolve them.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.credentials
import pytest

from platform_common.mlflow_rest import MlflowRestClient
from stacks.constructs.managed_mlflow import model_package_group_suffix
from stacks.naming import mlflow_name
from tests.access.cfn_resolver import ACCOUNT, REGION, Deployment
from tests.access.iam_eval import Policy, Request, evaluate
from tests.contracts.conftest import Synthesized, deployed_roles

SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
TRACKING_SERVER_ARN = f"{SM}:mlflow-tracking-server/mlops-dev-mlflow"
APP_ARN = f"{SM}:mlflow-app/app-0123456789ab"
OTHER_APP_ARN = f"{SM}:mlflow-app/app-otherteam0001"
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
SIGNED_HEADERS = re.compile(r"SignedHeaders=(?P<names>[^,]+)")


# Signing


class _Answer:
    """What urlopen returns: a 200 with an MLflow model version."""

    status = 200

    def read(self) -> bytes:
        return json.dumps({"model_version": {"name": "churn", "version": "1"}}).encode()

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[urllib.request.Request]]:
    """Every request the REST client sends, captured instead of sent."""
    captured: list[urllib.request.Request] = []

    def capture(request: urllib.request.Request, timeout: float | None = None) -> _Answer:
        captured.append(request)
        return _Answer()

    monkeypatch.setattr(urllib.request, "urlopen", capture)
    yield captured


def _signed_as(request: urllib.request.Request) -> dict[str, Any]:
    authorization = str(request.get_header("Authorization"))
    scope = CREDENTIAL_SCOPE.search(authorization)
    signed = SIGNED_HEADERS.search(authorization)
    assert scope is not None and signed is not None, authorization
    headers = {name.lower(): value for name, value in request.header_items()}
    return {
        "service": scope["service"],
        "region": scope["region"],
        "host": urllib.parse.urlparse(request.full_url).netloc,
        "host signed": "host" in signed["names"].split(";"),
        "routed by": {name: value for name, value in headers.items() if name.startswith("x-") and "arn" in name},
    }


def test_each_kind_is_signed_for_its_own_service_and_sent_to_its_own_host(
    sent: list[urllib.request.Request],
) -> None:
    """A tracking server: service sagemaker-mlflow at the experiments host; an App: service sagemaker at the app host.

    The credential scope of the SigV4 Authorization header names the service the signature is
    for; a request signed for the wrong one is refused before MLflow sees it.
    """
    # Given a client for each kind, with static credentials
    credentials = botocore.credentials.Credentials("AKID", "SECRET", "TOKEN")
    # When each reads a model version
    for arn in (TRACKING_SERVER_ARN, APP_ARN):
        MlflowRestClient(arn, credentials=credentials).get_model_version("churn", "1")
    # Then each request is signed and addressed as AWS's plugin does for that kind
    assert [_signed_as(request) for request in sent] == [
        {
            "service": "sagemaker-mlflow",
            "region": REGION,
            "host": f"{REGION}.experiments.sagemaker.aws",
            "host signed": True,
            "routed by": {"x-mlflow-sm-tracking-server-arn": TRACKING_SERVER_ARN},
        },
        {
            "service": "sagemaker",
            "region": REGION,
            "host": f"mlflow.sagemaker.{REGION}.app.aws",
            "host signed": True,
            "routed by": {"x-sm-mlflow-app-arn": APP_ARN},
        },
    ]


# Who may call MLflow


def _deployed(label: str) -> tuple[Synthesized, Deployment]:
    return deployed_roles(label)


def _decide(deployment: Deployment, role_name: str, request: Request) -> bool:
    return evaluate(request, [Policy(p) for p in deployment.role(role_name).policies]).allowed


def _mlflow_callers(found: Synthesized) -> dict[str, str]:
    """Role names of everything that calls the MLflow API, by what it is."""
    prefix = found.config.resource_prefix
    return {
        "model gate": f"{prefix}-model-gate-function",
        "deployer": f"{prefix}-deployer-function",
        "pipeline jobs": f"{prefix}-pipeline-execution",
        "DataScientist": f"{prefix}-DataScientist",
        "MLOpsEngineer": f"{prefix}-MLOpsEngineer",
        "Auditor": f"{prefix}-Auditor",
    }


def _kind_decisions(label: str, action: str) -> dict[str, tuple[bool, bool]]:
    """Per caller: may it perform `action` on this environment's MLflow, and on another team's App?"""
    found, deployment = _deployed(label)
    mlflow = str(deployment.resolver.output(found.stack_names["tracking"], "MlflowArn"))
    assert mlflow.startswith(f"{SM}:mlflow-app/" if label.endswith("app") else f"{SM}:mlflow-tracking-server/")
    return {
        what: (
            _decide(deployment, role, Request(action, mlflow)),
            _decide(deployment, role, Request("sagemaker:CallMlflowAppApi", OTHER_APP_ARN)),
        )
        for what, role in _mlflow_callers(found).items()
    }


def test_every_mlflow_caller_is_authorised_by_the_action_of_the_kind_it_calls() -> None:
    """App: CallMlflowAppApi on this App's ARN; tracking server: the sagemaker-mlflow actions, as before.

    The gate, the deployer, the pipeline jobs and the people who use MLflow may call it; none
    may call another App. The Auditor is left out in App mode on purpose: CallMlflowAppApi is
    one Write-level action covering every MLflow call, deletes included, so granting it would
    end the Auditor's read-only guarantee (an auditor reads through the presigned UI URL).
    """
    # Given the configurations at the limits, one per kind
    # When each caller's role asks for the call its kind authorises
    decisions = {
        "app": _kind_decisions("extreme-app", "sagemaker:CallMlflowAppApi"),
        "tracking-server": _kind_decisions("extreme-tracking-server", "sagemaker-mlflow:GetModelVersion"),
    }
    # Then each that works with MLflow may call its own, none may call another App
    assert decisions == {
        "app": {
            "model gate": (True, False),
            "deployer": (True, False),
            "pipeline jobs": (True, False),
            "DataScientist": (True, False),
            "MLOpsEngineer": (True, False),
            "Auditor": (False, False),
        },
        "tracking-server": {
            "model gate": (True, False),
            "deployer": (True, False),
            "pipeline jobs": (True, False),
            "DataScientist": (True, False),
            "MLOpsEngineer": (True, False),
            "Auditor": (True, False),
        },
    }


# The service's own role


def _service_role(found: Synthesized) -> str:
    return f"{mlflow_name(found.config)}-service"


def _artifact_root(found: Synthesized, deployment: Deployment) -> tuple[str, str]:
    bucket = str(deployment.resolver.output(found.stack_names["data"], "ArtifactBucketName"))
    return bucket, f"mlflow/{mlflow_name(found.config)}"


def test_service_role_can_do_everything_automatic_registration_needs(synthesized_env: Synthesized) -> None:
    """What "Automatically register SageMaker AI models with SageMaker Model Registry" lists for the role.

    SageMaker Developer Guide,
    https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html:
    the role needs sagemaker:CreateModelPackageGroup, DescribeModelPackageGroup,
    CreateModelPackage, UpdateModelPackage, AddTags, CreateAction and AddAssociation, and S3
    Get/Put/List on the artifacts; without CreateAction and AddAssociation lineage is dropped
    silently, and an inference specification reaches the package only if the role can read
    the logged model's `sagemaker_inference_specification.json`. Resource types from the
    Service Authorization Reference for SageMaker (CreateAction: `action`; AddAssociation:
    `action`, `artifact`, `context`, ...).
    """
    found, deployment = _deployed(synthesized_env.label)
    assert found.config.mlflow.automatic_model_registration
    bucket, root = _artifact_root(found, deployment)
    models = found.config.models
    if not models:
        # Registration is scoped to the configured models' groups: with none, nothing may register.
        probe = Request("sagemaker:CreateModelPackageGroup", f"{SM}:model-package-group/churn-abc123")
        assert not _decide(deployment, _service_role(found), probe)
        return
    # A tracking server's suffix is known at synth; an App's is matched by length (any six characters).
    suffix = (
        model_package_group_suffix(mlflow_name(found.config))
        if found.config.mlflow.kind == "tracking-server"
        else "abc123"
    )
    name = f"{models[0].name}-{suffix}"
    group = f"{SM}:model-package-group/{name}"
    spec = f"arn:aws:s3:::{bucket}/{root}/1/models/m-0a1b2c/artifacts/sagemaker_inference_specification.json"
    needed = [
        Request("sagemaker:CreateModelPackageGroup", group),
        Request("sagemaker:DescribeModelPackageGroup", group),
        Request("sagemaker:AddTags", group),
        Request("sagemaker:CreateModelPackage", f"{SM}:model-package/{name}/1"),
        Request("sagemaker:UpdateModelPackage", f"{SM}:model-package/{name}/1"),
        Request("sagemaker:AddTags", f"{SM}:model-package/{name}/1"),
        Request("sagemaker:CreateAction", f"{SM}:action/mlflow-registration-0a1b2c"),
        Request("sagemaker:AddAssociation", f"{SM}:action/mlflow-registration-0a1b2c"),
        Request("sagemaker:AddAssociation", f"{SM}:artifact/0a1b2c3d4e5f"),
        Request("sagemaker:AddAssociation", f"{SM}:context/{name}-context"),
        Request("s3:GetObject", spec),
        Request("s3:PutObject", f"arn:aws:s3:::{bucket}/{root}/1/0a1b2c/artifacts/plots/roc.png"),
        Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": f"{root}/1/"}),
    ]
    missing = [str(r) for r in needed if not _decide(deployment, _service_role(found), r)]
    assert missing == []


def test_service_role_may_look_up_the_artifact_buckets_region(synthesized_env: Synthesized) -> None:
    """GetBucketLocation carries no s3:prefix, so a grant conditioned on it never applies.

    Service Authorization Reference, "Actions, resources, and condition keys for Amazon S3"
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
    s3:prefix is a condition key of ListBucket and ListBucketVersions only; GetBucketLocation
    supports s3:ResourceAccount, s3:TlsVersion, s3:authType, s3:signatureAge,
    s3:signatureversion and s3:x-amz-content-sha256.
    """
    found, deployment = _deployed(synthesized_env.label)
    bucket, _ = _artifact_root(found, deployment)
    # The request as S3 authorises it: no s3:prefix in its context.
    assert _decide(deployment, _service_role(found), Request("s3:GetBucketLocation", f"arn:aws:s3:::{bucket}"))
    prefixed = [
        statement.get("Sid")
        for policy in deployment.role(_service_role(found)).policies
        for statement in policy["Statement"]
        if "s3:prefix" in json.dumps(statement.get("Condition", {}))
        and any(
            not a.lower().startswith(("s3:listbucket",))
            for a in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        )
    ]
    assert prefixed == [], "statements that condition an action without s3:prefix on s3:prefix"
