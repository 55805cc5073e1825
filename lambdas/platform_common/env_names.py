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
# The bucket holding the pipelines' model artifacts and evidence reports.
ARTIFACT_BUCKET_NAME = "ARTIFACT_BUCKET_NAME"
