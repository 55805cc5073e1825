"""The MLflow REST client: against a real MLflow server, and on the wire against a scripted one."""

from __future__ import annotations

import datetime
import http.server
import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.credentials
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from platform_common.mlflow_rest import MlflowNotFoundError, MlflowRestClient, MlflowRestError
from tests.mlflow_server import MLFLOW_XDIST_GROUP, MlflowServer

REGION = "eu-west-1"
TRACKING_SERVER_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-tracking-server/test"
MLFLOW_APP_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-app/app-abc123"
AUTH_HEADER_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)
MODEL_VERSION_BODY = {"model_version": {"name": "churn", "version": "1", "run_id": "abc"}}


def static_credentials() -> botocore.credentials.Credentials:
    return botocore.credentials.Credentials("AKID", "SECRET", "TOKEN")


@dataclass(frozen=True)
class SeededVersion:
    name: str
    version: str
    run_id: str


def mlflow_post(server: MlflowServer, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """Seed data the way any MLflow client would, without needing mlflow in this environment."""
    request = urllib.request.Request(
        f"{server.api_url}/{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def seed_model_version(server: MlflowServer, metrics: list[tuple[str, float, int]]) -> SeededVersion:
    """A fresh experiment, a run with the given (key, value, timestamp) metrics, and version 1 of a new model."""
    suffix = uuid.uuid4().hex[:8]
    experiment_id = mlflow_post(server, "experiments/create", {"name": f"exp-{suffix}"})["experiment_id"]
    run_id = mlflow_post(server, "runs/create", {"experiment_id": experiment_id, "start_time": 1})["run"]["info"][
        "run_id"
    ]
    for key, value, timestamp in metrics:
        mlflow_post(
            server, "runs/log-metric", {"run_id": run_id, "key": key, "value": value, "timestamp": timestamp, "step": 0}
        )
    # A space in the name exercises query-string encoding under the signature.
    name = f"churn model {suffix}"
    mlflow_post(server, "registered-models/create", {"name": name})
    version = mlflow_post(
        server, "model-versions/create", {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
    )["model_version"]["version"]
    return SeededVersion(name=name, version=str(version), run_id=run_id)


@pytest.fixture
def client(mlflow_server: MlflowServer) -> MlflowRestClient:
    return MlflowRestClient(
        TRACKING_SERVER_ARN,
        base_url=mlflow_server.url,
        credentials=static_credentials(),
        region=REGION,
    )


@pytest.fixture
def seeded(mlflow_server: MlflowServer) -> SeededVersion:
    return seed_model_version(
        mlflow_server, [("accuracy", 0.5, 1_000), ("accuracy", 0.75, 2_000), ("epochs", 3, 1_000)]
    )


@pytest.mark.mlflow
@pytest.mark.xdist_group(MLFLOW_XDIST_GROUP)
class TestAgainstRealMlflowServer:
    def test_get_model_version_returns_the_run_that_produced_it(
        self, client: MlflowRestClient, seeded: SeededVersion
    ) -> None:
        # Given a model version registered from a run (seeded)
        # When the client reads it
        model_version = client.get_model_version(seeded.name, seeded.version)
        # Then it is the MLflow model_version object, with empty tags and aliases as lists
        assert model_version["name"] == seeded.name
        assert model_version["version"] == seeded.version
        assert model_version["run_id"] == seeded.run_id
        assert model_version["tags"] == []
        assert model_version["aliases"] == []

    def test_run_metrics_are_floats_holding_the_latest_value(
        self, client: MlflowRestClient, seeded: SeededVersion
    ) -> None:
        # Given accuracy logged twice (0.5 then 0.75) and an integer-valued metric
        # When the client reads the run's metrics
        metrics = client.get_run_metrics(seeded.run_id)
        # Then each metric has its latest value, as a float
        assert metrics == {"accuracy": 0.75, "epochs": 3.0}
        assert all(type(value) is float for value in metrics.values())

    def test_alias_set_get_move_and_delete_round_trip(
        self, client: MlflowRestClient, mlflow_server: MlflowServer, seeded: SeededVersion
    ) -> None:
        # Given a model with two versions and no alias
        second = mlflow_post(
            mlflow_server,
            "model-versions/create",
            {"name": seeded.name, "source": f"runs:/{seeded.run_id}/model", "run_id": seeded.run_id},
        )["model_version"]["version"]
        assert client.get_model_version_by_alias(seeded.name, "champion") is None

        # When the alias is set on version 1
        client.set_registered_model_alias(seeded.name, "champion", seeded.version)
        # Then it resolves to version 1, and version 1 lists it
        by_alias = client.get_model_version_by_alias(seeded.name, "champion")
        assert by_alias is not None
        assert by_alias["version"] == seeded.version
        assert by_alias["run_id"] == seeded.run_id
        assert client.get_model_version(seeded.name, seeded.version)["aliases"] == ["champion"]

        # When it is moved to version 2
        client.set_registered_model_alias(seeded.name, "champion", second)
        # Then it resolves to version 2 and version 1 no longer holds it
        moved = client.get_model_version_by_alias(seeded.name, "champion")
        assert moved is not None
        assert moved["version"] == second
        assert client.get_model_version(seeded.name, seeded.version)["aliases"] == []

        # When it is deleted (twice: deleting an unset alias is not an error)
        client.delete_registered_model_alias(seeded.name, "champion")
        client.delete_registered_model_alias(seeded.name, "champion")
        # Then it resolves to nothing
        assert client.get_model_version_by_alias(seeded.name, "champion") is None

    def test_tag_set_on_a_version_is_visible_on_it(self, client: MlflowRestClient, seeded: SeededVersion) -> None:
        # Given a model version without tags
        # When a tag is set, then overwritten
        client.set_model_version_tag(seeded.name, seeded.version, "gate", "pending")
        client.set_model_version_tag(seeded.name, seeded.version, "gate", "passed")
        # Then the version carries the latest value only
        tags = client.get_model_version(seeded.name, seeded.version)["tags"]
        assert tags == [{"key": "gate", "value": "passed"}]

    def test_missing_model_raises_not_found_naming_the_model(self, client: MlflowRestClient) -> None:
        # Given a model name nobody registered
        name = f"no-such-model-{uuid.uuid4().hex[:8]}"
        # When its version is read
        with pytest.raises(MlflowNotFoundError) as caught:
            client.get_model_version(name, "1")
        # Then the error is typed and says which model, which call and what the server said
        error = caught.value
        assert error.status == 404
        assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert name in error.message
        assert name in str(error)
        assert error.method == "GET"
        assert error.path == "/api/2.0/mlflow/model-versions/get"

    def test_alias_lookup_on_a_missing_model_reads_as_unset_so_the_version_is_read_first(
        self, client: MlflowRestClient
    ) -> None:
        """MLflow 3.0's registry answers an alias of a missing model as an unset alias.

        Its SQL store raises INVALID_PARAMETER_VALUE "Registered model alias champion not
        found." without looking the model up (mlflow 3.0.1, sqlalchemy_store.py,
        get_model_version_by_alias); later versions say the model is missing. The gate and
        the deployer read the version itself first, which does raise not-found.
        """
        # Given a model name nobody registered
        name = f"no-such-model-{uuid.uuid4().hex[:8]}"
        # When an alias of it is looked up, then it reads as unset
        assert client.get_model_version_by_alias(name, "champion") is None
        # And reading a version of it is the not-found error callers rely on
        with pytest.raises(MlflowNotFoundError, match=name):
            client.get_model_version(name, "1")

    def test_missing_run_raises_not_found(self, client: MlflowRestClient) -> None:
        with pytest.raises(MlflowNotFoundError, match="deadbeef"):
            client.get_run_metrics("deadbeef")


@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedResponse:
    status: int
    body: dict[str, Any] | bytes = field(default_factory=dict)
    delay_seconds: float = 0.0


@dataclass
class ScriptedServer:
    """A local HTTP server that answers from a script and records what it received."""

    url: str
    script: list[ScriptedResponse]
    received: list[CapturedRequest] = field(default_factory=list)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    state = ScriptedServer(url="", script=[])

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.received.append(
                CapturedRequest(
                    method=self.command,
                    path=self.path,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
            )
            reply = state.script.pop(0) if state.script else ScriptedResponse(500, b"script exhausted")
            time.sleep(reply.delay_seconds)
            payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up, which is what a timeout test wants

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def scripted_client(server: ScriptedServer, **kwargs: Any) -> MlflowRestClient:
    options: dict[str, Any] = {"credentials": static_credentials(), "region": REGION, "base_url": server.url}
    options.update(kwargs)
    arn = options.pop("arn", TRACKING_SERVER_ARN)
    return MlflowRestClient(arn, **options)


def signature_key(request: CapturedRequest) -> str:
    auth = AUTH_HEADER_RE.fullmatch(request.headers["authorization"])
    assert auth is not None, request.headers["authorization"]
    return auth["key"]


def assert_signature_verifies(request: CapturedRequest, secret_key: str = "SECRET") -> None:
    """Recompute the SigV4 signature from what the server received, as the service would."""
    auth = AUTH_HEADER_RE.fullmatch(request.headers["authorization"])
    assert auth is not None
    signed_names = auth["signed"].split(";")
    aws_request = AWSRequest(
        method=request.method,
        url=f"http://{request.headers['host']}{request.path}",
        data=request.body or None,
        headers={name: request.headers[name] for name in signed_names},
    )
    aws_request.context["timestamp"] = request.headers["x-amz-date"]
    frozen = botocore.credentials.ReadOnlyCredentials(auth["key"], secret_key, request.headers["x-amz-security-token"])
    signer = SigV4Auth(frozen, auth["service"], auth["region"])
    string_to_sign = signer.string_to_sign(aws_request, signer.canonical_request(aws_request))
    assert signer.signature(string_to_sign, aws_request) == auth["signature"]


class TestOnTheWire:
    def test_requests_are_sigv4_signed_for_sagemaker_mlflow_and_routed_by_arn(self, scripted: ScriptedServer) -> None:
        # Given a server that answers a model version
        scripted.script.append(ScriptedResponse(200, MODEL_VERSION_BODY))
        # When the client reads a model version whose name needs encoding
        scripted_client(scripted).get_model_version("churn model", "1")
        # Then the request carries a SigV4 signature scoped to sagemaker-mlflow in the region
        (request,) = scripted.received
        assert request.method == "GET"
        assert request.path == "/api/2.0/mlflow/model-versions/get?name=churn%20model&version=1"
        auth = AUTH_HEADER_RE.fullmatch(request.headers["authorization"])
        assert auth is not None, request.headers["authorization"]
        assert auth["key"] == "AKID"
        assert (auth["region"], auth["service"]) == (REGION, "sagemaker-mlflow")
        assert re.fullmatch(r"\d{8}T\d{6}Z", request.headers["x-amz-date"])
        assert auth["date"] == request.headers["x-amz-date"][:8]
        assert request.headers["x-amz-security-token"] == "TOKEN"
        # And the ARN routing header is sent, and signed along with the date and token
        assert request.headers["x-mlflow-sm-tracking-server-arn"] == TRACKING_SERVER_ARN
        assert {"host", "x-amz-date", "x-amz-security-token", "x-mlflow-sm-tracking-server-arn"} <= set(
            auth["signed"].split(";")
        )
        # And the signature verifies against the request exactly as received
        assert_signature_verifies(request)

    def test_post_body_is_json_and_covered_by_the_signature(self, scripted: ScriptedServer) -> None:
        # Given a server that accepts anything
        scripted.script.append(ScriptedResponse(200, {}))
        # When an alias is set
        scripted_client(scripted).set_registered_model_alias("churn", "champion", "3")
        # Then the parameters travel as a JSON body, whose hash is part of the signature
        (request,) = scripted.received
        assert request.method == "POST"
        assert request.path == "/api/2.0/mlflow/registered-models/alias"
        assert json.loads(request.body) == {"name": "churn", "alias": "champion", "version": "3"}
        assert "x-amz-content-sha256" in request.headers["authorization"]
        assert_signature_verifies(request)

    def test_delete_alias_sends_its_parameters_in_the_body(self, scripted: ScriptedServer) -> None:
        scripted.script.append(ScriptedResponse(200, {}))
        scripted_client(scripted).delete_registered_model_alias("churn", "champion")
        (request,) = scripted.received
        assert request.method == "DELETE"
        assert request.path == "/api/2.0/mlflow/registered-models/alias"
        assert json.loads(request.body) == {"name": "churn", "alias": "champion"}

    def test_mlflow_app_arn_is_routed_by_the_app_header_and_signed_for_sagemaker(
        self, scripted: ScriptedServer
    ) -> None:
        # Given a client for an MLflow App rather than a tracking server
        scripted.script.append(ScriptedResponse(200, MODEL_VERSION_BODY))
        # When it makes a call
        scripted_client(scripted, arn=MLFLOW_APP_ARN).get_model_version("churn", "1")
        # Then the App header carries the ARN and the tracking server header is absent
        (request,) = scripted.received
        assert request.headers["x-sm-mlflow-app-arn"] == MLFLOW_APP_ARN
        assert "x-mlflow-sm-tracking-server-arn" not in request.headers
        # And it is signed for service sagemaker, as AWS's plugin signs App calls (auth_provider.py)
        auth = AUTH_HEADER_RE.fullmatch(request.headers["authorization"])
        assert auth is not None, request.headers["authorization"]
        assert (auth["region"], auth["service"]) == (REGION, "sagemaker")
        assert "x-sm-mlflow-app-arn" in auth["signed"].split(";")
        assert_signature_verifies(request)

    def test_rotating_credentials_are_picked_up_on_every_request(self, scripted: ScriptedServer) -> None:
        # Given credentials that are always close to expiry, so botocore refreshes them on each use
        issued: list[str] = []

        def refresh() -> dict[str, str]:
            issued.append(f"AKID{len(issued)}")
            expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
            return {
                "access_key": issued[-1],
                "secret_key": "SECRET",
                "token": "TOKEN",
                "expiry_time": expiry.isoformat(),
            }

        credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
        scripted.script.extend([ScriptedResponse(200, MODEL_VERSION_BODY), ScriptedResponse(200, MODEL_VERSION_BODY)])
        client = scripted_client(scripted, credentials=credentials)
        # When two calls are made
        client.get_model_version("churn", "1")
        client.get_model_version("churn", "1")
        # Then each is signed with the key that was current at the time
        keys = [signature_key(r) for r in scripted.received]
        assert keys == issued[1:3]
        assert keys[0] != keys[1]

    def test_from_session_resolves_credentials_at_the_first_request_not_before(self, scripted: ScriptedServer) -> None:
        # Given a session that counts credential look-ups
        class CountingSession:
            calls = 0

            def get_credentials(self) -> botocore.credentials.Credentials:
                CountingSession.calls += 1
                return botocore.credentials.Credentials("SESSIONKEY", "SECRET", "TOKEN")

        # When a client is built from it
        client = MlflowRestClient.from_session(TRACKING_SERVER_ARN, CountingSession(), base_url=scripted.url)
        # Then nothing is resolved yet
        assert CountingSession.calls == 0
        # When two calls are made
        scripted.script.extend([ScriptedResponse(200, MODEL_VERSION_BODY), ScriptedResponse(200, MODEL_VERSION_BODY)])
        client.get_model_version("churn", "1")
        client.get_model_version("churn", "1")
        # Then the chain was resolved once and its credentials signed the requests
        assert CountingSession.calls == 1
        assert [signature_key(r) for r in scripted.received] == ["SESSIONKEY", "SESSIONKEY"]

    def test_503_is_retried_and_the_retry_succeeds(self, scripted: ScriptedServer) -> None:
        # Given a server that is briefly unavailable
        scripted.script.extend(
            [ScriptedResponse(503, b"Service Unavailable"), ScriptedResponse(200, MODEL_VERSION_BODY)]
        )
        # When the client reads a model version
        model_version = scripted_client(scripted).get_model_version("churn", "1")
        # Then it retried once, signing afresh, and returned the answer
        assert model_version["run_id"] == "abc"
        assert len(scripted.received) == 2
        assert_signature_verifies(scripted.received[1])

    def test_throttling_is_retried(self, scripted: ScriptedServer) -> None:
        scripted.script.extend([ScriptedResponse(429, {"message": "Rate exceeded"}), ScriptedResponse(200, {})])
        scripted_client(scripted).set_model_version_tag("churn", "1", "gate", "passed")
        assert len(scripted.received) == 2

    def test_400_is_not_retried(self, scripted: ScriptedServer) -> None:
        # Given a server that rejects the request as invalid
        scripted.script.extend(
            [
                ScriptedResponse(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad version 'x'"}),
                ScriptedResponse(200, MODEL_VERSION_BODY),
            ]
        )
        # When the client reads a model version
        with pytest.raises(MlflowRestError) as caught:
            scripted_client(scripted).get_model_version("churn", "x")
        # Then it gave up at once with the server's error, which is not a not-found
        assert len(scripted.received) == 1
        assert not isinstance(caught.value, MlflowNotFoundError)
        assert (caught.value.status, caught.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
        assert caught.value.message == "bad version 'x'"

    def test_retries_are_bounded_by_max_attempts(self, scripted: ScriptedServer) -> None:
        scripted.script.extend([ScriptedResponse(503, b"down")] * 3 + [ScriptedResponse(200, MODEL_VERSION_BODY)])
        with pytest.raises(MlflowRestError) as caught:
            scripted_client(scripted, max_attempts=2).get_model_version("churn", "1")
        assert len(scripted.received) == 2
        assert caught.value.status == 503
        assert caught.value.message == "down"

    def test_timeout_is_retried_then_reported(self, scripted: ScriptedServer) -> None:
        # Given a server slower than the client's timeout
        scripted.script.extend([ScriptedResponse(200, MODEL_VERSION_BODY, delay_seconds=1.0)] * 2)
        # When the client calls it with two attempts allowed
        with pytest.raises(MlflowRestError) as caught:
            scripted_client(scripted, timeout_seconds=0.2, max_attempts=2).get_model_version("churn", "1")
        # Then both attempts were made and the error says no answer came
        assert len(scripted.received) == 2
        assert caught.value.status is None
        assert "no answer after 2 attempt(s)" in caught.value.message

    def test_unknown_endpoint_404_is_not_mistaken_for_a_missing_model(self, scripted: ScriptedServer) -> None:
        # Given a 404 without an MLflow error body (a wrong URL, e.g. a bad base_url)
        scripted.script.append(ScriptedResponse(404, b"<html>Not Found</html>"))
        # When the client reads a model version
        with pytest.raises(MlflowRestError) as caught:
            scripted_client(scripted).get_model_version("churn", "1")
        # Then it is a plain REST error, so a caller never concludes the model is absent
        assert not isinstance(caught.value, MlflowNotFoundError)
        assert caught.value.status == 404


class TestEndpointFromArn:
    def test_tracking_server_endpoint_is_regional_experiments_host(self) -> None:
        client = MlflowRestClient(TRACKING_SERVER_ARN, credentials=static_credentials())
        assert client.base_url == "https://eu-west-1.experiments.sagemaker.aws"
        assert client.region == REGION

    def test_mlflow_app_endpoint_is_the_app_host(self) -> None:
        client = MlflowRestClient(MLFLOW_APP_ARN, credentials=static_credentials())
        assert client.base_url == "https://mlflow.sagemaker.eu-west-1.app.aws"

    def test_govcloud_uses_the_same_top_level_domain(self) -> None:
        arn = "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:mlflow-tracking-server/test"
        assert MlflowRestClient(arn).base_url == "https://us-gov-west-1.experiments.sagemaker.aws"

    def test_partition_without_known_endpoint_needs_an_explicit_base_url(self) -> None:
        arn = "arn:aws-cn:sagemaker:cn-north-1:123456789012:mlflow-tracking-server/test"
        with pytest.raises(ValueError, match="base_url"):
            MlflowRestClient(arn)
        assert MlflowRestClient(arn, base_url="https://example.test/").base_url == "https://example.test"

    @pytest.mark.parametrize(
        "arn",
        [
            "arn:aws:s3:::bucket",
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/churn",
            "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/",
            "not-an-arn",
        ],
    )
    def test_non_mlflow_arns_are_rejected(self, arn: str) -> None:
        with pytest.raises(ValueError, match="ARN"):
            MlflowRestClient(arn)
