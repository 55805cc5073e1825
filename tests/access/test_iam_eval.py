"""The evaluator itself, on small hand-written policies whose outcome the IAM User Guide fixes."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from tests.access.iam_eval import (
    Decision,
    Policy,
    Request,
    UnsupportedPolicy,
    arn_matches,
    evaluate,
    principal_matches,
    trust_allows,
)

pytestmark = pytest.mark.xdist_group("access")

BUCKET = "arn:aws:s3:::bucket"
ENDPOINT = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/mlops-dev-churn"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(request: Request, *statements: dict[str, Any]) -> Decision:
    return evaluate(request, [policy(*statements)])


class TestActions:
    def test_nothing_is_allowed_without_a_matching_statement(self) -> None:
        assert decide(Request("s3:GetObject", f"{BUCKET}/k")) is Decision.IMPLICIT_DENY

    @pytest.mark.parametrize(
        ("pattern", "action", "allowed"),
        [
            ("s3:GetObject", "s3:GetObject", True),
            ("s3:getobject", "S3:GETOBJECT", True),
            ("s3:Get*", "s3:GetObjectVersion", True),
            ("s3:Get*", "s3:PutObject", False),
            ("sagemaker:Describe*", "sagemaker-mlflow:DescribeX", False),
            ("sagemaker:*", "sagemaker-mlflow:CreateRun", False),
            ("s3:?etObject", "s3:GetObject", True),
            ("s3:?etObject", "s3:GetObjects", False),
            ("*", "iam:CreateRole", True),
        ],
    )
    def test_action_wildcards_are_case_insensitive(self, pattern: str, action: str, allowed: bool) -> None:
        assert decide(Request(action, "*"), allow(pattern)).allowed is allowed

    def test_not_action_allows_everything_else(self) -> None:
        statement = {"Effect": "Allow", "NotAction": ["iam:*", "kms:*"], "Resource": "*"}
        assert decide(Request("s3:PutObject", f"{BUCKET}/k"), statement).allowed
        assert not decide(Request("iam:CreateRole", "*"), statement).allowed

    def test_not_action_deny_denies_everything_else(self) -> None:
        statements = (allow("*"), {"Effect": "Deny", "NotAction": "s3:Get*", "Resource": "*"})
        assert decide(Request("s3:GetObject", f"{BUCKET}/k"), *statements).allowed
        assert decide(Request("s3:PutObject", f"{BUCKET}/k"), *statements) is Decision.EXPLICIT_DENY


class TestResources:
    @pytest.mark.parametrize(
        ("pattern", "resource", "allowed"),
        [
            (f"{BUCKET}/datasets/*", f"{BUCKET}/datasets/churn/train.csv", True),
            (f"{BUCKET}/datasets/*", f"{BUCKET}/Datasets/churn/train.csv", False),
            (f"{BUCKET}/datasets/*", f"{BUCKET}/other/datasets/x", False),
            (f"{BUCKET}/datasets/*", BUCKET, False),
            (BUCKET, f"{BUCKET}/k", False),
            ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/mlops-dev-*", ENDPOINT, True),
            ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/mlops-dev-*", ENDPOINT.replace("dev", "prod"), False),
            ("arn:aws:sagemaker:*:123456789012:endpoint/*", ENDPOINT, True),
            ("arn:aws:sagemaker:eu-west-1:*:endpoint/x", "arn:aws:sagemaker:eu-west-1:1:2:endpoint/x", False),
            ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/*", "*", False),
            ("*", "*", True),
        ],
    )
    def test_resources_match_case_sensitively(self, pattern: str, resource: str, allowed: bool) -> None:
        assert decide(Request("s3:GetObject", resource), allow("s3:GetObject", pattern)).allowed is allowed

    def test_a_wildcard_does_not_cross_the_colons_of_the_first_five_components(self) -> None:
        # A plain regex would let `eu-*` swallow `west-1:210987654321` and match another account.
        pattern = "arn:aws:sagemaker:eu-*:123456789012:endpoint/x"
        assert arn_matches(pattern, "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/x")
        assert not arn_matches(pattern, "arn:aws:sagemaker:eu-west-1:210987654321:123456789012:endpoint/x")

    def test_the_resource_component_may_contain_colons(self) -> None:
        group = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/*"
        stream = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:log-stream:job/algo-1"
        assert arn_matches(group, stream)

    def test_not_resource(self) -> None:
        statement = {"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/secret/*"}
        assert decide(Request("s3:GetObject", f"{BUCKET}/public/a"), statement).allowed
        assert not decide(Request("s3:GetObject", f"{BUCKET}/secret/a"), statement).allowed

    def test_policy_variables_are_refused(self) -> None:
        with pytest.raises(UnsupportedPolicy, match="policy variables"):
            Policy(policy(allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*")))

    def test_an_arn_pattern_needs_six_parts(self) -> None:
        with pytest.raises(UnsupportedPolicy, match="six"):
            decide(Request("s3:GetObject", BUCKET), allow("s3:GetObject", "arn:aws:s3*"))


class TestDenyWins:
    def test_explicit_deny_beats_allow_in_the_same_policy(self) -> None:
        request = Request("s3:DeleteObject", f"{BUCKET}/k")
        assert decide(request, allow("s3:*"), deny("s3:Delete*")) is Decision.EXPLICIT_DENY

    def test_explicit_deny_beats_allow_in_another_policy(self) -> None:
        request = Request("s3:DeleteObject", f"{BUCKET}/k")
        decision = evaluate(request, [policy(allow("*")), policy(deny("s3:DeleteObject", f"{BUCKET}/*"))])
        assert decision is Decision.EXPLICIT_DENY

    def test_a_deny_on_another_resource_does_not_apply(self) -> None:
        request = Request("s3:DeleteObject", f"{BUCKET}/k")
        assert decide(request, allow("s3:*"), deny("s3:*", "arn:aws:s3:::other/*")).allowed


class TestConditions:
    VIA_S3: ClassVar = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"

    def test_string_equals(self) -> None:
        statement = allow("kms:Decrypt", self.KEY, Condition=self.VIA_S3)
        assert decide(
            Request("kms:Decrypt", self.KEY, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}), statement
        ).allowed
        assert not decide(
            Request("kms:Decrypt", self.KEY, {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}), statement
        ).allowed

    def test_a_missing_key_fails_a_positive_operator(self) -> None:
        assert not decide(
            Request("kms:Decrypt", self.KEY), allow("kms:Decrypt", self.KEY, Condition=self.VIA_S3)
        ).allowed

    def test_condition_key_names_are_case_insensitive(self) -> None:
        request = Request("kms:Decrypt", self.KEY, {"KMS:viaservice": "s3.eu-west-1.amazonaws.com"})
        assert decide(request, allow("kms:Decrypt", self.KEY, Condition=self.VIA_S3)).allowed

    def test_values_of_one_key_are_alternatives_and_keys_are_all_required(self) -> None:
        condition = {"StringLike": {"s3:prefix": ["datasets/", "datasets/*"]}, "Bool": {"aws:SecureTransport": "true"}}
        statement = allow("s3:ListBucket", BUCKET, Condition=condition)
        assert decide(
            Request("s3:ListBucket", BUCKET, {"s3:prefix": "datasets/", "aws:SecureTransport": True}), statement
        ).allowed
        assert decide(
            Request("s3:ListBucket", BUCKET, {"s3:prefix": "datasets/a/", "aws:SecureTransport": "true"}), statement
        ).allowed
        assert not decide(
            Request("s3:ListBucket", BUCKET, {"s3:prefix": "datasets/a/", "aws:SecureTransport": False}), statement
        ).allowed
        assert not decide(
            Request("s3:ListBucket", BUCKET, {"s3:prefix": "other/", "aws:SecureTransport": True}), statement
        ).allowed

    def test_string_like_is_case_sensitive(self) -> None:
        statement = allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": "datasets/*"}})
        assert not decide(Request("s3:ListBucket", BUCKET, {"s3:prefix": "DATASETS/x"}), statement).allowed

    def test_negated_operators_hold_when_the_key_is_missing(self) -> None:
        statement = deny("s3:*", "*", Condition={"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}})
        assert decide(Request("s3:GetObject", BUCKET), allow("*"), statement) is Decision.EXPLICIT_DENY
        same_account = Request("s3:GetObject", BUCKET, {"aws:PrincipalAccount": "123456789012"})
        assert decide(same_account, allow("*"), statement).allowed

    def test_if_exists_holds_when_the_key_is_missing(self) -> None:
        condition = {"StringEqualsIfExists": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        statement = allow("iam:PassRole", "*", Condition=condition)
        assert decide(Request("iam:PassRole", "arn:aws:iam::1:role/r"), statement).allowed
        to_lambda = Request("iam:PassRole", "arn:aws:iam::1:role/r", {"iam:PassedToService": "lambda.amazonaws.com"})
        assert not decide(to_lambda, statement).allowed

    def test_arn_like(self) -> None:
        condition = {"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-*"}}
        statement = allow("s3:GetObject", "*", Condition=condition)
        own = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-churn"
        assert decide(Request("s3:GetObject", BUCKET, {"aws:SourceArn": own}), statement).allowed
        assert not decide(
            Request("s3:GetObject", BUCKET, {"aws:SourceArn": own.replace("dev", "prod")}), statement
        ).allowed

    def test_null(self) -> None:
        statement = deny("s3:PutObject", "*", Condition={"Null": {"s3:x-amz-server-side-encryption": "true"}})
        plain = Request("s3:PutObject", f"{BUCKET}/k")
        encrypted = Request("s3:PutObject", f"{BUCKET}/k", {"s3:x-amz-server-side-encryption": "aws:kms"})
        assert decide(plain, allow("*"), statement) is Decision.EXPLICIT_DENY
        assert decide(encrypted, allow("*"), statement).allowed

    def test_set_qualifiers(self) -> None:
        any_tag = allow("sagemaker:AddTags", "*", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}})
        all_tags = allow(
            "sagemaker:AddTags", "*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
        )
        both = Request("sagemaker:AddTags", ENDPOINT, {"aws:TagKeys": ["team", "owner"]})
        assert decide(both, any_tag).allowed
        assert not decide(both, all_tags).allowed
        assert decide(Request("sagemaker:AddTags", ENDPOINT, {"aws:TagKeys": ["env"]}), all_tags).allowed

    def test_a_multivalued_key_needs_a_set_qualifier(self) -> None:
        statement = allow("sagemaker:AddTags", "*", Condition={"StringEquals": {"aws:TagKeys": "team"}})
        with pytest.raises(UnsupportedPolicy, match="ForAnyValue"):
            decide(Request("sagemaker:AddTags", ENDPOINT, {"aws:TagKeys": ["team", "env"]}), statement)

    @pytest.mark.parametrize("operator", ["DateGreaterThan", "IpAddress", "StringSomething", "Maybe:StringEquals"])
    def test_an_unknown_operator_raises_instead_of_passing(self, operator: str) -> None:
        statement = allow("s3:GetObject", "*", Condition={operator: {"aws:CurrentTime": "2024-01-01T00:00:00Z"}})
        with pytest.raises(UnsupportedPolicy):
            decide(Request("s3:GetObject", BUCKET, {"aws:CurrentTime": "2025-01-01T00:00:00Z"}), statement)

    def test_numeric(self) -> None:
        statement = allow("s3:PutObject", "*", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}})
        assert decide(Request("s3:PutObject", BUCKET, {"s3:max-keys": 5}), statement).allowed
        assert not decide(Request("s3:PutObject", BUCKET, {"s3:max-keys": "11"}), statement).allowed


class TestPermissionsBoundary:
    IDENTITY = policy(allow(["s3:*", "sagemaker:*"]))

    def test_the_boundary_caps_the_identity_policy(self) -> None:
        boundary = policy(allow("s3:*"))
        assert evaluate(Request("s3:GetObject", f"{BUCKET}/k"), [self.IDENTITY], boundary).allowed
        decision = evaluate(Request("sagemaker:CreateEndpoint", ENDPOINT), [self.IDENTITY], boundary)
        assert decision is Decision.IMPLICIT_DENY

    def test_the_boundary_grants_nothing_by_itself(self) -> None:
        decision = evaluate(Request("iam:CreateRole", "*"), [self.IDENTITY], policy(allow("*")))
        assert decision is Decision.IMPLICIT_DENY

    def test_a_deny_in_the_boundary_is_explicit(self) -> None:
        boundary = policy(allow("*"), deny("s3:Delete*"))
        decision = evaluate(Request("s3:DeleteObject", f"{BUCKET}/k"), [self.IDENTITY], boundary)
        assert decision is Decision.EXPLICIT_DENY


class TestPolicyShape:
    @pytest.mark.parametrize(
        "statement",
        [
            {"Effect": "Allow", "Action": "s3:*"},
            {"Effect": "Permit", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotPrincipal": {"AWS": "*"}},
        ],
    )
    def test_malformed_or_unsupported_statements_raise(self, statement: dict[str, Any]) -> None:
        with pytest.raises(UnsupportedPolicy):
            Policy(policy(statement))


class TestTrustPolicies:
    ROOT_TRUST = policy(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}
    )

    @pytest.mark.parametrize(
        ("caller", "trusted"),
        [
            ("arn:aws:iam::123456789012:role/Admin", True),
            ("arn:aws:sts::123456789012:assumed-role/Admin/alice", True),
            ("arn:aws:iam::123456789012:user/bob", True),
            ("arn:aws:iam::210987654321:role/Admin", False),
            ("sagemaker.amazonaws.com", False),
        ],
    )
    def test_an_account_root_principal_names_every_principal_of_the_account(self, caller: str, trusted: bool) -> None:
        assert trust_allows(self.ROOT_TRUST, caller) is trusted

    def test_only_the_actions_named_are_trusted(self) -> None:
        assert not trust_allows(
            self.ROOT_TRUST, "arn:aws:iam::123456789012:role/Admin", "sts:AssumeRoleWithWebIdentity"
        )

    @pytest.mark.parametrize(
        ("caller", "trusted"),
        [
            ("arn:aws:iam::123456789012:role/team/Admins", True),
            ("arn:aws:sts::123456789012:assumed-role/Admins/alice", True),
            ("arn:aws:iam::123456789012:role/Other", False),
            ("arn:aws:sts::123456789012:assumed-role/Other/alice", False),
            ("arn:aws:iam::210987654321:role/Admins", False),
        ],
    )
    def test_a_role_principal_names_the_role_and_its_sessions(self, caller: str, trusted: bool) -> None:
        assert principal_matches("arn:aws:iam::123456789012:role/team/Admins", caller) is trusted

    def test_service_principals_and_conditions(self) -> None:
        trust = policy(
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        )
        assert trust_allows(trust, "sagemaker.amazonaws.com", context={"aws:SourceAccount": "123456789012"})
        assert not trust_allows(trust, "sagemaker.amazonaws.com", context={"aws:SourceAccount": "210987654321"})
        assert not trust_allows(trust, "lambda.amazonaws.com", context={"aws:SourceAccount": "123456789012"})

    def test_a_deny_in_the_trust_policy_wins(self) -> None:
        trust = policy(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "123456789012"}},
            {
                "Effect": "Deny",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": "arn:aws:iam::123456789012:role/Intern"},
            },
        )
        assert trust_allows(trust, "arn:aws:iam::123456789012:role/Admin")
        assert not trust_allows(trust, "arn:aws:sts::123456789012:assumed-role/Intern/eve")
