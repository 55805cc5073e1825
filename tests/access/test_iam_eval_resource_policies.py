"""Resource-based policies in the evaluator, on hand-written policies.

Expected outcomes follow the IAM User Guide, "Cross-account policy evaluation logic"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html:
the trusting account's resource policy must name the principal and the principal's identity
policy must allow the access), "Policy evaluation for requests within a single account"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html:
within one account either policy allowing is enough, an explicit deny in any overrides) and
"AWS JSON policy elements: Principal"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html: an
account principal "delegates authority to the account").
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.access.iam_eval import Decision, Request, ResourcePolicy, UnsupportedPolicy, evaluate_access

pytestmark = pytest.mark.xdist_group("access")

OWNER, OTHER = "222222222222", "333333333333"
READER = f"arn:aws:iam::{OTHER}:role/reader"
STRANGER = f"arn:aws:iam::{OTHER}:role/stranger"
LOCAL = f"arn:aws:iam::{OWNER}:role/local"
OBJECT = "arn:aws:s3:::owner-bucket/shared/report.json"
GET = Request("s3:GetObject", OBJECT)


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def stmt(
    effect: str,
    principal: Any,
    action: str = "s3:GetObject",
    resource: str = "arn:aws:s3:::owner-bucket/shared/*",
    **extra: Any,
) -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource, **extra}


IDENTITY_ALLOWS = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::owner-bucket/*"})
IDENTITY_DENIES = policy({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
ACCOUNT_GRANT = policy(stmt("Allow", {"AWS": f"arn:aws:iam::{OTHER}:root"}))
ROLE_GRANT = policy(stmt("Allow", {"AWS": READER}))
NARROWED_GRANT = policy(
    stmt("Allow", {"AWS": OTHER}, Condition={"ArnEquals": {"aws:PrincipalArn": READER}}),
)
RESOURCE_DENIES = policy(
    stmt("Allow", {"AWS": OTHER}),
    stmt("Deny", "*", action="s3:*", resource="arn:aws:s3:::owner-bucket/*"),
)


def decide(
    caller: str, identity: dict[str, Any] | None, resource: dict[str, Any] | None, request: Request = GET
) -> Decision:
    return evaluate_access(
        request,
        caller=caller,
        identity_policies=[identity] if identity else [],
        resource_policy=resource,
        resource_account=OWNER,
    )


CROSS_ACCOUNT = [
    # (case, caller, identity policy, resource policy, expected)
    ("both allow, account principal", READER, IDENTITY_ALLOWS, ACCOUNT_GRANT, Decision.ALLOW),
    ("both allow, role principal", READER, IDENTITY_ALLOWS, ROLE_GRANT, Decision.ALLOW),
    ("identity only", READER, IDENTITY_ALLOWS, None, Decision.IMPLICIT_DENY),
    ("resource only", READER, None, ROLE_GRANT, Decision.IMPLICIT_DENY),
    ("resource names another role", STRANGER, IDENTITY_ALLOWS, ROLE_GRANT, Decision.IMPLICIT_DENY),
    ("aws:PrincipalArn narrows the account, match", READER, IDENTITY_ALLOWS, NARROWED_GRANT, Decision.ALLOW),
    (
        "aws:PrincipalArn narrows the account, other role",
        STRANGER,
        IDENTITY_ALLOWS,
        NARROWED_GRANT,
        Decision.IMPLICIT_DENY,
    ),
    ("identity denies", READER, IDENTITY_DENIES, ROLE_GRANT, Decision.EXPLICIT_DENY),
    ("resource denies", READER, IDENTITY_ALLOWS, RESOURCE_DENIES, Decision.EXPLICIT_DENY),
]


@pytest.mark.parametrize(
    ("caller", "identity", "resource", "expected"), [c[1:] for c in CROSS_ACCOUNT], ids=[c[0] for c in CROSS_ACCOUNT]
)
def test_cross_account_needs_both_identity_and_resource_policy(
    caller: str, identity: dict[str, Any] | None, resource: dict[str, Any] | None, expected: Decision
) -> None:
    assert decide(caller, identity, resource) is expected


SAME_ACCOUNT = [
    ("identity only", IDENTITY_ALLOWS, None, Decision.ALLOW),
    ("resource names the role", None, policy(stmt("Allow", {"AWS": LOCAL})), Decision.ALLOW),
    ("resource names the account only", None, policy(stmt("Allow", {"AWS": OWNER})), Decision.IMPLICIT_DENY),
    ("resource names everyone", None, policy(stmt("Allow", "*")), Decision.ALLOW),
    ("identity allows, resource denies", IDENTITY_ALLOWS, policy(stmt("Deny", {"AWS": LOCAL})), Decision.EXPLICIT_DENY),
    ("neither", None, policy(stmt("Allow", {"AWS": READER})), Decision.IMPLICIT_DENY),
]


@pytest.mark.parametrize(
    ("identity", "resource", "expected"), [c[1:] for c in SAME_ACCOUNT], ids=[c[0] for c in SAME_ACCOUNT]
)
def test_same_account_needs_either(
    identity: dict[str, Any] | None, resource: dict[str, Any] | None, expected: Decision
) -> None:
    assert decide(LOCAL, identity, resource) is expected


def test_key_policy_via_service_condition_is_judged_on_the_request_context() -> None:
    """kms:ViaService names the service that asked KMS on the caller's behalf (AWS KMS Developer Guide,
    "kms:ViaService", https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key_policy = policy(
        stmt(
            "Allow",
            {"AWS": OTHER},
            action="kms:Decrypt",
            resource="*",
            Condition={"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        )
    )
    identity = policy(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:eu-west-1:222222222222:key/*"}
    )
    through_s3 = Request("kms:Decrypt", key, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    direct = Request("kms:Decrypt", key)

    assert decide(READER, identity, key_policy, through_s3) is Decision.ALLOW
    assert decide(READER, identity, key_policy, direct) is Decision.IMPLICIT_DENY


def test_the_caller_sets_the_principal_keys_and_a_contradicting_context_is_rejected() -> None:
    forged = Request("s3:GetObject", OBJECT, {"aws:PrincipalArn": READER})

    assert decide(READER, IDENTITY_ALLOWS, NARROWED_GRANT, forged) is Decision.ALLOW
    with pytest.raises(ValueError, match="aws:PrincipalArn"):
        decide(STRANGER, IDENTITY_ALLOWS, NARROWED_GRANT, forged)


@pytest.mark.parametrize(
    "document",
    [
        policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        policy({"Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": "s3:GetObject", "Resource": "*"}),
        policy(stmt("Allow", {"CanonicalUser": "abc"})),
        policy({"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "s3:GetObject"}),
    ],
    ids=["no principal", "NotPrincipal", "canonical user", "no resource"],
)
def test_resource_policies_it_cannot_judge_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicy):
        ResourcePolicy(document)


def test_only_role_callers_are_modelled() -> None:
    with pytest.raises(UnsupportedPolicy, match="IAM roles"):
        decide(f"arn:aws:iam::{OTHER}:user/alice", IDENTITY_ALLOWS, ROLE_GRANT)
