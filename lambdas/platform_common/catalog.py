"""The model catalog: per-model settings the shared handlers look up at run time.

Each model's stack writes one SSM parameter `<catalog path><model name>` whose value is
the JSON form of `ModelSettings`. Handlers load the whole path once and cache it, so a
new model needs no new function and no redeploy of the handlers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# MLflow automatic registration names the SageMaker model package group
# "<mlflow model name>-<first six hex characters of sha256(server name or app id)>".
_GROUP_SUFFIX_RE = re.compile(r"^(?P<model>.+)-(?P<suffix>[0-9a-f]{6})$")
REGISTRATION_SUFFIX_LENGTH = 6


class UnknownModelError(LookupError):
    """An event names a model the catalog does not hold."""

    def __init__(self, what: str, value: str, known: Iterable[str]) -> None:
        self.what = what
        self.value = value
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"no model in the catalog matches {what} {value!r} (known models: {names})")


class ForeignPackageGroupError(UnknownModelError):
    """A package group named like a catalog model, but registered by another MLflow server or App."""

    def __init__(self, group_name: str, expected: str, mlflow_arn: str) -> None:
        self.what = "model package group"
        self.value = group_name
        LookupError.__init__(
            self,
            f"model package group {group_name!r} is not this platform's: automatic registration by {mlflow_arn} "
            f"puts this model's versions in {expected!r}, so another MLflow server or App in the account "
            "registered it",
        )


def registration_suffix(server_name_or_app_id: str) -> str:
    """The suffix automatic registration appends to the package groups of one server or App."""
    # "the first six characters of the SHA-256 hash of the last segment of the tracking server or
    # MLflow App ARN (the tracking server name or the MLflow App ID)" (SageMaker Developer Guide,
    # "Automatically register SageMaker AI models with SageMaker Model Registry",
    # https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html).
    return hashlib.sha256(server_name_or_app_id.encode()).hexdigest()[:REGISTRATION_SUFFIX_LENGTH]


def own_package_group(model_name: str, mlflow_arn: str) -> str:
    """The group automatic registration by the server or App with this ARN puts `model_name`'s versions in."""
    return f"{model_name}-{registration_suffix(mlflow_arn.rsplit('/', 1)[-1])}"


def require_own_package_group(group_name: str, model: ModelSettings, mlflow_arn: str) -> None:
    """Refuse a package group that is not exactly `<model>-<suffix of our own MLflow ARN>`.

    The event rules of an MLflow App match groups by the prefix `<model>-` (the App's ID, and so
    its suffix, exists only after deployment), and the catalog accepts any six-hex suffix: this
    is where a same-named model of another team's MLflow in the account is told apart.
    """
    expected = own_package_group(model.name, mlflow_arn)
    if group_name != expected:
        raise ForeignPackageGroupError(group_name, expected, mlflow_arn)


@dataclass(frozen=True)
class BatchSettings:
    """How the batch launcher runs a model's transform jobs (config `models[].batch`)."""

    instance_type: str
    instance_count: int
    max_concurrent_transforms: int
    max_payload_mb: int
    content_type: str
    split_type: str
    schedule_rule_name: str | None = None


@dataclass(frozen=True)
class ModelSettings:
    """What the handlers need to know about one model (mirrors the stack's config)."""

    name: str
    pipeline_name: str
    data_prefix: str
    quality_alarm_name: str
    schedule_rule_name: str | None
    coalesce_minutes: int
    metric_name: str
    threshold: float
    margin: float
    greater_is_better: bool
    approval_mode: str
    endpoint_name: str
    instance_type: str
    instance_count: int
    serverless_memory_mb: int | None
    serverless_max_concurrency: int | None
    deployment_strategy: str
    canary_percent: int
    linear_step_percent: int
    wait_seconds: int
    termination_wait_seconds: int
    rollback_alarm_names: tuple[str, ...] = field(default_factory=tuple)
    # Monitoring (defaults keep entries written before monitoring existed readable). The
    # deployer captures data when `capture_sampling_percent` is set (instance endpoints with
    # monitoring enabled); the launcher runs the monitoring job when `monitoring_engine` is
    # "platform", over the endpoint's capture and the batch predictions of the model.
    capture_sampling_percent: int | None = None
    monitoring_engine: str | None = None
    monitoring_schedule_name: str | None = None
    monitoring_image_uri: str | None = None
    monitoring_instance_type: str = "ml.m5.large"
    monitoring_max_runtime_seconds: int = 3600
    drift_threshold: float = 0.5
    label_lookback_days: int = 7
    drift_alarm_name: str | None = None
    # The `Endpoint` dimension of the model's monitoring metrics (platform_common.monitoring):
    # the endpoint name, or for a model served only by batch transform its batch target name.
    serving_target: str | None = None
    # False for a model served only by batch transform: approval makes it champion, no endpoint.
    serves_endpoint: bool = True
    batch: BatchSettings | None = None

    def to_json(self) -> str:
        values = asdict(self)
        # Written only when they differ from the defaults, so an endpoint-only model's entry
        # stays exactly what it was before batch serving existed.
        if self.serves_endpoint:
            del values["serves_endpoint"]
        if self.batch is None:
            del values["batch"]
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ModelSettings:
        values = dict(raw)
        values["rollback_alarm_names"] = tuple(values.get("rollback_alarm_names") or ())
        if values.get("batch") is not None:
            values["batch"] = BatchSettings(**values["batch"])
        return cls(**values)


class Catalog:
    """Looks a model up by name, data key, package group, alarm or schedule rule."""

    def __init__(self, models: Iterable[ModelSettings]) -> None:
        self._by_name = {m.name: m for m in models}

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> Catalog:
        """Build from `{parameter name: decoded JSON value}` as the SSM provider returns them."""
        models = []
        for value in values.values():
            raw = json.loads(value) if isinstance(value, str | bytes) else value
            models.append(ModelSettings.from_mapping(raw))
        return cls(models)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    @property
    def models(self) -> list[ModelSettings]:
        """Every model, by name."""
        return [self._by_name[name] for name in self.names]

    def by_name(self, name: str) -> ModelSettings:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModelError("name", name, self._by_name) from None

    def for_key(self, key: str) -> ModelSettings:
        """The model whose data prefix holds `key` (the longest prefix wins)."""
        matches = [m for m in self._by_name.values() if key.startswith(m.data_prefix)]
        if not matches:
            raise UnknownModelError("data key", key, self._by_name)
        return max(matches, key=lambda m: len(m.data_prefix))

    def for_package_group(self, group_name: str) -> ModelSettings:
        """The model behind a package group `<model>-<suffix>` (or named exactly `<model>`)."""
        if group_name in self._by_name:
            return self._by_name[group_name]
        match = _GROUP_SUFFIX_RE.match(group_name)
        if match and match.group("model") in self._by_name:
            return self._by_name[match.group("model")]
        raise UnknownModelError("model package group", group_name, self._by_name)

    def for_alarm(self, alarm_name: str) -> ModelSettings:
        for model in self._by_name.values():
            if model.quality_alarm_name == alarm_name:
                return model
        raise UnknownModelError("quality alarm", alarm_name, self._by_name)

    def for_drift_alarm(self, alarm_name: str) -> ModelSettings:
        for model in self._by_name.values():
            if model.drift_alarm_name == alarm_name:
                return model
        raise UnknownModelError("drift alarm", alarm_name, self._by_name)

    def for_schedule_rule(self, rule_arn_or_name: str) -> ModelSettings:
        rule_name = rule_arn_or_name.rsplit("/", 1)[-1]
        for model in self._by_name.values():
            if model.schedule_rule_name == rule_name:
                return model
        raise UnknownModelError("schedule rule", rule_name, self._by_name)

    def for_monitoring_schedule(self, rule_arn_or_name: str) -> ModelSettings:
        rule_name = rule_arn_or_name.rsplit("/", 1)[-1]
        for model in self._by_name.values():
            if model.monitoring_schedule_name == rule_name:
                return model
        raise UnknownModelError("monitoring schedule rule", rule_name, self._by_name)

    def for_batch_schedule_rule(self, rule_arn_or_name: str) -> ModelSettings:
        """The batch model whose batch schedule rule is `rule_arn_or_name`."""
        rule_name = rule_arn_or_name.rsplit("/", 1)[-1]
        for model in self._by_name.values():
            if model.batch is not None and model.batch.schedule_rule_name == rule_name:
                return model
        raise UnknownModelError("batch schedule rule", rule_name, self._by_name)

    def for_endpoint(self, endpoint_name: str) -> ModelSettings:
        for model in self._by_name.values():
            if model.endpoint_name == endpoint_name:
                return model
        raise UnknownModelError("endpoint", endpoint_name, self._by_name)


def load_catalog(ssm_client: Any, path: str) -> Catalog:
    """Read every model parameter under `path` (paginated) into a catalog."""
    values: dict[str, str] = {}
    paginator = ssm_client.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=path, Recursive=False):
        for parameter in page.get("Parameters", []):
            values[parameter["Name"]] = parameter["Value"]
    return Catalog.from_parameters(values)
