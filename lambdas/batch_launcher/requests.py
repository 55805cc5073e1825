"""The SageMaker requests the batch launcher sends, built from a catalog entry (pure functions).

Each output line is `inference_id,<features...>,<prediction>`: the model is given each CSV
record without its first column (`InputFilter "$[1:]"`), the whole input record is joined with
the prediction (`JoinSource "Input"`), and the joined record is kept whole (`OutputFilter "$"`).
SageMaker API Reference, "DataProcessing"
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataProcessing.html): "Use the
InputFilter parameter to exclude fields, such as an ID column, from the input"; "If you want the
batch transform job to join the original input data with the transformed data, set JoinSource to
Input". The workflow is described in the SageMaker Developer Guide, "Associate Prediction
Results with Input Records" (https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html).

The input is a manifest (S3DataType ManifestFile, `batch_launcher.inputs`) naming the files
under `inference/<model>/` that arrived since the previous job; each job writes into its own
folder `predictions/<model>/<job name>/`: "For every S3 object used as input for the transform
job, batch transform stores the transformed data with an .out suffix in a corresponding
subfolder in the location in the output prefix" (SageMaker API Reference, "TransformOutput",
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from platform_common import monitoring
from platform_common.catalog import BatchSettings, ModelSettings
from platform_common.resource_names import MODEL_TAG, fit_name, version_resource_name

INPUT_FILTER = "$[1:]"
JOIN_SOURCE = "Input"
OUTPUT_FILTER = "$"

VERSION_TAG = "mlops:model-version"
PACKAGE_TAG = "mlops:model-package-arn"
TRIGGER_TAG = "mlops:trigger-event"


def job_name(settings: ModelSettings, started_by: str, at: datetime) -> str:
    """`<endpoint name>-b<UTC time>-<hash of the event>`: the same event always names the same job."""
    digest = hashlib.sha256(started_by.encode()).hexdigest()[:6]
    return fit_name(settings.endpoint_name, f"-b{at:%Y%m%d%H%M%S}-{digest}")


def model_name(settings: ModelSettings, version: int) -> str:
    """The SageMaker model of one package version: the one the deployer names (and may have created)."""
    return version_resource_name(settings.endpoint_name, version)


def output_uri(bucket: str, model: str, name: str) -> str:
    return f"s3://{bucket}/{monitoring.predictions_prefix(model)}{name}/"


def model_of_output(bucket: str, output_path: str) -> str | None:
    """The model whose predictions folder `output_path` is in, or None if it is none of the launcher's."""
    head = f"s3://{bucket}/{monitoring.PREDICTIONS_PREFIX}/"
    if not output_path.startswith(head):
        return None
    model, _, rest = output_path[len(head) :].partition("/")
    return model if model and rest else None


def create_model_request(
    settings: ModelSettings, version: int, package_arn: str, execution_role_arn: str
) -> dict[str, Any]:
    """CreateModel with the package as the only container (as the deployer creates it)."""
    return {
        "ModelName": model_name(settings, version),
        "ExecutionRoleArn": execution_role_arn,
        "Containers": [{"ModelPackageName": package_arn}],
        "Tags": [
            {"Key": MODEL_TAG, "Value": settings.name},
            {"Key": VERSION_TAG, "Value": str(version)},
            {"Key": PACKAGE_TAG, "Value": package_arn},
        ],
    }


def transform_job_request(
    settings: ModelSettings,
    batch: BatchSettings,
    *,
    name: str,
    version: int,
    package_arn: str,
    bucket: str,
    manifest_uri: str,
    kms_key_arn: str,
    trigger_event_id: str,
) -> dict[str, Any]:
    """CreateTransformJob over the files `manifest_uri` names into `predictions/<model>/<name>/`, with the platform key."""
    return {
        "TransformJobName": name,
        "ModelName": model_name(settings, version),
        "MaxConcurrentTransforms": batch.max_concurrent_transforms,
        "MaxPayloadInMB": batch.max_payload_mb,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest_uri}},
            "ContentType": batch.content_type,
            "SplitType": batch.split_type,
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": output_uri(bucket, settings.name, name),
            "Accept": batch.content_type,
            "AssembleWith": "Line",
            "KmsKeyId": kms_key_arn,
        },
        "TransformResources": {
            "InstanceType": batch.instance_type,
            "InstanceCount": batch.instance_count,
            "VolumeKmsKeyId": kms_key_arn,
        },
        "DataProcessing": {"InputFilter": INPUT_FILTER, "JoinSource": JOIN_SOURCE, "OutputFilter": OUTPUT_FILTER},
        "Tags": [
            {"Key": MODEL_TAG, "Value": settings.name},
            {"Key": VERSION_TAG, "Value": str(version)},
            {"Key": PACKAGE_TAG, "Value": package_arn},
            {"Key": TRIGGER_TAG, "Value": trigger_event_id[:256]},
        ],
    }
