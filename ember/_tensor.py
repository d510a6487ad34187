"""``ember.Tensor``: a NumPy array plus what autograd needs.

A tensor holds its values in ``_data`` (an ``np.ndarray``), and, when it takes part in
differentiation, ``requires_grad``, the node that produced it (``grad_fn``; ``None`` for a
leaf) and the gradient accumulated by ``backward`` (``grad``). Views (slices, reshapes,
transposes) share memory and a version counter with their base, so an in-place change that
would make a saved value stale is detected at backward time.

The operators and most methods are ops defined in ``ember/ops`` (forward beside backward);
``ember/_tensor_methods.py`` lists every one of them in an explicit table and binds it to the
class (search it for a method's name to find the function behind it). How in-place ops and
views keep gradients right is ``ember/autograd/inplace.py``.
"""
import warnings

import numpy as np

from ember import _dtype


class _VersionCounter:
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def _infer_array(data, dtype=None):
    """Turn Python data / arrays / tensors into an ndarray with torch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        arr = np.array([_infer_array(x) for x in data])
    else:
        try:
            arr = np.array(data)
        except ValueError as e:
            raise ValueError(f"tensor: cannot build a tensor from ragged or mixed data ({e})") from None
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"tensor: cannot build a tensor from data of type "
                            f"{type(data).__name__} (got NumPy dtype {arr.dtype})")
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(_dtype.get_default_dtype().np, copy=False)
        elif arr.dtype.kind in "iu" and dtype is None and not isinstance(data, np.generic):
            arr = arr.astype(np.int64, copy=False)
        elif arr.size == 0 and dtype is None and arr.dtype.kind == "f":
            arr = arr.astype(_dtype.get_default_dtype().np)
    if dtype is not None:
        arr = arr.astype(_dtype.to_numpy(dtype), copy=False)
    else:
        _dtype.from_numpy(arr.dtype)
    return arr


def _flat(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def as_tensor_arg(x):
    """Convert a non-Tensor operand (Python number, list, ndarray) for ``Function.apply``."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, np.bool_)):
        return Tensor._wrap(np.asarray(x, dtype=np.bool_))
    if isinstance(x, (int, np.integer)) and not isinstance(x, np.generic):
        return Tensor._wrap(np.asarray(x, dtype=np.int64))
    if isinstance(x, float):
        return Tensor._wrap(np.asarray(x, dtype=_dtype.get_default_dtype().np))
    return Tensor._wrap(_infer_array(x))


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data)`` builds a float32 tensor from data (like ``torch.Tensor``);
    ``Tensor(2, 3)`` an uninitialised one of that shape. Prefer ``ember.tensor``.
    """
    __slots__ = ("_data", "_requires_grad", "_grad", "grad_fn", "_output_nr", "_vc", "_base",
                 "_base_fn", "_view_fn", "_hooks", "_accum", "_retains_grad", "__weakref__",
                 "__dict__")
    __array_priority__ = 1000

    def __init__(self, *args, requires_grad=False):
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = _infer_array(args[0], None)
            if data.dtype.kind != "f" or isinstance(args[0], (list, tuple)):
                data = data.astype(np.float32)
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
            data = np.empty(tuple(int(s) for s in shape), dtype=np.float32)
        Tensor._init(self, data)
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, data):
        self._data = data
        self._requires_grad = False
        self._grad = None
        self.grad_fn = None
        self._output_nr = None
        self._vc = _VersionCounter()
        self._base = None
        self._base_fn = None
        self._view_fn = None
        self._hooks = None
        self._accum = None
        self._retains_grad = False

    @classmethod
    def _wrap(cls, data):
        """Wrap an ndarray without copying (internal fast path)."""
        t = object.__new__(cls)
        t._data = data
        t._requires_grad = False
        t._grad = None
        t.grad_fn = None
        t._output_nr = None
        t._vc = _VersionCounter()
        t._base = None
        t._base_fn = None
        t._view_fn = None
        t._hooks = None
        t._accum = None
        t._retains_grad = False
        return t

    # ------------------------------------------------------------------ properties
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[self._wrap_dim(dim, "size")]

    @property
    def dtype(self):
        return _dtype.from_numpy(self._data.dtype)

    @property
    def device(self):
        return device("cpu")

    @property
    def is_cpu(self):
        return True

    # Device and layout predicates of torch's Tensor: Ember's tensors are dense, strided,
    # unquantized and on the CPU, so code that branches on them takes its CPU path.
    is_cuda = is_xpu = is_mps = is_meta = is_mkldnn = is_vulkan = is_ipu = is_xla = \
        is_maia = is_mtia = is_quantized = is_sparse = is_sparse_csr = is_nested = \
        property(lambda self: False)

    def is_complex(self):
        return False

    def is_conj(self):
        return False

    def is_neg(self):
        return False

    def is_pinned(self):
        return False

    def share_memory_(self):
        """Move the values into memory shared with child processes, in place (see
        :mod:`ember.multiprocessing`); a no-op if they are there already."""
        from ember.multiprocessing.shared_memory import share
        return share(self)

    def is_shared(self):
        """Whether the values are in memory shared between processes."""
        from ember.multiprocessing.shared_memory import block_of
        return block_of(self._data) is not None

    def is_signed(self):
        """True for floating point and signed integer dtypes (not ``uint8``, not ``bool``)."""
        return self._data.dtype.kind in "fi"

    def is_nonzero(self):
        """The truth of a one-element tensor (``RuntimeError`` for any other number)."""
        if self._data.size != 1:
            amount = "no values" if self._data.size == 0 else "more than one value"
            raise RuntimeError(f"is_nonzero: Boolean value of Tensor with {amount} is ambiguous")
        return bool(self._data.reshape(()))

    def is_same_size(self, other):
        return self._data.shape == other._data.shape

    def is_set_to(self, tensor):
        """True when both tensors view the same memory with the same shape and strides."""
        a, b = self._data, tensor._data
        return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
                and a.shape == b.shape and a.strides == b.strides)

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def ndimension(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[self._wrap_dim(dim, "stride")]

    def data_ptr(self):
        return self._data.__array_interface__["data"][0]

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_: you can only change requires_grad flags of leaf "
                               "variables. Use .detach() to get a tensor that does not require grad.")
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"requires_grad_: only tensors of floating point dtype can require "
                               f"gradients, got {self.dtype}")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        """The gradient accumulated by ``backward`` (None until then). Reading it on a
        non-leaf tensor that does not ``retain_grad()`` warns, as torch does: backward never
        fills it (the usual cause of "my .grad is None")."""
        if self._grad is None and self.grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed "
                "want the .grad field to be populated for a non-leaf Tensor, use .retain_grad() "
                "on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure "
                "you access the leaf Tensor instead.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value

    @property
    def _version(self):
        return self._vc.value

    def _bump_version(self):
        self._vc.value += 1

    @property
    def data(self):
        """A tensor sharing storage, detached from the graph (torch's ``.data``)."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def retains_grad(self):
        return self._retains_grad

    # ------------------------------------------------------------------ autograd
    def _edge(self):
        """The graph node a gradient for this tensor flows into."""
        if self.grad_fn is not None:
            return self.grad_fn
        if self._accum is None:
            from ember.autograd.function import AccumulateGrad
            self._accum = AccumulateGrad(self)
        return self._accum

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf of the graph.

        ``gradient`` is required unless ``self`` has one element (it is the vector in the
        vector-Jacobian product). The graph's saved values are freed unless ``retain_graph``.

        Lecture 003's toy ``f(x) = (-x + 3)^2``, whose derivative is ``2 (x - 3)``:

        >>> x = ember.tensor([1.0, 5.0], requires_grad=True)
        >>> ((-x + 3) ** 2).sum().backward()
        >>> x.grad
        tensor([-4.,  4.])
        """
        from ember.autograd import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when the gradient for this tensor is computed; it may return a
        replacement gradient. Returns a handle with ``remove()``."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't "
                               "require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_prehook(hook, self._output_nr)
        from ember.autograd.function import RemovableHandle, _hook_ids
        if self._hooks is None:
            self._hooks = {}
        key = next(_hook_ids)
        self._hooks[key] = hook
        return RemovableHandle(self._hooks, key)

    def retain_grad(self):
        """Keep ``.grad`` for a non-leaf tensor after backward."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        ref = self

        def store(grad):
            if ref.grad is None:
                ref.grad = Tensor._wrap(np.array(grad._data, copy=True))
            else:
                ref.grad._data = ref.grad._data + grad._data
        self.grad_fn.register_prehook(store, self._output_nr)

    def detach(self):
        """A tensor sharing storage and version counter, with no history."""
        t = Tensor._wrap(self._data)
        t._vc = self._vc
        return t

    def detach_(self):
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("detach_: can't detach a view in place; use detach()")
        self.grad_fn = None
        self._output_nr = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        """The underlying ndarray (shares memory, like torch)."""
        if self._requires_grad and not force:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self._data
        if dtype is not None:
            return arr.astype(dtype, copy=bool(copy))
        return arr.copy() if copy else arr

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"item: a Tensor with {self._data.size} elements cannot be "
                               f"converted to a Python scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"bool: Boolean value of a Tensor with {self._data.size} values is "
                               f"ambiguous")
        return bool(self._data.reshape(()))

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (np.array(self._data), self._requires_grad))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("deepcopy: only tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol")
        new = type(self).__new__(type(self))
        Tensor._init(new, self._data.copy())
        new._requires_grad = self._requires_grad
        if self.grad is not None:
            new.grad = Tensor._wrap(self.grad._data.copy())
        for k, v in getattr(self, "__dict__", {}).items():
            new.__dict__[k] = v
        memo[id(self)] = new
        return new

    def _wrap_dim(self, dim, op, ndim=None):
        n = self._data.ndim if ndim is None else ndim
        lo, hi = (-n, n - 1) if n > 0 else (-1, 0)
        if not isinstance(dim, (int, np.integer)) or not lo <= dim <= hi:
            raise IndexError(f"{op}: dimension out of range (expected to be in range of "
                             f"[{lo}, {hi}], but got {dim})")
        return int(dim) % n if n > 0 else 0

    def __repr__(self):
        from ember._printing import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, format_spec):
        """``f"{loss:.4f}"`` formats a 0-d tensor's value, as torch does; other tensors (and
        Parameters) accept only the empty spec (their repr)."""
        if self._data.ndim == 0 and type(self) is Tensor:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)


def _rebuild(arr, requires_grad):
    t = Tensor._wrap(arr)
    t._requires_grad = requires_grad
    return t


class Size(tuple):
    """The shape of a tensor: a tuple with ``numel()`` (torch.Size)."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"ember.Size([{', '.join(str(s) for s in self)}])"

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r


class device:
    """Ember runs on the CPU; ``device('cpu')`` exists so torch-style code runs unchanged."""

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type = type.type
        if str(type).split(":")[0] != "cpu":
            raise RuntimeError(f"device: Ember runs on the CPU only; got device {type!r}")
        self.type = "cpu"
        self.index = None

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self):
        return hash("cpu")


def _bind_autograd():
    from ember.autograd import function
    function.Tensor = Tensor
    function.as_tensor_arg = as_tensor_arg


_bind_autograd()
