"""Resolve the CloudFormation intrinsics of synthesized templates to concrete values.

Enough of CloudFormation for the tests that load rules, handlers and settings from the
templates into moto: Ref (pseudo parameters and resources), Fn::Join, Fn::GetAtt,
Fn::ImportValue and Fn::FindInMap, for a fixed account and region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
}


class Resolver:
    """Resolves values of one or more templates (exports of one are imports of another)."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], physical_ids: Mapping[str, str] | None = None):
        self.templates = templates
        self.physical = dict(physical_ids or {})
        self.exports: dict[str, Any] = {}
        for template in templates.values():
            for output in template.get("Outputs", {}).values():
                if "Export" in output:
                    self.exports[output["Export"]["Name"]] = (template, output["Value"])

    def resolve(self, value: Any, template: Mapping[str, Any]) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, template) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return PSEUDO.get(arg) or self._ref(arg, template)
            if fn == "Fn::Join":
                return str(arg[0]).join(str(self.resolve(p, template)) for p in arg[1])
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical, attribute, template)
            if fn == "Fn::ImportValue":
                source, exported = self.exports[self.resolve(arg, template)]
                return self.resolve(exported, source)
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                values = {k: str(self.resolve(v, template)) for k, v in variables.items()}
                return re.sub(
                    r"\$\{([^}!][^}]*)\}",
                    lambda m: values.get(m.group(1)) or str(self.resolve({"Ref": m.group(1)}, template)),
                    text,
                )
            if fn == "Fn::FindInMap":
                name, top, second = (self.resolve(a, template) for a in arg)
                return template["Mappings"][name][top][second]
        return {k: self.resolve(v, template) for k, v in value.items()}

    def _props(self, logical: str, template: Mapping[str, Any]) -> dict[str, Any]:
        return dict(template["Resources"][logical].get("Properties", {}))

    def _ref(self, logical: str, template: Mapping[str, Any]) -> str:
        if logical in self.physical:
            return self.physical[logical]
        kind = template["Resources"][logical]["Type"]
        props = self._props(logical, template)
        name_keys = {
            "AWS::Events::EventBus": "Name",
            "AWS::SQS::Queue": "QueueName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SNS::Topic": "TopicName",
        }
        if kind in name_keys and name_keys[kind] in props:
            name = str(self.resolve(props[name_keys[kind]], template))
            if kind == "AWS::SNS::Topic":
                return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
            if kind == "AWS::SQS::Queue":
                return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            return name
        return f"{logical.lower()}-physical-id"

    def _get_att(self, logical: str, attribute: str, template: Mapping[str, Any]) -> str:
        kind = template["Resources"][logical]["Type"]
        name = self._ref(logical, template)
        arns = {
            "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name.rsplit('/', 1)[-1]}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}",
            "AWS::SageMaker::MlflowTrackingServer": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/"
            f"{self._props(logical, template).get('TrackingServerName', name)}",
        }
        if attribute in ("Arn", "TrackingServerArn") and kind in arns:
            return arns[kind]
        return f"{name}-{attribute.lower()}"
