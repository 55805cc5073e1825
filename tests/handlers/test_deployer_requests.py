"""The deployer's request builders: blue/green DeploymentConfig and version resource names (pure)."""

from __future__ import annotations

import re

import pytest

from deployer import requests
from platform_common.deployment_policy import PROVISIONING_ALLOWANCE_SECONDS, DeploymentPolicyError
from tests.handlers.conftest import example_settings

ENDPOINT = "mlops-dev-churn"


class TestBuildDeploymentConfig:
    """UpdateEndpoint's DeploymentConfig per catalog entry (rules in platform_common.deployment_policy)."""

    def test_canary_on_four_instances_bakes_one_instance_then_shifts_the_rest(self) -> None:
        # Given a 10 % canary on four instances, baking 600 s and keeping the old fleet 300 s
        settings = example_settings(deployment_strategy="canary", canary_percent=10, instance_count=4)

        # When the deployment config is built, then the canary is one instance (at most half of four)
        assert requests.build_deployment_config(settings) == {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                    "WaitIntervalInSeconds": 600,
                },
                "TerminationWaitInSeconds": 300,
                "MaximumExecutionTimeoutInSeconds": 600 + 300 + PROVISIONING_ALLOWANCE_SECONDS,
            },
            "AutoRollbackConfiguration": {
                "Alarms": [{"AlarmName": "mlops-dev-churn-5xx-errors"}, {"AlarmName": "mlops-dev-churn-model-latency"}]
            },
        }

    @pytest.mark.parametrize(("count", "percent", "size"), [(2, 10, 1), (4, 50, 2), (20, 10, 2), (100, 50, 50)])
    def test_the_canary_is_whole_instances_and_at_most_half_of_them(self, count: int, percent: int, size: int) -> None:
        settings = example_settings(deployment_strategy="canary", canary_percent=percent, instance_count=count)

        routing = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]  # type: ignore[index]

        assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": size}

    @pytest.mark.parametrize("strategy", ["canary", "linear"])
    def test_one_instance_shifts_all_at_once_and_says_why(self, strategy: str) -> None:
        # Given the default single instance, where no canary or linear step can be at most half of it
        settings = example_settings(deployment_strategy=strategy, instance_count=1)

        # When planned, then all traffic shifts at once, still baking, and the plan records why
        plan = requests.deployment_plan(settings)
        assert (plan.strategy, plan.requested) == ("all-at-once", strategy)
        assert plan.note is not None and "at least 2 instances" in plan.note
        routing = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]  # type: ignore[index]
        assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600}

    def test_linear_bakes_after_every_step(self) -> None:
        # Given linear steps of 25 % of eight instances, i.e. four steps of 600 s each
        settings = example_settings(deployment_strategy="linear", linear_step_percent=25, instance_count=8)

        # When the deployment config is built
        policy = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]  # type: ignore[index]

        # Then it shifts two instances a step and allows for all four bakes
        assert policy["TrafficRoutingConfiguration"] == {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 2},
            "WaitIntervalInSeconds": 600,
        }
        assert policy["MaximumExecutionTimeoutInSeconds"] == 4 * 600 + 300 + PROVISIONING_ALLOWANCE_SECONDS

    @pytest.mark.parametrize(
        ("count", "percent", "size"), [(2, 10, 1), (3, 10, 1), (10, 10, 1), (20, 10, 2), (4, 50, 2)]
    )
    def test_linear_steps_are_ten_to_fifty_percent_of_the_instances(self, count: int, percent: int, size: int) -> None:
        settings = example_settings(deployment_strategy="linear", linear_step_percent=percent, instance_count=count)

        routing = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]  # type: ignore[index]

        assert routing["LinearStepSize"] == {"Type": "INSTANCE_COUNT", "Value": size}
        assert count * 0.1 <= size <= count * 0.5

    def test_all_at_once_has_no_capacity_steps(self) -> None:
        settings = example_settings(deployment_strategy="all-at-once", wait_seconds=120, termination_wait_seconds=0)

        policy = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]  # type: ignore[index]

        assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 120}
        assert policy["TerminationWaitInSeconds"] == 0
        assert policy["MaximumExecutionTimeoutInSeconds"] == 120 + PROVISIONING_ALLOWANCE_SECONDS

    def test_a_serverless_endpoint_gets_no_deployment_config(self) -> None:
        # Given a serverless model whose catalog entry still says canary
        settings = example_settings(serverless_memory_mb=2048, serverless_max_concurrency=5)

        # When built, then there is none to send
        assert requests.build_deployment_config(settings) is None

    def test_no_alarms_means_no_auto_rollback_section(self) -> None:
        config = requests.build_deployment_config(example_settings(rollback_alarm_names=()))

        assert config is not None
        assert "AutoRollbackConfiguration" not in config

    def test_the_timeout_exceeds_the_waits_at_their_maximum(self) -> None:
        # Given canary waits of an hour each
        settings = example_settings(instance_count=2, wait_seconds=3600, termination_wait_seconds=3600)

        policy = requests.build_deployment_config(settings)["BlueGreenUpdatePolicy"]  # type: ignore[index]

        assert policy["MaximumExecutionTimeoutInSeconds"] == 3600 + 3600 + PROVISIONING_ALLOWANCE_SECONDS

    def test_waits_that_cannot_fit_the_timeout_are_refused_naming_the_settings(self) -> None:
        # Given ten linear bakes of an hour: more than SageMaker's 28800 s timeout
        settings = example_settings(
            deployment_strategy="linear", linear_step_percent=10, instance_count=20, wait_seconds=3600
        )

        # When planned, then the error names every setting that adds to the waits
        with pytest.raises(DeploymentPolicyError) as error:
            requests.deployment_plan(settings)
        assert error.value.keys == (
            "deployment.strategy",
            "deployment.linear_step_percent",
            "endpoint.instance_count",
            "deployment.wait_minutes",
            "deployment.termination_wait_minutes",
        )
        assert "28800" in str(error.value)


class TestResourceNames:
    def test_a_short_endpoint_name_gets_the_version_appended(self) -> None:
        assert requests.version_resource_name(ENDPOINT, 3) == "mlops-dev-churn-v3"
        assert requests.version_from_config_name(ENDPOINT, "mlops-dev-churn-v3") == 3

    def test_a_long_endpoint_name_is_shortened_to_63_characters_and_still_read_back(self) -> None:
        # Given an endpoint name of the maximum length
        endpoint = "e" * 30 + "-" + "f" * 32

        # When a version-named resource is derived
        name = requests.version_resource_name(endpoint, 12345)

        # Then it fits SageMaker's name rules and maps back to the version
        assert len(name) <= 63
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
        assert requests.version_from_config_name(endpoint, name) == 12345

    @pytest.mark.parametrize("config_name", ["mlops-dev-churn-config", "other-endpoint-v3", "mlops-dev-churn-v0", None])
    def test_configs_the_deployer_did_not_name_have_no_version(self, config_name: str | None) -> None:
        assert requests.version_from_config_name(ENDPOINT, config_name) is None
