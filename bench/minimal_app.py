"""The smallest useful CDK app (one bucket): the floor that synth_ratio compares against."""

import os

from aws_cdk import App, Stack, aws_s3

app = App(outdir=os.environ.get("CDK_OUTDIR"))
stack = Stack(app, "BenchMinimal")
aws_s3.Bucket(stack, "Bucket")
app.synth()
