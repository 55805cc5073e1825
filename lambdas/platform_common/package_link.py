"""The documented link between a SageMaker model package and the MLflow model version behind it.

SageMaker Developer Guide, "Automatically register SageMaker AI models with SageMaker Model
Registry" (https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html):
after registration the MLflow model version carries the tag `sagemaker.model_package_arn`,
whose value is the ARN of the package version created for it. Version numbers are not that
link: MLflow numbers the versions of a registered model and SageMaker numbers the packages
of a group independently, and a version registered while synchronisation was off (or that
failed to synchronise) shifts one numbering against the other for good.

The lookup asks MLflow for the model's versions by name (the filter MLflow's REST API
documents for `model-versions/search`: "String filter condition, like name='my-model-name'")
and matches the tag itself, which works on every MLflow server version; MLflow 3.x servers
also accept tag filters, but whether the managed server's version does is not documented.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

PACKAGE_ARN_TAG = "sagemaker.model_package_arn"

# The tag is written after the package exists, so the package's state change can reach a
# handler a moment before the version carries it: look a few times before giving up.
LOOKUP_ATTEMPTS = 3
LOOKUP_WAIT_SECONDS = 5.0
_PAGE_SIZE = 1000


class VersionSearch(Protocol):
    """The MLflow call the lookup needs (MlflowRestClient has it)."""

    def search_model_versions(
        self, filter_string: str, *, max_results: int = ..., page_token: str | None = ...
    ) -> tuple[list[dict[str, Any]], str | None]: ...


class PackageLinkError(LookupError):
    """No single MLflow version of the model carries the package's ARN in its tag."""

    def __init__(self, model: str, package_arn: str, versions: list[str]) -> None:
        self.model = model
        self.package_arn = package_arn
        self.versions = versions
        if versions:
            found = f"versions {', '.join(versions)} of MLflow model {model!r} all carry"
        else:
            found = f"no version of MLflow model {model!r} carries"
        super().__init__(
            f"{found} the tag {PACKAGE_ARN_TAG}={package_arn}, which SageMaker's automatic registration "
            "writes on the version it created the package for; the version behind the package is not guessed"
        )


def find_version(
    mlflow: VersionSearch,
    model: str,
    package_arn: str,
    *,
    attempts: int = LOOKUP_ATTEMPTS,
    wait_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The MLflow model version whose `sagemaker.model_package_arn` tag is `package_arn`."""
    wait = LOOKUP_WAIT_SECONDS if wait_seconds is None else wait_seconds
    if "'" in model:
        # Catalog names are lower-case letters, digits and hyphens; a quote would break the filter.
        raise ValueError(f"model name {model!r} cannot be used in an MLflow search filter")
    for attempt in range(1, attempts + 1):
        matches = [v for v in _all_versions(mlflow, model) if tag_value(v, PACKAGE_ARN_TAG) == package_arn]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise PackageLinkError(model, package_arn, sorted(str(v.get("version")) for v in matches))
        if attempt < attempts:
            sleep(wait)
    raise PackageLinkError(model, package_arn, [])


def tag_value(model_version: Mapping[str, Any], key: str) -> str | None:
    """One tag of an MLflow model version, whether tags come as a list of pairs or a mapping."""
    raw = model_version.get("tags") or []
    if isinstance(raw, Mapping):
        value = raw.get(key)
        return None if value is None else str(value)
    for tag in raw:
        if isinstance(tag, Mapping) and tag.get("key") == key:
            return str(tag.get("value"))
    return None


def _all_versions(mlflow: VersionSearch, model: str) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page, token = mlflow.search_model_versions(f"name='{model}'", max_results=_PAGE_SIZE, page_token=token)
        versions.extend(page)
        if not token:
            return versions
