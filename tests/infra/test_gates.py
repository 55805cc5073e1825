"""The gates every synth passes: cdk-nag (no unacknowledged finding) and cfn-lint (clean)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

from stacks.config import load_environment
from stacks.platform import build_platform
from tests.synth import cdk_context, new_app, synth_default

# W3005 (DependsOn already implied by GetAtt/Ref): CDK emits explicit DependsOn for ordering it
# also expresses through references; harmless and not ours to change.
CFN_LINT_IGNORED = ["W3005"]

ENVIRONMENTS = ["dev", "staging", "prod"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cfn_lint_is_clean(env_name: str) -> None:
    platform, templates = synth_default(env_name)
    for unit, template in templates.items():
        body = json.dumps(template.to_json())
        matches = lint(body, config=ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=["us-east-1", "eu-west-1"]))
        assert [str(m) for m in matches] == [], f"cfn-lint findings in {env_name}/{unit}"
    assert platform.stacks


def test_a_new_nag_finding_fails_synthesis() -> None:
    # Given the dev platform plus one role whose policy has an unacknowledged wildcard
    context = cdk_context()
    app = new_app(context)
    platform = build_platform(app, load_environment(context["platform"], "dev"))
    rogue = iam.Role(platform.access, "Rogue", assumed_by=iam.AccountRootPrincipal())
    rogue.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    # When it is synthesized, Then validation stops it
    with pytest.raises(RuntimeError, match=r"Validation failed|ValidationFailed"):
        Template.from_stack(platform.access)


def test_synth_passes_the_rule_packs_for_every_environment() -> None:
    # Template.from_stack runs the validation plugins; reaching here means zero open findings.
    for env_name in ENVIRONMENTS:
        _, templates = synth_default(env_name)
        assert templates


def test_every_acknowledgement_names_one_finding_and_gives_a_reason(tmp_path: Path) -> None:
    context = cdk_context()
    app = new_app(context, outdir=str(tmp_path))
    build_platform(app, load_environment(context["platform"], "dev"))
    app.synth()
    acknowledged: dict[str, str] = {}
    for node in app.node.find_all():
        for entry in node.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledged.update(entry.data)
    assert acknowledged, "no acknowledgement metadata found"
    for finding, reason in acknowledged.items():
        pack, rule = finding.split("::", 1)
        assert rule.startswith(pack), finding
        # A wildcard finding is acknowledged for one exact action or resource, never in bulk.
        if rule.startswith("AwsSolutions-IAM5"):
            assert rule.startswith(("AwsSolutions-IAM5[Action::", "AwsSolutions-IAM5[Resource::")), finding
        assert len(reason) >= 40, f"{finding}: reason too thin: {reason!r}"
