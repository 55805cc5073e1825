"""Real S3 calls by each persona against moto with IAM enforcement, judged by moto and the evaluator.

moto creates the persona roles with the resolved policies, the buckets with their synthesized
names, and STS sessions of each role; every call below then runs with moto enforcing the
session's identity policies (`set_initial_no_auth_action_count(0)` around the call). moto
matches S3 actions and resources as AWS does, which makes it the reference this module holds
the IAM evaluator to: for every call the two must agree, and both must give the expected answer.

moto's limits, pinned by the last tests so an upgrade that lifts them is noticed: it ignores
condition operators other than StringEquals and passes no request context for S3, so the
`s3:prefix` condition on listing is judged by the evaluator alone; it checks SageMaker calls
against resource `*`, so it cannot judge SageMaker grants scoped to an ARN; and it compares
trust-policy principals as strings, so it cannot judge an account-root principal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from tests.access.cfn_resolver import REGION
from tests.access.iam_eval import Request, trust_allows
from tests.access.resolved_platform import PERSONAS, ResolvedPlatform

pytestmark = pytest.mark.xdist_group("access")

DATA_SET_KEY = "datasets/churn/2024-06/train.csv"
ELSEWHERE_KEY = "exports/customers.csv"
ARTIFACT_KEY = "mlflow/{mlflow_name}/1/0a1b2c/artifacts/model/model.pkl"
# Where MLflow 3 keeps a logged model's files, and outside this server's artifact root.
LOGGED_MODEL_KEY = "mlflow/{mlflow_name}/1/models/m-0a1b2c/artifacts/model.pkl"
OTHER_SERVER_ARTIFACT_KEY = "mlflow/other-team-mlflow/1/0a1b2c/artifacts/model/model.pkl"
ARTIFACT_BUCKET_ELSEWHERE_KEY = "exports/report.csv"
# Credential and signature errors mean the test itself is broken, not that IAM said no.
_SETUP_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "InvalidClientTokenId"}


@dataclass
class World:
    """moto's account: the personas' sessions and what setup created."""

    platform: ResolvedPlatform
    sessions: dict[str, boto3.Session]
    version_id: str
    upload_id: str
    # An IAM user of the account, allowed to call sts:AssumeRole on anything.
    engineer: boto3.Session
    engineer_arn: str

    def s3(self, persona: str) -> Any:
        return self.sessions[persona].client("s3", region_name=REGION)

    def sagemaker(self, persona: str) -> Any:
        return self.sessions[persona].client("sagemaker", region_name=REGION)


@pytest.fixture(scope="module")
def world(dev: ResolvedPlatform) -> Iterator[World]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        for role in dev.roles:
            iam.create_role(
                RoleName=role.name,
                AssumeRolePolicyDocument=json.dumps(role.trust_policy),
                MaxSessionDuration=role.max_session_duration,
            )
            for index, document in enumerate(role.policies):
                arn = iam.create_policy(PolicyName=f"{role.name}-{index}", PolicyDocument=json.dumps(document))
                iam.attach_role_policy(RoleName=role.name, PolicyArn=arn["Policy"]["Arn"])

        names = dev.names
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (names["data"], names["artifacts"]):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        version_id = s3.put_object(Bucket=names["data"], Key=DATA_SET_KEY, Body=b"x,y\n1,0\n")["VersionId"]
        s3.put_object(Bucket=names["data"], Key=ELSEWHERE_KEY, Body=b"id\n1\n")
        s3.put_object(Bucket=names["artifacts"], Key=dev.fill(ARTIFACT_KEY), Body=b"model")
        upload_id = s3.create_multipart_upload(Bucket=names["data"], Key=DATA_SET_KEY)["UploadId"]

        user = iam.create_user(UserName="engineer")["User"]
        iam.put_user_policy(
            UserName="engineer",
            PolicyName="assume-any-role",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="engineer")["AccessKey"]
        engineer = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

        sts = boto3.client("sts", region_name=REGION)
        sessions = {}
        for persona in PERSONAS:
            role = dev.role(persona)
            credentials = sts.assume_role(RoleArn=role.arn, RoleSessionName=f"{persona.lower()}-test")["Credentials"]
            sessions[persona] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        yield World(
            platform=dev,
            sessions=sessions,
            version_id=version_id,
            upload_id=upload_id,
            engineer=engineer,
            engineer_arn=user["Arn"],
        )


def moto_allows(call: Callable[[], object]) -> bool:
    """Run `call` with moto enforcing IAM from the first request on; False on AccessDenied."""

    @set_initial_no_auth_action_count(0)
    def enforced() -> object:
        return call()

    try:
        enforced()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in _SETUP_ERRORS:
            raise
        message = error.response["Error"].get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException") or (code == "403" and "not authorized" in message):
            return False
        # Any other error (NoSuchBucketPolicy, BucketNotEmpty, ...) comes after authorization.
    return True


@dataclass(frozen=True)
class S3Call:
    """A boto3 S3 operation and the IAM request AWS authorizes it as."""

    operation: str
    params: Mapping[str, Any]
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def run(self, world: World, persona: str) -> bool:
        params = {k: self._fill(v, world) for k, v in self.params.items()}
        client = world.s3(persona)
        return moto_allows(lambda: getattr(client, self.operation)(**params))

    @staticmethod
    def _fill(value: Any, world: World) -> Any:
        if not isinstance(value, str) or value.startswith('{"'):
            return value
        return world.platform.fill(value).replace("<version>", world.version_id).replace("<upload>", world.upload_id)

    def request(self, platform: ResolvedPlatform) -> Request:
        context = {k: platform.fill(v) for k, v in self.context.items()}
        return Request(self.action, platform.fill(self.resource), context)

    def __str__(self) -> str:
        where = "/".join(v for k, v in self.params.items() if k in ("Bucket", "Key", "Prefix"))
        return f"{self.operation}({where}{', version' if 'VersionId' in self.params else ''})"


def _object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{{{bucket}}}/{key}"


def _bucket(bucket: str) -> str:
    return f"arn:aws:s3:::{{{bucket}}}"


PUT_DATA_SET = S3Call(
    "put_object",
    {"Bucket": "{data}", "Key": DATA_SET_KEY, "Body": "a,b\n"},
    "s3:PutObject",
    _object("data", DATA_SET_KEY),
)
GET_DATA_SET = S3Call(
    "get_object", {"Bucket": "{data}", "Key": DATA_SET_KEY}, "s3:GetObject", _object("data", DATA_SET_KEY)
)
GET_DATA_SET_VERSION = S3Call(
    "get_object",
    {"Bucket": "{data}", "Key": DATA_SET_KEY, "VersionId": "<version>"},
    "s3:GetObjectVersion",
    _object("data", DATA_SET_KEY),
)
START_UPLOAD = S3Call(
    "create_multipart_upload", {"Bucket": "{data}", "Key": DATA_SET_KEY}, "s3:PutObject", _object("data", DATA_SET_KEY)
)
ABORT_UPLOAD = S3Call(
    "abort_multipart_upload",
    {"Bucket": "{data}", "Key": DATA_SET_KEY, "UploadId": "<upload>"},
    "s3:AbortMultipartUpload",
    _object("data", DATA_SET_KEY),
)
DELETE_DATA_SET = S3Call(
    "delete_object", {"Bucket": "{data}", "Key": DATA_SET_KEY}, "s3:DeleteObject", _object("data", DATA_SET_KEY)
)
DELETE_DATA_SET_VERSION = S3Call(
    "delete_object",
    {"Bucket": "{data}", "Key": DATA_SET_KEY, "VersionId": "<version>"},
    "s3:DeleteObjectVersion",
    _object("data", DATA_SET_KEY),
)
PUT_ELSEWHERE = S3Call(
    "put_object",
    {"Bucket": "{data}", "Key": ELSEWHERE_KEY, "Body": "id\n"},
    "s3:PutObject",
    _object("data", ELSEWHERE_KEY),
)
GET_ELSEWHERE = S3Call(
    "get_object", {"Bucket": "{data}", "Key": ELSEWHERE_KEY}, "s3:GetObject", _object("data", ELSEWHERE_KEY)
)
GET_ARTIFACT = S3Call(
    "get_object", {"Bucket": "{artifacts}", "Key": ARTIFACT_KEY}, "s3:GetObject", _object("artifacts", ARTIFACT_KEY)
)
PUT_ARTIFACT = S3Call(
    "put_object",
    {"Bucket": "{artifacts}", "Key": ARTIFACT_KEY, "Body": "model v2"},
    "s3:PutObject",
    _object("artifacts", ARTIFACT_KEY),
)


def _put_artifact(key: str) -> S3Call:
    return S3Call(
        "put_object", {"Bucket": "{artifacts}", "Key": key, "Body": "x"}, "s3:PutObject", _object("artifacts", key)
    )


PUT_LOGGED_MODEL = _put_artifact(LOGGED_MODEL_KEY)
# log_model of a large model: boto3's upload_file switches to a multipart upload.
START_ARTIFACT_UPLOAD = S3Call(
    "create_multipart_upload",
    {"Bucket": "{artifacts}", "Key": LOGGED_MODEL_KEY},
    "s3:PutObject",
    _object("artifacts", LOGGED_MODEL_KEY),
)
PUT_OTHER_SERVER_ARTIFACT = _put_artifact(OTHER_SERVER_ARTIFACT_KEY)
PUT_ARTIFACT_BUCKET_ELSEWHERE = _put_artifact(ARTIFACT_BUCKET_ELSEWHERE_KEY)
DELETE_ARTIFACT = S3Call(
    "delete_object",
    {"Bucket": "{artifacts}", "Key": ARTIFACT_KEY},
    "s3:DeleteObject",
    _object("artifacts", ARTIFACT_KEY),
)
LIST_DATA_SETS = S3Call(
    "list_objects_v2",
    {"Bucket": "{data}", "Prefix": "datasets/"},
    "s3:ListBucket",
    _bucket("data"),
    {"s3:prefix": "datasets/"},
)
LIST_ARTIFACTS = S3Call(
    "list_objects_v2",
    {"Bucket": "{artifacts}", "Prefix": "mlflow/"},
    "s3:ListBucket",
    _bucket("artifacts"),
    {"s3:prefix": "mlflow/"},
)
LIST_VERSIONS = S3Call("list_object_versions", {"Bucket": "{data}"}, "s3:ListBucketVersions", _bucket("data"))
GET_VERSIONING = S3Call("get_bucket_versioning", {"Bucket": "{data}"}, "s3:GetBucketVersioning", _bucket("data"))
GET_POLICY = S3Call("get_bucket_policy", {"Bucket": "{artifacts}"}, "s3:GetBucketPolicy", _bucket("artifacts"))
GET_LOGGING = S3Call("get_bucket_logging", {"Bucket": "{data}"}, "s3:GetBucketLogging", _bucket("data"))
GET_NOTIFICATION = S3Call(
    "get_bucket_notification_configuration", {"Bucket": "{data}"}, "s3:GetBucketNotification", _bucket("data")
)
GET_LIFECYCLE = S3Call(
    "get_bucket_lifecycle_configuration", {"Bucket": "{data}"}, "s3:GetLifecycleConfiguration", _bucket("data")
)
PUT_POLICY = S3Call(
    "put_bucket_policy",
    {"Bucket": "{data}", "Policy": '{"Version":"2012-10-17","Statement":[]}'},
    "s3:PutBucketPolicy",
    _bucket("data"),
)
# Should it ever be allowed, it leaves the bucket as it was.
KEEP_VERSIONING = S3Call(
    "put_bucket_versioning",
    {"Bucket": "{data}", "VersioningConfiguration": {"Status": "Enabled"}},
    "s3:PutBucketVersioning",
    _bucket("data"),
)
DELETE_DATA_BUCKET = S3Call("delete_bucket", {"Bucket": "{data}"}, "s3:DeleteBucket", _bucket("data"))
DELETE_ARTIFACT_BUCKET = S3Call("delete_bucket", {"Bucket": "{artifacts}"}, "s3:DeleteBucket", _bucket("artifacts"))

EXPECTED: dict[str, tuple[list[S3Call], list[S3Call]]] = {
    # persona: (allowed, denied)
    # The DataScientist writes MLflow artifacts: AWS's sagemaker-mlflow plugin uploads them
    # straight to S3 with the caller's credentials (sagemaker_mlflow/s3_presigned_artifact_repo.py,
    # presigned uploads being opt-in). Only under this server's root, and nothing is deleted.
    "DataScientist": (
        [
            PUT_DATA_SET,
            GET_DATA_SET,
            GET_DATA_SET_VERSION,
            START_UPLOAD,
            ABORT_UPLOAD,
            GET_ARTIFACT,
            PUT_ARTIFACT,
            PUT_LOGGED_MODEL,
            START_ARTIFACT_UPLOAD,
            LIST_DATA_SETS,
            LIST_ARTIFACTS,
        ],
        [
            DELETE_DATA_SET_VERSION,
            DELETE_DATA_BUCKET,
            DELETE_ARTIFACT_BUCKET,
            DELETE_ARTIFACT,
            PUT_OTHER_SERVER_ARTIFACT,
            PUT_ARTIFACT_BUCKET_ELSEWHERE,
            PUT_ELSEWHERE,
            GET_ELSEWHERE,
            PUT_POLICY,
            KEEP_VERSIONING,
        ],
    ),
    "MLOpsEngineer": (
        [GET_DATA_SET, GET_DATA_SET_VERSION, GET_ARTIFACT, LIST_DATA_SETS, LIST_ARTIFACTS],
        [
            PUT_DATA_SET,
            START_UPLOAD,
            DELETE_DATA_SET,
            DELETE_DATA_SET_VERSION,
            DELETE_DATA_BUCKET,
            DELETE_ARTIFACT_BUCKET,
            PUT_ARTIFACT,
            PUT_POLICY,
            KEEP_VERSIONING,
        ],
    ),
    "Auditor": (
        [
            LIST_DATA_SETS,
            LIST_ARTIFACTS,
            LIST_VERSIONS,
            GET_VERSIONING,
            GET_POLICY,
            GET_LOGGING,
            GET_NOTIFICATION,
            GET_LIFECYCLE,
        ],
        [
            GET_DATA_SET,
            GET_DATA_SET_VERSION,
            GET_ARTIFACT,
            GET_ELSEWHERE,
            PUT_DATA_SET,
            DELETE_DATA_SET,
            DELETE_DATA_SET_VERSION,
            DELETE_DATA_BUCKET,
            PUT_POLICY,
            KEEP_VERSIONING,
            PUT_ARTIFACT,
        ],
    ),
}
ROWS = [
    (persona, call, allowed)
    for persona, (may, may_not) in EXPECTED.items()
    for allowed, group in ((True, may), (False, may_not))
    for call in group
]


@pytest.mark.parametrize(
    ("persona", "call", "allowed"),
    ROWS,
    ids=[f"{p}-{'may' if a else 'may-not'}-{c}" for p, c, a in ROWS],
)
def test_moto_and_the_evaluator_agree_with_the_rules(world: World, persona: str, call: S3Call, allowed: bool) -> None:
    by_evaluator = world.platform.decide(persona, call.request(world.platform)).allowed
    by_moto = call.run(world, persona)
    assert (by_moto, by_evaluator) == (allowed, allowed), (
        f"{persona} {call}: expected {'allowed' if allowed else 'denied'}; moto says {by_moto}, "
        f"the evaluator says {by_evaluator}"
    )


def test_the_buckets_survive(world: World) -> None:
    """No denied call slipped through: setup's objects and both buckets are still there."""
    names = world.platform.names
    s3 = boto3.client("s3", region_name=REGION)
    s3.head_object(Bucket=names["data"], Key=DATA_SET_KEY, VersionId=world.version_id)
    s3.head_object(Bucket=names["artifacts"], Key=world.platform.fill(ARTIFACT_KEY))


def test_moto_ignores_the_prefix_condition_so_the_evaluator_judges_it(world: World) -> None:
    """Listing outside datasets/: moto allows it (no condition support), IAM and the evaluator do not.

    If this fails because moto now denies too, move the call into EXPECTED as a denial.
    """
    outside = S3Call(
        "list_objects_v2",
        {"Bucket": "{data}", "Prefix": "exports/"},
        "s3:ListBucket",
        _bucket("data"),
        {"s3:prefix": "exports/"},
    )
    assert not world.platform.decide("DataScientist", outside.request(world.platform)).allowed
    assert outside.run(world, "DataScientist"), "moto now evaluates s3:prefix: make this a cross-checked row"


def test_moto_judges_sagemaker_against_star_only(world: World) -> None:
    """Why SageMaker decisions are left to the evaluator: moto denies a grant scoped to an ARN.

    ListEndpoints is granted on `*` and moto allows it; CreateEndpoint is granted to the
    MLOpsEngineer on `endpoint/<prefix>-*`, yet moto denies it because it checks against `*`.
    """
    sagemaker = world.sagemaker("MLOpsEngineer")
    name = world.platform.fill("{prefix}-churn")
    request = Request("sagemaker:CreateEndpoint", world.platform.fill("{sm}:endpoint/{prefix}-churn"))
    assert world.platform.decide("MLOpsEngineer", request).allowed
    assert moto_allows(lambda: sagemaker.list_endpoints())
    assert not moto_allows(lambda: sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)), (
        "moto now honours resource-scoped SageMaker grants: SageMaker rows could be cross-checked too"
    )


def test_moto_cannot_judge_an_account_root_principal(world: World) -> None:
    """Why trust is left to the evaluator: the account root trusts the account's users; moto disagrees.

    If this fails because moto now lets the user in, trust could be cross-checked with moto too.
    """
    role = world.platform.role("DataScientist")
    assert trust_allows(role.trust_policy, world.engineer_arn)
    sts = world.engineer.client("sts", region_name=REGION)
    assert not moto_allows(lambda: sts.assume_role(RoleArn=role.arn, RoleSessionName="engineer")), (
        "moto now matches account principals: trust rows could be cross-checked with moto"
    )
