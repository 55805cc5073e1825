"""Who may assume each persona, for how long, and under which permissions boundary.

Trust is judged by the evaluator's principal matching on the resolved trust policies; moto's
own trust check compares principal ARNs as plain strings (an account root never matches a
role of that account), so it cannot judge them. The dev environment as configured trusts the
account root; a customised dev (resolved_platform.customised_settings) trusts one role ARN
and one other account, sets a longer session, a permissions boundary and the MLflow App.
"""

from __future__ import annotations

import pytest

from tests.access.cfn_resolver import ACCOUNT
from tests.access.iam_eval import Request, trust_allows
from tests.access.resolved_platform import (
    BOUNDARY_ARN,
    CUSTOM_SESSION_HOURS,
    PERSONAS,
    TRUSTED_ACCOUNT,
    TRUSTED_ROLE,
    ResolvedPlatform,
)

pytestmark = pytest.mark.xdist_group("access")

OTHER_ACCOUNT = "999988887777"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("caller", "trusted"),
    [
        (f"arn:aws:iam::{ACCOUNT}:role/Admin", True),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_DataScience_0123/alice", True),
        (f"arn:aws:iam::{ACCOUNT}:user/bob", True),
        (f"arn:aws:iam::{OTHER_ACCOUNT}:role/Admin", False),
        ("sagemaker.amazonaws.com", False),
        ("lambda.amazonaws.com", False),
    ],
)
def test_by_default_only_the_account_is_trusted(
    dev: ResolvedPlatform, persona: str, caller: str, trusted: bool
) -> None:
    assert not dev.config.personas.trusted_principals, "the fixture's dev names principals: see the customised tests"
    assert trust_allows(dev.role(persona).trust_policy, caller) is trusted


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("caller", "trusted"),
    [
        (TRUSTED_ROLE, True),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformEngineers/alice", True),
        (f"arn:aws:iam::{TRUSTED_ACCOUNT}:role/Anyone", True),
        # Naming principals replaces the account root: the rest of the account is out.
        (f"arn:aws:iam::{ACCOUNT}:role/Admin", False),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/mallory", False),
        (f"arn:aws:iam::{OTHER_ACCOUNT}:role/PlatformEngineers", False),
        ("sagemaker.amazonaws.com", False),
    ],
)
def test_configured_principals_replace_the_account(
    customised: ResolvedPlatform, persona: str, caller: str, trusted: bool
) -> None:
    assert trust_allows(customised.role(persona).trust_policy, caller) is trusted


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"])
def test_only_assume_role_is_trusted(
    dev: ResolvedPlatform, customised: ResolvedPlatform, persona: str, action: str
) -> None:
    assert not trust_allows(dev.role(persona).trust_policy, f"arn:aws:iam::{ACCOUNT}:role/Admin", action)
    assert not trust_allows(customised.role(persona).trust_policy, TRUSTED_ROLE, action)


@pytest.mark.parametrize("persona", PERSONAS)
def test_session_length_follows_the_configuration(
    dev: ResolvedPlatform, customised: ResolvedPlatform, persona: str
) -> None:
    assert dev.role(persona).max_session_duration == dev.config.personas.max_session_hours * 3600
    assert customised.role(persona).max_session_duration == CUSTOM_SESSION_HOURS * 3600


def test_the_boundary_follows_the_configuration(dev: ResolvedPlatform) -> None:
    wanted = dev.config.permissions_boundary_arn
    wrong = sorted(f"{r.stack}/{r.name}" for r in dev.deployment.roles.values() if r.permissions_boundary != wanted)
    assert not wrong, f"roles whose boundary is not {wanted}: {wrong}"


def test_a_configured_boundary_bounds_every_role_of_every_stack(customised: ResolvedPlatform) -> None:
    roles = customised.deployment.roles.values()
    stacks = {role.stack for role in roles}
    assert {customised.config.stack_name("tracking"), customised.config.stack_name("access")} <= stacks
    unbounded = sorted(f"{r.stack}/{r.name}" for r in roles if r.permissions_boundary != BOUNDARY_ARN)
    assert not unbounded, f"roles without the boundary {BOUNDARY_ARN}: {unbounded}"


def test_the_boundary_caps_what_a_persona_policy_grants(customised: ResolvedPlatform) -> None:
    """With a boundary that leaves MLflow out, the DataScientist's MLflow grant has no effect.

    The customised dev runs an MLflow App, whose API calls are all the one action CallMlflowAppApi.
    """
    boundary = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "NotAction": ["sagemaker:CallMlflowAppApi", "iam:*"], "Resource": "*"}],
    }
    boundaries = {BOUNDARY_ARN: boundary}
    role = customised.role("DataScientist")
    assert role.permissions_boundary is not None
    run = Request("sagemaker:CallMlflowAppApi", customised.fill("{server}"))
    data_set = Request("s3:PutObject", customised.fill("arn:aws:s3:::{data}/datasets/churn/train.csv"))
    assert customised.decide("DataScientist", run).allowed
    assert not customised.decide("DataScientist", run, boundaries[role.permissions_boundary]).allowed
    assert customised.decide("DataScientist", data_set, boundaries[role.permissions_boundary]).allowed


class TestMlflowApp:
    """The customised dev runs the serverless MLflow App: the grants follow its ARN and actions.

    An App authorises every MLflow API call with sagemaker:CallMlflowAppApi on its ARN (Service
    Authorization Reference, "Actions, resources, and condition keys for Amazon SageMaker AI",
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html);
    the sagemaker-mlflow actions apply to tracking servers only. One action cannot tell a read
    from an alias move, so with an App the registry-control rules rest on the MLOps review, not
    on IAM, and the Auditor gets no API access (docs/testing-personas.md).
    """

    def test_the_app_is_what_the_personas_use(self, customised: ResolvedPlatform) -> None:
        assert ":mlflow-app/" in customised.fill("{server}")

    @pytest.mark.parametrize(
        ("persona", "action", "allowed"),
        [
            ("DataScientist", "sagemaker:CreatePresignedMlflowAppUrl", True),
            ("DataScientist", "sagemaker:CallMlflowAppApi", True),
            ("DataScientist", "sagemaker:UpdateMlflowApp", False),
            ("DataScientist", "sagemaker:DeleteMlflowApp", False),
            ("MLOpsEngineer", "sagemaker:UpdateMlflowApp", True),
            ("MLOpsEngineer", "sagemaker:CallMlflowAppApi", True),
            ("MLOpsEngineer", "sagemaker:DeleteMlflowApp", False),
            ("Auditor", "sagemaker:CreatePresignedMlflowAppUrl", True),
            ("Auditor", "sagemaker:CallMlflowAppApi", False),
            ("Auditor", "sagemaker:UpdateMlflowApp", False),
            # Tracking server actions grant nothing on an App, so none is granted on it.
            *[(persona, "sagemaker-mlflow:CreateRun", False) for persona in ("DataScientist", "MLOpsEngineer")],
            ("Auditor", "sagemaker-mlflow:SearchRuns", False),
        ],
    )
    def test_app_grants(self, customised: ResolvedPlatform, persona: str, action: str, allowed: bool) -> None:
        request = Request(action, customised.fill("{server}"))
        assert customised.decide(persona, request).allowed is allowed, f"{persona}: {request}"

    @pytest.mark.parametrize("persona", PERSONAS)
    def test_no_tracking_server_url_without_a_tracking_server(self, customised: ResolvedPlatform, persona: str) -> None:
        for target in ("{server}", "{sm}:mlflow-tracking-server/{mlflow_name}"):
            request = Request("sagemaker:CreatePresignedMlflowTrackingServerUrl", customised.fill(target))
            assert not customised.decide(persona, request).allowed, f"{persona}: {request}"
