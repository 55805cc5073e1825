"""Every physical name the platform gives a resource fits the limits AWS documents for it.

Names are read from the synthesized templates of every configuration (`synthesized_env`: the
repository's environments and the longest configurations validation accepts). The account ID
and region tokens in a name take every value they can have: a 12-digit account ID, and the
stack's own region when the environment pins one, else each region the platform supports (so
the longest one too). Names the handlers build at run time from the catalog (endpoint, the
per-version model and endpoint config, the package group automatic registration creates) are
checked the same way.

Each rule quotes its source; the figures are also held against AWS's published API models
(botocore's service definitions) in `test_the_table_agrees_with_the_aws_api_models`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from monitoring_launcher.requests import job_name

from deployer.logic import version_resource_name
from platform_common import env_names
from stacks import naming
from stacks.config import ConfigError, load_environment
from stacks.constructs.managed_mlflow import model_package_group_suffix
from stacks.images import supported_regions
from tests.contracts.configs import (
    LONGEST_ENVIRONMENT,
    extreme_platform,
    longest_model_name,
    longest_prefix,
    prefix_of,
)
from tests.contracts.conftest import Synthesized, deployed_catalog

ACCOUNT_ID = "123456789012"  # always 12 digits

# SageMaker's resource name rule, shared by endpoints, models, endpoint configs and package groups.
SAGEMAKER_63 = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
SAGEMAKER_256 = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}"
IAM_NAME = r"[\w+=,.@-]+"


@dataclass(frozen=True)
class NameRule:
    """What AWS accepts as one resource type's name, and where it says so."""

    resource_type: str
    prop: str
    max_length: int
    pattern: str  # the whole name must match
    source: str
    api: tuple[str, str, str] | None = None  # (service, operation, member) of the API model

    def problems(self, name: str) -> list[str]:
        found = []
        if len(name) > self.max_length:
            found.append(f"{len(name)} characters, over the limit of {self.max_length}")
        if not re.fullmatch(self.pattern, name):
            found.append(f"does not match {self.pattern}")
        return found


S3_BUCKET = NameRule(
    "AWS::S3::Bucket",
    "BucketName",
    63,
    # 3-63 lower-case letters, numbers, dots, hyphens; letter or number first and last; no '..';
    # reserved prefixes xn--, sthree-, amzn-s3-demo- and suffixes -s3alias, --ol-s3, .mrap,
    # --x-s3, --table-s3 refused.
    r"(?!xn--|sthree-|amzn-s3-demo-)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?<!-s3alias)(?<!--ol-s3)"
    r"(?<!\.mrap)(?<!--x-s3)(?<!--table-s3)",
    'Amazon S3 User Guide, "General purpose bucket naming rules": "Bucket names must be between 3 (min) and '
    '63 (max) characters long" https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html',
)
RULES: tuple[NameRule, ...] = (
    S3_BUCKET,
    NameRule(
        "AWS::Events::Rule",
        "Name",
        64,
        r"[\.\-_A-Za-z0-9]+",
        "Amazon EventBridge API Reference, PutRule, Name: maximum length of 64 "
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
        ("events", "PutRule", "Name"),
    ),
    NameRule(
        "AWS::Events::Archive",
        "ArchiveName",
        48,
        r"[\.\-_A-Za-z0-9]+",
        "Amazon EventBridge API Reference, CreateArchive, ArchiveName: maximum length of 48 "
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateArchive.html",
        ("events", "CreateArchive", "ArchiveName"),
    ),
    NameRule(
        "AWS::Events::EventBus",
        "Name",
        256,
        r"[/\.\-_A-Za-z0-9]+",
        "Amazon EventBridge API Reference, CreateEventBus, Name: maximum length of 256 "
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_CreateEventBus.html",
        ("events", "CreateEventBus", "Name"),
    ),
    NameRule(
        "AWS::Lambda::Function",
        "FunctionName",
        64,
        r"[a-zA-Z0-9-_]+",
        "AWS Lambda API Reference, CreateFunction, FunctionName: a name alone is limited to 64 characters "
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
    ),
    NameRule(
        "AWS::IAM::Role",
        "RoleName",
        64,
        IAM_NAME,
        "IAM API Reference, CreateRole, RoleName: maximum length of 64 "
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
        ("iam", "CreateRole", "RoleName"),
    ),
    NameRule(
        "AWS::IAM::ManagedPolicy",
        "ManagedPolicyName",
        128,
        IAM_NAME,
        "IAM API Reference, CreatePolicy, PolicyName: maximum length of 128 "
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html",
        ("iam", "CreatePolicy", "PolicyName"),
    ),
    NameRule(
        "AWS::IAM::Policy",
        "PolicyName",
        128,
        IAM_NAME,
        "IAM API Reference, PutRolePolicy, PolicyName: maximum length of 128 "
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
        ("iam", "PutRolePolicy", "PolicyName"),
    ),
    NameRule(
        "AWS::SQS::Queue",
        "QueueName",
        80,
        r"[A-Za-z0-9_-]+",
        "Amazon SQS API Reference, CreateQueue, QueueName: up to 80 characters; alphanumeric characters, "
        "hyphens and underscores https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/"
        "API_CreateQueue.html",
    ),
    NameRule(
        "AWS::SNS::Topic",
        "TopicName",
        256,
        r"[A-Za-z0-9_-]+",
        "Amazon SNS API Reference, CreateTopic, Name: up to 256 characters; upper- and lower-case ASCII "
        "letters, numbers, underscores and hyphens https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html",
    ),
    NameRule(
        "AWS::Logs::LogGroup",
        "LogGroupName",
        512,
        r"[\.\-_/#A-Za-z0-9]+",
        "Amazon CloudWatch Logs API Reference, CreateLogGroup, logGroupName: maximum length of 512 "
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
        ("logs", "CreateLogGroup", "logGroupName"),
    ),
    NameRule(
        "AWS::KMS::Alias",
        "AliasName",
        256,
        r"alias/(?!aws/)[a-zA-Z0-9/_-]+",
        "AWS KMS API Reference, CreateAlias, AliasName: maximum length of 256, begins with alias/ and "
        "not alias/aws/ https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
        ("kms", "CreateAlias", "AliasName"),
    ),
    NameRule(
        "AWS::CloudWatch::Alarm",
        "AlarmName",
        255,
        r"[^\x00-\x1f\x7f]+",
        "Amazon CloudWatch API Reference, PutMetricAlarm, AlarmName: maximum length of 255, no ASCII "
        "control characters https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
        ("cloudwatch", "PutMetricAlarm", "AlarmName"),
    ),
    NameRule(
        "AWS::CloudWatch::Dashboard",
        "DashboardName",
        255,
        r"[A-Za-z0-9_-]+",
        'Amazon CloudWatch API Reference, PutDashboard, DashboardName: "The maximum length is 255, and valid '
        "characters are A-Z, a-z, 0-9, '-', and '_'\" "
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
    ),
    NameRule(
        "AWS::SSM::Parameter",
        "Name",
        1011,
        # a-zA-Z0-9_.- and '/' between levels, at most 15 levels, not prefixed with aws or ssm.
        r"(?!/?(?i:aws|ssm))/?[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+){0,14}",
        'AWS Systems Manager API Reference, PutParameter, Name: "The maximum length for a parameter name '
        'that you specify is 1011 characters"; hierarchies at most fifteen levels '
        "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html",
    ),
    NameRule(
        "AWS::SageMaker::Pipeline",
        "PipelineName",
        256,
        SAGEMAKER_256,
        "Amazon SageMaker API Reference, CreatePipeline, PipelineName: maximum length of 256 "
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreatePipeline.html",
        ("sagemaker", "CreatePipeline", "PipelineName"),
    ),
    NameRule(
        "AWS::SageMaker::MlflowTrackingServer",
        "TrackingServerName",
        256,
        SAGEMAKER_256,
        "Amazon SageMaker API Reference, CreateMlflowTrackingServer, TrackingServerName: maximum length of 256 "
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateMlflowTrackingServer.html",
        ("sagemaker", "CreateMlflowTrackingServer", "TrackingServerName"),
    ),
    NameRule(
        "AWS::SageMaker::MlflowApp",
        "Name",
        256,
        SAGEMAKER_256,
        "Amazon SageMaker API Reference, CreateMlflowApp, Name: maximum length of 256 "
        "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateMlflowApp.html",
        ("sagemaker", "CreateMlflowApp", "Name"),
    ),
)
STACK_NAME = NameRule(
    "AWS::CloudFormation::Stack",
    "StackName",
    128,
    r"[a-zA-Z][-a-zA-Z0-9]*",
    'AWS CloudFormation API Reference, CreateStack, StackName: "can contain only alphanumeric characters (case '
    "sensitive) and hyphens. It must start with an alphabetic character and can't be longer than 128 characters\" "
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html",
)
ENDPOINT_NAME = NameRule(
    "SageMaker endpoint",
    "EndpointName",
    63,
    SAGEMAKER_63,
    "Amazon SageMaker API Reference, CreateEndpoint, EndpointName: maximum length of 63 "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html",
    ("sagemaker", "CreateEndpoint", "EndpointName"),
)
ENDPOINT_CONFIG_NAME = NameRule(
    "SageMaker endpoint config",
    "EndpointConfigName",
    63,
    SAGEMAKER_63,
    "Amazon SageMaker API Reference, CreateEndpointConfig, EndpointConfigName: maximum length of 63 "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html",
    ("sagemaker", "CreateEndpointConfig", "EndpointConfigName"),
)
MODEL_NAME = NameRule(
    "SageMaker model",
    "ModelName",
    63,
    r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    "Amazon SageMaker API Reference, CreateModel, ModelName: maximum length of 63 "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModel.html",
    ("sagemaker", "CreateModel", "ModelName"),
)
PROCESSING_JOB_NAME = NameRule(
    "SageMaker processing job",
    "ProcessingJobName",
    63,
    SAGEMAKER_63,
    "Amazon SageMaker API Reference, CreateProcessingJob, ProcessingJobName: maximum length of 63, pattern "
    "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateProcessingJob.html",
    ("sagemaker", "CreateProcessingJob", "ProcessingJobName"),
)
PACKAGE_GROUP_NAME = NameRule(
    "SageMaker model package group",
    "ModelPackageGroupName",
    63,
    SAGEMAKER_63,
    "Amazon SageMaker API Reference, CreateModelPackageGroup, ModelPackageGroupName: maximum length of 63 "
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackageGroup.html; the group is "
    'named {model}-{first six hex characters of a SHA-256} (SageMaker Developer Guide, "Automatically register '
    'SageMaker AI models with SageMaker Model Registry")',
    ("sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName"),
)

# Model package versions count up from 1 per group; a group that retrains every minute for a
# century stays far below this.
LARGEST_VERSION = 10**9
VERSIONS = (1, 9, 10, 99, 100, 12345, 10**6, LARGEST_VERSION)


def regions_of(env: Synthesized) -> tuple[str, ...]:
    """The values ${AWS::Region} can take when this configuration is deployed."""
    if env.region is not None:
        return (env.region,)
    return supported_regions(env.config.mlflow.kind)


def render(value: Any, region: str) -> str:
    """A template name with its pseudo parameters replaced; other intrinsics are not names we make."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref" and argument in ("AWS::AccountId", "AWS::Region"):
            return ACCOUNT_ID if argument == "AWS::AccountId" else region
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render(part, region) for part in parts)
    raise AssertionError(f"a physical name built from {value!r} cannot be checked")


def template_names(env: Synthesized) -> Iterator[tuple[NameRule, str, str]]:
    """(rule, where, name) for every named resource, once per region the name can be deployed in."""
    for rule in RULES:
        for unit, logical_id, props in env.resources(rule.resource_type):
            if rule.prop not in props:
                continue
            for region in regions_of(env):
                yield rule, f"{unit}/{logical_id} in {region}", render(props[rule.prop], region)


def violations(checked: Iterator[tuple[NameRule, str, str]]) -> list[str]:
    return [
        f"{where}: {rule.resource_type}.{rule.prop} {name!r} {problem} ({rule.source})"
        for rule, where, name in checked
        for problem in rule.problems(name)
    ]


def test_every_named_resource_fits_its_documented_limit(synthesized_env: Synthesized) -> None:
    """Given a configuration, when its stacks are synthesized, then every name fits its service's rule."""
    checked = list(template_names(synthesized_env))
    assert violations(iter(checked)) == []
    # The check covered the families the platform names (a renamed property must not slip by).
    families = {rule.resource_type for rule, _, _ in checked}
    assert {
        "AWS::S3::Bucket",
        "AWS::Events::Rule",
        "AWS::Events::Archive",
        "AWS::Events::EventBus",
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::IAM::ManagedPolicy",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::Logs::LogGroup",
        "AWS::KMS::Alias",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
    } <= families
    if synthesized_env.config.models:
        assert {"AWS::SageMaker::Pipeline", "AWS::SSM::Parameter"} <= families
    assert families & {"AWS::SageMaker::MlflowTrackingServer", "AWS::SageMaker::MlflowApp"}


def test_bucket_names_are_checked_at_the_longest_region(synthesized_env: Synthesized) -> None:
    """The region token is counted at its longest: the supported region with the longest name."""
    regions = regions_of(synthesized_env)
    longest = max(regions, key=len)
    buckets = [(where, name) for rule, where, name in template_names(synthesized_env) if rule is S3_BUCKET]
    assert any(name.endswith(f"-{ACCOUNT_ID}-{longest}") for _, name in buckets)


def test_stack_names_fit(synthesized_env: Synthesized) -> None:
    """CloudFormation stack names (including one per model) fit CreateStack's rule."""
    names = list(synthesized_env.stack_names.values())
    assert len(names) == len(set(names)) >= 4 + len(synthesized_env.config.models)
    assert violations(iter((STACK_NAME, "stack", name) for name in names)) == []


# Ends of monitoring windows: the job name carries one to the second, always 14 digits.
WINDOW_ENDS = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC))


def monitoring_job_prefix(env: Synthesized) -> str | None:
    """The job prefix the monitoring launcher is given (its environment in the template), if there is one."""
    prefixes = [
        props["Environment"]["Variables"][env_names.MONITORING_JOB_PREFIX]
        for _, _, props in env.resources("AWS::Lambda::Function")
        if env_names.MONITORING_JOB_PREFIX in props.get("Environment", {}).get("Variables", {})
    ]
    assert len(prefixes) <= 1, prefixes
    return prefixes[0] if prefixes else None


def monitored(env: Synthesized) -> list[str]:
    """The models whose monitoring jobs the platform's launcher starts."""
    return [name for name, settings in deployed_catalog(env.label).items() if settings.monitoring_engine == "platform"]


def package_group_suffix(env: Synthesized) -> str:
    """The suffix automatic registration gives package groups: from the tracking server's name, or the longest an App's ID makes."""
    servers = [props["TrackingServerName"] for _, _, props in env.resources("AWS::SageMaker::MlflowTrackingServer")]
    if servers:
        (server,) = servers
        return model_package_group_suffix(server)
    return "f" * naming.PACKAGE_GROUP_SUFFIX_LENGTH


def runtime_names(env: Synthesized) -> Iterator[tuple[NameRule, str, str]]:
    """Names the handlers create from a model's catalog entry, for every version up to a large one."""
    suffix = package_group_suffix(env)
    job_prefix = monitoring_job_prefix(env)
    for settings in deployed_catalog(env.label).values():
        yield ENDPOINT_NAME, settings.name, settings.endpoint_name
        yield PACKAGE_GROUP_NAME, settings.name, naming.package_group(settings.name, suffix)
        for version in VERSIONS:
            name = version_resource_name(settings.endpoint_name, version)
            yield MODEL_NAME, f"{settings.name} v{version}", name
            yield ENDPOINT_CONFIG_NAME, f"{settings.name} v{version}", name
        if settings.monitoring_engine == "platform" and job_prefix is not None:
            for end in WINDOW_ENDS:
                yield (
                    PROCESSING_JOB_NAME,
                    f"{settings.name} monitoring {end:%Y-%m-%d}",
                    job_name(job_prefix, settings.name, end),
                )


def test_names_made_at_run_time_fit(synthesized_env: Synthesized) -> None:
    """Endpoint, per-version model and endpoint config, package group and monitoring job names fit SageMaker's rules."""
    checked = list(runtime_names(synthesized_env))
    assert violations(iter(checked)) == []
    models = synthesized_env.config.models
    assert sorted(deployed_catalog(synthesized_env.label)) == sorted(model.name for model in models)
    expected = len(models) * (2 + 2 * len(VERSIONS)) + len(monitored(synthesized_env)) * len(WINDOW_ENDS)
    assert len(checked) == expected


def test_every_monitoring_job_name_starts_with_the_prefix_the_failure_rule_matches(
    synthesized_env: Synthesized,
) -> None:
    """Shortening a long model name keeps the job prefix, so the notification of failed jobs still sees every job."""
    job_prefix = monitoring_job_prefix(synthesized_env)
    names = [name for rule, _, name in runtime_names(synthesized_env) if rule is PROCESSING_JOB_NAME]
    if not monitored(synthesized_env):
        assert names == []
        return
    assert job_prefix == f"{synthesized_env.config.resource_prefix}-monitor-"
    assert names and all(name.startswith(job_prefix) for name in names)
    # And two models never share a job name for the same window
    for end in WINDOW_ENDS:
        per_model = [job_name(job_prefix, model, end) for model in monitored(synthesized_env)]
        assert len(set(per_model)) == len(per_model)


def test_each_version_gets_its_own_resource_names(synthesized_env: Synthesized) -> None:
    """Shortening a long endpoint name never makes two versions share a model or endpoint config."""
    for settings in deployed_catalog(synthesized_env.label).values():
        endpoint = settings.endpoint_name
        assert len({version_resource_name(endpoint, version) for version in VERSIONS}) == len(VERSIONS)


@pytest.mark.parametrize(
    "rule",
    [
        rule
        for rule in (*RULES, ENDPOINT_NAME, ENDPOINT_CONFIG_NAME, MODEL_NAME, PACKAGE_GROUP_NAME, PROCESSING_JOB_NAME)
        if rule.api
    ],
    ids=lambda rule: f"{rule.resource_type}.{rule.prop}",
)
def test_the_table_agrees_with_the_aws_api_models(rule: NameRule) -> None:
    """Where AWS's API model bounds a name, the table's limit is that bound (so a typo cannot loosen it).

    The API models state no bound for bucket, function, queue, topic, dashboard, SSM parameter
    and stack names; for those the table follows the API reference page it cites.
    """
    assert rule.api is not None
    service, operation, member = rule.api
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation)
    assert shape.input_shape.members[member].metadata.get("max") == rule.max_length


def test_the_extreme_configuration_is_the_longest_validation_accepts() -> None:
    """One character more on the prefix, or on a model name, is refused, naming the key."""
    prefix = prefix_of(longest_prefix())
    with pytest.raises(ConfigError) as longer_prefix:
        load_environment(extreme_platform(prefix=prefix + "p", model_length=longest_model_name()), LONGEST_ENVIRONMENT)
    assert f"platform.environments.{LONGEST_ENVIRONMENT}.prefix" in longer_prefix.value.path

    with pytest.raises(ConfigError) as longer_model:
        load_environment(extreme_platform(model_length=longest_model_name() + 1), LONGEST_ENVIRONMENT)
    assert f"platform.environments.{LONGEST_ENVIRONMENT}.models[0].name" in longer_model.value.path

    # And the extreme itself loads, with the lengths the search found.
    config = load_environment(extreme_platform(), LONGEST_ENVIRONMENT)
    assert config.prefix == prefix
    assert max(len(model.name) for model in config.models) == longest_model_name()
