"""Sequences of different lengths in one batch (``torch.nn.utils.rnn``): padding and packing.

A batch of sequences of lengths ``L_1 ≥ L_2 ≥ … ≥ L_B`` is *packed* by listing, for every
time step ``t``, the step-``t`` elements of the sequences that are still running: the rows of
``data`` are step 0 of sequences ``1..B``, then step 1 of those longer than 1, and so on, with
``batch_sizes[t]`` rows for step ``t``. A recurrent layer then runs each step on exactly the
sequences that have it (``ember.nn.LSTM`` and friends accept a :class:`PackedSequence`), so
padding never enters the recurrence and each sequence's final state is taken after its own
last step.

``pack_padded_sequence`` / ``pad_packed_sequence`` convert between a padded batch ``(T, B, *)``
(``(B, T, *)`` with ``batch_first``) and the packed form; ``pad_sequence`` / ``unpad_sequence``
between a list of tensors and a padded batch; ``pack_sequence`` / ``unpack_sequence`` between
a list and the packed form. Every conversion is a gather of rows, so gradients flow through.
Unsorted batches (``enforce_sorted=False``) are sorted by decreasing length (stable: equal
lengths keep their order) and the permutation is kept in ``sorted_indices`` /
``unsorted_indices``, which the recurrent layers apply to the hidden states.
"""
from collections import namedtuple

import numpy as np

import ember
from ember._tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]


def invert_permutation(permutation):
    """The inverse of a permutation tensor (None stays None): ``out[permutation[i]] = i``."""
    if permutation is None:
        return None
    perm = permutation.numpy() if isinstance(permutation, Tensor) else np.asarray(permutation)
    inverse = np.empty_like(perm, dtype=np.int64)
    inverse[perm] = np.arange(perm.size, dtype=np.int64)
    return ember.from_numpy(inverse)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                                   "unsorted_indices"])):
    """A packed batch of sequences (see the module docstring): ``data (Σ batch_sizes, *)``,
    ``batch_sizes`` (int64, one entry per time step, non-increasing), and the permutation that
    sorted the batch by length (``sorted_indices``; ``unsorted_indices`` undoes it), both None
    when the batch came sorted. Build it with :func:`pack_padded_sequence` or
    :func:`pack_sequence`, not by hand; like torch, ``PackedSequence((data, batch_sizes))``
    also works."""
    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not isinstance(data, (list, tuple)) or len(data) != 2:
                raise TypeError("PackedSequence: expected (data, batch_sizes) or data and "
                                f"batch_sizes, got {type(data).__name__}")
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = ember.tensor(np.asarray(batch_sizes, dtype=np.int64))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """``data.to(...)``; the index tensors stay as they are (CPU only)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        return self.to(self.data.cuda(*args, **kwargs).device)

    def double(self):
        return self.to(dtype=ember.float64)

    def float(self):
        return self.to(dtype=ember.float32)

    def half(self):
        return self.to(dtype=ember.float16)

    def long(self):
        return self.to(dtype=ember.int64)

    def int(self):
        return self.to(dtype=ember.int32)

    def short(self):
        return self.to(dtype=ember.int16)

    def char(self):
        return self.to(dtype=ember.int8)

    def byte(self):
        return self.to(dtype=ember.uint8)

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def _lengths_array(lengths, batch, who):
    values = lengths.numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise ValueError(f"{who}: lengths must be a 1-D list or tensor of integers, got "
                         f"{lengths!r}")
    values = values.astype(np.int64)
    if values.size != batch:
        raise ValueError(f"{who}: Expected `len(lengths)` to be equal to batch_size, but got "
                         f"{values.size} (batch_size={batch})")
    return values


def _rows(tensor, who):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(tensor).__name__}")
    return tensor


def _batch_sizes(lengths):
    """``batch_sizes[t]`` = the number of sequences longer than ``t`` (lengths sorted
    decreasingly)."""
    steps = int(lengths[0]) if lengths.size else 0
    return (lengths[None, :] > np.arange(steps)[:, None]).sum(axis=1)


def _packed_positions(lengths, batch_sizes):
    """For every packed row, its time step and its position in the (sorted) batch."""
    steps = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    members = np.arange(steps.size) - np.repeat(offsets, batch_sizes)
    return steps, members


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of
    the given ``lengths`` into a :class:`PackedSequence`.

    ``enforce_sorted=True`` requires ``lengths`` in decreasing order; ``False`` sorts the batch
    (stably) and records the permutation. Every length must lie in ``[1, T]``.
    """
    who = "pack_padded_sequence"
    _rows(input, who)
    if input.dim() < 2:
        raise ValueError(f"{who}: expected a padded batch (T, B, *) or (B, T, *), got shape "
                         f"{tuple(input.shape)}")
    batch_dim = 0 if batch_first else 1
    time_dim = 1 - batch_dim
    lengths = _lengths_array(lengths, input.shape[batch_dim], who)
    if np.any(lengths <= 0):
        raise RuntimeError(f"{who}: Length of all samples has to be greater than 0, but found an "
                           f"element in 'lengths' that is <= 0 (lengths {lengths.tolist()})")
    if np.any(lengths > input.shape[time_dim]):
        raise RuntimeError(f"{who}: lengths {lengths.tolist()} exceed the {input.shape[time_dim]} "
                           f"time steps of the input (shape {tuple(input.shape)}, "
                           f"batch_first={batch_first})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"{who}: `lengths` array must be sorted in decreasing order when "
                               f"`enforce_sorted` is True (got {lengths.tolist()}). You can pass "
                               f"`enforce_sorted=False` to pack_padded_sequence and/or "
                               f"pack_sequence to sidestep this requirement if you do not need "
                               f"ONNX exportability.")
        order = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
    batch_sizes = _batch_sizes(lengths)
    steps, members = _packed_positions(lengths, batch_sizes)
    batch_index = members if order is None else order[members]
    # row of the padded batch flattened over (time, batch) or (batch, time)
    if batch_first:
        flat = batch_index * input.shape[1] + steps
    else:
        flat = steps * input.shape[1] + batch_index
    data = input.reshape(-1, *input.shape[2:]).index_select(0, ember.from_numpy(flat))
    sorted_indices = None if order is None else ember.from_numpy(order.astype(np.int64))
    return PackedSequence(data, ember.from_numpy(batch_sizes.astype(np.int64)), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of :func:`pack_padded_sequence`: ``(padded, lengths)``, the padded batch
    ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) in the batch's original order, filled
    with ``padding_value`` after each sequence's end, and the int64 ``lengths``.
    ``total_length`` pads to that many steps (at least the longest sequence)."""
    who = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{who}: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    batch_sizes = sequence.batch_sizes.numpy().astype(np.int64)
    steps_total = batch_sizes.size
    if total_length is not None:
        if total_length < steps_total:
            raise ValueError(f"{who}: Expected total_length to be at least the length of the "
                             f"longest sequence in input, but got total_length={total_length} "
                             f"and max sequence length being {steps_total}")
        steps_total = total_length
    batch = int(batch_sizes[0])
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)   # sorted order
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    unsorted = (np.arange(batch) if sequence.unsorted_indices is None
                else sequence.unsorted_indices.numpy())
    # every padded position (t, b) reads packed row offsets[t] + rank(b), or the padding row
    rank = unsorted[None, :]
    time = np.arange(steps_total)[:, None]
    inside = time < lengths[rank]
    rows = np.where(inside, offsets[np.minimum(time, batch_sizes.size - 1)] + rank,
                    data.shape[0])
    if batch_first:
        rows = rows.T
    pad = ember.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    padded = ember.cat([data, pad]).index_select(0, ember.from_numpy(rows.reshape(-1)))
    padded = padded.reshape(*rows.shape, *data.shape[1:])
    return padded, ember.from_numpy(lengths[unsorted].astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors ``(L_i, *)`` into one padded batch ``(max L, B, *)`` (``(B, max L, *)``
    with ``batch_first``), filling with ``padding_value`` on the ``padding_side``
    (``'right'``, after each sequence, or ``'left'``, before it)."""
    who = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise ValueError(f"{who}: Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = [_rows(s, who) for s in sequences]
    if not sequences:
        raise RuntimeError(f"{who}: received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.dim() < 1 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"{who}: every sequence must be (L, *{trailing}); sequence {i} has "
                               f"shape {tuple(s.shape)}")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    longest = int(lengths.max())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    time = np.arange(longest)[None, :]
    shift = (longest - lengths)[:, None] if padding_side == "left" else 0
    position = time - shift                                   # step of each sequence, (B, T)
    inside = (position >= 0) & (position < lengths[:, None])
    rows = np.where(inside, starts[:, None] + position, lengths.sum())
    if not batch_first:
        rows = rows.T
    dtype = sequences[0].dtype
    pad = ember.full((1, *trailing), padding_value, dtype=dtype)
    stacked = ember.cat([s.to(dtype) for s in sequences] + [pad])
    return stacked.index_select(0, ember.from_numpy(rows.reshape(-1))).reshape(
        *rows.shape, *trailing)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The inverse of :func:`pad_sequence` (right padding): the list of ``(L_i, *)`` tensors."""
    who = "unpad_sequence"
    _rows(padded_sequences, who)
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths = _lengths_array(lengths, padded_sequences.shape[0], who)
    return [seq[:int(length)] for seq, length in zip(padded_sequences.unbind(0), lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors ``(L_i, *)`` (decreasing lengths unless
    ``enforce_sorted=False``): ``pack_padded_sequence(pad_sequence(sequences), lengths)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The inverse of :func:`pack_sequence`: the list of ``(L_i, *)`` tensors in their
    original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
