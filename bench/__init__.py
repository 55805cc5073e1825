"""Benchmarks of synth time, handler cold imports, asset size and scaling with model count."""
