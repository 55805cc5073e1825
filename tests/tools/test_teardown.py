"""Destroy and remove-model: find the endpoint resources the deployer made by name and tag, delete them in order.

SageMaker runs under moto. moto implements neither monitoring schedules nor StopTransformJob, so
those calls go to a recorder that checks each request against botocore's SageMaker model and
otherwise passes through to moto. moto completes a Processing job the moment it is created, so the
monitoring jobs still running are set InProgress in moto's backend. moto's CloudFormation needs packages this environment does not
install (it loads every service), so a small stack registry stands in for it, with every request
validated against botocore's CloudFormation model.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from moto.sagemaker.models import sagemaker_backends

from platform_common.resource_names import version_resource_name
from stacks.config import load_environment
from tests.tools.conftest import ACCOUNT, REGION, platform
from tools import teardown
from tools.operator_session import OperatorError
from tools.retained import retained

ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops-dev-model-execution"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
# Configured: churn and fraud. "retired" was removed from cdk.json.
CONFIG = load_environment(platform(), "dev")


class WithMonitoring:
    """moto's SageMaker plus the calls it lacks, each request validated against botocore's model."""

    def __init__(self, client: Any, schedules: dict[str, list[str]]) -> None:
        self._client = client
        self._schedules = schedules
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _record(self, operation: str, params: dict[str, Any]) -> None:
        model = self._client.meta.service_model.operation_model(operation)
        validate_parameters(params, model.input_shape)
        self.calls.append((operation, params))

    def list_monitoring_schedules(self, **params: Any) -> dict[str, Any]:
        self._record("ListMonitoringSchedules", params)
        names = self._schedules.get(params.get("EndpointName", ""), [])
        return {
            "MonitoringScheduleSummaries": [
                {
                    "MonitoringScheduleName": n,
                    "MonitoringScheduleArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/{n}",
                    "CreationTime": 0,
                    "LastModifiedTime": 0,
                    "MonitoringScheduleStatus": "Scheduled",
                }
                for n in names
            ]
        }

    def delete_monitoring_schedule(self, **params: Any) -> dict[str, Any]:
        self._record("DeleteMonitoringSchedule", params)
        return {}

    def stop_transform_job(self, **params: Any) -> dict[str, Any]:
        self._record("StopTransformJob", params)
        return {}


def serve(sagemaker: Any, model: str, version: int, *, env: str = "dev", tagged: bool = True) -> None:
    """What the deployer creates for one version of `model`."""
    endpoint = f"ops-{env}-{model}"
    name = version_resource_name(endpoint, version)
    tags = [{"Key": "mlops:model", "Value": model}] if tagged else []
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tags)
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        Tags=tags,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=name, Tags=tags)


CHURN_MONITOR = "ops-dev-monitor-churn-20261130120000"
RETIRED_MONITOR = "ops-dev-monitor-retired-20261130120000"


def monitor(sagemaker: Any, name: str, model: str, *, running: bool = True) -> None:
    """A monitoring Processing job as the monitoring launcher starts it (named and tagged per model)."""
    sagemaker.create_processing_job(
        ProcessingJobName=name,
        RoleArn=ROLE,
        AppSpecification={"ImageUri": IMAGE},
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
        },
        Tags=[{"Key": "mlops:model", "Value": model}],
    )
    if running:
        sagemaker_backends[ACCOUNT][REGION].processing_jobs[name].processing_job_status = "InProgress"


def processing_status(sagemaker: Any, name: str) -> str:
    status: str = sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
    return status


@pytest.fixture
def sagemaker(aws: boto3.session.Session) -> WithMonitoring:
    client = aws.client("sagemaker")
    serve(client, "churn", 3)
    serve(client, "fraud", 1, tagged=False)  # made before the deployer tagged: found by name
    serve(client, "retired", 7)
    serve(client, "churn", 3, env="prod")  # another environment of the same platform
    client.create_model(ModelName="other-team-churn-v3", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    monitor(client, CHURN_MONITOR, "churn")
    monitor(client, RETIRED_MONITOR, "retired")
    monitor(client, "ops-dev-monitor-fraud-20261129120000", "fraud", running=False)
    monitor(client, "ops-prod-monitor-churn-20261130120000", "churn")
    monitor(client, "team-ops-dev-monitor-churn-20261130120000", "churn")  # contains the prefix only
    return WithMonitoring(client, {"ops-dev-churn": ["ops-dev-churn-quality"]})


def find(sagemaker: WithMonitoring, only: str | None = None) -> teardown.Serving:
    return teardown.find_serving(
        sagemaker,
        resource_prefix="ops-dev",
        monitoring_job_prefix="ops-dev-monitor-",
        known_models=["churn", "fraud"],
        only=only,
    )


def test_the_environment_owns_its_models_endpoints_by_name_and_tag(sagemaker: WithMonitoring) -> None:
    found = find(sagemaker)

    assert sorted(found.endpoints) == ["ops-dev-churn", "ops-dev-fraud", "ops-dev-retired"]
    assert sorted(found.endpoint_configs) == ["ops-dev-churn-v3", "ops-dev-fraud-v1", "ops-dev-retired-v7"]
    assert sorted(found.models) == ["ops-dev-churn-v3", "ops-dev-fraud-v1", "ops-dev-retired-v7"]
    assert found.monitoring_schedules == ["ops-dev-churn-quality"]
    assert sorted(found.monitoring_jobs) == [CHURN_MONITOR, RETIRED_MONITOR]


def test_one_model_is_exactly_its_own_resources(sagemaker: WithMonitoring) -> None:
    found = find(sagemaker, only="retired")

    assert (found.endpoints, found.endpoint_configs, found.models) == (
        ["ops-dev-retired"],
        ["ops-dev-retired-v7"],
        ["ops-dev-retired-v7"],
    )
    assert found.monitoring_schedules == []
    assert found.monitoring_jobs == [RETIRED_MONITOR]


def test_a_long_endpoint_names_its_versions_with_a_hash() -> None:
    endpoint = "ops-dev-" + "m" * 55
    name = version_resource_name(endpoint, 12)
    assert len(name) == 63
    assert teardown._owner(name, {"mlops:model": "m" * 55}, "ops-dev", []) == "m" * 55
    assert teardown._owner(name, {"mlops:model": "other"}, "ops-dev", []) is None


def test_deletion_goes_schedules_endpoints_configs_models_and_leaves_the_rest(sagemaker: WithMonitoring) -> None:
    done = teardown.delete_serving(sagemaker, find(sagemaker, only="churn"), wait={"Delay": 1, "MaxAttempts": 2})

    assert done == [
        "deleted monitoring schedule ops-dev-churn-quality",
        f"stopped monitoring job {CHURN_MONITOR}",
        "deleted endpoint ops-dev-churn",
        "deleted endpoint config ops-dev-churn-v3",
        "deleted model ops-dev-churn-v3",
    ]
    assert ("DeleteMonitoringSchedule", {"MonitoringScheduleName": "ops-dev-churn-quality"}) in sagemaker.calls
    left = {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}
    assert left == {"ops-dev-fraud", "ops-dev-retired", "ops-prod-churn"}
    assert "other-team-churn-v3" in {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    assert processing_status(sagemaker, CHURN_MONITOR) == "Stopped"
    assert processing_status(sagemaker, RETIRED_MONITOR) == "InProgress"
    assert processing_status(sagemaker, "ops-prod-monitor-churn-20261130120000") == "InProgress"


def stopping_fails(status: str) -> Any:
    """A SageMaker client whose StopProcessingJob is refused and whose job then reports `status`."""
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_client_error(
        "stop_processing_job",
        "ValidationException",
        "job is not in progress",
        expected_params={"ProcessingJobName": CHURN_MONITOR},
    )
    stubber.add_response(
        "describe_processing_job",
        {
            "ProcessingJobName": CHURN_MONITOR,
            "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{CHURN_MONITOR}",
            "ProcessingJobStatus": status,
            "AppSpecification": {"ImageUri": IMAGE},
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
            },
            "CreationTime": 0,
        },
        {"ProcessingJobName": CHURN_MONITOR},
    )
    stubber.activate()
    return client


def test_a_monitoring_job_that_ended_before_its_stop_counts_as_stopped() -> None:
    plan = teardown.Serving(monitoring_jobs=[CHURN_MONITOR])
    assert teardown.delete_serving(stopping_fails("Completed"), plan) == [f"stopped monitoring job {CHURN_MONITOR}"]


def test_a_monitoring_job_still_running_after_a_refused_stop_stops_the_teardown() -> None:
    plan = teardown.Serving(monitoring_jobs=[CHURN_MONITOR], endpoints=["ops-dev-churn"])
    with pytest.raises(ClientError, match="job is not in progress"):
        teardown.delete_serving(stopping_fails("InProgress"), plan)


def test_deleting_twice_is_harmless(sagemaker: WithMonitoring) -> None:
    plan = find(sagemaker, only="retired")
    teardown.delete_serving(sagemaker, plan, wait={"Delay": 1, "MaxAttempts": 2})
    assert teardown.delete_serving(sagemaker, plan, wait={"Delay": 1, "MaxAttempts": 2})[-1] == (
        "deleted model ops-dev-retired-v7"
    )


class Stacks:
    """CloudFormation's ListStacks, DeleteStack and the stack_delete_complete waiter, over a set of names."""

    def __init__(self) -> None:
        self._model = boto3.client("cloudformation", region_name=REGION).meta.service_model
        self.names: set[str] = set()
        self.deleted: list[str] = []

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        validate_parameters(params, self._model.operation_model(operation).input_shape)

    def list_stacks(self, **params: Any) -> dict[str, Any]:
        self._check("ListStacks", params)
        summaries = [{"StackName": n, "StackStatus": "CREATE_COMPLETE", "CreationTime": 0} for n in sorted(self.names)]
        gone = [{"StackName": n, "StackStatus": "DELETE_COMPLETE", "CreationTime": 0} for n in self.deleted]
        return {"StackSummaries": summaries + gone}

    def delete_stack(self, **params: Any) -> dict[str, Any]:
        self._check("DeleteStack", params)
        self.names.discard(params["StackName"])
        self.deleted.append(params["StackName"])
        return {}

    def get_waiter(self, name: str) -> Any:
        # The waiter the real client offers under this name.
        assert name in boto3.client("cloudformation", region_name=REGION).waiter_names
        stacks = self

        class Waiter:
            def wait(self, **params: Any) -> None:
                stacks._check("DescribeStacks", params)
                assert params["StackName"] not in stacks.names

        return Waiter()


def stack(session: FakeSession, name: str) -> None:
    session.stacks.names.add(name)


def test_remove_model_deletes_its_stack_then_its_endpoint_resources(
    aws: boto3.session.Session, sagemaker: WithMonitoring, capsys: pytest.CaptureFixture[str]
) -> None:
    session = FakeSession(aws, sagemaker)
    stack(session, "ops-dev-model-retired")
    stack(session, "ops-dev-model-churn")

    assert teardown.remove_model(CONFIG, session, "retired", given="retired", ask=refuse) == 0

    stacks = teardown.existing_stacks(session.stacks, "ops-dev")
    assert stacks == ["ops-dev-model-churn"]
    assert "ops-dev-retired" not in {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}
    out = capsys.readouterr().out
    assert out.index("deleted stack ops-dev-model-retired") < out.index("deleted endpoint ops-dev-retired")


def test_remove_model_refuses_a_model_still_configured(aws: boto3.session.Session, sagemaker: WithMonitoring) -> None:
    with pytest.raises(OperatorError, match=r"MODEL='churn' is still in cdk.json \(environments.dev.models\)"):
        teardown.remove_model(CONFIG, FakeSession(aws, sagemaker), "churn", given="churn", ask=refuse)
    assert "ops-dev-churn" in {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}


def test_a_wrong_confirmation_deletes_nothing(aws: boto3.session.Session, sagemaker: WithMonitoring) -> None:
    session = FakeSession(aws, sagemaker)
    stack(session, "ops-dev-model-retired")
    with pytest.raises(OperatorError, match="confirmation 'dev' is not 'retired'; nothing was deleted"):
        teardown.remove_model(CONFIG, session, "retired", given=None, ask=lambda _: "dev")
    assert teardown.existing_stacks(session.stacks, "ops-dev") == ["ops-dev-model-retired"]
    assert "ops-dev-retired" in {e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]}


def test_destroy_lists_everything_and_removes_only_stacks_cdk_cannot_see(
    aws: boto3.session.Session, sagemaker: WithMonitoring, capsys: pytest.CaptureFixture[str]
) -> None:
    session = FakeSession(aws, sagemaker)
    for name in ("ops-dev-automation", "ops-dev-model-churn", "ops-dev-model-retired", "ops-prod-automation"):
        stack(session, name)

    assert teardown.prepare_destroy(CONFIG, session, given="dev", ask=refuse) == 0

    out = capsys.readouterr().out
    assert "  stack: ops-dev-automation" in out and "  endpoint: ops-dev-fraud" in out
    assert "deleted stack ops-dev-model-retired" in out
    assert teardown.existing_stacks(session.stacks, "ops-dev") == [
        "ops-dev-automation",
        "ops-dev-model-churn",
    ]
    assert len(sagemaker.list_endpoints()["Endpoints"]) == 4  # endpoints go after cdk destroy


def test_without_a_typed_confirmation_nothing_happens() -> None:
    def closed_stdin(_: str) -> str:
        raise EOFError

    with pytest.raises(OperatorError, match=r"no confirmation typed; nothing was deleted \(or pass CONFIRM=dev\)"):
        teardown.confirm("dev", None, closed_stdin)


@pytest.mark.parametrize("step", ["prepare", "finish", "remove-model"])
def test_without_credentials_each_step_stops_with_one_line(
    no_credentials: None, step: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert teardown.main(["--env", "dev", "--step", step, "--model", "retired"], settings=platform(), ask=refuse) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "AWS credentials: Unable to locate credentials" in err


def test_the_retained_list_names_each_kept_resource_and_how_to_delete_it() -> None:
    from tests.synth import synth

    _, templates = synth("dev", platform())
    pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws"}
    kept = retained({unit: template.to_json() for unit, template in templates.items()}, pseudo)
    kinds = {kind for _, kind, _ in kept}
    assert {
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::SQS::Queue",
        "AWS::SageMaker::MlflowTrackingServer",
    } <= kinds
    how = [text for _, _, text in kept]
    assert f"then aws s3api delete-bucket --bucket ops-dev-data-{ACCOUNT}-{REGION}" in " ".join(how)
    assert "aws logs delete-log-group --log-group-name /ops-dev/audit" in how
    assert any("--tracking-server-name ops-dev-mlflow" in text for text in how)


def refuse(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r} although the confirmation was given")


class FakeSession:
    """A session whose SageMaker client is the recorder above and whose CloudFormation is `Stacks`."""

    def __init__(self, aws: boto3.session.Session, sagemaker: WithMonitoring) -> None:
        self._aws = aws
        self._sagemaker = sagemaker
        self.stacks = Stacks()

    def client(self, service: str) -> Any:
        return {"sagemaker": self._sagemaker, "cloudformation": self.stacks}.get(service) or self._aws.client(service)
