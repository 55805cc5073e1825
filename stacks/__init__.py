"""Deployable units of the platform and the constructs they are built from."""
