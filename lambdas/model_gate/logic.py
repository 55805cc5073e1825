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
* the metric from the MLflow run behind that version, which is where the model card's
  numbers come from and which is readable without parsing the card.

If no version (or more than one) carries the tag the package is rejected with a reason
saying so, never approved on a guess.

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

Decisions about one model are taken one at a time under its promotion lease
(`platform_common.promotion`), shared with the deployer, so a second version judged at the same
moment is judged after the first has been approved or rejected, and against it if approved.

The decision table itself is `model_gate.verdict.judge`.

In "auto" approval mode the verdict is applied to the package; in "manual" mode it is
recorded as a recommendation and the package stays pending for a person.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
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
from platform_common.lease import LeaseTable
from platform_common.package_link import PackageLinkError, find_version
from platform_common.promotion import CHAMPION_ALIAS, promotion_key
from platform_common.registry import APPROVAL_DESCRIPTION_LIMIT, merge_metadata

# Prefix under which the pipeline's Register step logs the test-set metrics it checked.
TEST_METRIC_PREFIX = "test_"
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

    def get_run_metrics(self, run_id: str) -> dict[str, float]: ...

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...


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


def evaluate_package(
    detail: ModelPackageDetail,
    settings: ModelSettings,
    *,
    sagemaker: Any,
    mlflow: ModelRegistry,
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

    challenger = _challenger_score(mlflow, settings, detail.arn)
    contenders, notes = _contenders(sagemaker, mlflow, settings, detail, challenger)
    verdict = judge(settings, challenger, strongest(contenders, settings.greater_is_better))
    status = "review_requested" if manual else ("approved" if verdict.approve else "rejected")
    record = verdict.record(status)

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
    sagemaker.update_model_package(
        ModelPackageArn=detail.arn,
        ModelApprovalStatus=new_status,
        ApprovalDescription=description[:APPROVAL_DESCRIPTION_LIMIT],
        CustomerMetadataProperties=metadata,
    )
    summary, next_step = _what_it_means(settings, detail, verdict, manual)
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
    publish: Publisher,
    leases: LeaseTable,
    owner: str,
    correlation_id: str | None = None,
) -> Outcome:
    """`evaluate_package` under the model's promotion lease (LeaseBusyError if it stays held)."""
    with leases.hold(promotion_key(settings.name), owner):
        return evaluate_package(
            detail, settings, sagemaker=sagemaker, mlflow=mlflow, publish=publish, correlation_id=correlation_id
        )


def strongest(contenders: list[Score], greater_is_better: bool) -> Score | None:
    """The contender the challenger must beat: the best metric value; the champion on a tie or with none."""
    if not contenders:
        return None
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


def _challenger_score(mlflow: ModelRegistry, settings: ModelSettings, package_arn: str) -> Score:
    try:
        model_version = find_version(mlflow, settings.name, package_arn)
    except PackageLinkError as error:
        return Score(version="none", value=None, missing=str(error))
    return _score(mlflow, settings.metric_name, model_version, str(model_version.get("version")))


def _contenders(
    sagemaker: Any, mlflow: ModelRegistry, settings: ModelSettings, detail: ModelPackageDetail, challenger: Score
) -> tuple[list[Score], list[str]]:
    """The serving champion, then the newest approved package not serving yet (each once, never the challenger)."""
    contenders: list[Score] = []
    notes: list[str] = []
    seen = {challenger.version}
    champion = mlflow.get_model_version_by_alias(settings.name, CHAMPION_ALIAS)
    # A version never competes with itself (a package sent back to pending after serving).
    if champion is not None and str(champion.get("version")) not in seen:
        contenders.append(_score(mlflow, settings.metric_name, champion, str(champion.get("version"))))
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
        score = _score(mlflow, settings.metric_name, approved, str(approved.get("version")))
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


def _describe_score(score: Score) -> dict[str, Any]:
    return {
        "role": score.role,
        "mlflowVersion": score.version,
        "value": score.value,
        "modelPackageArn": score.package_arn,
    }


def _score(mlflow: ModelRegistry, metric: str, model_version: Mapping[str, Any], version: str) -> Score:
    run_id = model_version.get("run_id") or None
    if not run_id:
        return Score(version=version, value=None, run_id=None)
    metrics = mlflow.get_run_metrics(str(run_id))
    # The pipeline's Register step logs the test-set value the metric check passed as
    # `test_<metric>`; versions registered another way only carry the bare (validation) value.
    value = metrics.get(TEST_METRIC_PREFIX + metric, metrics.get(metric))
    if value is None or not math.isfinite(value):
        return Score(version=version, value=None, run_id=str(run_id))
    return Score(version=version, value=float(value), run_id=str(run_id))
