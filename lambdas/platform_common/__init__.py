"""Code shared by the platform's Lambda handlers (no aws_cdk imports here)."""
