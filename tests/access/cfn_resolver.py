"""Turns synthesized templates into what a deployment would hold: concrete names, ARNs, policies.

IAM is evaluated on strings, so every CloudFormation intrinsic in a policy must become the
value CloudFormation would give it. Everything is pinned to one account and region (a fake one by
default; a multi-account test resolves each environment with its own) and
to the physical names the stacks set themselves (bucket, role, policy, server names).
Attributes CloudFormation invents at deploy time (a KMS key ID, an MLflow App ID) get fixed
fake values.

Resources or attributes this module does not know resolve to an `unresolved:` placeholder
with no wildcard in it: in an Allow statement's Resource it can only narrow the grant, so it
is accepted there and rejected anywhere else (Deny, Condition, trust policy), where it could
hide a restriction. Unknown intrinsic functions raise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
PLACEHOLDER = "unresolved:"

PolicyDocument = Mapping[str, Any]


class ResolutionError(ValueError):
    """A template uses something the resolver cannot turn into a concrete value."""


def _fake_id(*parts: str) -> str:
    """A stable, realistic-looking ID for values CloudFormation would generate."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


@dataclass(frozen=True)
class _Stack:
    name: str
    template: Mapping[str, Any]

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources: Mapping[str, Mapping[str, Any]] = self.template.get("Resources", {})
        return resources


class Resolver:
    """Resolves intrinsics across a set of stacks (so Fn::ImportValue finds its export)."""

    def __init__(self, stacks: Mapping[str, Mapping[str, Any]], account: str = ACCOUNT, region: str = REGION) -> None:
        """`stacks` maps each stack name to its template JSON; all of them deploy to `account` and `region`."""
        self.account, self.region = account, region
        self._stacks = {name: _Stack(name, template) for name, template in stacks.items()}
        self._exports: dict[str, tuple[_Stack, Any]] = {}
        for stack in self._stacks.values():
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export")
                if export is not None:
                    name = self.resolve(stack.name, export["Name"])
                    self._exports[name] = (stack, output["Value"])

    @property
    def stack_names(self) -> list[str]:
        return list(self._stacks)

    def template(self, stack_name: str) -> Mapping[str, Any]:
        return self._stacks[stack_name].template

    def resolve(self, stack_name: str, value: Any) -> Any:
        """`value` with every intrinsic replaced by its concrete value."""
        stack = self._stacks[stack_name]
        return self._resolve(stack, value)

    def output(self, stack_name: str, output_name: str) -> Any:
        return self.resolve(stack_name, self.template(stack_name)["Outputs"][output_name]["Value"])

    def _resolve(self, stack: _Stack, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(stack, arg)
            if key.startswith("Fn::"):
                return self._function(stack, key, arg)
        return {k: self._resolve(stack, v) for k, v in value.items()}

    def _function(self, stack: _Stack, name: str, arg: Any) -> Any:
        if name == "Fn::Join":
            separator, parts = arg
            return separator.join(str(self._resolve(stack, p)) for p in self._resolve(stack, parts))
        if name == "Fn::GetAtt":
            logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self._get_att(stack, logical, attribute)
        if name == "Fn::ImportValue":
            export_name = self._resolve(stack, arg)
            if export_name not in self._exports:
                raise ResolutionError(f"no stack exports {export_name!r}")
            exporter, exported = self._exports[export_name]
            return self._resolve(exporter, exported)
        if name == "Fn::Sub":
            return self._sub(stack, arg)
        if name == "Fn::Select":
            index, items = arg
            return self._resolve(stack, self._resolve(stack, items)[int(self._resolve(stack, index))])
        if name == "Fn::Split":
            separator, text = arg
            return str(self._resolve(stack, text)).split(separator)
        if name == "Fn::FindInMap":
            # [MapName, TopLevelKey, SecondLevelKey], each key itself resolvable (AWS CloudFormation
            # User Guide, "Fn::FindInMap",
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-findinmap.html).
            mapping, top, second = (self._resolve(stack, part) for part in arg)
            try:
                return stack.template["Mappings"][mapping][top][second]
            except KeyError as missing:
                raise ResolutionError(f"no {mapping}/{top}/{second} in the Mappings of {stack.name}") from missing
        raise ResolutionError(f"unsupported intrinsic {name} in stack {stack.name}: {arg!r}")

    def _sub(self, stack: _Stack, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        resolved = {k: self._resolve(stack, v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved:
                return str(resolved[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return str(self._get_att(stack, logical, attribute))
            return str(self._ref(stack, name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _ref(self, stack: _Stack, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": stack.name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.region}:{self.account}:stack/{stack.name}/{_fake_id(stack.name)}",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in stack.template.get("Parameters", {}):
            default = stack.template["Parameters"][name].get("Default")
            if default is None:
                raise ResolutionError(f"parameter {name} of {stack.name} has no default")
            return default
        resource = self._resource(stack, name)
        kind, props = resource["Type"], resource.get("Properties", {})
        ref_property = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Events::EventBus": "Name",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SageMaker::MlflowTrackingServer": "TrackingServerName",
            "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
            "AWS::SageMaker::Pipeline": "PipelineName",
            "AWS::SSM::Parameter": "Name",
        }
        if kind in ref_property:
            return self._resolve(stack, props.get(ref_property[kind], name))
        if kind == "AWS::IAM::ManagedPolicy":
            return self._managed_policy_arn(stack, name)
        if kind == "AWS::KMS::Key":
            return _fake_id(stack.name, name)
        if kind in ("AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"):
            return self._get_att(stack, name, "Arn")
        return f"{PLACEHOLDER}{stack.name}.{name}.Ref"

    def _get_att(self, stack: _Stack, logical: str, attribute: str) -> Any:
        resource = self._resource(stack, logical)
        kind, props = resource["Type"], resource.get("Properties", {})

        def name_of(prop: str) -> str:
            return str(self._resolve(stack, props.get(prop, logical)))

        def arn(service: str, resource_part: str, region: str | None = None) -> str:
            return (
                f"arn:{PARTITION}:{service}:{self.region if region is None else region}:{self.account}:{resource_part}"
            )

        path = str(self._resolve(stack, props.get("Path", "/")))
        known: dict[tuple[str, str], Any] = {
            ("AWS::IAM::Role", "Arn"): lambda: arn("iam", f"role{path}{name_of('RoleName')}", region=""),
            ("AWS::IAM::Role", "RoleId"): lambda: "AROA" + _fake_id(stack.name, logical)[:17].upper(),
            ("AWS::IAM::ManagedPolicy", "PolicyArn"): lambda: self._managed_policy_arn(stack, logical),
            ("AWS::KMS::Key", "Arn"): lambda: arn("kms", f"key/{_fake_id(stack.name, logical)}"),
            ("AWS::KMS::Key", "KeyId"): lambda: _fake_id(stack.name, logical),
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:{PARTITION}:s3:::{name_of('BucketName')}",
            ("AWS::SageMaker::MlflowTrackingServer", "TrackingServerArn"): lambda: arn(
                "sagemaker", f"mlflow-tracking-server/{name_of('TrackingServerName')}"
            ),
            ("AWS::SageMaker::MlflowApp", "Arn"): lambda: arn(
                "sagemaker", f"mlflow-app/app-{_fake_id(stack.name, logical)[:12]}"
            ),
            ("AWS::Events::EventBus", "Arn"): lambda: arn("events", f"event-bus/{name_of('Name')}"),
            ("AWS::Events::EventBus", "Name"): lambda: name_of("Name"),
            ("AWS::Events::Rule", "Arn"): lambda: arn("events", f"rule/{name_of('Name')}"),
            ("AWS::SQS::Queue", "Arn"): lambda: arn("sqs", name_of("QueueName")),
            ("AWS::SNS::Topic", "Arn"): lambda: arn("sns", name_of("TopicName")),
            ("AWS::Lambda::Function", "Arn"): lambda: arn("lambda", f"function:{name_of('FunctionName')}"),
            ("AWS::StepFunctions::StateMachine", "Arn"): lambda: arn(
                "states", f"stateMachine:{name_of('StateMachineName')}"
            ),
            ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupArn"): lambda: arn(
                "sagemaker", f"model-package-group/{name_of('ModelPackageGroupName').lower()}"
            ),
            ("AWS::SageMaker::Pipeline", "PipelineArn"): lambda: arn(
                "sagemaker", f"pipeline/{name_of('PipelineName').lower()}"
            ),
        }
        if (kind, attribute) in known:
            return known[(kind, attribute)]()
        return f"{PLACEHOLDER}{stack.name}.{logical}.{attribute}"

    def _managed_policy_arn(self, stack: _Stack, logical: str) -> str:
        props = self._resource(stack, logical).get("Properties", {})
        name = self._resolve(stack, props.get("ManagedPolicyName", logical))
        path = self._resolve(stack, props.get("Path", "/"))
        return f"arn:{PARTITION}:iam::{self.account}:policy{path}{name}"

    def _resource(self, stack: _Stack, logical: str) -> Mapping[str, Any]:
        if logical not in stack.resources:
            raise ResolutionError(f"{stack.name} has no resource or parameter {logical!r}")
        return stack.resources[logical]


def placeholders_in(value: Any) -> list[str]:
    """Every unresolved placeholder string inside `value`."""
    if isinstance(value, str):
        return [value] if PLACEHOLDER in value else []
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in placeholders_in(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in placeholders_in(v)]
    return []


def check_identity_policy(policy: PolicyDocument, where: str) -> PolicyDocument:
    """Reject placeholders anywhere they could loosen the policy (see the module docstring)."""
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    for statement in statements:
        loose = {k: v for k, v in statement.items() if not (k == "Resource" and statement["Effect"] == "Allow")}
        found = placeholders_in(loose)
        if found:
            raise ResolutionError(f"{where}: cannot resolve {found} where it could widen access")
    return policy


@dataclass(frozen=True)
class DeployedRole:
    """An IAM role as it would exist after deployment."""

    stack: str
    logical_id: str
    name: str
    arn: str
    trust_policy: PolicyDocument
    max_session_duration: int
    permissions_boundary: str | None
    policies: tuple[PolicyDocument, ...]
    # Managed policies not defined in these stacks (AWS managed or pre-existing): their
    # documents are unknown, so such a role cannot be evaluated.
    external_policy_arns: tuple[str, ...]


@dataclass(frozen=True)
class Deployment:
    """The resolved stacks of one environment."""

    resolver: Resolver
    roles: Mapping[str, DeployedRole]
    managed_policies: Mapping[str, PolicyDocument]

    def role(self, name: str) -> DeployedRole:
        if name not in self.roles:
            raise KeyError(f"no role named {name!r}; roles are {sorted(self.roles)}")
        return self.roles[name]


def _logical_refs(value: Any) -> list[str]:
    return [item["Ref"] for item in value if isinstance(item, Mapping) and "Ref" in item] if value else []


def deploy(stacks: Mapping[str, Mapping[str, Any]], account: str = ACCOUNT, region: str = REGION) -> Deployment:
    """Resolve every role of `stacks` (deployed to `account`, `region`) with its trust policy, boundary and policies."""
    resolver = Resolver(stacks, account, region)
    managed: dict[str, PolicyDocument] = {}
    attached: dict[tuple[str, str], list[PolicyDocument]] = {}

    for stack in resolver.stack_names:
        for logical, resource in resolver.template(stack).get("Resources", {}).items():
            if resource["Type"] not in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                continue
            props = resource.get("Properties", {})
            where = f"{stack}/{logical}"
            document = check_identity_policy(resolver.resolve(stack, props["PolicyDocument"]), where)
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                managed[resolver.resolve(stack, {"Ref": logical})] = document
            for role in _logical_refs(props.get("Roles")):
                attached.setdefault((stack, role), []).append(document)

    roles: dict[str, DeployedRole] = {}
    for stack in resolver.stack_names:
        for logical, resource in resolver.template(stack).get("Resources", {}).items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            props = resource.get("Properties", {})
            policies = list(attached.get((stack, logical), []))
            for inline in props.get("Policies", []):
                document = resolver.resolve(stack, inline["PolicyDocument"])
                policies.append(check_identity_policy(document, f"{stack}/{logical}"))
            external: list[str] = []
            for arn in resolver.resolve(stack, props.get("ManagedPolicyArns", [])):
                if arn in managed:
                    policies.append(managed[arn])
                else:
                    external.append(arn)
            trust = resolver.resolve(stack, props["AssumeRolePolicyDocument"])
            if placeholders_in(trust):
                raise ResolutionError(f"{stack}/{logical}: unresolved trust policy {placeholders_in(trust)}")
            name = resolver.resolve(stack, {"Ref": logical})
            roles[name] = DeployedRole(
                stack=stack,
                logical_id=logical,
                name=name,
                arn=resolver.resolve(stack, {"Fn::GetAtt": [logical, "Arn"]}),
                trust_policy=trust,
                max_session_duration=int(props.get("MaxSessionDuration", 3600)),
                permissions_boundary=resolver.resolve(stack, props.get("PermissionsBoundary")),
                policies=tuple(policies),
                external_policy_arns=tuple(external),
            )
    return Deployment(resolver=resolver, roles=roles, managed_policies=managed)
