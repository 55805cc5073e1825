"""The monitoring job's modules: input records, the Evidently core, the CloudWatch request (jobs/monitor_model.py runs them)."""
