"""Ember vs PyTorch benchmarks: ``python -m benchmarks.run [--quick] [--only NAME]``."""
