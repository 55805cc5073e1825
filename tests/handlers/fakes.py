"""An in-memory MLflow registry for the handler tests, with the calls the REST client makes."""

from __future__ import annotations

import re
from typing import Any

from platform_common.mlflow_rest import MlflowNotFoundError

# The tag SageMaker's automatic registration writes on the MLflow version it created a package
# for (Developer Guide, "Automatically register SageMaker AI models with SageMaker Model Registry").
PACKAGE_ARN_TAG = "sagemaker.model_package_arn"

REGION = "eu-west-1"
ACCOUNT = "123456789012"
# The suffix automatic registration gives the groups of the handlers' tracking server
# (conftest: mlflow-tracking-server/mlops-dev-mlflow): sha256("mlops-dev-mlflow")[:6].
GROUP_SUFFIX = "d9f6c7"
_NAME_FILTER = re.compile(r"^name='(?P<name>[^']+)'$")
# What `add_version` means by "link it to the package of the same number" (the default).
SAME_NUMBER = "same-number"


def package_arn(model: str, version: int) -> str:
    """The ARN automatic registration gives package `version` of the model's group."""
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{model}-{GROUP_SUFFIX}/{version}"


class FakeMlflow:
    """An in-memory MLflow registry with the calls of the gate's and the deployer's `ModelRegistry`."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], dict[str, Any]] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.metrics: dict[str, dict[str, float]] = {}
        self.writes: list[tuple[Any, ...]] = []
        self.searches: list[str] = []
        self.failure: Exception | None = None

    def add_version(
        self,
        name: str,
        version: int,
        metrics: dict[str, float] | None = None,
        *,
        package: str | None = SAME_NUMBER,
        tags: dict[str, str] | None = None,
        run_id: str | None = None,
    ) -> None:
        """Version `version` of `name`, tagged with a package ARN (by default the package of the same number).

        `metrics` are the run's MLflow metrics (anyone who may log to the run can change them);
        `tags` are further version tags, such as the pipeline execution the version claims.
        """
        run_id = run_id or f"run{version:04d}"
        tags = dict(tags or {})
        if package is not None:
            tags[PACKAGE_ARN_TAG] = package_arn(name, version) if package == SAME_NUMBER else package
        self.versions[(name, str(version))] = {"name": name, "version": str(version), "run_id": run_id, "tags": tags}
        self.metrics[run_id] = dict(metrics or {})

    def tags(self, name: str, version: int) -> dict[str, str]:
        """The version's tags other than the package link."""
        tags = dict(self.versions[(name, str(version))]["tags"])
        tags.pop(PACKAGE_ARN_TAG, None)
        return tags

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _version(self, name: str, version: str) -> dict[str, Any]:
        try:
            found = self.versions[(name, version)]
        except KeyError:
            raise MlflowNotFoundError(
                method="GET",
                path="/api/2.0/mlflow/model-versions/get",
                status=404,
                error_code="RESOURCE_DOES_NOT_EXIST",
                message=f"Model Version (name={name}, version={version}) not found",
            ) from None
        aliases = [alias for (model, alias), v in self.aliases.items() if model == name and v == version]
        tags = [{"key": k, "value": v} for k, v in found["tags"].items()]
        return {**found, "tags": tags, "aliases": aliases}

    def get_model_version(self, name: str, version: str) -> dict[str, Any]:
        self._check()
        return self._version(name, str(version))

    def search_model_versions(
        self, filter_string: str, *, max_results: int = 1000, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self._check()
        self.searches.append(filter_string)
        match = _NAME_FILTER.match(filter_string)
        assert match is not None, f"unexpected filter {filter_string!r}"
        keys = sorted((v for (n, v) in self.versions if n == match.group("name")), key=int, reverse=True)
        start = int(page_token or 0)
        page = [self._version(match.group("name"), v) for v in keys[start : start + max_results]]
        following = start + max_results
        return page, (str(following) if following < len(keys) else None)

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        self._check()
        version = self.aliases.get((name, alias))
        return None if version is None else self._version(name, version)

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        self._check()
        return dict(self.metrics[run_id])

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self._check()
        self.writes.append(("alias", name, alias, str(version)))
        self.aliases[(name, alias)] = str(version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._check()
        self.writes.append(("delete-alias", name, alias))
        self.aliases.pop((name, alias), None)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._check()
        self.writes.append(("tag", name, str(version), key, value))
        self.versions[(name, str(version))]["tags"][key] = value
