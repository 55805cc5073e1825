"""The model gate: SageMaker model packages judged against threshold and champion.

SageMaker, SSM and EventBridge are served by moto; MLflow is an in-memory registry
injected in place of the REST client. Published domain events are read back from an SQS
queue that a rule on the platform bus feeds, so the real `publish` path is exercised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from model_gate import handler, logic
from model_gate.models import ModelPackageDetail
from platform_common import domain_events, lease, runtime
from platform_common.catalog import ModelSettings
from platform_common.evidence import EVIDENCE_URI_KEY, EXECUTION_KEY
from platform_common.mlflow_rest import MlflowRestError
from platform_common.promotion import promotion_leases
from tests.handlers.conftest import BUS_NAME, LOCK_TABLE, REGION, example_settings, load_event, put_catalog
from tests.handlers.fakes import GROUP_SUFFIX, SAME_NUMBER, FakeMlflow, package_arn
from tests.handlers.provenance import ARTIFACT_BUCKET, SERVING_IMAGE, Execution, Pipelines

GROUP = f"churn-{GROUP_SUFFIX}"
PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/3"
# Where the challenger's execution put its artifact: what the pending package serves.
CHALLENGER_ARTIFACT_KEY = "pipelines/churn/challenger/train/pipelines-challenger-Train/output/model.tar.gz"
INFERENCE_SPECIFICATION = {
    "Containers": [{"Image": SERVING_IMAGE, "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/{CHALLENGER_ARTIFACT_KEY}"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch) -> FakeMlflow:
    fake = FakeMlflow()
    monkeypatch.setattr(handler, "mlflow_registry", lambda: fake)
    return fake


@pytest.fixture
def published(aws: None) -> Callable[[], list[dict[str, Any]]]:
    """The platform bus, with every platform event copied to a queue; returns a reader."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS_NAME)
    queue_url = sqs.create_queue(QueueName="published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=BUS_NAME, EventPattern=json.dumps({"source": [domain_events.SOURCE]}))
    events.put_targets(Rule="all", EventBusName=BUS_NAME, Targets=[{"Id": "queue", "Arn": queue_arn}])
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(seen)
            for message in messages:
                body = json.loads(message["Body"])
                seen.append({"detail-type": body["detail-type"], **body["detail"]})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def sagemaker(aws: None, handler_env: None, model_locks: Any) -> Any:
    return boto3.client("sagemaker", region_name=REGION)


@pytest.fixture
def pipelines(sagemaker: Any) -> Pipelines:
    """The models' pipelines in moto: executions, artifacts and evidence in the artifact bucket."""
    return Pipelines()


def register_packages(
    sagemaker: Any,
    group: str = GROUP,
    count: int = 3,
    metadata: dict[str, str] | None = None,
) -> str:
    """A group whose last of `count` packages waits for approval; returns its ARN."""
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = ""
    for version in range(1, count + 1):
        pending = version == count
        arn = sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval" if pending else "Approved",
            InferenceSpecification=INFERENCE_SPECIFICATION,
            CustomerMetadataProperties=(metadata or {"team": "retention"}) if pending else {"team": "retention"},
        )["ModelPackageArn"]
    return str(arn)


def describe(sagemaker: Any, arn: str = PACKAGE_ARN) -> dict[str, Any]:
    return dict(sagemaker.describe_model_package(ModelPackageName=arn))


def invoke(event: Any, lambda_context: Any) -> dict[str, Any]:
    return dict(handler.lambda_handler(event, lambda_context))


def pipeline_version(
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    version: int,
    evaluated: dict[str, float],
    *,
    name: str = "churn",
    package: str | None = SAME_NUMBER,
    artifact_key: str | None = None,
    run_metrics: dict[str, float] | None = None,
) -> Execution:
    """MLflow version `version` as the pipeline registers it: from an execution that evaluated `evaluated`.

    The version is tagged with its execution, as the Register step tags it; its run's MLflow
    metrics are `run_metrics` (by default the evaluated ones), which the gate must never read.
    """
    execution = pipelines.execute(
        name, metrics=evaluated, run_id=f"run{version:04d}", artifact_key=artifact_key or None
    )
    mlflow.add_version(
        name, version, evaluated if run_metrics is None else run_metrics, package=package, tags=execution.claim()
    )
    return execution


def setup_model(
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    *,
    settings: ModelSettings | None = None,
    challenger: dict[str, float] | None,
    champion: dict[str, float] | None = None,
) -> ModelSettings:
    """Catalog entry + MLflow versions 2 (optional champion) and 3 (the challenger), each from its pipeline execution."""
    settings = settings or example_settings()
    put_catalog(settings)
    if champion is not None:
        pipeline_version(mlflow, pipelines, 2, champion, name=settings.name)
        mlflow.aliases[(settings.name, "champion")] = "2"
    if challenger is not None:
        pipeline_version(mlflow, pipelines, 3, challenger, name=settings.name, artifact_key=CHALLENGER_ARTIFACT_KEY)
    return settings


ABOVE = "accuracy 0.9500 >= threshold 0.9000"
DECISIONS = [
    pytest.param(
        {"accuracy": 0.95}, None, "Approved", f"{ABOVE} and there is no champion yet", id="no-champion-meets-threshold"
    ),
    pytest.param({"accuracy": 0.85}, None, "Rejected", "accuracy 0.8500 < threshold 0.9000", id="below-threshold"),
    pytest.param(
        {"accuracy": 0.85},
        {"accuracy": 0.80},
        "Rejected",
        "accuracy 0.8500 < threshold 0.9000",
        id="below-threshold-even-if-better-than-champion",
    ),
    pytest.param(
        {"accuracy": 0.92},
        {"accuracy": 0.93},
        "Rejected",
        "accuracy 0.9200 >= threshold 0.9000 but does not beat champion v2 (0.9300)",
        id="worse-than-champion",
    ),
    pytest.param(
        {"accuracy": 0.93},
        {"accuracy": 0.93},
        "Rejected",
        "accuracy 0.9300 >= threshold 0.9000 but does not beat champion v2 (0.9300)",
        id="equal-to-champion",
    ),
    pytest.param(
        {"accuracy": 0.935},
        {"accuracy": 0.93},
        "Rejected",
        "but beats champion v2 (0.9300) by only 0.0050 <= margin 0.0100",
        id="better-within-margin",
    ),
    pytest.param(
        {"accuracy": 0.94},
        {"accuracy": 0.93},
        "Rejected",
        "but beats champion v2 (0.9300) by only 0.0100 <= margin 0.0100",
        id="better-by-exactly-margin",
    ),
    pytest.param(
        {"accuracy": 0.9412},
        {"accuracy": 0.9301},
        "Approved",
        "accuracy 0.9412 >= threshold 0.9000 and beats champion v2 (0.9301) by 0.0111 > margin 0.0100",
        id="better-by-more-than-margin",
    ),
    pytest.param(
        {"f1": 0.97},
        None,
        "Rejected",
        "accuracy is not in the evidence of MLflow version 3 (run run0003)",
        id="metric-missing",
    ),
    pytest.param(
        {"accuracy": float("nan")},
        None,
        "Rejected",
        "accuracy is not in the evidence of MLflow version 3",
        id="metric-not-a-number",
    ),
    pytest.param(
        {"accuracy": 0.95},
        {"f1": 0.5},
        "Approved",
        f"{ABOVE}; champion v2 has no accuracy in its evidence, so the threshold decides",
        id="champion-without-metric",
    ),
    pytest.param(
        None,
        None,
        "Rejected",
        f"no version of MLflow model 'churn' carries the tag sagemaker.model_package_arn={PACKAGE_ARN}",
        id="no-mlflow-version-carries-the-package-tag",
    ),
]


@pytest.mark.parametrize(("challenger", "champion", "expected_status", "expected_reason"), DECISIONS)
def test_auto_mode_applies_the_decision_table(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    challenger: dict[str, float] | None,
    champion: dict[str, float] | None,
    expected_status: str,
    expected_reason: str,
) -> None:
    # Given a pending package v3 and MLflow holding the challenger (and maybe a champion)
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger=challenger, champion=champion)

    # When the gate sees the package waiting for approval
    outcome = invoke(load_event("model_package_pending"), lambda_context)

    # Then the package carries the verdict and its reason, and exactly one event says so
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == expected_status
    assert expected_reason in package["ApprovalDescription"]
    expected_event = domain_events.MODEL_APPROVED if expected_status == "Approved" else domain_events.MODEL_REJECTED
    events = published()
    assert [e["detail-type"] for e in events] == [expected_event]
    assert expected_reason in events[0]["reason"]
    assert outcome["action"] == expected_status.lower()


@pytest.mark.parametrize(
    ("challenger", "champion", "expected_status", "expected_reason"),
    [
        pytest.param(
            0.21,
            0.23,
            "Approved",
            "rmse 0.2100 <= threshold 0.2500 and beats champion v2 (0.2300) by 0.0200",
            id="lower-and-clearly-better",
        ),
        pytest.param(0.225, 0.23, "Rejected", "by only 0.0050 <= margin 0.0100", id="lower-but-within-margin"),
        pytest.param(0.24, 0.23, "Rejected", "does not beat champion v2 (0.2300)", id="higher-than-champion"),
        pytest.param(0.30, None, "Rejected", "rmse 0.3000 > threshold 0.2500 (lower is better)", id="above-threshold"),
    ],
)
def test_lower_is_better_metrics_are_judged_in_their_own_direction(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    challenger: float,
    champion: float | None,
    expected_status: str,
    expected_reason: str,
) -> None:
    # Given an error metric where smaller values are better
    arn = register_packages(sagemaker)
    settings = example_settings(metric_name="rmse", threshold=0.25, margin=0.01, greater_is_better=False)
    setup_model(
        mlflow,
        pipelines,
        settings=settings,
        challenger={"rmse": challenger},
        champion=None if champion is None else {"rmse": champion},
    )

    # When the gate judges the package
    invoke(load_event("model_package_pending"), lambda_context)

    # Then the comparison runs the other way round
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == expected_status
    assert expected_reason in package["ApprovalDescription"]


def test_the_challenger_is_the_mlflow_version_tagged_with_the_package_not_the_same_number(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given package 3 registered from MLflow version 4, while MLflow version 3 (below the threshold)
    # belongs to no package: the numberings drifted apart
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, {"accuracy": 0.50}, package=None)
    pipeline_version(mlflow, pipelines, 4, {"accuracy": 0.95}, package=arn, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges package 3
    outcome = invoke(load_event("model_package_pending"), lambda_context)

    # Then version 4's metric decides, the record goes on version 4, and version 3 is untouched
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "Approved"
    assert mlflow.tags("churn", 4)["validation_status"] == "approved"
    assert mlflow.tags("churn", 3) == {}
    (approved,) = published()
    assert approved["mlflowVersion"] == "4"
    assert outcome["version"] == 3


def test_two_mlflow_versions_claiming_one_package_are_not_guessed_between(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given two MLflow versions that both carry package 3's ARN
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, {"accuracy": 0.95}, package=arn)
    mlflow.add_version("churn", 4, {"accuracy": 0.99}, package=arn)

    # When the gate judges package 3
    invoke(load_event("model_package_pending"), lambda_context)

    # Then the package is rejected with both versions named and no MLflow version is tagged
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "versions 3, 4 of MLflow model 'churn' all carry the tag" in package["ApprovalDescription"]
    assert mlflow.writes == []


def test_a_package_tag_written_a_moment_after_the_event_is_still_found(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given MLflow version 3 whose package tag appears only after the first search
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.95}, package=None, artifact_key=CHALLENGER_ARTIFACT_KEY)
    search = mlflow.search_model_versions

    def tag_after_first_search(filter_string: str, **kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
        result = search(filter_string, **kwargs)
        mlflow.versions[("churn", "3")]["tags"]["sagemaker.model_package_arn"] = arn
        return result

    mlflow.search_model_versions = tag_after_first_search  # type: ignore[method-assign]

    # When the gate judges package 3, then it looked again and approved on version 3's metric
    # (the third search looks for the MLflow version of approved package 2, which has none)
    invoke(load_event("model_package_pending"), lambda_context)
    assert mlflow.searches == ["name='churn'", "name='churn'", "name='churn'"]
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "Approved"


LEFT_OUT = {
    39: [],
    41: ["validation_champion_value", "validation_compared_with"],
    49: [
        EVIDENCE_URI_KEY,
        "validation_status",
        "validation_recommendation",
        "validation_metric",
        "validation_value",
        "validation_threshold",
        "validation_margin",
        "validation_champion_version",
        "validation_champion_value",
        "validation_compared_with",
    ],
}


@pytest.mark.parametrize("existing", [39, 41, 49])
def test_a_package_with_many_metadata_entries_keeps_them_all_within_fifty(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    existing: int,
) -> None:
    # Given a pending package that already carries `existing` metadata entries of its own
    metadata = {f"key-{index:02d}": f"value-{index}" for index in range(existing)}
    arn = register_packages(sagemaker, metadata=metadata)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})

    # When the gate approves it
    invoke(load_event("model_package_pending"), lambda_context)

    # Then every entry stays, the record fills the room left (the verified execution first, which the deployer
    # needs), and the event names what did not fit
    package = describe(sagemaker, arn)
    stored = package["CustomerMetadataProperties"]
    assert metadata.items() <= stored.items()
    assert len(stored) == min(50, existing + 11)
    assert stored[EXECUTION_KEY].startswith(
        "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/mlops-dev-churn/execution/"
    )
    assert package["ModelApprovalStatus"] == "Approved"
    (approved,) = published()
    assert approved.get("metadataLeftOut", []) == LEFT_OUT[existing]


def test_approval_records_the_numbers_in_sagemaker_mlflow_and_the_event(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a challenger that clearly beats the champion, and a package with its own metadata
    arn = register_packages(sagemaker, metadata={"team": "retention", "source-run": "run0003"})
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.9412}, champion={"accuracy": 0.9301})

    # When the gate approves it
    invoke(load_event("model_package_pending"), lambda_context)

    # Then the approval description states the numbers
    package = describe(sagemaker, arn)
    assert package["ApprovalDescription"] == (
        "accuracy 0.9412 >= threshold 0.9000 and beats champion v2 (0.9301) by 0.0111 > margin 0.0100"
    )
    # And the package keeps its metadata, with the verified execution and the comparison added
    execution = mlflow.versions[("churn", "3")]["tags"][EXECUTION_KEY]
    evidence_uri = f"s3://{ARTIFACT_BUCKET}/evidence/churn/{execution.rsplit('/', 1)[1]}/evaluation.json"
    assert package["CustomerMetadataProperties"] == {
        "team": "retention",
        "source-run": "run0003",
        EXECUTION_KEY: execution,
        EVIDENCE_URI_KEY: evidence_uri,
        "validation_status": "approved",
        "validation_recommendation": "approve",
        "validation_metric": "accuracy",
        "validation_value": "0.9412",
        "validation_threshold": "0.9",
        "validation_margin": "0.01",
        "validation_champion_version": "2",
        "validation_champion_value": "0.9301",
        "validation_compared_with": "champion",
    }
    # And the MLflow version carries the same record plus the reason; the champion is untouched
    tags = mlflow.tags("churn", 3)
    assert tags["validation_status"] == "approved"
    assert tags["validation_value"] == "0.9412"
    assert tags["validation_champion_value"] == "0.9301"
    assert tags["validation_reason"] == package["ApprovalDescription"]
    assert not any(key.startswith("validation_") for key in mlflow.tags("churn", 2))
    assert mlflow.aliases[("churn", "champion")] == "2"
    # And the published event names model, version and metrics
    (event,) = published()
    assert event["detail-type"] == domain_events.MODEL_APPROVED
    assert event["model"] == "churn"
    assert event["version"] == 3
    assert event["modelPackageArn"] == arn
    assert event["correlationId"] == "7f2b1c3e-5a4d-4e8f-9b6a-2c1d0e9f8a71"
    assert event["metrics"] == {
        "name": "accuracy",
        "challenger": 0.9412,
        "champion": 0.9301,
        "championVersion": "2",
        "comparedWith": "champion",
        "threshold": 0.9,
        "margin": 0.01,
        "greaterIsBetter": True,
        "improvement": 0.0111,
    }
    assert event["provenance"] == {"verified": True, EXECUTION_KEY: execution, EVIDENCE_URI_KEY: evidence_uri}


def test_manual_mode_records_the_comparison_and_asks_for_a_review(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a model whose versions a person approves
    arn = register_packages(sagemaker)
    setup_model(
        mlflow,
        pipelines,
        settings=example_settings(approval_mode="manual"),
        challenger={"accuracy": 0.9412},
        champion={"accuracy": 0.9301},
    )

    # When the gate sees the pending package
    outcome = invoke(load_event("model_package_pending"), lambda_context)

    # Then the package is still pending, with the recommendation recorded on it
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ApprovalDescription"].startswith(
        "Review requested; the gate recommends to approve: accuracy 0.9412"
    )
    assert package["CustomerMetadataProperties"]["team"] == "retention"
    assert package["CustomerMetadataProperties"]["validation_status"] == "review_requested"
    assert package["CustomerMetadataProperties"]["validation_recommendation"] == "approve"
    assert mlflow.tags("churn", 3)["validation_status"] == "review_requested"
    # And only a review request is published
    events = published()
    assert [e["detail-type"] for e in events] == [domain_events.MODEL_REVIEW_REQUESTED]
    assert events[0]["recommendation"] == "approve"
    assert outcome["action"] == "review_requested"


def test_manual_mode_does_not_review_its_own_update_again(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a review already requested (recording it emits another pending state change)
    register_packages(sagemaker)
    setup_model(mlflow, pipelines, settings=example_settings(approval_mode="manual"), challenger={"accuracy": 0.95})
    invoke(load_event("model_package_pending"), lambda_context)
    writes_after_first = list(mlflow.writes)

    # When the pending event arrives again
    outcome = invoke(load_event("model_package_pending"), lambda_context)

    # Then nothing more is written or published
    assert outcome["action"] == "ignored"
    assert mlflow.writes == writes_after_first
    assert [e["detail-type"] for e in published()] == [domain_events.MODEL_REVIEW_REQUESTED]


def test_a_redelivered_event_for_a_decided_package_changes_nothing(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a package the gate already approved
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})
    invoke(load_event("model_package_pending"), lambda_context)
    writes_after_first = list(mlflow.writes)

    # When the same pending event is delivered again
    outcome = invoke(load_event("model_package_pending"), lambda_context)

    # Then the gate sees it is decided and leaves it alone
    assert outcome == {"action": "ignored", "reason": "package is already Approved", "model": "churn", "version": 3}
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "Approved"
    assert mlflow.writes == writes_after_first
    assert [e["detail-type"] for e in published()] == [domain_events.MODEL_APPROVED]


def test_the_minimal_event_is_enough(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given an event without version, inference specification or metadata
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})

    # When the gate sees it
    outcome = invoke(load_event("model_package_minimal"), lambda_context)

    # Then the version comes from the ARN and the metadata from the package itself
    assert outcome["version"] == 3
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"]["team"] == "retention"


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_packages_that_are_not_pending_are_ignored(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    status: str,
) -> None:
    # Given an approval decision made elsewhere
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.5})
    event = load_event("model_package_pending")
    event["detail"]["ModelApprovalStatus"] = status

    # When the gate receives it
    outcome = invoke(event, lambda_context)

    # Then it does nothing at all
    assert outcome["action"] == "ignored"
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert mlflow.writes == []
    assert published() == []


def test_an_unknown_package_group_is_rejected_without_side_effects(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a pending package in a group no catalog model owns
    arn = register_packages(sagemaker, group="fraud-9f8e7d")
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})
    event = load_event("model_package_pending")
    event["detail"]["ModelPackageGroupName"] = "fraud-9f8e7d"
    event["detail"]["ModelPackageArn"] = arn

    # When the gate receives it
    outcome = invoke(event, lambda_context)

    # Then the package is untouched and only EventRejected is published
    assert outcome["action"] == "event_rejected"
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {"team": "retention"}
    assert mlflow.writes == []
    (event_rejected,) = published()
    assert event_rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert "fraud-9f8e7d" in event_rejected["reason"]
    assert event_rejected["modelPackageArn"] == arn


def test_a_package_of_another_teams_same_named_model_is_rejected_without_side_effects(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    """Another MLflow server or App in the account registers its own "churn" under another suffix.

    The suffix is "the first six characters of the SHA-256 hash of the last segment of the
    tracking server or MLflow App ARN" (SageMaker Developer Guide, "Automatically register
    SageMaker AI models with SageMaker Model Registry",
    https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html);
    the gate's own server is mlflow-tracking-server/mlops-dev-mlflow (conftest).
    """
    # Given a pending "churn" package in a group with another server's suffix
    own_group = "churn-" + hashlib.sha256(b"mlops-dev-mlflow").hexdigest()[:6]
    foreign_group = "churn-1a2b3c"
    assert foreign_group != own_group
    arn = register_packages(sagemaker, group=foreign_group)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.99})
    event = load_event("model_package_pending")
    event["detail"]["ModelPackageGroupName"] = foreign_group
    event["detail"]["ModelPackageArn"] = arn

    # When the gate receives it
    outcome = invoke(event, lambda_context)

    # Then it is rejected, saying whose group it is not and which one would be ours
    assert outcome["action"] == "event_rejected"
    (rejected,) = published()
    assert rejected["detail-type"] == domain_events.EVENT_REJECTED
    assert rejected["reason"].startswith("model package group 'churn-1a2b3c' is not this platform's: ")
    assert f"puts this model's versions in '{own_group}'" in rejected["reason"]
    assert rejected["reason"].endswith("; the package was left untouched")
    assert rejected["modelPackageGroupName"] == foreign_group
    # And the package, its metadata and MLflow are untouched
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {"team": "retention"}
    assert mlflow.writes == []
    assert mlflow.searches == []


def _without_detail(event: dict[str, Any]) -> None:
    del event["detail"]


def _foreign_arn(event: dict[str, Any]) -> None:
    event["detail"]["ModelPackageArn"] = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/other-1a2b3c/3"


def _unknown_status(event: dict[str, Any]) -> None:
    event["detail"]["ModelApprovalStatus"] = "Maybe"


def _version_mismatch(event: dict[str, Any]) -> None:
    event["detail"]["ModelPackageVersion"] = 4


def _wrong_detail_type(event: dict[str, Any]) -> None:
    event["detail-type"] = "SageMaker Model State Change"


@pytest.mark.parametrize(
    "spoil", [_without_detail, _foreign_arn, _unknown_status, _version_mismatch, _wrong_detail_type]
)
def test_malformed_events_are_rejected_without_side_effects(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    spoil: Callable[[dict[str, Any]], None],
) -> None:
    # Given a pending package and an event about it that does not hold together
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})
    event = load_event("model_package_pending")
    spoil(event)

    # When the gate receives it
    outcome = invoke(event, lambda_context)

    # Then it returns normally, changes nothing and publishes only EventRejected
    assert outcome["action"] == "event_rejected"
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert mlflow.writes == []
    events = published()
    assert [e["detail-type"] for e in events] == [domain_events.EVENT_REJECTED]
    assert events[0]["problems"]
    assert events[0]["correlationId"] == event["id"]


def test_an_event_that_is_not_an_object_is_rejected(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a pending package and a payload that is not an event at all
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})

    # When the gate receives it
    outcome = invoke(["not", "an", "event"], lambda_context)

    # Then it is recorded as rejected and nothing else happens
    assert outcome["action"] == "event_rejected"
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert [e["detail-type"] for e in published()] == [domain_events.EVENT_REJECTED]


def test_a_transient_mlflow_failure_raises_so_the_event_is_retried(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given MLflow answering 503 (after the client's own retries)
    arn = register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})
    mlflow.failure = MlflowRestError(
        method="GET", path="/api/2.0/mlflow/model-versions/get", status=503, error_code=None, message="busy"
    )

    # When the gate runs, then the error propagates
    with pytest.raises(MlflowRestError, match="HTTP 503"):
        invoke(load_event("model_package_pending"), lambda_context)

    # And the package is still pending with nothing published
    assert describe(sagemaker, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert published() == []


def test_judge_is_a_pure_function_of_settings_and_scores() -> None:
    # Given settings and two scores, when judged, then the verdict and its numbers follow
    verdict = logic.judge(example_settings(), logic.Score("3", 0.9412, "run0003"), logic.Score("2", 0.9301, "run0002"))
    assert verdict.approve is True
    assert verdict.improvement == pytest.approx(0.0111)
    assert verdict.record("approved")["validation_champion_version"] == "2"


def test_metadata_values_keep_to_the_characters_sagemaker_accepts() -> None:
    # Given a metric name with characters SageMaker metadata refuses, when recorded, then they are replaced
    verdict = logic.judge(example_settings(metric_name="auc(roc)"), logic.Score("3", 0.95), None)
    assert verdict.record("approved")["validation_metric"] == "auc_roc_"


# Provenance: only what the model's pipeline produced and evaluated is judged, on its evidence


def test_metrics_logged_to_mlflow_runs_do_not_count(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given the pipeline's challenger evaluated at 0.92 against a champion evaluated at 0.93, and someone who
    # logged 0.99 to the challenger's run and 0.50 to the champion's run
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 2, {"accuracy": 0.93}, run_metrics={"accuracy": 0.50, "test_accuracy": 0.50})
    mlflow.aliases[("churn", "champion")] = "2"
    pipeline_version(
        mlflow,
        pipelines,
        3,
        {"accuracy": 0.92},
        artifact_key=CHALLENGER_ARTIFACT_KEY,
        run_metrics={"accuracy": 0.99, "test_accuracy": 0.99},
    )

    # When the gate judges the package
    invoke(load_event("model_package_pending"), lambda_context)

    # Then the evaluated numbers decide
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == (
        "accuracy 0.9200 >= threshold 0.9000 but does not beat champion v2 (0.9300)"
    )
    (rejected,) = published()
    assert (rejected["metrics"]["challenger"], rejected["metrics"]["champion"]) == (0.92, 0.93)


@pytest.mark.parametrize("approval_mode", ["auto", "manual"])
def test_a_data_scientists_own_version_is_rejected_quietly_whatever_its_metrics(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    approval_mode: str,
) -> None:
    # Given a version a data scientist registered from an experiment (MLflow says 0.999), which automatic
    # registration turned into pending package 3
    arn = register_packages(sagemaker)
    put_catalog(example_settings(approval_mode=approval_mode))
    mlflow.add_version("churn", 3, {"accuracy": 0.999, "test_accuracy": 0.999}, run_id="experiment42")

    # When the gate sees it
    outcome = invoke(load_event("model_package_pending"), lambda_context)

    # Then it is rejected in either mode, saying exactly why, and nobody is asked to review it
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == (
        f"not produced by the model's pipeline, so never approved: model package {arn} (MLflow version 3) names no "
        f"pipeline execution ({EXECUTION_KEY}); only versions registered by pipeline mlops-dev-churn carry one"
    )
    assert package["CustomerMetadataProperties"]["validation_status"] == "rejected"
    assert EXECUTION_KEY not in package["CustomerMetadataProperties"]
    # And the data scientist finds the reason on the version
    assert mlflow.tags("churn", 3)["validation_reason"] == package["ApprovalDescription"]
    # And the event is the quiet kind, which the notification rule leaves out
    (event,) = published()
    assert event["detail-type"] == domain_events.MODEL_PROVENANCE_REJECTED
    assert event["provenance"] == {"verified": False}
    # And, like every domain event, it says what happened and what to do, for the audit trail
    assert event["summary"] == "churn version 3 is rejected: the model's pipeline did not produce it"
    assert "retrain it through pipeline mlops-dev-churn" in event["nextStep"]
    assert "contenders" in event and event["contenders"] == []
    assert outcome["action"] == "rejected"


def test_a_forged_execution_tag_on_a_data_scientists_version_is_rejected(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given the pipeline's real execution, and a data scientist's version (own run, own artifact) tagged with it
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0002")
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, {"accuracy": 0.999}, run_id="experiment42", tags=execution.claim())

    # When the gate judges it, then the evidence gives it away
    invoke(load_event("model_package_pending"), lambda_context)
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert (
        "is about MLflow run run0002, but MLflow version 3 was registered from run experiment42"
        in (package["ApprovalDescription"])
    )
    assert [e["detail-type"] for e in published()] == [domain_events.MODEL_PROVENANCE_REJECTED]


def test_a_claim_of_another_models_pipeline_is_rejected(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given evidence of model fraud's pipeline, claimed by a churn version
    fraud = pipelines.execute(
        "fraud", metrics={"accuracy": 0.99}, run_id="run0003", artifact_key=CHALLENGER_ARTIFACT_KEY
    )
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, {"accuracy": 0.99}, tags=fraud.claim())

    # When the gate judges it, then the pipeline is named
    invoke(load_event("model_package_pending"), lambda_context)
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "is an execution of pipeline 'mlops-dev-fraud', not of 'mlops-dev-churn'" in package["ApprovalDescription"]


def test_the_pipelines_record_on_the_package_is_believed_only_once_verified(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given the execution recorded on the package by the Register step, and a version tag pointing elsewhere
    execution = pipelines.execute(
        "churn", metrics={"accuracy": 0.95}, run_id="run0003", artifact_key=CHALLENGER_ARTIFACT_KEY
    )
    other = pipelines.execute("churn", metrics={"accuracy": 0.99}, run_id="run0008")
    arn = register_packages(sagemaker, metadata={"team": "retention", **execution.claim()})
    put_catalog(example_settings())
    mlflow.add_version("churn", 3, {"accuracy": 0.5}, tags=other.claim())

    # When the gate judges it, then the package's execution is verified and decides
    invoke(load_event("model_package_pending"), lambda_context)
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"][EXECUTION_KEY] == execution.arn
    assert package["CustomerMetadataProperties"][EVIDENCE_URI_KEY] == execution.evidence_uri


def test_a_champion_whose_evidence_cannot_be_verified_is_not_compared_on_a_guess(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a champion whose version names no execution (deployed before evidence existed, or its tag removed)
    arn = register_packages(sagemaker)
    put_catalog(example_settings())
    mlflow.add_version("churn", 2, {"accuracy": 0.99})
    mlflow.aliases[("churn", "champion")] = "2"
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.95}, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges the pipeline's challenger
    invoke(load_event("model_package_pending"), lambda_context)

    # Then it is rejected, saying why, and a person is told (it may be approved by hand)
    package = describe(sagemaker, arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"].startswith(
        "accuracy 0.9500 >= threshold 0.9000 but champion v2 cannot be compared: MLflow version 2 of 'churn' names "
        f"no pipeline execution ({EXECUTION_KEY}); approve by hand"
    )
    assert [e["detail-type"] for e in published()] == [domain_events.MODEL_REJECTED]


# --- what the challenger must beat -----------------------------------------------------------------


def approve_by_hand(sagemaker: Any, version: int, metadata: dict[str, str] | None = None) -> None:
    """Approve package `version` of GROUP (as the gate or a person does)."""
    sagemaker.update_model_package(
        ModelPackageArn=package_arn("churn", version),
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties=metadata or {"team": "retention"},
    )


def pending_detail(version: int) -> ModelPackageDetail:
    return ModelPackageDetail.model_validate(
        {
            "ModelPackageGroupName": GROUP,
            "ModelPackageArn": package_arn("churn", version),
            "ModelApprovalStatus": "PendingManualApproval",
        }
    )


def test_a_challenger_is_judged_against_an_approved_version_that_does_not_serve_yet(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given v1 champion (0.91) and v2 approved (0.95) but still being deployed, then v3 (0.93) pending
    register_packages(sagemaker)
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 1, {"accuracy": 0.91}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    mlflow.aliases[("churn", "champion")] = "1"
    pipeline_version(mlflow, pipelines, 2, {"accuracy": 0.95}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.93}, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges v3 (which beats the champion by 0.02)
    invoke(load_event("model_package_pending"), lambda_context)

    # Then it is rejected, because it does not beat v2, the version about to serve
    package = describe(sagemaker)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == (
        "accuracy 0.9300 >= threshold 0.9000 but does not beat approved v2 (not serving yet) (0.9500)"
    )
    assert package["CustomerMetadataProperties"]["validation_compared_with"] == "approved_not_serving"
    (rejected,) = published()
    assert rejected["contenders"] == [
        {"role": "champion", "mlflowVersion": "1", "value": 0.91, "modelPackageArn": None},
        {
            "role": "approved_not_serving",
            "mlflowVersion": "2",
            "value": 0.95,
            "modelPackageArn": package_arn("churn", 2),
        },
    ]
    assert rejected["summary"] == "churn version 3 is rejected against approved v2 (not serving yet)"


def test_the_champion_stays_the_bar_when_it_is_stronger_than_the_approved_version(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given v1 champion (0.96) and v2 approved but weaker (0.92, approved by hand), then v3 (0.965)
    register_packages(sagemaker)
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 1, {"accuracy": 0.96}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    mlflow.aliases[("churn", "champion")] = "1"
    pipeline_version(mlflow, pipelines, 2, {"accuracy": 0.92}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.965}, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges v3, then the stronger contender, the champion, is the bar
    invoke(load_event("model_package_pending"), lambda_context)
    package = describe(sagemaker)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "beats champion v1 (0.9600) by only 0.0050" in package["ApprovalDescription"]


def test_an_approved_version_whose_deployment_was_rolled_back_is_no_contender(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given v1 champion (0.91), and v2 (0.95) approved but rolled back (the deployer marked it)
    register_packages(sagemaker)
    approve_by_hand(sagemaker, 2, {"team": "retention", "deployment_status": "rolled_back"})
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 1, {"accuracy": 0.91}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    mlflow.aliases[("churn", "champion")] = "1"
    pipeline_version(mlflow, pipelines, 2, {"accuracy": 0.95}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.93}, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges v3
    invoke(load_event("model_package_pending"), lambda_context)

    # Then only the serving champion counts
    package = describe(sagemaker)
    assert package["ModelApprovalStatus"] == "Approved"
    assert "beats champion v1 (0.9100) by 0.0200" in package["ApprovalDescription"]
    (approved,) = published()
    assert [c["role"] for c in approved["contenders"]] == ["champion"]
    assert approved["nextStep"] == "None; the deployer deploys it, or queues it behind a deployment in progress."


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class DescribeThenInterleave:
    """SageMaker whose first DescribeModelPackage answer is followed by `between()`.

    That is the moment a race would hurt: this decision has read its package and not yet
    approved it, and another decision runs whole in between.
    """

    def __init__(self, client: Any, between: Callable[[], None]) -> None:
        self._client = client
        self._between: Callable[[], None] | None = between

    def describe_model_package(self, **kwargs: Any) -> Any:
        answer = self._client.describe_model_package(**kwargs)
        between, self._between = self._between, None
        if between is not None:
            between()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class NoLease:
    """A stand-in without mutual exclusion: what the gate did before it took leases."""

    @contextmanager
    def hold(self, model: str, owner: str) -> Iterator[None]:
        yield


def two_pending_versions(sagemaker: Any, mlflow: FakeMlflow, pipelines: Pipelines) -> None:
    """v1 champion (0.91); v2 (0.95) and v3 (0.93) pending, both beating v1 by more than the margin."""
    register_packages(sagemaker, count=2)
    sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=INFERENCE_SPECIFICATION,
    )
    sagemaker.update_model_package(
        ModelPackageArn=package_arn("churn", 1),
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"team": "retention"},
    )
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 1, {"accuracy": 0.91}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    mlflow.aliases[("churn", "champion")] = "1"
    pipeline_version(mlflow, pipelines, 2, {"accuracy": 0.95}, artifact_key=CHALLENGER_ARTIFACT_KEY)
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.93}, artifact_key=CHALLENGER_ARTIFACT_KEY)


def decide(
    sagemaker: Any, mlflow: FakeMlflow, pipelines: Pipelines, leases: Any, version: int, owner: str
) -> logic.Outcome:
    return logic.decide(
        pending_detail(version),
        example_settings(),
        sagemaker=sagemaker,
        mlflow=mlflow,
        evidence=pipelines.store(),
        publish=lambda _: None,
        leases=leases,
        owner=owner,
    )


def test_two_versions_judged_at_once_are_serialised_and_the_second_is_judged_against_the_first(
    sagemaker: Any, mlflow: FakeMlflow, pipelines: Pipelines, model_locks: Any
) -> None:
    # Given v2 and v3 pending at the same moment, v3's decision starting while v2's is under way
    two_pending_versions(sagemaker, mlflow, pipelines)
    clock = FakeClock()
    leases = promotion_leases(model_locks, LOCK_TABLE, clock=clock, sleep=clock.sleep)
    attempts: list[logic.Outcome | Exception] = []

    def judge_v3() -> None:
        try:
            attempts.append(decide(sagemaker, mlflow, pipelines, leases, 3, "v3-event/1"))
        except lease.LeaseBusyError as error:
            attempts.append(error)

    # When v2 is judged with v3's decision run in the middle, and v3's event is retried by Lambda
    first = decide(DescribeThenInterleave(sagemaker, judge_v3), mlflow, pipelines, leases, 2, "v2-event/1")
    retried = decide(sagemaker, mlflow, pipelines, leases, 3, "v3-event/2")

    # Then v3's first attempt waited for the lease, changed nothing, and asked to be retried
    [busy] = attempts
    assert isinstance(busy, lease.LeaseBusyError)
    assert busy.holder == "v2-event/1"
    # And v2 was approved against the champion, and v3's retry judged against the approved v2
    assert first.action == "approved"
    assert retried.action == "rejected"
    assert "does not beat approved v2 (not serving yet) (0.9500)" in retried.reason
    assert describe(sagemaker, package_arn("churn", 2))["ModelApprovalStatus"] == "Approved"
    assert describe(sagemaker, package_arn("churn", 3))["ModelApprovalStatus"] == "Rejected"


def test_without_the_lease_the_same_interleaving_approves_both(
    sagemaker: Any, mlflow: FakeMlflow, pipelines: Pipelines
) -> None:
    """The interleaving above is a real race: without mutual exclusion both versions are approved."""
    two_pending_versions(sagemaker, mlflow, pipelines)

    def judge_v3() -> None:
        decide(sagemaker, mlflow, pipelines, NoLease(), 3, "v3")

    decide(DescribeThenInterleave(sagemaker, judge_v3), mlflow, pipelines, NoLease(), 2, "v2")

    statuses = [describe(sagemaker, package_arn("churn", v))["ModelApprovalStatus"] for v in (2, 3)]
    assert statuses == ["Approved", "Approved"]


def test_a_decision_leaves_no_lease_behind(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    model_locks: Any,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given a pending package, when the handler decides it
    register_packages(sagemaker)
    setup_model(mlflow, pipelines, challenger={"accuracy": 0.95})
    invoke(load_event("model_package_pending"), lambda_context)

    # Then the promotion lease was given back
    item = model_locks.get_item(
        TableName=LOCK_TABLE, Key={lease.KEY_ATTRIBUTE: {"S": "churn#promotion#lease"}}, ConsistentRead=True
    )
    assert "Item" not in item


@pytest.mark.parametrize(
    ("mode", "challenger", "summary", "next_step"),
    [
        pytest.param(
            "auto",
            0.95,
            "churn version 3 is approved against champion v2",
            "None; the deployer deploys it, or queues it behind a deployment in progress.",
            id="approved",
        ),
        pytest.param(
            "auto",
            0.92,
            "churn version 3 is rejected against champion v2",
            f"--model-package-arn {PACKAGE_ARN} --model-approval-status Approved",
            id="rejected",
        ),
        pytest.param(
            "manual",
            0.95,
            "churn version 3 waits for review; the gate recommends to approve against champion v2",
            f"aws sagemaker update-model-package --model-package-arn {PACKAGE_ARN} --model-approval-status Approved",
            id="review",
        ),
    ],
)
def test_every_decision_says_what_happened_and_what_to_do_next(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
    mode: str,
    challenger: float,
    summary: str,
    next_step: str,
) -> None:
    register_packages(sagemaker)
    setup_model(
        mlflow,
        pipelines,
        settings=example_settings(approval_mode=mode),
        challenger={"accuracy": challenger},
        champion={"accuracy": 0.93},
    )

    invoke(load_event("model_package_pending"), lambda_context)

    (event,) = published()
    assert event["summary"] == summary
    assert next_step in event["nextStep"]


def test_the_approved_version_not_serving_yet_is_compared_on_its_evidence_too(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given v1 champion (0.91), v2 approved and not serving yet, evaluated at 0.95 though its run was
    # logged down to 0.50, and the pipeline's v3 (0.93) pending
    register_packages(sagemaker)
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 1, {"accuracy": 0.91})
    mlflow.aliases[("churn", "champion")] = "1"
    pipeline_version(mlflow, pipelines, 2, {"accuracy": 0.95}, run_metrics={"accuracy": 0.50})
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.93}, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges v3, then v2's evaluated number is the bar
    invoke(load_event("model_package_pending"), lambda_context)
    package = describe(sagemaker)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "does not beat approved v2 (not serving yet) (0.9500)" in package["ApprovalDescription"]


def test_an_approved_version_without_verifiable_evidence_is_not_beaten_on_a_guess(
    sagemaker: Any,
    mlflow: FakeMlflow,
    pipelines: Pipelines,
    published: Callable[[], list[dict[str, Any]]],
    lambda_context: Any,
) -> None:
    # Given v1 champion (0.91), v2 approved by hand from an experiment (no execution), and the pipeline's v3
    register_packages(sagemaker)
    put_catalog(example_settings())
    pipeline_version(mlflow, pipelines, 1, {"accuracy": 0.91})
    mlflow.aliases[("churn", "champion")] = "1"
    mlflow.add_version("churn", 2, {"accuracy": 0.50}, run_id="experiment7")
    pipeline_version(mlflow, pipelines, 3, {"accuracy": 0.97}, artifact_key=CHALLENGER_ARTIFACT_KEY)

    # When the gate judges v3, then it is not approved on a guess about v2, and a person is told why
    invoke(load_event("model_package_pending"), lambda_context)
    package = describe(sagemaker)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"].startswith(
        "accuracy 0.9700 >= threshold 0.9000 but approved v2 (not serving yet) cannot be compared: MLflow version 2 "
        f"of 'churn' names no pipeline execution ({EXECUTION_KEY}); approve by hand"
    )
    assert [e["detail-type"] for e in published()] == [domain_events.MODEL_REJECTED]
