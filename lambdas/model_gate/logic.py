"""Decide whether a newly registered model version may replace the champion.

How a SageMaker model package maps to an MLflow model version
-------------------------------------------------------------
The SageMaker Developer Guide, "Automatically register SageMaker AI models with SageMaker
Model Registry" (https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html),
says that registering an MLflow model makes SageMaker create a corresponding model package
version in a group named `<MLflow model name>-<suffix>`, and that the MLflow model version
then carries the tag `sagemaker.model_package_arn` naming that package. The gate reads:

* the MLflow registered model named like the catalog model (the group name minus suffix),
* the one version of it whose `sagemaker.model_package_arn` tag is the package's ARN
  (`platform_common.package_link`; version numbers are never matched), and
* the metric from the evidence report the model's pipeline wrote for that version, once
  `platform_common.evidence` has verified with SageMaker and S3 that the pipeline produced the
  package (the champion's score likewise). MLflow run metrics are never read: anyone who may
  log to a run could change them.

If no version (or more than one) carries the tag the package is rejected with a reason
saying so, never approved on a guess. A package the pipeline did not produce (no evidence,
evidence of another model or execution, another pipeline's execution, another artifact or
image) is rejected in either approval mode, whatever its metrics, with the failed check in the
reason; it is published as ModelProvenanceRejected, which is audited but not e-mailed, because
data scientists' experiment versions are registered as packages all the time.

Decision table (the catalog gives metric, threshold, margin and direction):

==============================  =======================================
situation                       verdict
==============================  =======================================
not produced by the pipeline    reject (quietly)
metric missing or not finite    reject
fails the threshold             reject
no champion yet                 approve
champion's evidence unverified  reject (a person may approve by hand)
champion has no such metric     approve (the threshold alone decides)
not better than the champion    reject
better, by at most the margin   reject
better by more than the margin  approve
==============================  =======================================

In "auto" approval mode the verdict is applied to the package; in "manual" mode it is
recorded as a recommendation and the package stays pending for a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from model_gate.models import APPROVED, PENDING, REJECTED, ModelPackageDetail
from platform_common import domain_events
from platform_common.catalog import ModelSettings
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EvidenceError, EvidenceReport, EvidenceStore, verify_package, verify_version
from platform_common.package_link import PackageLinkError, find_version

CHAMPION_ALIAS = "champion"
MANUAL_MODE = "manual"

# Keys written both as MLflow version tags and as package CustomerMetadataProperties, so
# either registry shows why a version was let through or stopped.
STATUS_KEY = "validation_status"
RECOMMENDATION_KEY = "validation_recommendation"
METRIC_KEY = "validation_metric"
VALUE_KEY = "validation_value"
THRESHOLD_KEY = "validation_threshold"
MARGIN_KEY = "validation_margin"
CHAMPION_VERSION_KEY = "validation_champion_version"
CHAMPION_VALUE_KEY = "validation_champion_value"
REASON_KEY = "validation_reason"

# SageMaker limits ApprovalDescription to 1024 characters, and CustomerMetadataProperties to
# 50 entries whose values have at most 256 characters drawn from letters, digits, spaces and
# _.:/=+-@, so no reason text there (SageMaker API Reference, "UpdateModelPackage",
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateModelPackage.html).
APPROVAL_DESCRIPTION_LIMIT = 1024
METADATA_VALUE_LIMIT = 256
METADATA_ENTRIES_LIMIT = 50
_METADATA_UNSAFE = re.compile(r"[^\w .:/=+\-@]")

# Differences are compared after rounding, so 0.94 - 0.93 counts as exactly 0.01.
_DECIMALS = 9

Publisher = Callable[[DomainEvent], object]


class ModelRegistry(Protocol):
    """The MLflow registry calls the gate needs (MlflowRestClient has them)."""

    def search_model_versions(
        self, filter_string: str, *, max_results: int = ..., page_token: str | None = ...
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None: ...

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Score:
    """One model version's value of the gate metric, from its verified evidence (None when it has none)."""

    version: str
    value: float | None
    run_id: str | None = None
    missing: str | None = None
    # Set when the evidence could not be verified: `missing` then says which check failed.
    unproven: bool = False
    provenance: Mapping[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether an MLflow version was found for the package (`missing` says why not, unless it is unproven)."""
        return self.missing is None or self.unproven


@dataclass(frozen=True)
class Verdict:
    """The gate's judgement of a challenger, with the numbers behind it."""

    approve: bool
    reason: str
    metric_name: str
    challenger: Score
    threshold: float
    margin: float
    greater_is_better: bool
    champion: Score | None = None
    improvement: float | None = None

    @property
    def recommendation(self) -> str:
        return "approve" if self.approve else "reject"

    def record(self, status: str) -> dict[str, str]:
        """The machine-readable record, safe to store as package metadata."""
        return {
            STATUS_KEY: status,
            RECOMMENDATION_KEY: self.recommendation,
            METRIC_KEY: _metadata_value(self.metric_name),
            VALUE_KEY: _number(self.challenger.value),
            THRESHOLD_KEY: _number(self.threshold),
            MARGIN_KEY: _number(self.margin),
            CHAMPION_VERSION_KEY: self.champion.version if self.champion else "none",
            CHAMPION_VALUE_KEY: _number(self.champion.value) if self.champion else "none",
        }

    def metrics(self) -> dict[str, Any]:
        return {
            "name": self.metric_name,
            "challenger": self.challenger.value,
            "champion": self.champion.value if self.champion else None,
            "championVersion": self.champion.version if self.champion else None,
            "threshold": self.threshold,
            "margin": self.margin,
            "greaterIsBetter": self.greater_is_better,
            "improvement": self.improvement,
        }


@dataclass(frozen=True)
class Outcome:
    """What the gate did with one event (returned by the handler, logged, asserted in tests)."""

    action: str
    reason: str
    model: str | None = None
    version: int | None = None
    published: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.model is not None:
            body["model"] = self.model
        if self.version is not None:
            body["version"] = self.version
        if self.published:
            body["published"] = list(self.published)
        return body


def judge(settings: ModelSettings, challenger: Score, champion: Score | None) -> Verdict:
    """Apply the decision table to a challenger and the current champion (pure)."""
    metric = settings.metric_name
    gib = settings.greater_is_better

    def verdict(approve: bool, reason: str, improvement: float | None = None) -> Verdict:
        return Verdict(
            approve=approve,
            reason=reason + ("" if gib else " (lower is better)"),
            metric_name=metric,
            challenger=challenger,
            threshold=settings.threshold,
            margin=settings.margin,
            greater_is_better=gib,
            champion=champion,
            improvement=improvement,
        )

    if challenger.unproven:
        return verdict(False, f"not produced by the model's pipeline, so never approved: {challenger.missing}")
    if challenger.missing is not None:
        return verdict(False, f"{challenger.missing}; {metric} cannot be read")
    if challenger.value is None:
        run = f" (run {challenger.run_id})" if challenger.run_id else ""
        return verdict(
            False, f"{metric} is not in the evidence of MLflow version {challenger.version}{run}; cannot judge it"
        )
    value = challenger.value
    if not (value >= settings.threshold if gib else value <= settings.threshold):
        return verdict(False, f"{metric} {value:.4f} {'<' if gib else '>'} threshold {settings.threshold:.4f}")
    meets = f"{metric} {value:.4f} {'>=' if gib else '<='} threshold {settings.threshold:.4f}"
    if champion is None:
        return verdict(True, f"{meets} and there is no champion yet")
    if champion.unproven:
        return verdict(
            False,
            f"{meets} but champion v{champion.version} cannot be compared: {champion.missing}; "
            "approve by hand if this version should replace it",
        )
    if champion.value is None:
        return verdict(
            True, f"{meets}; champion v{champion.version} has no {metric} in its evidence, so the threshold decides"
        )
    improvement = round(value - champion.value if gib else champion.value - value, _DECIMALS)
    versus = f"champion v{champion.version} ({champion.value:.4f})"
    if improvement <= 0:
        return verdict(False, f"{meets} but does not beat {versus}", improvement)
    if improvement <= round(settings.margin, _DECIMALS):
        return verdict(
            False, f"{meets} but beats {versus} by only {improvement:.4f} <= margin {settings.margin:.4f}", improvement
        )
    return verdict(True, f"{meets} and beats {versus} by {improvement:.4f} > margin {settings.margin:.4f}", improvement)


def evaluate_package(
    detail: ModelPackageDetail,
    settings: ModelSettings,
    *,
    sagemaker: Any,
    mlflow: ModelRegistry,
    evidence: EvidenceStore,
    publish: Publisher,
    correlation_id: str | None = None,
) -> Outcome:
    """Judge a package that waits for approval and apply (auto) or record (manual) the verdict.

    Transient failures (throttling, MLflow unreachable) propagate so the invocation is
    retried and ends in the DLQ if they persist. The MLflow tags are written before the
    package is touched, so a retry after a partial failure repeats only idempotent steps.
    """
    version = detail.package_version
    package = sagemaker.describe_model_package(ModelPackageName=detail.arn)
    current_status = package.get("ModelApprovalStatus")
    metadata: dict[str, str] = dict(package.get("CustomerMetadataProperties") or {})
    if current_status != PENDING:
        return Outcome("ignored", f"package is already {current_status}", settings.name, version)
    if package.get("ModelPackageStatus") not in (None, "Completed"):
        # SageMaker sends another state change once the package is complete.
        return Outcome(
            "ignored", f"package is {package.get('ModelPackageStatus')}, not Completed", settings.name, version
        )
    manual = settings.approval_mode == MANUAL_MODE
    if manual and STATUS_KEY in metadata:
        # Recording the review itself changes the package and so echoes a pending event back.
        return Outcome("ignored", f"review already recorded ({metadata[STATUS_KEY]})", settings.name, version)

    challenger = _challenger_score(mlflow, settings, package, evidence)
    verdict = judge(settings, challenger, _champion_score(mlflow, settings, challenger, evidence, detail.arn))
    # Nobody reviews what the pipeline did not produce: it is rejected in either mode.
    manual = manual and not challenger.unproven
    status = "review_requested" if manual else ("approved" if verdict.approve else "rejected")
    # The verified execution goes first: merge_metadata keeps what fits, and without it the
    # deployer refuses the package.
    record = {**challenger.provenance, **verdict.record(status)}

    if verdict.challenger.exists:
        for key, value in {**record, REASON_KEY: verdict.reason}.items():
            mlflow.set_model_version_tag(settings.name, challenger.version, key, value)

    metadata, left_out = merge_metadata(metadata, record)
    if manual:
        description = f"Review requested; the gate recommends to {verdict.recommendation}: {verdict.reason}"
        # The status is restated so the update only adds the review record: an omitted
        # status must not be read as clearing it.
        new_status = PENDING
        detail_type = domain_events.MODEL_REVIEW_REQUESTED
    else:
        description = verdict.reason
        new_status = APPROVED if verdict.approve else REJECTED
        detail_type = domain_events.MODEL_APPROVED if verdict.approve else domain_events.MODEL_REJECTED
        if challenger.unproven:
            detail_type = domain_events.MODEL_PROVENANCE_REJECTED
    sagemaker.update_model_package(
        ModelPackageArn=detail.arn,
        ModelApprovalStatus=new_status,
        ApprovalDescription=description[:APPROVAL_DESCRIPTION_LIMIT],
        CustomerMetadataProperties=metadata,
    )
    publish(
        DomainEvent(
            detail_type=detail_type,
            model=settings.name,
            reason=verdict.reason,
            data={
                "version": version,
                "modelPackageArn": detail.arn,
                "modelPackageGroupName": detail.group_name,
                "approvalMode": settings.approval_mode,
                "recommendation": verdict.recommendation,
                "metrics": verdict.metrics(),
                "mlflowVersion": challenger.version if challenger.exists else None,
                "provenance": {"verified": bool(challenger.provenance), **challenger.provenance},
                **({"metadataLeftOut": left_out} if left_out else {}),
            },
            correlation_id=correlation_id,
        )
    )
    return Outcome(status, verdict.reason, settings.name, version, (detail_type,))


def reject_event(
    publish: Publisher,
    reason: str,
    *,
    model: str | None = None,
    data: Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> Outcome:
    """Record an event the gate cannot act on; nothing else is touched."""
    publish(
        DomainEvent(
            detail_type=domain_events.EVENT_REJECTED,
            model=model,
            reason=reason,
            data={"handler": "model_gate", **(data or {})},
            correlation_id=correlation_id,
        )
    )
    return Outcome("event_rejected", reason, model, published=(domain_events.EVENT_REJECTED,))


def merge_metadata(existing: Mapping[str, str], record: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The package's metadata with the gate's record added, within SageMaker's 50 entries.

    Existing entries are never dropped (they are someone else's); when the record does not
    fit whole, its keys are added in order (the verified execution, then the status) while
    room remains, and the keys left out are returned. The full record is on the MLflow
    version and in the domain event.
    """
    merged = dict(existing)
    left_out: list[str] = []
    for key, value in record.items():
        if key in merged or len(merged) < METADATA_ENTRIES_LIMIT:
            merged[key] = value
        else:
            left_out.append(key)
    return merged, left_out


def _challenger_score(
    mlflow: ModelRegistry, settings: ModelSettings, package: Mapping[str, Any], evidence: EvidenceStore
) -> Score:
    try:
        model_version = find_version(mlflow, settings.name, str(package.get("ModelPackageArn")))
    except PackageLinkError as error:
        return Score(version="none", value=None, missing=str(error))
    try:
        report = verify_package(evidence, settings, package, model_version)
    except EvidenceError as error:
        return _unproven(model_version, error)
    return _score(report, settings.metric_name, model_version)


def _champion_score(
    mlflow: ModelRegistry, settings: ModelSettings, challenger: Score, evidence: EvidenceStore, home_arn: str
) -> Score | None:
    champion = mlflow.get_model_version_by_alias(settings.name, CHAMPION_ALIAS)
    # A version never competes with itself (a package sent back to pending after serving).
    if champion is None or str(champion.get("version")) == challenger.version:
        return None
    try:
        report = verify_version(evidence, settings, champion, home_arn=home_arn)
    except EvidenceError as error:
        return _unproven(champion, error)
    return _score(report, settings.metric_name, champion)


def _score(report: EvidenceReport, metric: str, model_version: Mapping[str, Any]) -> Score:
    # The Evaluate step's test-set value, the one the pipeline's metric check compared.
    return Score(
        version=str(model_version.get("version")),
        value=report.metric(metric),
        run_id=report.mlflow_run_id,
        provenance=report.provenance(),
    )


def _unproven(model_version: Mapping[str, Any], error: EvidenceError) -> Score:
    run_id = model_version.get("run_id") or None
    return Score(
        version=str(model_version.get("version")),
        value=None,
        run_id=None if run_id is None else str(run_id),
        missing=str(error),
        unproven=True,
    )


def _number(value: float | None) -> str:
    return "missing" if value is None else repr(float(value))


def _metadata_value(text: str) -> str:
    cleaned = _METADATA_UNSAFE.sub("_", text)[:METADATA_VALUE_LIMIT]
    return cleaned or "_"
