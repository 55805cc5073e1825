"""The synthesized rules loaded into moto EventBridge, each delivering to its own SQS queue.

Building that world takes about 80 calls (a queue, put_rule and put_targets per rule), as much
as most routing tests cost themselves, so a test module builds it once (`RoutingWorld`) and
`reset` gives every test a world in which only its own puts have happened: every rule queue
empty, and every other service's state (the pipelines, tables and parameters a test creates)
gone, as `mock_aws` would leave it.
"""

from __future__ import annotations

import json
import os
from typing import Any
from unittest import mock

import boto3
from moto.backends import get_backend
from moto.core.base_backend import BackendDict

from tests.cfn import ACCOUNT, REGION, Resolver

# The services the world lives in; `reset` empties their queues and keeps their rules.
_KEPT = frozenset({"events", "sqs"})


def synthesized_rules(templates: dict[str, dict[str, Any]], resolver: Resolver) -> dict[str, dict[str, Any]]:
    """Every pattern rule of the environment: name -> {pattern, bus}."""
    rules = {}
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::Events::Rule" or "EventPattern" not in resource["Properties"]:
                continue
            props = resolver.resolve(resource["Properties"], template)
            rules[props["Name"]] = {"pattern": props["EventPattern"], "bus": props.get("EventBusName", "default")}
    return rules


class RoutingWorld:
    """moto EventBridge holding `rules` (name -> {pattern, bus}), each rule delivering to a queue of its name.

    Built inside an active `mock_aws`.
    """

    def __init__(self, rules: dict[str, dict[str, Any]]) -> None:
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        for bus in {r["bus"] for r in rules.values()} - {"default"}:
            self.events.create_event_bus(Name=bus)
        self.queues: dict[str, str] = {}
        for name, rule in rules.items():
            self.events.put_rule(Name=name, EventPattern=json.dumps(rule["pattern"]), EventBusName=rule["bus"])
            url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.events.put_targets(Rule=name, EventBusName=rule["bus"], Targets=[{"Id": "capture", "Arn": arn}])
            self.queues[name] = url

    def put(self, event: dict[str, Any], bus: str = "default") -> None:
        """Put `event` (source, detail-type, detail, resources) on `bus`."""
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
            "EventBusName": bus,
        }
        result = self.events.put_events(Entries=[entry])
        assert result["FailedEntryCount"] == 0

    def matched(self) -> dict[str, list[dict[str, Any]]]:
        """What each rule that took an event delivered since the last call: rule name -> events."""
        out = {}
        for name, url in self.queues.items():
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if messages:
                out[name] = [json.loads(m["Body"]) for m in messages]
        return out

    def reset(self) -> None:
        """Empty every rule's queue and drop every other service's state; fails if a queue kept a message.

        Works on moto's backends, not through the API: 40 calls per test would cost what building
        the world does, and SQS refuses a second PurgeQueue on a queue "within the last 60 seconds"
        (botocore reference, "SQS / Client / exceptions / PurgeQueueInProgress",
        https://docs.aws.amazon.com/botocore/latest/reference/services/sqs/client/exceptions/PurgeQueueInProgress.html),
        which moto enforces unless told not to.
        """
        for backends in list(BackendDict._instances):
            if backends.service_name not in _KEPT:
                for account in backends.values():
                    account.reset()
        sqs = get_backend("sqs")[ACCOUNT][REGION]
        assert set(sqs.queues) == set(self.queues), "a test created or deleted a queue of the routing world"
        with mock.patch.dict(os.environ, {"MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}):
            for name in self.queues:
                # Purging drops in-flight messages too: a message a test received (and did not
                # delete) would otherwise come back to a later test when its visibility timeout ends.
                sqs.purge_queue(name)
        for name in self.queues:
            queue = sqs.queues[name]
            left = (
                queue.approximate_number_of_messages,
                queue.approximate_number_of_messages_not_visible,
                queue.approximate_number_of_messages_delayed,
            )
            assert left == (0, 0, 0), f"queue {name} still holds messages (visible, in flight, delayed): {left}"
