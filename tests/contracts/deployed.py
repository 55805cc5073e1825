"""A synthesized environment as the services would see it once deployed, for the grant contracts.

Builds on the persona tests' resolver (tests/access/cfn_resolver.py: one fake account and
region, physical names from the templates) and adds the attributes the service-to-service
wiring needs: log group and alarm ARNs, queue URLs, rules on a custom event bus. Resource
policies (queue, topic, key, log and function policies) are judged by `resource_policy_allows`,
which applies the same condition operators as the persona evaluator to a service principal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.access.cfn_resolver import ACCOUNT, PARTITION, REGION, Resolver, _Stack
from tests.access.iam_eval import ContextValue, UnsupportedPolicy, action_matches, arn_matches, conditions_match
from tests.contracts.conftest import Synthesized


class DeployedResolver(Resolver):
    """The persona resolver plus the resources the event and alarm wiring refers to."""

    def _ref(self, stack: _Stack, name: str) -> Any:
        resource = stack.resources.get(name)
        if resource is not None:
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Logs::LogGroup":
                return self._resolve(stack, props.get("LogGroupName", name))
            if resource["Type"] == "AWS::SQS::Queue":
                # Ref of a queue is its URL (AWS::SQS::Queue, "Return values").
                queue = self._resolve(stack, props.get("QueueName", name))
                return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"
        return super()._ref(stack, name)

    def _get_att(self, stack: _Stack, logical: str, attribute: str) -> Any:
        resource = stack.resources.get(logical, {})
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            # Fn::GetAtt returns the ARN with a trailing ":*" (AWS::Logs::LogGroup, "Return values").
            return f"{log_group_arn(self._resolve(stack, props['LogGroupName']))}:*"
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self._resolve(stack, props.get("QueueName", logical))
        if kind == "AWS::Events::Rule" and attribute == "Arn":
            # A rule on a custom bus is named rule/<bus>/<rule> (EventBridge User Guide,
            # "Amazon EventBridge rules"; IAM "Resource types defined by Amazon EventBridge").
            name = self._resolve(stack, props["Name"])
            bus = self._resolve(stack, props.get("EventBusName", "default"))
            path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
            return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:{path}"
        return super()._get_att(stack, logical, attribute)


def log_group_arn(name: str) -> str:
    """A log group's ARN without the ":*" that Fn::GetAtt adds."""
    return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def alarm_arn(name: str) -> str:
    """An alarm's ARN, the aws:SourceArn of the notifications it publishes."""
    return f"arn:{PARTITION}:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


@dataclass(frozen=True)
class Resource:
    """One resource of a deployed environment, with its properties resolved where asked."""

    unit: str
    logical_id: str
    type: str
    raw: Mapping[str, Any]
    resolver: DeployedResolver

    def prop(self, name: str, default: Any = None) -> Any:
        """A property with its intrinsics resolved."""
        if name not in self.raw:
            return default
        return self.resolver.resolve(self.unit, self.raw[name])

    @property
    def ref(self) -> Any:
        """What Ref returns for this resource."""
        return self.resolver.resolve(self.unit, {"Ref": self.logical_id})

    def att(self, attribute: str) -> Any:
        """What Fn::GetAtt returns for this resource."""
        return self.resolver.resolve(self.unit, {"Fn::GetAtt": [self.logical_id, attribute]})


class Deployed:
    """Every resource of one environment, across its stacks, resolved on demand."""

    def __init__(self, synthesized: Synthesized) -> None:
        self.label = synthesized.label
        self.resolver = DeployedResolver(synthesized.templates)
        self._resources = [
            Resource(unit, logical_id, resource["Type"], resource.get("Properties", {}), self.resolver)
            for unit, template in synthesized.templates.items()
            for logical_id, resource in template.get("Resources", {}).items()
        ]

    def of_type(self, resource_type: str) -> Iterator[Resource]:
        """Every resource of one type, across the environment's stacks."""
        return (r for r in self._resources if r.type == resource_type)

    def key_policy(self, key: str) -> Mapping[str, Any]:
        """The policy of the key a `KmsKeyId`/`KmsMasterKeyId` value (ARN or ID) names."""
        for candidate in self.of_type("AWS::KMS::Key"):
            if key in (candidate.att("Arn"), candidate.ref):
                policy: Mapping[str, Any] = candidate.prop("KeyPolicy")
                return policy
        raise AssertionError(f"{self.label}: no key {key!r} in the environment")

    def queue_by_arn(self, arn: str) -> Resource:
        return self._one("AWS::SQS::Queue", lambda q: q.att("Arn") == arn, arn)

    def topic_by_arn(self, arn: str) -> Resource:
        return self._one("AWS::SNS::Topic", lambda t: t.ref == arn, arn)

    def queue_policies(self, queue: Resource) -> list[Mapping[str, Any]]:
        return [
            p.prop("PolicyDocument") for p in self.of_type("AWS::SQS::QueuePolicy") if queue.ref in p.prop("Queues", [])
        ]

    def topic_policies(self, topic: Resource) -> list[Mapping[str, Any]]:
        return [
            p.prop("PolicyDocument") for p in self.of_type("AWS::SNS::TopicPolicy") if topic.ref in p.prop("Topics", [])
        ]

    def log_resource_policies(self) -> list[Mapping[str, Any]]:
        """CloudWatch Logs resource policies of the account (they are account-wide documents)."""
        documents = []
        for policy in self.of_type("AWS::Logs::ResourcePolicy"):
            text = policy.prop("PolicyDocument")
            documents.append(json.loads(text) if isinstance(text, str) else text)
        return documents

    def role_policies(self, role_arn: str) -> list[Mapping[str, Any]]:
        """The identity policies attached to the role with this ARN (inline and AWS::IAM::Policy)."""
        roles = [r for r in self.of_type("AWS::IAM::Role") if r.att("Arn") == role_arn]
        assert len(roles) == 1, f"{self.label}: expected one role {role_arn}, found {len(roles)}"
        (role,) = roles
        documents = [inline["PolicyDocument"] for inline in role.prop("Policies", [])]
        for policy in self.of_type("AWS::IAM::Policy"):
            if role.ref in policy.prop("Roles", []):
                documents.append(policy.prop("PolicyDocument"))
        return documents

    def _one(self, resource_type: str, match: Any, what: str) -> Resource:
        found = [r for r in self.of_type(resource_type) if match(r)]
        assert len(found) == 1, f"{self.label}: expected one {resource_type} for {what!r}, found {len(found)}"
        return found[0]


_DEPLOYED: dict[str, Deployed] = {}


def deployed(synthesized: Synthesized) -> Deployed:
    """The resolved view of one configuration, built once per test process."""
    if synthesized.label not in _DEPLOYED:
        _DEPLOYED[synthesized.label] = Deployed(synthesized)
    return _DEPLOYED[synthesized.label]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _names_principal(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicy(f"unsupported Principal {principal!r}")
    # {"AWS": "*"} admits every principal, services included; counted so that a Deny written
    # that way is never overlooked.
    if "*" in _as_list(principal.get("AWS", [])):
        return True
    return service in _as_list(principal.get("Service", []))


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, ContextValue]
) -> bool:
    if "NotPrincipal" in statement or "NotAction" in statement:
        raise UnsupportedPolicy(f"unsupported statement {statement!r}")
    if not any(action_matches(p, action) for p in _as_list(statement["Action"])):
        return False
    if "NotResource" in statement:
        if any(arn_matches(p, resource) for p in _as_list(statement["NotResource"])):
            return False
    elif not any(arn_matches(p, resource) for p in _as_list(statement.get("Resource", "*"))):
        return False
    return conditions_match(statement.get("Condition"), context)


def resource_policy_denies(
    document: Mapping[str, Any], *, action: str, resource: str, context: Mapping[str, ContextValue]
) -> bool:
    """Whether a Deny statement of the policy applies to this request, whoever makes it."""
    return any(
        statement["Effect"] == "Deny" and _statement_applies(statement, action, resource, context)
        for statement in _as_list(document.get("Statement", []))
    )


def resource_policy_allows(
    document: Mapping[str, Any],
    *,
    service: str,
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
) -> bool:
    """Whether a resource policy lets the service principal `service` make this request.

    An explicit Deny wins over any Allow; a statement whose Resource does not name the
    resource (KMS key policies say "*") or whose conditions do not hold does not count.
    """
    allowed = False
    for statement in _as_list(document.get("Statement", [])):
        if not _names_principal(statement.get("Principal"), service):
            continue
        if not _statement_applies(statement, action, resource, context):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed
