"""Hand what a platform dead-letter queue holds back to the handler it was meant for.

The platform's dead-letter queues are not the dead-letter queues of other SQS queues, so SQS's
own redrive (StartMessageMoveTask) cannot move their messages. Two services write to them:

- Lambda, for asynchronous invocations a function failed (the functions queue), through each
  function's on-failure destination. The message body is the invocation record: the function in
  `requestContext.functionArn` (with `condition` and `approximateInvokeCount`), the original
  event in `requestPayload`, the error in `responseContext` and `responsePayload` (AWS Lambda
  Developer Guide, "Capturing records of Lambda asynchronous invocations",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html: for an SQS
  destination "the invocation record is passed as the Message"). The payload goes back to the
  function the record names, if it is one of this environment's.
- Lambda, before the platform used destinations: a dead-letter message is "the original event
  payload with no modifications to the message body", with the attributes RequestID, ErrorCode
  and ErrorMessage, and no function (AWS Lambda Developer Guide, "Dead Letter Queues",
  https://docs.aws.amazon.com/lambda/latest/dg/dlq.html). Such messages, queued before an
  upgrade, still go to the handler whose rule feeds that kind of event (`handler_for`, checked
  against the synthesized rules by the tests: the source and detail-type, for S3 objects the key's
  prefix, for schedules the rule's name), and the report says the handler was inferred.
- EventBridge, for events a rule could not deliver (the events queue): the message is the event,
  with the custom attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
  EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS (Amazon EventBridge User Guide, "Using dead-letter
  queues to process undelivered events in EventBridge",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html). A handler target is
  invoked again; the audit log group and the topic are not, so their messages stay in the queue
  (domain events among them can be replayed from the archive: make replay).

Each event goes back as an asynchronous invocation ("Event" invocation type: Lambda queues it and
answers 202; AWS Lambda API Reference, "Invoke",
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), so a handler that fails again
puts it in the DLQ again and nothing is lost. A message is deleted only after its invocation was
accepted. The handlers act on what they read back from AWS, so an event handled twice repeats
their checks, not their effects. A dry run reads and reports, then makes every message visible
again at once.

    make redrive ENV=dev QUEUE=functions [DRY_RUN=1]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from platform_common import monitoring as layout
from stacks import naming
from stacks.config import HANDLER_NAMES, EnvironmentConfig
from tools.operator_session import OperatorError, caller, environment, run

TRIGGER, GATE, DEPLOYER = "retraining-trigger", "model-gate", "deployer"
MONITORING_LAUNCHER, BATCH_LAUNCHER = "monitoring-launcher", "batch-launcher"
# Every function the platform builds (stacks.config); the names above are its members.
HANDLERS = HANDLER_NAMES
QUEUES = ("events", "functions")
# (source, detail-type) -> the handler the automation stack's rules send it to; a str, or a map
# from a distinguishing detail value to the handler.
ROUTES: Mapping[tuple[str, str], str] = {
    ("aws.cloudwatch", "CloudWatch Alarm State Change"): TRIGGER,
    ("aws.sagemaker", "SageMaker Model Building Pipeline Execution Status Change"): TRIGGER,
    ("mlops.platform", "RetrainingRequested"): TRIGGER,
    ("mlops.platform", "RetrainingWindowClosed"): TRIGGER,
    ("aws.sagemaker", "SageMaker Endpoint State Change"): DEPLOYER,
    ("aws.sagemaker", "SageMaker Transform Job State Change"): BATCH_LAUNCHER,
}
OBJECT_CREATED = ("aws.s3", "Object Created")
PACKAGE_STATE = ("aws.sagemaker", "SageMaker Model Package State Change")
PACKAGE_ROUTES = {"PendingManualApproval": GATE, "Approved": DEPLOYER}
SCHEDULED = ("aws.events", "Scheduled Event")
# Scheduled rules by the end of their names (stacks/naming.py): the deployer's check, and a model's
# retraining, monitoring and batch schedules. Scheduled events name their rule in `resources`.
SCHEDULE_ROUTES = {
    "-deployer-check": DEPLOYER,
    "-schedule": TRIGGER,
    "-monitoring": MONITORING_LAUNCHER,
    "-batch": BATCH_LAUNCHER,
}
# Long enough to invoke and delete a batch; a message not deleted comes back after it.
VISIBILITY_SECONDS = 120
# Long polling (any wait above 0) asks every SQS server, so an empty answer means an empty queue;
# a short poll samples a subset and can answer empty while messages wait ("Setting-up long polling
# in Amazon SQS": long polling eliminates "false empty responses", "1 second minimum",
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html).
RECEIVE_WAIT_SECONDS = 1
# How the report says a message was addressed.
RECORD = "on-failure record"
TARGET = "EventBridge target"
INFERRED = "dead-letter message queued before on-failure records: handler inferred from the event"


@dataclass(frozen=True)
class Route:
    """Where one message goes: the function and the payload to invoke it with, or why it stays."""

    why: str
    function: str | None = None
    payload: str | None = None


@dataclass
class Report:
    """What a redrive did, message by message (SQS message IDs)."""

    dry_run: bool
    redriven: dict[str, str] = field(default_factory=dict)  # message id -> function
    how: dict[str, str] = field(default_factory=dict)  # message id -> how its function was found
    left: dict[str, str] = field(default_factory=dict)  # message id -> why it stays
    failed: dict[str, str] = field(default_factory=dict)  # message id -> the error; it stays

    def lines(self) -> list[str]:
        verb = "would redrive" if self.dry_run else "redriven"
        out = [f"{verb}: {len(self.redriven)}, left in the queue: {len(self.left)}, failed: {len(self.failed)}"]
        out += [f"  {verb} {mid} -> {target} ({self.how.get(mid, '')})" for mid, target in self.redriven.items()]
        out += [f"  left {mid}: {why}" for mid, why in self.left.items()]
        out += [f"  failed {mid}: {why} (left in the queue)" for mid, why in self.failed.items()]
        return out


def handler_for(event: Any) -> str | None:
    """The handler the platform's rules send `event` to, or None when no rule does."""
    if not isinstance(event, dict):
        return None
    key = (event.get("source"), event.get("detail-type"))
    if key == PACKAGE_STATE:
        detail = event.get("detail")
        status = detail.get("ModelApprovalStatus") if isinstance(detail, dict) else None
        return PACKAGE_ROUTES.get(status) if isinstance(status, str) else None
    if key == SCHEDULED:
        resources = [r for r in event.get("resources") or [] if isinstance(r, str)]
        for suffix, handler in SCHEDULE_ROUTES.items():
            if any(r.endswith(suffix) for r in resources):
                return handler
        return None
    if key == OBJECT_CREATED:
        return _object_handler(event.get("detail"))
    return ROUTES.get(key)  # type: ignore[arg-type]


def _object_handler(detail: Any) -> str | None:
    """Who an object landing in the data bucket goes to, by its key, as the rules' prefixes split them."""
    obj = detail.get("object") if isinstance(detail, dict) else None
    key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(key, str):
        return None
    if key.startswith(naming.DATASETS_PREFIX):
        return TRIGGER
    if key.startswith(f"{layout.INFERENCE_PREFIX}/"):
        return BATCH_LAUNCHER
    segments = key.split("/")
    if len(segments) > 2 and key.startswith(layout.ground_truth_prefix(segments[1])):
        return MONITORING_LAUNCHER
    return None


def _attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return str(value) if value is not None else None


def _function_arn_parts(arn: Any) -> tuple[str, str, str] | None:
    """(region, account, name) of `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) not in (7, 8) or parts[0] != "arn" or parts[2] != "lambda" or parts[5] != "function":
        return None
    return parts[3], parts[4], parts[6]


def _from_record(record: Mapping[str, Any], functions: Mapping[str, str], home: tuple[str, str] | None) -> Route:
    """Route an on-failure invocation record to the function it names, if it is one of this environment's."""
    context = record["requestContext"]
    arn = context.get("functionArn") if isinstance(context, dict) else None
    parts = _function_arn_parts(arn)
    if parts is None:
        return Route(f"an invocation record whose requestContext.functionArn is {arn!r}, not a Lambda function ARN")
    region, account, name = parts
    if name not in functions.values() or (home is not None and (region, account) != home):
        return Route(f"a failed invocation of {arn}: not a function of this environment")
    if "requestPayload" not in record:
        return Route(f"an invocation record of {name} without requestPayload: nothing to invoke it with")
    condition = context.get("condition", "unknown condition")
    return Route(f"{RECORD}, {condition}", name, json.dumps(record["requestPayload"]))


def destination(message: Mapping[str, Any], functions: Mapping[str, str], home: tuple[str, str] | None = None) -> Route:
    """Where one queued message goes; `home` is (region, account) of the environment, when known."""
    body = message.get("Body", "")
    try:
        event = json.loads(body)
    except ValueError:
        return Route("the body is not JSON: not an event the platform sent")
    target = _attribute(message, "TARGET_ARN")
    if target is None and isinstance(event, dict) and "requestContext" in event:
        return _from_record(event, functions, home)
    role = handler_for(event)
    if target is not None:
        name = target.split(":")[6] if target.startswith("arn:") and ":function:" in target else None
        if name is None or name not in functions.values():
            rule = _attribute(message, "RULE_ARN") or "unknown rule"
            return Route(f"undelivered to {target} by {rule}: not a handler; inspect it (domain events: make replay)")
        if role is None or functions.get(role) != name:
            return Route(f"addressed to {name}, but its rules do not send this event there")
        return Route(TARGET, name, body)
    if _attribute(message, "RequestID") is not None or _attribute(message, "ErrorCode") is not None:
        if role is None or role not in functions:
            kind = (event.get("source"), event.get("detail-type")) if isinstance(event, dict) else None
            return Route(f"a failed invocation with an event no rule sends to a handler ({kind})")
        return Route(INFERRED, functions[role], body)
    return Route(
        "neither an invocation record nor Lambda's or EventBridge's dead-letter attributes: not written by the platform"
    )


def redrive(
    *,
    queue_url: str,
    functions: Mapping[str, str],
    sqs: Any,
    lambda_client: Any,
    dry_run: bool,
    max_messages: int = 1000,
    home: tuple[str, str] | None = None,
) -> Report:
    """Re-invoke each message's handler asynchronously, then delete the message; never delete on failure."""
    report = Report(dry_run=dry_run)
    seen: set[str] = set()
    to_release: list[str] = []
    while len(seen) < max_messages:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - len(seen)),
            MessageAttributeNames=["All"],
            VisibilityTimeout=VISIBILITY_SECONDS,
            WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            message_id = message["MessageId"]
            seen.add(message_id)
            route = destination(message, functions, home)
            function = route.function
            if function is None or route.payload is None:
                report.left[message_id] = route.why
                to_release.append(message["ReceiptHandle"])
                continue
            report.how[message_id] = route.why
            if dry_run:
                report.redriven[message_id] = function
                to_release.append(message["ReceiptHandle"])
                continue
            try:
                lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=route.payload.encode())
            except (BotoCoreError, ClientError) as error:
                report.failed[message_id] = f"invoking {function}: {error}"
                del report.how[message_id]
                to_release.append(message["ReceiptHandle"])
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            report.redriven[message_id] = function
    # What stays is visible again now, not after the visibility timeout.
    for handle in to_release:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return report


def queue_name(config: EnvironmentConfig, queue: str) -> str:
    """The DLQ's name for QUEUE=events|functions (or its full name)."""
    names = {"events": naming.events_dlq_name(config), "functions": naming.functions_dlq_name(config)}
    if queue in names:
        return names[queue]
    if queue in names.values():
        return queue
    raise OperatorError(f"QUEUE={queue!r}: expected one of {', '.join(QUEUES)} (or {', '.join(names.values())})")


def handler_functions(config: EnvironmentConfig) -> dict[str, str]:
    """Function role -> its function name in this environment (every function the platform builds)."""
    return {role: naming.function_name(config, role) for role in HANDLER_NAMES}


def main(argv: Sequence[str] | None = None, *, session: Any = None, settings: Any = None) -> int:
    """Redrive one DLQ of an environment; one line and exit 2 when that is not possible."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--queue", required=True, help="events or functions")
    parser.add_argument("--dry-run", action="store_true", help="read and report; change nothing")
    parser.add_argument("--max", type=int, default=1000, help="at most this many messages")
    args = parser.parse_args(argv)

    def body() -> int:
        config = environment(args.env, settings)
        name = queue_name(config, args.queue)
        aws = caller(config, session)
        sqs = aws.session.client("sqs")
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        report = redrive(
            queue_url=url,
            functions=handler_functions(config),
            sqs=sqs,
            lambda_client=aws.session.client("lambda"),
            dry_run=args.dry_run,
            max_messages=args.max,
            home=(aws.region, aws.account),
        )
        print(f"{name} ({'dry run' if args.dry_run else 'redrive'})")
        print("\n".join(report.lines()))
        return 1 if report.failed else 0

    return run("redrive", body)


if __name__ == "__main__":
    sys.exit(main())
