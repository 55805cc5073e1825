"""The platform's Lambda functions, shared by every model, with their defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import CfnDynamicReference, CfnDynamicReferenceService, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge, acknowledge_wildcards
from stacks.naming import function_role_name

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
# Deprecated on 2029-06-30, the latest date of any Python runtime (Lambda Developer Guide,
# "Lambda runtimes", https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html).
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.X86_64
# The Powertools release the handlers run with: the same pin as requirements-dev.txt, which
# the tests use (tests/contracts/test_lambda_settings.py holds the two together).
POWERTOOLS_VERSION = "3.37.0"


def powertools_layer_parameter(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> str:
    """The public SSM parameter holding the ARN of the Powertools layer for this runtime.

    Powertools for AWS Lambda (Python), "Installation", "Using SSM Parameter Store"
    (https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/): one
    parameter per architecture, Python version (with its dot, e.g. python3.13) and release.
    """
    return f"/aws/service/powertools/python/{architecture.name}/{runtime.name}/{POWERTOOLS_VERSION}"


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the functions; everything else is a shared default."""

    name: str
    handler: str
    description: str
    timeout_seconds: int
    memory_mb: int = 256


RETRAINING_TRIGGER = FunctionSpec(
    "retraining-trigger",
    "retraining_trigger.handler.lambda_handler",
    "Starts a model's pipeline on new data, a quality alarm, a schedule or a request",
    timeout_seconds=60,
)
MODEL_GATE = FunctionSpec(
    "model-gate",
    "model_gate.handler.lambda_handler",
    "Approves a new model version only if it beats the champion",
    timeout_seconds=60,
)
DEPLOYER = FunctionSpec(
    "deployer",
    "deployer.handler.lambda_handler",
    "Deploys approved versions with blue/green updates and tracks their outcome",
    timeout_seconds=120,
)
MONITORING_LAUNCHER = FunctionSpec(
    "monitoring-launcher",
    "monitoring_launcher.handler.lambda_handler",
    "Starts a model's monitoring job on its schedule or when ground truth lands",
    timeout_seconds=60,
)
BATCH_LAUNCHER = FunctionSpec(
    "batch-launcher",
    "batch_launcher.handler.lambda_handler",
    "Runs batch transforms of a model's champion on new inputs or a schedule, one at a time",
    timeout_seconds=60,
)
HANDLERS = (RETRAINING_TRIGGER, MODEL_GATE, DEPLOYER, MONITORING_LAUNCHER, BATCH_LAUNCHER)


@jsii.implements(lambda_.IDestination)
class FailedInvocationsQueue:
    """An SQS queue as the on-failure destination of asynchronous invocations, granted nothing by itself.

    CDK's SqsDestination grants through `grantSendMessages`, which adds sqs:GetQueueAttributes,
    sqs:GetQueueUrl and the key actions kms:ReEncrypt* and kms:GenerateDataKey*; the function needs
    only sqs:SendMessage on the queue (AWS Lambda Developer Guide, "Capturing records of Lambda
    asynchronous invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html:
    "Amazon SQS queue - sqs:SendMessage"), which PlatformFunction grants with its own statement.
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType,
    ) -> lambda_.DestinationConfig:
        """The queue's ARN as the destination."""
        del scope, fn, type
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


class PlatformFunction(Construct):
    """One handler: code from lambdas/, Powertools layer, encrypted logs, failed async invocations to a queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        resource_prefix: str,
        code: lambda_.Code,
        environment: dict[str, str],
        key: kms.IKey,
        failed_invocations: sqs.IQueue,
        log_retention: logs.RetentionDays,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function_name = f"{resource_prefix}-{spec.name}"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention,
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=function_role_name(resource_prefix, spec.name),
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {function_name}",
        )
        # CloudFormation reads the layer ARN from Powertools' public parameter at deploy time,
        # so the layer always matches the pinned release, runtime, architecture and region.
        layer_arn = CfnDynamicReference(
            CfnDynamicReferenceService.SSM, powertools_layer_parameter(RUNTIME, ARCHITECTURE)
        ).to_string()
        powertools = lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=[powertools],
            role=self.role,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            # None unless the environment opts in: a reservation fails to deploy in accounts
            # whose concurrency quota leaves less than the unreserved minimum (see config).
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": spec.name,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            environment_encryption=key,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            # Asynchronous invocations (EventBridge rules and schedules) are retried twice, then
            # recorded in the queue for inspection and redrive. An on-failure destination, not a
            # DeadLetterConfig: its record names the function (requestContext.functionArn) next to
            # the event (requestPayload) and the error (responsePayload), where a dead-letter
            # message carries the event alone (AWS Lambda Developer Guide, "Capturing records of
            # Lambda asynchronous invocations",
            # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html:
            # "For dead-letter queues, Lambda only sends the content of the event, without details
            # about the response"; a standard SQS queue is a supported destination, and the record
            # arrives as the message body).
            retry_attempts=2,
            max_event_age=Duration.hours(6),
            on_failure=FailedInvocationsQueue(failed_invocations),
        )
        self.allow(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{self.log_group.log_group_arn}:*"],
            ),
            "Log streams are created per execution environment inside the function's own log group.",
        )
        # Lambda sends the failure record with the function's own role (same page: "sqs:SendMessage").
        self.allow(
            iam.PolicyStatement(
                sid="RecordFailedInvocations", actions=["sqs:SendMessage"], resources=[failed_invocations.queue_arn]
            )
        )
        # The same key encrypts the function's settings and the queue of failed invocations: a
        # producer of an encrypted queue needs kms:GenerateDataKey and kms:Decrypt (Amazon SQS
        # Developer Guide, "Amazon SQS key management",
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
        self.allow(
            iam.PolicyStatement(
                sid="UseAutomationKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )
        # Active tracing makes the Lambda construct grant these two on `*` itself.
        tracing = iam.PolicyStatement(actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"])
        acknowledge_wildcards(
            self.role,
            tracing,
            "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level "
            "permissions (Service Authorization Reference, AWS X-Ray).",
        )
        acknowledge(
            self.role,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            f"The inline policy is specific to {function_name} and built from the grants it needs; "
            "a managed policy would add a resource with no reuse.",
        )
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaInsideVPC",
            "The function only calls AWS APIs (SageMaker, EventBridge, SSM, MLflow over SigV4); "
            "there is no private network resource to reach, so a VPC would add NAT cost and nothing else.",
        )
        acknowledge(
            self.function,
            "NIST.800.53.R5-LambdaDLQ",
            "The rule looks for DeadLetterConfig only (AWS Config, lambda-dlq-check). Failed asynchronous "
            "invocations go to the same SQS queue through the on-failure destination, whose record adds the "
            "function's ARN, the error and the response to the event (Lambda Developer Guide, \"Capturing records "
            "of Lambda asynchronous invocations\"); the queue's depth alarm notifies the operators.",
        )
        if reserved_concurrency is None:
            acknowledge(
                self.function,
                "NIST.800.53.R5-LambdaConcurrency",
                "Reserving concurrency fails to deploy in accounts whose quota leaves less than Lambda's unreserved "
                "minimum; environments opt in with functions.reserved_concurrency. The handlers' event rate is low "
                "and EventBridge retries throttled invocations, then keeps them in the dead-letter queue.",
            )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"{RUNTIME.name} is supported until 2029-06-30, the same date as python3.14 (Lambda runtimes page), so "
            "the newer runtime would add no support time; it is adopted together with its Powertools layer and the "
            "test environment.",
        )

    def allow(self, statement: iam.PolicyStatement, why_wildcards: str | None = None) -> None:
        """Add a permission; a statement with wildcards must say why."""
        self.role.add_to_policy(statement)
        if why_wildcards:
            acknowledge_wildcards(self.role, statement, why_wildcards)


def lambda_code() -> lambda_.Code:
    """The handlers' code: lambdas/ without caches (Powertools comes from the layer)."""
    return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=["**/__pycache__", "*.pyc", "**/.mypy_cache"])
