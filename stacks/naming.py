"""Physical names shared across stacks.

Buckets carry the account and region (pseudo parameters, resolved in whichever stack uses
them), so a stack can name another stack's bucket without a CloudFormation export and IAM
policies read as plain ARNs. Given a concrete account and region, the same functions return the
deployed name.

The module reads aws_cdk only when a name needs a pseudo parameter: configuration validation and
the operator commands import it, and loading the CDK and starting its runtime would take longer
than everything else those do before they reach AWS.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for annotations: configuration validation measures these names, so it imports this module.
    from stacks.config import EnvironmentConfig

# Automatic model registration names a model's package group `{model}-{suffix}`, the suffix being
# the first six characters of a SHA-256 (SageMaker Developer Guide, "Automatically register
# SageMaker AI models with SageMaker Model Registry").
PACKAGE_GROUP_SUFFIX_LENGTH = 6

# Where data sets land in the data bucket (a new object under it is a retraining trigger), and
# where MLflow keeps its artifacts in the artifact bucket.
DATASETS_PREFIX = "datasets/"
MLFLOW_ARTIFACTS_PREFIX = "mlflow"


@cache
def _pseudo_parameters() -> tuple[str, str, str]:
    # Each read of a pseudo parameter is a call into the CDK runtime, and names are built
    # hundreds of times at 100 models; the tokens are the same for every stack, so read once.
    from aws_cdk import Aws

    return Aws.ACCOUNT_ID, Aws.REGION, Aws.PARTITION


def _account_and_region() -> tuple[str, str]:
    account, region, _ = _pseudo_parameters()
    return account, region


def _partition() -> str:
    return _pseudo_parameters()[2]


def bucket_name(
    config: EnvironmentConfig, purpose: str, *, account: str | None = None, region: str | None = None
) -> str:
    """A bucket of the environment; in the deploying stack's account and region unless both are given."""
    if account is None or region is None:
        account, region = _account_and_region()
    return f"{config.resource_prefix}-{purpose}-{account}-{region}"


def data_bucket_name(config: EnvironmentConfig, *, account: str | None = None, region: str | None = None) -> str:
    return bucket_name(config, "data", account=account, region=region)


def artifact_bucket_name(config: EnvironmentConfig, *, account: str | None = None, region: str | None = None) -> str:
    return bucket_name(config, "mlflow-artifacts", account=account, region=region)


def access_log_bucket_name(config: EnvironmentConfig, *, account: str | None = None, region: str | None = None) -> str:
    return bucket_name(config, "access-logs", account=account, region=region)


def mlflow_name(config: EnvironmentConfig) -> str:
    return f"{config.resource_prefix}-mlflow"


def catalog_path(config: EnvironmentConfig) -> str:
    """SSM path under which each model stack writes its catalog entry."""
    return f"/{config.prefix}/{config.name}/models/"


def catalog_entry_name(config: EnvironmentConfig, model: str) -> str:
    """SSM parameter holding one model's catalog entry."""
    return f"{catalog_path(config)}{model}"


def model_stack_name(config: EnvironmentConfig, model: str) -> str:
    return config.stack_name(f"model-{model}")


def platform_bus_name(config: EnvironmentConfig) -> str:
    return f"{config.resource_prefix}-platform"


def platform_archive_name(config: EnvironmentConfig) -> str:
    """The archive of the platform bus's domain events (audit and replay)."""
    return f"{config.resource_prefix}-platform"


# The platform bus's rules: the trigger's (retraining requests) and the two that only record and tell.
RETRAINING_REQUESTED_RULE = "retraining-requested"
AUDIT_RULE = "audit-platform"
NOTIFY_RULE = "notify-decisions"


def bus_rule_name(config: EnvironmentConfig, rule: str) -> str:
    """The name of one of the platform bus's rules."""
    return f"{config.resource_prefix}-{rule}"


def events_dlq_name(config: EnvironmentConfig) -> str:
    """Where EventBridge rules and schedules put events they could not deliver."""
    return f"{config.resource_prefix}-events-dlq"


def functions_dlq_name(config: EnvironmentConfig) -> str:
    """Where Lambda puts asynchronous invocations the handlers failed to process."""
    return f"{config.resource_prefix}-functions-dlq"


def function_name(config: EnvironmentConfig, role: str) -> str:
    """One handler's function name (`role` is retraining-trigger, model-gate or deployer)."""
    return f"{config.resource_prefix}-{role}"


def pipeline_role_name(config: EnvironmentConfig) -> str:
    """The role every model's pipeline and its jobs run as: the only writer of evidence and pipeline outputs."""
    return f"{config.resource_prefix}-pipeline-execution"


def pipeline_role_arn(config: EnvironmentConfig) -> str:
    """The pipeline role's ARN, built from its name so a bucket policy can name it without a stack reference."""
    account, _ = _account_and_region()
    return f"arn:{_partition()}:iam::{account}:role/{pipeline_role_name(config)}"


def model_role_name(config: EnvironmentConfig) -> str:
    """The role SageMaker serves the environment's endpoints as."""
    return f"{config.resource_prefix}-model-execution"


def function_role_name(resource_prefix: str, function: str) -> str:
    """The role one of the platform's handlers runs as (`function` is its short name, e.g. `deployer`)."""
    return f"{resource_prefix}-{function}-function"


def deployer_role_name(config: EnvironmentConfig) -> str:
    """The deployer handler's role."""
    return function_role_name(config.resource_prefix, "deployer")


def role_arn_in(account: str, role_name: str) -> str:
    """A role of another account, by name: nothing of that account is read at synth or deploy time."""
    return f"arn:{_partition()}:iam::{account}:role/{role_name}"


def pipeline_name(config: EnvironmentConfig, model: str) -> str:
    return f"{config.resource_prefix}-{model}"


def endpoint_name(config: EnvironmentConfig, model: str) -> str:
    return f"{config.resource_prefix}-{model}"


def quality_alarm_name(config: EnvironmentConfig, model: str) -> str:
    return f"{config.resource_prefix}-{model}-quality"


def drift_alarm_name(config: EnvironmentConfig, model: str) -> str:
    return f"{config.resource_prefix}-{model}-drift"


def silent_monitor_alarm_name(config: EnvironmentConfig, model: str) -> str:
    return f"{config.resource_prefix}-{model}-monitor-silent"


def monitoring_schedule_rule_name(config: EnvironmentConfig, model: str) -> str:
    """The scheduled rule that starts `model`'s monitoring runs (a rule, as the retraining schedule is)."""
    return f"{config.resource_prefix}-{model}-monitoring"


def monitoring_job_role_name(config: EnvironmentConfig) -> str:
    return f"{config.resource_prefix}-monitoring-job"


def monitoring_job_prefix(config: EnvironmentConfig) -> str:
    """How every monitoring Processing job of the environment is named: `<prefix>-monitor-...`."""
    return f"{config.resource_prefix}-monitor-"


def rollback_alarm_names(config: EnvironmentConfig, model: str) -> tuple[str, str]:
    return (f"{config.resource_prefix}-{model}-5xx-errors", f"{config.resource_prefix}-{model}-model-latency")


def schedule_rule_name(config: EnvironmentConfig, model: str) -> str:
    return f"{config.resource_prefix}-{model}-schedule"


def batch_schedule_rule_name(config: EnvironmentConfig, model: str) -> str:
    """The rule that starts a model's batch transform on its `batch.schedule`."""
    return f"{config.resource_prefix}-{model}-batch"


def batch_target_name(config: EnvironmentConfig, model: str) -> str:
    """What serves a batch-only model, as its monitoring metrics name it (their `Endpoint` dimension)."""
    return f"{config.resource_prefix}-{model}-batch"


def package_group(model: str, suffix: str | None) -> str:
    """The package group MLflow registers `model` into; `<model>-` (a prefix) when unknown."""
    return f"{model}-{suffix}" if suffix else f"{model}-"
