"""The handlers' Lambda settings deploy in any account and stay supported.

- Reserved concurrency: "You can reserve up to the Unreserved account concurrency value that
  is shown, minus 100 for functions that don't have reserved concurrency" (Lambda Developer
  Guide, "Configuring reserved concurrency for a function",
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). Accounts with a
  low concurrency quota refuse any reservation ("Specified ReservedConcurrentExecutions for
  function decreases account's UnreservedConcurrentExecution below its minimum value"), so the
  default configuration reserves none; it is an opt-in setting.
- Runtime: Lambda Developer Guide, "Lambda runtimes", table "Supported runtimes"
  (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), read on 2026-11-30. After
  the deprecation date Lambda no longer applies security patches, then blocks creating and
  updating functions on the runtime. A handler's runtime must stay supported for at least a
  year after today.
- Powertools layer: Powertools for AWS Lambda (Python), "Installation", "Lambda Layer" and
  "Using SSM Parameter Store"
  (https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/): the layer
  ARNs are published as public parameters `/aws/service/powertools/python/{arch}/{python
  version}/{version}`, resolved in CloudFormation with `{{resolve:ssm:...}}`, where the Python
  version is written with its dot (`python3.13`, as in the page's Terraform example) and the
  version is a release number or `latest`.
- Failed asynchronous invocations: AWS Lambda Developer Guide, "Capturing records of Lambda
  asynchronous invocations"
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html): an
  on-failure destination may be "a standard SQS queue" (a FIFO queue is an unsupported
  destination type and delivery fails with a `DestinationDeliveryFailures` metric); its record
  carries the function's ARN (`requestContext.functionArn`) and the event (`requestPayload`),
  where "for dead-letter queues, Lambda only sends the content of the event". Every function
  therefore sends its failures to the functions queue through an on-failure destination
  (`AWS::Lambda::EventInvokeConfig`, CloudFormation User Guide,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-eventinvokeconfig.html),
  and none has a DeadLetterConfig, so each failure lands once, as a record that names its function.
"""

from __future__ import annotations

import importlib
import re
from datetime import date
from pathlib import Path

from tests.contracts.conftest import Synthesized
from tests.contracts.deployed import deployed

ROOT = Path(__file__).resolve().parents[2]

# Identifier -> deprecation date, from the "Supported runtimes" table (page above).
SUPPORTED_PYTHON_RUNTIMES = {
    "python3.14": date(2029, 6, 30),
    "python3.13": date(2029, 6, 30),
    "python3.12": date(2028, 10, 31),
    "python3.11": date(2027, 6, 30),
    "python3.10": date(2026, 10, 31),
}
TABLE_READ_ON = date(2026, 11, 30)
SUPPORT_MARGIN_DAYS = 365
# Lambda architecture name -> the {arch} segment of the Powertools parameter.
POWERTOOLS_ARCHITECTURES = {"x86_64": "x86_64", "arm64": "arm64"}


def _powertools_pin() -> str:
    """The Powertools release requirements-dev.txt pins (what the tests run the handlers with)."""
    text = (ROOT / "requirements-dev.txt").read_text()
    match = re.search(r"^aws-lambda-powertools(?:\[[^\]]*\])?==([0-9][0-9.]*)\s*$", text, re.MULTILINE)
    assert match, "requirements-dev.txt pins no aws-lambda-powertools version"
    return match.group(1)


def _functions(synthesized: Synthesized) -> list[tuple[str, dict]]:
    found = [(logical, props) for _, logical, props in synthesized.resources("AWS::Lambda::Function")]
    assert found, f"{synthesized.label}: no functions"
    return found


def test_no_function_reserves_concurrency_by_default(synthesized_env: Synthesized) -> None:
    """Given a configuration that does not ask for it, then no function reserves concurrency."""
    for logical, props in _functions(synthesized_env):
        assert "ReservedConcurrentExecutions" not in props, (
            f"{logical} reserves {props['ReservedConcurrentExecutions']}: fails in accounts with a low quota"
        )


def test_every_runtime_is_supported_for_another_year(synthesized_env: Synthesized) -> None:
    """Given every function, then its runtime is in the supported table and its deprecation
    date lies more than a year ahead."""
    today = max(date.today(), TABLE_READ_ON)
    for logical, props in _functions(synthesized_env):
        runtime = props["Runtime"]
        assert runtime in SUPPORTED_PYTHON_RUNTIMES, f"{logical}: {runtime} is not a supported Lambda runtime"
        left = (SUPPORTED_PYTHON_RUNTIMES[runtime] - today).days
        assert left > SUPPORT_MARGIN_DAYS, f"{logical}: {runtime} is deprecated in {left} days"


def test_the_powertools_layer_comes_from_its_documented_parameter(synthesized_env: Synthesized) -> None:
    """Given every function, then its only layer is the Powertools release pinned in
    requirements-dev.txt, for the function's own runtime and architecture, resolved by
    CloudFormation from the public parameter at deploy time."""
    version = _powertools_pin()
    for logical, props in _functions(synthesized_env):
        (architecture,) = props.get("Architectures", ["x86_64"])
        parameter = (
            f"/aws/service/powertools/python/{POWERTOOLS_ARCHITECTURES[architecture]}/{props['Runtime']}/{version}"
        )
        assert props.get("Layers") == [f"{{{{resolve:ssm:{parameter}}}}}"], f"{logical}: {props.get('Layers')}"


def test_the_stacks_and_the_tests_pin_the_same_powertools_release() -> None:
    """Given the version the stacks ask the layer for, then it is the one the handlers are
    tested with."""
    functions = importlib.import_module("stacks.constructs.platform_functions")
    assert getattr(functions, "POWERTOOLS_VERSION", None) == _powertools_pin()


def test_every_function_records_its_failed_invocations_in_the_functions_queue(synthesized_env: Synthesized) -> None:
    """Given every function, then its unqualified ($LATEST) asynchronous invocations are retried
    twice for up to six hours, then recorded in the standard functions queue through an on-failure
    destination, and the function has no dead-letter queue besides."""
    env = deployed(synthesized_env)
    (queue,) = [q for q in env.of_type("AWS::SQS::Queue") if q.prop("QueueName", "").endswith("-functions-dlq")]
    assert not queue.prop("FifoQueue", False), "an on-failure destination must be a standard queue"
    configs = list(env.of_type("AWS::Lambda::EventInvokeConfig"))
    functions = list(env.of_type("AWS::Lambda::Function"))
    assert functions, f"{env.label}: no functions"
    for function in functions:
        name = function.prop("FunctionName")
        assert function.prop("DeadLetterConfig") is None, f"{name}: a dead-letter queue besides the destination"
        mine = [c for c in configs if c.prop("FunctionName") == function.ref]
        assert len(mine) == 1, f"{name}: {len(mine)} asynchronous invocation configurations"
        (config,) = mine
        assert config.prop("Qualifier") == "$LATEST", name
        assert config.prop("MaximumRetryAttempts") == 2, name
        assert config.prop("MaximumEventAgeInSeconds") == 6 * 3600, name
        assert config.prop("DestinationConfig") == {"OnFailure": {"Destination": queue.att("Arn")}}, name
