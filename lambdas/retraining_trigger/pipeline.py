"""A model's pipeline executions: how the trigger starts one, and how it reads the ledger they form."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from platform_common.catalog import ModelSettings

TriggerReason = Literal["data", "quality", "drift", "schedule", "manual"]

# Parameter names the model pipelines declare (stacks/pipeline_definition.py). The trigger
# passes these three and nothing else:
PARAM_INPUT_DATA_URI = "InputDataUri"
PARAM_TRIGGER_REASON = "TriggerReason"
PARAM_TRIGGER_EVENT_ID = "TriggerEventId"
# The others keep the defaults the model's configuration gave them; no request can set them.
CONFIGURED_PARAMETERS = ("TrainingInstanceType", "TrainingInstanceCount", "ProcessingInstanceType", "MetricThreshold")

RUNNING_STATUSES = frozenset({"Executing", "Stopping"})

# EventBridge retries a delivery for up to 24 hours and Lambda's async queue for up to 6;
# fifty executions cover that span for any pipeline that is not retrained every few minutes.
RECENT_EXECUTIONS = 50
EVENT_HASH_LENGTH = 16
MAX_DESCRIPTION_LENGTH = 3072

DATA_RUN_LABEL = "data"

_DISPLAY_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def request_token(event_id: str) -> str:
    """The ClientRequestToken for the run an event asks for (sha256 of the event id)."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def event_hash(event_id: str) -> str:
    """The short form of the token that the execution's display name carries."""
    return request_token(event_id)[:EVENT_HASH_LENGTH]


def display_name(reason: str, event_time: datetime, event_id: str) -> str:
    """`<reason>-<YYYYMMDDTHHMMSS>-<event hash>`, valid as a SageMaker execution display name."""
    moment = event_time.astimezone(UTC) if event_time.tzinfo else event_time
    # 82 = label (at most 48) + "-" + 15-character stamp + "-" + 16-character hash.
    label = _DISPLAY_NAME_UNSAFE.sub("-", reason)[:48].strip("-") or "run"
    return f"{label}-{moment:%Y%m%dT%H%M%S}-{event_hash(event_id)}"


@dataclass(frozen=True)
class Trigger:
    """A resolved request for one run of one model's pipeline."""

    model: ModelSettings
    reason: TriggerReason
    input_data_uri: str
    event_id: str
    event_time: datetime
    description: str
    # The object that asked for a data run (for messages and the waiting record).
    data_key: str = ""
    # True when the run reads the model's whole data prefix, so it reads every data set so far.
    whole_prefix: bool = False

    @property
    def token(self) -> str:
        return request_token(self.event_id)

    @property
    def display_name(self) -> str:
        return display_name(self.reason, self.event_time, self.event_id)

    def parameters(self) -> list[dict[str, str]]:
        return [
            {"Name": PARAM_INPUT_DATA_URI, "Value": self.input_data_uri},
            {"Name": PARAM_TRIGGER_REASON, "Value": self.reason},
            {"Name": PARAM_TRIGGER_EVENT_ID, "Value": self.event_id},
        ]


@dataclass(frozen=True)
class Execution:
    """The part of a pipeline execution summary the decision needs."""

    arn: str
    status: str
    display_name: str
    start_time: datetime | None

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Execution:
        start = summary.get("StartTime")
        if isinstance(start, datetime) and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return cls(
            arn=str(summary.get("PipelineExecutionArn", "")),
            status=str(summary.get("PipelineExecutionStatus", "")),
            display_name=str(summary.get("PipelineExecutionDisplayName") or ""),
            start_time=start if isinstance(start, datetime) else None,
        )

    @property
    def is_data_run(self) -> bool:
        """Started by the trigger for data (its display name starts with the trigger reason)."""
        return self.display_name.startswith(f"{DATA_RUN_LABEL}-")


def newest_first(executions: Iterable[Execution]) -> list[Execution]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(executions, key=lambda e: e.start_time or oldest, reverse=True)


def recent_executions(sagemaker: Any, pipeline_name: str) -> list[Execution]:
    """The pipeline's newest executions, at most RECENT_EXECUTIONS of them."""
    response = sagemaker.list_pipeline_executions(
        PipelineName=pipeline_name,
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=RECENT_EXECUTIONS,
    )
    summaries = response.get("PipelineExecutionSummaries", [])
    return newest_first(Execution.from_summary(s) for s in summaries)[:RECENT_EXECUTIONS]


def start(trigger: Trigger, sagemaker: Any) -> str:
    """Start the run and return its execution ARN (the token makes a repeated call harmless)."""
    response = sagemaker.start_pipeline_execution(
        PipelineName=trigger.model.pipeline_name,
        PipelineExecutionDisplayName=trigger.display_name,
        PipelineExecutionDescription=trigger.description,
        PipelineParameters=trigger.parameters(),
        ClientRequestToken=trigger.token,
    )
    return str(response["PipelineExecutionArn"])


def describe_status(sagemaker: Any, execution_arn: str) -> str | None:
    """The execution's current status, or None if SageMaker does not know the execution."""
    try:
        response = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    except sagemaker.exceptions.ResourceNotFound:
        return None
    return str(response.get("PipelineExecutionStatus", ""))
