"""CDK's annotations (warnings, errors) of a synthesized assembly, as the CDK CLI reports them.

`python app.py` skips the CLI, and with it the CLI's report of what constructs annotated
(`[Warning at /path] message`) and its refusal to deploy an assembly holding errors. `make synth`
runs app.py directly because it is faster, so app.py prints the same report and fails the same
way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aws_cdk import cx_api

_LEVELS = {
    cx_api.SynthesisMessageLevel.WARNING: "Warning",
    cx_api.SynthesisMessageLevel.ERROR: "Error",
}


@dataclass(frozen=True)
class SynthMessage:
    """One annotation: its level (`Warning` or `Error`), the construct path, and the text."""

    level: str
    path: str
    text: str

    def __str__(self) -> str:
        return f"[{self.level} at {self.path}] {self.text}"


def synth_messages(assembly: cx_api.CloudAssembly) -> list[SynthMessage]:
    """Every warning and error annotation of the assembly's stacks (info messages left out)."""
    return [
        SynthMessage(_LEVELS[message.level], message.id, str(message.entry.data))
        for stack in assembly.stacks
        for message in stack.messages
        if message.level in _LEVELS
    ]


def has_errors(messages: Iterable[SynthMessage]) -> bool:
    """Whether the CDK CLI would refuse the assembly (it stops at any error annotation)."""
    return any(message.level == "Error" for message in messages)
