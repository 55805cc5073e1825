"""What the stacks keep on purpose when they are deleted, and how to delete each by hand.

Read from the synthesized templates (DeletionPolicy Retain), so the list follows the stacks.
Named retained resources also block a new deployment of the same environment (CloudFormation
cannot create a resource whose name exists): delete them, or keep them only to import them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stacks.config import EnvironmentConfig
from tools.operator_session import ROOT

# Resource type -> (property holding its name, how to delete it).
HOW_TO_DELETE: Mapping[str, tuple[str, str]] = {
    "AWS::S3::Bucket": (
        "BucketName",
        "versioned: delete every object version first (console: Empty), then aws s3api delete-bucket --bucket {name}",
    ),
    "AWS::Logs::LogGroup": ("LogGroupName", "aws logs delete-log-group --log-group-name {name}"),
    "AWS::DynamoDB::Table": ("TableName", "aws dynamodb delete-table --table-name {name}"),
    "AWS::SQS::Queue": (
        "QueueName",
        "aws sqs delete-queue --queue-url $(aws sqs get-queue-url --queue-name {name} --query QueueUrl --output text)",
    ),
    "AWS::SageMaker::MlflowTrackingServer": (
        "TrackingServerName",
        "aws sagemaker delete-mlflow-tracking-server --tracking-server-name {name} (experiments and registry go with it)",
    ),
    "AWS::SageMaker::MlflowApp": ("Name", "delete the MLflow App {name} in the SageMaker console (DeleteMlflowApp)"),
    "AWS::KMS::Key": (
        "Description",
        "last, once nothing it encrypts is kept: aws kms schedule-key-deletion --key-id <key id> "
        "--pending-window-in-days 30 (key: {name})",
    ),
}


def _text(value: Any, pseudo: Mapping[str, str]) -> str:
    """A template value as text, pseudo parameters filled in and other references shown by name."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Ref" in value:
        return pseudo.get(value["Ref"], f"<{value['Ref']}>")
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_text(part, pseudo) for part in parts)
    return json.dumps(value)


def retained(templates: Mapping[str, Mapping[str, Any]], pseudo: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(stack, resource type, how to delete) for every resource a stack deletion keeps."""
    kept = []
    for stack, template in templates.items():
        for logical, resource in template.get("Resources", {}).items():
            if resource.get("DeletionPolicy") != "Retain":
                continue
            kind = resource["Type"]
            prop, how = HOW_TO_DELETE.get(kind, ("", "delete {name} in the console"))
            name = _text(resource.get("Properties", {}).get(prop, logical), pseudo) if prop else logical
            kept.append((stack, kind, how.format(name=name)))
    return kept


def synthesized(config: EnvironmentConfig) -> dict[str, Mapping[str, Any]]:
    """The environment's templates, by stack name (in-process synth; no AWS call)."""
    import tempfile

    from aws_cdk import App

    from stacks.platform import build_platform

    context = {k: v for k, v in json.loads((ROOT / "cdk.json").read_text())["context"].items() if k != "platform"}
    with tempfile.TemporaryDirectory(prefix="retained-") as outdir:
        app = App(context=context, outdir=outdir)
        platform = build_platform(app, config)
        assembly = app.synth()
        return {stack.stack_name: assembly.get_stack_by_name(stack.stack_name).template for stack in platform.stacks}


def print_retained(config: EnvironmentConfig) -> int:
    """Print what the stacks of `config` keep when deleted."""
    pseudo = {
        "AWS::AccountId": config.account or "<account>",
        "AWS::Region": config.region or "<region>",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    print(f"kept on purpose in {config.name} (delete by hand only if you mean to lose them):")
    for stack, kind, how in retained(synthesized(config), pseudo):
        print(f"  {stack}: {kind}: {how}")
    return 0
