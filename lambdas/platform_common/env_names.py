"""Names of the environment variables the handlers read.

The CDK constructs that set these variables import this module too, so the name on
each side can never drift apart.
"""

PLATFORM_BUS_NAME = "PLATFORM_BUS_NAME"
MODEL_CATALOG_PATH = "MODEL_CATALOG_PATH"
MLFLOW_TRACKING_SERVER_ARN = "MLFLOW_TRACKING_SERVER_ARN"
MODEL_EXECUTION_ROLE_ARN = "MODEL_EXECUTION_ROLE_ARN"
ENVIRONMENT_NAME = "PLATFORM_ENVIRONMENT"
DATA_BUCKET_NAME = "DATA_BUCKET_NAME"
RETRAINING_LOCK_TABLE_NAME = "RETRAINING_LOCK_TABLE_NAME"
RETRAINING_TIMER_GROUP_NAME = "RETRAINING_TIMER_GROUP_NAME"
RETRAINING_TIMER_ROLE_ARN = "RETRAINING_TIMER_ROLE_ARN"
RETRAINING_TIMER_DEAD_LETTER_ARN = "RETRAINING_TIMER_DEAD_LETTER_ARN"
# The same lock table, as the gate and the deployer are told it (their promotion leases).
MODEL_LOCK_TABLE_NAME = "MODEL_LOCK_TABLE_NAME"
# The bucket holding the pipelines' model artifacts and evidence reports.
ARTIFACT_BUCKET_NAME = "ARTIFACT_BUCKET_NAME"
# Comma-separated role ARNs of other accounts that read the registry of record (model gate, delivery only).
REGISTRY_READER_ROLE_ARNS = "REGISTRY_READER_ROLE_ARNS"
# The registry of record a consuming environment's deployer verifies promoted versions in (delivery only).
REGISTRY_ACCOUNT = "REGISTRY_ACCOUNT"
REGISTRY_REGION = "REGISTRY_REGION"
REGISTRY_ARTIFACT_BUCKET = "REGISTRY_ARTIFACT_BUCKET"
# `<prefix>-<env>` of the registry's resources: its pipelines are `<that>-<model>`.
REGISTRY_RESOURCE_PREFIX = "REGISTRY_RESOURCE_PREFIX"
# The suffix of the registry's package groups when its MLflow name is known at synth (a tracking server).
REGISTRY_PACKAGE_GROUP_SUFFIX = "REGISTRY_PACKAGE_GROUP_SUFFIX"
# The platform KMS key: encrypts the data bucket, transform output and volumes, endpoint data
# capture and monitoring reports.
DATA_KEY_ARN = "DATA_KEY_ARN"
# The monitoring launcher: the role its Processing jobs run as, and its watermark table.
MONITORING_JOB_ROLE_ARN = "MONITORING_JOB_ROLE_ARN"
MONITORING_NAMESPACE = "MONITORING_NAMESPACE"
# How every monitoring Processing job of the environment is named: `<prefix>-<env>-monitor-`.
MONITORING_JOB_PREFIX = "MONITORING_JOB_PREFIX"
