"""``default_collate``: turn a list of samples into one batch, as torch's does.

The structure of a sample is kept and every leaf is stacked along a new first dimension:

- Tensors -> ``ember.stack`` (shape ``(B, *sample_shape)``);
- NumPy arrays -> stacked into a Tensor; NumPy scalars -> a 1-D Tensor of their dtype;
- Python floats -> float64 Tensor, ints -> int64 Tensor, bools -> bool Tensor;
- strings / bytes -> the list itself;
- dicts -> a dict of collated values; namedtuples -> the same namedtuple;
  tuples -> a *list* of collated fields (as torch); other sequences -> same type if possible.

So ``[(image_i, label_i)]_i`` becomes ``[images (B, C, H, W), labels (B,)]``.
"""
import collections.abc
import copy

import numpy as np

import ember
from ember import Tensor

_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
          "found {}")


def _is_text_or_object(array):
    return array.dtype.kind in "USO"


def _collate_tensors(batch):
    shape = batch[0].shape
    for i, t in enumerate(batch):
        if t.shape != shape:
            raise RuntimeError(f"default_collate: expected samples of equal shape, got "
                               f"{tuple(shape)} at entry 0 and {tuple(t.shape)} at entry {i}")
    if any(t.requires_grad for t in batch):
        return ember.stack(batch, 0)
    return ember.from_numpy(np.stack([t.numpy() for t in batch]))


def default_collate(batch):
    """Collate a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _collate_tensors(batch)
    if isinstance(elem, np.ndarray):
        if _is_text_or_object(elem):
            raise TypeError(_ERROR.format(elem.dtype))
        return _collate_tensors([ember.as_tensor(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number)):
        return ember.as_tensor(np.array(batch))
    if isinstance(elem, float):
        return ember.tensor(batch, dtype=ember.float64)
    if isinstance(elem, int):                        # bool is an int: gives a bool tensor
        return ember.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(collated)
                return clone
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):          # namedtuple
        return type(elem)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(field) for field in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data):
    """What ``DataLoader(batch_size=None)`` applies to each sample: NumPy arrays and scalars
    become Tensors, containers are converted recursively (tuples become lists), the rest is
    returned unchanged."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _is_text_or_object(data) else ember.as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return ember.as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    return data
