"""Least privilege that stays least: a wildcard is granted only where it was acknowledged.

cdk-nag names a wildcard finding by the wildcard alone (`AwsSolutions-IAM5[Resource::*]`), so an
acknowledgement written for one statement covers every later statement on the same resource in
the same role. Here an acknowledgement records the exact actions and resources of the statement
it is for, as construct metadata (it stays in the cloud assembly, next to the templates, for
audit), and a validation plugin compares every (action, resource) pair with a wildcard in the
synthesized policies with the pairs acknowledged on the policy's construct or one above it.

Why a CDK validation plugin rather than an Aspect or a check in `build_platform`: the plugin
runs inside `app.synth()` after the templates are written, so it judges exactly what
CloudFormation receives (grants made by L2 constructs, merged statements, cross-stack
references resolved), and a finding fails `cdk synth`, `python app.py` and the tests'
`Template.from_stack` alike with no further wiring. Its findings are reported with severity
`fatal`, which `Validations.acknowledge` cannot suppress: a wildcard is only ever covered by an
acknowledgement that names it.

Checked: Allow statements of identity policies (inline, customer managed, role inline policies)
and of resource policies (key, bucket, queue, topic and event bus policies). `NotAction` and
`NotResource` in an Allow statement are refused outright. A key policy's `"Resource": "*"` is
not a wildcard: in a key policy it means "this KMS key" (AWS KMS Developer Guide, "Creating a
key policy", https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html).
Policies held as strings (AWS::Logs::ResourcePolicy) and AWS managed policies, which are not in
the templates, are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    App,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Stack,
    Stage,
    Token,
    Validations,
)
from aws_cdk.aws_iam import PolicyDocument, PolicyStatement
from constructs import IConstruct, Node

ACKNOWLEDGEMENT_METADATA = "platform:wildcard-acknowledgement"
LOGICAL_ID_METADATA = "aws:cdk:logicalId"
PLUGIN_NAME = "Least Privilege"
RULE_UNACKNOWLEDGED = "WildcardNotAcknowledged"
RULE_NEGATED = "NegatedGrant"
RULE_STALE = "StaleAcknowledgement"
WILDCARDS = ("*", "?")
MIN_REASON_LENGTH = 40

# Where each resource type keeps its policy document(s); identity policies first.
_IDENTITY_POLICIES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role")
_RESOURCE_POLICIES = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
}


def _canonical(value: Any) -> str:
    """One text per resolved CloudFormation value, so equal values compare equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _has_wildcard(value: Any) -> bool:
    text = value if isinstance(value, str) else _canonical(value)
    return any(w in text for w in WILDCARDS)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _readable(value: Any) -> str:
    """A resolved value as a person reads it: `arn:${AWS::Partition}:...` for a Fn::Join."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            return f"${{{'.'.join(argument)}}}"
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            separator, parts = argument
            return str(separator).join(_readable(part) for part in parts)
        if function == "Fn::ImportValue":
            return f"${{Import {_readable(argument)}}}"
    return _canonical(value)


# Every encoded string token contains this marker, and Token.is_unresolved answers False for a
# string without it before looking further (aws-cdk-lib core/lib/private/encoding.ts,
# `unresolved`); testing it here spares plain text a round trip into the CDK runtime.
_TOKEN_MARKER = "Token["


class ScopeHandles:
    """A construct's stack, node and Validations, each fetched from the CDK runtime once.

    Acknowledgements come many to a construct (one per wildcard statement of a policy), and
    each lookup is a round trip into the CDK runtime. None of them can change once the
    construct exists: its scope, and so its stack, is fixed at creation.
    """

    def __init__(self, scope: IConstruct) -> None:
        self._scope = scope

    @cached_property
    def stack(self) -> Stack:
        return Stack.of(self._scope)

    @cached_property
    def node(self) -> Node:
        return self._scope.node

    @cached_property
    def validations(self) -> Validations:
        return Validations.of(self._scope)


_HANDLES_ATTRIBUTE = "_platform_scope_handles"


def handles(scope: IConstruct) -> ScopeHandles:
    """The `ScopeHandles` of `scope` (kept on the construct's Python object, so one per construct)."""
    found = getattr(scope, _HANDLES_ATTRIBUTE, None)
    if found is None:
        found = ScopeHandles(scope)
        setattr(scope, _HANDLES_ATTRIBUTE, found)
    return found


@dataclass(frozen=True)
class RecordedStatement:
    """What an acknowledgement recorded: the statement's actions, its resources, and those resolved."""

    actions: list[str]
    resources: list[Any]
    resolved: list[Any]


def written_statements(statements: Sequence[PolicyStatement]) -> list[dict[str, Any]]:
    """The JSON of each statement (as `PolicyStatement.to_statement_json` gives it), in one round trip.

    A PolicyDocument renders its statements' JSON without freezing or merging them (only
    resolving it does); the document is not attached to anything and is dropped.
    """
    if not statements:
        return []
    rendered: dict[str, Any] = PolicyDocument(statements=list(statements)).to_json()
    return list(rendered["Statement"])


def record_acknowledgement(scope: IConstruct, statement: PolicyStatement, reason: str) -> RecordedStatement:
    """Record that `statement`'s wildcards are intended, for policies at or below `scope`.

    The record names the statement's actions and resources as they are now; a grant added
    to the statement later is not covered by it.
    """
    # The statement's JSON in one round trip, where its actions, resources, not_actions,
    # not_resources and sid properties would take five.
    return record_written_acknowledgement(scope, statement.to_statement_json(), reason)


def record_written_acknowledgement(scope: IConstruct, json_form: Mapping[str, Any], reason: str) -> RecordedStatement:
    """`record_acknowledgement` for a statement given as its JSON (see `written_statements`)."""
    # The JSON lists the same actions and resources in the same order as the statement's
    # properties (both come from the statement's ordered sets); it holds a single value as
    # itself, which `_as_list` turns back into a list.
    if "NotAction" in json_form or "NotResource" in json_form:
        raise ValueError(f"{scope.node.path}: NotAction/NotResource grants cannot be acknowledged; list the grants")
    return record_statement_acknowledgement(
        scope,
        _as_list(json_form.get("Action")),
        _as_list(json_form.get("Resource")),
        reason,
        label=json_form.get("Sid") or "",
    )


def record_statement_acknowledgement(
    scope: IConstruct, actions: Sequence[str], resources: Sequence[Any], reason: str, *, label: str = ""
) -> RecordedStatement:
    """`record_acknowledgement` for a statement given as its actions and (resolved or token) resources.

    For statements a library generates, which exist only as policy documents.
    """
    # isinstance answers what Stack.is_stack and Stage.is_stage would, without a round trip:
    # jsii hands back every construct as an instance of its own class (a construct made here
    # is its Python object; one made by a library is a proxy of its jsii type), and every
    # stack and stage class, nested stacks and CDK Pipelines' stages included, derives from
    # Stack or Stage.
    if isinstance(scope, (Stack, Stage)):
        raise ValueError(
            f"acknowledge the wildcards of {scope.node.path} on the role, policy or resource that holds the "
            "statement, not on a whole stack"
        )
    actions = list(actions)
    resources = list(resources)
    if not actions or not resources:
        raise ValueError(f"{scope.node.path}: a wildcard acknowledgement needs the statement's actions and resources")
    scope_handles = handles(scope)
    resolved = list(scope_handles.stack.resolve(resources))
    if not any(_has_wildcard(a) for a in actions) and not any(_has_wildcard(r) for r in resolved):
        raise ValueError(
            f"{scope.node.path}: statement {label or actions} has no wildcard; there is nothing to acknowledge"
        )
    deploy_time = _TOKEN_MARKER in reason and Token.is_unresolved(reason)
    if deploy_time or len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(
            f"{scope.node.path}: say why the wildcards are needed, in plain text of at least {MIN_REASON_LENGTH} "
            "characters (no deploy-time values)"
        )
    scope_handles.node.add_metadata(
        ACKNOWLEDGEMENT_METADATA, {"actions": actions, "resources": resources, "reason": reason}
    )
    return RecordedStatement(actions, resources, resolved)


@dataclass(frozen=True)
class Acknowledgement:
    """A statement's acknowledged (action, resource) pairs, at a construct path."""

    path: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # canonical texts of the resolved resources
    reason: str

    def covers(self, construct_path: str | None) -> bool:
        return construct_path is not None and (
            construct_path == self.path or construct_path.startswith(self.path + "/")
        )

    @cached_property
    def wildcard_pairs(self) -> frozenset[tuple[str, str]]:
        """The (action, canonical resource) pairs with a wildcard; computed once, looked up per grant."""
        wildcard_resources = {resource for resource in self.resources if _has_wildcard(json.loads(resource))}
        return frozenset(
            (action, resource)
            for action in self.actions
            for resource in self.resources
            if resource in wildcard_resources or _has_wildcard(action)
        )


@dataclass(frozen=True)
class Finding:
    """One thing the check refuses, with where it is in the cloud assembly."""

    rule: str
    description: str
    template_path: str
    logical_id: str | None = None
    construct_path: str | None = None
    locations: tuple[str, ...] = ()


@dataclass
class AssemblyStack:
    """One synthesized stack: its template and its construct metadata by path."""

    template_path: str
    template: Mapping[str, Any]
    metadata: Mapping[str, Sequence[Mapping[str, Any]]]
    _paths: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for path, entries in self.metadata.items():
            for entry in entries:
                if entry.get("type") == LOGICAL_ID_METADATA:
                    self._paths[str(entry["data"])] = path

    def construct_path(self, logical_id: str) -> str | None:
        return self._paths.get(logical_id)

    def acknowledgements(self) -> list[Acknowledgement]:
        found = []
        for path, entries in self.metadata.items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGEMENT_METADATA:
                    data = entry["data"]
                    found.append(
                        Acknowledgement(
                            path=path,
                            actions=tuple(str(a) for a in data["actions"]),
                            resources=tuple(_canonical(r) for r in data["resources"]),
                            reason=str(data["reason"]),
                        )
                    )
        return found

    @classmethod
    def load_all(cls, template_paths: Iterable[str]) -> Iterator[AssemblyStack]:
        """Read each stack's template and, from the assembly manifest beside it, its metadata.

        A manifest lists every stack of its assembly, so it is read once per assembly: read once
        per stack, the check's cost would grow with the square of the number of stacks.
        """
        artifacts_by_directory: dict[Path, dict[str, list[Mapping[str, Any]]]] = {}
        for template_path in template_paths:
            template_file = Path(template_path)
            artifacts = artifacts_by_directory.get(template_file.parent)
            if artifacts is None:
                artifacts = _artifacts_by_template(template_file.parent)
                artifacts_by_directory[template_file.parent] = artifacts
            metadata: dict[str, Sequence[Mapping[str, Any]]] = {}
            for artifact in artifacts.get(template_file.name, []):
                metadata.update(artifact.get("metadata", {}))
                extra = artifact.get("additionalMetadataFile")
                if extra:
                    metadata.update(json.loads((template_file.parent / extra).read_text()))
            yield cls(template_path, json.loads(template_file.read_text()), metadata)


def _artifacts_by_template(assembly_directory: Path) -> dict[str, list[Mapping[str, Any]]]:
    """The artifacts of an assembly's manifest, by the name of the template file they describe."""
    manifest = json.loads((assembly_directory / "manifest.json").read_text())
    artifacts: dict[str, list[Mapping[str, Any]]] = {}
    for artifact in manifest.get("artifacts", {}).values():
        template_name = artifact.get("properties", {}).get("templateFile")
        if template_name is not None:
            artifacts.setdefault(template_name, []).append(artifact)
    return artifacts


@dataclass(frozen=True)
class _Statement:
    logical_id: str
    location: str
    statement: Mapping[str, Any]
    resource_policy_of: str | None  # the resource type, for a resource policy


def _statements(template: Mapping[str, Any]) -> Iterator[_Statement]:
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        properties = resource.get("Properties", {})
        documents: list[tuple[str, Any]] = []
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(("Properties/PolicyDocument", properties.get("PolicyDocument")))
        elif kind == "AWS::IAM::Role":
            for index, policy in enumerate(properties.get("Policies", [])):
                documents.append((f"Properties/Policies/{index}/PolicyDocument", policy.get("PolicyDocument")))
        elif kind in _RESOURCE_POLICIES:
            key = _RESOURCE_POLICIES[kind]
            documents.append((f"Properties/{key}", properties.get(key)))
        elif kind == "AWS::Events::EventBusPolicy" and "Statement" in properties:
            yield _Statement(logical_id, "Properties/Statement", properties["Statement"], kind)
        for location, document in documents:
            if not isinstance(document, dict):
                continue
            for index, statement in enumerate(_as_list(document.get("Statement"))):
                yield _Statement(
                    logical_id,
                    f"{location}/Statement/{index}",
                    statement,
                    None if kind in _IDENTITY_POLICIES else kind,
                )


def _principals(statement: Mapping[str, Any]) -> str:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return _readable(principal)
    return ", ".join(_readable(p) for values in principal.values() for p in _as_list(values))


def _holder(template: Mapping[str, Any], logical_id: str, statement: Mapping[str, Any]) -> str:
    """Who holds the grant, in words: the roles (by name) a policy is attached to, or a resource policy's principals."""
    resources = template.get("Resources", {})
    resource = resources.get(logical_id, {})
    properties = resource.get("Properties", {})

    def role_name(reference: Any) -> str:
        if isinstance(reference, dict) and "Ref" in reference:
            target = resources.get(reference["Ref"], {})
            name = target.get("Properties", {}).get("RoleName")
            return name if isinstance(name, str) else str(reference["Ref"])
        return _readable(reference)

    kind = resource.get("Type")
    if kind == "AWS::IAM::Role":
        return f"role {role_name({'Ref': logical_id})}"
    if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        holders = [f"role {role_name(r)}" for r in _as_list(properties.get("Roles"))]
        holders += [f"user {_readable(u)}" for u in _as_list(properties.get("Users"))]
        holders += [f"group {_readable(g)}" for g in _as_list(properties.get("Groups"))]
        name = properties.get("ManagedPolicyName") or properties.get("PolicyName") or logical_id
        return f"{', '.join(holders) or 'nobody yet'} (policy {_readable(name)})"
    return f"{_principals(statement)} (through the {kind} policy of {logical_id})"


def check(stacks: Iterable[AssemblyStack]) -> list[Finding]:
    """Every wildcard grant not covered by an acknowledgement, and every stale acknowledgement."""
    findings: list[Finding] = []
    for stack in stacks:
        acknowledgements = stack.acknowledgements()
        used: set[tuple[int, tuple[str, str]]] = set()
        for item in _statements(stack.template):
            findings.extend(_judge(stack, item, acknowledgements, used))
        for index, acknowledgement in enumerate(acknowledgements):
            if not any((index, pair) in used for pair in acknowledgement.wildcard_pairs):
                findings.append(
                    Finding(
                        rule=RULE_STALE,
                        description=(
                            f"{acknowledgement.path} acknowledges {', '.join(acknowledgement.actions)} on "
                            f"{', '.join(_readable(json.loads(r)) for r in acknowledgement.resources)}, which no "
                            "policy at or below it grants any more; remove the acknowledgement, or it will cover "
                            "a future grant nobody reviewed"
                        ),
                        template_path=stack.template_path,
                        construct_path=acknowledgement.path.lstrip("/"),
                    )
                )
    return findings


def _judge(
    stack: AssemblyStack,
    item: _Statement,
    acknowledgements: Sequence[Acknowledgement],
    used: set[tuple[int, tuple[str, str]]],
) -> Iterator[Finding]:
    statement = item.statement
    if statement.get("Effect") != "Allow":
        return
    holder = _holder(stack.template, item.logical_id, statement)
    how = (
        "stacks.compliance.acknowledge_wildcards"
        if item.resource_policy_of is None
        else "stacks.compliance.acknowledge_resource_policy_wildcards"
    )
    if "NotAction" in statement or "NotResource" in statement:
        yield Finding(
            rule=RULE_NEGATED,
            description=f"{holder} is allowed everything but what NotAction/NotResource lists; list the grants",
            template_path=stack.template_path,
            logical_id=item.logical_id,
            locations=(item.location,),
        )
        return
    construct_path = stack.construct_path(item.logical_id)
    applicable = [(index, a) for index, a in enumerate(acknowledgements) if a.covers(construct_path)]
    for action in (str(a) for a in _as_list(statement.get("Action"))):
        for resource in _as_list(statement.get("Resource")):
            # In a key policy, "*" is the key itself, not every key.
            wildcard_resource = _has_wildcard(resource) and not (
                item.resource_policy_of == "AWS::KMS::Key" and resource == "*"
            )
            if not (_has_wildcard(action) or wildcard_resource):
                continue
            pair = (action, _canonical(resource))
            covering = [index for index, a in applicable if pair in a.wildcard_pairs]
            for index in covering:
                used.add((index, pair))
            if not covering:
                yield Finding(
                    rule=RULE_UNACKNOWLEDGED,
                    description=(
                        f"{holder} may {action} on {json.dumps(_readable(resource))}, and no wildcard "
                        "acknowledgement of this policy or its owner lists that action on that resource; narrow "
                        f"the statement, or acknowledge that statement ({how}) saying why"
                    ),
                    template_path=stack.template_path,
                    logical_id=item.logical_id,
                    locations=(item.location,),
                )


def _violation(finding: Finding) -> PolicyViolation:
    resource = PolicyViolatingResource(
        locations=list(finding.locations),
        template_path=finding.template_path,
        resource_logical_id=finding.logical_id,
        construct_path=finding.construct_path,
    )
    # `fatal` cannot be suppressed by Validations.acknowledge: only a statement's own
    # acknowledgement covers its wildcards.
    return PolicyViolation(
        rule_name=finding.rule, description=finding.description, violating_resources=[resource], severity="fatal"
    )


@jsii.implements(IPolicyValidationPlugin)
class LeastPrivilegeCheck:
    """The validation plugin: runs `check` over every stack of the assembly."""

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        return [RULE_UNACKNOWLEDGED, RULE_NEGATED, RULE_STALE]

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        # The same paths as `stack_templates` (aws-cdk-lib builds one from the other), in one round
        # trip: each entry of `stack_templates` is a struct read back field by field, a round trip each.
        findings = check(AssemblyStack.load_all(context.template_paths))
        return PolicyValidationPluginReport(success=not findings, violations=[_violation(f) for f in findings])


def register(app: App) -> None:
    """Run the check on every synth of `app` (once, however often it is called)."""
    if getattr(app, "_platform_least_privilege_registered", False):
        return
    Validations.of(app).add_plugins(LeastPrivilegeCheck())
    app._platform_least_privilege_registered = True  # type: ignore[attr-defined]
