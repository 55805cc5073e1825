"""The client pool of the moto tests lends a client again only if no test changed it."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from tests.handlers.clients import ClientPool
from tests.handlers.conftest import REGION


def test_an_untouched_client_is_lent_again_for_the_same_arguments(aws: None) -> None:
    pool = ClientPool()
    with pool.lend():
        first = boto3.client("sqs", region_name=REGION)
        first.list_queues()
        _ = first.exceptions
    with pool.lend():
        assert boto3.client("sqs", region_name=REGION) is first
        assert boto3.client("sqs", region_name="eu-central-1") is not first
        assert boto3.client("sqs", region_name=REGION, config=Config(retries={"max_attempts": 1})) is not first


def test_a_client_built_under_other_credentials_is_another(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ClientPool()
    with pool.lend():
        first = boto3.client("sqs", region_name=REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another")
    with pool.lend():
        assert boto3.client("sqs", region_name=REGION) is not first


def test_a_client_whose_events_a_test_changed_is_not_lent_again(aws: None) -> None:
    pool = ClientPool()
    with pool.lend():
        stubbed = boto3.client("sqs", region_name=REGION)
        Stubber(stubbed).activate()
    with pool.lend():
        assert boto3.client("sqs", region_name=REGION) is not stubbed


def test_a_client_a_test_set_an_attribute_on_is_not_lent_again(aws: None) -> None:
    pool = ClientPool()
    with pool.lend():
        patched = boto3.client("sqs", region_name=REGION)
        patched.list_queues = lambda **_: {"QueueUrls": []}
    with pool.lend():
        assert boto3.client("sqs", region_name=REGION) is not patched


def test_boto3_client_is_restored_after_lending(aws: None) -> None:
    outer = boto3.client
    with ClientPool().lend():
        assert boto3.client is not outer
    assert boto3.client is outer
