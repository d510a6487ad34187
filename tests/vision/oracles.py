"""Test-only references for detection: torchvision (its pure-Python parts; its compiled ops
need CUDA libraries this machine lacks) and small loop implementations of the torchvision C++
kernels that cannot be imported (NMS, RoI max pooling), written to follow the kernels line by
line rather than to be fast."""
import math

import numpy as np
import pytest

from tests.torchvision_oracle import import_torchvision


def torchvision():
    """``(torch, torchvision)``, torchvision imported as ``tests.torchvision_oracle`` does (its
    models, box functions and the pure-torch RoI Align work without its compiled ops)."""
    torch = pytest.importorskip("torch")
    return torch, import_torchvision()


def torch_roi_align():
    """torchvision's pure-torch RoI Align, not compiled (``_roi_align`` wraps itself in
    ``torch.compile`` on first use; ``__wrapped__`` is the plain function)."""
    _, tv = torchvision()
    from torchvision.ops.roi_align import _roi_align
    return _roi_align.__wrapped__


def nms_reference(boxes, scores, threshold):
    """torchvision's CPU ``nms`` kernel: visit the boxes by decreasing score; a kept box
    suppresses every later box whose ``ovr = inter / (area_i + area_j - inter)`` (in the boxes'
    dtype) is ``> threshold`` (a double). One kept box at a time, against all later boxes."""
    order = np.argsort(-scores, kind="stable")
    suppressed = np.zeros(len(boxes), bool)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        j = order[a + 1:]
        w = np.maximum(np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]), 0)
        h = np.maximum(np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]), 0)
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            ovr = inter / (areas[i] + areas[j] - inter)
        suppressed[j[ovr.astype(np.float64) > threshold]] = True
    return np.array(keep, dtype=np.int64)


def roi_pool_reference(x, rois, pooled_h, pooled_w, spatial_scale):
    """torchvision's CPU ``roi_pool`` kernel, as loops: ``(values, argmax)``."""
    n, c, height, width = x.shape
    T = x.dtype.type
    out = np.zeros((len(rois), c, pooled_h, pooled_w), x.dtype)
    argmax = np.full(out.shape, -1, np.int64)

    def c_round(v):
        return math.copysign(math.floor(abs(v) + 0.5), v)
    for k, roi in enumerate(rois.astype(x.dtype)):
        b = int(roi[0])
        start_w, start_h = c_round(T(roi[1] * T(spatial_scale))), c_round(T(roi[2] * T(spatial_scale)))
        end_w, end_h = c_round(T(roi[3] * T(spatial_scale))), c_round(T(roi[4] * T(spatial_scale)))
        roi_w, roi_h = max(end_w - start_w + 1, 1), max(end_h - start_h + 1, 1)
        bin_h, bin_w = T(roi_h) / T(pooled_h), T(roi_w) / T(pooled_w)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                hstart = int(math.floor(T(ph) * bin_h)) + int(start_h)
                wstart = int(math.floor(T(pw) * bin_w)) + int(start_w)
                hend = int(math.ceil(T(ph + 1) * bin_h)) + int(start_h)
                wend = int(math.ceil(T(pw + 1) * bin_w)) + int(start_w)
                hstart, hend = min(max(hstart, 0), height), min(max(hend, 0), height)
                wstart, wend = min(max(wstart, 0), width), min(max(wend, 0), width)
                if hend <= hstart or wend <= wstart:
                    continue
                for ch in range(c):
                    best, where = -np.inf, -1
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            if x[b, ch, h, w] > best:
                                best, where = x[b, ch, h, w], h * width + w
                    out[k, ch, ph, pw], argmax[k, ch, ph, pw] = best, where
    return out, argmax


def random_boxes(rng, n, size=64.0, min_side=1.0, max_side=24.0, dtype=np.float32):
    """``n`` random xyxy boxes with sides in ``[min_side, max_side)`` inside ``[0, size]``."""
    wh = rng.uniform(min_side, max_side, (n, 2))
    xy = rng.uniform(0, size - wh)
    return np.concatenate([xy, xy + wh], 1).astype(dtype)
