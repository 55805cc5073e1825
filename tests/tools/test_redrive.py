"""Redrive: each dead letter goes back to the handler it was meant for, and is deleted only then (moto SQS).

The messages are written as the services document them:
- Lambda's on-failure record, the body of the message for an SQS destination: `version`,
  `timestamp`, `requestContext` {`requestId`, `functionArn` (with the `$LATEST` qualifier),
  `condition` (`RetriesExhausted` or `EventAgeExceeded`), `approximateInvokeCount`},
  `requestPayload` (the event), `responseContext` {`statusCode`, `executedVersion`,
  `functionError`}, `responsePayload` (AWS Lambda Developer Guide, "Capturing records of Lambda
  asynchronous invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html,
  its example invocation record);
- Lambda's DLQ, for messages queued before the functions used destinations: "the original event payload with no modifications to the message body", with the
  attributes RequestID (String), ErrorCode (Number) and ErrorMessage (String) (AWS Lambda
  Developer Guide, "Dead Letter Queues", https://docs.aws.amazon.com/lambda/latest/dg/dlq.html);
- EventBridge's target DLQ: the event, with RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
  EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS (Amazon EventBridge User Guide, "Using dead-letter
  queues to process undelivered events in EventBridge",
  https://docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html).
Lambda invocations go to a recorder that validates each request against botocore's model of
Invoke (moto's Lambda would need Docker to run a function).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from stacks.config import load_environment
from tests.tools.conftest import ACCOUNT, REGION, platform
from tools import redrive

FUNCTIONS = {
    "retraining-trigger": "ops-dev-retraining-trigger",
    "model-gate": "ops-dev-model-gate",
    "deployer": "ops-dev-deployer",
    "monitoring-launcher": "ops-dev-monitoring-launcher",
    "batch-launcher": "ops-dev-batch-launcher",
}
HOME = (REGION, ACCOUNT)
RULES = f"arn:aws:events:{REGION}:{ACCOUNT}:rule"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


class RecordingLambda:
    """Accepts Invoke requests that botocore's Lambda model accepts; fails those for `failing` functions."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self._input = boto3.client("lambda", region_name=REGION).meta.service_model.operation_model("Invoke")
        self.failing = failing
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **params: Any) -> dict[str, Any]:
        validate_parameters(params, self._input.input_shape)
        if params["FunctionName"] in self.failing:
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")
        self.calls.append(params)
        return {"StatusCode": 202}


def s3_object_created(key: str = "datasets/churn/2026-11/train.csv") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5d1a0b9e-1111-2222-3333-444455556666",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-30T10:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:s3:::ops-dev-data-123456789012-eu-west-1"],
        "detail": {
            "version": "0",
            "bucket": {"name": "ops-dev-data-123456789012-eu-west-1"},
            "object": {
                "key": key,
                "size": 1024,
                "etag": "abc",
                "version-id": "v1",
                "sequencer": "0062E99A88DC407460",
            },
            "request-id": "R1",
            "requester": ACCOUNT,
            "reason": "PutObject",
        },
    }


def package_state(status: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"7f6e5d4c-{status[:4].lower()}-2222-3333-444455556666",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-11-30T10:05:00Z",
        "region": REGION,
        "resources": [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn-a1b2c3/4"],
        "detail": {
            "ModelPackageGroupName": "churn-a1b2c3",
            "ModelPackageVersion": 4,
            "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/churn-a1b2c3/4",
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": status,
        },
    }


def scheduled(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "0a0b0c0d-1111-2222-3333-444455556666",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-11-30T10:10:00Z",
        "region": REGION,
        "resources": [f"{RULES}/{rule}"],
        "detail": {},
    }


def s3_inference_created() -> dict[str, Any]:
    """A batch input landing: the same source and detail-type as a training data drop."""
    event = s3_object_created()
    event["id"] = "9b8a7c6d-1111-2222-3333-444455556666"
    event["detail"]["object"]["key"] = "inference/churn/2026-11-30/part-0001.csv"
    return event


def invocation_record(
    function: str,
    event: Any,
    *,
    condition: str = "RetriesExhausted",
    account: str = ACCOUNT,
    region: str = REGION,
) -> dict[str, Any]:
    """Lambda's on-failure record of an asynchronous invocation of `function` with `event`."""
    failed = condition == "RetriesExhausted"
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": "2026-11-30T10:20:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4d22-8880-a18cdf61200e",
            "functionArn": f"arn:aws:lambda:{region}:{account}:function:{function}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": 3 if failed else 1,
        },
        "requestPayload": event,
    }
    if failed:
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = {
            "errorMessage": "Task timed out after 60.00 seconds",
            "errorType": "Sandbox.Timedout",
        }
    return record


def lambda_failure(request_id: str = "c0ffee00-1111-2222-3333-444455556666") -> dict[str, Any]:
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "Task timed out after 120.00 seconds"},
    }


def undelivered(rule: str, target_arn: str) -> dict[str, Any]:
    return {
        "RULE_ARN": {"DataType": "String", "StringValue": f"{RULES}/{rule}"},
        "TARGET_ARN": {"DataType": "String", "StringValue": target_arn},
        "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Rate exceeded"},
        "EXHAUSTED_RETRY_CONDITION": {"DataType": "String", "StringValue": "MaximumRetryAttemptsExhausted"},
        "RETRY_ATTEMPTS": {"DataType": "String", "StringValue": "8"},
    }


# Read before any test sets it to 0.
PRODUCTION_RECEIVE_WAIT_SECONDS = redrive.RECEIVE_WAIT_SECONDS


@pytest.fixture(autouse=True)
def _no_idle_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receive without long polling: moto waits out the whole wait on the empty queue that ends each run."""
    monkeypatch.setattr(redrive, "RECEIVE_WAIT_SECONDS", 0)


def test_the_queue_is_long_polled() -> None:
    """A wait of 1 to 20 s makes SQS ask every server, so an empty answer means an empty queue.

    Amazon SQS Developer Guide, "Setting-up long polling in Amazon SQS": long polling is in effect
    when the wait time is greater than 0, "The maximum long polling wait time is 20 seconds", and it
    eliminates false empty responses,
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html
    """
    assert 1 <= PRODUCTION_RECEIVE_WAIT_SECONDS <= 20


@pytest.fixture
def queue(aws: boto3.session.Session) -> tuple[Any, str]:
    sqs = aws.client("sqs")
    return sqs, sqs.create_queue(QueueName="ops-dev-functions-dlq")["QueueUrl"]


def put(queue: tuple[Any, str], body: Any, attributes: dict[str, Any]) -> str:
    sqs, url = queue
    text = body if isinstance(body, str) else json.dumps(body)
    return str(sqs.send_message(QueueUrl=url, MessageBody=text, MessageAttributes=attributes)["MessageId"])


def remaining(queue: tuple[Any, str]) -> set[str]:
    sqs, url = queue
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return {m["MessageId"] for m in received.get("Messages", [])}


def run(queue: tuple[Any, str], lambda_client: RecordingLambda, *, dry_run: bool = False) -> redrive.Report:
    sqs, url = queue
    return redrive.redrive(
        queue_url=url, functions=FUNCTIONS, sqs=sqs, lambda_client=lambda_client, dry_run=dry_run, home=HOME
    )


def test_each_record_goes_back_to_the_function_it_names_with_its_payload(queue: tuple[Any, str]) -> None:
    """Records name their function: a batch input and a batch schedule go to the batch launcher,
    though their source and detail-type are those of the trigger's data drops and schedules."""
    # Given on-failure records of every kind of function in the shared queue
    cases = {
        put(queue, invocation_record("ops-dev-retraining-trigger", s3_object_created()), {}): (
            "ops-dev-retraining-trigger",
            s3_object_created(),
        ),
        put(queue, invocation_record("ops-dev-model-gate", package_state("PendingManualApproval")), {}): (
            "ops-dev-model-gate",
            package_state("PendingManualApproval"),
        ),
        put(queue, invocation_record("ops-dev-deployer", scheduled("ops-dev-deployer-check")), {}): (
            "ops-dev-deployer",
            scheduled("ops-dev-deployer-check"),
        ),
        put(queue, invocation_record("ops-dev-batch-launcher", s3_inference_created()), {}): (
            "ops-dev-batch-launcher",
            s3_inference_created(),
        ),
        put(
            queue,
            invocation_record("ops-dev-batch-launcher", scheduled("ops-dev-churn-batch"), condition="EventAgeExceeded"),
            {},
        ): ("ops-dev-batch-launcher", scheduled("ops-dev-churn-batch")),
    }
    lam = RecordingLambda()

    # When they are redriven
    report = run(queue, lam)

    # Then each payload is invoked asynchronously, unchanged, on the function its record names, and deleted
    assert report.redriven == {message: function for message, (function, _) in cases.items()}
    assert {c["InvocationType"] for c in lam.calls} == {"Event"}
    invoked = sorted((c["FunctionName"], json.loads(c["Payload"])["id"]) for c in lam.calls)
    assert invoked == sorted((function, event["id"]) for function, event in cases.values())
    for function, event in cases.values():
        assert {"FunctionName": function, "InvocationType": "Event", "Payload": json.dumps(event).encode()} in lam.calls
    assert all(how.startswith("on-failure record") for how in report.how.values())
    assert report.left == {} and report.failed == {}
    assert remaining(queue) == set()


def test_records_of_functions_of_other_environments_stay_in_the_queue(queue: tuple[Any, str]) -> None:
    # Given records of another environment's trigger, of a same-named function in another account
    # and another region, of a function the platform does not build, and one without a function ARN
    staging = put(queue, invocation_record("ops-staging-retraining-trigger", s3_object_created()), {})
    account = put(
        queue, invocation_record("ops-dev-retraining-trigger", s3_object_created(), account="210987654321"), {}
    )
    region = put(queue, invocation_record("ops-dev-model-gate", package_state("Approved"), region="us-east-1"), {})
    stranger = put(queue, invocation_record("ops-dev-reporting", s3_object_created()), {})
    broken = invocation_record("ops-dev-deployer", package_state("Approved"))
    broken["requestContext"]["functionArn"] = "ops-dev-deployer"
    unnamed = put(queue, broken, {})
    lam = RecordingLambda()

    report = run(queue, lam)

    # Then nothing is invoked, every message stays and the report says why
    assert lam.calls == []
    assert set(report.left) == {staging, account, region, stranger, unnamed}
    assert report.left[staging] == (
        f"a failed invocation of arn:aws:lambda:{REGION}:{ACCOUNT}:function:ops-staging-retraining-trigger:$LATEST: "
        "not a function of this environment"
    )
    assert "210987654321" in report.left[account] and "not a function of this environment" in report.left[account]
    assert "us-east-1" in report.left[region]
    assert "ops-dev-reporting" in report.left[stranger]
    assert "requestContext.functionArn is 'ops-dev-deployer'" in report.left[unnamed]
    assert remaining(queue) == {staging, account, region, stranger, unnamed}


def test_a_record_without_its_payload_stays(queue: tuple[Any, str]) -> None:
    record = invocation_record("ops-dev-deployer", package_state("Approved"))
    del record["requestPayload"]
    message = put(queue, record, {})

    report = run(queue, RecordingLambda())

    assert report.left == {
        message: "an invocation record of ops-dev-deployer without requestPayload: nothing to invoke it with"
    }
    assert remaining(queue) == {message}


def test_a_dry_run_of_records_invokes_nothing_and_deletes_nothing(queue: tuple[Any, str]) -> None:
    # Given a record of the batch launcher and one of another environment
    ours = put(queue, invocation_record("ops-dev-batch-launcher", s3_inference_created()), {})
    theirs = put(queue, invocation_record("ops-prod-batch-launcher", s3_inference_created()), {})
    lam = RecordingLambda()

    # When a dry run reads them
    report = run(queue, lam, dry_run=True)

    # Then it says what it would do, invokes nothing, and both stay, visible at once
    assert lam.calls == []
    assert report.redriven == {ours: "ops-dev-batch-launcher"}
    assert list(report.left) == [theirs]
    assert report.lines()[:2] == [
        "would redrive: 1, left in the queue: 1, failed: 0",
        f"  would redrive {ours} -> ops-dev-batch-launcher (on-failure record, RetriesExhausted)",
    ]
    assert remaining(queue) == {ours, theirs}


def test_failed_invocations_go_back_to_the_handler_whose_rule_feeds_them(queue: tuple[Any, str]) -> None:
    # Given Lambda's dead letters of three handlers in the shared functions DLQ, queued before
    # the functions recorded failures through on-failure destinations
    data = put(queue, s3_object_created(), lambda_failure())
    pending = put(queue, package_state("PendingManualApproval"), lambda_failure())
    approved = put(queue, package_state("Approved"), lambda_failure())
    check = put(queue, scheduled("ops-dev-deployer-check"), lambda_failure())
    lam = RecordingLambda()

    # When they are redriven
    report = run(queue, lam)

    # Then each event is invoked asynchronously on its handler, unchanged, and deleted
    assert report.redriven == {
        data: "ops-dev-retraining-trigger",
        pending: "ops-dev-model-gate",
        approved: "ops-dev-deployer",
        check: "ops-dev-deployer",
    }
    assert {c["InvocationType"] for c in lam.calls} == {"Event"}
    sent = {json.loads(c["Payload"])["id"]: c["FunctionName"] for c in lam.calls}
    assert sent[s3_object_created()["id"]] == "ops-dev-retraining-trigger"
    assert json.loads(next(c["Payload"] for c in lam.calls if c["FunctionName"] == "ops-dev-model-gate")) == (
        package_state("PendingManualApproval")
    )
    assert remaining(queue) == set()
    assert report.left == {} and report.failed == {}
    # and the report says the handler was inferred, not named
    assert set(report.how.values()) == {redrive.INFERRED}
    assert f"  redriven {data} -> ops-dev-retraining-trigger ({redrive.INFERRED})" in report.lines()


def test_dead_letters_of_the_launchers_go_back_to_the_launchers_not_the_trigger(queue: tuple[Any, str]) -> None:
    # Given Lambda's dead letters of a monitoring run (scheduled, and on a label delivery) and of a
    # batch transform (scheduled, and on an input file), and one undelivered ground-truth event
    monitor_schedule = put(queue, scheduled("ops-dev-churn-monitoring"), lambda_failure())
    labels = put(queue, s3_object_created("monitoring/churn/ground-truth/labels.jsonl"), lambda_failure())
    batch_schedule = put(queue, scheduled("ops-dev-churn-batch"), lambda_failure())
    inputs = put(queue, s3_object_created("inference/churn/2026-11-30.csv"), lambda_failure())
    undelivered_labels = put(
        queue,
        s3_object_created("monitoring/fraud/ground-truth/labels.jsonl"),
        undelivered("ops-dev-ground-truth-landed-0", function_arn("ops-dev-monitoring-launcher")),
    )
    lam = RecordingLambda()

    # When they are redriven
    report = run(queue, lam)

    # Then each goes to its launcher, none to the retraining trigger, and all are deleted
    assert report.redriven == {
        monitor_schedule: "ops-dev-monitoring-launcher",
        labels: "ops-dev-monitoring-launcher",
        batch_schedule: "ops-dev-batch-launcher",
        inputs: "ops-dev-batch-launcher",
        undelivered_labels: "ops-dev-monitoring-launcher",
    }
    assert "ops-dev-retraining-trigger" not in {c["FunctionName"] for c in lam.calls}
    assert remaining(queue) == set()


def test_an_undelivered_event_goes_to_the_target_eventbridge_names(queue: tuple[Any, str]) -> None:
    message = put(
        queue, package_state("Approved"), undelivered("ops-dev-model-approved-0", function_arn("ops-dev-deployer"))
    )
    lam = RecordingLambda()

    report = run(queue, lam)

    assert report.redriven == {message: "ops-dev-deployer"}
    assert [c["FunctionName"] for c in lam.calls] == ["ops-dev-deployer"]
    assert remaining(queue) == set()


def test_a_message_whose_invocation_fails_stays_in_the_queue(queue: tuple[Any, str]) -> None:
    # Given two dead letters, and a gate Lambda refuses to invoke right now
    gate = put(queue, package_state("PendingManualApproval"), lambda_failure())
    trigger = put(queue, s3_object_created(), lambda_failure())

    report = run(queue, RecordingLambda(failing=("ops-dev-model-gate",)))

    # Then the trigger's is redriven and deleted; the gate's stays, visible at once, and is reported
    assert report.redriven == {trigger: "ops-dev-retraining-trigger"}
    assert list(report.failed) == [gate]
    assert "TooManyRequestsException" in report.failed[gate]
    assert remaining(queue) == {gate}


def test_messages_for_the_audit_log_and_unknown_messages_stay(queue: tuple[Any, str]) -> None:
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ops-dev/audit"
    audit = put(queue, package_state("Approved"), undelivered("ops-dev-audit-registry", logs))
    foreign = put(queue, s3_object_created(), undelivered("ops-dev-data-landed", function_arn("other-function")))
    text = put(queue, "not an event", lambda_failure())
    mismatch = put(queue, s3_object_created(), undelivered("ops-dev-data-landed", function_arn("ops-dev-deployer")))
    bare = put(queue, s3_object_created(), {})
    lam = RecordingLambda()

    report = run(queue, lam)

    assert lam.calls == []
    assert set(report.left) == {audit, foreign, text, mismatch, bare}
    assert "/ops-dev/audit" in report.left[audit] and "make replay" in report.left[audit]
    assert "not JSON" in report.left[text]
    assert "do not send this event there" in report.left[mismatch]
    assert remaining(queue) == {audit, foreign, text, mismatch, bare}


def test_a_dry_run_invokes_nothing_deletes_nothing_and_says_what_it_would_do(queue: tuple[Any, str]) -> None:
    message = put(queue, s3_object_created(), lambda_failure())
    lam = RecordingLambda()

    report = run(queue, lam, dry_run=True)

    assert lam.calls == []
    assert report.redriven == {message: "ops-dev-retraining-trigger"}
    assert report.lines()[0] == "would redrive: 1, left in the queue: 0, failed: 0"
    assert remaining(queue) == {message}


@pytest.mark.parametrize(
    ("event", "handler"),
    [
        (s3_object_created(), "retraining-trigger"),
        (package_state("PendingManualApproval"), "model-gate"),
        (package_state("Approved"), "deployer"),
        (package_state("Rejected"), None),
        (scheduled("ops-dev-fraud-schedule"), "retraining-trigger"),
        (scheduled("ops-dev-deployer-check"), "deployer"),
        # The monitoring launcher: a model's monitoring schedule, and labels under monitoring/<model>/ground-truth/
        (scheduled("ops-dev-fraud-monitoring"), "monitoring-launcher"),
        (s3_object_created("monitoring/churn/ground-truth/2026/11/30/labels.jsonl"), "monitoring-launcher"),
        # The batch launcher: a model's batch schedule, inputs under inference/<model>/, transform job ends
        (scheduled("ops-dev-fraud-batch"), "batch-launcher"),
        (s3_object_created("inference/churn/2026-11-30.csv"), "batch-launcher"),
        (
            {"source": "aws.sagemaker", "detail-type": "SageMaker Transform Job State Change", "detail": {}},
            "batch-launcher",
        ),
        # No rule sends these to a handler: endpoint capture, reports, a rule the platform does not have
        (s3_object_created("monitoring/churn/capture/ops-dev-churn/AllTraffic/2026/11/30/10/x.jsonl"), None),
        (s3_object_created("monitoring/churn/reports/run-1/report.html"), None),
        (s3_object_created("monitoring/ground-truth/labels.jsonl"), None),
        (scheduled("ops-dev-some-other-rule"), None),
        ({"source": "mlops.platform", "detail-type": "RetrainingRequested", "detail": {}}, "retraining-trigger"),
        ({"source": "mlops.platform", "detail-type": "ModelApproved", "detail": {}}, None),
        (["not", "an", "event"], None),
    ],
)
def test_which_handler_an_event_belongs_to(event: Any, handler: str | None) -> None:
    assert redrive.handler_for(event) == handler


def _events_matching(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """One event per way the rule can match: its schedule, or each source, detail-type, approval status and key prefix."""
    properties = rule["Properties"]
    if "ScheduleExpression" in properties:
        return [scheduled(properties["Name"])]
    pattern = properties["EventPattern"]
    detail = pattern.get("detail", {})
    details: list[dict[str, Any]] = [
        {"ModelApprovalStatus": status} for status in detail.get("ModelApprovalStatus", [])
    ] + [{"object": {"key": f"{prefix['prefix']}part-0001.csv"}} for prefix in detail.get("object", {}).get("key", [])]
    return [
        {"source": source, "detail-type": detail_type, "resources": [], "detail": shown}
        for source in pattern["source"]
        for detail_type in pattern["detail-type"]
        for shown in details or [{}]
    ]


def test_the_routes_agree_with_the_synthesized_rules() -> None:
    """Every event a rule sends to a handler, in the automation and the model stacks, is routed to that same handler.

    The configuration has each kind of rule: data sets, ground truth and batch inputs landing in
    the data bucket (one rule each, told apart by key prefix), and per model a retraining,
    monitoring and batch schedule (told apart by the rule's name, which a Scheduled Event carries
    in `resources`: Amazon EventBridge User Guide, "Creating a rule that runs on a schedule",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html).
    """
    from tests.synth import synth

    models = [
        {"name": "churn"},
        {"name": "fraud", "schedule": "rate(1 day)", "batch": {"schedule": "rate(12 hours)"}},
        {"name": "upsell", "serving": "batch", "batch": {"schedule": "rate(1 day)"}},
    ]
    settings = platform(models=models)
    config = load_environment(settings, "dev")
    _, templates = synth("dev", settings)
    automation = templates["automation"].to_json()["Resources"]
    functions = {
        logical: body["Properties"]["FunctionName"]
        for logical, body in automation.items()
        if body["Type"] == "AWS::Lambda::Function"
    }
    roles = {name: role for role, name in redrive.handler_functions(config).items()}

    def target_function(arn: Any) -> str | None:
        # A model stack names the automation stack's function through an export of its ARN.
        if "Fn::GetAtt" in arn:
            return functions.get(arn["Fn::GetAtt"][0])
        imported = arn.get("Fn::ImportValue", "")
        return next((name for logical, name in functions.items() if f"FnGetAtt{logical}Arn" in imported), None)

    routed: dict[str, set[str]] = {}
    for template in templates.values():
        for rule in (body for body in template.to_json()["Resources"].values() if body["Type"] == "AWS::Events::Rule"):
            for target in rule["Properties"]["Targets"]:
                function = target_function(target["Arn"]) if isinstance(target["Arn"], dict) else None
                if function is None:
                    continue
                for event in _events_matching(rule):
                    assert redrive.handler_for(event) == roles[function], (rule["Properties"]["Name"], event)
                    routed.setdefault(roles[function], set()).add(rule["Properties"]["Name"])
    # Every handler is fed by some rule, and each kind of rule above was checked
    assert set(routed) == set(redrive.HANDLERS)
    assert {"ops-dev-churn-monitoring", "ops-dev-upsell-monitoring", "ops-dev-ground-truth-landed-0"} <= (
        routed["monitoring-launcher"]
    )
    assert {"ops-dev-fraud-batch", "ops-dev-upsell-batch", "ops-dev-batch-input-landed"} <= routed["batch-launcher"]
    assert {"ops-dev-fraud-schedule", "ops-dev-data-landed"} <= routed["retraining-trigger"]


def test_without_credentials_it_stops_with_one_line(
    no_credentials: None, settings: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert redrive.main(["--env", "dev", "--queue", "functions"], settings=settings) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("redrive: AWS credentials: Unable to locate credentials")


def test_an_unknown_queue_is_named_in_the_error(settings: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert redrive.main(["--env", "dev", "--queue", "orders"], settings=settings) == 2
    assert capsys.readouterr().err == (
        "redrive: QUEUE='orders': expected one of events, functions (or ops-dev-events-dlq, ops-dev-functions-dlq)\n"
    )


def test_the_cli_redrives_the_named_queue(
    aws: boto3.session.Session, settings: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="ops-dev-events-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="plain text", MessageAttributes=lambda_failure())

    assert redrive.main(["--env", "dev", "--queue", "events", "--dry-run"], session=aws, settings=settings) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ops-dev-events-dlq (dry run)"
    assert out[1] == "would redrive: 0, left in the queue: 1, failed: 0"
