"""cdk.json carries the feature flags `cdk init` writes for the pinned aws-cdk-lib, and no others.

aws-cdk-lib ships its recommendations as `recommended-feature-flags.json` (the CDK CLI's
`cdk init` copies the same set into a new app's cdk.json). A flag missing here means the app
synthesizes with behaviour CDK has replaced; a key that is not a flag of this library (a v1
flag, a misspelling) silently does nothing.
"""

from __future__ import annotations

import functools
import json
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk

from tests.synth import PLATFORM_KEY, ROOT, project_context

# Flags set away from the recommendation, each with its reason (README, "Testing and gates").
DELIBERATE = {
    # Strong references (exports) keep CloudFormation from deleting the data stack's key and
    # buckets while another stack of the platform uses them; deployed apps would need two
    # deployments ("both", then "weak") to move. CDK's warning offers "strong" for this case.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
}


def recommended_flags() -> dict[str, Any]:
    """The library's recommended flags, read from the jsii assembly of the installed aws-cdk-lib (a fresh copy)."""
    return dict(_recommended_flags())


@functools.cache
def _recommended_flags() -> dict[str, Any]:
    # The bundle is a 38 MB gzip: read as a stream up to the one member (about 0.4 s, once per
    # process) rather than indexing every member first (about 1.4 s).
    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle, "r|gz") as archive:
        for info in archive:
            if info.name == "package/recommended-feature-flags.json":
                member = archive.extractfile(info)
                assert member is not None
                flags: dict[str, Any] = json.load(member)
                return flags
    raise AssertionError(f"{bundle.name} has no package/recommended-feature-flags.json")


def test_the_library_pinned_is_the_one_installed() -> None:
    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    pinned = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("aws-cdk-lib==")]
    assert pinned == [f"aws-cdk-lib=={bundle.name.removeprefix('aws-cdk-lib@').removesuffix('.jsii.tgz')}"]


def test_every_recommended_flag_is_set_as_recommended_or_deliberately() -> None:
    flags = project_context()
    expected = {**recommended_flags(), **DELIBERATE}
    missing = sorted(set(expected) - set(flags))
    assert missing == [], "recommended flags missing from cdk.json"
    differing = {key: (flags[key], value) for key, value in expected.items() if flags[key] != value}
    assert differing == {}, "cdk.json value, expected value"


def test_no_key_beside_platform_is_unknown_to_the_library() -> None:
    unknown = sorted(set(project_context()) - set(recommended_flags()))
    assert unknown == [], "not a recommended flag of the pinned aws-cdk-lib (a v1 flag, or a typo)"


def test_each_deliberate_difference_is_a_real_flag() -> None:
    assert set(DELIBERATE) <= set(recommended_flags())
    assert PLATFORM_KEY not in recommended_flags()
