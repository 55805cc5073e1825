"""Security gates that run on every synth: cdk-nag's AWS Solutions and NIST 800-53 rev 5 packs,
and the platform's own least-privilege check (stacks/least_privilege.py).

Any finding that is not acknowledged fails synthesis. Acknowledgements live next to the
resource they concern (see `acknowledge`), each with a reason specific to that resource; a
wildcard grant is acknowledged with the statement that makes it (`acknowledge_wildcards`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk.aws_iam import AccountRootPrincipal, PolicyStatement
from aws_cdk.aws_kms import IKey
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import IConstruct

from stacks import least_privilege


def apply_compliance_checks(app: App, stacks: Iterable[Stack]) -> None:
    """Register the checks once per app (their findings fail `synth`)."""
    least_privilege.register(app)
    if app.node.try_get_context("platform:nag") == "off":
        return
    if not getattr(app, "_platform_nag_registered", False):
        Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
        app._platform_nag_registered = True  # type: ignore[attr-defined]
    del stacks


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept one finding (e.g. `NIST.800.53.R5-IAMNoInlinePolicy`) on `scope` and below."""
    if finding.startswith("AwsSolutions-IAM5"):
        # Such an acknowledgement would cover any statement on that wildcard in the scope.
        raise ValueError(f"{finding} on {scope.node.path}: acknowledge wildcards with the statement they are for")
    _acknowledge(scope, finding, reason=reason)


def _nag_text(value: object) -> str:
    """Render a resolved CloudFormation value the way cdk-nag prints it in a finding id."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(arg)}>"
        if fn == "Fn::Join":
            separator, parts = arg
            return str(separator).join(_nag_text(p) for p in parts)
        if fn == "Fn::ImportValue":
            return _nag_text(arg)
        if fn == "Fn::Sub" and isinstance(arg, str):
            return re.sub(r"\$\{([^}]+)\}", r"<\1>", arg)
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding id")


def acknowledge_wildcards(scope: IConstruct, statement: PolicyStatement, reason: str) -> None:
    """Acknowledge the wildcards of one identity-policy statement, for the policies at or below `scope`.

    The least-privilege check then accepts exactly this statement's (action, resource) pairs.
    cdk-nag 3 raises one AwsSolutions-IAM5 finding per wildcard action and per wildcard
    resource; each is acknowledged by name as well.
    """
    _acknowledge_recorded(scope, least_privilege.record_acknowledgement(scope, statement, reason), reason)


def acknowledge_each(scope: IConstruct, statements: Sequence[tuple[PolicyStatement, str | None]]) -> None:
    """`acknowledge_wildcards` for each statement given a reason (those without one have no wildcard)."""
    given = [(statement, reason) for statement, reason in statements if reason]
    written = least_privilege.written_statements([statement for statement, _ in given])
    for json_form, (_, reason) in zip(written, given, strict=True):
        recorded = least_privilege.record_written_acknowledgement(scope, json_form, reason)
        _acknowledge_recorded(scope, recorded, reason)


def acknowledge_by_sid(scope: IConstruct, statements: Sequence[PolicyStatement], reasons: Mapping[str, str]) -> None:
    """`acknowledge_wildcards` for each statement whose sid `reasons` gives a reason for."""
    for json_form in least_privilege.written_statements(statements):
        reason = reasons.get(json_form.get("Sid") or "")
        if reason:
            _acknowledge_recorded(
                scope, least_privilege.record_written_acknowledgement(scope, json_form, reason), reason
            )


def _acknowledge_recorded(scope: IConstruct, recorded: least_privilege.RecordedStatement, reason: str) -> None:
    """Acknowledge by name the cdk-nag IAM5 findings of a recorded statement's wildcards."""
    # The statement is read and its resources resolved once, by the record: each read is a round
    # trip into the CDK runtime, and a statement scoped per model lists hundreds of resources at a
    # hundred models.
    findings = [f"AwsSolutions-IAM5[Action::{action}]" for action in recorded.actions if "*" in action]
    for resolved in recorded.resolved:
        text = _nag_text(resolved)
        if "*" in text:
            findings.append(f"AwsSolutions-IAM5[Resource::{text}]")
    _acknowledge(scope, *findings, reason=reason)


def acknowledge_resource_policy_wildcards(scope: IConstruct, statement: PolicyStatement, reason: str) -> None:
    """Acknowledge the wildcards of one resource-policy statement (key, bucket, queue, topic policy)."""
    least_privilege.record_acknowledgement(scope, statement, reason)


def acknowledge_default_key_policy(key: IKey) -> None:
    """Acknowledge the `kms:*` that a key's default policy gives its own account."""
    acknowledge_resource_policy_wildcards(
        key,
        PolicyStatement(actions=["kms:*"], resources=["*"], principals=[AccountRootPrincipal()]),
        "The default key policy statement: the account administers the key and lets IAM policies grant its use; "
        "without it no IAM policy could use the key (AWS KMS Developer Guide, 'Default key policy'). Who may use "
        "it is then decided by the least-privilege IAM policies of this platform.",
    )


def _acknowledge(scope: IConstruct, *findings: str, reason: str) -> None:
    if findings:
        least_privilege.handles(scope).validations.acknowledge(
            *(Acknowledgment(id=f"{finding.split('-', 1)[0]}::{finding}", reason=reason) for finding in findings)
        )


def acknowledge_generated_statements(
    scope: IConstruct, document: object, reason: str, *, key_policy: bool = False
) -> int:
    """Acknowledge each wildcard statement of a policy document a library generated, on `scope`.

    Statement by statement, as `acknowledge_wildcards` does for the platform's own: the
    least-privilege check then accepts exactly these (action, resource) pairs on `scope`, and
    cdk-nag's IAM5 findings are acknowledged by name. Returns how many statements had wildcards.
    """
    resolved: Any = least_privilege.handles(scope).stack.resolve(document) or {}
    count = 0
    for statement in resolved.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = _listed(statement.get("Action"))
        resources = _listed(statement.get("Resource"))
        # In a key policy "*" is the key itself (see stacks/least_privilege.py), not a wildcard.
        wildcard_resources = [r for r in resources if "*" in _nag_text(r) and not (key_policy and r == "*")]
        wildcard_actions = [str(a) for a in actions if "*" in str(a)]
        if not wildcard_actions and not wildcard_resources:
            continue
        least_privilege.record_statement_acknowledgement(scope, [str(a) for a in actions], resources, reason)
        findings = [f"AwsSolutions-IAM5[Action::{a}]" for a in wildcard_actions]
        findings += [f"AwsSolutions-IAM5[Resource::{_nag_text(r)}]" for r in wildcard_resources]
        _acknowledge(scope, *findings, reason=reason)
        count += 1
    return count


def _listed(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
