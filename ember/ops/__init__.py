"""Differentiable primitives, one module per family. Each keeps forward and backward together."""
