"""Names computed from the configuration, held to the limits AWS sets on them.

The names are those of `stacks.naming`, the functions the stacks use, so validation and the
templates cannot drift apart. A name that embeds the account ID and region is measured with a
12-digit account ID and the pinned region or, for an environment-agnostic synth, the longest
name among the regions the platform supports (stacks/images.py).

The bucket names bound `<prefix>-<env>` first. Other names built from `<prefix>-<env>` and a
short fixed suffix (rules, queues, roles, functions, log groups, the archive) have more room
than that; tests/contracts/test_names_and_limits.py holds every name in the templates of the
longest configurations validation accepts to its documented limit, so a longer suffix added
later fails there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from stacks import naming
from stacks.config.settings import ConfigError, EnvironmentConfig
from stacks.images import longest_region

_ACCOUNT_ID = "0" * 12  # every account ID has 12 digits
_SAGEMAKER_256 = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
_SAGEMAKER_63 = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


@dataclass(frozen=True)
class NameLimit:
    """What one AWS service accepts as a name, in words and as a pattern the whole name matches."""

    what: str
    max_length: int
    pattern: re.Pattern[str]
    rule: str
    source: str


S3_BUCKET = NameLimit(
    "S3 bucket name",
    63,
    re.compile(
        r"(?!xn--|sthree-|amzn-s3-demo-)(?!.*\.\.)[a-z0-9][a-z0-9.-]*[a-z0-9]"
        r"(?<!-s3alias)(?<!--ol-s3)(?<!\.mrap)(?<!--x-s3)(?<!--table-s3)"
    ),
    "lower-case letters, numbers, dots and hyphens, not starting with xn--, sthree- or amzn-s3-demo-",
    'Amazon S3 User Guide, "General purpose bucket naming rules"',
)
EVENT_RULE = NameLimit(
    "EventBridge rule name",
    64,
    re.compile(r"[\.\-_A-Za-z0-9]+"),
    "letters, numbers, '.', '-' and '_'",
    "Amazon EventBridge API Reference, PutRule",
)
EVENT_BUS = NameLimit(
    "EventBridge event bus name",
    256,
    re.compile(r"[/\.\-_A-Za-z0-9]+"),
    "letters, numbers, '/', '.', '-' and '_'",
    "Amazon EventBridge API Reference, CreateEventBus",
)
MLFLOW = NameLimit(
    "SageMaker MLflow tracking server or App name",
    256,
    _SAGEMAKER_256,
    "letters and numbers, with hyphens between them",
    "Amazon SageMaker API Reference, CreateMlflowTrackingServer and CreateMlflowApp",
)
STACK = NameLimit(
    "CloudFormation stack name",
    128,
    re.compile(r"[a-zA-Z][-a-zA-Z0-9]*"),
    "letters, numbers and hyphens, starting with a letter",
    "AWS CloudFormation API Reference, CreateStack",
)
PIPELINE = NameLimit(
    "SageMaker pipeline name",
    256,
    _SAGEMAKER_256,
    "letters and numbers, with hyphens between them",
    "Amazon SageMaker API Reference, CreatePipeline",
)
ENDPOINT = NameLimit(
    "SageMaker endpoint name",
    63,
    _SAGEMAKER_63,
    "letters and numbers, with hyphens between them",
    "Amazon SageMaker API Reference, CreateEndpoint",
)
PACKAGE_GROUP = NameLimit(
    "SageMaker model package group name",
    63,
    _SAGEMAKER_63,
    "letters and numbers, with hyphens between them",
    "Amazon SageMaker API Reference, CreateModelPackageGroup",
)
ALARM = NameLimit(
    "CloudWatch alarm name",
    255,
    re.compile(r"[^\x00-\x1f\x7f]+"),
    "no control characters",
    "Amazon CloudWatch API Reference, PutMetricAlarm",
)
SSM_PARAMETER = NameLimit(
    "SSM parameter name",
    1011,
    re.compile(r"(?!/?(?i:aws|ssm))/?[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+){0,14}"),
    "a-z, A-Z, 0-9, '_', '.', '-' in at most 15 levels, not starting with aws or ssm",
    "AWS Systems Manager API Reference, PutParameter",
)


@dataclass(frozen=True)
class _Name:
    """A computed name, the limit it must keep, and the configuration values it is made of."""

    value: str
    limit: NameLimit
    keys: tuple[str, ...]
    values: tuple[str, ...]
    counted: bool = False  # whether `value` holds the stand-in account ID and region


def check_names(config: EnvironmentConfig, *, prefix_key: str, environment_path: str) -> None:
    """Raise ConfigError, naming the keys to shorten and by how much, if a computed name breaks its limit.

    `prefix_key` is where the prefix in force was set (the environment's or the platform's).
    """
    region = config.region or longest_region(config.mlflow.kind)
    for name in _names(config, prefix_key, environment_path, region):
        _check(name, region)


def _names(config: EnvironmentConfig, prefix_key: str, environment_path: str, region: str) -> Iterator[_Name]:
    def made_of(value: str, limit: NameLimit, *parts: tuple[str, str], counted: bool = False) -> _Name:
        return _Name(value, limit, tuple(key for key, _ in parts), tuple(part for _, part in parts), counted)

    prefix = (prefix_key, config.prefix)
    for bucket in (naming.data_bucket_name, naming.artifact_bucket_name, naming.access_log_bucket_name):
        yield made_of(bucket(config, account=_ACCOUNT_ID, region=region), S3_BUCKET, prefix, counted=True)
    yield made_of(naming.platform_bus_name(config), EVENT_BUS, prefix)
    yield made_of(naming.mlflow_name(config), MLFLOW, prefix)
    for unit in ("data", "tracking", "automation", "access"):
        yield made_of(config.stack_name(unit), STACK, prefix)
    for index, model in enumerate(config.models):
        name = (f"{environment_path}.models[{index}].name", model.name)
        yield made_of(naming.model_stack_name(config, model.name), STACK, prefix, name)
        yield made_of(naming.pipeline_name(config, model.name), PIPELINE, prefix, name)
        yield made_of(naming.endpoint_name(config, model.name), ENDPOINT, prefix, name)
        yield made_of(naming.catalog_entry_name(config, model.name), SSM_PARAMETER, prefix, name)
        for alarm in (naming.quality_alarm_name(config, model.name), *naming.rollback_alarm_names(config, model.name)):
            yield made_of(alarm, ALARM, prefix, name)
        if model.schedule is not None:
            yield made_of(naming.schedule_rule_name(config, model.name), EVENT_RULE, prefix, name)
        if model.batch is not None and model.batch.schedule is not None:
            yield made_of(naming.batch_schedule_rule_name(config, model.name), EVENT_RULE, prefix, name)
        # The group automatic registration creates is named after the model alone.
        suffix = "0" * naming.PACKAGE_GROUP_SUFFIX_LENGTH
        yield made_of(naming.package_group(model.name, suffix), PACKAGE_GROUP, name)


def _check(name: _Name, region: str) -> None:
    limit, deployed = name.limit, name.value
    given: object = name.values[0] if len(name.values) == 1 else name.values
    counted = f" (account ID and region counted as 12 digits and {region})" if name.counted else ""
    if len(deployed) > limit.max_length:
        excess = len(deployed) - limit.max_length
        characters = "character" if excess == 1 else "characters"
        raise ConfigError(
            " and ".join(name.keys),
            given,
            f"a shorter value: the {limit.what} it makes, {deployed!r}, would be {len(deployed)} characters"
            f"{counted}, at most {limit.max_length} allowed; remove {excess} {characters} from "
            f"{' or '.join(name.keys)} ({limit.source})",
        )
    if not limit.pattern.fullmatch(deployed):
        raise ConfigError(
            " and ".join(name.keys),
            given,
            f"a value that makes a valid {limit.what}; {deployed!r} is not ({limit.rule}; {limit.source})",
        )
