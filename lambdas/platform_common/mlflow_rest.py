"""A small client for the MLflow REST API of a SageMaker managed MLflow tracking server or App.

The handlers need a handful of registry calls (read a version, move an alias, tag a
version, read a run's metrics). The `mlflow` package is far too large for a Lambda
package and slow to import, so this speaks the wire protocol directly: MLflow's REST API
(`/api/2.0/mlflow/...`), each request signed with SigV4, using only the standard library
and botocore (which the Lambda runtime ships).

The two kinds of managed MLflow differ on the wire, and the kind is read from the ARN's
resource type. AWS's sagemaker-mlflow plugin (github.com/aws/sagemaker-mlflow) is the
reference: `sagemaker_mlflow/auth_provider.py` signs `mlflow-tracking-server` requests for
service `sagemaker-mlflow` and `mlflow-app` requests for service `sagemaker`;
`sagemaker_mlflow/mlflow_sagemaker_helpers.py` sends them to
`https://<region>.experiments.sagemaker.<suffix>` and `https://mlflow.sagemaker.<region>.app.<suffix>`;
`sagemaker_mlflow/mlflow_sagemaker_request_header_provider.py` names the target in
`x-mlflow-sm-tracking-server-arn` or `x-sm-mlflow-app-arn`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import NoCredentialsError

if TYPE_CHECKING:
    import boto3
    import botocore.credentials

logger = logging.getLogger(__name__)

API_PREFIX = "/api/2.0/mlflow/"

# The SigV4 service each kind is signed for. IAM authorises tracking server calls with the
# `sagemaker-mlflow:` actions, App calls with `sagemaker:CallMlflowAppApi`.
_SIGNING_SERVICES = {
    "mlflow-tracking-server": "sagemaker-mlflow",
    "mlflow-app": "sagemaker",
}

# The managed service routes a request to the right server by this header, not by host name.
_ROUTING_HEADERS = {
    "mlflow-tracking-server": "x-mlflow-sm-tracking-server-arn",
    "mlflow-app": "x-sm-mlflow-app-arn",
}

# Managed MLflow endpoints live under the `.aws` top-level domain, not under the partition's
# usual `amazonaws.com` suffix. Only these partitions have a known endpoint; elsewhere the
# caller must pass `base_url`.
_ENDPOINT_DNS_SUFFIXES = {"aws": "aws", "aws-us-gov": "aws"}

# Throttling and server-side failures are worth another try; other 4xx answers will not change.
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    urllib.error.URLError,
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
)
_BACKOFF_BASE_SECONDS = 0.25
_BACKOFF_CAP_SECONDS = 2.0
_ERROR_BODY_LIMIT = 500


class MlflowRestError(Exception):
    """An MLflow REST call failed; says which call, about what, and what the server answered."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        error_code: str | None,
        message: str,
        subject: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error_code = error_code
        self.message = message
        self.subject = subject
        status_text = f"HTTP {status}" if status is not None else "no HTTP response"
        about = f" for {subject}" if subject else ""
        code = f" {error_code}" if error_code else ""
        super().__init__(f"MLflow {method} {path}{about} failed ({status_text}{code}): {message}")


class MlflowNotFoundError(MlflowRestError):
    """The model, version or run named in the call does not exist."""


@dataclass(frozen=True)
class _MlflowResource:
    partition: str
    region: str
    resource_type: str

    @classmethod
    def parse(cls, arn: str) -> _MlflowResource:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sagemaker":
            raise ValueError(f"not a SageMaker ARN: {arn!r}")
        resource_type, _, resource_id = parts[5].partition("/")
        if resource_type not in _ROUTING_HEADERS or not resource_id or not parts[3]:
            allowed = " or ".join(sorted(_ROUTING_HEADERS))
            raise ValueError(f"not a managed MLflow ARN (expected resource type {allowed} and a region): {arn!r}")
        return cls(partition=parts[1], region=parts[3], resource_type=resource_type)

    def endpoint(self) -> str:
        suffix = _ENDPOINT_DNS_SUFFIXES.get(self.partition)
        if suffix is None:
            raise ValueError(
                f"no known managed MLflow endpoint for partition {self.partition!r}; pass base_url explicitly"
            )
        if self.resource_type == "mlflow-app":
            return f"https://mlflow.sagemaker.{self.region}.app.{suffix}"
        return f"https://{self.region}.experiments.sagemaker.{suffix}"


class MlflowRestClient:
    """SigV4-signed calls to the MLflow REST API of one managed tracking server or MLflow App.

    Every operation used here is idempotent (reads, set/delete alias, set tag), which is
    what makes retrying a POST or DELETE after a 5xx or a dropped connection safe.
    """

    def __init__(
        self,
        tracking_server_arn: str,
        *,
        credentials: botocore.credentials.Credentials | None = None,
        region: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float = 10.0,
        max_attempts: int = 3,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        resource = _MlflowResource.parse(tracking_server_arn)
        self.tracking_server_arn = tracking_server_arn
        self.region = region or resource.region
        self.base_url = (base_url or resource.endpoint()).rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self._routing_header = _ROUTING_HEADERS[resource.resource_type]
        self.signing_service = _SIGNING_SERVICES[resource.resource_type]
        self._credentials = credentials
        self._load_credentials: Callable[[], botocore.credentials.Credentials | None] | None = None

    @classmethod
    def from_session(
        cls,
        tracking_server_arn: str,
        session: boto3.session.Session | None = None,
        **kwargs: Any,
    ) -> MlflowRestClient:
        """A client whose credentials come from `session` (default: a new boto3 session).

        The credential chain is resolved at the first request, not here, so building the
        client at import or cold start never touches the network.
        """
        if session is None:
            import boto3.session

            session = boto3.session.Session()
        client = cls(tracking_server_arn, **kwargs)
        client._load_credentials = session.get_credentials
        return client

    def get_model_version(self, name: str, version: str) -> dict[str, Any]:
        """The MLflow model_version object, with `tags` and `aliases` always present as lists."""
        body = self._call(
            "GET",
            "model-versions/get",
            {"name": name, "version": str(version)},
            subject=f"model {name!r} version {version}",
        )
        return _model_version(body)

    def get_model_version_by_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        """The version the alias points at, or None when the alias is not set on the model."""
        try:
            body = self._call(
                "GET",
                "registered-models/alias",
                {"name": name, "alias": alias},
                subject=f"alias {alias!r} of model {name!r}",
            )
        except MlflowRestError as error:
            # MLflow answers an unset alias with 400 INVALID_PARAMETER_VALUE ("Registered model
            # alias X not found."), not 404; a missing model still comes back as not found.
            if error.error_code == "INVALID_PARAMETER_VALUE" and "not found" in error.message.lower():
                return None
            raise
        return _model_version(body)

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric of the run (highest step, then newest timestamp)."""
        body = self._call("GET", "runs/get", {"run_id": run_id}, subject=f"run {run_id!r}")
        run = _as_object(body.get("run"))
        metrics = _as_object(run.get("data")).get("metrics") or []
        # float() also reads the "NaN" and "Infinity" strings protobuf JSON uses for those values.
        return {str(metric["key"]): float(metric["value"]) for metric in cast(list[dict[str, Any]], metrics)}

    def search_model_versions(
        self, filter_string: str, *, max_results: int = 1000, page_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of `model-versions/search`: the versions (tags as lists) and the next page's token."""
        params = {"filter": filter_string, "max_results": str(max_results)}
        if page_token:
            params["page_token"] = page_token
        body = self._call("GET", "model-versions/search", params, subject=f"model versions where {filter_string}")
        raw = body.get("model_versions") or []
        versions = [_model_version({"model_version": item}) for item in cast(list[Any], raw)]
        return versions, (str(body["next_page_token"]) if body.get("next_page_token") else None)

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point the alias at the version (moving it if it pointed elsewhere)."""
        self._call(
            "POST",
            "registered-models/alias",
            {"name": name, "alias": alias, "version": str(version)},
            subject=f"alias {alias!r} of model {name!r} -> version {version}",
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove the alias; removing an alias that is not set is a no-op on the server."""
        # This DELETE takes its parameters in a JSON body: the server ignores a query string here.
        self._call(
            "DELETE",
            "registered-models/alias",
            {"name": name, "alias": alias},
            subject=f"alias {alias!r} of model {name!r}",
        )

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set (or overwrite) one tag on a model version."""
        self._call(
            "POST",
            "model-versions/set-tag",
            {"name": name, "version": str(version), "key": key, "value": value},
            subject=f"tag {key!r} of model {name!r} version {version}",
        )

    def _call(self, method: str, endpoint: str, params: dict[str, str], *, subject: str) -> dict[str, Any]:
        path = API_PREFIX + endpoint
        attempt = 0
        while True:
            attempt += 1
            try:
                status, raw = self._send(method, path, params)
            except _TRANSIENT_ERRORS as error:
                if attempt < self.max_attempts:
                    self._back_off(attempt, method, path, repr(error))
                    continue
                raise MlflowRestError(
                    method=method,
                    path=path,
                    status=None,
                    error_code=None,
                    message=f"no answer after {attempt} attempt(s): {error!r}",
                    subject=subject,
                ) from error
            if status in _RETRYABLE_STATUSES and attempt < self.max_attempts:
                self._back_off(attempt, method, path, f"HTTP {status}")
                continue
            if status >= 400:
                raise _error_from_response(method, path, status, raw, subject)
            return _parse_success(method, path, status, raw, subject)

    def _send(self, method: str, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        url = self.base_url + path
        body: bytes | None = None
        headers = {self._routing_header: self.tracking_server_arn}
        if method == "GET":
            # Encode spaces as %20, never '+': the signature is computed over this exact query
            # string, and the service canonicalizes it the SigV4 way.
            url += "?" + urlencode(params, quote_via=quote, safe="")
        else:
            body = json.dumps(params).encode("utf-8")
            headers["Content-Type"] = "application/json"
        # The sagemaker-mlflow plugin sends the payload hash as a header on every request;
        # doing the same keeps these requests shaped like the ones the service is known to accept.
        headers["X-Amz-Content-SHA256"] = hashlib.sha256(body or b"").hexdigest()
        signed = self._sign(method, url, body, headers)
        request = urllib.request.Request(signed.url, data=body, headers=dict(signed.headers.items()), method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return int(response.status), cast(bytes, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), error.read()

    def _sign(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Any:
        # Frozen per request: Lambda role credentials rotate, and a refreshable credentials
        # object only refreshes when asked for a fresh snapshot.
        credentials = self._resolve_credentials()
        if credentials is None:
            raise NoCredentialsError()
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), self.signing_service, self.region).add_auth(request)
        return request.prepare()

    def _resolve_credentials(self) -> botocore.credentials.Credentials | None:
        if self._credentials is None and self._load_credentials is not None:
            self._credentials = self._load_credentials()
        return self._credentials

    def _back_off(self, attempt: int, method: str, path: str, reason: str) -> None:
        # Full jitter keeps concurrent Lambda invocations from retrying in lockstep.
        delay = random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt))
        logger.warning(
            "MLflow %s %s failed (%s); retrying in %.2f s (attempt %d of %d)",
            method,
            path,
            reason,
            delay,
            attempt + 1,
            self.max_attempts,
        )
        time.sleep(delay)


def _as_object(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _model_version(body: dict[str, Any]) -> dict[str, Any]:
    model_version = _as_object(body.get("model_version"))
    # Protobuf JSON leaves out empty repeated fields; callers should not have to care.
    model_version.setdefault("tags", [])
    model_version.setdefault("aliases", [])
    return model_version


def _parse_success(method: str, path: str, status: int, raw: bytes, subject: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        # A proxy or login page answering in place of MLflow; better loud than a silent empty result.
        raise MlflowRestError(
            method=method,
            path=path,
            status=status,
            error_code=None,
            message=f"expected a JSON object, got: {_snippet(raw)}",
            subject=subject,
        )
    return cast(dict[str, Any], parsed)


def _error_from_response(method: str, path: str, status: int, raw: bytes, subject: str) -> MlflowRestError:
    error_code: str | None = None
    message = _snippet(raw)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error_code = parsed.get("error_code") or None
        # MLflow says "message"; errors raised by the AWS front end (auth, throttling) may say "Message".
        message = str(parsed.get("message") or parsed.get("Message") or message)
    # A 404 without an MLflow error body is a wrong URL (an HTML page), not a missing model.
    not_found = error_code == "RESOURCE_DOES_NOT_EXIST" or (status == 404 and error_code is not None)
    error_type = MlflowNotFoundError if not_found else MlflowRestError
    return error_type(
        method=method,
        path=path,
        status=status,
        error_code=error_code,
        message=message,
        subject=subject,
    )


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= _ERROR_BODY_LIMIT else text[:_ERROR_BODY_LIMIT] + "..."
