"""moto's SageMaker with the endpoint life cycle moto lacks, for sequences of deployer events.

moto implements models, configs, endpoints, tags and the model registry, but not UpdateEndpoint
(NotImplementedError), and its endpoints are InService the moment they are created. This
stand-in passes every call through to moto except those two concerns:

* CreateEndpoint leaves the endpoint Creating, UpdateEndpoint leaves it Updating with the new
  config pending (SageMaker API Reference, "UpdateEndpoint": "When SageMaker receives the
  request, it sets the endpoint status to Updating. After updating the endpoint, it sets the
  status to InService"; DescribeEndpoint shows the config being moved to in
  `PendingDeploymentSummary`);
* UpdateEndpoint while the endpoint is not InService is refused with a ValidationException,
  as SageMaker refuses an update of an endpoint with an update in progress.

The test then decides how SageMaker finishes: `finish` (the new config serves), `roll_back`
(InService on the old config, with a FailureReason), `fail` (Failed). Every UpdateEndpoint
request is checked against botocore's service model, like the contract tests do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tests.contracts.service_model import problems
from tests.handlers.conftest import ACCOUNT, REGION

ENDPOINT_STATUS_IN_EVENTS = {
    "InService": "IN_SERVICE",
    "Creating": "CREATING",
    "Updating": "UPDATING",
    "Failed": "FAILED",
    "RollingBack": "ROLLING_BACK",
    "SystemUpdating": "SYSTEM_UPDATING",
}


@dataclass
class _State:
    status: str
    config: str
    pending: str | None = None
    failure: str | None = None


class EndpointLifecycle:
    """A SageMaker client: moto for everything, plus endpoint statuses that take their time."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.updates: list[dict[str, Any]] = []
        self.refused_updates: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self._states: dict[str, _State] = {}
        # Whether a FailureReason outlives the next successful update (the documentation is silent).
        self.failure_survives_success = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return call

    def create_endpoint(self, **params: Any) -> Any:
        self.calls.append("create_endpoint")
        answer = self.client.create_endpoint(**params)
        self._states[params["EndpointName"]] = _State("Creating", params["EndpointConfigName"])
        return answer

    def update_endpoint(self, **params: Any) -> Any:
        self.calls.append("update_endpoint")
        assert problems("sagemaker", "UpdateEndpoint", params) == []
        name = params["EndpointName"]
        state = self.state(name)
        if state.status != "InService":
            self.refused_updates.append(params)
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationException",
                        "Message": f'Cannot update in-progress endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:'
                        f'endpoint/{name}".',
                    }
                },
                "UpdateEndpoint",
            )
        self.client.describe_endpoint_config(EndpointConfigName=params["EndpointConfigName"])
        self.updates.append(params)
        state.status, state.pending = "Updating", params["EndpointConfigName"]
        return {"EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"}

    def describe_endpoint(self, **params: Any) -> Any:
        self.calls.append("describe_endpoint")
        answer = dict(self.client.describe_endpoint(**params))
        state = self._states.get(params["EndpointName"])
        if state is not None:
            answer["EndpointStatus"] = state.status
            answer["EndpointConfigName"] = state.config
            answer.pop("FailureReason", None)
            answer.pop("PendingDeploymentSummary", None)
            if state.pending:
                answer["PendingDeploymentSummary"] = {"EndpointConfigName": state.pending}
            if state.failure:
                answer["FailureReason"] = state.failure
        return answer

    def state(self, name: str) -> _State:
        """The simulated state of an endpoint (moto's, the first time it is asked for)."""
        if name not in self._states:
            described = self.client.describe_endpoint(EndpointName=name)
            self._states[name] = _State(described["EndpointStatus"], described["EndpointConfigName"])
        return self._states[name]

    def finish(self, name: str) -> None:
        """The creation or update in progress succeeds: the new config serves."""
        state = self.state(name)
        state.config = state.pending or state.config
        state.status, state.pending = "InService", None
        if not self.failure_survives_success:
            state.failure = None

    def roll_back(self, name: str, reason: str) -> None:
        """The update in progress is rolled back: InService on the old config, with the reason."""
        state = self.state(name)
        state.status, state.pending, state.failure = "InService", None, reason

    def fail(self, name: str, reason: str) -> None:
        """The creation or update in progress fails for good."""
        state = self.state(name)
        state.status, state.pending, state.failure = "Failed", None, reason

    def set_status(self, name: str, status: str) -> None:
        """Put the endpoint in a status SageMaker reached by itself (SystemUpdating, OutOfService...)."""
        self.state(name).status = status

    def serving(self, name: str) -> str:
        return self.state(name).config


def endpoint_event(name: str, status: str, config: str | None, *, event_id: str = "ep-1") -> dict[str, Any]:
    """A "SageMaker Endpoint State Change" as documented; `config` may be anything, as a forged one would."""
    event: dict[str, Any] = {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-03-02T10:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"],
        "detail": {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
            "EndpointStatus": ENDPOINT_STATUS_IN_EVENTS[status],
        },
    }
    if config is not None:
        event["detail"]["EndpointConfigName"] = config
    return event
