"""Deployer: puts approved model versions on their endpoint and promotes them once they serve."""
