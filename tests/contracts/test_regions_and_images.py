"""The platform deploys only where its managed MLflow and its default image exist, and says so.

Sources:
- SageMaker's prebuilt scikit-learn images live in a per-region ECR account (SageMaker Developer
  Guide, "Docker Registry Paths and Example Code",
  https://docs.aws.amazon.com/sagemaker/latest/dg-ecr-paths/sagemaker-algo-docker-registry-paths.html;
  the SageMaker Python SDK's image_uri_config/sklearn.json lists the same accounts per region).
- Which resource types CloudFormation offers in a region is published per region as the
  resource provider schemas ("CloudFormation resource provider schemas": "To check the
  availability of a resource in a given Region, refer to the resource provider schemas for that
  Region", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-type-schemas.html).
  cfn-lint ships that list per region; the tests read it from there.
- A template's Rules section validates before any resource is created, and its assertion's
  AssertDescription is the message shown ("CloudFormation template Rules syntax",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
import pytest

from stacks.config import MLFLOW_KINDS, ConfigError, load_environment
from stacks.images import (
    SKLEARN_IMAGE_ACCOUNTS,
    SKLEARN_IMAGE_TAG,
    SKLEARN_REPOSITORY,
    default_image_uri_for_region,
    supported_regions,
)
from tests.contracts.conftest import Synthesized
from tests.synth import synth

PROVIDERS = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
EXPLICIT_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn:1.0"


@cache
def resource_types_in(region: str) -> frozenset[str]:
    """The resource types CloudFormation offers in `region`, from its published provider schemas."""
    return frozenset(json.loads((PROVIDERS / f"{region}.json").read_text()))


def template_types(env: Synthesized) -> set[str]:
    return {resource["Type"] for template in env.templates.values() for resource in template["Resources"].values()}


@pytest.mark.parametrize("kind", MLFLOW_KINDS)
def test_every_supported_region_has_the_default_image(kind: str) -> None:
    """Given a supported region, its default scikit-learn image has an ECR account and a full URI."""
    regions = supported_regions(kind)
    assert regions
    for region in regions:
        account = SKLEARN_IMAGE_ACCOUNTS[region]
        assert re.fullmatch(r"\d{12}", account), region
        assert default_image_uri_for_region(region) == (
            f"{account}.dkr.ecr.{region}.amazonaws.com/{SKLEARN_REPOSITORY}:{SKLEARN_IMAGE_TAG}"
        )


def test_every_supported_region_offers_every_resource_type(synthesized_env: Synthesized) -> None:
    """Given a configuration, every resource type of its stacks exists in each region it may deploy to."""
    kind = synthesized_env.config.mlflow.kind
    types = template_types(synthesized_env)
    assert {"AWS::SageMaker::MlflowTrackingServer", "AWS::SageMaker::MlflowApp"} & types
    missing = {region: sorted(types - resource_types_in(region)) for region in supported_regions(kind)}
    assert {region: absent for region, absent in missing.items() if absent} == {}


def test_an_unsupported_region_fails_before_anything_is_created(synthesized_env: Synthesized) -> None:
    """Every stack of an environment-agnostic synth asserts the region with a readable message."""
    kind = synthesized_env.config.mlflow.kind
    regions = list(supported_regions(kind))
    for unit, template in synthesized_env.templates.items():
        rule = template.get("Rules", {}).get("SupportedRegion")
        assert rule is not None, unit
        (assertion,) = rule["Assertions"]
        assert assertion["Assert"] == {"Fn::Contains": [regions, {"Ref": "AWS::Region"}]}, unit
        description = assertion["AssertDescription"]
        assert all(region in description for region in regions), unit
        assert kind in description, unit


def test_the_image_lookup_covers_every_supported_region(synthesized_env: Synthesized) -> None:
    """A model stack that needs the default image maps each supported region to its image account."""
    kind = synthesized_env.config.mlflow.kind
    model_units = [unit for unit in synthesized_env.templates if unit.startswith("model-")]
    for unit in model_units:
        mapping = synthesized_env.templates[unit]["Mappings"]["SklearnImageAccounts"]
        for region in supported_regions(kind):
            assert mapping[region] == {"account": SKLEARN_IMAGE_ACCOUNTS[region]}, (unit, region)


def _models_platform(region: str | None) -> dict[str, Any]:
    images = {"image_uri": EXPLICIT_IMAGE}
    environment: dict[str, Any] = {
        "models": [
            {"name": "own-images", "training": images, "processing": images},
            {"name": "own-training", "training": images},
            {"name": "defaults"},
        ]
    }
    if region is not None:
        environment.update(account="123456789012", region=region)
    return {"prefix": "mlops", "environments": {"dev": environment}}


@cache
def _model_templates(region: str | None) -> dict[str, dict[str, Any]]:
    _, templates = synth("dev", _models_platform(region))
    return {unit: template.to_json() for unit, template in templates.items() if unit.startswith("model-")}


def _lookups(template: dict[str, Any]) -> list[Any]:
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Fn::FindInMap" in value:
                found.append(value["Fn::FindInMap"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(template)
    return found


def test_a_model_with_its_own_images_needs_no_lookup() -> None:
    """Given explicit training and processing images, the model's template has no mapping and no FindInMap."""
    templates = _model_templates(None)
    own = templates["model-own-images"]
    assert "Mappings" not in own
    assert _lookups(own) == []
    assert EXPLICIT_IMAGE in json.dumps(own)
    # Either image left to the default still needs the lookup.
    for unit in ("model-own-training", "model-defaults"):
        assert "SklearnImageAccounts" in templates[unit]["Mappings"]
        assert _lookups(templates[unit]) != []


def test_a_pinned_region_resolves_the_image_when_synthesizing() -> None:
    """Given a pinned region, the default image is written out: no mapping, no lookup."""
    templates = _model_templates("eu-central-1")
    defaults = templates["model-defaults"]
    assert "Mappings" not in defaults
    assert _lookups(defaults) == []
    assert default_image_uri_for_region("eu-central-1") in json.dumps(defaults)


@pytest.mark.parametrize(
    ("kind", "region", "reason"),
    [
        ("tracking-server", "me-south-1", "scikit-learn image, but no managed MLflow in CloudFormation"),
        ("tracking-server", "ap-southeast-7", "managed MLflow, but no scikit-learn 1.4-2 image account"),
        ("tracking-server", "cn-north-1", "another partition, no managed MLflow"),
        ("app", "af-south-1", "tracking servers only; no MLflow App"),
    ],
)
def test_a_pinned_region_outside_the_list_is_refused(kind: str, region: str, reason: str) -> None:
    """Given a region the platform does not support for the kind, validation names the region key."""
    platform = {"environments": {"prod": {"account": "123456789012", "region": region, "mlflow": {"kind": kind}}}}
    with pytest.raises(ConfigError) as refused:
        load_environment(platform, "prod")
    assert refused.value.path == "platform.environments.prod.region", reason
    assert refused.value.value == region
    assert all(supported in refused.value.expected for supported in supported_regions(kind))


@pytest.mark.parametrize("kind", MLFLOW_KINDS)
def test_every_supported_region_is_accepted_when_pinned(kind: str) -> None:
    """The regions the platform states are exactly the ones validation lets through."""
    for region in supported_regions(kind):
        platform = {"environments": {"prod": {"account": "123456789012", "region": region, "mlflow": {"kind": kind}}}}
        assert load_environment(platform, "prod").region == region
