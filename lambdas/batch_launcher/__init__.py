"""The batch launcher: runs one batch transform of a model's champion at a time."""
