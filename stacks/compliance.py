"""Security gates that run on every synth: cdk-nag's AWS Solutions and NIST 800-53 rev 5 packs.

Any finding that is not acknowledged fails synthesis. Acknowledgements live next to the
resource they concern (see `acknowledge`), each with a reason specific to that resource.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk.aws_iam import PolicyStatement
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import IConstruct


def apply_compliance_checks(app: App, stacks: Iterable[Stack]) -> None:
    """Register the rule packs once per app (their findings fail `synth`)."""
    if app.node.try_get_context("platform:nag") == "off":
        return
    if not getattr(app, "_platform_nag_registered", False):
        Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
        app._platform_nag_registered = True  # type: ignore[attr-defined]
    del stacks


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept one finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and below."""
    pack = finding.split("-", 1)[0]
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{pack}::{finding}", reason=reason))


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
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding id")


def acknowledge_wildcards(scope: IConstruct, statement: PolicyStatement, reason: str) -> None:
    """Acknowledge exactly the AwsSolutions-IAM5 findings `statement` raises, one by one.

    cdk-nag 3 raises one finding per wildcard action and per wildcard resource; naming each
    one keeps a new wildcard added later from slipping through under an old acknowledgement.
    """
    stack = Stack.of(scope)
    for action in statement.actions:
        if "*" in action:
            acknowledge(scope, f"AwsSolutions-IAM5[Action::{action}]", reason)
    for resource in statement.resources:
        text = _nag_text(stack.resolve(resource))
        if "*" in text:
            acknowledge(scope, f"AwsSolutions-IAM5[Resource::{text}]", reason)
