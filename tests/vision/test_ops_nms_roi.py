"""NMS against a loop transcription of torchvision's CPU kernel; RoI Align against torchvision's
pure-torch reference (values and input gradients) and float64 finite differences; RoI Pool
against a loop transcription of torchvision's kernel (inventory B44, B45, B50)."""
import importlib

import numpy as np
import pytest

import ember
from ember.vision import ops
from tests.harness import assert_close, gradcheck64
from tests.vision.oracles import (nms_reference, random_boxes, roi_pool_reference,
                                  torch_roi_align, torchvision)

# the module: the package attribute ``nms`` is the function, as in torchvision
nms_module = importlib.import_module("ember.vision.ops.nms")


def _clustered(rng, n, objects=20):
    """Boxes scattered around ``objects`` boxes, as a detector's raw output."""
    centres = random_boxes(rng, objects, size=200.0, min_side=8.0, max_side=60.0)
    boxes = centres[rng.integers(0, objects, n)] + rng.normal(0, 3, (n, 4)).astype(np.float32)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("n", [1, 40, 700])                 # 700 > three blocks of 256
def test_nms_matches_the_kernel(threshold, n):
    rng = np.random.default_rng(n)
    boxes = _clustered(rng, n)
    scores = rng.random(n).astype(np.float32)
    got = ops.nms(ember.from_numpy(boxes), ember.from_numpy(scores), threshold)
    assert got.dtype == ember.int64
    assert got.numpy().tolist() == nms_reference(boxes, scores, threshold).tolist()


def test_nms_ties_pairs_at_the_threshold_and_empty_boxes():
    # IoU exactly 0.5 is not > 0.5: both boxes stay; equal scores are visited in index order
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 10], [3, 3, 3, 3],
                      [3, 3, 3, 3]], np.float32)
    scores = np.array([0.9, 0.8, 0.9, 0.5, 0.5], np.float32)
    for threshold in (0.5, 0.49):
        got = ops.nms(ember.from_numpy(boxes), ember.from_numpy(scores), threshold).tolist()
        assert got == nms_reference(boxes, scores, threshold).tolist()
    assert ops.nms(ember.zeros(0, 4), ember.zeros(0), 0.5).shape == (0,)


def test_nms_needs_several_rounds_inside_a_block():
    # a chain a > b > c > d of boxes overlapping their neighbours only: a suppresses b, so c
    # survives and suppresses d; the in-block iteration must settle the chain exactly
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10], [6, 0, 16, 10],
                      [8, 0, 18, 10]], np.float32)
    scores = np.array([5, 4, 3, 2, 1], np.float32)
    got = ops.nms(ember.from_numpy(boxes), ember.from_numpy(scores), 0.5).tolist()
    assert got == [0, 2, 4] == nms_reference(boxes, scores, 0.5).tolist()


def test_batched_nms_is_nms_per_category():
    rng = np.random.default_rng(7)
    boxes = _clustered(rng, 600)
    scores = rng.random(600).astype(np.float32)
    idxs = rng.integers(0, 4, 600)
    got = ops.batched_nms(ember.from_numpy(boxes), ember.from_numpy(scores),
                          ember.from_numpy(idxs), 0.5).numpy()
    expected = np.concatenate([np.flatnonzero(idxs == c)[nms_reference(
        boxes[idxs == c], scores[idxs == c], 0.5)] for c in range(4)])
    expected = expected[np.argsort(-scores[expected], kind="stable")]
    assert got.tolist() == expected.tolist()


def test_nms_blocks_of_any_size_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(8)
    boxes, scores = _clustered(rng, 300), rng.random(300).astype(np.float32)
    expected = nms_reference(boxes, scores, 0.6).tolist()
    for block in (1, 7, 64, 1024):
        monkeypatch.setattr(nms_module, "_BLOCK", block)
        assert ops.nms(ember.from_numpy(boxes), ember.from_numpy(scores), 0.6).tolist() == expected


def test_nms_errors():
    with pytest.raises(ValueError, match=r"nms: expected scores of shape \(3,\), got \(2,\)"):
        ops.nms(ember.zeros(3, 4), ember.zeros(2), 0.5)
    with pytest.raises(TypeError, match="nms: boxes must be floating point"):
        ops.nms(ember.zeros(3, 4, dtype=ember.int64), ember.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"batched_nms: expected idxs of shape \(3,\)"):
        ops.batched_nms(ember.zeros(3, 4), ember.zeros(3), ember.zeros(4, dtype=ember.int64), 0.5)


# ------------------------------------------------------------------------------ RoI Align
def _rois(rng, k, images, height, width, scale, dtype=np.float64):
    """Boxes whose samples stay inside the map (where torchvision's pure-torch reference and
    its C++ kernel agree)."""
    boxes = random_boxes(rng, k, size=min(height, width) / scale - 1, min_side=0.3 / scale,
                         max_side=0.8 * min(height, width) / scale, dtype=dtype)
    return np.concatenate([rng.integers(0, images, (k, 1)).astype(dtype), boxes], 1)


@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 3])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_roi_align_matches_torchvision(sampling_ratio, aligned, scale):
    torch, _ = torchvision()
    reference = torch_roi_align()
    rng = np.random.default_rng(int(10 * scale) + sampling_ratio)
    x = rng.standard_normal((2, 3, 9, 11))
    rois = _rois(rng, 7, 2, 9, 11, scale)
    xe = ember.tensor(x, requires_grad=True)
    out = ops.roi_align(xe, ember.from_numpy(rois), (3, 4), scale, sampling_ratio, aligned)
    xt = torch.tensor(x, requires_grad=True)
    expected = reference(xt, torch.from_numpy(rois), scale, 3, 4, sampling_ratio, aligned)
    assert_close(out.detach().numpy(), expected.detach().numpy())
    g = rng.standard_normal(out.shape)
    out.backward(ember.from_numpy(g))
    expected.backward(torch.from_numpy(g))
    assert_close(xe.grad.numpy(), xt.grad.numpy())


def test_roi_align_float32_and_a_list_of_boxes():
    torch, _ = torchvision()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 16, 16)).astype(np.float32)
    rois = _rois(rng, 9, 2, 16, 16, 0.5, np.float32)
    expected = torch_roi_align()(torch.from_numpy(x), torch.from_numpy(rois), 0.5, 7, 7, 2, True)
    per_image = [ember.from_numpy(rois[rois[:, 0] == i, 1:]) for i in range(2)]
    order = np.argsort(rois[:, 0], kind="stable")
    out = ops.roi_align(ember.from_numpy(x), per_image, 7, 0.5, 2, True)
    # float32: each value is a convex combination of at most 4 * 2 * 2 map values
    assert_close(out.numpy(), expected.numpy()[order], rtol=1e-5, atol=1e-5)
    module = ops.RoIAlign((7, 7), 0.5, 2, aligned=True)
    assert_close(module(ember.from_numpy(x), per_image).numpy(), out.numpy())
    assert repr(module) == "RoIAlign(output_size=(7, 7), spatial_scale=0.5, sampling_ratio=2, aligned=True)"


def test_roi_align_finite_differences():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2, 6, 7))
    rois = ember.tensor([[0, 0.7, 1.2, 5.1, 4.4], [0, 2.5, 0.3, 6.2, 5.9]])
    assert gradcheck64(lambda t: ops.roi_align(t, rois, 3, 1.0, 2, True), [x])


def test_roi_align_samples_outside_the_map():
    # torchvision's kernel: a sample beyond [-1, size] reads 0 (the pure-torch reference
    # clamps instead); one in [-1, 0) is moved to 0; one past the last pixel reads the last.
    # One sample per box, at the box centre (sampling_ratio=1, output 1x1).
    x = ember.from_numpy(np.arange(1, 13, dtype=np.float64).reshape(1, 1, 3, 4))
    image = x.numpy()[0, 0]

    def at(cx, cy):
        return ops.roi_align(x, ember.tensor([[0, cx - 1, cy - 1, cx + 1, cy + 1]]), 1, 1.0,
                             1).item()
    assert at(-1.5, 1.0) == 0.0 and at(1.0, 3.2) == 0.0 and at(4.1, 1.0) == 0.0
    assert at(-0.5, 0.5) == 0.5 * image[0, 0] + 0.5 * image[1, 0]
    assert at(-0.5, -0.5) == image[0, 0]
    assert at(3.5, 2.5) == image[2, 3] and at(3.5, 0.25) == 0.75 * image[0, 3] + 0.25 * image[1, 3]


def test_roi_align_degenerate_boxes():
    x = ember.from_numpy(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    inverted = ember.tensor([[0, 3.0, 3.0, 1.0, 1.0]])
    # legacy: forced to 1x1 at (x1, y1); aligned: no samples, zeros
    assert ops.roi_align(x, inverted, 1, 1.0, 1).item() == x.numpy()[0, 0, 3, 3]
    assert ops.roi_align(x, inverted, 2, 1.0, -1, aligned=True).abs().sum().item() == 0.0
    assert ops.roi_align(x, ember.zeros(0, 5), 2).shape == (0, 1, 2, 2)


def test_roi_align_errors():
    x = ember.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="roi_align: box image index must lie in"):
        ops.roi_align(x, ember.tensor([[2, 0.0, 0, 4, 4]]), 2)
    with pytest.raises(ValueError, match=r"roi_align: boxes must be a Tensor \(K, 5\)"):
        ops.roi_align(x, ember.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=r"roi_align: expected input of shape \(N, C, H, W\)"):
        ops.roi_align(ember.zeros(3, 8, 8), ember.zeros(1, 5), 2)
    with pytest.raises(ValueError, match="roi_align: boxes contain NaN"):
        ops.roi_align(x, ember.tensor([[0, float("nan"), 0, 4, 4]]), 2)


# ------------------------------------------------------------------------------- RoI Pool
@pytest.mark.parametrize("scale", [1.0, 0.5, 1 / 3])
def test_roi_pool_matches_the_kernel(scale):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 10, 9)).astype(np.float32)
    rois = _rois(rng, 8, 2, 10, 9, scale, np.float32)
    rois[0, 1:] = [-4, -4, 2, 3]                          # partly outside the map
    rois[1, 1:] = [40, 40, 50, 50]                        # outside: empty bins give 0
    rois[2, 1:] = [6, 5, 2, 1]                            # x2 < x1, y2 < y1: forced to 1x1
    values, argmax = ops.roi.RoIPoolFunction.apply(ember.from_numpy(x), ember.from_numpy(rois),
                                                   output_size=(3, 2), spatial_scale=scale)
    expected, expected_argmax = roi_pool_reference(x, rois, 3, 2, scale)
    assert_close(values.numpy(), expected)
    assert (argmax.numpy() == expected_argmax).all() and argmax.dtype == ember.int64
    # the gradient of each value goes to its arg-max
    xe = ember.tensor(x, requires_grad=True)
    g = rng.standard_normal(expected.shape).astype(np.float32)
    ops.roi_pool(xe, ember.from_numpy(rois), (3, 2), scale).backward(ember.from_numpy(g))
    dx = np.zeros(x.size)
    for k, b in enumerate(rois[:, 0].astype(int)):
        for c in range(3):
            hit = expected_argmax[k, c] >= 0
            np.add.at(dx, ((b * 3 + c) * 90 + expected_argmax[k, c][hit]), g[k, c][hit])
    assert_close(xe.grad.numpy(), dx.reshape(x.shape).astype(np.float32))


def test_roi_pool_the_lectures_example_and_finite_differences():
    # inventory B44: a 5x4 region (rows x cols) into 2x2 bins, each max-pooled
    x = np.arange(1, 81, dtype=np.float64).reshape(1, 1, 8, 10)
    out = ops.roi_pool(ember.from_numpy(x), ember.tensor([[0, 2.0, 1.0, 5.0, 5.0]]), 2)
    rows, cols = slice(1, 6), slice(2, 6)                 # rows 1..5 and columns 2..5
    region = x[0, 0, rows, cols]
    assert out.numpy()[0, 0].tolist() == [[region[:3, :2].max(), region[:3, 2:].max()],
                                          [region[2:, :2].max(), region[2:, 2:].max()]]
    rng = np.random.default_rng(14)
    assert gradcheck64(lambda t: ops.roi_pool(t, ember.tensor([[0, 0.6, 1.0, 6.0, 5.0]]), 2),
                       [rng.standard_normal((1, 2, 7, 8))])
    assert repr(ops.RoIPool(7, 0.5)) == "RoIPool(output_size=7, spatial_scale=0.5)"
