"""Operator commands that act on a deployed environment (run through the Makefile)."""
