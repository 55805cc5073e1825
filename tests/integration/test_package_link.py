"""The package link against a real MLflow server: versions found by their `sagemaker.model_package_arn` tag.

MLflow's REST API documents `model-versions/search` with a `filter` such as
"name='my-model-name'", `max_results` and `page_token`; the link asks by name and matches the
tag itself (`platform_common.package_link`). These tests hold that against `mlflow server`.
"""

from __future__ import annotations

import uuid

import pytest

from platform_common.mlflow_rest import MlflowRestClient
from platform_common.package_link import PACKAGE_ARN_TAG, PackageLinkError, find_version
from tests.integration.test_mlflow_rest_client import REGION, TRACKING_SERVER_ARN, mlflow_post, static_credentials
from tests.mlflow_server import MLFLOW_XDIST_GROUP, MlflowServer


def package_arn(group: str, version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{group}/{version}"


def register(server: MlflowServer, name: str, versions: int) -> None:
    """A registered model with `versions` versions, the way automatic registration sees it."""
    mlflow_post(server, "registered-models/create", {"name": name})
    for _ in range(versions):
        mlflow_post(server, "model-versions/create", {"name": name, "source": "s3://bucket/model"})


def tag(server: MlflowServer, name: str, version: int, value: str) -> None:
    mlflow_post(
        server,
        "model-versions/set-tag",
        {"name": name, "version": str(version), "key": PACKAGE_ARN_TAG, "value": value},
    )


@pytest.fixture
def client(mlflow_server: MlflowServer) -> MlflowRestClient:
    return MlflowRestClient(
        TRACKING_SERVER_ARN, base_url=mlflow_server.url, credentials=static_credentials(), region=REGION
    )


@pytest.mark.mlflow
@pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)
class TestPackageLinkAgainstRealMlflow:
    def test_the_version_carrying_the_package_arn_is_found_whatever_its_number(
        self, client: MlflowRestClient, mlflow_server: MlflowServer
    ) -> None:
        # Given versions 1-3 of a model, where package 1 of the group was registered from version 3
        # And a model whose name starts the same, with a version carrying the same ARN
        name = f"churn model {uuid.uuid4().hex[:8]}"
        register(mlflow_server, name, 3)
        tag(mlflow_server, name, 1, package_arn("other-1a2b3c", 7))
        tag(mlflow_server, name, 3, package_arn("churn-1a2b3c", 1))
        register(mlflow_server, name + "-shadow", 1)
        tag(mlflow_server, name + "-shadow", 1, package_arn("churn-1a2b3c", 1))

        # When the version behind package 1 is looked up
        found = find_version(client, name, package_arn("churn-1a2b3c", 1), attempts=1)

        # Then it is version 3 of this model, with its tags as the search returned them
        assert (found["name"], found["version"]) == (name, "3")
        assert {"key": PACKAGE_ARN_TAG, "value": package_arn("churn-1a2b3c", 1)} in found["tags"]

    def test_search_pages_through_every_version(self, client: MlflowRestClient, mlflow_server: MlflowServer) -> None:
        # Given three versions and pages of one
        name = f"churn model {uuid.uuid4().hex[:8]}"
        register(mlflow_server, name, 3)

        # When the client follows next_page_token
        seen: list[str] = []
        token: str | None = None
        for _ in range(5):
            page, token = client.search_model_versions(f"name='{name}'", max_results=1, page_token=token)
            seen.extend(version["version"] for version in page)
            if token is None:
                break

        # Then every version comes exactly once and the last page has no token
        assert sorted(seen) == ["1", "2", "3"]
        assert token is None

    def test_a_package_no_version_carries_is_reported_not_guessed(
        self, client: MlflowRestClient, mlflow_server: MlflowServer
    ) -> None:
        # Given version 2 of a model, untagged, and a package numbered 2
        name = f"churn model {uuid.uuid4().hex[:8]}"
        register(mlflow_server, name, 2)

        # When the version behind package 2 is looked up, then none is picked by its number
        with pytest.raises(PackageLinkError, match=f"no version of MLflow model '{name}' carries the tag"):
            find_version(client, name, package_arn("churn-1a2b3c", 2), attempts=1)
