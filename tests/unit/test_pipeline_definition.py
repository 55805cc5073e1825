"""The per-model pipeline definition: valid against the published schema, and wired as designed.

Validation uses the JSON schema AWS publishes for pipeline definitions (a copy lives in
tests/schemas). That schema lags the service in four places the definition relies on, so the
validator used here adds exactly those four, each documented below; a separate test proves
the rest of the definition is valid against the published schema unchanged.
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from platform_common import monitoring
from stacks import pipeline_definition as pd
from stacks.config import ModelConfig, load_environment
from stacks.mlflow_clients import UnsupportedMlflowVersion

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_COPY = REPO_ROOT / "tests" / "schemas" / "sagemaker-pipeline-definition.schema.json"
SHARED_SCHEMA = REPO_ROOT.parent / "shared" / "schemas" / "sagemaker-pipeline-definition.schema.json"
CHURN_CODE = REPO_ROOT / "ml" / "churn"

ROLE_ARN = "arn:aws:iam::123456789012:role/mlops-dev-pipeline"
DATA_BUCKET = "mlops-dev-data-123456789012-eu-west-1"
ARTIFACT_BUCKET = "mlops-dev-mlflow-artifacts-123456789012-eu-west-1"
TRACKING_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev-mlflow"
CODE_PREFIX = f"s3://{ARTIFACT_BUCKET}/code/churn/"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
DEFAULT_IMAGES = pd.DefaultImages(training=SKLEARN_IMAGE, processing=SKLEARN_IMAGE)
SERVER_VERSION = "3.0"
# A metric the platform's monitoring job does not compute (log_loss, validation:auc) is gated on by
# a model the job does not watch; the pipeline is the same either way.
UNMONITORED: dict[str, Any] = {"monitoring": {"enabled": False}}


def model_config(**model: Any) -> ModelConfig:
    """One model built the way app.py builds it: from cdk.json-shaped context."""
    platform = {"environments": {"dev": {"models": [{"name": "churn", **model}]}}}
    (config,) = load_environment(platform, "dev").models
    return config


def build(model: ModelConfig | None = None, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "role_arn": ROLE_ARN,
        "data_bucket_name": DATA_BUCKET,
        "artifact_bucket_name": ARTIFACT_BUCKET,
        "tracking_server_arn": TRACKING_ARN,
        "code_prefix_uri": CODE_PREFIX,
        "kms_key_arn": KMS_KEY_ARN,
        "default_image_uris": DEFAULT_IMAGES,
        "mlflow_server_version": SERVER_VERSION,
        **overrides,
    }
    return pd.build_pipeline_definition(model or model_config(), **arguments)


def steps_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step, the condition's branches included."""
    found: dict[str, dict[str, Any]] = {}
    for step in definition["Steps"]:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            for nested in step["Arguments"].get(branch, []) if step["Type"] == "Condition" else []:
                found[nested["Name"]] = nested
    return found


def parameters_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {parameter["Name"]: parameter for parameter in definition["Parameters"]}


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from walk(child)


@cache
def published_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_COPY.read_text())
    return schema


# The schema declares "$schema": "http://json-schema.org/schema#" (no draft). Its keywords
# ("definitions", "$id", no $ref siblings) are those of draft-07, so that draft's validator is
# named explicitly rather than letting jsonschema fall back to its newest draft with a warning.
Validator = jsonschema.Draft7Validator


def with_service_extensions(schema: dict[str, Any]) -> dict[str, Any]:
    """The published schema plus the four constructs the service accepts and the schema lacks.

    1. `Std:JsonGet` (read a value from a step's property file) wherever a string argument
       may stand. Emitted by the SageMaker Python SDK's `JsonGet.expr`; SageMaker Developer
       Guide, "Pass Data Between Steps" (property files and JsonGet).
    2. `Std:Join` {On, Values}, likewise. The schema's own `JoinFunction` is malformed (its
       `Values` sits where a keyword belongs) and referenced nowhere; this replaces it with
       the shape of the SDK's `Join.expr`, used e.g. for a Fail step's message.
    3. `PropertyFiles` on a processing step (the SDK's `ProcessingStep.to_request`).
    4. `Environment` on a training step: a member of the CreateTrainingJob request
       (botocore's sagemaker model), which the SDK passes through from `Estimator(environment=)`.
    """
    extended = copy.deepcopy(schema)
    definitions = extended["definitions"]
    definitions["JsonGetFunction"] = {
        "type": "object",
        "properties": {
            "Std:JsonGet": {
                "type": "object",
                "properties": {
                    "PropertyFile": {"$ref": "#/definitions/GetFunction"},
                    "Path": {"type": "string", "minLength": 1},
                },
                "required": ["PropertyFile", "Path"],
                "additionalProperties": False,
            }
        },
        "required": ["Std:JsonGet"],
        "additionalProperties": False,
    }
    definitions["JoinFunction"] = {
        "type": "object",
        "properties": {
            "Std:Join": {
                "type": "object",
                "properties": {
                    "On": {"type": "string"},
                    "Values": {
                        "type": "array",
                        "items": {
                            "anyOf": [
                                {"type": ["string", "number", "boolean"]},
                                {"$ref": "#/definitions/GetFunction"},
                                {"$ref": "#/definitions/JsonGetFunction"},
                            ]
                        },
                    },
                },
                "required": ["On", "Values"],
                "additionalProperties": False,
            }
        },
        "required": ["Std:Join"],
        "additionalProperties": False,
    }
    definitions["StringArgumentValue"]["oneOf"] += [
        {"$ref": "#/definitions/JsonGetFunction"},
        {"$ref": "#/definitions/JoinFunction"},
    ]
    definitions["ProcessingStep"]["properties"]["PropertyFiles"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "PropertyFileName": {"type": "string", "minLength": 1},
                "OutputName": {"type": "string", "minLength": 1},
                "FilePath": {"type": "string", "minLength": 1},
            },
            "required": ["PropertyFileName", "OutputName", "FilePath"],
            "additionalProperties": False,
        },
    }
    definitions["TrainingStep"]["properties"]["Arguments"]["properties"]["Environment"] = {
        "type": "object",
        "patternProperties": {"^[a-zA-Z_][a-zA-Z0-9_]*$": {"$ref": "#/definitions/StringArgumentValue"}},
        "additionalProperties": False,
        "maxProperties": 100,
    }
    return extended


@cache
def validator() -> jsonschema.protocols.Validator:
    schema = with_service_extensions(published_schema())
    Validator.check_schema(schema)
    return Validator(schema)


def schema_errors(definition: dict[str, Any]) -> list[str]:
    errors = validator().iter_errors(definition)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors]


def without_service_extensions(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with each of the four extension constructs replaced by a plain stand-in."""
    stripped = copy.deepcopy(definition)

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            if "Std:JsonGet" in node:
                return {"Get": "Steps.Stand.In"}
            if "Std:Join" in node:
                return "joined"
            return {key: replace(value) for key, value in node.items()}
        if isinstance(node, list):
            return [replace(item) for item in node]
        return node

    stripped = replace(stripped)
    for step in steps_by_name(stripped).values():
        step.pop("PropertyFiles", None)
        if step["Type"] == "Training":
            step["Arguments"].pop("Environment", None)
    return stripped


# The schema itself


def test_schema_copy_is_the_shared_schema() -> None:
    if not SHARED_SCHEMA.exists():
        pytest.skip(f"{SHARED_SCHEMA} is not beside this checkout; the repository copy is used alone")
    assert json.loads(SCHEMA_COPY.read_text()) == json.loads(SHARED_SCHEMA.read_text()), (
        f"{SCHEMA_COPY} differs from {SHARED_SCHEMA}; copy the shared schema over it"
    )


def test_published_schema_is_a_valid_draft7_schema() -> None:
    Validator.check_schema(published_schema())
    assert published_schema()["properties"]["Version"]["enum"] == ["2020-12-01"]


def test_published_schema_lacks_exactly_the_documented_extensions() -> None:
    # If AWS adds these to the schema, the extensions above can go.
    pristine = Validator(published_schema())
    extended = validator()
    samples = {
        "property files": {
            "Steps": [
                {
                    "Name": "E",
                    "Type": "Processing",
                    "Arguments": {},
                    "PropertyFiles": [{"PropertyFileName": "R", "OutputName": "o", "FilePath": "r.json"}],
                }
            ]
        },
        "JsonGet": {
            "Steps": [
                {
                    "Name": "C",
                    "Type": "Condition",
                    "Arguments": {
                        "Conditions": [
                            {
                                "Type": "GreaterThanOrEqualTo",
                                "LeftValue": {
                                    "Std:JsonGet": {"PropertyFile": {"Get": "Steps.E.PropertyFiles.R"}, "Path": "a"}
                                },
                                "RightValue": 1.0,
                            }
                        ]
                    },
                }
            ]
        },
        "Join": {
            "Steps": [
                {
                    "Name": "F",
                    "Type": "Fail",
                    "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": ["a", 1]}}},
                }
            ]
        },
        "training environment": {
            "Steps": [{"Name": "T", "Type": "Training", "Arguments": {"Environment": {"A": "b"}}}]
        },
    }
    for what, sample in samples.items():
        assert not pristine.is_valid(sample), f"the published schema now accepts {what}"
        assert extended.is_valid(sample), f"the extended schema rejects {what}"


# Validity


@pytest.mark.parametrize(
    "model",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {"metric": {"name": "log_loss", "threshold": 0.35, "greater_is_better": False}, **UNMONITORED},
            id="lower-is-better",
        ),
        pytest.param({"metric": {"name": "validation:auc"}, **UNMONITORED}, id="metric-name-with-colon"),
        pytest.param(
            {
                "training": {
                    "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-train:1.2",
                    "instance_type": "ml.c5.2xlarge",
                    "instance_count": 2,
                    "max_runtime_seconds": 7200,
                    "hyperparameters": {"n_estimators": "300", "max_depth": "8"},
                },
                "processing": {"image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-proc:1.2"},
            },
            id="everything-configured",
        ),
    ],
)
def test_definition_is_valid_against_the_schema(model: dict[str, Any]) -> None:
    definition = build(model_config(**model))
    assert schema_errors(definition) == []


def test_definition_is_valid_against_the_unmodified_schema_outside_the_extensions() -> None:
    definition = without_service_extensions(build())
    errors = [error.message for error in Validator(published_schema()).iter_errors(definition)]
    assert errors == []


def test_validator_rejects_a_definition_without_steps() -> None:
    definition = build()
    del definition["Steps"]
    assert schema_errors(definition) == [": 'Steps' is a required property"]


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda d: d["Steps"][1]["Arguments"].update(Bogus=1), id="unknown-training-argument"),
        pytest.param(lambda d: d["Parameters"][4].update(DefaultValue="one"), id="integer-parameter-with-a-string"),
        pytest.param(
            lambda d: d["Steps"][3]["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"].pop("Path"),
            id="jsonget-without-path",
        ),
        pytest.param(lambda d: d["Steps"][2]["PropertyFiles"][0].pop("FilePath"), id="property-file-without-path"),
        pytest.param(lambda d: d["Steps"][1]["Arguments"]["Environment"].update({"BAD-NAME": "x"}), id="bad-env-name"),
        pytest.param(lambda d: d["Steps"][0].update(Name="Prepare data"), id="step-name-with-space"),
    ],
)
def test_validator_rejects_broken_definitions(breakage: Callable[[dict[str, Any]], Any]) -> None:
    definition = build()
    breakage(definition)
    assert schema_errors(definition) != []


# Parameters


def test_parameters_and_their_defaults() -> None:
    parameters = parameters_by_name(build())
    assert parameters == {
        "InputDataUri": {
            "Name": "InputDataUri",
            "Type": "String",
            "DefaultValue": f"s3://{DATA_BUCKET}/datasets/churn/",
        },
        "TriggerReason": {"Name": "TriggerReason", "Type": "String", "DefaultValue": "manual"},
        "TriggerEventId": {"Name": "TriggerEventId", "Type": "String", "DefaultValue": "none"},
        "TrainingInstanceType": {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        "TrainingInstanceCount": {"Name": "TrainingInstanceCount", "Type": "Integer", "DefaultValue": 1},
        "ProcessingInstanceType": {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
        "MetricThreshold": {"Name": "MetricThreshold", "Type": "Float", "DefaultValue": 0.9},
    }


def test_parameter_defaults_follow_the_model_config() -> None:
    model = model_config(
        data_prefix="datasets/churn-v2/",
        training={"instance_type": "ml.c5.xlarge", "instance_count": 3},
        processing={"instance_type": "ml.t3.medium"},
        metric={"threshold": 0.75},
    )
    parameters = parameters_by_name(build(model))
    assert parameters["InputDataUri"]["DefaultValue"] == f"s3://{DATA_BUCKET}/datasets/churn-v2/"
    assert parameters["TrainingInstanceType"]["DefaultValue"] == "ml.c5.xlarge"
    assert parameters["TrainingInstanceCount"]["DefaultValue"] == 3
    assert parameters["ProcessingInstanceType"]["DefaultValue"] == "ml.t3.medium"
    assert parameters["MetricThreshold"]["DefaultValue"] == 0.75


def test_every_referenced_parameter_is_declared() -> None:
    definition = build()
    declared = set(parameters_by_name(definition))
    referenced = {
        node["Get"].removeprefix("Parameters.")
        for node in walk(definition["Steps"])
        if isinstance(node, dict) and str(node.get("Get", "")).startswith("Parameters.")
    }
    assert referenced == declared


# Steps and their wiring


def test_steps_run_prepare_train_evaluate_then_check() -> None:
    definition = build()
    assert [step["Name"] for step in definition["Steps"]] == ["Prepare", "Train", "Evaluate", "CheckMetric"]
    assert [step["Type"] for step in definition["Steps"]] == ["Processing", "Training", "Processing", "Condition"]
    check = steps_by_name(definition)["CheckMetric"]["Arguments"]
    assert [(step["Name"], step["Type"]) for step in check["IfSteps"]] == [
        ("Evidence", "Processing"),
        ("Baseline", "Processing"),
        ("Register", "Processing"),
    ]
    assert [(step["Name"], step["Type"]) for step in check["ElseSteps"]] == [("MetricCheckFailed", "Fail")]


def test_registration_runs_only_when_the_metric_check_passes() -> None:
    # A version registered in MLflow becomes a model package the approval gate acts on, so
    # nothing may register before the check or on its failing branch.
    definition = build()
    check = steps_by_name(definition)["CheckMetric"]["Arguments"]
    registering = [
        step["Name"]
        for step in [*definition["Steps"], *check["ElseSteps"]]
        if pd.ENV_MLFLOW_REGISTERED_MODEL_NAME in step["Arguments"].get("Environment", {})
    ]
    assert registering == []
    evidence, baseline, register = check["IfSteps"]
    assert pd.ENV_MLFLOW_REGISTERED_MODEL_NAME not in evidence["Arguments"]["Environment"]
    assert pd.ENV_MLFLOW_REGISTERED_MODEL_NAME not in baseline["Arguments"]["Environment"]
    assert register["Arguments"]["Environment"][pd.ENV_MLFLOW_REGISTERED_MODEL_NAME] == "churn"
    assert "DependsOn" not in register, "the branch alone orders it after the check; DependsOn would be redundant"


def in_order(steps: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, own arguments) of each step as it runs: a condition, then the steps of its branches."""
    for step in steps:
        branches = ("IfSteps", "ElseSteps") if step["Type"] == "Condition" else ()
        yield step["Name"], {key: value for key, value in step["Arguments"].items() if key not in branches}
        for branch in branches:
            yield from in_order(step["Arguments"][branch])


def test_every_step_reference_points_at_an_earlier_step() -> None:
    definition = build()
    seen: set[str] = set()
    for name, arguments in in_order(definition["Steps"]):
        for node in walk(arguments):
            if isinstance(node, dict) and str(node.get("Get", "")).startswith("Steps."):
                assert node["Get"].split(".")[1] in seen, f"{name} reads {node['Get']} before it exists"
        seen.add(name)
    assert "Evidence" in seen and "Baseline" in seen and "Register" in seen


def test_prepare_reads_the_input_parameter_and_writes_three_splits() -> None:
    prepare = steps_by_name(build())["Prepare"]["Arguments"]
    inputs = {item["InputName"]: item["S3Input"] for item in prepare["ProcessingInputs"]}
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert inputs["data"]["LocalPath"] == "/opt/ml/processing/input/data"
    assert inputs["code"]["S3Uri"] == CODE_PREFIX
    assert prepare["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/prepare.py"]
    outputs = {item["OutputName"]: item["S3Output"] for item in prepare["ProcessingOutputConfig"]["Outputs"]}
    assert sorted(outputs) == ["test", "train", "validation"]
    assert outputs["train"]["LocalPath"] == "/opt/ml/processing/output/train"


def test_outputs_go_to_a_per_execution_prefix_in_the_artifact_bucket() -> None:
    steps = steps_by_name(build())
    prefix = f"s3://{ARTIFACT_BUCKET}/pipelines/churn"
    execution = {"Get": "Execution.PipelineExecutionId"}
    train_output = steps["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"]
    assert train_output == {"Std:Join": {"On": "/", "Values": [prefix, execution, "train"]}}
    evaluation = steps["Evaluate"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert evaluation == {"Std:Join": {"On": "/", "Values": [prefix, execution, "evaluate", "evaluation"]}}
    registration = steps["Register"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert registration == {"Std:Join": {"On": "/", "Values": [prefix, execution, "register", "registration"]}}


def test_training_reads_the_prepared_splits() -> None:
    channels = steps_by_name(build())["Train"]["Arguments"]["InputDataConfig"]
    assert {channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"] for channel in channels} == {
        "train": {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
        "validation": {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri"},
    }


def test_training_environment_points_mlflow_at_the_tracking_server_without_a_model_name() -> None:
    environment = steps_by_name(build())["Train"]["Arguments"]["Environment"]
    assert environment == {
        "MLFLOW_TRACKING_ARN": TRACKING_ARN,
        "MLFLOW_EXPERIMENT_NAME": "churn",
        "TRIGGER_REASON": {"Get": "Parameters.TriggerReason"},
        "TRIGGER_EVENT_ID": {"Get": "Parameters.TriggerEventId"},
        "PIPELINE_EXECUTION_ARN": {"Get": "Execution.PipelineExecutionArn"},
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def test_hyperparameters_pass_through_next_to_the_script_mode_settings() -> None:
    model = model_config(training={"hyperparameters": {"n_estimators": "300", "max_depth": "8"}})
    hyperparameters = steps_by_name(build(model))["Train"]["Arguments"]["HyperParameters"]
    assert hyperparameters == {
        "n_estimators": "300",
        "max_depth": "8",
        "target": "label",
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": f"{CODE_PREFIX}sourcedir.tar.gz",
    }


def test_every_step_that_reads_the_data_is_told_the_models_label_column() -> None:
    """Prepare, Evaluate and Baseline get `--target <column>` as container arguments; Train as a hyperparameter.

    ContainerArguments follow the entrypoint on the command line (SageMaker API Reference,
    "AppSpecification", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html);
    script mode passes hyperparameters to the program as `--name value` options.
    """
    steps = steps_by_name(build(model_config(target="is_fraud")))
    for step in ("Prepare", "Evaluate", "Baseline"):
        assert steps[step]["Arguments"]["AppSpecification"]["ContainerArguments"] == ["--target", "is_fraud"]
    assert steps["Train"]["Arguments"]["HyperParameters"]["target"] == "is_fraud"
    assert "ContainerArguments" not in steps["Register"]["Arguments"]["AppSpecification"]


def test_the_scripts_take_the_label_column_only_from_the_pipeline() -> None:
    for script in ("prepare.py", "train.py", "evaluate.py", "generate_data.py"):
        code = (CHURN_CODE / script).read_text()
        assert '"churned"' not in code, f"{script} names a label column of its own"
        assert '"--target", required=True' in code, f"{script} does not require --target"


def test_code_prefix_without_trailing_slash_is_normalised() -> None:
    steps = steps_by_name(build(code_prefix_uri=CODE_PREFIX.rstrip("/")))
    submit_directory = steps["Train"]["Arguments"]["HyperParameters"]["sagemaker_submit_directory"]
    assert submit_directory == f"{CODE_PREFIX}sourcedir.tar.gz"
    assert steps["Prepare"]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] == CODE_PREFIX


PROCESSING_STEPS = ("Prepare", "Evaluate", "Register")


def test_instance_settings_come_from_parameters() -> None:
    steps = steps_by_name(build())
    assert steps["Train"]["Arguments"]["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert steps["Train"]["Arguments"]["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.TrainingInstanceCount"}
    for name in PROCESSING_STEPS:
        cluster = steps[name]["Arguments"]["ProcessingResources"]["ClusterConfig"]
        assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
        assert cluster["InstanceCount"] == 1


def test_default_images_are_used_when_the_model_names_none() -> None:
    images = pd.DefaultImages(training="${TrainingImage}", processing="${ProcessingImage}")
    steps = steps_by_name(build(default_image_uris=images))
    assert steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == "${TrainingImage}"
    for name in PROCESSING_STEPS:
        assert steps[name]["Arguments"]["AppSpecification"]["ImageUri"] == "${ProcessingImage}"


def test_custom_images_replace_the_defaults() -> None:
    training_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-train:1.2"
    processing_image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-proc:1.2"
    model = model_config(training={"image_uri": training_image}, processing={"image_uri": processing_image})
    steps = steps_by_name(build(model))
    assert steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == training_image
    for name in PROCESSING_STEPS:
        assert steps[name]["Arguments"]["AppSpecification"]["ImageUri"] == processing_image


def test_kms_key_encrypts_every_output_and_volume() -> None:
    steps = steps_by_name(build())
    train = steps["Train"]["Arguments"]
    assert train["OutputDataConfig"]["KmsKeyId"] == KMS_KEY_ARN
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == KMS_KEY_ARN
    for name in PROCESSING_STEPS:
        arguments = steps[name]["Arguments"]
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == KMS_KEY_ARN
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS_KEY_ARN


def test_network_isolation_is_off_and_runtime_is_bounded_by_config() -> None:
    steps = steps_by_name(build(model_config(training={"max_runtime_seconds": 5400})))
    assert steps["Train"]["Arguments"]["EnableNetworkIsolation"] is False
    assert steps["Train"]["Arguments"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 5400}
    for name in PROCESSING_STEPS:
        assert steps[name]["Arguments"]["NetworkConfig"] == {"EnableNetworkIsolation": False}
        assert steps[name]["Arguments"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 5400}


def test_every_job_runs_as_the_given_role() -> None:
    steps = steps_by_name(build())
    jobs = ("Prepare", "Train", "Evaluate", "Register")
    assert {name: steps[name]["Arguments"]["RoleArn"] for name in jobs} == dict.fromkeys(jobs, ROLE_ARN)


# Evaluation and the metric check


def test_evaluate_scores_the_trained_model_on_the_test_split() -> None:
    evaluate = steps_by_name(build())["Evaluate"]
    inputs = {item["InputName"]: item["S3Input"] for item in evaluate["Arguments"]["ProcessingInputs"]}
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert inputs["test"]["S3Uri"] == {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}
    assert evaluate["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    (output,) = evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "evaluation"


def test_check_requires_the_metric_at_or_above_the_threshold_by_default() -> None:
    (condition,) = steps_by_name(build())["CheckMetric"]["Arguments"]["Conditions"]
    assert condition == {
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "metrics.accuracy.value",
            }
        },
        "RightValue": {"Get": "Parameters.MetricThreshold"},
    }


def test_check_requires_the_metric_at_or_below_the_threshold_when_lower_is_better() -> None:
    model = model_config(metric={"name": "log_loss", "threshold": 0.35, "greater_is_better": False}, **UNMONITORED)
    definition = build(model)
    (condition,) = steps_by_name(definition)["CheckMetric"]["Arguments"]["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "metrics.log_loss.value"
    assert parameters_by_name(definition)["MetricThreshold"]["DefaultValue"] == 0.35


@pytest.mark.parametrize(
    ("metric", "path"),
    [
        ("accuracy", "metrics.accuracy.value"),
        ("roc_auc", "metrics.roc_auc.value"),
        ("validation:auc", "metrics['validation:auc'].value"),
        ("f1-macro", "metrics['f1-macro'].value"),
        ("top.5", "metrics['top.5'].value"),
    ],
)
def test_metric_json_path_quotes_names_dotted_notation_would_misread(metric: str, path: str) -> None:
    assert pd.metric_json_path(metric) == path


def test_failure_message_names_the_metric_its_value_and_the_threshold() -> None:
    (fail,) = steps_by_name(build())["CheckMetric"]["Arguments"]["ElseSteps"]
    join = fail["Arguments"]["ErrorMessage"]["Std:Join"]
    assert join["On"] == " "
    text, value, verdict, threshold = join["Values"]
    assert "churn" in text
    assert text.endswith("accuracy")
    assert value["Std:JsonGet"]["Path"] == "metrics.accuracy.value"
    assert verdict == "is below the required minimum"
    assert threshold == {"Get": "Parameters.MetricThreshold"}


def test_failure_message_says_above_the_maximum_when_lower_is_better() -> None:
    model = model_config(metric={"name": "log_loss", "threshold": 0.35, "greater_is_better": False}, **UNMONITORED)
    (fail,) = steps_by_name(build(model))["CheckMetric"]["Arguments"]["ElseSteps"]
    values = fail["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert values[0].endswith("log_loss")
    assert values[2] == "is above the allowed maximum"


# Registration


def register_step(definition: dict[str, Any] | None = None) -> dict[str, Any]:
    return steps_by_name(definition or build())["Register"]


def test_register_reads_the_trained_model_and_the_evaluation_report() -> None:
    arguments = register_step()["Arguments"]
    inputs = {item["InputName"]: item["S3Input"] for item in arguments["ProcessingInputs"]}
    assert inputs == {
        "code": {**inputs["code"], "S3Uri": CODE_PREFIX, "LocalPath": "/opt/ml/processing/input/code"},
        # The model artifact carries mlflow_run.json: the run and logged model to register.
        "model": {
            **inputs["model"],
            "S3Uri": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
            "LocalPath": "/opt/ml/processing/model",
        },
        "evaluation": {
            **inputs["evaluation"],
            "S3Uri": {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
            "LocalPath": "/opt/ml/processing/evaluation",
        },
        # Reading the evidence makes Register wait for the Evidence step: no version without its report.
        "evidence": {
            **inputs["evidence"],
            "S3Uri": {"Get": "Steps.Evidence.ProcessingOutputConfig.Outputs['evidence'].S3Output.S3Uri"},
            "LocalPath": "/opt/ml/processing/evidence",
        },
        # Likewise the baseline: no version without what its monitoring compares against.
        "baseline": {
            **inputs["baseline"],
            "S3Uri": {"Get": "Steps.Baseline.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"},
            "LocalPath": "/opt/ml/processing/baseline",
        },
    }
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "registration"
    assert output["S3Output"]["LocalPath"] == "/opt/ml/processing/registration"


def test_register_installs_the_models_requirements_offline_before_running_its_script() -> None:
    entrypoint = register_step()["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-c"]
    # The paths are the shell's positional parameters: $0 wheelhouse, $1 requirements, $2 script
    command, *positional = entrypoint[2:]
    assert positional == [
        "/opt/ml/processing/input/code/wheelhouse",
        "/opt/ml/processing/input/code/requirements.txt",
        "/opt/ml/processing/input/code/register.py",
    ]
    install, *run = command.split(" && ")
    words = shlex.split(install)
    assert words[:4] == ["python3", "-m", "pip", "install"]
    # Only the published wheels, only with the lock's hashes: never an index
    assert "--no-index" in words
    assert "--require-hashes" in words
    assert words[words.index("--find-links") + 1] == "$0"
    assert not [word for word in words if word.startswith(("--index-url", "--extra-index-url", "-i"))]
    assert words[-2:] == ["-r", "$1"]
    assert run[-1] == 'exec python3 "$s" "$@"'


def test_the_register_entrypoint_runs_its_script_with_the_container_arguments(tmp_path: Path) -> None:
    # Given the entrypoint with pip replaced by a no-op and the script by one that prints its arguments
    command, wheelhouse, requirements, _ = register_step()["Arguments"]["AppSpecification"]["ContainerEntrypoint"][2:]
    script = tmp_path / "register.py"
    script.write_text("import sys; print(' '.join(sys.argv[1:]))")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\n[ "$1" = "-m" ] && exit 0\nexec {sys.executable} "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    # When /bin/sh runs it as SageMaker does, with ContainerArguments after the entrypoint
    result = subprocess.run(
        ["/bin/sh", "-c", command, wheelhouse, requirements, str(script), "--flag", "value"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    # Then the script runs and receives exactly the container arguments
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "--flag value"


def test_only_register_installs_anything() -> None:
    steps = steps_by_name(build())
    for name in ("Prepare", "Evaluate"):
        script = name.lower() + ".py"
        assert steps[name]["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == [
            "python3",
            f"/opt/ml/processing/input/code/{script}",
        ]
        assert "Environment" not in steps[name]["Arguments"]


def test_register_environment_names_the_server_the_model_and_the_trigger() -> None:
    assert register_step()["Arguments"]["Environment"] == {
        "MLFLOW_TRACKING_ARN": TRACKING_ARN,
        "MLFLOW_REGISTERED_MODEL_NAME": "churn",
        "SERVING_IMAGE_URI": SKLEARN_IMAGE,
        "MODEL_DATA_URL": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
        "EVIDENCE_URI": {
            "Std:Join": {
                "On": "/",
                "Values": [
                    {"Get": "Steps.Evidence.ProcessingOutputConfig.Outputs['evidence'].S3Output.S3Uri"},
                    "evaluation.json",
                ],
            }
        },
        "PACKAGE_LINK_TIMEOUT_SECONDS": "300",
        "TRIGGER_REASON": {"Get": "Parameters.TriggerReason"},
        "TRIGGER_EVENT_ID": {"Get": "Parameters.TriggerEventId"},
        "PIPELINE_EXECUTION_ARN": {"Get": "Execution.PipelineExecutionArn"},
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def test_register_does_not_wait_for_a_package_when_the_environment_registers_none() -> None:
    environment = register_step(build(automatic_model_registration=False))["Arguments"]["Environment"]
    assert environment["PACKAGE_LINK_TIMEOUT_SECONDS"] == "0"


# Evidence


def evidence_step(definition: dict[str, Any] | None = None) -> dict[str, Any]:
    return steps_by_name(definition or build())["Evidence"]


def test_evidence_is_written_per_execution_under_the_models_evidence_prefix() -> None:
    # The gate and the deployer derive this key from the execution they verified.
    (output,) = evidence_step()["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "evidence"
    assert output["S3Output"] == {
        "S3Uri": {
            "Std:Join": {
                "On": "/",
                "Values": [f"s3://{ARTIFACT_BUCKET}/evidence/churn", {"Get": "Execution.PipelineExecutionId"}],
            }
        },
        "LocalPath": "/opt/ml/processing/evidence",
        "S3UploadMode": "EndOfJob",
    }
    assert evidence_step()["Arguments"]["ProcessingOutputConfig"]["KmsKeyId"] == KMS_KEY_ARN


def test_evidence_reads_the_artifact_and_the_evaluation_it_describes() -> None:
    arguments = evidence_step()["Arguments"]
    inputs = {
        item["InputName"]: (item["S3Input"]["S3Uri"], item["S3Input"]["LocalPath"])
        for item in arguments["ProcessingInputs"]
    }
    assert inputs == {
        "code": (CODE_PREFIX, "/opt/ml/processing/input/code"),
        "model": ({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, "/opt/ml/processing/model"),
        "evaluation": (
            {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
            "/opt/ml/processing/evaluation",
        ),
    }
    # Platform code, from the platform's folder of the code prefix, with nothing installed.
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/platform/write_evidence.py",
    ]
    assert arguments["Environment"] == {
        "MODEL_NAME": "churn",
        "PIPELINE_EXECUTION_ARN": {"Get": "Execution.PipelineExecutionArn"},
        "MODEL_DATA_URL": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
        "SERVING_IMAGE_URI": SKLEARN_IMAGE,
    }
    assert arguments["RoleArn"] == ROLE_ARN


def test_the_evidence_job_reads_what_the_definition_provides() -> None:
    job = (REPO_ROOT / "jobs" / "write_evidence.py").read_text()
    for name in (pd.ENV_MODEL_NAME, pd.ENV_PIPELINE_EXECUTION_ARN, pd.ENV_MODEL_DATA_URL, pd.ENV_SERVING_IMAGE_URI):
        assert f'"{name}"' in job, f"write_evidence.py does not read {name}"
    for path in (pd.EVIDENCE_MODEL_DIR, pd.EVIDENCE_EVALUATION_DIR, pd.EVIDENCE_OUTPUT_DIR):
        assert f'"{path}"' in job, f"write_evidence.py does not default to {path}"


# Baseline


def baseline_step(definition: dict[str, Any] | None = None) -> dict[str, Any]:
    return steps_by_name(definition or build())["Baseline"]


def test_the_baseline_is_written_beside_the_evidence_under_the_pipeline_only_prefix() -> None:
    """evidence/<model>/<execution id>/baseline/, the folder platform_common.monitoring names for the monitoring job."""
    (output,) = baseline_step()["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "baseline"
    assert output["S3Output"] == {
        "S3Uri": {
            "Std:Join": {
                "On": "/",
                "Values": [
                    f"s3://{ARTIFACT_BUCKET}/evidence/churn",
                    {"Get": "Execution.PipelineExecutionId"},
                    monitoring.BASELINE_DIR,
                ],
            }
        },
        "LocalPath": "/opt/ml/processing/baseline",
        "S3UploadMode": "EndOfJob",
    }
    assert baseline_step()["Arguments"]["ProcessingOutputConfig"]["KmsKeyId"] == KMS_KEY_ARN


def test_the_baseline_reads_the_training_split_and_runs_platform_code() -> None:
    arguments = baseline_step()["Arguments"]
    inputs = {
        item["InputName"]: (item["S3Input"]["S3Uri"], item["S3Input"]["LocalPath"])
        for item in arguments["ProcessingInputs"]
    }
    assert inputs == {
        "code": (CODE_PREFIX, "/opt/ml/processing/input/code"),
        "train": (
            {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
            "/opt/ml/processing/train",
        ),
    }
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == [
        "python3",
        "/opt/ml/processing/input/code/platform/write_baseline.py",
    ]
    assert arguments["Environment"] == {
        "MODEL_NAME": "churn",
        "PIPELINE_EXECUTION_ARN": {"Get": "Execution.PipelineExecutionArn"},
    }
    # The label column it records as the baseline's target: the model's `target`, as every step gets it
    assert arguments["AppSpecification"]["ContainerArguments"] == ["--target", "label"]
    assert arguments["RoleArn"] == ROLE_ARN


def test_the_baseline_job_reads_what_the_definition_provides() -> None:
    job = (REPO_ROOT / "jobs" / "write_baseline.py").read_text()
    for name in (pd.ENV_MODEL_NAME, pd.ENV_PIPELINE_EXECUTION_ARN):
        assert f'"{name}"' in job, f"write_baseline.py does not read {name}"
    assert f'"--{pd.TARGET_OPTION}", required=True' in job, "write_baseline.py does not require --target"
    for path in (pd.BASELINE_TRAIN_DIR, pd.BASELINE_OUTPUT_DIR):
        assert f'"{path}"' in job, f"write_baseline.py does not default to {path}"
    for name in (monitoring.BASELINE_REFERENCE_FILE, monitoring.BASELINE_SCHEMA_FILE):
        assert f'"{name}"' in job, f"write_baseline.py does not write {name}"


def test_the_inference_specification_is_served_by_the_image_the_model_trains_in() -> None:
    # Given a model that brings its own training image (and one that does not)
    own = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-trainer:7"
    environment = register_step(build(model_config(training={"image_uri": own})))["Arguments"]["Environment"]
    # Then its package is served by that image, and by the default image otherwise
    assert environment["SERVING_IMAGE_URI"] == own
    assert register_step()["Arguments"]["Environment"]["SERVING_IMAGE_URI"] == SKLEARN_IMAGE
    # And the serving image stays the training image when only processing changes
    processing = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-processing:7"
    environment = register_step(build(model_config(processing={"image_uri": processing})))["Arguments"]["Environment"]
    assert environment["SERVING_IMAGE_URI"] == SKLEARN_IMAGE


def test_script_mode_training_installs_only_the_published_lock_offline() -> None:
    # The training toolkit runs `pip install -r requirements.txt` as it is: the options live in the file.
    lines = [line.strip() for line in (CHURN_CODE / pd.REQUIREMENTS_FILE).read_text().splitlines()]
    given = [line for line in lines if line and not line.startswith("#")]
    assert given == ["--no-index", "--find-links wheelhouse", "--require-hashes", "-r requirements.lock"]
    assert (pd.WHEELHOUSE_DIR, pd.CLIENT_LOCK_FILE) == ("wheelhouse", "requirements.lock")


def test_the_jobs_environment_no_longer_carries_client_versions() -> None:
    # The versions come from the published lock; a variable left here would suggest pip reads it.
    for server_version in ("3.0.2", None):  # None: an MLflow App, which takes the newest pinned line
        steps = steps_by_name(build(mlflow_server_version=server_version))
        for name in ("Train", "Register"):
            environment = steps[name]["Arguments"]["Environment"]
            assert not {"MLFLOW_CLIENT_VERSION", "MLFLOW_PLUGIN_VERSION"} & set(environment), name


@pytest.mark.parametrize("version", ["2.16", "2.13.2", "3.1"])
def test_a_server_version_without_a_pinned_client_is_refused(version: str) -> None:
    with pytest.raises(UnsupportedMlflowVersion) as caught:
        build(mlflow_server_version=version)
    message = str(caught.value)
    assert f"'mlflow.version': got {version!r}" in message
    assert "3.0" in message


def test_register_uses_the_models_name_for_the_registered_model() -> None:
    environment = register_step(build(model_config(name="fraud")))["Arguments"]["Environment"]
    assert environment["MLFLOW_REGISTERED_MODEL_NAME"] == "fraud"


# The definition as data


def test_tokens_pass_through_unchanged_and_the_definition_serializes() -> None:
    tokens = {
        "role_arn": "${Token[TOKEN.101]}",
        "data_bucket_name": "${Token[TOKEN.102]}",
        "artifact_bucket_name": "${Token[TOKEN.103]}",
        "tracking_server_arn": "${Token[TOKEN.104]}",
        "code_prefix_uri": "s3://${Token[TOKEN.103]}/code/churn",
        "kms_key_arn": "${Token[TOKEN.105]}",
    }
    definition = build(**tokens)
    text = json.dumps(definition)
    assert json.loads(text) == definition
    assert parameters_by_name(definition)["InputDataUri"]["DefaultValue"] == "s3://${Token[TOKEN.102]}/datasets/churn/"
    for token in ("TOKEN.101", "TOKEN.102", "TOKEN.103", "TOKEN.104", "TOKEN.105"):
        assert "${Token[" + token + "]}" in text


def test_building_is_pure() -> None:
    model = model_config(training={"hyperparameters": {"n_estimators": "300"}})
    first = build(model)
    assert build(model) == first
    assert dict(model.training.hyperparameters) == {"n_estimators": "300"}


@pytest.mark.parametrize(
    "argument", ["role_arn", "data_bucket_name", "tracking_server_arn", "code_prefix_uri", "kms_key_arn"]
)
def test_an_empty_resource_reference_is_refused(argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        build(**{argument: " "})


# The contract with the example model's scripts


def test_churn_scripts_read_what_the_definition_provides() -> None:
    train = (CHURN_CODE / "train.py").read_text()
    for name in (
        pd.ENV_MLFLOW_TRACKING_ARN,
        pd.ENV_MLFLOW_EXPERIMENT_NAME,
        pd.ENV_TRIGGER_REASON,
        pd.ENV_TRIGGER_EVENT_ID,
        pd.ENV_PIPELINE_EXECUTION_ARN,
    ):
        assert f'"{name}"' in train, f"train.py does not read {name}"
    # Reading the name from the environment would let a training job register before the check.
    assert f'"{pd.ENV_MLFLOW_REGISTERED_MODEL_NAME}"' not in train
    for metric in pd.TRAINING_LOG_METRICS:
        assert f'"{metric}"' in train, f"train.py does not report {metric}"
    prepare = (CHURN_CODE / "prepare.py").read_text()
    assert f'"{pd.PREPARE_INPUT_DIR}"' in prepare
    assert f'"{pd.PREPARE_OUTPUT_DIR}"' in prepare
    evaluate = (CHURN_CODE / "evaluate.py").read_text()
    for path in (pd.EVALUATE_MODEL_DIR, pd.EVALUATE_TEST_DIR, pd.EVALUATE_OUTPUT_DIR):
        assert f'"{path}"' in evaluate, f"evaluate.py does not default to {path}"
    assert f'"{pd.EVALUATION_FILE}"' in evaluate
    register = (CHURN_CODE / "register.py").read_text()
    for name in (
        pd.ENV_MLFLOW_TRACKING_ARN,
        pd.ENV_MLFLOW_REGISTERED_MODEL_NAME,
        pd.ENV_TRIGGER_REASON,
        pd.ENV_TRIGGER_EVENT_ID,
        pd.ENV_PIPELINE_EXECUTION_ARN,
        pd.ENV_EVIDENCE_URI,
        pd.ENV_PACKAGE_LINK_TIMEOUT,
    ):
        assert f'"{name}"' in register, f"register.py does not read {name}"
    for path in (pd.REGISTER_MODEL_DIR, pd.REGISTER_EVALUATION_DIR, pd.REGISTER_OUTPUT_DIR):
        assert f'"{path}"' in register, f"register.py does not default to {path}"
    assert f'"{pd.EVALUATION_FILE}"' in register
    for script, text in (("train.py", train), ("register.py", register)):
        assert f'"{pd.MLFLOW_RUN_FILE}"' in text, f"{script} does not use {pd.MLFLOW_RUN_FILE}"
    for script in (pd.PREPARE_SCRIPT, pd.TRAIN_SCRIPT, pd.EVALUATE_SCRIPT, pd.REGISTER_SCRIPT, pd.REQUIREMENTS_FILE):
        assert (CHURN_CODE / script).is_file()
    assert "-r requirements.lock" in (CHURN_CODE / pd.REQUIREMENTS_FILE).read_text(), "register.py needs MLflow"
    for name in (pd.ENV_SERVING_IMAGE_URI, pd.ENV_MODEL_DATA_URL):
        assert f'"{name}"' in register, f"register.py does not read {name}"
