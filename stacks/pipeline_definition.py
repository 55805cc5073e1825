"""The SageMaker Model Building Pipeline of one model: prepare, train, evaluate, check the metric, register.

`build_pipeline_definition` is a pure function of its arguments and returns the definition
(Version 2020-12-01) as plain data, ready for `json.dumps`. Values that are CDK tokens at
synth time (bucket names, ARNs, image URIs) arrive as strings and are copied into the
definition unchanged, so the stack can resolve them when it serializes the definition.

Shape of the pipeline:

- `Prepare` (processing) reads the CSV files under `InputDataUri` and writes train,
  validation and test splits.
- `Train` (training, script mode) fits the model and logs it to an MLflow run without
  registering it. The run id and the logged model's URI travel in the model artifact
  (`mlflow_run.json` beside the model).
- `Evaluate` (processing) scores the trained model on the test split and writes
  `evaluation.json`, declared as a property file.
- `CheckMetric` (condition) compares the gate metric from that file with `MetricThreshold`.
  When it passes, `Evidence` (processing, platform code: jobs/write_evidence.py) writes the
  execution's evidence report to `evidence/<model>/<execution id>/evaluation.json`: the metrics,
  the model artifact with its S3 VersionId and SHA-256, the serving image, the execution and the
  MLflow run, and `Baseline` (processing, platform code: jobs/write_baseline.py) writes the
  version's monitoring baseline beside it, `evidence/<model>/<execution id>/baseline/`
  (`reference.csv` from the training split, `schema.json`). Then `Register` (processing) logs the test metrics to the run, attaches an
  inference specification to the logged model (the serving image and the model artifact), and
  registers the run's model as a new MLflow model version, tagged with those metrics, the
  trigger, the execution and the evidence URI; it takes the report and the baseline as inputs,
  so it starts only once both exist. When the check misses, `MetricCheckFailed` fails the execution
  with the metric, its value and the threshold in the message.

The approval gate and the deployer believe only that report (lambdas/platform_common/evidence.py):
only the pipeline role can write under `evidence/` and `pipelines/`.

Registering only in the passing branch matters because, with automatic model registration, a
new MLflow version becomes a SageMaker model package awaiting approval, which the approval
gate acts on: a model that failed the check must never reach that point. The processing image
has no MLflow, so `Register` installs the model's `requirements.txt` (what script-mode training
installs too) before it runs `register.py`.

Both installs are offline and hash-checked: requirements.txt names the lock and the wheels that
`make publish-code` puts in the code location (tools/client_bundle.py), the MLflow client the
server's version needs (`stacks/mlflow_clients.py`), so no job reaches PyPI. The definition still
refuses a server version without a pinned client.

The package that automatic registration creates carries an inference specification only if
the logged model had one attached before registration (SageMaker Developer Guide,
"Automatically register SageMaker AI models with SageMaker Model Registry",
https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-track-experiments-model-registration.html);
`Register` is given the serving image (the image the model trains with) and the model
artifact's S3 URI to write one.

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

from platform_common.evidence import EVIDENCE_FILE as EVIDENCE_REPORT_FILE
from platform_common.evidence import EVIDENCE_PREFIX, PIPELINE_OUTPUT_PREFIX
from platform_common.monitoring import BASELINE_DIR, MONITOR_JOB_SCRIPT
from stacks.config import ModelConfig
from stacks.mlflow_clients import client_for

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
STEP_EVIDENCE = "Evidence"
STEP_BASELINE = "Baseline"
STEP_REGISTER = "Register"

EVALUATION_OUTPUT = "evaluation"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"
REGISTRATION_OUTPUT = "registration"
EVIDENCE_OUTPUT = "evidence"
BASELINE_OUTPUT = "baseline"
# What train.py leaves in the model artifact for register.py: the MLflow run and logged model.
MLFLOW_RUN_FILE = "mlflow_run.json"

# Environment of the training container and of the registration job; the model's train.py and
# register.py read these names (only register.py reads the registered model name).
ENV_MLFLOW_TRACKING_ARN = "MLFLOW_TRACKING_ARN"
ENV_MLFLOW_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
ENV_MLFLOW_REGISTERED_MODEL_NAME = "MLFLOW_REGISTERED_MODEL_NAME"
ENV_TRIGGER_REASON = "TRIGGER_REASON"
ENV_TRIGGER_EVENT_ID = "TRIGGER_EVENT_ID"
ENV_PIPELINE_EXECUTION_ARN = "PIPELINE_EXECUTION_ARN"
# register.py's inference specification: the image that serves the model and its artifact.
ENV_SERVING_IMAGE_URI = "SERVING_IMAGE_URI"
ENV_MODEL_DATA_URL = "MODEL_DATA_URL"
# The Evidence step's model name, and what register.py tags the version with and links its package to.
ENV_MODEL_NAME = "MODEL_NAME"
ENV_EVIDENCE_URI = "EVIDENCE_URI"
ENV_PACKAGE_LINK_TIMEOUT = "PACKAGE_LINK_TIMEOUT_SECONDS"
# How long register.py waits for automatic registration to name the version's package before
# it records the execution on the package; none when the environment does not register.
PACKAGE_LINK_TIMEOUT_SECONDS = 300
# Jobs in the platform's accounts send no usage data to the MLflow project.
_NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true"}

# What the model's code location must hold: the scripts, plus the same directory packed as a
# gzipped tar, which is the only form script-mode training downloads.
PREPARE_SCRIPT = "prepare.py"
# The option (and training hyperparameter) that names the model's label column (`models[].target`)
# in every script; the Baseline step records it as the target the monitoring job joins ground
# truth against.
TARGET_OPTION = "target"
TRAIN_SCRIPT = "train.py"
EVALUATE_SCRIPT = "evaluate.py"
REGISTER_SCRIPT = "register.py"
REQUIREMENTS_FILE = "requirements.txt"
SOURCE_ARCHIVE = "sourcedir.tar.gz"
# The MLflow client bundle beside requirements.txt: the hashed lock and its wheels.
CLIENT_LOCK_FILE = "requirements.lock"
WHEELHOUSE_DIR = "wheelhouse"
# The platform's own job scripts (jobs/), published into this sub-folder of each model's code.
PLATFORM_CODE_DIR = "platform"
EVIDENCE_SCRIPT = f"{PLATFORM_CODE_DIR}/write_evidence.py"
BASELINE_SCRIPT = f"{PLATFORM_CODE_DIR}/write_baseline.py"
# Not a pipeline step: the monitoring launcher runs it from the same published code.
MONITOR_SCRIPT = MONITOR_JOB_SCRIPT

# Paths inside the processing containers; the scripts use the same ones as their defaults.
PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
PREPARE_INPUT_DIR = f"{PROCESSING_ROOT}/input/data"
PREPARE_OUTPUT_DIR = f"{PROCESSING_ROOT}/output"
SPLITS = ("train", "validation", "test")
EVALUATE_MODEL_DIR = f"{PROCESSING_ROOT}/model"
EVALUATE_TEST_DIR = f"{PROCESSING_ROOT}/test"
EVALUATE_OUTPUT_DIR = f"{PROCESSING_ROOT}/evaluation"
REGISTER_MODEL_DIR = f"{PROCESSING_ROOT}/model"
REGISTER_EVALUATION_DIR = f"{PROCESSING_ROOT}/evaluation"
REGISTER_OUTPUT_DIR = f"{PROCESSING_ROOT}/registration"
REGISTER_EVIDENCE_DIR = f"{PROCESSING_ROOT}/evidence"
REGISTER_BASELINE_DIR = f"{PROCESSING_ROOT}/baseline"
EVIDENCE_MODEL_DIR = f"{PROCESSING_ROOT}/model"
EVIDENCE_EVALUATION_DIR = f"{PROCESSING_ROOT}/evaluation"
EVIDENCE_OUTPUT_DIR = f"{PROCESSING_ROOT}/evidence"
BASELINE_TRAIN_DIR = f"{PROCESSING_ROOT}/train"
BASELINE_OUTPUT_DIR = f"{PROCESSING_ROOT}/baseline"

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
    mlflow_server_version: str | None,
    automatic_model_registration: bool = True,
) -> JsonObject:
    """The pipeline definition of `model`, as a JSON-serializable dict.

    `code_prefix_uri` is the S3 prefix holding the model's scripts and `sourcedir.tar.gz`;
    intermediate data and the model artifact go under `s3://<artifact bucket>/pipelines/<model>/`,
    the evidence report under `s3://<artifact bucket>/evidence/<model>/`.
    `mlflow_server_version` (`mlflow.version` of the configuration; None for an MLflow App) must
    have a pinned MLflow client (its lock is what the jobs install); a version without one is refused.
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
    # The published lock carries the versions; this only refuses a server the platform has no client for.
    client_for(mlflow_server_version)
    context = _Context(
        model=model,
        role_arn=role_arn,
        kms_key_arn=kms_key_arn,
        code_prefix=code_prefix_uri.rstrip("/") + "/",
        output_root=f"s3://{artifact_bucket_name}/{PIPELINE_OUTPUT_PREFIX}/{model.name}",
        evidence_root=f"s3://{artifact_bucket_name}/{EVIDENCE_PREFIX}/{model.name}",
        training_image=model.training.image_uri or default_image_uris.training,
        processing_image=model.processing.image_uri or default_image_uris.processing,
        package_link_timeout_seconds=PACKAGE_LINK_TIMEOUT_SECONDS if automatic_model_registration else 0,
    )
    return {
        "Version": DEFINITION_VERSION,
        "Parameters": _parameters(model, data_bucket_name),
        "Steps": [
            _prepare_step(context),
            _train_step(context, tracking_server_arn),
            _evaluate_step(context),
            _check_metric_step(context, tracking_server_arn),
        ],
    }


@dataclass(frozen=True)
class _Context:
    model: ModelConfig
    role_arn: str
    kms_key_arn: str
    code_prefix: str
    output_root: str
    evidence_root: str
    training_image: str
    processing_image: str
    package_link_timeout_seconds: int


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


def _entrypoint(script: str, *, install_requirements: bool) -> list[str]:
    if not install_requirements:
        return ["python3", f"{CODE_DIR}/{script}"]
    # The install belongs to the job, not to the script: the script keeps plain imports and runs
    # unchanged wherever MLflow is already installed. `python3 -m pip` installs for the very
    # interpreter that then runs the script; exec hands it the job's signals. requirements.txt
    # carries the same offline options for script-mode training; here they are also given on the
    # command line, with the wheelhouse as an absolute path, so the install never depends on the
    # file's options or on the working directory.
    # Each entrypoint string holds at most 256 characters (SageMaker API Reference,
    # "AppSpecification", ContainerEntrypoint,
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html), so the
    # paths travel as the shell's positional parameters ($0 wheelhouse, $1 requirements, $2
    # script) instead of inside the command; `shift 2` leaves any ContainerArguments in "$@".
    command = (
        'python3 -m pip install -q --no-cache-dir --disable-pip-version-check --no-index --find-links "$0" '
        '--require-hashes -r "$1" && s="$2" && shift 2 && exec python3 "$s" "$@"'
    )
    return [
        "/bin/sh",
        "-c",
        command,
        f"{CODE_DIR}/{WHEELHOUSE_DIR}",
        f"{CODE_DIR}/{REQUIREMENTS_FILE}",
        f"{CODE_DIR}/{script}",
    ]


def _processing_arguments(
    context: _Context,
    script: str,
    inputs: list[JsonObject],
    outputs: list[JsonObject],
    *,
    environment: JsonObject | None = None,
    install_requirements: bool = False,
    arguments: list[str] | None = None,
) -> JsonObject:
    # ContainerArguments follow the entrypoint on the container's command line (SageMaker API
    # Reference, "AppSpecification": "The arguments for a container used to run a processing job",
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AppSpecification.html).
    return {
        "AppSpecification": {
            "ImageUri": context.processing_image,
            "ContainerEntrypoint": _entrypoint(script, install_requirements=install_requirements),
            **({"ContainerArguments": arguments} if arguments else {}),
        },
        **({"Environment": environment} if environment else {}),
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
        # Off: prepare and evaluate need S3, and registration needs the MLflow endpoint (not PyPI).
        "NetworkConfig": {"EnableNetworkIsolation": False},
        "RoleArn": context.role_arn,
    }


def _target(context: _Context) -> list[str]:
    """The label column, as the Prepare and Evaluate scripts read it (--target)."""
    return [f"--{TARGET_OPTION}", context.model.target]


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
        "Arguments": _processing_arguments(context, PREPARE_SCRIPT, inputs, outputs, arguments=_target(context)),
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
    # Script mode: the container's training toolkit fetches and unpacks the archive into
    # /opt/ml/code, installs its requirements.txt there (`python -m pip install -r
    # requirements.txt` with the archive's folder as working directory; sagemaker-training-toolkit
    # v4.8.0, the version the image pins, src/sagemaker_training/modules.py, install_requirements)
    # and runs the program with the remaining hyperparameters as CLI options. The archive
    # carries the lock and the wheelhouse, so that install is offline too.
    hyperparameters = {
        **model.training.hyperparameters,
        TARGET_OPTION: model.target,
        "sagemaker_program": TRAIN_SCRIPT,
        "sagemaker_submit_directory": context.code_prefix + SOURCE_ARCHIVE,
    }
    return {
        "Name": STEP_TRAIN,
        "Type": "Training",
        "Description": "Fit the model and log it to an MLflow run; registration waits for the metric check.",
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
                **_trigger_environment(),
                **_NO_TELEMETRY,
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


def _trigger_environment() -> JsonObject:
    return {
        ENV_TRIGGER_REASON: _parameter(PARAM_TRIGGER_REASON),
        ENV_TRIGGER_EVENT_ID: _parameter(PARAM_TRIGGER_EVENT_ID),
        ENV_PIPELINE_EXECUTION_ARN: _get("Execution.PipelineExecutionArn"),
    }


def _model_artifact() -> JsonObject:
    return _get(f"Steps.{STEP_TRAIN}.ModelArtifacts.S3ModelArtifacts")


def _evaluate_step(context: _Context) -> JsonObject:
    inputs = [
        _s3_input("model", _model_artifact(), EVALUATE_MODEL_DIR),
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
        "Arguments": _processing_arguments(context, EVALUATE_SCRIPT, inputs, outputs, arguments=_target(context)),
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


def _evaluation_uri() -> JsonObject:
    return _get(f"Steps.{STEP_EVALUATE}.ProcessingOutputConfig.Outputs['{EVALUATION_OUTPUT}'].S3Output.S3Uri")


def _evidence_uri() -> JsonObject:
    return _get(f"Steps.{STEP_EVIDENCE}.ProcessingOutputConfig.Outputs['{EVIDENCE_OUTPUT}'].S3Output.S3Uri")


def _evidence_step(context: _Context) -> JsonObject:
    inputs = [
        _s3_input("model", _model_artifact(), EVIDENCE_MODEL_DIR),
        _s3_input(EVALUATION_OUTPUT, _evaluation_uri(), EVIDENCE_EVALUATION_DIR),
    ]
    # Not per step like the other outputs: the gate and the deployer derive this key from the
    # execution they verified, and only the pipeline role may write below evidence/.
    outputs = [
        _s3_output(
            EVIDENCE_OUTPUT,
            EVIDENCE_OUTPUT_DIR,
            _join([context.evidence_root, _get("Execution.PipelineExecutionId")], on="/"),
        )
    ]
    environment = {
        ENV_MODEL_NAME: context.model.name,
        ENV_PIPELINE_EXECUTION_ARN: _get("Execution.PipelineExecutionArn"),
        ENV_MODEL_DATA_URL: _model_artifact(),
        ENV_SERVING_IMAGE_URI: context.training_image,
    }
    return {
        "Name": STEP_EVIDENCE,
        "Type": "Processing",
        "Description": "Record what passed the check: metrics, the artifact's S3 version and hash, image, run.",
        "Arguments": _processing_arguments(context, EVIDENCE_SCRIPT, inputs, outputs, environment=environment),
    }


def _baseline_uri() -> JsonObject:
    return _get(f"Steps.{STEP_BASELINE}.ProcessingOutputConfig.Outputs['{BASELINE_OUTPUT}'].S3Output.S3Uri")


def _baseline_step(context: _Context) -> JsonObject:
    inputs = [_s3_input("train", _split_uri("train"), BASELINE_TRAIN_DIR)]
    # Beside the evidence report, under the prefix only the pipeline role writes: the monitoring
    # job of the serving version reads it from the execution the gate verified.
    outputs = [
        _s3_output(
            BASELINE_OUTPUT,
            BASELINE_OUTPUT_DIR,
            _join([context.evidence_root, _get("Execution.PipelineExecutionId"), BASELINE_DIR], on="/"),
        )
    ]
    environment = {
        ENV_MODEL_NAME: context.model.name,
        ENV_PIPELINE_EXECUTION_ARN: _get("Execution.PipelineExecutionArn"),
    }
    return {
        "Name": STEP_BASELINE,
        "Type": "Processing",
        "Description": "Write the version's monitoring baseline: reference data from the training split and its schema.",
        "Arguments": _processing_arguments(
            context, BASELINE_SCRIPT, inputs, outputs, environment=environment, arguments=_target(context)
        ),
    }


def _register_step(context: _Context, tracking_server_arn: str) -> JsonObject:
    inputs = [
        # The model artifact carries mlflow_run.json, which names the run and the model to register.
        _s3_input("model", _model_artifact(), REGISTER_MODEL_DIR),
        _s3_input(EVALUATION_OUTPUT, _evaluation_uri(), REGISTER_EVALUATION_DIR),
        # Reading the report makes this step wait for it: no version exists before its evidence.
        _s3_input(EVIDENCE_OUTPUT, _evidence_uri(), REGISTER_EVIDENCE_DIR),
        # Likewise the baseline: a registered version always has what its monitoring compares against.
        _s3_input(BASELINE_OUTPUT, _baseline_uri(), REGISTER_BASELINE_DIR),
    ]
    outputs = [
        _s3_output(
            REGISTRATION_OUTPUT,
            REGISTER_OUTPUT_DIR,
            _execution_output(context, STEP_REGISTER.lower(), REGISTRATION_OUTPUT),
        )
    ]
    environment = {
        ENV_MLFLOW_TRACKING_ARN: tracking_server_arn,
        ENV_MLFLOW_REGISTERED_MODEL_NAME: context.model.name,
        # The inference specification: served by the image it was trained in, from its artifact.
        ENV_SERVING_IMAGE_URI: context.training_image,
        ENV_MODEL_DATA_URL: _model_artifact(),
        ENV_EVIDENCE_URI: _join([_evidence_uri(), EVIDENCE_REPORT_FILE], on="/"),
        ENV_PACKAGE_LINK_TIMEOUT: str(context.package_link_timeout_seconds),
        **_trigger_environment(),
        **_NO_TELEMETRY,
    }
    return {
        "Name": STEP_REGISTER,
        "Type": "Processing",
        "Description": "Register the checked model, with its inference specification, as a new MLflow model version.",
        "Arguments": _processing_arguments(
            context, REGISTER_SCRIPT, inputs, outputs, environment=environment, install_requirements=True
        ),
    }


def _check_metric_step(context: _Context, tracking_server_arn: str) -> JsonObject:
    model = context.model
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
            "IfSteps": [
                _evidence_step(context),
                _baseline_step(context),
                _register_step(context, tracking_server_arn),
            ],
            "ElseSteps": [{"Name": STEP_METRIC_FAILED, "Type": "Fail", "Arguments": {"ErrorMessage": message}}],
        },
    }
