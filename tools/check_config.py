"""Check the user's own configuration (cdk.json): validate, synthesize, lint, and compare with its snapshot.

The test suite never reads cdk.json's `platform` key (it builds its platforms from
tests/fixtures/), so this is where a user's configuration is checked, with the same gates the
suite holds the fixtures to:

1. the configuration validates (a bad value names its key path);
2. every stack synthesizes with cdk-nag and the least-privilege check on (an open finding fails);
3. cfn-lint finds nothing in the templates;
4. the templates match config-snapshots/<env>/<stack>.json, the user's own record of what their
   configuration deploys (apart from the test snapshots). A first run writes them; after that a
   difference is shown and fails until accepted with `--update` (`make check-config UPDATE=1`).

Usage: `make check-config` (every environment) or `make check-config ENV=prod`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_DIR = ROOT / "config-snapshots"


class CheckFailed(Exception):
    """One gate failed; the message says which, for which environment, and what to do."""


def _context(cdk_json: Path) -> dict[str, Any]:
    context: dict[str, Any] = json.loads(cdk_json.read_text())["context"]
    return context


def _environments(context: dict[str, Any], only: str | None) -> list[str]:
    names = sorted(context.get("platform", {}).get("environments", {}))
    if only is None:
        return names
    if only not in names:
        raise CheckFailed(f"ENV={only!r} is not an environment of cdk.json (platform.environments: {', '.join(names)})")
    return [only]


def synthesize(context: dict[str, Any], env_name: str, outdir: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Templates of one environment by stack name, and CDK's warnings; cdk-nag findings raise."""
    import aws_cdk as cdk

    from stacks.config import ConfigError, load_environment
    from stacks.platform import build_platform
    from stacks.synth_messages import has_errors, synth_messages

    try:
        config = load_environment(context.get("platform"), env_name)
    except ConfigError as error:
        raise CheckFailed(f"cdk.json: {error}") from error
    app = cdk.App(context={**context, "env": env_name}, outdir=str(outdir), builtin_cloud_formation_validation=False)
    build_platform(app, config)
    try:
        assembly = app.synth()
    except RuntimeError as error:  # cdk-nag / least-privilege findings surface as a jsii RuntimeError
        raise CheckFailed(f"{env_name}: synth failed its gates (cdk-nag, least privilege):\n{error}") from error
    messages = synth_messages(assembly)
    if has_errors(messages):
        raise CheckFailed(f"{env_name}: synth reported errors:\n" + "\n".join(str(m) for m in messages))
    templates = {stack.stack_name: dict(stack.template) for stack in assembly.stacks}
    return templates, [str(m) for m in messages]


def lint_findings(template: dict[str, Any], regions: list[str]) -> list[str]:
    """cfn-lint's findings for one template, with the suite's ignore list."""
    from cfnlint.api import ManualArgs, lint

    from tools.template_snapshot import CFN_LINT_IGNORED

    matches = lint(json.dumps(template), config=ManualArgs(ignore_checks=CFN_LINT_IGNORED, regions=regions))
    return [str(m) for m in matches]


def compare_snapshot(
    env_name: str, stack_name: str, template: dict[str, Any], *, update: bool, root: Path
) -> str | None:
    """None when the snapshot matches (or was written); else a unified diff of what changed."""
    from tools.template_snapshot import normalise

    path = root / env_name / f"{stack_name}.json"
    current = json.dumps(normalise(template), indent=2, sort_keys=True) + "\n"
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current)
        return None
    recorded = path.read_text()
    if recorded == current:
        return None
    relative = path.relative_to(root.parent) if root.parent in path.parents else path
    return "".join(
        difflib.unified_diff(
            recorded.splitlines(keepends=True),
            current.splitlines(keepends=True),
            fromfile=f"{relative} (recorded)",
            tofile=f"{relative} (cdk.json now)",
        )
    )


def _stale_snapshots(env_name: str, stack_names: set[str], root: Path) -> list[Path]:
    folder = root / env_name
    return sorted(p for p in folder.glob("*.json") if p.stem not in stack_names) if folder.is_dir() else []


def check(cdk_json: Path, only: str | None, *, update: bool, root: Path = SNAPSHOT_DIR) -> int:
    """Run every gate for each environment; print what each found; 0 when all pass."""
    context = _context(cdk_json)
    failed = False
    for env_name in _environments(context, only):
        # Kept after the run: CDK's validation report (validation-report.json) is written there.
        outdir = cdk_json.parent / "cdk.out" / "check-config" / env_name
        shutil.rmtree(outdir, ignore_errors=True)
        templates, warnings = synthesize(context, env_name, outdir)
        for warning in warnings:
            print(f"{env_name}: {warning}", file=sys.stderr)
        region = context["platform"]["environments"][env_name].get("region")
        regions = [region] if region else ["us-east-1", "eu-west-1"]
        for stack_name, template in templates.items():
            findings = lint_findings(template, regions)
            if findings:
                failed = True
                print(f"{env_name}/{stack_name}: cfn-lint:\n  " + "\n  ".join(findings), file=sys.stderr)
            diff = compare_snapshot(env_name, stack_name, template, update=update, root=root)
            if diff:
                failed = True
                print(diff, file=sys.stderr)
                print(f"{env_name}/{stack_name}: differs from its snapshot (above)", file=sys.stderr)
        for stale in _stale_snapshots(env_name, set(templates), root):
            if update:
                stale.unlink()
            else:
                failed = True
                print(f"{env_name}: {stale.name} is recorded but no longer synthesized", file=sys.stderr)
        print(f"{env_name}: {len(templates)} stacks synthesized, cdk-nag and cfn-lint checked")
    if failed:
        print(
            "check-config: differences or findings above. Review them; accept the new templates with "
            "`make check-config UPDATE=1`",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Check cdk.json's platform configuration; exit 2 on a configuration error, 1 on a gate's finding."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", help="one environment of cdk.json (default: every environment)")
    parser.add_argument("--update", action="store_true", help="accept the templates as the new snapshots")
    parser.add_argument("--cdk-json", type=Path, default=ROOT / "cdk.json")
    parser.add_argument("--snapshots", type=Path, default=SNAPSHOT_DIR, help="where the snapshots live")
    args = parser.parse_args(argv)
    try:
        return check(args.cdk_json, args.env or None, update=args.update, root=args.snapshots)
    except CheckFailed as error:
        print(f"check-config: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
