"""The delivery pipeline: one synth in the tooling account, then dev, staging and prod in order.

Built with CDK Pipelines (aws-cdk-lib.pipelines module README,
https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.pipelines-readme.html, and the CDK
Developer Guide, "Continuous integration and delivery (CI/CD) using CDK Pipelines",
https://docs.aws.amazon.com/cdk/v2/guide/cdk_pipeline.html). What this relies on, as the README
puts it:

- "The pipeline is **self-mutating**, which means that if you add new application stages in the
  source code, or new stacks to `MyApplication`, the pipeline will automatically reconfigure
  itself": after the first `cdk deploy` of this stack, a merge to the branch is all it takes.
- "deploying to another account requires one additional piece of configuration: you need to
  enable `crossAccountKeys: true`": the artifact bucket is then encrypted with a customer managed
  KMS key whose policy the target accounts' deploy roles can be given.
- "CDK Pipelines will automatically discover all `Stacks` in the given `Stage` object, determine
  their dependency order, and add appropriate actions ... to deploy the stacks in the right
  order": stacks that do not depend on each other deploy side by side, so `build_platform`'s
  stack dependencies are the waves.
- "We recommend putting manual approval gates in the set of `pre` steps": prod waits for a
  person in a `ManualApprovalStep`.
- Each target environment must be bootstrapped with `--trust <tooling account>` and explicit
  `--cloudformation-execution-policies` ("CDK Environment Bootstrapping"; `make bootstrap-delivery`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Environment, Stack, Stage, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.config.delivery import REGISTRY_ENVIRONMENT, DeliveryConfig, RegistryReader, RegistrySource
from stacks.delivery_compliance import SUPPORT_STACK_PREFIX, acknowledge_pipeline
from stacks.platform import Platform, build_platform

# The commands that install the toolchain are make's own (it creates .venv and runs npm ci), as
# in .ci/run; the gates are the targets CI runs, and the last command writes cdk.out.
SYNTH_COMMANDS = ("make lint", "make test", "make synth-delivery")
# Ubuntu standard 7.0 offers Node.js 22 and Python 3.11 as selectable runtimes (AWS CodeBuild User
# Guide, "Available runtimes", https://docs.aws.amazon.com/codebuild/latest/userguide/available-runtimes.html);
# naming them in `runtime-versions` pins what CI's workflow installs (Node.js 22, Python 3.11)
# instead of the image's defaults, which "can change when a previously default version reaches
# end of life" (same page).
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIME_VERSIONS = {"nodejs": "22", "python": "3.11"}
PROD_APPROVAL = "PromoteToProd"


class PlatformStage(Stage):
    """One environment's platform, deployed into the account and region its configuration names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        registry_readers: Sequence[RegistryReader] = (),
        registry_source: RegistrySource | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, env=Environment(account=config.account, region=config.region), **kwargs)
        self.platform: Platform = build_platform(
            self, config, registry_readers=registry_readers, registry_source=registry_source
        )


class DeliveryStack(Stack):
    """The self-mutating pipeline in the tooling account."""

    def __init__(self, scope: Construct, construct_id: str, *, delivery: DeliveryConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        source = pipelines.CodePipelineSource.connection(
            delivery.repository, delivery.branch, connection_arn=delivery.connection_arn
        )
        self.synth = pipelines.ShellStep("Synth", input=source, commands=list(SYNTH_COMMANDS))
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=delivery.pipeline_name,
            pipeline_type=codepipeline.PipelineType.V2,
            synth=self.synth,
            self_mutation=True,
            cross_account_keys=True,
            enable_key_rotation=True,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": RUNTIME_VERSIONS}}}
                ),
            ),
        )
        self.stages: dict[str, PlatformStage] = {}
        for config in delivery.environments:
            readers = delivery.registry_readers() if config.name == REGISTRY_ENVIRONMENT else ()
            registry_source = delivery.registry_source() if config.name != REGISTRY_ENVIRONMENT else None
            stage = PlatformStage(
                self, config.name, config=config, registry_readers=readers, registry_source=registry_source
            )
            pre: list[pipelines.Step] = []
            if config.name == "prod":
                pre.append(
                    pipelines.ManualApprovalStep(
                        PROD_APPROVAL, comment="Deploy to prod what staging runs: approve after checking staging."
                    )
                )
            self.pipeline.add_stage(stage, pre=pre)
            self.stages[config.name] = stage
        # Build now rather than at synth, so the generated roles and buckets exist to be acknowledged.
        self.pipeline.build_pipeline()
        support = [
            child
            for child in self.node.root.node.children
            if isinstance(child, Stack) and child.node.id.startswith(SUPPORT_STACK_PREFIX)
        ]
        acknowledge_pipeline([self, *support])
