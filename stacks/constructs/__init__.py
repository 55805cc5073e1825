"""Reusable building blocks; each is a Construct with typed attributes."""
