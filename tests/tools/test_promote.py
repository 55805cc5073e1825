"""make promote: the PromotionRequested entry, and one line with nothing sent when an input is wrong.

STS and EventBridge are stubbed with botocore's Stubber, which also checks each request against
the service model (so the PutEvents entry has the shape the API accepts).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from platform_common.domain_events import SOURCE
from platform_common.promotion_request import PROMOTION_REQUESTED
from stacks.config.delivery import load_delivery
from tests.delivery.fixtures import ACCOUNTS, REGIONS, three_accounts
from tools.promote import Caller, PromotionError, main, promotion_request

DEV_PACKAGE = f"arn:aws:sagemaker:{REGIONS['dev']}:{ACCOUNTS['dev']}:model-package/churn-abc123/7"
ENGINEER = f"arn:aws:sts::{ACCOUNTS['staging']}:assumed-role/mlops-staging-mlops-engineer/alice"


def _client(name: str) -> Any:
    return boto3.client(name, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


class _Session:
    """STS answers as `account`; EventBridge accepts one entry (or nothing is expected of it)."""

    def __init__(self, account: str, *, expect_put: bool) -> None:
        self.sts, self.events = _client("sts"), _client("events")
        sts, self.events_stub = Stubber(self.sts), Stubber(self.events)
        arn = ENGINEER.replace(ACCOUNTS["staging"], account)
        sts.add_response("get_caller_identity", {"Account": account, "Arn": arn, "UserId": "AROAEXAMPLE:alice"})
        if expect_put:
            self.events_stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})
        sts.activate()
        self.events_stub.activate()

    def client(self, name: str, region_name: str | None = None) -> Any:
        return {"sts": self.sts, "events": self.events}[name]


def test_the_entry_names_model_package_and_caller_on_the_receiving_environments_bus() -> None:
    entry = promotion_request(
        load_delivery(three_accounts()), "staging", "churn", DEV_PACKAGE, Caller(ACCOUNTS["staging"], ENGINEER)
    )

    assert entry["EventBusName"] == "mlops-staging-platform"
    assert entry["Source"] == SOURCE
    assert entry["DetailType"] == PROMOTION_REQUESTED
    assert json.loads(entry["Detail"]) == {"model": "churn", "modelPackageArn": DEV_PACKAGE, "requestedBy": ENGINEER}


@pytest.mark.parametrize(
    ("env", "model", "package", "account", "names"),
    [
        ("dev", "churn", DEV_PACKAGE, ACCOUNTS["dev"], "ENV=dev"),
        ("qa", "churn", DEV_PACKAGE, ACCOUNTS["staging"], "ENV=qa"),
        ("staging", "fraud", DEV_PACKAGE, ACCOUNTS["staging"], "MODEL=fraud"),
        (
            "staging",
            "churn",
            DEV_PACKAGE.replace(ACCOUNTS["dev"], ACCOUNTS["staging"]),
            ACCOUNTS["staging"],
            "PACKAGE=",
        ),
        ("staging", "churn", "churn-abc123/7", ACCOUNTS["staging"], "PACKAGE="),
        ("staging", "churn", DEV_PACKAGE, ACCOUNTS["prod"], f"account {ACCOUNTS['prod']}"),
    ],
)
def test_a_wrong_input_is_refused_naming_it(env: str, model: str, package: str, account: str, names: str) -> None:
    with pytest.raises(PromotionError, match=names):
        promotion_request(load_delivery(three_accounts()), env, model, package, Caller(account, ENGINEER))


def test_the_command_puts_the_event_with_the_receiving_accounts_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    session = _Session(ACCOUNTS["staging"], expect_put=True)

    code = main(
        ["--env", "staging", "--model", "churn", "--package", DEV_PACKAGE], session=session, platform=three_accounts()
    )

    assert code == 0
    session.events_stub.assert_no_pending_responses()
    assert "PromotionRequested e-1" in capsys.readouterr().out


def test_credentials_of_another_account_stop_the_command_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    session = _Session(ACCOUNTS["dev"], expect_put=False)

    code = main(
        ["--env", "staging", "--model", "churn", "--package", DEV_PACKAGE], session=session, platform=three_accounts()
    )

    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"promote: the credentials are of account {ACCOUNTS['dev']}")


def test_no_delivery_block_stops_the_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--env", "staging", "--model", "churn", "--package", DEV_PACKAGE], session=object(), platform={})

    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1
