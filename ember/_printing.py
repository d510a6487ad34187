"""``repr`` of tensors in torch's layout: ``tensor([[1., 2.], [3., 4.]], requires_grad=True)``."""
import numpy as np

from ember import _dtype

_PRECISION = 4
_THRESHOLD = 1000
_EDGEITEMS = 3


def _float_formatter(arr):
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return lambda x: _special(x) or f"{x:.{_PRECISION}f}"
    absf = np.abs(finite.astype(np.float64))
    if np.all(finite == np.round(finite)):
        if absf.max() >= 1e8:
            fmt = lambda x: f"{x:.{_PRECISION}e}"
        else:
            fmt = lambda x: f"{x:.0f}."
    else:
        nz = absf[absf > 0]
        big, small = absf.max(), (nz.min() if nz.size else 1.0)
        if big / small > 1000.0 or big > 1e8 or small < 1e-4:
            fmt = lambda x: f"{x:.{_PRECISION}e}"
        else:
            fmt = lambda x: f"{x:.{_PRECISION}f}"
    return lambda x: _special(x) or fmt(x)


def _special(x):
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return None


def tensor_repr(t, prefix="tensor("):
    arr = t._data
    summarize = arr.size > _THRESHOLD
    if arr.dtype.kind == "f":
        sample = _summary_values(arr) if summarize else arr.ravel()
        fmt = _float_formatter(sample)
        width = max((len(fmt(x)) for x in sample), default=0)
        formatter = {"float_kind": lambda x: fmt(x).rjust(width)}
    elif arr.dtype.kind == "b":
        formatter = {"bool": lambda x: "True" if x else "False"}
        width = 5 if arr.any() is False or not arr.all() else 4
        formatter = {"bool": lambda x: ("True" if x else "False").rjust(width)}
    else:
        sample = _summary_values(arr) if summarize else arr.ravel()
        width = max((len(str(x)) for x in sample), default=0)
        formatter = {"int": lambda x: str(x).rjust(width)}
    if arr.size == 0:
        body = "[]"
    else:
        body = np.array2string(arr, separator=", ", prefix=prefix, formatter=formatter,
                               threshold=_THRESHOLD, edgeitems=_EDGEITEMS, max_line_width=80)
    extras = []
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")
    d = _dtype.from_numpy(arr.dtype)
    if d not in (_dtype.get_default_dtype(), _dtype.int64, _dtype.bool_) or (
            arr.size == 0 and d is not _dtype.get_default_dtype()):
        extras.append(f"dtype={d!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"


def _summary_values(arr):
    if arr.ndim == 0:
        return arr.ravel()
    idx = tuple(np.r_[0:min(_EDGEITEMS, s), max(s - _EDGEITEMS, 0):s] for s in arr.shape)
    return arr[np.ix_(*idx)].ravel()
