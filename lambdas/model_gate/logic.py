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
  package (the scores it is compared with likewise). MLflow run metrics are never read: anyone
  who may log to a run could change them.

If no version (or more than one) carries the tag the package is rejected with a reason
saying so, never approved on a guess. A package the pipeline did not produce (no evidence,
evidence of another model or execution, another pipeline's execution, another artifact or
image) is rejected in either approval mode, whatever its metrics, with the failed check in the
reason, before anything is compared; it is published as ModelProvenanceRejected, which is
audited but not e-mailed, because data scientists' experiment versions are registered as
packages all the time.

What the challenger must beat
-----------------------------
Not only the champion: a version approved a moment ago may still be waiting for (or in the
middle of) its deployment, and judging the next one against the older champion could approve
a version worse than the one about to serve. The bar is therefore the stronger of

* the champion: the MLflow version under the `champion` alias, which the deployer moves only
  once DescribeEndpoint shows that version InService, and
* the newest Approved package of the group (`platform_common.registry.desired_state`: what the
  deployer is deploying or about to deploy; a package whose deployment was rolled back is not
  a contender), through its MLflow version.

Each is scored from its own verified evidence; one whose evidence cannot be verified is not
guessed at: the challenger is then rejected with the reason, and a person may approve it.

Decisions about one model are taken one at a time under its promotion lease
(`platform_common.promotion`), shared with the deployer, so a second version judged at the same
moment is judged after the first has been approved or rejected, and against it if approved.

The decision table itself is `model_gate.verdict.judge`.

In "auto" approval mode the verdict is applied to the package; in "manual" mode it is
recorded as a recommendation and the package stays pending for a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from model_gate.models import APPROVED, PENDING, REJECTED, ModelPackageDetail
from model_gate.verdict import (
    APPROVED_ROLE,
    REASON_KEY,
    STATUS_KEY,
    Score,
    Verdict,
    judge,
)
from platform_common import domain_events, registry
from platform_common.catalog import ModelSettings
from platform_common.domain_events import DomainEvent
from platform_common.evidence import EvidenceError, EvidenceReport, EvidenceStore, verify_package, verify_version
from platform_common.lease import LeaseTable
from platform_common.package_link import PackageLinkError, find_version
from platform_common.promotion import CHAMPION_ALIAS, Outcome, promotion_key
from platform_common.registry import APPROVAL_DESCRIPTION_LIMIT, merge_metadata

MANUAL_MODE = "manual"

# Names the gate's tests and callers use from here.
__all__ = [
    "Outcome",
    "Score",
    "Verdict",
    "decide",
    "evaluate_package",
    "judge",
    "merge_metadata",
    "reject_event",
    "strongest",
]

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
    contenders: list[Score] = []
    notes: list[str] = []
    if challenger.unproven:
        # Nobody reviews what the pipeline did not produce, and there is nothing to compare.
        manual = False
    else:
        contenders, notes = _contenders(sagemaker, mlflow, evidence, settings, detail, challenger)
    verdict = judge(settings, challenger, strongest(contenders, settings.greater_is_better))
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
    summary, next_step = _what_it_means(settings, detail, verdict, manual)
    if challenger.unproven:
        summary, next_step = _unproven_meaning(settings, detail)
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
                "contenders": [_describe_score(score) for score in contenders],
                "mlflowVersion": challenger.version if challenger.exists else None,
                **({"contenderNotes": notes} if notes else {}),
                "provenance": {"verified": bool(challenger.provenance), **challenger.provenance},
                **({"metadataLeftOut": left_out} if left_out else {}),
            },
            correlation_id=correlation_id,
            summary=summary,
            next_step=next_step,
        )
    )
    return Outcome(status, verdict.reason, settings.name, version, (detail_type,))


def decide(
    detail: ModelPackageDetail,
    settings: ModelSettings,
    *,
    sagemaker: Any,
    mlflow: ModelRegistry,
    evidence: EvidenceStore,
    publish: Publisher,
    leases: LeaseTable,
    owner: str,
    correlation_id: str | None = None,
) -> Outcome:
    """`evaluate_package` under the model's promotion lease (LeaseBusyError if it stays held)."""
    with leases.hold(promotion_key(settings.name), owner):
        return evaluate_package(
            detail,
            settings,
            sagemaker=sagemaker,
            mlflow=mlflow,
            evidence=evidence,
            publish=publish,
            correlation_id=correlation_id,
        )


def strongest(contenders: list[Score], greater_is_better: bool) -> Score | None:
    """The contender the challenger must beat: the best metric value; the champion on a tie or with none.

    A contender whose evidence could not be verified is returned before any other: its strength
    is unknown, so the challenger cannot be shown to beat it.
    """
    if not contenders:
        return None
    unproven = [score for score in contenders if score.unproven]
    if unproven:
        return unproven[0]
    scored = [score for score in contenders if score.value is not None]
    if not scored:
        return contenders[0]
    best = max if greater_is_better else min
    value = best(score.value for score in scored if score.value is not None)
    return next(score for score in scored if score.value == value)


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


def _contenders(
    sagemaker: Any,
    mlflow: ModelRegistry,
    evidence: EvidenceStore,
    settings: ModelSettings,
    detail: ModelPackageDetail,
    challenger: Score,
) -> tuple[list[Score], list[str]]:
    """The serving champion, then the newest approved package not serving yet (each once, never the challenger)."""
    contenders: list[Score] = []
    notes: list[str] = []
    seen = {challenger.version}
    champion = mlflow.get_model_version_by_alias(settings.name, CHAMPION_ALIAS)
    # A version never competes with itself (a package sent back to pending after serving).
    if champion is not None and str(champion.get("version")) not in seen:
        contenders.append(_version_score(evidence, settings, champion, detail.arn))
        seen.add(str(champion.get("version")))
    desired = registry.desired_state(sagemaker, detail.group_name).package
    if desired is None or desired.arn == detail.arn:
        return contenders, notes
    try:
        # Approved a while ago, so its tag is there by now: one look is enough.
        approved = find_version(mlflow, settings.name, desired.arn, attempts=1)
    except PackageLinkError as error:
        notes.append(f"approved package version {desired.version} is not compared: {error}")
        return contenders, notes
    if str(approved.get("version")) not in seen:
        score = _version_score(evidence, settings, approved, detail.arn)
        contenders.append(replace(score, role=APPROVED_ROLE, package_arn=desired.arn))
    return contenders, notes


def _what_it_means(
    settings: ModelSettings, detail: ModelPackageDetail, verdict: Verdict, manual: bool
) -> tuple[str, str]:
    """The notification's summary and next step for a verdict."""
    name, version = settings.name, detail.package_version
    bar = f" against {verdict.champion.label}" if verdict.champion else ""
    if manual:
        return (
            f"{name} version {version} waits for review; the gate recommends to {verdict.recommendation}{bar}",
            f"An MLOps engineer approves or rejects it: aws sagemaker update-model-package --model-package-arn "
            f"{detail.arn} --model-approval-status Approved (or Rejected).",
        )
    if verdict.approve:
        return (
            f"{name} version {version} is approved{bar}",
            "None; the deployer deploys it, or queues it behind a deployment in progress.",
        )
    return (
        f"{name} version {version} is rejected{bar}",
        "None, unless you want it anyway: an MLOps engineer may approve the package by hand "
        f"(aws sagemaker update-model-package --model-package-arn {detail.arn} --model-approval-status Approved).",
    )


def _unproven_meaning(settings: ModelSettings, detail: ModelPackageDetail) -> tuple[str, str]:
    """Summary and next step for a package the model's pipeline did not produce."""
    return (
        f"{settings.name} version {detail.package_version} is rejected: the model's pipeline did not produce it",
        f"None for an experiment's version; to promote a model, retrain it through pipeline {settings.pipeline_name} "
        "and let the gate judge the version it registers.",
    )


def _describe_score(score: Score) -> dict[str, Any]:
    return {
        "role": score.role,
        "mlflowVersion": score.version,
        "value": score.value,
        "modelPackageArn": score.package_arn,
    }


def _version_score(
    evidence: EvidenceStore, settings: ModelSettings, model_version: Mapping[str, Any], home_arn: str
) -> Score:
    """A contender's score from the evidence its MLflow version names (`home_arn`: the challenger's package)."""
    try:
        report = verify_version(evidence, settings, model_version, home_arn=home_arn)
    except EvidenceError as error:
        return _unproven(model_version, error)
    return _score(report, settings.metric_name, model_version)


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
