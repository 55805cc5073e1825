"""A compact evaluator of IAM identity policies, trust policies and permissions boundaries.

Why it exists: no maintained Python library evaluates a request against IAM policies with
wildcards and condition operators offline. The candidates on PyPI either call the real IAM
policy simulator (an AWS account), only parse or lint policies, or, like the local simulator
inside principalmapper (last released 2022), silently treat an unknown condition operator as
satisfied. moto's evaluator ignores most conditions and checks SageMaker calls against `*`.

Scope, following the IAM User Guide's "Policy evaluation logic" for a principal acting in its
own account:

* a request is allowed when some identity-policy statement allows it, no statement of any
  policy denies it, and, when a permissions boundary is set, the boundary allows it too;
* Action/NotAction match case-insensitively with `*` and `?`; Resource/NotResource match
  case-sensitively, per ARN component like ArnLike (the last component may contain colons);
* condition operators: String*, Arn*, Bool, Null, Numeric*, with `IfExists` and the
  `ForAnyValue:`/`ForAllValues:` set qualifiers. Anything else raises `UnsupportedPolicy`,
  so a policy this module cannot judge fails the test instead of passing it;
* trust policies: Principal matching for AWS accounts, roles, assumed-role sessions, users
  and service principals;
* resource-based policies (`evaluate_access`, `ResourcePolicy`): a role's request on a resource
  of another account needs its identity policies AND the resource policy to allow it ("Cross-account
  policy evaluation logic"); in its own account either is enough, but a resource-policy statement
  naming only the account delegates to identity policies and allows nothing by itself.

Not modelled (the platform's policies use none of it): session policies, SCPs/RCPs, policy
variables (`${...}` raises), Date/IP operators, NotPrincipal, a KMS key policy that does not
enable IAM policies in its own account.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

ContextValue = str | bool | int | float | Sequence[str]
PolicyDocument = Mapping[str, Any]


class UnsupportedPolicy(ValueError):
    """The policy uses an element or operator this evaluator does not implement."""


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class Request:
    """One API call as IAM sees it: an action, the resource it touches and its context keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def __str__(self) -> str:
        keys = ", ".join(f"{k}={v!r}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}" + (f" [{keys}]" if keys else "")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise UnsupportedPolicy(f"policy variables are not supported: {pattern!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's `*` (any run of characters) and `?` (one character) matching."""
    return _wildcard(pattern, ignore_case).match(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Action names are case-insensitive (`s3:getobject` is `s3:GetObject`)."""
    return wildcard_match(pattern, action, ignore_case=True)


def arn_matches(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated components are compared one by one.

    A wildcard cannot run across the colons of the first five components; the last one
    (the resource part, e.g. `log-group:/aws/x:log-stream:y`) may contain colons.
    """
    if pattern == "*":
        return True
    if not pattern.startswith("arn:"):
        return wildcard_match(pattern, value)
    pattern_parts = pattern.split(":", 5)
    if len(pattern_parts) != 6:
        raise UnsupportedPolicy(f"an ARN pattern has six colon-separated parts: {pattern!r}")
    value_parts = value.split(":", 5)
    if len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _string_value(value: ContextValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _numeric(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise UnsupportedPolicy(f"not a number in a Numeric condition: {value!r}") from error


# Each base operator: (compare one context value with one policy value, negated?).
_Comparator = Callable[[str, str], bool]
_OPERATORS: dict[str, tuple[_Comparator, bool]] = {
    "StringEquals": (lambda ctx, pol: ctx == pol, False),
    "StringNotEquals": (lambda ctx, pol: ctx == pol, True),
    "StringEqualsIgnoreCase": (lambda ctx, pol: ctx.lower() == pol.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda ctx, pol: ctx.lower() == pol.lower(), True),
    "StringLike": (lambda ctx, pol: wildcard_match(pol, ctx), False),
    "StringNotLike": (lambda ctx, pol: wildcard_match(pol, ctx), True),
    "ArnEquals": (lambda ctx, pol: arn_matches(pol, ctx), False),
    "ArnLike": (lambda ctx, pol: arn_matches(pol, ctx), False),
    "ArnNotEquals": (lambda ctx, pol: arn_matches(pol, ctx), True),
    "ArnNotLike": (lambda ctx, pol: arn_matches(pol, ctx), True),
    "Bool": (lambda ctx, pol: ctx.lower() == pol.lower(), False),
    "NumericEquals": (lambda ctx, pol: _numeric(ctx) == _numeric(pol), False),
    "NumericNotEquals": (lambda ctx, pol: _numeric(ctx) == _numeric(pol), True),
    "NumericLessThan": (lambda ctx, pol: _numeric(ctx) < _numeric(pol), False),
    "NumericLessThanEquals": (lambda ctx, pol: _numeric(ctx) <= _numeric(pol), False),
    "NumericGreaterThan": (lambda ctx, pol: _numeric(ctx) > _numeric(pol), False),
    "NumericGreaterThanEquals": (lambda ctx, pol: _numeric(ctx) >= _numeric(pol), False),
}


def _lookup(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    # Condition key names are case-insensitive.
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _key_matches(operator: str, key: str, policy_values: list[Any], context: Mapping[str, ContextValue]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"unknown set qualifier in condition operator {operator!r}")
    present = _lookup(context, key)

    if base == "Null":
        if qualifier:
            raise UnsupportedPolicy(f"set qualifiers on Null are not supported: {operator!r}")
        wants_absent = {_string_value(v).lower() for v in policy_values}
        if not wants_absent <= {"true", "false"}:
            raise UnsupportedPolicy(f"Null takes true or false, got {policy_values!r}")
        is_absent = present is None
        return ("true" if is_absent else "false") in wants_absent

    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in _OPERATORS:
        raise UnsupportedPolicy(f"unsupported condition operator {operator!r}")
    compare, negated = _OPERATORS[base]
    wanted = [_string_value(v) for v in policy_values]

    def one_matches(value: str) -> bool:
        hit = any(compare(value, w) for w in wanted)
        return not hit if negated else hit

    if present is None:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        # A missing key satisfies only IfExists and the negated operators.
        return if_exists or negated
    values = [_string_value(v) for v in _as_list(present)]
    if qualifier == "ForAllValues":
        return all(one_matches(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(one_matches(v) for v in values)
    if len(values) != 1:
        raise UnsupportedPolicy(f"{key} has several values; the policy must use ForAnyValue/ForAllValues")
    return one_matches(values[0])


def conditions_match(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, ContextValue]) -> bool:
    """Every operator, every key under it, must hold; the values of one key are alternatives."""
    if not condition:
        return True
    return all(
        _key_matches(operator, key, _as_list(values), context)
        for operator, keys in condition.items()
        for key, values in keys.items()
    )


_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal"}


def _statements(policy: PolicyDocument) -> list[Mapping[str, Any]]:
    statements = _as_list(policy.get("Statement", []))
    for statement in statements:
        unknown = set(statement) - _STATEMENT_KEYS
        if unknown:
            raise UnsupportedPolicy(f"unsupported statement element(s) {sorted(unknown)} in {statement!r}")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise UnsupportedPolicy(f"Effect must be Allow or Deny: {statement!r}")
        if ("Action" in statement) == ("NotAction" in statement):
            raise UnsupportedPolicy(f"a statement needs exactly one of Action/NotAction: {statement!r}")
    return statements


def _action_applies(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(action_matches(p, action) for p in _as_list(statement["NotAction"]))
    return any(action_matches(p, action) for p in _as_list(statement["Action"]))


@dataclass(frozen=True)
class _Statement:
    effect: str
    actions: re.Pattern[str]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: Mapping[str, Mapping[str, Any]] | None

    def applies(self, request: Request) -> bool:
        if (self.actions.match(request.action) is not None) == self.not_action:
            return False
        hit = any(arn_matches(p, request.resource) for p in self.resources)
        if hit == self.not_resource:
            return False
        return conditions_match(self.condition, request.context)


def _compile(statement: Mapping[str, Any], kind: str) -> _Statement:
    if ("Resource" in statement) == ("NotResource" in statement):
        raise UnsupportedPolicy(f"{kind} statement needs Resource or NotResource: {statement!r}")
    patterns = _as_list(statement.get("Action", statement.get("NotAction")))
    # One alternation per statement: the sweep tests evaluate tens of thousands of requests.
    actions = re.compile("|".join(f"(?:{_wildcard(p, True).pattern})" for p in patterns), re.IGNORECASE)
    resources = tuple(_as_list(statement.get("Resource", statement.get("NotResource"))))
    for pattern in resources:
        _wildcard(pattern, False)  # rejects policy variables now rather than on first use
    return _Statement(
        effect=statement["Effect"],
        actions=actions,
        not_action="NotAction" in statement,
        resources=resources,
        not_resource="NotResource" in statement,
        condition=statement.get("Condition"),
    )


class Policy:
    """An identity policy or permissions boundary, checked and compiled once."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self._statements: list[_Statement] = []
        for statement in _statements(document):
            if "Principal" in statement:
                raise UnsupportedPolicy("Principal belongs in trust/resource policies, not identity policies")
            self._statements.append(_compile(statement, "an identity-policy"))

    def effects(self, request: Request) -> set[str]:
        """The effects (Allow, Deny) of the statements that apply to `request`."""
        return {s.effect for s in self._statements if s.applies(request)}


def _compiled(policy: Policy | PolicyDocument) -> Policy:
    return policy if isinstance(policy, Policy) else Policy(policy)


def evaluate(
    request: Request,
    identity_policies: Iterable[Policy | PolicyDocument],
    boundary: Policy | PolicyDocument | None = None,
) -> Decision:
    """Decide `request` for a principal holding `identity_policies` (and `boundary`, if set)."""
    identity: set[str] = set()
    for policy in identity_policies:
        identity |= _compiled(policy).effects(request)
    bounded = _compiled(boundary).effects(request) if boundary is not None else {"Allow"}
    if "Deny" in identity or "Deny" in bounded:
        return Decision.EXPLICIT_DENY
    if "Allow" in identity and "Allow" in bounded:
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY


_ACCOUNT_RE = re.compile(r"^\d{12}$")
_ROOT_RE = re.compile(r"^arn:[a-z-]+:iam::(\d{12}):root$")
_CALLER_RE = re.compile(r"^arn:[a-z-]+:(?:iam|sts)::(\d{12}):")
_ROLE_RE = re.compile(r"^arn:([a-z-]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$")


def principal_matches(pattern: str, caller: str) -> bool:
    """Does the AWS principal `pattern` of a trust policy name `caller` (an ARN)?

    An account ID or `:root` ARN names every principal of that account (whose own policies
    must then allow the call); a role ARN names the role and its assumed-role sessions.
    """
    if pattern == "*":
        return True
    account = pattern if _ACCOUNT_RE.match(pattern) else None
    root = _ROOT_RE.match(pattern)
    if root:
        account = root.group(1)
    if account is not None:
        caller_account = _CALLER_RE.match(caller)
        return caller_account is not None and caller_account.group(1) == account
    if "*" in pattern or "?" in pattern:
        raise UnsupportedPolicy(f"wildcards in a principal are not valid: {pattern!r}")
    if pattern == caller:
        return True
    role = _ROLE_RE.match(pattern)
    if role:
        partition, role_account, name = role.groups()
        return caller.startswith(f"arn:{partition}:sts::{role_account}:assumed-role/{name}/")
    return False


def _principal_applies(statement: Mapping[str, Any], caller: str) -> bool:
    if "NotPrincipal" in statement:
        raise UnsupportedPolicy("NotPrincipal is not supported")
    principal = statement.get("Principal")
    if principal is None:
        raise UnsupportedPolicy(f"a trust-policy statement needs a Principal: {statement!r}")
    if principal == "*":
        return True
    unknown = set(principal) - {"AWS", "Service", "Federated"}
    if unknown:
        raise UnsupportedPolicy(f"unsupported principal type(s) {sorted(unknown)}")
    if any(caller == service for service in _as_list(principal.get("Service", []))):
        return True
    if any(caller == federated for federated in _as_list(principal.get("Federated", []))):
        return True
    return any(principal_matches(p, caller) for p in _as_list(principal.get("AWS", [])))


def trust_allows(
    trust_policy: PolicyDocument,
    caller: str,
    action: str = "sts:AssumeRole",
    context: Mapping[str, ContextValue] | None = None,
) -> bool:
    """Whether the role's trust policy lets `caller` (an ARN or a service principal) call `action`."""
    allowed = False
    for statement in _statements(trust_policy):
        if not _action_applies(statement, action) or not _principal_applies(statement, caller):
            continue
        if not conditions_match(statement.get("Condition"), context or {}):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def principal_context(principal_arn: str) -> dict[str, str]:
    """The global condition keys IAM sets for a session of the role `principal_arn`.

    "aws:PrincipalArn" is the role's ARN (not the session's) and "aws:PrincipalAccount" its
    account (IAM User Guide, "AWS global condition context keys",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
    """
    role = _ROLE_RE.match(principal_arn)
    if role is None:
        raise UnsupportedPolicy(
            f"callers are modelled as IAM roles (arn:aws:iam::<account>:role/<name>): {principal_arn!r}"
        )
    return {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": role.group(2)}


def _names_account_only(pattern: str) -> bool:
    return pattern != "*" and (_ACCOUNT_RE.match(pattern) is not None or _ROOT_RE.match(pattern) is not None)


@dataclass(frozen=True)
class _Grant:
    statement: _Statement
    principal: Mapping[str, Any]


class ResourcePolicy:
    """A resource-based policy (bucket policy, key policy, model package group policy), checked once.

    Statements name their Principal; AWS principals only (an account ID, an account's `:root`
    ARN, a role ARN, or `*`). A statement that names a caller only through its account delegates
    to that account: it never allows on its own (IAM User Guide, "AWS JSON policy elements:
    Principal", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html:
    an account principal "delegates authority to the account"; "an administrator in that account
    must then grant access to an identity").
    """

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self._grants: list[_Grant] = []
        for statement in _statements(document):
            principal = statement.get("Principal")
            if "NotPrincipal" in statement or principal is None:
                raise UnsupportedPolicy(f"a resource-policy statement needs a Principal: {statement!r}")
            if principal != "*" and set(principal) - {"AWS", "Service"}:
                raise UnsupportedPolicy(f"unsupported principal type(s) {sorted(set(principal) - {'AWS', 'Service'})}")
            self._grants.append(_Grant(_compile(statement, "a resource-policy"), {"Principal": principal}))

    def effects(self, request: Request, caller: str) -> tuple[set[str], bool]:
        """The effects of the statements that apply to `caller`'s request, and whether an Allow names the caller itself."""
        effects: set[str] = set()
        direct = False
        for grant in self._grants:
            if not _principal_applies(grant.principal, caller) or not grant.statement.applies(request):
                continue
            effects.add(grant.statement.effect)
            if grant.statement.effect == "Allow":
                principal = grant.principal["Principal"]
                patterns = ["*"] if principal == "*" else _as_list(principal.get("AWS", []))
                direct = direct or any(principal_matches(p, caller) and not _names_account_only(p) for p in patterns)
        return effects, direct


def evaluate_access(
    request: Request,
    *,
    caller: str,
    identity_policies: Iterable[Policy | PolicyDocument],
    resource_policy: ResourcePolicy | PolicyDocument | None,
    resource_account: str,
    boundary: Policy | PolicyDocument | None = None,
) -> Decision:
    """Decide `request` made by a session of role `caller` on a resource of `resource_account`.

    IAM User Guide, "Cross-account policy evaluation logic"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html):
    across accounts the caller's identity policies must allow the request and the resource's
    policy must allow the caller (by account or by ARN); within one account either allowing is
    enough ("Policy evaluation for requests within a single account",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html:
    "If either the identity-based policy or the resource-based policy within the same account
    allows the request and the other doesn't, the request is still allowed"), where a resource
    policy allows on its own only a statement naming the caller, not its account. An explicit
    deny in any of them wins. KMS key policies follow the same rule across accounts (AWS KMS
    Developer Guide, "Allowing users in other accounts to use a KMS key",
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html:
    "Cross-account access requires permission in the key policy of the KMS key and in an IAM
    policy in the external user's account"). Not modelled: within one account, a key policy
    must enable IAM policies (its account-principal statement) for them to count; and a
    same-account resource-policy grant to a role with a permissions boundary raises.

    The request's context gains `aws:PrincipalArn` and `aws:PrincipalAccount` for `caller`;
    a context that already holds different values for them is rejected.
    """
    context = dict(request.context)
    for key, value in principal_context(caller).items():
        given = _lookup(request.context, key)
        if given is not None and given != value:
            raise ValueError(f"request context {key}={given!r} contradicts the caller {caller!r}")
        context[key] = value
    request = Request(request.action, request.resource, context)
    identity = evaluate(request, identity_policies, boundary)
    policy = resource_policy if isinstance(resource_policy, ResourcePolicy | None) else ResourcePolicy(resource_policy)
    resource, names_caller = policy.effects(request, caller) if policy is not None else (set(), False)
    if identity is Decision.EXPLICIT_DENY or "Deny" in resource:
        return Decision.EXPLICIT_DENY
    if context["aws:PrincipalAccount"] != resource_account:
        both = identity is Decision.ALLOW and "Allow" in resource
        return Decision.ALLOW if both else Decision.IMPLICIT_DENY
    if identity is Decision.ALLOW:
        return Decision.ALLOW
    if names_caller:
        if boundary is not None:
            raise UnsupportedPolicy("a same-account resource-policy grant to a role with a permissions boundary")
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY
