"""Evidence verification (platform_common.evidence) against moto S3 and SageMaker.

Every claim a package or an MLflow version makes about the execution that produced it is
checked with AWS: the execution with DescribePipelineExecution, the report at the key derived
from it, and what the report says against the package and the run. Each failed check has its
own error type and a message that says what was claimed and what was found.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from platform_common import evidence
from platform_common.catalog import ModelSettings
from platform_common.evidence import (
    EVIDENCE_URI_KEY,
    EXECUTION_KEY,
    ArtifactChangedError,
    EvidenceMismatchError,
    EvidenceMissingError,
    EvidenceStore,
    ForeignExecutionError,
    MalformedEvidenceError,
    NoClaimError,
    UnknownExecutionError,
)
from tests.handlers.conftest import example_settings
from tests.handlers.provenance import ACCOUNT, REGION, SERVING_IMAGE, Execution, Pipelines

PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn-1a2b3c/3"


@pytest.fixture
def pipelines(aws: None) -> Pipelines:
    return Pipelines()


@pytest.fixture
def settings() -> ModelSettings:
    return example_settings()


def package_of(execution: Execution, *, metadata: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A DescribeModelPackage answer for the package automatic registration made from the execution's version."""
    specification = execution.inference_specification()
    specification["Containers"][0].update(spec)
    return {
        "ModelPackageArn": PACKAGE_ARN,
        "InferenceSpecification": specification,
        "CustomerMetadataProperties": metadata if metadata is not None else {"team": "retention"},
    }


def version_of(execution: Execution | None, *, run_id: str | None = None, claim: str | None = None) -> dict[str, Any]:
    """The MLflow version (REST shape) registered from the execution's run, tagged with its execution."""
    tags = []
    arn = claim if claim is not None else (execution.arn if execution else None)
    if arn:
        tags.append({"key": EXECUTION_KEY, "value": arn})
    return {
        "name": "churn",
        "version": "3",
        "run_id": run_id or (execution.run_id if execution else "run9999"),
        "tags": tags,
    }


def test_a_package_the_pipeline_produced_verifies_and_yields_its_evaluated_metrics(
    pipelines: Pipelines, settings: ModelSettings
) -> None:
    # Given an execution of churn's pipeline with its evidence, and the version registered from its run
    execution = pipelines.execute("churn", metrics={"accuracy": 0.9412, "f1": 0.8}, run_id="run0003")

    # When the gate verifies the package
    report = evidence.verify_package(pipelines.store(), settings, package_of(execution), version_of(execution))

    # Then the report's metrics and provenance are the pipeline's
    assert report.metric("accuracy") == 0.9412
    assert report.metric("roc_auc") is None
    assert report.mlflow_run_id == "run0003"
    assert report.artifact.uri == execution.artifact_uri
    assert report.artifact.version_id == execution.artifact_version_id
    assert report.provenance() == {EXECUTION_KEY: execution.arn, EVIDENCE_URI_KEY: execution.evidence_uri}


def test_the_package_metadata_claim_is_preferred_to_the_version_tag(
    pipelines: Pipelines, settings: ModelSettings
) -> None:
    # Given a version tag pointing elsewhere and package metadata (only the pipeline and gate write it) naming the execution
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    other = pipelines.execute("churn", metrics={"accuracy": 0.99}, run_id="run0004")
    package = package_of(execution, metadata=execution.claim())

    # When verified, then the metadata's execution is the one read
    report = evidence.verify_package(pipelines.store(), settings, package, version_of(execution, claim=other.arn))
    assert report.pipeline_execution_arn == execution.arn


def test_a_version_that_names_no_execution_is_not_the_pipelines(pipelines: Pipelines, settings: ModelSettings) -> None:
    # Given a data scientist's own version: no claim on the package or the version
    version = {"name": "churn", "version": "7", "run_id": "experiment42", "tags": []}

    # When verified, then NoClaimError says what is missing and whose versions carry it
    with pytest.raises(NoClaimError) as caught:
        evidence.verify_package(pipelines.store(), settings, {"ModelPackageArn": PACKAGE_ARN}, version)
    assert str(caught.value) == (
        f"model package {PACKAGE_ARN} (MLflow version 7) names no pipeline execution ({EXECUTION_KEY}); only "
        "versions registered by pipeline mlops-dev-churn carry one"
    )
    assert caught.value.code == "no-claim"


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        pytest.param("run0003", "'run0003' is not a SageMaker pipeline execution ARN", id="not-an-arn"),
        pytest.param(
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn/execution/../../fraud",
            "is not a SageMaker pipeline execution ARN",
            id="path-in-the-execution-id",
        ),
        pytest.param(
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-fraud/execution/abc123",
            "is an execution of pipeline 'mlops-dev-fraud', not of 'mlops-dev-churn', the pipeline of model 'churn'",
            id="another-models-pipeline",
        ),
        pytest.param(
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-prod-churn/execution/abc123",
            "is an execution of pipeline 'mlops-prod-churn', not of 'mlops-dev-churn'",
            id="another-environments-pipeline",
        ),
        pytest.param(
            f"arn:aws:sagemaker:{REGION}:210987654321:pipeline/mlops-dev-churn/execution/abc123",
            "is in account 210987654321, Region eu-west-1; the package is in account 123456789012",
            id="another-account",
        ),
    ],
)
def test_a_claim_of_an_execution_that_is_not_this_models_pipeline_is_refused_before_asking_aws(
    settings: ModelSettings, claim: str, message: str
) -> None:
    # Given SageMaker and S3 clients that must not be called
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(sagemaker), Stubber(s3):
        store = EvidenceStore("bucket", s3, sagemaker)
        # When the claim is checked, then it is refused on its face
        with pytest.raises(ForeignExecutionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            evidence.verify_package(store, settings, {"ModelPackageArn": PACKAGE_ARN}, version_of(None, claim=claim))


def test_an_execution_sagemaker_does_not_know_is_refused(pipelines: Pipelines, settings: ModelSettings) -> None:
    # Given a well-formed claim of an execution that never ran
    pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    claim = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn/execution/neverran0001"

    # When verified, then SageMaker's answer is in the reason
    with pytest.raises(UnknownExecutionError, match=f"SageMaker knows no execution {claim}"):
        evidence.verify_package(
            pipelines.store(), settings, {"ModelPackageArn": PACKAGE_ARN}, version_of(None, claim=claim)
        )


def test_sagemaker_describing_another_pipeline_is_refused(settings: ModelSettings) -> None:
    # Given SageMaker answering that the execution belongs to another pipeline
    claim = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn/execution/abc123"
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    stubber.add_response(
        "describe_pipeline_execution",
        {"PipelineArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/other", "PipelineExecutionArn": claim},
        {"PipelineExecutionArn": claim},
    )
    store = EvidenceStore("bucket", boto3.client("s3", region_name=REGION), sagemaker)

    # When verified, then the mismatch is named
    with stubber, pytest.raises(ForeignExecutionError, match=r"as an execution of .*pipeline/other, not of"):
        evidence.verify_package(store, settings, {"ModelPackageArn": PACKAGE_ARN}, version_of(None, claim=claim))


def test_an_execution_without_evidence_is_refused(pipelines: Pipelines, settings: ModelSettings) -> None:
    # Given an execution of the right pipeline that wrote no evidence (it failed its check, or the step never ran)
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003", evidence=False)

    # When verified, then the reason names the key that was looked for
    with pytest.raises(EvidenceMissingError) as caught:
        evidence.verify_package(pipelines.store(), settings, package_of(execution), version_of(execution))
    assert f"left no readable evidence at {execution.evidence_uri} (S3 answered NoSuchKey)" in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"model": "fraud"}, "is about model 'fraud', not 'churn'", id="another-model"),
        pytest.param(
            {"pipeline_execution_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn/execution/x1"},
            "was written by execution .*execution/x1, not",
            id="another-execution",
        ),
        pytest.param(
            {"mlflow_run_id": "run0001"},
            "is about MLflow run run0001, but MLflow version 3 was registered from run run0003",
            id="another-run",
        ),
    ],
)
def test_evidence_about_something_else_is_refused(
    pipelines: Pipelines, settings: ModelSettings, overrides: dict[str, Any], message: str
) -> None:
    # Given evidence whose content does not match the execution or version it is read for
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003", report_overrides=overrides)

    # When verified, then the mismatch is named
    with pytest.raises(EvidenceMismatchError, match=message):
        evidence.verify_package(pipelines.store(), settings, package_of(execution), version_of(execution))


def test_a_data_scientists_version_claiming_the_pipelines_execution_is_refused(
    pipelines: Pipelines, settings: ModelSettings
) -> None:
    # Given the pipeline's execution, and a version registered from a data scientist's own run that tags itself with it
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    forged = version_of(execution, run_id="experiment42")

    # When verified, then the run gives it away
    with pytest.raises(EvidenceMismatchError, match="was registered from run experiment42"):
        evidence.verify_package(pipelines.store(), settings, package_of(execution), forged)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"ModelDataUrl": "s3://bucket/mlflow/1/abc/artifacts/model.tar.gz"},
            "serves s3://bucket/mlflow/1/abc/artifacts/model.tar.gz, but the pipeline evaluated",
            id="another-artifact",
        ),
        pytest.param(
            {"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine:1"},
            "runs image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine:1, but the pipeline registered",
            id="another-image",
        ),
        pytest.param(
            {"Environment": {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://mine/code.tar.gz"}},
            "also sets Environment, which the pipeline never registers",
            id="environment",
        ),
        pytest.param(
            {"ModelDataSource": {"S3DataSource": {"S3Uri": "s3://mine/"}}},
            "also sets ModelDataSource",
            id="model-data-source",
        ),
    ],
)
def test_a_package_serving_anything_but_the_evaluated_artifact_and_image_is_refused(
    pipelines: Pipelines, settings: ModelSettings, spec: dict[str, Any], message: str
) -> None:
    # Given the pipeline's version, but a package whose container differs from what was evaluated
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")

    # When verified, then the difference is named
    with pytest.raises(EvidenceMismatchError, match=message):
        evidence.verify_package(pipelines.store(), settings, package_of(execution, **spec), version_of(execution))


def test_a_package_with_a_second_container_is_refused(pipelines: Pipelines, settings: ModelSettings) -> None:
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    package = package_of(execution)
    package["InferenceSpecification"]["Containers"].append({"Image": SERVING_IMAGE, "ModelDataUrl": "s3://x/y"})

    with pytest.raises(EvidenceMismatchError, match="has 2 inference containers; the pipeline registers exactly one"):
        evidence.verify_package(pipelines.store(), settings, package, version_of(execution))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"not json", "is not JSON", id="not-json"),
        pytest.param(b"[1, 2]", "is not a JSON object", id="not-an-object"),
        pytest.param(
            json.dumps({"format": "something/2"}).encode(), "field 'format' is 'something/2'", id="unknown-format"
        ),
        pytest.param(b" " * (evidence.REPORT_SIZE_LIMIT + 1), "more than a report ever has", id="too-large"),
    ],
)
def test_a_report_that_is_not_evidence_is_refused(
    pipelines: Pipelines, settings: ModelSettings, body: bytes, message: str
) -> None:
    # Given an execution whose report is unreadable
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003", evidence=False)
    pipelines.write_report("churn", execution.execution_id, body)

    # When verified, then the reason says what is wrong with it
    with pytest.raises(MalformedEvidenceError, match=message):
        evidence.verify_package(pipelines.store(), settings, package_of(execution), version_of(execution))


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        pytest.param(lambda r: r.pop("mlflow_run_id"), "'mlflow_run_id' must be a non-empty string", id="no-run"),
        pytest.param(
            lambda r: r["model_artifact"].pop("version_id"),
            "'model_artifact.version_id' must be a non-empty string",
            id="no-version",
        ),
        pytest.param(
            lambda r: r["model_artifact"].update(size=-1),
            "'model_artifact.size' must be a non-negative integer",
            id="negative-size",
        ),
        pytest.param(
            lambda r: r["evaluation"]["metrics"].update(accuracy={"value": "0.99"}),
            "'evaluation.metrics.accuracy.value' must be a number",
            id="metric-as-text",
        ),
        pytest.param(
            lambda r: r.update(evaluation={"metrics": []}),
            "'evaluation.metrics' must be an object",
            id="metrics-not-an-object",
        ),
    ],
)
def test_a_report_missing_a_field_names_the_field(
    pipelines: Pipelines, settings: ModelSettings, spoil: Any, field: str
) -> None:
    execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
    report = pipelines.report(
        "churn", execution.arn, "run0003", {"accuracy": 0.95}, execution.artifact_uri, execution.serving_image
    )
    spoil(report)
    pipelines.write_report("churn", execution.execution_id, report)

    with pytest.raises(MalformedEvidenceError, match=field):
        evidence.verify_package(pipelines.store(), settings, package_of(execution), version_of(execution))


def test_an_s3_fault_other_than_a_missing_report_propagates_so_the_event_is_retried(settings: ModelSettings) -> None:
    # Given SageMaker confirming the execution and S3 throttling the read
    claim = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn/execution/abc123"
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    sm_stub, s3_stub = Stubber(sagemaker), Stubber(s3)
    sm_stub.add_response(
        "describe_pipeline_execution",
        {
            "PipelineArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/mlops-dev-churn",
            "PipelineExecutionArn": claim,
        },
        {"PipelineExecutionArn": claim},
    )
    s3_stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)

    # When verified, then the fault is raised as it is, not turned into a verdict
    with sm_stub, s3_stub, pytest.raises(ClientError, match="SlowDown"):
        evidence.verify_package(
            EvidenceStore("bucket", s3, sagemaker),
            settings,
            {"ModelPackageArn": PACKAGE_ARN},
            version_of(None, claim=claim),
        )


def test_the_champions_evidence_is_bound_to_its_run(pipelines: Pipelines, settings: ModelSettings) -> None:
    # Given the champion's execution, and the champion's version tagged with it
    execution = pipelines.execute("churn", metrics={"accuracy": 0.93}, run_id="run0002")
    champion = {**version_of(execution), "version": "2"}

    # When its evidence is read, then it yields its metric; a tag pointing at another run's execution does not
    report = evidence.verify_version(pipelines.store(), settings, champion, home_arn=PACKAGE_ARN)
    assert report.metric("accuracy") == 0.93
    better = pipelines.execute("churn", metrics={"accuracy": 0.50}, run_id="run0009")
    retagged = {**version_of(execution, claim=better.arn), "version": "2"}
    with pytest.raises(EvidenceMismatchError, match="MLflow version 2 was registered from run run0002"):
        evidence.verify_version(pipelines.store(), settings, retagged, home_arn=PACKAGE_ARN)


class TestVerifyArtifact:
    """The deployer's check right before CreateModel."""

    def test_the_evaluated_version_verifies(self, pipelines: Pipelines, settings: ModelSettings) -> None:
        execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")

        report = evidence.verify_artifact(
            pipelines.store(), settings, package_of(execution, metadata=execution.claim())
        )

        assert report.artifact.version_id == execution.artifact_version_id

    def test_a_package_whose_metadata_names_no_execution_is_not_deployed(
        self, pipelines: Pipelines, settings: ModelSettings
    ) -> None:
        # Given an approved package without the gate's verified claim (approved by hand, never verified)
        execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")

        with pytest.raises(NoClaimError, match=f"carries no {EXECUTION_KEY} in its metadata"):
            evidence.verify_artifact(pipelines.store(), settings, package_of(execution))

    def test_an_overwritten_artifact_is_not_deployed(self, pipelines: Pipelines, settings: ModelSettings) -> None:
        # Given the artifact replaced after the pipeline evaluated it
        execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
        new_version = pipelines.overwrite_artifact(execution)

        # When the deployer verifies it, then both versions are named
        with pytest.raises(ArtifactChangedError) as caught:
            evidence.verify_artifact(pipelines.store(), settings, package_of(execution, metadata=execution.claim()))
        assert f"is now version {new_version}" in str(caught.value)
        assert f"evaluated version {execution.artifact_version_id}" in str(caught.value)

    def test_a_deleted_artifact_is_not_deployed(self, pipelines: Pipelines, settings: ModelSettings) -> None:
        execution = pipelines.execute("churn", metrics={"accuracy": 0.95}, run_id="run0003")
        pipelines.s3.delete_object(Bucket=pipelines.bucket, Key=execution.artifact_uri.split("/", 3)[3])

        with pytest.raises(ArtifactChangedError, match="no longer exists or cannot be read"):
            evidence.verify_artifact(pipelines.store(), settings, package_of(execution, metadata=execution.claim()))

    def test_an_artifact_outside_the_executions_protected_prefix_is_not_deployed(
        self, pipelines: Pipelines, settings: ModelSettings
    ) -> None:
        # Given evidence naming an artifact under the MLflow root, where data scientists may write
        execution = pipelines.execute(
            "churn", metrics={"accuracy": 0.95}, run_id="run0003", artifact_key="mlflow/mlops-dev-mlflow/1/model.tar.gz"
        )

        with pytest.raises(EvidenceMismatchError, match="outside the execution's output prefix"):
            evidence.verify_artifact(pipelines.store(), settings, package_of(execution, metadata=execution.claim()))
