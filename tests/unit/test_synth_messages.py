"""`make synth` (app.py run without the CDK CLI) reports CDK's annotations as the CLI would."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk

from stacks.synth_messages import SynthMessage, has_errors, synth_messages
from tests.synth import new_app, platform_fixture, stack_metadata, synth

# How a cloud assembly's metadata records a warning and an error annotation (the values of the
# cloud assembly schema's ArtifactMetadataEntryType WARN and ERROR).
ANNOTATION_TYPES = ("aws:cdk:warning", "aws:cdk:error")


def assembly_with(
    *, warning: str | None = None, error: str | None = None, info: str | None = None
) -> cdk.cx_api.CloudAssembly:
    # As app.py builds it (CDK's built-in template validator off): the messages read are the ones
    # `make synth` reports, without the validator's engine start-up in every test process.
    app = new_app({})
    stack = cdk.Stack(app, "Annotated")
    resource = cdk.CfnResource(stack, "Thing", type="AWS::SNS::Topic")
    if warning:
        cdk.Annotations.of(resource).add_warning_v2("test:warning", warning)
    if error:
        cdk.Annotations.of(resource).add_error(error)
    if info:
        cdk.Annotations.of(resource).add_info(info)
    return app.synth()


def test_a_warning_is_reported_with_its_construct_path() -> None:
    # Given a construct that CDK annotated with a warning
    assembly = assembly_with(warning="bucket names are global")
    # When the assembly's messages are read
    (message,) = synth_messages(assembly)
    # Then the report names the level, the construct path and the text, as the CLI prints it
    assert message.level == "Warning"
    assert message.path == "/Annotated/Thing"
    assert message.text.startswith("bucket names are global")
    assert str(message).startswith("[Warning at /Annotated/Thing] bucket names are global")
    assert not has_errors([message])


def test_an_error_fails_the_synth_as_the_cli_would() -> None:
    messages = synth_messages(assembly_with(error="no region"))
    assert [(m.level, m.text) for m in messages] == [("Error", "no region")]
    assert has_errors(messages)


def test_info_messages_are_left_out() -> None:
    assert synth_messages(assembly_with(info="just so you know")) == []


def test_a_clean_assembly_reports_nothing() -> None:
    assert synth_messages(assembly_with()) == []
    assert not has_errors([SynthMessage("Warning", "/a", "b")])


def test_annotations_are_kept_in_the_assemblys_metadata(tmp_path: Path) -> None:
    """What the next test reads: a warning and an error are in the stack's metadata of its cloud assembly."""
    app = new_app({}, outdir=str(tmp_path))
    stack = cdk.Stack(app, "Annotated")
    resource = cdk.CfnResource(stack, "Thing", type="AWS::SNS::Topic")
    cdk.Annotations.of(resource).add_warning_v2("test:warning", "bucket names are global")
    cdk.Annotations.of(resource).add_error("no region")
    app.synth()
    (metadata,) = stack_metadata([stack])
    types = [entry["type"] for entry in metadata["/Annotated/Thing"]]
    assert [t for t in types if t in ANNOTATION_TYPES] == list(ANNOTATION_TYPES)


def test_a_pinned_environment_with_schedules_synthesizes_without_warnings() -> None:
    # Given the customised fixture: dev pinned to an account and region, models with retraining,
    # monitoring and batch schedules whose targets are the automation stack's functions
    # When it is synthesized (its cloud assembly's metadata is kept with the templates)
    _, templates = synth("dev", platform_fixture("customised"))
    # Then CDK has nothing to warn about: no stack records a warning or an error annotation
    annotations = [
        f"{entry['type']} at {path}: {entry['data']}"
        for template in templates.values()
        for path, entries in template.metadata.items()
        for entry in entries
        if entry["type"] in ANNOTATION_TYPES
    ]
    assert [unit for unit in templates if unit.startswith("model-")] != []
    assert annotations == []
