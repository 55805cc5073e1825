"""Starts a model's monitoring job (jobs/monitor_model.py) on its schedule and when ground truth arrives."""
