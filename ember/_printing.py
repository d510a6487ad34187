"""``repr`` of tensors in torch's layout: ``tensor([[1., 2.], [3., 4.]], requires_grad=True)``.

The rules are torch's (``torch/_tensor_str.py``) so that printed values read the same:
one formatter per tensor chosen from its non-zero finite values (integers print as ``1.``,
fixed point with 4 decimals, or scientific notation when the largest/smallest magnitude ratio
exceeds 1000, the largest exceeds 1e8 or the smallest is below 1e-4), every element padded
to a common width, lines wrapped at 80 columns, and tensors of more than 1000 elements
summarised with 3 edge items and ``...``. Ember prints ``ember.float64`` where torch prints
``torch.float64``, and node names without torch's version suffix (``MulBackward``).
"""
import math

import numpy as np

from ember import _dtype

_PRECISION = 4
_THRESHOLD = 1000
_EDGEITEMS = 3
_LINEWIDTH = 80


class _Formatter:
    """Chooses the notation and the common width of all elements of one tensor."""

    def __init__(self, arr):
        self.floating = arr.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = arr.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if vals.size == 0:
            return
        mags = np.abs(vals)
        lo, hi = mags.min(), mags.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        if self.sci_mode:
            strs = [f"{v:.{_PRECISION}e}" for v in vals.tolist()]
        elif self.int_mode:
            strs = [f"{v:.0f}." for v in vals.tolist()]
        else:
            strs = [f"{v:.{_PRECISION}f}" for v in vals.tolist()]
        self.width = max(self.width, max(len(s) for s in strs))

    def format(self, v):
        if not self.floating:
            s = str(v)
        elif self.sci_mode:
            s = f"{v:{self.width}.{_PRECISION}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{_PRECISION}f}"
        return " " * (self.width - len(s)) + s


def _summarized(arr):
    """The edge items torch's formatter looks at when a big tensor is summarised."""
    if arr.ndim == 0:
        return arr
    idx = [np.r_[0:_EDGEITEMS, s - _EDGEITEMS:s] if s > 2 * _EDGEITEMS else np.arange(s)
           for s in arr.shape]
    return arr[np.ix_(*idx)]


def _vector_str(arr, indent, summarize, fmt):
    per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
    if summarize and arr.shape[0] > 2 * _EDGEITEMS:
        data = ([fmt.format(v) for v in arr[:_EDGEITEMS].tolist()] + [" ..."]
                + [fmt.format(v) for v in arr[-_EDGEITEMS:].tolist()])
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector_str(arr, indent, summarize, fmt)
    n = arr.shape[0]
    if summarize and n > 2 * _EDGEITEMS:
        rows = ([_tensor_str(arr[i], indent + 1, summarize, fmt) for i in range(_EDGEITEMS)]
                + ["..."]
                + [_tensor_str(arr[i], indent + 1, summarize, fmt) for i in range(n - _EDGEITEMS, n)])
    else:
        rows = [_tensor_str(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t, prefix="tensor("):
    """torch's ``repr`` of ``t``; continuation lines are indented by ``len(prefix)``."""
    arr = t._data
    indent = len(prefix)
    d = _dtype.from_numpy(arr.dtype)
    suffixes = []
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if d is not _dtype.get_default_dtype():
            suffixes.append(f"dtype={d!r}")
    else:
        summarize = arr.size > _THRESHOLD
        fmt = _Formatter(_summarized(arr) if summarize else arr)
        body = _tensor_str(arr, indent, summarize, fmt)
        if d not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool_):
            suffixes.append(f"dtype={d!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
