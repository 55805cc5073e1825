"""The gate's decision table as a pure function, and the record it leaves behind.

Decision table (the catalog gives metric, threshold, margin and direction; the bar is the
stronger of the serving champion and the newest approved package not serving yet, see
`model_gate.logic`):

==============================  =======================================
situation                       verdict
==============================  =======================================
not produced by the pipeline    reject (quietly)
metric missing or not finite    reject
fails the threshold             reject
no bar yet (nothing approved)   approve
bar's evidence unverified       reject (a person may approve by hand)
bar has no such metric          approve (the threshold alone decides)
not better than the bar         reject
better, by at most the margin   reject
better by more than the margin  approve
==============================  =======================================

The record is written both as MLflow version tags and as package CustomerMetadataProperties,
whose values SageMaker limits to 256 characters of letters, digits, spaces and `_.:/=+-@`
(`platform_common.registry.metadata_value`), so it holds numbers and names, never the reason.

Every value compared comes from the evidence the model's pipeline wrote, verified by
`platform_common.evidence`; MLflow run metrics are never read, since anyone who may log to a
run could change them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_common.catalog import ModelSettings
from platform_common.registry import metadata_value

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
COMPARED_WITH_KEY = "validation_compared_with"
REASON_KEY = "validation_reason"

# Who the bar is: the serving champion, or the newest approved package not serving yet.
CHAMPION_ROLE = "champion"
APPROVED_ROLE = "approved_not_serving"


# Differences are compared after rounding, so 0.94 - 0.93 counts as exactly 0.01.
_DECIMALS = 9


@dataclass(frozen=True)
class Score:
    """One model version's value of the gate metric, from its verified evidence (None when it has none)."""

    version: str
    value: float | None
    run_id: str | None = None
    missing: str | None = None
    role: str = CHAMPION_ROLE
    package_arn: str | None = None
    # Set when the evidence could not be verified: `missing` then says which check failed.
    unproven: bool = False
    provenance: Mapping[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """Whether an MLflow version was found for the package (`missing` says why not, unless it is unproven)."""
        return self.missing is None or self.unproven

    @property
    def label(self) -> str:
        """How a reason names this version: `champion v2`, or `approved v3 (not serving yet)`."""
        if self.role == APPROVED_ROLE:
            return f"approved v{self.version} (not serving yet)"
        return f"champion v{self.version}"


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
            METRIC_KEY: metadata_value(self.metric_name),
            VALUE_KEY: _number(self.challenger.value),
            THRESHOLD_KEY: _number(self.threshold),
            MARGIN_KEY: _number(self.margin),
            CHAMPION_VERSION_KEY: self.champion.version if self.champion else "none",
            CHAMPION_VALUE_KEY: _number(self.champion.value) if self.champion else "none",
            COMPARED_WITH_KEY: self.champion.role if self.champion else "none",
        }

    def metrics(self) -> dict[str, Any]:
        return {
            "name": self.metric_name,
            "challenger": self.challenger.value,
            "champion": self.champion.value if self.champion else None,
            "championVersion": self.champion.version if self.champion else None,
            "comparedWith": self.champion.role if self.champion else None,
            "threshold": self.threshold,
            "margin": self.margin,
            "greaterIsBetter": self.greater_is_better,
            "improvement": self.improvement,
        }


def judge(settings: ModelSettings, challenger: Score, champion: Score | None) -> Verdict:
    """Apply the decision table to a challenger and the bar it must beat (pure)."""
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
            f"{meets} but {champion.label} cannot be compared: {champion.missing}; "
            "approve by hand if this version should replace it",
        )
    if champion.value is None:
        return verdict(True, f"{meets}; {champion.label} has no {metric} in its evidence, so the threshold decides")
    improvement = round(value - champion.value if gib else champion.value - value, _DECIMALS)
    versus = f"{champion.label} ({champion.value:.4f})"
    if improvement <= 0:
        return verdict(False, f"{meets} but does not beat {versus}", improvement)
    if improvement <= round(settings.margin, _DECIMALS):
        return verdict(
            False, f"{meets} but beats {versus} by only {improvement:.4f} <= margin {settings.margin:.4f}", improvement
        )
    return verdict(True, f"{meets} and beats {versus} by {improvement:.4f} > margin {settings.margin:.4f}", improvement)


def _number(value: float | None) -> str:
    return "missing" if value is None else repr(float(value))
