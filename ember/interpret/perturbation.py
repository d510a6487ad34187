"""Occlusion (lecture 003 「显著性可视化」: "盖住图像的某一个部分，再预测类别", P(elephant) = 0.95
with one patch covered, 0.75 with another; inventory G6; Zeiler & Fergus 2014).

A window of ``baseline`` values slides over the image; at each position the drop of the target
score, ``S_c(x) - S_c(x with the window covered)``, is credited to every pixel under the window,
and each pixel's credit is averaged over the windows that covered it. Equal to Captum 0.9's
``Occlusion`` with a window spanning all channels. No gradient is involved: the method also
works for models whose gradient says little (saturated or piecewise-constant scores).
"""
import math

import numpy as np

import ember
from ember.interpret.gradients import target_indices
from ember.interpret.hooks import as_batch, run_model

__all__ = ["occlusion", "window_positions"]


def _pair(value, name, caller):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{caller}: {name} must be a positive int or a pair of them, got "
                         f"{value!r}")
    return int(pair[0]), int(pair[1])


def window_positions(size, window, stride):
    """The top-left corners ``0, s, 2s, ...`` of the windows along one axis of ``size``
    pixels: ``ceil((size - window) / stride) + 1`` of them, the last one clipped at the
    border so that every pixel is covered."""
    return [i * stride for i in range(math.ceil((size - window) / stride) + 1)]


def occlusion(model, inputs, target=None, window=8, stride=4, baseline=0.0, batch_size=64):
    """Occlusion attributions ``(N, C, H, W)`` (equal over the channels).

    Args:
        inputs: images ``(N, C, H, W)``.
        window: the occluder's height and width (an int or a pair), across all channels.
        stride: its step (an int or a pair, at most the window's size).
        baseline: what covers the window: a number, or an array broadcasting to the inputs
            (e.g. the mean image).
        batch_size: occluded images per forward pass.
    """
    caller = "occlusion"
    x = as_batch(inputs, caller, ndim=4)
    n, _, height, width = x.shape
    win, step = _pair(window, "window", caller), _pair(stride, "stride", caller)
    if win[0] > height or win[1] > width:
        raise ValueError(f"{caller}: window {win} is larger than the images ({height}x{width})")
    if step[0] > win[0] or step[1] > win[1]:
        raise ValueError(f"{caller}: stride {step} is larger than the window {win}; some "
                         f"pixels would never be covered")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(baseline, ember.Tensor):
        baseline = baseline.numpy()
    try:
        cover = np.broadcast_to(np.asarray(baseline, dtype=x.dtype), x.shape)
    except ValueError:
        raise ValueError(f"{caller}: baseline of shape {np.shape(baseline)} does not broadcast "
                         f"to the inputs' shape {x.shape}") from None
    corners = [(top, left) for top in window_positions(height, win[0], step[0])
               for left in window_positions(width, win[1], step[1])]

    def scores_of(batch):
        with ember.no_grad():
            scores = run_model(model, ember.from_numpy(batch), caller).numpy()
        if scores.ndim != 2:
            raise ValueError(f"{caller}: the model must return class scores (N, classes), got "
                             f"shape {scores.shape}")
        return scores

    scores = scores_of(x)
    targets = (scores.argmax(axis=1) if target is None
               else target_indices(target, n, scores.shape[1], caller))
    clean = scores[np.arange(n), targets]
    total = np.zeros((n, height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    per_pass = max(1, batch_size // n)
    for start in range(0, len(corners), per_pass):
        chunk = corners[start:start + per_pass]
        batch = np.repeat(x[None], len(chunk), axis=0)          # (positions, N, C, H, W)
        for k, (top, left) in enumerate(chunk):
            rows, cols = slice(top, top + win[0]), slice(left, left + win[1])
            batch[k, :, :, rows, cols] = cover[:, :, rows, cols]
        occluded = scores_of(batch.reshape((-1,) + x.shape[1:])).reshape(len(chunk), n, -1)
        drops = clean[None] - np.take_along_axis(occluded, targets[None, :, None], axis=2)[..., 0]
        for k, (top, left) in enumerate(chunk):
            rows, cols = slice(top, top + win[0]), slice(left, left + win[1])
            total[:, rows, cols] += drops[k][:, None, None]
            count[rows, cols] += 1
    heat = (total / count).astype(x.dtype)
    return ember.from_numpy(np.ascontiguousarray(np.broadcast_to(heat[:, None], x.shape)))
