"""Every AWS service that writes into an encrypted or policy-protected resource is let in twice.

A service delivering on the platform's behalf (EventBridge to a topic, queue or log group,
CloudWatch alarms to the topic, Lambda to its dead-letter queue, CloudWatch Logs to its key)
meets the resource's own policy and, when the resource is encrypted, the KMS key policy. Both
must admit it; neither failure shows at deploy time: the message is dropped later.

What each service needs, from AWS documentation:

- EventBridge User Guide, "Using resource-based policies for Amazon EventBridge"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html):
  SNS topics allow `events.amazonaws.com` `sns:Publish`, and "You can't use Condition blocks
  in Amazon SNS topic policies for EventBridge"; SQS queues allow `sqs:SendMessage` with
  `ArnEquals aws:SourceArn` the rule's ARN; CloudWatch Logs needs a resource policy letting
  `events.amazonaws.com` and `delivery.logs.amazonaws.com` call `logs:CreateLogStream` and
  `logs:PutLogEvents` on `log-group:<name>:*`.
- The same page, "AWS Lambda permissions": the function's policy allows `events.amazonaws.com`
  `lambda:InvokeFunction` with the rule as `aws:SourceArn`.
- EventBridge User Guide, "Event retry policy and using dead-letter queues"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html): the same
  queue statement for a rule's dead-letter queue.
- Amazon SNS Developer Guide, "Key management", "Enable compatibility between event sources
  from AWS services and encrypted topics"
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): the service principal
  needs `kms:GenerateDataKey*` and `kms:Decrypt` in the key policy.
- Amazon SQS Developer Guide, "Amazon SQS key management"
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html):
  a producer needs `kms:GenerateDataKey` and `kms:Decrypt`; AWS services sending to an
  encrypted queue need the same in the key policy.
- AWS re:Post Knowledge Center, "Why didn't I receive an SNS notification for my CloudWatch
  alarm trigger?" (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger):
  the topic policy allows `cloudwatch.amazonaws.com` `sns:Publish`, restricted to the alarms
  with `ArnLike aws:SourceArn`; CloudWatch User Guide, "Using Amazon CloudWatch alarms"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html).
- Lambda Developer Guide, "Capturing records of Lambda asynchronous invocations"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): Lambda
  sends an on-failure record to an SQS queue with the function's execution role, which needs
  `sqs:SendMessage` on the queue (and, the queue being encrypted, the producer's key actions of
  the SQS key management page above).
- CloudFormation, "AWS::S3::Bucket EventBridgeConfiguration"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-s3-bucket-eventbridgeconfiguration.html):
  a bucket sends its events to EventBridge only when `EventBridgeEnabled` is on; EventBridge
  User Guide, "Events from AWS services"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event.html): they
  arrive on the default event bus.
- CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS Key Management
  Service" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html):
  the key policy allows `logs.<region>.amazonaws.com` with an `ArnLike
  kms:EncryptionContext:aws:logs:arn` condition naming the log group.

No page says which condition keys EventBridge's or CloudWatch's KMS requests carry, so key
grants are checked with no `aws:SourceArn`/`aws:SourceAccount` in the request: a grant that
holds without them holds whichever way the service calls.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.access.cfn_resolver import ACCOUNT, PARTITION, REGION
from tests.access.iam_eval import Request, evaluate
from tests.contracts.conftest import Synthesized
from tests.contracts.deployed import (
    Deployed,
    alarm_arn,
    deployed,
    log_group_arn,
    resource_policy_allows,
    resource_policy_denies,
)

# Delivery by AWS services is over TLS, so the platform's "deny without TLS" statements must
# not catch it; keeping the key in every request proves exactly that.
TLS = {"aws:SecureTransport": "true"}
# What a service principal needs on a customer managed key to publish to an encrypted topic or
# queue (the SNS and SQS key management pages above).
PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
# What CloudWatch Logs needs on the key of an encrypted log group, minus kms:Describe*, which
# carries no encryption context (CloudWatch Logs encryption page above).
LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey")

_ARN = rf"arn:{PARTITION}:(?P<service>[a-z0-9-]+):{REGION}:{ACCOUNT}:(?P<resource>.+)"
# The target ARN forms EventBridge accepts per service (PutTargets, Target.Arn; the log group
# form is what aws-cdk-lib's events-targets CloudWatchLogGroup builds with formatArn, without
# the ":*" that Fn::GetAtt returns).
TARGET_FORMS = {
    "lambda": re.compile(r"function:[A-Za-z0-9_-]{1,64}"),
    "sns": re.compile(r"[A-Za-z0-9_-]{1,256}"),
    "sqs": re.compile(r"[A-Za-z0-9_-]{1,80}"),
    "logs": re.compile(r"log-group:[A-Za-z0-9_./#-]{1,512}"),
}


def _rules(env: Deployed) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule name, rule ARN, resolved target) for every target of every rule."""
    found = []
    for rule in env.of_type("AWS::Events::Rule"):
        for target in rule.prop("Targets", []):
            found.append((rule.prop("Name"), rule.att("Arn"), target))
    return found


def _service(arn: str) -> str:
    match = re.fullmatch(_ARN, arn)
    assert match, f"not an ARN of this account and region: {arn!r}"
    return match.group("service")


def _key_allows(env: Deployed, key: str, service: str, actions: tuple[str, ...], context: dict[str, Any]) -> list[str]:
    """The actions of `actions` the key policy does NOT allow `service` (empty when all are)."""
    policy = env.key_policy(key)
    return [
        a
        for a in actions
        if not resource_policy_allows(policy, service=service, action=a, resource="*", context=context)
    ]


def test_every_rule_target_arn_is_in_the_form_its_service_accepts(synthesized_env: Synthesized) -> None:
    """Given every rule target, then its ARN is a plain function, topic, queue or log group ARN
    and its dead-letter queue a queue ARN; a log group ARN ending in ':*' is accepted by
    CloudFormation and silently delivers nothing."""
    env = deployed(synthesized_env)
    targets = _rules(env)
    assert targets, f"{env.label}: no rule targets"
    for rule, _, target in targets:
        match = re.fullmatch(_ARN, target["Arn"])
        assert match, f"{rule}: target {target['Arn']!r} is not an ARN of this account and region"
        service, resource = match.group("service", "resource")
        assert service in TARGET_FORMS, f"{rule}: unexpected target service {service!r}"
        assert TARGET_FORMS[service].fullmatch(resource), f"{rule}: {target['Arn']!r} is not a {service} target ARN"
        dlq = target.get("DeadLetterConfig", {}).get("Arn")
        assert dlq is not None, f"{rule}: target {target['Id']} has no dead-letter queue"
        assert _service(dlq) == "sqs" and TARGET_FORMS["sqs"].fullmatch(dlq.rsplit(":", 1)[1]), (rule, dlq)


def test_eventbridge_may_invoke_every_function_it_targets(synthesized_env: Synthesized) -> None:
    """Given a rule targeting a function, then the function's policy lets EventBridge invoke it
    for exactly that rule (a lambda:InvokeFunction permission with the rule as source)."""
    env = deployed(synthesized_env)
    function_targets = [(rule, arn, t) for rule, arn, t in _rules(env) if _service(t["Arn"]) == "lambda"]
    assert function_targets, f"{env.label}: no rule invokes a function"
    permissions = [
        (p.prop("FunctionName"), p.prop("Action"), p.prop("Principal"), p.prop("SourceArn"))
        for p in env.of_type("AWS::Lambda::Permission")
    ]
    for rule, rule_arn, target in function_targets:
        assert (target["Arn"], "lambda:InvokeFunction", "events.amazonaws.com", rule_arn) in permissions, (
            f"{rule}: no permission lets {rule_arn} invoke {target['Arn']}"
        )


def test_eventbridge_may_publish_to_every_topic_it_targets(synthesized_env: Synthesized) -> None:
    """Given a rule targeting an encrypted topic, then the topic policy lets EventBridge
    publish without conditions and the topic's key lets it generate and decrypt data keys."""
    env = deployed(synthesized_env)
    topic_targets = [(rule, t) for rule, _, t in _rules(env) if _service(t["Arn"]) == "sns"]
    assert topic_targets, f"{env.label}: no rule publishes to a topic"
    for rule, target in topic_targets:
        topic = env.topic_by_arn(target["Arn"])
        policies = env.topic_policies(topic)
        assert any(
            resource_policy_allows(
                p, service="events.amazonaws.com", action="sns:Publish", resource=topic.ref, context=TLS
            )
            for p in policies
        ), f"{rule}: the topic policy does not let EventBridge publish"
        key = topic.prop("KmsMasterKeyId")
        assert key is not None, f"{topic.ref} is not encrypted"
        assert not _key_allows(env, key, "events.amazonaws.com", PUBLISH_KEY_ACTIONS, {}), rule


def test_eventbridge_may_send_to_every_dead_letter_queue_of_its_rules(synthesized_env: Synthesized) -> None:
    """Given a rule target with a dead-letter queue, then the queue policy admits EventBridge
    on behalf of exactly that rule and the queue's key lets EventBridge encrypt the message."""
    env = deployed(synthesized_env)
    checked = 0
    for rule, rule_arn, target in _rules(env):
        queue = env.queue_by_arn(target["DeadLetterConfig"]["Arn"])
        context = {**TLS, "aws:SourceArn": rule_arn, "aws:SourceAccount": ACCOUNT}
        assert any(
            resource_policy_allows(
                p, service="events.amazonaws.com", action="sqs:SendMessage", resource=queue.att("Arn"), context=context
            )
            for p in env.queue_policies(queue)
        ), f"{rule} ({rule_arn}): the policy of {queue.att('Arn')} does not admit EventBridge"
        assert not _key_allows(env, queue.prop("KmsMasterKeyId"), "events.amazonaws.com", PUBLISH_KEY_ACTIONS, {}), rule
        checked += 1
    assert checked, f"{env.label}: no dead-letter queue checked"


def test_queue_policies_admit_eventbridge_only_for_the_platforms_rules(synthesized_env: Synthesized) -> None:
    """Given the events dead-letter queue, then a rule of another application in the account
    may not send to it (the statements are scoped by the rule ARN)."""
    env = deployed(synthesized_env)
    (_, _, target), *_ = _rules(env)
    queue = env.queue_by_arn(target["DeadLetterConfig"]["Arn"])
    stranger = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule"
    context = {**TLS, "aws:SourceArn": stranger, "aws:SourceAccount": ACCOUNT}
    assert not any(
        resource_policy_allows(
            p, service="events.amazonaws.com", action="sqs:SendMessage", resource=queue.att("Arn"), context=context
        )
        for p in env.queue_policies(queue)
    )


def test_eventbridge_may_write_to_every_log_group_it_targets(synthesized_env: Synthesized) -> None:
    """Given a rule targeting a log group, then a CloudWatch Logs resource policy lets
    EventBridge create streams and put events in that group."""
    env = deployed(synthesized_env)
    log_targets = [(rule, t) for rule, _, t in _rules(env) if _service(t["Arn"]) == "logs"]
    assert log_targets, f"{env.label}: no rule writes to a log group"
    policies = env.log_resource_policies()
    for rule, target in log_targets:
        stream = f"{target['Arn']}:log-stream:{rule}-stream"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            assert any(
                resource_policy_allows(p, service="events.amazonaws.com", action=action, resource=stream, context={})
                for p in policies
            ), f"{rule}: no log resource policy lets EventBridge {action} on {stream}"


def test_every_alarm_may_publish_to_the_topic_it_notifies(synthesized_env: Synthesized) -> None:
    """Given every alarm action that is the platform's topic, then the topic policy admits
    CloudWatch for that alarm and the topic's key lets CloudWatch encrypt the notification."""
    env = deployed(synthesized_env)
    topics = {t.ref: t for t in env.of_type("AWS::SNS::Topic")}
    notified = 0
    for alarm in env.of_type("AWS::CloudWatch::Alarm"):
        name = alarm.prop("AlarmName")
        actions = [
            *alarm.prop("AlarmActions", []),
            *alarm.prop("OKActions", []),
            *alarm.prop("InsufficientDataActions", []),
        ]
        for action in actions:
            if action not in topics:
                continue
            topic = topics[action]
            context = {**TLS, "aws:SourceArn": alarm_arn(name), "aws:SourceAccount": ACCOUNT}
            assert any(
                resource_policy_allows(
                    p, service="cloudwatch.amazonaws.com", action="sns:Publish", resource=topic.ref, context=context
                )
                for p in env.topic_policies(topic)
            ), f"alarm {name}: the policy of {topic.ref} does not let CloudWatch publish"
            missing = _key_allows(
                env, topic.prop("KmsMasterKeyId"), "cloudwatch.amazonaws.com", PUBLISH_KEY_ACTIONS, {}
            )
            assert not missing, f"alarm {name}: the key of {topic.ref} does not allow CloudWatch {missing}"
            notified += 1
    assert notified, f"{env.label}: no alarm notifies the topic"


def test_the_topic_admits_only_the_platforms_alarms(synthesized_env: Synthesized) -> None:
    """Given an alarm outside the platform's names, then CloudWatch may not publish it to the topic."""
    env = deployed(synthesized_env)
    for topic in env.of_type("AWS::SNS::Topic"):
        context = {**TLS, "aws:SourceArn": alarm_arn("someone-elses-alarm"), "aws:SourceAccount": ACCOUNT}
        assert not any(
            resource_policy_allows(
                p, service="cloudwatch.amazonaws.com", action="sns:Publish", resource=topic.ref, context=context
            )
            for p in env.topic_policies(topic)
        ), topic.ref


def test_every_function_may_send_failed_invocations_to_its_on_failure_queue(synthesized_env: Synthesized) -> None:
    """Given a function with an on-failure destination, then its role may send to the queue and
    use the queue's key, and the key policy delegates to the account's IAM policies."""
    env = deployed(synthesized_env)
    functions = list(env.of_type("AWS::Lambda::Function"))
    assert functions, f"{env.label}: no functions"
    configs = list(env.of_type("AWS::Lambda::EventInvokeConfig"))
    for function in functions:
        name, role = function.prop("FunctionName"), function.prop("Role")
        (config,) = [c for c in configs if c.prop("FunctionName") == function.ref]
        queue = env.queue_by_arn(config.prop("DestinationConfig")["OnFailure"]["Destination"])
        key = env.key_policy(queue.prop("KmsMasterKeyId"))
        key_arn = next(k.att("Arn") for k in env.of_type("AWS::KMS::Key") if k.prop("KeyPolicy") == key)
        policies = env.role_policies(role)
        requests = [Request("sqs:SendMessage", queue.att("Arn")), *(Request(a, key_arn) for a in PUBLISH_KEY_ACTIONS)]
        for request in requests:
            assert evaluate(request, policies).allowed, f"{name}: its role may not {request}"
        delegated = f"arn:{PARTITION}:iam::{ACCOUNT}:root"
        assert any(
            s["Effect"] == "Allow"
            and s.get("Principal", {}).get("AWS") in (delegated, ACCOUNT)
            and s["Action"] in ("kms:*", ["kms:*"])
            for s in key["Statement"]
        ), f"{name}: the key policy does not let IAM policies of the account grant its use"
        for policy in env.queue_policies(queue):
            assert not resource_policy_denies(
                policy, action="sqs:SendMessage", resource=queue.att("Arn"), context=TLS
            ), f"{name}: the queue policy denies the function's delivery"


def test_buckets_named_by_rules_send_their_events_to_eventbridge(synthesized_env: Synthesized) -> None:
    """Given a rule on S3 events of a bucket, then that bucket has EventBridge delivery on and
    the rule listens on the default bus, where S3 sends its events."""
    env = deployed(synthesized_env)
    buckets = {b.prop("BucketName"): b for b in env.of_type("AWS::S3::Bucket")}
    checked = 0
    for rule in env.of_type("AWS::Events::Rule"):
        pattern = rule.prop("EventPattern") or {}
        if pattern.get("source") != ["aws.s3"]:
            continue
        assert rule.prop("EventBusName", "default") == "default", f"{rule.prop('Name')} is not on the default bus"
        for name in pattern["detail"]["bucket"]["name"]:
            assert name in buckets, f"{rule.prop('Name')}: no bucket {name} in the environment"
            config = buckets[name].prop("NotificationConfiguration", {})
            assert config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") is True, name
            checked += 1
    assert checked, f"{env.label}: no rule on S3 events"


def test_cloudwatch_logs_may_use_the_key_of_every_encrypted_log_group(synthesized_env: Synthesized) -> None:
    """Given an encrypted log group, then its key lets CloudWatch Logs of this region use it for
    that group, and only for log groups of this account (the encryption-context condition)."""
    env = deployed(synthesized_env)
    groups = [g for g in env.of_type("AWS::Logs::LogGroup") if g.prop("KmsKeyId") is not None]
    assert groups, f"{env.label}: no encrypted log group"
    service = f"logs.{REGION}.amazonaws.com"
    for group in groups:
        own = {"kms:EncryptionContext:aws:logs:arn": log_group_arn(group.prop("LogGroupName"))}
        missing = _key_allows(env, group.prop("KmsKeyId"), service, LOGS_KEY_ACTIONS, own)
        assert not missing, f"{group.prop('LogGroupName')}: the key does not allow CloudWatch Logs {missing}"
        foreign = {"kms:EncryptionContext:aws:logs:arn": f"arn:{PARTITION}:logs:{REGION}:999999999999:log-group:x"}
        for context in (foreign, {}):
            refused = _key_allows(env, group.prop("KmsKeyId"), service, LOGS_KEY_ACTIONS, context)
            assert refused == list(LOGS_KEY_ACTIONS), (
                f"{group.prop('LogGroupName')}: the key lets CloudWatch Logs use it outside this account's "
                f"log groups ({context or 'no encryption context'})"
            )


@pytest.mark.parametrize(
    ("arn", "accepted"),
    [
        (f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/mlops-dev/audit", True),
        (f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/mlops-dev/audit:*", False),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mlops-dev-deployer", True),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:mlops-dev-events-dlq", True),
        (f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/mlops-dev-events-dlq", False),
    ],
)
def test_the_target_form_check_tells_accepted_from_refused_arns(arn: str, accepted: bool) -> None:
    """The form check itself: the GetAtt form of a log group ARN and a queue URL are refused."""
    match = re.fullmatch(_ARN, arn)
    ok = (
        bool(match)
        and match is not None
        and bool(TARGET_FORMS[match.group("service")].fullmatch(match.group("resource")))
    )
    assert ok is accepted
