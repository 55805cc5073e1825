"""Starts a model's SageMaker pipeline when its data, quality alarm, schedule or a person asks."""
