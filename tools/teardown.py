"""Remove an environment, or one model, including what the platform created outside CloudFormation.

The deployer creates each model's endpoint, endpoint configs and models at run time, so deleting
the stacks leaves them running and billing. They are found by the platform's names and tags:
an endpoint is `<prefix>-<env>-<model>`, its models and configs `<endpoint>-v<version>`
(platform_common.resource_names), each tagged `mlops:model=<model>`. Monitoring schedules on those
endpoints, batch transform jobs in progress on those models and the platform's monitoring
Processing jobs in progress (`<prefix>-<env>-monitor-...`, each tagged with its model) go first.

Order matters: while a model's catalog entry exists, the deployer's periodic check would create
a deleted endpoint again, so the stacks (catalog entries, the deployer) go before the endpoints.

    make destroy ENV=dev [CONFIRM=dev]           # every stack, then the endpoint resources
    make remove-model ENV=dev MODEL=churn [CONFIRM=churn]   # a model already removed from cdk.json

What the stacks retain on purpose (buckets, log groups, tables, queues, keys, the MLflow server)
is listed afterwards from the synthesized templates, with how to delete each.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from platform_common.resource_names import MODEL_TAG, version_resource_name
from stacks import naming
from stacks.config import EnvironmentConfig
from tools.operator_session import OperatorError, caller, environment, run

_VERSION = re.compile(r"-v(?P<version>[1-9]\d*)$")
# A deleted endpoint leaves DescribeEndpoint with a not-found error; the waiter polls for it.
ENDPOINT_WAIT = {"Delay": 15, "MaxAttempts": 80}


@dataclass
class Serving:
    """SageMaker resources of the platform's models, by the model they serve."""

    monitoring_schedules: list[str] = field(default_factory=list)
    transform_jobs: list[str] = field(default_factory=list)
    monitoring_jobs: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    endpoint_configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        kinds = {
            "monitoring schedule": self.monitoring_schedules,
            "transform job (in progress, stopped)": self.transform_jobs,
            "monitoring job (in progress, stopped)": self.monitoring_jobs,
            "endpoint": self.endpoints,
            "endpoint config": self.endpoint_configs,
            "model": self.models,
        }
        return [f"  {kind}: {name}" for kind, names in kinds.items() for name in names]


def _owner(name: str, tags: Mapping[str, str], resource_prefix: str, candidates: Collection[str]) -> str | None:
    """The model whose endpoint (exact name) or version resource (`<endpoint>-v<n>`) this is, if any."""
    tagged = tags.get(MODEL_TAG)
    for model in [tagged] if tagged else candidates:
        endpoint = f"{resource_prefix}-{model}"
        if name == endpoint:
            return model
        match = _VERSION.search(name)
        if match and version_resource_name(endpoint, int(match.group("version"))) == name:
            return model
    return None


def _pages(call: Callable[..., Mapping[str, Any]], key: str, **params: Any) -> Iterable[Mapping[str, Any]]:
    token: str | None = None
    while True:
        page = call(**params, **({"NextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def _tags(sagemaker: Any, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in _pages(sagemaker.list_tags, "Tags", ResourceArn=arn)}


def find_serving(
    sagemaker: Any,
    *,
    resource_prefix: str,
    monitoring_job_prefix: str,
    known_models: Collection[str],
    only: str | None = None,
) -> Serving:
    """What the deployer (and monitoring or batch) created for the environment's models, or for `only`."""
    candidates = [only] if only else list(known_models)
    wanted = (lambda model: model == only) if only else (lambda model: True)
    found = Serving()
    listings = (
        (sagemaker.list_endpoints, "Endpoints", "EndpointName", "EndpointArn", found.endpoints),
        (
            sagemaker.list_endpoint_configs,
            "EndpointConfigs",
            "EndpointConfigName",
            "EndpointConfigArn",
            found.endpoint_configs,
        ),
        (sagemaker.list_models, "Models", "ModelName", "ModelArn", found.models),
    )
    for call, key, name_key, arn_key, into in listings:
        for item in _pages(call, key, NameContains=resource_prefix):
            name = item[name_key]
            if not name.startswith(f"{resource_prefix}-"):
                continue
            model = _owner(name, _tags(sagemaker, item[arn_key]), resource_prefix, candidates)
            if model is not None and wanted(model):
                into.append(name)
    for endpoint in found.endpoints:
        schedules = _pages(sagemaker.list_monitoring_schedules, "MonitoringScheduleSummaries", EndpointName=endpoint)
        found.monitoring_schedules += [s["MonitoringScheduleName"] for s in schedules]
    models = set(found.models)
    for job in _pages(
        sagemaker.list_transform_jobs, "TransformJobSummaries", StatusEquals="InProgress", NameContains=resource_prefix
    ):
        if sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"]).get("ModelName") in models:
            found.transform_jobs.append(job["TransformJobName"])
    found.monitoring_jobs = _monitoring_jobs(sagemaker, monitoring_job_prefix, only)
    return found


def _monitoring_jobs(sagemaker: Any, job_prefix: str, only: str | None) -> list[str]:
    """The environment's monitoring Processing jobs in progress (of `only`, by its tag, when given)."""
    # ListProcessingJobs filters by a name substring and a status (SageMaker API Reference,
    # "ListProcessingJobs", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListProcessingJobs.html:
    # NameContains; StatusEquals InProgress | Completed | Failed | Stopping | Stopped); the prefix
    # is checked again, as a substring match would also find other jobs containing it.
    jobs = _pages(
        sagemaker.list_processing_jobs, "ProcessingJobSummaries", StatusEquals="InProgress", NameContains=job_prefix
    )
    return [
        job["ProcessingJobName"]
        for job in jobs
        if job["ProcessingJobName"].startswith(job_prefix)
        and (only is None or _tags(sagemaker, job["ProcessingJobArn"]).get(MODEL_TAG) == only)
    ]


def _stop_processing_job(sagemaker: Any, name: str) -> None:
    """Stop a job; one that ended meanwhile (or is already stopping) needs nothing more."""
    try:
        sagemaker.stop_processing_job(ProcessingJobName=name)
    except ClientError:
        # StopProcessingJob documents ResourceNotFound only (SageMaker API Reference,
        # "StopProcessingJob", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StopProcessingJob.html),
        # not what it answers for a job that is no longer running: its status decides.
        status = sagemaker.describe_processing_job(ProcessingJobName=name).get("ProcessingJobStatus")
        if status == "InProgress":
            raise


def _gone(error: ClientError) -> bool:
    # SageMaker answers a delete of what no longer exists with ValidationException "Could not find ...".
    message = str(error.response.get("Error", {}).get("Message", ""))
    return error.response.get("Error", {}).get("Code") in {"ValidationException", "ResourceNotFound"} and (
        "Could not find" in message or "does not exist" in message
    )


Step = tuple[str, list[str], Callable[[str], Any]]


def _run_steps(steps: Sequence[Step]) -> list[str]:
    done: list[str] = []
    for verb, names, call in steps:
        for name in names:
            try:
                call(name)
            except ClientError as error:
                if not _gone(error):
                    raise
            done.append(f"{verb} {name}")
    return done


def delete_serving(sagemaker: Any, serving: Serving, *, wait: Mapping[str, int] = ENDPOINT_WAIT) -> list[str]:
    """Delete in dependency order; what is already gone counts as deleted. Returns what was done."""
    first: list[Step] = [
        (
            "deleted monitoring schedule",
            serving.monitoring_schedules,
            lambda n: sagemaker.delete_monitoring_schedule(MonitoringScheduleName=n),
        ),
        ("stopped transform job", serving.transform_jobs, lambda n: sagemaker.stop_transform_job(TransformJobName=n)),
        ("stopped monitoring job", serving.monitoring_jobs, lambda n: _stop_processing_job(sagemaker, n)),
        ("deleted endpoint", serving.endpoints, lambda n: sagemaker.delete_endpoint(EndpointName=n)),
    ]
    done = _run_steps(first)
    # A config and a model go once no endpoint is being deleted with them.
    for name in serving.endpoints:
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=dict(wait))
    then: list[Step] = [
        (
            "deleted endpoint config",
            serving.endpoint_configs,
            lambda n: sagemaker.delete_endpoint_config(EndpointConfigName=n),
        ),
        ("deleted model", serving.models, lambda n: sagemaker.delete_model(ModelName=n)),
    ]
    return done + _run_steps(then)


def existing_stacks(cloudformation: Any, resource_prefix: str) -> list[str]:
    """The environment's stacks that exist now (any state but deleted)."""
    names = [
        stack["StackName"]
        for stack in _pages(cloudformation.list_stacks, "StackSummaries")
        if stack["StackStatus"] != "DELETE_COMPLETE" and stack["StackName"].startswith(f"{resource_prefix}-")
    ]
    return sorted(set(names))


def orphan_model_stacks(config: EnvironmentConfig, existing: Iterable[str]) -> list[str]:
    """Model stacks of models no longer in cdk.json: `cdk destroy --all` does not know them."""
    configured = {naming.model_stack_name(config, model.name) for model in config.models}
    model_prefix = naming.model_stack_name(config, "")
    return [name for name in existing if name.startswith(model_prefix) and name not in configured]


def delete_stacks(cloudformation: Any, names: Sequence[str]) -> list[str]:
    """Delete stacks one by one, waiting for each; CloudFormation reports any that cannot go."""
    for name in names:
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name)
    return [f"deleted stack {name}" for name in names]


def confirm(expected: str, given: str | None, ask: Callable[[str], str]) -> None:
    """Go on only when `given` (CONFIRM=...) or what the person types is exactly `expected`."""
    try:
        answer = given if given else ask(f"type {expected!r} to delete these: ")
    except EOFError as error:
        raise OperatorError(f"no confirmation typed; nothing was deleted (or pass CONFIRM={expected})") from error
    if answer.strip() != expected:
        raise OperatorError(f"confirmation {answer.strip()!r} is not {expected!r}; nothing was deleted")


def _serving_for(config: EnvironmentConfig, sagemaker: Any, only: str | None = None) -> Serving:
    return find_serving(
        sagemaker,
        resource_prefix=config.resource_prefix,
        monitoring_job_prefix=naming.monitoring_job_prefix(config),
        known_models=[m.name for m in config.models],
        only=only,
    )


def prepare_destroy(config: EnvironmentConfig, aws: Any, *, given: str | None, ask: Callable[[str], str]) -> int:
    """List everything destroy removes, confirm, and delete the stacks `cdk destroy` cannot see."""
    cloudformation, sagemaker = aws.client("cloudformation"), aws.client("sagemaker")
    stacks = existing_stacks(cloudformation, config.resource_prefix)
    orphans = orphan_model_stacks(config, stacks)
    serving = _serving_for(config, sagemaker)
    print(f"make destroy ENV={config.name} removes, in this order:")
    print("\n".join(f"  stack: {name}" for name in stacks) or "  stacks: none exist")
    print("\n".join(serving.lines()) or "  endpoint resources: none")
    confirm(config.name, given, ask)
    print("\n".join(delete_stacks(cloudformation, orphans)))
    return 0


def finish_destroy(config: EnvironmentConfig, aws: Any, *, given: str | None, ask: Callable[[str], str]) -> int:
    """After `cdk destroy`: the endpoint resources the deployer created."""
    confirm(config.name, given, ask)
    done = delete_serving(aws.client("sagemaker"), _serving_for(config, aws.client("sagemaker")))
    print("\n".join(done) or "no endpoint resources were left")
    return 0


def remove_model(
    config: EnvironmentConfig, aws: Any, model: str, *, given: str | None, ask: Callable[[str], str]
) -> int:
    """Delete one model's stack (catalog entry, schedule, pipeline, alarms), then its endpoint resources."""
    if model in {m.name for m in config.models}:
        raise OperatorError(
            f"MODEL={model!r} is still in cdk.json (environments.{config.name}.models); remove it there first, "
            "or the next deploy creates it again"
        )
    cloudformation, sagemaker = aws.client("cloudformation"), aws.client("sagemaker")
    stack = naming.model_stack_name(config, model)
    stacks = [name for name in existing_stacks(cloudformation, config.resource_prefix) if name == stack]
    serving = _serving_for(config, sagemaker, only=model)
    if not stacks and not serving.lines():
        raise OperatorError(f"MODEL={model!r}: no stack {stack} and no endpoint resources of it in {config.name}")
    print(f"make remove-model ENV={config.name} MODEL={model} removes, in this order:")
    print("\n".join([*(f"  stack: {name}" for name in stacks), *serving.lines()]))
    confirm(model, given, ask)
    print("\n".join([*delete_stacks(cloudformation, stacks), *delete_serving(sagemaker, serving)]))
    print(
        f"kept: the package group {model}-<suffix> and its versions, the MLflow registered model {model}, "
        f"data under the model's data_prefix, pipeline history; delete them by hand if you mean to"
    )
    return 0


def main(
    argv: Sequence[str] | None = None, *, session: Any = None, settings: Any = None, ask: Callable[[str], str] = input
) -> int:
    """The destroy steps and remove-model; one line and exit 2 when a step cannot run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--step", choices=("prepare", "finish", "retained", "remove-model"), required=True)
    parser.add_argument("--model", help="with --step remove-model")
    parser.add_argument("--confirm", default="", help="the environment's name (or the model's), instead of typing it")
    args = parser.parse_args(argv)

    def body() -> int:
        config = environment(args.env, settings)
        if args.step == "retained":
            from tools.retained import print_retained

            return print_retained(config)
        if args.step == "remove-model" and not args.model:
            raise OperatorError("name the model: make remove-model ENV=<env> MODEL=<name>")
        aws = caller(config, session).session
        if args.step == "prepare":
            return prepare_destroy(config, aws, given=args.confirm or None, ask=ask)
        if args.step == "finish":
            return finish_destroy(config, aws, given=args.confirm or None, ask=ask)
        return remove_model(config, aws, args.model, given=args.confirm or None, ask=ask)

    return run("destroy" if args.step != "remove-model" else "remove-model", body)


if __name__ == "__main__":
    sys.exit(main())
