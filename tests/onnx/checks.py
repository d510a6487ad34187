"""The issue's measure of agreement for whole models."""
import numpy as np


def assert_within_scale(actual, expected, share, what):
    """The issue's measure: max |actual - expected| <= share x max |expected|."""
    scale = float(np.abs(expected).max())
    assert scale > 0, f"{what}: the output is all zeros, which proves nothing"
    worst = float(np.abs(actual - expected).max())
    assert worst <= share * scale, f"{what}: max difference {worst:.3g} > {share} x {scale:.3g}"
