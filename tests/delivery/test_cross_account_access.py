"""What the consuming accounts may read of the registry of record, judged by behaviour.

Each environment of the three-account fixture (tests/delivery/fixtures.py) is synthesized and
resolved with its own account and Region, so dev's bucket and key policies and the consumers'
identity policies hold the ARNs a deployment would. Every request is then decided by the
evaluator's cross-account rule (tests/access/iam_eval.py `evaluate_access`): IAM User Guide,
"Cross-account policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
("The resource-based policy in the trusting account must specify the principal of the trusted
account" and "The principal's identity-based policy must allow the requested access"); for the
key, AWS KMS Developer Guide, "Allowing users in other accounts to use a KMS key",
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
("Cross-account access requires permission in the key policy of the KMS key and in an IAM
policy in the external user's account").

Who may record a promotion on a consumer's bus is tests/access/test_promotion_permissions.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from platform_common.env_names import REGISTRY_READER_ROLE_ARNS
from platform_common.evidence import evidence_key
from platform_common.group_sharing import group_policy, parse_reader_arns
from stacks.config import load_environment
from stacks.constructs.managed_mlflow import model_package_group_suffix
from stacks.naming import mlflow_name
from tests.access.cfn_resolver import Deployment, deploy
from tests.access.iam_eval import Decision, Request, evaluate_access
from tests.delivery.fixtures import ACCOUNTS, REGIONS, three_accounts
from tests.synth import by_stack_name, synth

pytestmark = pytest.mark.xdist_group("delivery")

MODEL = "churn"
EXECUTION = "a1b2c3d4e5f6"
CONSUMERS = ("staging", "prod")
PERSONAS = ("DataScientist", "MLOpsEngineer", "Auditor")
# Every S3 request of the platform's clients is made over TLS 1.2 or later; the buckets deny anything else.
S3_CONTEXT = {"aws:SecureTransport": True, "s3:TlsVersion": 1.3}


@dataclass(frozen=True)
class Environment:
    """One environment of the fixture as deployed in its own account."""

    name: str
    account: str
    region: str
    deployment: Deployment

    def _resources(self, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        resolver = self.deployment.resolver
        return [
            (stack, resolver.resolve(stack, body.get("Properties", {})))
            for stack in resolver.stack_names
            for body in resolver.template(stack)["Resources"].values()
            if body["Type"] == kind
        ]

    def output(self, unit: str, name: str) -> str:
        return str(self.deployment.resolver.output(f"mlops-{self.name}-{unit}", name))

    @property
    def artifact_bucket(self) -> str:
        return self.output("data", "ArtifactBucketName")

    @property
    def data_bucket(self) -> str:
        return self.output("data", "DataBucketName")

    @property
    def key_arn(self) -> str:
        return self.output("data", "PlatformKeyArn")

    def bucket_policy(self, bucket: str) -> Mapping[str, Any]:
        (policy,) = [p["PolicyDocument"] for _, p in self._resources("AWS::S3::BucketPolicy") if p["Bucket"] == bucket]
        return policy

    def key_policy(self, key_arn: str) -> Mapping[str, Any]:
        resolver = self.deployment.resolver
        (policy,) = [
            resolver.resolve(stack, body["Properties"]["KeyPolicy"])
            for stack in resolver.stack_names
            for logical, body in resolver.template(stack)["Resources"].items()
            if body["Type"] == "AWS::KMS::Key" and resolver.resolve(stack, {"Fn::GetAtt": [logical, "Arn"]}) == key_arn
        ]
        return policy

    def gate_readers(self) -> tuple[str, ...]:
        """The reader roles the model gate is configured with (its function's environment)."""
        (raw,) = [
            p["Environment"]["Variables"][REGISTRY_READER_ROLE_ARNS]
            for _, p in self._resources("AWS::Lambda::Function")
            if REGISTRY_READER_ROLE_ARNS in p.get("Environment", {}).get("Variables", {})
        ]
        return parse_reader_arns(raw)

    def package_arn(self, version: int = 3) -> str:
        """A version of the model's group: MLflow names it `<model>-<hash of the server name>`."""
        config = load_environment(three_accounts(), self.name)
        group = f"{MODEL}-{model_package_group_suffix(mlflow_name(config))}"
        return f"arn:aws:sagemaker:{self.region}:{self.account}:model-package/{group}/{version}"

    def role_arn(self, name: str) -> str:
        return self.deployment.role(f"mlops-{self.name}-{name}").arn

    def identity_policies(self, name: str) -> tuple[Mapping[str, Any], ...]:
        role = self.deployment.role(f"mlops-{self.name}-{name}")
        assert not role.external_policy_arns, (
            f"{role.name} holds policies defined elsewhere: {role.external_policy_arns}"
        )
        return role.policies


@cache
def environment(name: str) -> Environment:
    """`name` of the fixture, its templates resolved with its own account and Region."""
    settings = three_accounts()
    _, templates = synth(name, settings)
    stacks = by_stack_name(templates)
    return Environment(name, ACCOUNTS[name], REGIONS[name], deploy(stacks, ACCOUNTS[name], REGIONS[name]))


def _artifact(prefix_key: str) -> Request:
    return Request("s3:GetObject", f"arn:aws:s3:::{environment('dev').artifact_bucket}/{prefix_key}", S3_CONTEXT)


def _requests() -> dict[str, tuple[Request, str]]:
    """Named requests on dev's resources, each with the dev resource policy that governs it."""
    dev = environment("dev")
    artifacts, data = dev.artifact_bucket, dev.data_bucket
    via_s3 = {"kms:ViaService": f"s3.{dev.region}.amazonaws.com"}
    return {
        "get model artifact": (_artifact(f"pipelines/{MODEL}/{EXECUTION}/train/output/model.tar.gz"), artifacts),
        "get evidence": (_artifact(evidence_key(MODEL, EXECUTION)), artifacts),
        "decrypt through S3": (Request("kms:Decrypt", dev.key_arn, via_s3), "key"),
        "decrypt directly": (Request("kms:Decrypt", dev.key_arn), "key"),
        "put model artifact": (
            Request("s3:PutObject", f"arn:aws:s3:::{artifacts}/pipelines/{MODEL}/{EXECUTION}/model.tar.gz", S3_CONTEXT),
            artifacts,
        ),
        "get code": (_artifact(f"code/{MODEL}/pipeline.py"), artifacts),
        "get dataset": (Request("s3:GetObject", f"arn:aws:s3:::{data}/datasets/{MODEL}/train.csv", S3_CONTEXT), data),
        "describe package": (Request("sagemaker:DescribeModelPackage", dev.package_arn()), "group"),
    }


def _resource_policy(governing: str) -> Mapping[str, Any]:
    dev = environment("dev")
    if governing == "key":
        return dev.key_policy(dev.key_arn)
    if governing == "group":
        # Applied at run time by the model gate (lambdas/platform_common/group_sharing.py).
        return group_policy(dev.package_arn(), dev.gate_readers())
    return dev.bucket_policy(governing)


def decide(consumer: str, role: str, request_name: str) -> Decision:
    """The decision on a named request made by `role` of `consumer` against dev's resources."""
    env = environment(consumer)
    request, governing = _requests()[request_name]
    return evaluate_access(
        request,
        caller=env.role_arn(role),
        identity_policies=env.identity_policies(role),
        resource_policy=_resource_policy(governing),
        resource_account=ACCOUNTS["dev"],
    )


# The deployer verifies a promoted version: it reads the evidence and the artifact, decrypted
# by S3 with dev's key, and describes the package in dev's group. It writes nothing in dev and
# reads nothing else there.
DEPLOYER = {
    "get model artifact": True,
    "get evidence": True,
    "decrypt through S3": True,
    # kms:ViaService: "limits use of a KMS key to requests from specified AWS services" (AWS KMS
    # Developer Guide, https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    "decrypt directly": False,
    "put model artifact": False,
    "get code": False,
    "get dataset": False,
    "describe package": True,
}
# The model execution role only loads the model artifact when the endpoint starts.
MODEL_ROLE = {
    "get model artifact": True,
    "get evidence": False,
    "decrypt through S3": True,
    "decrypt directly": False,
    "put model artifact": False,
    "get code": False,
    "get dataset": False,
    "describe package": False,
}
ROWS = [
    *((consumer, "deployer-function", name, allowed) for consumer in CONSUMERS for name, allowed in DEPLOYER.items()),
    *((consumer, "model-execution", name, allowed) for consumer in CONSUMERS for name, allowed in MODEL_ROLE.items()),
    # The personas of the consuming accounts gain nothing in dev: the resource policies name only
    # the two roles above (aws:PrincipalArn).
    *((consumer, persona, name, False) for consumer in CONSUMERS for persona in PERSONAS for name in DEPLOYER),
]


@pytest.mark.parametrize(
    ("consumer", "role", "request_name", "allowed"),
    ROWS,
    ids=[f"{c}-{r}-{n.replace(' ', '_')}-{'allow' if a else 'deny'}" for c, r, n, a in ROWS],
)
def test_consumer_reads_of_the_registry(consumer: str, role: str, request_name: str, allowed: bool) -> None:
    """Given dev's resource policies and the consumer role's identity policies, when the role calls, then."""
    decision = decide(consumer, role, request_name)

    assert decision.allowed is allowed, f"{consumer} {role}: {request_name} -> {decision.value}"


def test_the_deployers_reads_are_granted_by_both_accounts() -> None:
    """Neither half alone suffices: dev's policy without the deployer's identity grant, or the reverse, denies."""
    staging, dev = environment("staging"), environment("dev")
    request, bucket = _requests()["get evidence"]
    caller = staging.role_arn("deployer-function")

    without_identity = evaluate_access(
        request,
        caller=caller,
        identity_policies=[],
        resource_policy=dev.bucket_policy(bucket),
        resource_account=dev.account,
    )
    without_bucket_grant = evaluate_access(
        request,
        caller=caller,
        identity_policies=staging.identity_policies("deployer-function"),
        resource_policy=None,
        resource_account=dev.account,
    )

    assert without_identity is Decision.IMPLICIT_DENY
    assert without_bucket_grant is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("persona", ["DataScientist", "MLOpsEngineer"])
def test_dev_personas_cannot_read_prods_artifacts(persona: str) -> None:
    """The grant runs one way only: prod's bucket names no dev principal ("Cross-account policy evaluation logic")."""
    dev, prod = environment("dev"), environment("prod")
    request = Request(
        "s3:GetObject", f"arn:aws:s3:::{prod.artifact_bucket}/pipelines/{MODEL}/{EXECUTION}/model.tar.gz", S3_CONTEXT
    )

    decision = evaluate_access(
        request,
        caller=dev.role_arn(persona),
        identity_policies=dev.identity_policies(persona),
        resource_policy=prod.bucket_policy(prod.artifact_bucket),
        resource_account=prod.account,
    )

    assert decision is not Decision.ALLOW, f"dev {persona} reads prod's artifacts: {decision.value}"


# An identity policy as broad as an account administrator's: what the caller may then do in dev
# is exactly what dev's resource policies grant it.
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEV_SIDE = [
    ("deployer-function", "get evidence", True),
    ("deployer-function", "decrypt through S3", True),
    ("deployer-function", "decrypt directly", False),
    ("deployer-function", "put model artifact", False),
    ("deployer-function", "get code", False),
    ("deployer-function", "get dataset", False),
    ("model-execution", "get model artifact", True),
    ("model-execution", "get evidence", False),
    ("model-execution", "describe package", False),
    ("Administrator", "get model artifact", False),
    ("Administrator", "decrypt through S3", False),
    ("Administrator", "describe package", False),
]


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize(
    ("role", "request_name", "allowed"),
    DEV_SIDE,
    ids=[f"{r}-{n.replace(' ', '_')}-{'allow' if a else 'deny'}" for r, n, a in DEV_SIDE],
)
def test_dev_policies_alone_confine_a_broadly_permitted_caller(
    consumer: str, role: str, request_name: str, allowed: bool
) -> None:
    """Given a consumer role allowed everything by its own account, dev's policies still admit only the
    named roles to the named prefixes ("Cross-account policy evaluation logic": both accounts must allow)."""
    caller = f"arn:aws:iam::{ACCOUNTS[consumer]}:role/mlops-{consumer}-{role}"
    request, governing = _requests()[request_name]

    decision = evaluate_access(
        request,
        caller=caller,
        identity_policies=[EVERYTHING],
        resource_policy=_resource_policy(governing),
        resource_account=ACCOUNTS["dev"],
    )

    assert decision.allowed is allowed, f"{caller}: {request_name} -> {decision.value}"
