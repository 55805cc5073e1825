"""With an MLflow App, the platform's grants on model packages reach its own models' groups only.

Automatic registration puts an MLflow model's versions in the package group
`<model>-<suffix>`, "where {suffix} is the first six characters of the SHA-256 hash of the last
segment of the tracking server or MLflow App ARN (the tracking server name or the MLflow App
ID)" (SageMaker Developer Guide, "Automatically register SageMaker AI models with SageMaker
Model Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
An App's ID exists only once the App does, so at synth time the grants name each configured
model with six single-character wildcards, `<model>-??????` (`?` matches "any single
character"; IAM User Guide, "IAM JSON policy elements: Resource",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
Another team's models in the same account (another App or tracking server) are then out of
reach, unless one has a configured model's name: that case the gate and the deployer refuse at
run time, by the exact suffix of the platform's own App (tests/handlers).

ARNs: a package version is `model-package/<group>/<version>` (SageMaker Developer Guide, "Model
Registry Models, Model Versions, and Model Groups",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-models.html), a group
`model-package-group/<group>` (Service Authorization Reference, "Actions, resources, and
condition keys for Amazon SageMaker AI",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).

Configurations: the App variant at the limits of validation (`extreme-app`), and dev with its
tracking server swapped for an App (`dev-app`).
"""

from __future__ import annotations

import pytest

from tests.access.cfn_resolver import ACCOUNT, REGION, Deployment
from tests.access.iam_eval import Policy, Request, evaluate
from tests.contracts.conftest import Synthesized, deployed_roles

SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
APP_CONFIGURATIONS = ("extreme-app", "dev-app")
# Actions that change a package or a group: never on anything but the configured models' groups.
PACKAGE_WRITES = (
    "sagemaker:UpdateModelPackage",
    "sagemaker:CreateModelPackage",
    "sagemaker:DeleteModelPackage",
    "sagemaker:CreateModelPackageGroup",
    "sagemaker:DeleteModelPackageGroup",
)
# Who acts on packages: the gate approves or rejects, the deployer reads what it deploys, MLOps
# engineers approve by hand.
PACKAGE_ACTORS = {
    "model gate": ("model-gate-function", ("sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage")),
    "deployer": ("deployer-function", ("sagemaker:DescribeModelPackage",)),
    "MLOpsEngineer": ("MLOpsEngineer", ("sagemaker:UpdateModelPackage",)),
}


def _deployed(label: str) -> tuple[Synthesized, Deployment]:
    found, deployment = deployed_roles(label)
    assert found.config.mlflow.kind == "app", f"{label} is not an MLflow App configuration"
    return found, deployment


def _models(found: Synthesized) -> list[str]:
    names = [model.name for model in found.config.models]
    assert names, f"{found.label} configures no model; the contract would hold vacuously"
    return names


def _own_group_resources(found: Synthesized) -> set[str]:
    groups = [f"{model}-??????" for model in _models(found)]
    return {f"{SM}:model-package/{group}/*" for group in groups} | {
        f"{SM}:model-package-group/{group}" for group in groups
    }


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _allowed(deployment: Deployment, role: str, action: str, resource: str) -> bool:
    return evaluate(Request(action, resource), [Policy(p) for p in deployment.role(role).policies]).allowed


@pytest.mark.parametrize("label", APP_CONFIGURATIONS)
def test_package_grants_name_a_configured_model_and_a_six_character_suffix(label: str) -> None:
    # Given every identity policy of every role of the environment, resolved as deployed
    found, deployment = _deployed(label)
    own = _own_group_resources(found)
    offending: list[str] = []
    checked = 0
    for role_name, role in deployment.roles.items():
        for document in role.policies:
            for statement in _as_list(document.get("Statement", [])):
                assert isinstance(statement, dict)
                if statement.get("Effect") != "Allow":
                    continue
                actions = [str(a) for a in _as_list(statement.get("Action", []))]
                writes = any(action in PACKAGE_WRITES or action == "sagemaker:*" for action in actions)
                for resource in (str(r) for r in _as_list(statement.get("Resource", []))):
                    names_packages = ":model-package/" in resource or ":model-package-group/" in resource
                    if names_packages or writes:
                        checked += 1
                        if resource not in own:
                            offending.append(f"{role_name} {statement.get('Sid')}: {resource}")
    # Then each grant that names packages, or changes them, names exactly a configured model's groups
    assert checked > 0, f"{label}: no grant on model packages at all"
    assert offending == []


@pytest.mark.parametrize("label", APP_CONFIGURATIONS)
@pytest.mark.parametrize("actor", sorted(PACKAGE_ACTORS))
def test_a_package_of_another_teams_model_is_out_of_reach(label: str, actor: str) -> None:
    found, deployment = _deployed(label)
    role_suffix, actions = PACKAGE_ACTORS[actor]
    role = f"{found.config.resource_prefix}-{role_suffix}"
    model = _models(found)[0]
    foreign = [
        f"{SM}:model-package/fraud-abc123/1",  # a model the platform does not have
        f"{SM}:model-package/{model}x-abc123/1",  # a name that merely starts like ours
        f"{SM}:model-package/{model}-abc1234/1",  # a suffix that is not six characters
        f"{SM}:model-package/{model}-v2-abc123/1",  # another model named <ours>-v2
    ]
    reachable = [f"{action} {arn}" for action in actions for arn in foreign if _allowed(deployment, role, action, arn)]
    assert reachable == []


@pytest.mark.parametrize("label", APP_CONFIGURATIONS)
@pytest.mark.parametrize("actor", sorted(PACKAGE_ACTORS))
def test_every_configured_models_packages_stay_reachable(label: str, actor: str) -> None:
    found, deployment = _deployed(label)
    role_suffix, actions = PACKAGE_ACTORS[actor]
    role = f"{found.config.resource_prefix}-{role_suffix}"
    # Any App's suffix: six hex characters, unknown until the App exists.
    own = [f"{SM}:model-package/{model}-{suffix}/7" for model in _models(found) for suffix in ("abc123", "0f9e8d")]
    missing = [f"{action} {arn}" for action in actions for arn in own if not _allowed(deployment, role, action, arn)]
    assert missing == []
