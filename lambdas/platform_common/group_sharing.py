"""Let the consuming environments' deployers read a model package group of the registry of record.

MLflow's automatic registration creates the groups, so no stack can own their resource policies;
the model gate applies one when it judges a version of a group (PutModelPackageGroupPolicy,
SageMaker API Reference, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PutModelPackageGroupPolicy.html:
ResourcePolicy is a JSON string of at most 20480 characters). The policy has the shape the
SageMaker Developer Guide gives for sharing a group with other accounts, read only:
`sagemaker:DescribeModelPackage`, `ListModelPackages` and `DescribeModelPackageGroup` on
`[<model-package-group-arn>, arn:aws:sagemaker:<region>:<owner-account-id>:model-package/<group>/*]`
("Set up discoverability", https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram-discover.html).
The principals are the consumers' deployer roles by ARN.

It is applied only when it differs from the group's current policy, so judging a version costs one
GetModelPackageGroupPolicy call and the policy is written once per group (and again if the
consumers change).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

READ_ACTIONS = (
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
)
STATEMENT_ID = "ConsumerDeployersReadReleasedVersions"
# The group's versions are model-package/<group>/<n> (SageMaker Developer Guide, "Model Registry
# Models, Model Versions, and Model Groups").
_PACKAGE_ARN_RE = re.compile(
    r"^(?P<head>arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}):model-package/(?P<group>[^/]+)/\d+$"
)
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,64}$")
# A group without a policy answers GetModelPackageGroupPolicy with an error rather than an empty policy.
_NO_POLICY_CODES = ("ValidationException", "ResourceNotFound")

UNCHANGED = "unchanged"
UPDATED = "updated"


def parse_reader_arns(raw: str) -> tuple[str, ...]:
    """The comma-separated role ARNs of the setting; ValueError naming the bad entry otherwise."""
    arns = tuple(part.strip() for part in raw.split(",") if part.strip())
    for arn in arns:
        if not _ROLE_ARN_RE.match(arn):
            raise ValueError(f"registry reader {arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return arns


def group_policy(package_arn: str, reader_arns: Sequence[str]) -> dict[str, Any]:
    """The resource policy of the group `package_arn` belongs to: read access for `reader_arns`."""
    match = _PACKAGE_ARN_RE.match(package_arn)
    if match is None:
        raise ValueError(f"{package_arn!r} is not a versioned model package ARN")
    head, group = match.group("head"), match.group("group")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": STATEMENT_ID,
                "Effect": "Allow",
                "Principal": {"AWS": sorted(reader_arns)},
                "Action": list(READ_ACTIONS),
                "Resource": [f"{head}:model-package-group/{group}", f"{head}:model-package/{group}/*"],
            }
        ],
    }


def group_name(package_arn: str) -> str:
    """The group of a versioned package ARN."""
    match = _PACKAGE_ARN_RE.match(package_arn)
    if match is None:
        raise ValueError(f"{package_arn!r} is not a versioned model package ARN")
    return match.group("group")


def ensure_shared(sagemaker: Any, package_arn: str, reader_arns: Sequence[str]) -> str:
    """Give the package's group the readers' policy unless it already has exactly that one."""
    desired = group_policy(package_arn, reader_arns)
    name = group_name(package_arn)
    try:
        current = sagemaker.get_model_package_group_policy(ModelPackageGroupName=name)["ResourcePolicy"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _NO_POLICY_CODES:
            raise
        current = None
    if current is not None and json.loads(current) == desired:
        return UNCHANGED
    sagemaker.put_model_package_group_policy(ModelPackageGroupName=name, ResourcePolicy=json.dumps(desired))
    return UPDATED
