"""The gates every synth passes: cdk-nag and the least-privilege check (no unacknowledged
finding), and cfn-lint (clean)."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from stacks import least_privilege
from stacks.compliance import acknowledge, acknowledge_default_key_policy, acknowledge_wildcards
from stacks.config import load_environment
from stacks.platform import build_platform
from tests.lint import findings
from tests.synth import cdk_context, new_app, platform_fixture, synth, synth_default

ENVIRONMENTS = ["dev", "staging", "prod"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cfn_lint_is_clean(env_name: str) -> None:
    _, templates = synth_default(env_name)
    assert templates, f"no stacks synthesized for {env_name}"
    for unit, template in templates.items():
        assert findings(template.to_json(), ["us-east-1", "eu-west-1"]) == [], f"cfn-lint findings in {env_name}/{unit}"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_a_customised_configuration_passes_every_gate(env_name: str) -> None:
    # Given the configuration a user following the README writes (tests/fixtures/customised.json:
    # pinned accounts and regions, trusted principals, three models in dev)
    settings = platform_fixture("customised")
    region = settings["environments"][env_name]["region"]
    # When it is synthesized (cdk-nag and the least-privilege check run; a finding raises)
    _, templates = synth(env_name, settings)
    # Then every stack is in the pinned region and cfn-lint finds nothing for that region
    assert {template.region for template in templates.values()} == {region}
    for unit, template in templates.items():
        assert findings(template.to_json(), [region]) == [], f"cfn-lint findings in customised {env_name}/{unit}"
    if env_name == "dev":
        assert {unit for unit in templates if unit.startswith("model-")} == {"model-churn", "model-fraud", "model-ltv"}


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


def test_every_acknowledgement_names_one_finding_and_gives_a_reason() -> None:
    # Given dev's stacks as synthesized (their cloud assembly's metadata, kept with the templates)
    _, templates = synth_default("dev")
    entries = [
        entry
        for template in templates.values()
        for path_entries in template.metadata.values()
        for entry in path_entries
    ]
    acknowledged: dict[str, str] = {}
    for entry in entries:
        if entry["type"] == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
            acknowledged.update(entry["data"])
    assert acknowledged, "no acknowledgement metadata found"
    wildcards = [entry["data"] for entry in entries if entry["type"] == least_privilege.ACKNOWLEDGEMENT_METADATA]
    assert wildcards, "no wildcard acknowledgement found"
    for data in wildcards:
        # A wildcard acknowledgement names the actions and resources of one statement.
        assert data["actions"] and data["resources"], data
        assert len(data["reason"]) >= 40, data
    for finding, reason in acknowledged.items():
        pack, rule = finding.split("::", 1)
        assert rule.startswith(pack), finding
        # A wildcard finding is acknowledged for one exact action or resource, never in bulk.
        if rule.startswith("AwsSolutions-IAM5"):
            assert rule.startswith(("AwsSolutions-IAM5[Action::", "AwsSolutions-IAM5[Resource::")), finding
        assert len(reason) >= 40, f"{finding}: reason too thin: {reason!r}"


# The least-privilege check on small apps of its own: what an acknowledgement covers, and what not.
TRACING = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
WHY_TRACING = "Active tracing needs both X-Ray actions, which support no resource-level permissions."


def _checked_app() -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(builtin_cloud_formation_validation=False)
    least_privilege.register(app)
    return app, cdk.Stack(app, "Checked")


def _role(stack: cdk.Stack, name: str) -> iam.Role:
    return iam.Role(stack, name, role_name=name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))


def _traced(stack: cdk.Stack, name: str) -> iam.Role:
    role = _role(stack, name)
    tracing = iam.PolicyStatement(actions=TRACING, resources=["*"])
    role.add_to_policy(tracing)
    acknowledge_wildcards(role, tracing, WHY_TRACING)
    return role


def _synth_failure(app: cdk.App) -> str:
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    return str(failure.value)


def test_an_acknowledged_statement_synthesizes() -> None:
    app, stack = _checked_app()
    _traced(stack, "Tracer")
    assert app.synth().get_stack_by_name("Checked").template["Resources"]


def test_an_acknowledgement_covers_only_the_actions_it_lists() -> None:
    # Given a role whose X-Ray grant on `*` is acknowledged
    app, stack = _checked_app()
    role = _traced(stack, "Tracer")
    # When the same role is also given iam:PassRole on `*`
    role.add_to_policy(iam.PolicyStatement(actions=["iam:PassRole"], resources=["*"]))
    # Then synthesis names the new grant, and only that one
    report = _synth_failure(app)
    assert re.search(r'role Tracer\b.*may iam:PassRole on "\*"', report), report
    assert "xray:" not in report, report


def test_an_acknowledgement_covers_only_the_resources_it_lists() -> None:
    app, stack = _checked_app()
    role = _role(stack, "Reader")
    reading = iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::data/datasets/*"])
    role.add_to_policy(reading)
    acknowledge_wildcards(role, reading, "Data sets live under datasets/<model>/ and models are added over time.")
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::data/*"]))
    report = _synth_failure(app)
    assert re.search(r'role Reader\b.*may s3:GetObject on "arn:aws:s3:::data/\*"', report), report


def test_an_acknowledgement_covers_only_the_role_it_was_given_for() -> None:
    # Given two roles with the same X-Ray grant, acknowledged on the first only
    app, stack = _checked_app()
    _traced(stack, "Tracer")
    _role(stack, "Other").add_to_policy(iam.PolicyStatement(actions=TRACING, resources=["*"]))
    # Then the second role's grant is refused
    report = _synth_failure(app)
    assert re.search(r'role Other\b.*may xray:PutTraceSegments on "\*"', report), report
    assert "role Tracer" not in report, report


def test_an_acknowledgement_of_a_grant_no_longer_made_fails() -> None:
    # Given an acknowledgement whose statement was never added to the role
    app, stack = _checked_app()
    role = _role(stack, "Tracer")
    acknowledge_wildcards(role, iam.PolicyStatement(actions=TRACING, resources=["*"]), WHY_TRACING)
    # Then synthesis asks for it to be removed, before it covers a grant nobody reviewed
    report = _synth_failure(app)
    assert "StaleAcknowledgement" in report and "Checked/Tracer" in report, report


def test_a_cdk_acknowledgement_cannot_silence_a_wildcard() -> None:
    app, stack = _checked_app()
    role = _role(stack, "Tracer")
    role.add_to_policy(iam.PolicyStatement(actions=TRACING, resources=["*"]))
    for rule in least_privilege.LeastPrivilegeCheck().rule_ids:
        cdk.Validations.of(role).acknowledge(cdk.Acknowledgment(id=f"Least-Privilege::{rule}", reason="bulk"))
    assert "may xray:PutTraceSegments" in _synth_failure(app)


def test_a_negated_grant_is_refused() -> None:
    app, stack = _checked_app()
    _role(stack, "Broad").add_to_policy(iam.PolicyStatement(not_actions=["iam:*"], resources=["*"]))
    assert "NegatedGrant" in _synth_failure(app)


def test_a_key_policy_needs_its_wildcard_actions_acknowledged_but_not_its_own_resource() -> None:
    # Given a key whose default policy gives the account kms:* on "*" (the key itself)
    app, stack = _checked_app()
    key = kms.Key(stack, "Key")
    key.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt"], resources=["*"], principals=[iam.ServicePrincipal("events.amazonaws.com")]
        )
    )
    # Then kms:* must be acknowledged; kms:Decrypt on the key itself need not be
    report = _synth_failure(app)
    assert re.search(r'may kms:\* on "\*"', report) and "kms:Decrypt" not in report, report
    acknowledge_default_key_policy(key)
    assert app.synth(force=True).get_stack_by_name("Checked").template["Resources"]


def test_wildcards_cannot_be_acknowledged_in_bulk() -> None:
    _, stack = _checked_app()
    role = _role(stack, "Tracer")
    with pytest.raises(ValueError, match="statement"):
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", WHY_TRACING)
    with pytest.raises(ValueError, match="whole stack"):
        acknowledge_wildcards(stack, iam.PolicyStatement(actions=TRACING, resources=["*"]), WHY_TRACING)
    with pytest.raises(ValueError, match="no wildcard"):
        acknowledge_wildcards(
            role, iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/k"]), WHY_TRACING
        )
    with pytest.raises(ValueError, match="say why"):
        acknowledge_wildcards(role, iam.PolicyStatement(actions=TRACING, resources=["*"]), "tracing")


def test_a_negated_statement_cannot_be_acknowledged() -> None:
    # Given a role and a statement that grants everything but IAM
    _, stack = _checked_app()
    role = _role(stack, "Broad")
    for negated in (
        iam.PolicyStatement(not_actions=["iam:*"], resources=["*"]),
        iam.PolicyStatement(actions=["s3:*"], not_resources=["arn:aws:s3:::audit/*"]),
    ):
        # When its wildcards are acknowledged, Then the acknowledgement is refused, naming the role
        with pytest.raises(ValueError, match=r"Checked/Broad: NotAction/NotResource grants cannot be acknowledged"):
            acknowledge_wildcards(role, negated, WHY_TRACING)
    # And nothing was recorded on the role
    assert not [e for e in role.node.metadata if e.type == least_privilege.ACKNOWLEDGEMENT_METADATA]


def test_a_reason_holding_a_deploy_time_value_is_refused() -> None:
    # Given a reason long enough, but holding a value only known at deploy time
    _, stack = _checked_app()
    role = _role(stack, "Tracer")
    reason = f"{WHY_TRACING} Region: {cdk.Aws.REGION}"
    # When it is given for a wildcard statement, Then it is refused as not plain text
    with pytest.raises(ValueError, match=r"Checked/Tracer: say why .* \(no deploy-time values\)"):
        acknowledge_wildcards(role, iam.PolicyStatement(actions=TRACING, resources=["*"]), reason)


def test_an_acknowledgement_records_the_statement_as_written() -> None:
    # Given statements with one action or one resource, and one with a resource known at deploy time
    _, stack = _checked_app()
    role = _role(stack, "Reader")
    objects = f"arn:{cdk.Aws.PARTITION}:s3:::data/*"
    acknowledge_wildcards(role, iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects]), WHY_TRACING)
    acknowledge_wildcards(role, iam.PolicyStatement(actions=TRACING, resources=["*"]), WHY_TRACING)
    # Then each record lists the statement's actions and resources, single values as lists
    records = [e.data for e in role.node.metadata if e.type == least_privilege.ACKNOWLEDGEMENT_METADATA]
    assert [(r["actions"], stack.resolve(r["resources"])) for r in records] == [
        (["s3:GetObject"], [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::data/*"]]}]),
        (TRACING, ["*"]),
    ]
    # And cdk-nag's findings are acknowledged by the resolved resource's name
    acknowledged = {
        rule for e in role.node.metadata if e.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY for rule in e.data
    }
    assert acknowledged == {
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::data/*]",
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
    }
