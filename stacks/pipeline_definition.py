"""The SageMaker Model Building Pipeline of one model: prepare, train, evaluate, check the metric.

`build_pipeline_definition` is a pure function of its arguments and returns the definition
(Version 2020-12-01) as plain data, ready for `json.dumps`. Values that are CDK tokens at
synth time (bucket names, ARNs, image URIs) arrive as strings and are copied into the
definition unchanged, so the stack can resolve them when it serializes the definition.

Shape of the pipeline:

- `Prepare` (processing) reads the CSV files under `InputDataUri` and writes train,
  validation and test splits.
- `Train` (training, script mode) fits the model and logs it to MLflow, which registers a new
  model version. Registration therefore happens before the metric check: a version whose
  pipeline execution then fails the check exists in the registry and must not be approved.
- `Evaluate` (processing) scores the trained model on the test split and writes
  `evaluation.json`, declared as a property file.
- `CheckMetric` (condition) compares the gate metric from that file with `MetricThreshold`;
  when it misses, `MetricCheckFailed` fails the execution with the metric, its value and the
  threshold in the message.

Four constructs used here are missing from the published JSON schema of pipeline
definitions, although the SageMaker Python SDK emits them and the service accepts them:
`PropertyFiles` on a processing step, the `Std:JsonGet` and `Std:Join` functions, and
`Environment` on a training step (a member of the CreateTrainingJob request). The unit tests
validate against the published schema extended by exactly these four.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stacks.config import ModelConfig

JsonObject = dict[str, Any]

DEFINITION_VERSION = "2020-12-01"

# Parameters of every model's pipeline. Whatever starts an execution passes these names.
PARAM_INPUT_DATA_URI = "InputDataUri"
PARAM_TRIGGER_REASON = "TriggerReason"
PARAM_TRIGGER_EVENT_ID = "TriggerEventId"
PARAM_TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
PARAM_TRAINING_INSTANCE_COUNT = "TrainingInstanceCount"
PARAM_PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
PARAM_METRIC_THRESHOLD = "MetricThreshold"
DEFAULT_TRIGGER_REASON = "manual"
DEFAULT_TRIGGER_EVENT_ID = "none"

STEP_PREPARE = "Prepare"
STEP_TRAIN = "Train"
STEP_EVALUATE = "Evaluate"
STEP_CHECK_METRIC = "CheckMetric"
STEP_METRIC_FAILED = "MetricCheckFailed"

EVALUATION_OUTPUT = "evaluation"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"

# Environment of the training container; the model's train.py reads these names.
ENV_MLFLOW_TRACKING_ARN = "MLFLOW_TRACKING_ARN"
ENV_MLFLOW_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
ENV_MLFLOW_REGISTERED_MODEL_NAME = "MLFLOW_REGISTERED_MODEL_NAME"
ENV_TRIGGER_REASON = "TRIGGER_REASON"
ENV_TRIGGER_EVENT_ID = "TRIGGER_EVENT_ID"
ENV_PIPELINE_EXECUTION_ARN = "PIPELINE_EXECUTION_ARN"

# What the model's code location must hold: the scripts, plus the same directory packed as a
# gzipped tar, which is the only form script-mode training downloads.
PREPARE_SCRIPT = "prepare.py"
TRAIN_SCRIPT = "train.py"
EVALUATE_SCRIPT = "evaluate.py"
SOURCE_ARCHIVE = "sourcedir.tar.gz"

# Paths inside the processing containers; the scripts use the same ones as their defaults.
PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
PREPARE_INPUT_DIR = f"{PROCESSING_ROOT}/input/data"
PREPARE_OUTPUT_DIR = f"{PROCESSING_ROOT}/output"
SPLITS = ("train", "validation", "test")
EVALUATE_MODEL_DIR = f"{PROCESSING_ROOT}/model"
EVALUATE_TEST_DIR = f"{PROCESSING_ROOT}/test"
EVALUATE_OUTPUT_DIR = f"{PROCESSING_ROOT}/evaluation"

# Metrics train.py prints as `validation:<name>=<value>`; SageMaker keeps them with the job.
TRAINING_LOG_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")

_VOLUME_SIZE_GB = 30
_PLAIN_JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class DefaultImages:
    """Container images used when a model's config names none (any string, tokens included)."""

    training: str
    processing: str


def build_pipeline_definition(
    model: ModelConfig,
    *,
    role_arn: str,
    data_bucket_name: str,
    artifact_bucket_name: str,
    tracking_server_arn: str,
    code_prefix_uri: str,
    kms_key_arn: str,
    default_image_uris: DefaultImages,
) -> JsonObject:
    """The pipeline definition of `model`, as a JSON-serializable dict.

    `code_prefix_uri` is the S3 prefix holding the model's scripts and `sourcedir.tar.gz`;
    intermediate data and the model artifact go under `s3://<artifact bucket>/pipelines/<model>/`.
    """
    _require_text(
        role_arn=role_arn,
        data_bucket_name=data_bucket_name,
        artifact_bucket_name=artifact_bucket_name,
        tracking_server_arn=tracking_server_arn,
        code_prefix_uri=code_prefix_uri,
        kms_key_arn=kms_key_arn,
        default_training_image=default_image_uris.training,
        default_processing_image=default_image_uris.processing,
    )
    context = _Context(
        model=model,
        role_arn=role_arn,
        kms_key_arn=kms_key_arn,
        code_prefix=code_prefix_uri.rstrip("/") + "/",
        output_root=f"s3://{artifact_bucket_name}/pipelines/{model.name}",
        training_image=model.training.image_uri or default_image_uris.training,
        processing_image=model.processing.image_uri or default_image_uris.processing,
    )
    return {
        "Version": DEFINITION_VERSION,
        "Parameters": _parameters(model, data_bucket_name),
        "Steps": [
            _prepare_step(context),
            _train_step(context, tracking_server_arn),
            _evaluate_step(context),
            _check_metric_step(model),
        ],
    }


@dataclass(frozen=True)
class _Context:
    model: ModelConfig
    role_arn: str
    kms_key_arn: str
    code_prefix: str
    output_root: str
    training_image: str
    processing_image: str


def _require_text(**values: str) -> None:
    for name, value in values.items():
        if not value.strip():
            raise ValueError(f"build_pipeline_definition: {name} is empty; every resource reference is required")


def _parameters(model: ModelConfig, data_bucket_name: str) -> list[JsonObject]:
    return [
        {
            "Name": PARAM_INPUT_DATA_URI,
            "Type": "String",
            "DefaultValue": f"s3://{data_bucket_name}/{model.data_prefix}",
        },
        {"Name": PARAM_TRIGGER_REASON, "Type": "String", "DefaultValue": DEFAULT_TRIGGER_REASON},
        {"Name": PARAM_TRIGGER_EVENT_ID, "Type": "String", "DefaultValue": DEFAULT_TRIGGER_EVENT_ID},
        {"Name": PARAM_TRAINING_INSTANCE_TYPE, "Type": "String", "DefaultValue": model.training.instance_type},
        {"Name": PARAM_TRAINING_INSTANCE_COUNT, "Type": "Integer", "DefaultValue": model.training.instance_count},
        {"Name": PARAM_PROCESSING_INSTANCE_TYPE, "Type": "String", "DefaultValue": model.processing.instance_type},
        {"Name": PARAM_METRIC_THRESHOLD, "Type": "Float", "DefaultValue": model.metric.threshold},
    ]


def _get(path: str) -> JsonObject:
    return {"Get": path}


def _parameter(name: str) -> JsonObject:
    return _get(f"Parameters.{name}")


def _join(values: list[Any], on: str = "") -> JsonObject:
    return {"Std:Join": {"On": on, "Values": values}}


def _execution_output(context: _Context, *parts: str) -> JsonObject:
    # One prefix per execution, so concurrent executions never overwrite each other's data.
    return _join([context.output_root, _get("Execution.PipelineExecutionId"), *parts], on="/")


def _s3_input(name: str, source: str | JsonObject, local_path: str) -> JsonObject:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": source,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _s3_output(name: str, local_path: str, destination: JsonObject) -> JsonObject:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": destination, "LocalPath": local_path, "S3UploadMode": "EndOfJob"},
    }


def _processing_arguments(
    context: _Context, script: str, inputs: list[JsonObject], outputs: list[JsonObject]
) -> JsonObject:
    return {
        "AppSpecification": {
            "ImageUri": context.processing_image,
            "ContainerEntrypoint": ["python3", f"{CODE_DIR}/{script}"],
        },
        "ProcessingInputs": [_s3_input("code", context.code_prefix, CODE_DIR), *inputs],
        "ProcessingOutputConfig": {"Outputs": outputs, "KmsKeyId": context.kms_key_arn},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": _parameter(PARAM_PROCESSING_INSTANCE_TYPE),
                "InstanceCount": 1,
                "VolumeSizeInGB": _VOLUME_SIZE_GB,
                "VolumeKmsKeyId": context.kms_key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": context.model.training.max_runtime_seconds},
        # Off: prepare and evaluate need S3, and training needs the MLflow endpoint and PyPI.
        "NetworkConfig": {"EnableNetworkIsolation": False},
        "RoleArn": context.role_arn,
    }


def _prepare_step(context: _Context) -> JsonObject:
    outputs = [
        _s3_output(split, f"{PREPARE_OUTPUT_DIR}/{split}", _execution_output(context, STEP_PREPARE.lower(), split))
        for split in SPLITS
    ]
    inputs = [_s3_input("data", _parameter(PARAM_INPUT_DATA_URI), PREPARE_INPUT_DIR)]
    return {
        "Name": STEP_PREPARE,
        "Type": "Processing",
        "Description": "Split the model's data set into train, validation and test CSV files.",
        "Arguments": _processing_arguments(context, PREPARE_SCRIPT, inputs, outputs),
    }


def _split_uri(split: str) -> JsonObject:
    return _get(f"Steps.{STEP_PREPARE}.ProcessingOutputConfig.Outputs['{split}'].S3Output.S3Uri")


def _train_step(context: _Context, tracking_server_arn: str) -> JsonObject:
    model = context.model
    channels = [
        {
            "ChannelName": split,
            "ContentType": "text/csv",
            "InputMode": "File",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": _split_uri(split),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
        for split in ("train", "validation")
    ]
    # Script mode: the container's training toolkit fetches and unpacks the archive, installs
    # its requirements.txt and runs the program with the remaining hyperparameters as CLI options.
    hyperparameters = {
        **model.training.hyperparameters,
        "sagemaker_program": TRAIN_SCRIPT,
        "sagemaker_submit_directory": context.code_prefix + SOURCE_ARCHIVE,
    }
    return {
        "Name": STEP_TRAIN,
        "Type": "Training",
        "Description": "Fit the model, log the run to MLflow and register the model version.",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": context.training_image,
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": f"validation:{name}", "Regex": f"validation:{name}=([-+0-9.eE]+)"}
                    for name in TRAINING_LOG_METRICS
                ],
            },
            "HyperParameters": hyperparameters,
            "Environment": {
                ENV_MLFLOW_TRACKING_ARN: tracking_server_arn,
                ENV_MLFLOW_EXPERIMENT_NAME: model.name,
                ENV_MLFLOW_REGISTERED_MODEL_NAME: model.name,
                ENV_TRIGGER_REASON: _parameter(PARAM_TRIGGER_REASON),
                ENV_TRIGGER_EVENT_ID: _parameter(PARAM_TRIGGER_EVENT_ID),
                ENV_PIPELINE_EXECUTION_ARN: _get("Execution.PipelineExecutionArn"),
                # Jobs in the platform's accounts send no usage data to the MLflow project.
                "MLFLOW_DISABLE_TELEMETRY": "true",
            },
            "InputDataConfig": channels,
            "OutputDataConfig": {
                # SageMaker appends the training job name below this path.
                "S3OutputPath": _execution_output(context, STEP_TRAIN.lower()),
                "KmsKeyId": context.kms_key_arn,
            },
            "ResourceConfig": {
                "InstanceType": _parameter(PARAM_TRAINING_INSTANCE_TYPE),
                "InstanceCount": _parameter(PARAM_TRAINING_INSTANCE_COUNT),
                "VolumeSizeInGB": _VOLUME_SIZE_GB,
                "VolumeKmsKeyId": context.kms_key_arn,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": model.training.max_runtime_seconds},
            "EnableNetworkIsolation": False,
            "RoleArn": context.role_arn,
        },
    }


def _evaluate_step(context: _Context) -> JsonObject:
    inputs = [
        _s3_input("model", _get(f"Steps.{STEP_TRAIN}.ModelArtifacts.S3ModelArtifacts"), EVALUATE_MODEL_DIR),
        _s3_input("test", _split_uri("test"), EVALUATE_TEST_DIR),
    ]
    outputs = [
        _s3_output(
            EVALUATION_OUTPUT, EVALUATE_OUTPUT_DIR, _execution_output(context, STEP_EVALUATE.lower(), EVALUATION_OUTPUT)
        )
    ]
    return {
        "Name": STEP_EVALUATE,
        "Type": "Processing",
        "Description": f"Score the trained model on the test split and write {EVALUATION_FILE}.",
        "Arguments": _processing_arguments(context, EVALUATE_SCRIPT, inputs, outputs),
        "PropertyFiles": [
            {
                "PropertyFileName": EVALUATION_PROPERTY_FILE,
                "OutputName": EVALUATION_OUTPUT,
                "FilePath": EVALUATION_FILE,
            }
        ],
    }


def metric_json_path(metric_name: str) -> str:
    """Where the gate metric's value sits in evaluation.json, as a JsonPath."""
    # Metric names may contain ':', '.', '/' or '-', which dotted JsonPath would misread.
    key = f".{metric_name}" if _PLAIN_JSON_KEY.match(metric_name) else f"['{metric_name}']"
    return f"metrics{key}.value"


def _check_metric_step(model: ModelConfig) -> JsonObject:
    gate = model.metric
    metric_value = {
        "Std:JsonGet": {
            "PropertyFile": _get(f"Steps.{STEP_EVALUATE}.PropertyFiles.{EVALUATION_PROPERTY_FILE}"),
            "Path": metric_json_path(gate.name),
        }
    }
    threshold = _parameter(PARAM_METRIC_THRESHOLD)
    comparison, symbol = ("GreaterThanOrEqualTo", ">=") if gate.greater_is_better else ("LessThanOrEqualTo", "<=")
    # Pipelines have no arithmetic functions, so the message carries both numbers, not their gap.
    missed = "is below the required minimum" if gate.greater_is_better else "is above the allowed maximum"
    message = _join(
        [f"Model {model.name} failed the metric check: test-set {gate.name}", metric_value, missed, threshold],
        on=" ",
    )
    return {
        "Name": STEP_CHECK_METRIC,
        "Type": "Condition",
        "Description": f"Pass when test-set {gate.name} {symbol} {PARAM_METRIC_THRESHOLD}.",
        "Arguments": {
            "Conditions": [{"Type": comparison, "LeftValue": metric_value, "RightValue": threshold}],
            # Registration already happened inside training; passing needs no further step.
            "IfSteps": [],
            "ElseSteps": [{"Name": STEP_METRIC_FAILED, "Type": "Fail", "Arguments": {"ErrorMessage": message}}],
        },
    }
