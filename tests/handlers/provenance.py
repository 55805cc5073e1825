"""A model's pipeline as moto holds it after an execution: the execution, the model artifact, the evidence.

The evidence report is built by the Evidence step's own code (jobs/write_evidence.py), so the
handlers' tests read exactly the format the pipeline writes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from jobs import write_evidence
from platform_common.evidence import EXECUTION_KEY, EvidenceStore, evidence_key

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ARTIFACT_BUCKET = f"mlops-dev-mlflow-artifacts-{ACCOUNT}-{REGION}"
PIPELINE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-pipeline-execution"
SERVING_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


def model_archive(run_id: str, payload: bytes = b"trained model") -> bytes:
    """A model.tar.gz as the Train step packs it: the model and mlflow_run.json naming its run."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in (("model.joblib", payload), ("mlflow_run.json", json.dumps({"run_id": run_id}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@dataclass(frozen=True)
class Execution:
    """One pipeline execution that passed its metric check, and what it left in S3."""

    arn: str
    execution_id: str
    model: str
    run_id: str
    artifact_uri: str
    artifact_version_id: str
    evidence_uri: str
    serving_image: str

    def inference_specification(self) -> dict[str, Any]:
        """What the Register step attaches, so what the package automatic registration creates serves."""
        return {
            "Containers": [{"Image": self.serving_image, "ModelDataUrl": self.artifact_uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        }

    def claim(self) -> dict[str, str]:
        """The tag (or package metadata entry) naming this execution."""
        return {EXECUTION_KEY: self.arn}


class Pipelines:
    """Runs model pipelines in moto: SageMaker executions, artifacts and evidence in the versioned artifact bucket."""

    def __init__(self, region: str = REGION, bucket: str = ARTIFACT_BUCKET) -> None:
        self.bucket = bucket
        self.s3 = boto3.client("s3", region_name=region)
        self.sagemaker = boto3.client("sagemaker", region_name=region)
        self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def store(self) -> EvidenceStore:
        """What the gate and the deployer verify with."""
        return EvidenceStore(bucket=self.bucket, s3=self.s3, sagemaker=self.sagemaker)

    def execute(
        self,
        model: str,
        *,
        metrics: Mapping[str, float],
        run_id: str,
        pipeline: str | None = None,
        serving_image: str = SERVING_IMAGE,
        artifact_key: str | None = None,
        evidence: bool = True,
        report_overrides: Mapping[str, Any] | None = None,
    ) -> Execution:
        """An execution of `pipeline` (the model's own by default) that trained, evaluated and wrote evidence."""
        pipeline = pipeline or f"mlops-dev-{model}"
        self._ensure_pipeline(pipeline)
        arn = self.sagemaker.start_pipeline_execution(PipelineName=pipeline)["PipelineExecutionArn"]
        execution_id = arn.rsplit("/", 1)[-1]
        key = (
            artifact_key or f"pipelines/{model}/{execution_id}/train/pipelines-{execution_id}-Train/output/model.tar.gz"
        )
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=model_archive(run_id))
        artifact_uri = f"s3://{self.bucket}/{key}"
        uri = f"s3://{self.bucket}/{evidence_key(model, execution_id)}"
        if evidence:
            self.write_report(
                model,
                execution_id,
                self.report(model, arn, run_id, metrics, artifact_uri, serving_image, report_overrides),
            )
        return Execution(
            arn=arn,
            execution_id=execution_id,
            model=model,
            run_id=run_id,
            artifact_uri=artifact_uri,
            artifact_version_id=str(put["VersionId"]),
            evidence_uri=uri,
            serving_image=serving_image,
        )

    def report(
        self,
        model: str,
        arn: str,
        run_id: str,
        metrics: Mapping[str, float],
        artifact_uri: str,
        serving_image: str,
        overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The report the Evidence step writes for this execution (its own code), with `overrides` applied."""
        archive_key = artifact_uri.split("/", 3)[3]
        head = self.s3.head_object(Bucket=self.bucket, Key=archive_key)
        body = self.s3.get_object(Bucket=self.bucket, Key=archive_key)["Body"]
        sha256, size = write_evidence.sha256_of(body)
        report = write_evidence.build_report(
            model=model,
            execution_arn=arn,
            run_id=run_id,
            evaluation={"metrics": {name: {"value": value} for name, value in metrics.items()}, "test_rows": 750},
            artifact={
                "uri": artifact_uri,
                "version_id": head["VersionId"],
                "etag": head["ETag"],
                "sha256": sha256,
                "size": size,
            },
            serving_image=serving_image,
        )
        report.update(overrides or {})
        return report

    def write_report(self, model: str, execution_id: str, report: Mapping[str, Any] | bytes) -> None:
        """Put a report where the Evidence step writes it (as the pipeline role would)."""
        body = report if isinstance(report, bytes) else json.dumps(report).encode()
        self.s3.put_object(Bucket=self.bucket, Key=evidence_key(model, execution_id), Body=body)

    def overwrite_artifact(self, execution: Execution, payload: bytes = b"something else") -> str:
        """Replace the artifact's current version (what the bucket policy keeps anyone but the pipeline from doing)."""
        key = execution.artifact_uri.split("/", 3)[3]
        return str(
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=model_archive(execution.run_id, payload))["VersionId"]
        )

    def _ensure_pipeline(self, name: str) -> None:
        try:
            self.sagemaker.describe_pipeline(PipelineName=name)
        except ClientError:
            definition = json.dumps({"Version": "2020-12-01", "Steps": []})
            self.sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=definition, RoleArn=PIPELINE_ROLE_ARN)
