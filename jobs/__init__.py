"""Platform code that runs inside SageMaker jobs (uploaded beside each model's code by `make publish-code`)."""
