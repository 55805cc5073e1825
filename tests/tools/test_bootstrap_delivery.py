"""make bootstrap-delivery: the trust each account gets, and one line when it cannot go ahead."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stacks.config.delivery import load_delivery
from tests.delivery.fixtures import ACCOUNTS, EXECUTION_POLICY, REGIONS, TOOLING, TOOLING_REGION, three_accounts
from tools.bootstrap_delivery import bootstrap_arguments, main


class _Session:
    """A boto3 session whose STS client answers from a Stubber."""

    def __init__(self, account: str | None) -> None:
        self.sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        self.stubber = Stubber(self.sts)
        if account is None:
            self.stubber.add_client_error(
                "get_caller_identity", "InvalidClientTokenId", "The security token is invalid"
            )
        else:
            self.stubber.add_response(
                "get_caller_identity",
                {"Account": account, "Arn": f"arn:aws:iam::{account}:user/admin", "UserId": "AIDAEXAMPLE"},
            )
        self.stubber.activate()

    def client(self, name: str) -> Any:
        assert name == "sts"
        return self.sts


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_a_target_account_trusts_the_tooling_account_with_explicit_execution_policies(env_name: str) -> None:
    arguments = bootstrap_arguments(load_delivery(three_accounts()), env_name)
    assert arguments == [
        "bootstrap",
        f"aws://{ACCOUNTS[env_name]}/{REGIONS[env_name]}",
        "--trust",
        TOOLING,
        "--cloudformation-execution-policies",
        EXECUTION_POLICY,
    ]


def test_the_tooling_account_trusts_nobody() -> None:
    arguments = bootstrap_arguments(load_delivery(three_accounts()), "tooling")
    assert arguments[:2] == ["bootstrap", f"aws://{TOOLING}/{TOOLING_REGION}"]
    assert "--trust" not in arguments


def test_credentials_of_the_account_run_cdk_bootstrap() -> None:
    ran: list[list[str]] = []
    code = main(
        ["--env", "staging"],
        session=_Session(ACCOUNTS["staging"]),
        run=lambda command: ran.append(command) or 0,
        platform=three_accounts(),
    )
    assert code == 0
    assert ran == [["npx", "--no-install", "cdk", *bootstrap_arguments(load_delivery(three_accounts()), "staging")]]


@pytest.mark.parametrize(
    ("account", "message"),
    [(None, "AWS credentials:"), (ACCOUNTS["dev"], f"the credentials are of account {ACCOUNTS['dev']}")],
)
def test_missing_or_other_credentials_stop_with_one_line(
    account: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[list[str]] = []
    code = main(
        ["--env", "prod"], session=_Session(account), run=lambda c: ran.append(c) or 0, platform=three_accounts()
    )
    assert code == 2 and ran == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bootstrap-delivery: ") and message in err


def test_no_delivery_block_names_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    platform = three_accounts()
    del platform["delivery"]
    code = main(["--env", "dev"], session=_Session(ACCOUNTS["dev"]), run=lambda c: 0, platform=platform)
    assert code == 2
    assert "platform.delivery.account" in capsys.readouterr().err


def test_an_unknown_environment_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--env", "qa"], session=_Session(TOOLING), run=lambda c: 0, platform=three_accounts())
    assert code == 2
    assert "ENV=qa: expected one of dev, staging, prod, tooling" in capsys.readouterr().err
