"""The regions the platform supports, and the default container image in each.

A region is supported when both of these hold:

- CloudFormation offers the managed MLflow resource of the chosen kind there
  (`AWS::SageMaker::MlflowTrackingServer`, or `AWS::SageMaker::MlflowApp` for an App). AWS
  publishes the resource types of each region as its resource provider schemas ("CloudFormation
  resource provider schemas": "To check the availability of a resource in a given Region, refer
  to the resource provider schemas for that Region",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-type-schemas.html).
- SageMaker's prebuilt scikit-learn 1.4-2 image, the default of every training and processing
  job, is published there. It lives in an ECR account that differs per region (SageMaker
  Developer Guide, "Docker Registry Paths and Example Code",
  https://docs.aws.amazon.com/sagemaker/latest/dg-ecr-paths/sagemaker-algo-docker-registry-paths.html,
  one page per region; the SageMaker Python SDK reads the same accounts from
  sagemaker-core/src/sagemaker/core/image_uri_config/sklearn.json, framework "1.4-2", scope "training").

Only the commercial partition (`aws`) is listed: China, GovCloud and the isolated partitions use
other endpoints and ARNs and are not part of what the platform is tested against.

Configuration validation reads the region lists, so aws_cdk is imported only inside the functions
that add to a stack (and the lookups they share).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_cdk import ICfnConditionExpression, Stack

SKLEARN_REPOSITORY = "sagemaker-scikit-learn"
SKLEARN_IMAGE_TAG = "1.4-2-cpu-py3"
_MAPPING_ID = "SklearnImageAccounts"
_RULE_ID = "SupportedRegion"
# What these functions learn about a stack is kept on its Python object: every question put to
# the CDK runtime (the stack's region, whether it is a token, whether a child exists) is a round
# trip, and each model stack asks them twice (for its images and for its region rule).
_REGION_ATTRIBUTE = "_platform_pinned_region"
_IMAGE_URI_ATTRIBUTE = "_platform_default_image_uri"
_RULE_ATTRIBUTE = "_platform_supported_region_rule"

# ECR account of the scikit-learn 1.4-2 image, per supported region.
SKLEARN_IMAGE_ACCOUNTS: Mapping[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

# Where the platform deploys, per kind of managed MLflow. MLflow tracking servers are also
# offered in ap-east-2, ap-southeast-5, ap-southeast-7 and mx-central-1, which have no
# scikit-learn 1.4-2 image; me-south-1 has the image but no managed MLflow.
SUPPORTED_REGIONS: Mapping[str, tuple[str, ...]] = {
    "tracking-server": tuple(SKLEARN_IMAGE_ACCOUNTS),
    "app": (
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-central-1",
        "eu-central-1",
        "eu-north-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    ),
}


def supported_regions(kind: str) -> tuple[str, ...]:
    """The regions the platform supports with this kind of managed MLflow."""
    return SUPPORTED_REGIONS[kind]


def longest_region(kind: str) -> str:
    """The supported region with the longest name: the worst case for names that embed the region."""
    return max(supported_regions(kind), key=len)


def default_image_uri_for_region(region: str) -> str:
    """The default (scikit-learn) image URI in a concrete supported region."""
    if region not in SKLEARN_IMAGE_ACCOUNTS:
        raise ValueError(f"no default image in {region}; supported regions: {', '.join(SKLEARN_IMAGE_ACCOUNTS)}")
    return f"{SKLEARN_IMAGE_ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com/{SKLEARN_REPOSITORY}:{SKLEARN_IMAGE_TAG}"


@cache
def _pseudo_parameters() -> tuple[str, str]:
    """The tokens of `AWS::Region` and `AWS::URLSuffix`.

    Constants of aws-cdk-lib, the same in every stack and app; each read of `Aws.REGION` is
    otherwise a round trip into the CDK runtime.
    """
    from aws_cdk import Aws

    return Aws.REGION, Aws.URL_SUFFIX


def _pinned_region(stack: Stack) -> str | None:
    """The stack's region when known at synth time, None for an environment-agnostic stack."""
    from aws_cdk import Token

    if not hasattr(stack, _REGION_ATTRIBUTE):
        region = stack.region
        setattr(stack, _REGION_ATTRIBUTE, None if Token.is_unresolved(region) else region)
    pinned: str | None = getattr(stack, _REGION_ATTRIBUTE)
    return pinned


def default_image_uri(stack: Stack) -> str:
    """The default image URI for jobs defined in `stack`.

    A literal when the stack's region is known at synth time; otherwise a lookup CloudFormation
    resolves in the region it deploys to, from a mapping added once per stack (the stack's
    region rule, `require_supported_region`, keeps it to regions the mapping holds).
    """
    from aws_cdk import CfnMapping

    region = _pinned_region(stack)
    if region is not None:
        return default_image_uri_for_region(region)
    uri: str | None = getattr(stack, _IMAGE_URI_ATTRIBUTE, None)
    if uri is None:
        mapping = CfnMapping(
            stack,
            _MAPPING_ID,
            mapping={name: {"account": account} for name, account in SKLEARN_IMAGE_ACCOUNTS.items()},
        )
        region_token, url_suffix = _pseudo_parameters()
        account = mapping.find_in_map(region_token, "account")
        uri = f"{account}.dkr.ecr.{region_token}.{url_suffix}/{SKLEARN_REPOSITORY}:{SKLEARN_IMAGE_TAG}"
        setattr(stack, _IMAGE_URI_ATTRIBUTE, uri)
    return uri


@cache
def _in_supported_region(kind: str) -> ICfnConditionExpression:
    """The condition "the deployment's region is one the platform supports with `kind`".

    An intrinsic function over pseudo parameters only, so one object serves every stack.
    """
    from aws_cdk import Fn

    return Fn.condition_contains(list(supported_regions(kind)), _pseudo_parameters()[0])


def require_supported_region(stack: Stack, kind: str) -> None:
    """Make an environment-agnostic stack refuse, before creating anything, a region the platform does not support.

    A stack pinned to a region needs nothing: configuration validation has already checked it.
    """
    from aws_cdk import CfnRule, CfnRuleAssertion

    if _pinned_region(stack) is not None or getattr(stack, _RULE_ATTRIBUTE, False):
        return
    regions = supported_regions(kind)
    CfnRule(
        stack,
        _RULE_ID,
        assertions=[
            CfnRuleAssertion(
                assert_=_in_supported_region(kind),
                assert_description=(
                    f"This platform (managed MLflow {kind}) deploys only to these regions: {', '.join(regions)}. "
                    "Deploy there, or pin platform.environments.<env>.region in cdk.json to one of them."
                ),
            )
        ],
    )
    setattr(stack, _RULE_ATTRIBUTE, True)
