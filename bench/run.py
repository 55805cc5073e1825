"""Measurements behind `python -m bench`.

Every timed figure is the median of BENCH_RUNS runs (default 3). A figure and its baseline are
measured one after the other inside the same loop iteration, so slow spells on a busy machine
hit both and mostly cancel out of the ratio.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.synth import cdk_context as tests_context

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LAMBDAS = ROOT / "lambdas"
MLFLOW_PYTHON = ROOT / ".venv-mlflow" / "bin" / "python"
# Where the tests keep synthesized templates between runs (tests/synth_cache.py, pytest's cache).
SYNTH_CACHE = ROOT / ".pytest_cache" / "d" / "synth"

HANDLERS = (
    "retraining_trigger.handler",
    "model_gate.handler",
    "deployer.handler",
    "batch_launcher.handler",
    "monitoring_launcher.handler",
)
SCALE_POINTS = (1, 10, 50, 100)
# The order each run measures them in: the two sizes of the growth ratio back to back, so that a
# machine slowing down or speeding up during a run moves both alike.
SCALE_MEASURE_ORDER = (1, 100, 10, 50)
# Files the CDK asset leaves out (see lambda_code in stacks/constructs/platform_functions.py).
ASSET_EXCLUDED_DIRS = {"__pycache__", ".mypy_cache"}
ASSET_EXCLUDED_SUFFIXES = {".pyc"}

TARGETS = {
    "synth_ratio": 1.5,
    "handler_import_ratio_max": 1.3,
    "lambda_asset_bytes_max": 1024 * 1024,
    "scale_synth_growth_100_vs_1": 2.0,
    # Synth against the one-bucket floor with the same setting of CDK's built-in validator: the
    # floor's own (CDK's default, on), and off in both apps.
    "synth_ratio_with_builtin_validation": 2.5,
    "synth_ratio_without_builtin_validation": 2.5,
    # Warm `make test` on the 2-core reference machine.
    "test_suite_seconds": 60.0,
}


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    if runs < 1:
        sys.exit("BENCH_RUNS must be at least 1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        scratch_dir = Path(scratch)
        synth = measure_synth(runs, scratch_dir)
        results: dict[str, Any] = {
            "machine": machine_facts(),
            "runs": runs,
            **synth,
            "test_suite_seconds": None,
            "test_suite_skipped": None,
            "handler_import_ratio": {},
            "lambda_asset_bytes": lambda_asset_bytes(scratch_dir / "synth"),
        }
        results.update(measure_test_suite(runs))
        results.update(measure_handler_imports(runs))
        results["scale"] = measure_scale(int(os.environ.get("BENCH_SCALE_RUNS", runs)), scratch_dir)
    results["targets"] = check_targets(results)
    latest = RESULTS / "latest.json"
    latest.write_text(json.dumps(results, indent=2) + "\n")
    draw_plot(latest, RESULTS / "scale.png")
    print_summary(results)
    print(f"\nwrote {latest.relative_to(ROOT)}")


def machine_facts() -> dict[str, Any]:
    node = shutil.which("node")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else None
    return {
        "cpu_count": os.cpu_count(),
        "python_version": platform.python_version(),
        "python_executable": sys.executable,
        "node_version": node_version,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _alternating(runs: int, **measures: Callable[[], float]) -> dict[str, list[float]]:
    """Samples of several figures, taken in turn in each run so all of them see the same machine load."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(runs):
        for name, measure in measures.items():
            samples[name].append(measure())
    return samples


def _median_ratio(figures: list[float], baselines: list[float]) -> float:
    return round(statistics.median(a / b for a, b in zip(figures, baselines, strict=True)), 3)


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = env.get(
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"
    )
    env.pop("PLATFORM_ENV", None)
    # Each figure states whether the built-in validator runs; the caller's shell does not decide.
    env.pop("CDK_VALIDATION", None)
    env.update(extra)
    return env


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return elapsed


def cdk_context(env_name: str = "dev", models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The tests' fixture platform with cdk.json's feature flags, as the CDK CLI would pass them.

    Optionally with the model list replaced. The fixture, not the user's platform configuration,
    so that figures from different checkouts measure the same app.
    """
    context = tests_context()
    context["env"] = env_name
    if models is not None:
        context["platform"]["environments"][env_name]["models"] = models
    return context


def synth_app(context: dict[str, Any], outdir: Path, **env_extra: str) -> float:
    """Wall seconds of `python app.py` with the given context, as `cdk synth` would run it."""
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    env = _child_env(CDK_OUTDIR=str(outdir), CDK_CONTEXT_JSON=json.dumps(context), **env_extra)
    return _timed([sys.executable, str(ROOT / "app.py")], env)


def measure_synth(runs: int, scratch: Path) -> dict[str, Any]:
    """dev's synth against the one-bucket floor, each at both settings of CDK's built-in validator.

    `app.py` leaves the validator off and the minimal app, on CDK's defaults, runs it, so
    `synth_ratio` also counts the validator's cost as saved. The like-for-like ratios give both
    apps the same setting: the floor's own (on), and off in both. With the cdk-nag packs off as
    well (the `platform:nag=off` context, for diagnosis only) the last figure shows what building
    and writing the stacks costs before any gate runs.
    """
    context = cdk_context()
    without_nag = {**context, "platform:nag": "off"}
    minimal_out = scratch / "minimal"
    # lambda_asset_bytes reads the assembly the plain synth leaves here.
    platform_out = scratch / "synth"

    def minimal(**env_extra: str) -> float:
        shutil.rmtree(minimal_out, ignore_errors=True)
        minimal_out.mkdir(parents=True)
        return _timed(
            [sys.executable, str(BENCH / "minimal_app.py")], _child_env(CDK_OUTDIR=str(minimal_out), **env_extra)
        )

    samples = _alternating(
        runs,
        platform=lambda: synth_app(context, platform_out),
        minimal=minimal,
        platform_validated=lambda: synth_app(context, scratch / "synth-validated", CDK_VALIDATION="true"),
        platform_without_nag=lambda: synth_app(without_nag, scratch / "synth-without-nag"),
        minimal_unvalidated=lambda: minimal(CDK_VALIDATION="false"),
    )

    def median(name: str) -> float:
        return round(statistics.median(samples[name]), 3)

    return {
        "synth_seconds": median("platform"),
        "minimal_synth_seconds": median("minimal"),
        "synth_ratio": _median_ratio(samples["platform"], samples["minimal"]),
        "synth_seconds_samples": [round(value, 3) for value in samples["platform"]],
        "minimal_synth_seconds_samples": [round(value, 3) for value in samples["minimal"]],
        "synth_seconds_with_builtin_validation": median("platform_validated"),
        "synth_ratio_with_builtin_validation": _median_ratio(samples["platform_validated"], samples["minimal"]),
        "minimal_synth_seconds_without_builtin_validation": median("minimal_unvalidated"),
        "synth_ratio_without_builtin_validation": _median_ratio(samples["platform"], samples["minimal_unvalidated"]),
        "synth_seconds_without_nag": median("platform_without_nag"),
        "synth_ratio_without_builtin_validation_or_nag": _median_ratio(
            samples["platform_without_nag"], samples["minimal_unvalidated"]
        ),
    }


def measure_test_suite(runs: int) -> dict[str, Any]:
    if os.environ.get("BENCH_SKIP_TESTS") == "1":
        return {
            "test_suite_seconds": None,
            "test_suite_seconds_after_source_change": None,
            "test_suite_skipped": "BENCH_SKIP_TESTS=1",
        }
    make = shutil.which("make")
    if make is None:
        return {
            "test_suite_seconds": None,
            "test_suite_seconds_after_source_change": None,
            "test_suite_skipped": "make not found",
        }
    # One untimed run first, so the figure is of a warm suite (environments built, caches filled).
    env = _child_env()
    subprocess.run([make, "test"], cwd=ROOT, env=env, capture_output=True)
    times = [_timed([make, "test"], env) for _ in range(runs)]
    # What a change to stacks/ or lambdas/ costs: every kept synthesis is stale (tests/synth_cache.py),
    # so each configuration is synthesized again, once for both workers.
    after_change = []
    for _ in range(runs):
        shutil.rmtree(SYNTH_CACHE, ignore_errors=True)
        after_change.append(_timed([make, "test"], env))
    return {
        "test_suite_seconds": round(statistics.median(times), 3),
        "test_suite_seconds_samples": [round(value, 3) for value in times],
        "test_suite_seconds_after_source_change": round(statistics.median(after_change), 3),
        "test_suite_seconds_after_source_change_samples": [round(value, 3) for value in after_change],
        "test_suite_skipped": None,
    }


def _import_seconds(module: str) -> float:
    """Seconds to import `module` in a fresh interpreter, start-up excluded."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = _child_env(PYTHONPATH=str(LAMBDAS))
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{completed.stderr[-4000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def measure_handler_imports(runs: int) -> dict[str, Any]:
    ratios: dict[str, list[float]] = {handler: [] for handler in HANDLERS}
    seconds: dict[str, list[float]] = {handler: [] for handler in (*HANDLERS, "boto3")}
    for _ in range(runs):
        for handler in HANDLERS:
            boto3_seconds = _import_seconds("boto3")
            handler_seconds = _import_seconds(handler)
            seconds["boto3"].append(boto3_seconds)
            seconds[handler].append(handler_seconds)
            ratios[handler].append(handler_seconds / boto3_seconds)
    medians = {handler: round(statistics.median(values), 3) for handler, values in ratios.items()}
    return {
        "handler_import_ratio": {**medians, "max": max(medians.values())},
        "handler_import_seconds": {name: round(statistics.median(values), 4) for name, values in seconds.items()},
    }


def _zip_size(directory: Path) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "asset.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(directory.rglob("*")):
                relative = path.relative_to(directory)
                if (
                    any(part in ASSET_EXCLUDED_DIRS for part in relative.parts)
                    or path.suffix in ASSET_EXCLUDED_SUFFIXES
                ):
                    continue
                if path.is_file():
                    zf.write(path, relative.as_posix())
        return archive.stat().st_size


def lambda_asset_bytes(outdir: Path) -> dict[str, Any]:
    """Zipped size of every Lambda function's code asset in a synthesized cloud assembly."""
    sizes: dict[str, int] = {}
    zipped: dict[str, int] = {}
    for template_path in sorted(outdir.glob("*.template.json")):
        stack = template_path.name.removesuffix(".template.json")
        resources = json.loads(template_path.read_text()).get("Resources", {})
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            props = resource.get("Properties", {})
            key = props.get("Code", {}).get("S3Key")
            if not isinstance(key, str):
                continue  # inline code, no asset
            asset_hash = key.removesuffix(".zip")
            asset_dir = outdir / f"asset.{asset_hash}"
            if asset_hash not in zipped:
                zipped[asset_hash] = _zip_size(asset_dir) if asset_dir.is_dir() else (outdir / key).stat().st_size
            module = str(props.get("Handler", "")).rpartition(".")[0]
            name = module if module in HANDLERS and module not in sizes else f"{stack}/{logical_id}"
            sizes[name] = zipped[asset_hash]
    return {**sizes, "max": max(sizes.values(), default=0)}


def _count_resources(outdir: Path) -> dict[str, int]:
    return {
        path.name.removesuffix(".template.json"): len(json.loads(path.read_text()).get("Resources", {}))
        for path in sorted(outdir.glob("*.template.json"))
    }


def measure_scale(runs: int, scratch: Path) -> dict[str, Any]:
    """Synth of dev with 1..100 generated models; each run goes through every size, so noise is shared."""
    assert sorted(SCALE_MEASURE_ORDER) == sorted(SCALE_POINTS)
    seconds: dict[int, list[float]] = {count: [] for count in SCALE_POINTS}
    per_stack_by_count: dict[int, dict[str, int]] = {}
    for _ in range(runs):
        for count in SCALE_MEASURE_ORDER:
            models = [{"name": f"m{index:03d}"} for index in range(1, count + 1)]
            outdir = scratch / f"scale-{count}"
            seconds[count].append(synth_app(cdk_context(models=models), outdir))
            per_stack_by_count[count] = _count_resources(outdir)
            shutil.rmtree(outdir, ignore_errors=True)
    points = []
    for count in SCALE_POINTS:
        per_stack = per_stack_by_count[count]
        largest = max(per_stack, key=per_stack.__getitem__)
        points.append(
            {
                "models": count,
                "synth_seconds": round(statistics.median(seconds[count]), 3),
                "synth_seconds_samples": [round(value, 3) for value in seconds[count]],
                "stacks": len(per_stack),
                "largest_stack": {"name": largest, "resources": per_stack[largest]},
                "resources_per_stack": per_stack,
            }
        )
    # Ratio of each run's largest size to its smallest, then the median: both were timed moments apart.
    smallest, biggest = SCALE_POINTS[0], SCALE_POINTS[-1]
    growth = statistics.median(big / small for big, small in zip(seconds[biggest], seconds[smallest], strict=True))
    return {
        "points": points,
        "synth_growth_100_vs_1": round(growth, 3),
        "largest_stack_resources": max(point["largest_stack"]["resources"] for point in points),
    }


def check_targets(results: dict[str, Any]) -> dict[str, Any]:
    measured = {
        "synth_ratio": results["synth_ratio"],
        "handler_import_ratio_max": results["handler_import_ratio"]["max"],
        "lambda_asset_bytes_max": results["lambda_asset_bytes"]["max"],
        "scale_synth_growth_100_vs_1": results["scale"]["synth_growth_100_vs_1"],
        "synth_ratio_with_builtin_validation": results["synth_ratio_with_builtin_validation"],
        "synth_ratio_without_builtin_validation": results["synth_ratio_without_builtin_validation"],
        "test_suite_seconds": results["test_suite_seconds"],
    }
    checks = {}
    for name, value in measured.items():
        if value is None:  # a measurement that was skipped (e.g. BENCH_SKIP_TESTS=1) meets nothing
            checks[name] = {"value": None, "limit": TARGETS[name], "met": False}
            continue
        limit = TARGETS[name]
        ok = value < limit if name == "lambda_asset_bytes_max" else value <= limit
        checks[name] = {"value": value, "limit": limit, "met": ok}
    return checks


def draw_plot(results_path: Path, image_path: Path) -> None:
    if not MLFLOW_PYTHON.exists():
        print(f"plot skipped: {MLFLOW_PYTHON.relative_to(ROOT)} not found (make bench builds it)")
        return
    completed = subprocess.run(
        [str(MLFLOW_PYTHON), str(BENCH / "plot.py"), str(results_path), str(image_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        print(f"plot skipped: {completed.stderr.strip().splitlines()[-1] if completed.stderr else 'plot failed'}")


def print_summary(results: dict[str, Any]) -> None:
    rows = [
        ("synth_seconds", results["synth_seconds"]),
        ("minimal_synth_seconds", results["minimal_synth_seconds"]),
        ("synth_ratio", results["synth_ratio"]),
        ("synth_seconds_with_builtin_validation", results["synth_seconds_with_builtin_validation"]),
        ("synth_ratio_with_builtin_validation", results["synth_ratio_with_builtin_validation"]),
        (
            "minimal_synth_seconds_without_builtin_validation",
            results["minimal_synth_seconds_without_builtin_validation"],
        ),
        ("synth_ratio_without_builtin_validation", results["synth_ratio_without_builtin_validation"]),
        ("synth_seconds_without_nag", results["synth_seconds_without_nag"]),
        (
            "synth_ratio_without_builtin_validation_or_nag",
            results["synth_ratio_without_builtin_validation_or_nag"],
        ),
        ("test_suite_seconds", results["test_suite_seconds"] or f"skipped ({results['test_suite_skipped']})"),
        (
            "test_suite_seconds_after_source_change",
            results["test_suite_seconds_after_source_change"] or f"skipped ({results['test_suite_skipped']})",
        ),
        *((f"handler_import_ratio[{name}]", value) for name, value in results["handler_import_ratio"].items()),
        *((f"lambda_asset_bytes[{name}]", value) for name, value in results["lambda_asset_bytes"].items()),
        *(
            (
                f"scale[{point['models']} models]",
                f"{point['synth_seconds']} s, largest {point['largest_stack']['name']} = "
                f"{point['largest_stack']['resources']} resources",
            )
            for point in results["scale"]["points"]
        ),
        ("scale synth growth 100 vs 1", results["scale"]["synth_growth_100_vs_1"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    for name, check in results["targets"].items():
        print(f"{'ok  ' if check['met'] else 'MISS'}  {name} = {check['value']} (limit {check['limit']})")
