"""Evidence of what a model's pipeline evaluated, and how the gate and the deployer verify it.

The pipeline's Evidence step (jobs/write_evidence.py) writes one report per execution to
`s3://<artifact bucket>/evidence/<model>/<execution id>/evaluation.json`: the metrics it
evaluated, the model artifact (S3 URI, VersionId, ETag, SHA-256), the serving image, the
execution ARN and the MLflow run. Only the pipeline role can write under `evidence/` and under
the pipelines' output prefix `pipelines/`: no other role is granted s3:PutObject there, and the
artifact bucket's policy denies it to every principal but the pipeline role.

Whatever names an execution (the MLflow version tag or the package metadata
`platform.pipeline_execution_arn`; data scientists may tag any MLflow version) is a claim. It
counts only once AWS confirms it:

1. the ARN names this model's pipeline (`<prefix>-<env>-<model>`) in the package's account and
   Region, and DescribePipelineExecution finds that execution of that pipeline;
2. the report exists at the key derived from the verified execution (never from a claimed URI)
   and names this model and this execution;
3. for the gate, it names the MLflow run the version was registered from, and the package serves
   exactly the artifact and image the report names (no other container, environment or data);
4. for the deployer, additionally, the artifact lies under the pipeline's protected prefix and
   its current S3 version is the one the report recorded.

Each failed check raises an `EvidenceError` subclass whose message says what was claimed and
what AWS answered; `code` names the check for events and metrics.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from platform_common.catalog import ModelSettings
from platform_common.package_link import tag_value

# Key prefixes of the artifact bucket that only the pipeline role may write (shared with the
# stacks that grant and deny writes there).
EVIDENCE_PREFIX = "evidence"
PIPELINE_OUTPUT_PREFIX = "pipelines"
EVIDENCE_FILE = "evaluation.json"
REPORT_FORMAT = "mlops-platform-evidence/1"

# Claim keys: MLflow version tags (Register step) and package CustomerMetadataProperties
# (Register step, gate). Characters and lengths fit SageMaker's metadata rules (UpdateModelPackage).
EXECUTION_KEY = "platform.pipeline_execution_arn"
EVIDENCE_URI_KEY = "platform.evidence_uri"

# A report is a few kilobytes; anything far larger is not one.
REPORT_SIZE_LIMIT = 1024 * 1024

# Container fields that describe the image or data without changing what is served. Anything
# else (Environment, ModelDataSource, AdditionalS3DataSource, ...) changes what runs and is
# never in a package the Register step creates.
_DESCRIPTIVE_CONTAINER_FIELDS = frozenset(
    {"Image", "ModelDataUrl", "ImageDigest", "ModelDataETag", "Framework", "FrameworkVersion", "NearestModelName"}
)

# Execution ARNs: DescribePipelineExecution's documented pattern
# (`arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:pipeline\/.*\/execution\/.*`, SageMaker API
# Reference, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribePipelineExecution.html),
# narrowed so the execution ID can go into an S3 key unchanged.
_EXECUTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"pipeline/(?P<pipeline>[A-Za-z0-9-]{1,256})/execution/(?P<id>[A-Za-z0-9-]{1,128})$"
)
_HOME_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):")
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
# An execution SageMaker does not know: the pipeline-execution calls document ResourceNotFound
# ("Resource being access is not found", SageMaker API Reference,
# "DescribePipelineDefinitionForExecution"), while other SageMaker Describe calls answer an
# unknown resource with ValidationException ("Could not find ..."), as the deployer already
# sees for models and endpoints. Either way the claim names no execution of this pipeline.
_UNKNOWN_EXECUTION_CODES = frozenset({"ResourceNotFound", "ValidationException"})
# S3 answers a missing key with 404 only to a caller that may list the bucket, and with 403
# otherwise (Amazon S3 API Reference, "GetObject": "If you don't have the s3:ListBucket
# permission, Amazon S3 returns an HTTP status code 403 Access Denied error"; likewise
# "HeadObject"). The handlers may not list, so both mean "no object this role can read", and
# either way nothing is approved or deployed on it.
_UNREADABLE_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound", "AccessDenied", "403"})


class EvidenceError(Exception):
    """A version's provenance could not be established; nothing was approved or deployed on it."""

    code = "evidence"


class NoClaimError(EvidenceError):
    """Neither the package nor its MLflow version names a pipeline execution."""

    code = "no-claim"


class ForeignExecutionError(EvidenceError):
    """The claimed execution is not one of this model's pipeline in this account and Region."""

    code = "foreign-execution"


class UnknownExecutionError(EvidenceError):
    """SageMaker knows no such pipeline execution."""

    code = "unknown-execution"


class EvidenceMissingError(EvidenceError):
    """The execution left no evidence report (it never passed its metric check, or failed before)."""

    code = "no-evidence"


class MalformedEvidenceError(EvidenceError):
    """The report cannot be read as evidence."""

    code = "malformed-evidence"


class EvidenceMismatchError(EvidenceError):
    """The report describes another model, execution, run, artifact or image."""

    code = "evidence-mismatch"


class ArtifactChangedError(EvidenceError):
    """The model artifact is no longer the S3 object version the pipeline evaluated."""

    code = "artifact-changed"


@dataclass(frozen=True)
class EvidenceStore:
    """Where evidence lives and the clients (of the caller's own role) to verify it with."""

    bucket: str
    s3: Any
    sagemaker: Any


@dataclass(frozen=True)
class ModelArtifact:
    """The model artifact as the pipeline found it when it wrote the report."""

    uri: str
    version_id: str
    etag: str
    sha256: str
    size: int


@dataclass(frozen=True)
class EvidenceReport:
    """One execution's evidence, parsed; `uri` is where it was read."""

    uri: str
    model: str
    pipeline_execution_arn: str
    mlflow_run_id: str
    metrics: Mapping[str, float]
    artifact: ModelArtifact
    serving_image: str

    def metric(self, name: str) -> float | None:
        """The evaluated value of `name`, or None when the report has no finite value for it."""
        value = self.metrics.get(name)
        return value if value is not None and math.isfinite(value) else None

    def provenance(self) -> dict[str, str]:
        """The verified claim, as package metadata and MLflow tags record it."""
        return {EXECUTION_KEY: self.pipeline_execution_arn, EVIDENCE_URI_KEY: self.uri}


@dataclass(frozen=True)
class _Execution:
    arn: str
    pipeline: str
    execution_id: str


def evidence_key(model: str, execution_id: str) -> str:
    """The S3 key of one execution's report."""
    return f"{EVIDENCE_PREFIX}/{model}/{execution_id}/{EVIDENCE_FILE}"


def claimed_execution(package: Mapping[str, Any], model_version: Mapping[str, Any] | None = None) -> str | None:
    """The execution a package claims: its metadata first (only the pipeline and gate write it), then the version tag."""
    metadata = package.get("CustomerMetadataProperties") or {}
    claim = metadata.get(EXECUTION_KEY)
    if not claim and model_version is not None:
        claim = tag_value(model_version, EXECUTION_KEY)
    return str(claim) if claim else None


def verify_package(
    store: EvidenceStore, settings: ModelSettings, package: Mapping[str, Any], model_version: Mapping[str, Any]
) -> EvidenceReport:
    """The gate's check: the package and its MLflow version are what this model's pipeline evaluated."""
    package_arn = str(package.get("ModelPackageArn") or "")
    claim = claimed_execution(package, model_version)
    if claim is None:
        raise NoClaimError(
            f"model package {package_arn} (MLflow version {model_version.get('version')}) names no pipeline "
            f"execution ({EXECUTION_KEY}); only versions registered by pipeline {settings.pipeline_name} carry one"
        )
    report = _verified_report(store, settings, claim, home_arn=package_arn)
    _require_run(report, model_version)
    _require_container(report, package)
    return report


def verify_version(
    store: EvidenceStore, settings: ModelSettings, model_version: Mapping[str, Any], *, home_arn: str
) -> EvidenceReport:
    """The evidence of an MLflow version (the champion): the execution its tag claims, bound by the run.

    `home_arn` is any SageMaker ARN of this account and Region (the challenger package's).
    """
    claim = tag_value(model_version, EXECUTION_KEY)
    if not claim:
        raise NoClaimError(
            f"MLflow version {model_version.get('version')} of {settings.name!r} names no pipeline execution "
            f"({EXECUTION_KEY})"
        )
    report = _verified_report(store, settings, claim, home_arn=home_arn)
    _require_run(report, model_version)
    return report


def verify_artifact(store: EvidenceStore, settings: ModelSettings, package: Mapping[str, Any]) -> EvidenceReport:
    """The deployer's check before it creates a model: the package serves the artifact version the pipeline evaluated.

    The claim is read from the package's metadata only (written by the pipeline role and the
    gate, which data scientists cannot update). The artifact must sit under the pipeline's
    protected prefix, and HeadObject must return the VersionId and ETag the report recorded.
    """
    package_arn = str(package.get("ModelPackageArn") or "")
    claim = claimed_execution(package)
    if claim is None:
        raise NoClaimError(
            f"model package {package_arn} carries no {EXECUTION_KEY} in its metadata: the gate records it only for "
            "versions it verified as produced by the model's pipeline"
        )
    report = _verified_report(store, settings, claim, home_arn=package_arn)
    _require_container(report, package)
    _require_current_artifact(store, settings, report, claim.rsplit("/", 1)[-1])
    return report


def verify_registry_artifact(
    store: EvidenceStore, settings: ModelSettings, package: Mapping[str, Any], *, pipeline_name: str
) -> EvidenceReport:
    """A consuming environment's check of a registry-of-record package: its evidence and artifact in `store`.

    DescribePipelineExecution takes no cross-account ARN, so the execution the package's
    metadata claims cannot be confirmed from here. What anchors trust instead is where the report
    and the artifact lie: under `evidence/<model>/<execution id>/` and `pipelines/<model>/<execution
    id>/` of the registry's artifact bucket, which only its pipeline role may write (the bucket
    policy denies s3:PutObject there to every other principal). The claim must still name
    `pipeline_name` in the package's own account and Region, and the report that execution's ARN.
    """
    package_arn = str(package.get("ModelPackageArn") or "")
    claim = claimed_execution(package)
    if claim is None:
        raise NoClaimError(
            f"model package {package_arn} carries no {EXECUTION_KEY} in its metadata: the registry's gate records it "
            "only for versions it verified as produced by the model's pipeline"
        )
    execution = _claimed_execution(settings, claim, home_arn=package_arn, pipeline_name=pipeline_name)
    report = _read_report(store, settings, execution)
    _require_container(report, package)
    _require_current_artifact(store, settings, report, execution.execution_id)
    return report


def _require_current_artifact(
    store: EvidenceStore, settings: ModelSettings, report: EvidenceReport, execution_id: str
) -> None:
    protected = f"s3://{store.bucket}/{PIPELINE_OUTPUT_PREFIX}/{settings.name}/{execution_id}/"
    if not report.artifact.uri.startswith(protected):
        raise EvidenceMismatchError(
            f"evidence {report.uri} names artifact {report.artifact.uri}, outside the execution's output prefix "
            f"{protected}"
        )
    bucket, key = _split_s3_uri(report.artifact.uri)
    try:
        head = store.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _error_code(error) in _UNREADABLE_OBJECT_CODES:
            raise ArtifactChangedError(
                f"model artifact {report.artifact.uri} no longer exists or cannot be read (S3 answered "
                f"{_error_code(error)}); the pipeline evaluated version {report.artifact.version_id} (evidence "
                f"{report.uri})"
            ) from error
        raise
    current = (str(head.get("VersionId")), str(head.get("ETag")))
    recorded = (report.artifact.version_id, report.artifact.etag)
    if current != recorded:
        raise ArtifactChangedError(
            f"model artifact {report.artifact.uri} is now version {current[0]} (ETag {current[1]}), but the pipeline "
            f"evaluated version {recorded[0]} (ETag {recorded[1]}), as evidence {report.uri} records"
        )


def parse_report(raw: bytes, uri: str) -> EvidenceReport:
    """Parse a report's bytes; MalformedEvidenceError names the field that is wrong."""
    if len(raw) > REPORT_SIZE_LIMIT:
        raise MalformedEvidenceError(f"evidence {uri} has {len(raw)} bytes, more than a report ever has")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEvidenceError(f"evidence {uri} is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise MalformedEvidenceError(f"evidence {uri} is not a JSON object")
    reader = _Fields(body, uri)
    if reader.text("format") != REPORT_FORMAT:
        raise MalformedEvidenceError(f"evidence {uri}: field 'format' is {body.get('format')!r}, not {REPORT_FORMAT!r}")
    artifact = reader.object("model_artifact")
    return EvidenceReport(
        uri=uri,
        model=reader.text("model"),
        pipeline_execution_arn=reader.text("pipeline_execution_arn"),
        mlflow_run_id=reader.text("mlflow_run_id"),
        metrics=_metrics(reader.object("evaluation"), uri),
        artifact=ModelArtifact(
            uri=reader.text("uri", artifact, "model_artifact."),
            version_id=reader.text("version_id", artifact, "model_artifact."),
            etag=reader.text("etag", artifact, "model_artifact."),
            sha256=reader.text("sha256", artifact, "model_artifact."),
            size=reader.integer("size", artifact, "model_artifact."),
        ),
        serving_image=reader.text("serving_image"),
    )


class _Fields:
    """Typed reads of a report's fields; each failure names the field."""

    def __init__(self, body: Mapping[str, Any], uri: str) -> None:
        self.body = body
        self.uri = uri

    def _fail(self, path: str, expected: str, value: Any) -> MalformedEvidenceError:
        return MalformedEvidenceError(f"evidence {self.uri}: field {path!r} must be {expected}, got {value!r}")

    def text(self, name: str, within: Mapping[str, Any] | None = None, path: str = "") -> str:
        value = (self.body if within is None else within).get(name)
        if not isinstance(value, str) or not value:
            raise self._fail(path + name, "a non-empty string", value)
        return value

    def integer(self, name: str, within: Mapping[str, Any], path: str = "") -> int:
        value = within.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self._fail(path + name, "a non-negative integer", value)
        return value

    def object(self, name: str) -> Mapping[str, Any]:
        value = self.body.get(name)
        if not isinstance(value, dict):
            raise self._fail(name, "an object", value)
        return value


def _metrics(evaluation: Mapping[str, Any], uri: str) -> dict[str, float]:
    metrics = evaluation.get("metrics")
    if not isinstance(metrics, dict):
        raise MalformedEvidenceError(f"evidence {uri}: field 'evaluation.metrics' must be an object")
    values: dict[str, float] = {}
    for name, entry in metrics.items():
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise MalformedEvidenceError(
                f"evidence {uri}: field 'evaluation.metrics.{name}.value' must be a number, got {value!r}"
            )
        values[str(name)] = float(value)
    return values


def _verified_report(store: EvidenceStore, settings: ModelSettings, claim: str, *, home_arn: str) -> EvidenceReport:
    return _read_report(store, settings, _verified_execution(store, settings, claim, home_arn=home_arn))


def _read_report(store: EvidenceStore, settings: ModelSettings, execution: _Execution) -> EvidenceReport:
    key = evidence_key(settings.name, execution.execution_id)
    uri = f"s3://{store.bucket}/{key}"
    try:
        response = store.s3.get_object(Bucket=store.bucket, Key=key)
    except ClientError as error:
        if _error_code(error) in _UNREADABLE_OBJECT_CODES:
            raise EvidenceMissingError(
                f"execution {execution.arn} of pipeline {execution.pipeline} left no readable evidence at {uri} "
                f"(S3 answered {_error_code(error)}); the pipeline writes it only for a model that passed its "
                "metric check"
            ) from error
        raise
    with response["Body"] as body:
        raw = body.read(REPORT_SIZE_LIMIT + 1)
    report = parse_report(raw, uri)
    if report.model != settings.name:
        raise EvidenceMismatchError(f"evidence {uri} is about model {report.model!r}, not {settings.name!r}")
    if report.pipeline_execution_arn != execution.arn:
        raise EvidenceMismatchError(
            f"evidence {uri} was written by execution {report.pipeline_execution_arn}, not {execution.arn}"
        )
    return report


def _claimed_execution(settings: ModelSettings, claim: str, *, home_arn: str, pipeline_name: str) -> _Execution:
    """The execution `claim` names, if its ARN names `pipeline_name` in `home_arn`'s account and Region."""
    match = _EXECUTION_ARN.match(claim)
    if match is None:
        raise ForeignExecutionError(f"{EXECUTION_KEY} {claim!r} is not a SageMaker pipeline execution ARN")
    pipeline = match.group("pipeline")
    # SageMaker ARNs carry resource names in lower case; the platform's names are lower case anyway.
    if pipeline.lower() != pipeline_name.lower():
        raise ForeignExecutionError(
            f"{EXECUTION_KEY} {claim} is an execution of pipeline {pipeline!r}, not of {pipeline_name!r}, "
            f"the pipeline of model {settings.name!r}"
        )
    home = _HOME_ARN.match(home_arn)
    where = (match.group("partition"), match.group("region"), match.group("account"))
    if home is not None and where != (home.group("partition"), home.group("region"), home.group("account")):
        raise ForeignExecutionError(
            f"{EXECUTION_KEY} {claim} is in account {where[2]}, Region {where[1]}; the package is in account "
            f"{home.group('account')}, Region {home.group('region')}"
        )
    return _Execution(arn=claim, pipeline=pipeline_name, execution_id=match.group("id"))


def _verified_execution(store: EvidenceStore, settings: ModelSettings, claim: str, *, home_arn: str) -> _Execution:
    execution = _claimed_execution(settings, claim, home_arn=home_arn, pipeline_name=settings.pipeline_name)
    try:
        described = store.sagemaker.describe_pipeline_execution(PipelineExecutionArn=claim)
    except ClientError as error:
        if _error_code(error) in _UNKNOWN_EXECUTION_CODES:
            raise UnknownExecutionError(
                f"SageMaker knows no execution {claim} ({_error_code(error)}: {_error_message(error)})"
            ) from error
        raise
    pipeline_arn = str(described.get("PipelineArn") or "")
    if not pipeline_arn.lower().endswith(f":pipeline/{settings.pipeline_name.lower()}") or (
        str(described.get("PipelineExecutionArn") or "").lower() != claim.lower()
    ):
        raise ForeignExecutionError(
            f"SageMaker describes {claim} as an execution of {pipeline_arn or 'no pipeline'}, not of "
            f"{settings.pipeline_name!r}"
        )
    return execution


def _require_run(report: EvidenceReport, model_version: Mapping[str, Any]) -> None:
    run_id = model_version.get("run_id") or None
    if report.mlflow_run_id != run_id:
        raise EvidenceMismatchError(
            f"evidence {report.uri} is about MLflow run {report.mlflow_run_id}, but MLflow version "
            f"{model_version.get('version')} was registered from run {run_id}"
        )


def _require_container(report: EvidenceReport, package: Mapping[str, Any]) -> None:
    package_arn = package.get("ModelPackageArn")
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    if len(containers) != 1:
        raise EvidenceMismatchError(
            f"model package {package_arn} has {len(containers)} inference containers; the pipeline registers exactly "
            f"one, serving {report.artifact.uri}"
        )
    (container,) = containers
    if container.get("ModelDataUrl") != report.artifact.uri:
        raise EvidenceMismatchError(
            f"model package {package_arn} serves {container.get('ModelDataUrl')}, but the pipeline evaluated "
            f"{report.artifact.uri} (evidence {report.uri})"
        )
    if container.get("Image") != report.serving_image:
        raise EvidenceMismatchError(
            f"model package {package_arn} runs image {container.get('Image')}, but the pipeline registered "
            f"{report.serving_image} (evidence {report.uri})"
        )
    extra = sorted(name for name, value in container.items() if name not in _DESCRIPTIVE_CONTAINER_FIELDS and value)
    if extra:
        raise EvidenceMismatchError(
            f"model package {package_arn}'s container also sets {', '.join(extra)}, which the pipeline never registers "
            "and which would change what is served"
        )


def _split_s3_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.match(uri)
    if match is None:
        raise EvidenceMismatchError(f"model artifact {uri!r} is not an s3:// URI")
    return match.group("bucket"), match.group("key")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "")


def _error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or error)
