"""Packed sequences, as PyTorch's ``nn.utils.rnn``: :class:`PackedSequence` and
``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence``,
``unpack_sequence``, ``unpad_sequence`` (all reachable as ``tm.nn.utils.rnn.*``).

A packed batch holds only the real steps of sequences of different lengths, time-major
with the sequences sorted longest first: ``data`` is step 0 of every sequence, then
step 1 of those at least 2 long, ...; ``batch_sizes[t]`` (an int64 CPU tensor) counts
the sequences at step ``t``. ``sorted_indices`` maps that order to the batch's own
(None when the batch came sorted), ``unsorted_indices`` back.

The lengths live on the host, so where each row goes is known before anything runs:
packing and padding are each one row gather (:func:`tvmini.graph.rnn_ops.take_rows`,
with the sorting folded into the row numbers where the lengths are sorted here), whose
gradient is the opposite gather. The recurrent layers take a packed batch (see
``nn/rnn.py``) and run their fused recurrence on it padded, each sequence's state
frozen past its own end.
"""
from typing import NamedTuple, Optional

import numpy as np

from ..errors import DeviceError, DTypeError, ShapeError
from ..graph import dispatch, join_ops, ops
from ..graph.index_ops import take
from ..graph.rnn_ops import take_rows
from ..graph.tensor import Tensor, tensor


class PackedSequence(NamedTuple):
    """A packed batch of variable-length sequences (see the module docstring): made by
    :func:`pack_padded_sequence` or :func:`pack_sequence`, not by hand."""
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor] = None
    unsorted_indices: Optional[Tensor] = None

    def to(self, *args, **kwargs):
        """The same packed batch with ``data`` moved/converted by ``Tensor.to`` (and the
        indices moved with it); ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, *[None if t is None else t.to(data.device)
                                                    for t in (self.sorted_indices, self.unsorted_indices)])

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    @property
    def is_cuda(self):
        return self.data.device.kind == "cuda"


def _host_ints(op, name, value):
    """The integer values of ``value`` (a tensor on the CPU, a list or an array) as an
    int64 numpy array, read on the host; in a ``tm.jit`` trace an argument's values
    guard the step (another set of lengths traces another step)."""
    if isinstance(value, Tensor):
        if value.device.kind != "cpu":
            raise DeviceError(f"{op}: '{name}' argument should be a 1D CPU int64 tensor, but got {value.ndim}D "
                              f"{value.device} {value.dtype} tensor")
        read = dispatch.host_check(value, lambda a: tuple(a._storage.host_view().ravel().tolist()), chooses_path=True)
        values = np.asarray(read if read is not None else value._data._storage.host_view()).reshape(value.shape)
    else:
        values = np.asarray(value)
    if values.dtype == object or values.dtype.kind not in "biuf":
        raise DTypeError(f"{op}: '{name}' must hold numbers, got {values.dtype}")
    if values.ndim != 1:
        raise ShapeError(f"{op}: '{name}' argument should be a 1D CPU int64 tensor, but got {values.ndim}D")
    return values.astype(np.int64)          # as PyTorch's .to(int64): floats truncated


def _exceeding(values):
    """For each ``k`` below ``values[0]`` (the largest), how many ``values`` exceed it:
    the ``batch_sizes`` of lengths sorted longest first, and back again the lengths of
    batch sizes."""
    return (values[None, :] > np.arange(values[0])[:, None]).sum(1)


def _lengths(op, sequence):
    """(batch sizes, each sorted sequence's length) of the PackedSequence ``sequence``."""
    if not isinstance(sequence, PackedSequence):
        raise DTypeError(f"{op}: expects a PackedSequence, got {type(sequence).__name__}")
    sizes = _host_ints(op, "batch_sizes", sequence.batch_sizes)
    if not sizes.size or sizes[-1] <= 0 or (np.diff(sizes) > 0).any() or sizes.sum() != sequence.data.shape[0]:
        raise ShapeError(f"{op}: batch_sizes {sizes.tolist()} do not describe a packed batch of "
                         f"{sequence.data.shape[0]} rows (positive, non-increasing, summing to the rows of data)")
    return sizes, _exceeding(sizes)


def _padding_rows(sizes, lengths, T, batch_first=False):
    """(source, inverse) of the row gather from a packed batch (``batch_sizes`` ``sizes``,
    sorted lengths ``lengths``) to its padded (T, B) rows — (B, T) with ``batch_first``
    — in sorted order: ``source`` the packed row of each padded row (the packed row count
    N where the step is padding), ``inverse`` the padded row of each packed row."""
    n = int(sizes.sum())
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    t, k = (np.arange(T)[None, :], np.arange(len(lengths))[:, None]) if batch_first else \
        (np.arange(T)[:, None], np.arange(len(lengths))[None, :])
    source = np.where(t < lengths[k], offsets[np.minimum(t, len(sizes) - 1)] + k, n).ravel()
    inverse = np.empty(n, dtype=np.int64)
    inverse[source[source < n]] = np.flatnonzero(source < n)
    return source, inverse


def padded(op, sequence):
    """For the recurrent layers: (the packed batch's rows padded to (T * B, F) rows in
    sorted order, time-major; its sorted lengths; a function packing such rows back)."""
    sizes, lengths = _lengths(op, sequence)
    source, inverse = _padding_rows(sizes, lengths, len(sizes))
    return take_rows(_as_rows(sequence.data), source, inverse), lengths, \
        lambda rows: take_rows(rows, inverse, source)


def _as_rows(x, lead=1):
    """``x`` as (rows, features) for the row gathers: its ``lead`` first axes are the
    rows ((N, *) -> (N, prod(*)); a padded (T, B, *) batch: ``lead`` 2)."""
    rows = int(np.prod(x.shape[:lead]))
    return ops.reshape(x, (rows, int(np.prod(x.shape[lead:]))))


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack the padded batch ``input`` (T, B, *) — (B, T, *) with ``batch_first`` — whose
    sequence ``b`` is ``lengths[b]`` steps long (a list or a 1-D CPU tensor). With
    ``enforce_sorted`` the lengths must be sorted longest first; otherwise they are
    sorted here (stably) and the order is kept in ``sorted_indices``."""
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor) or input.ndim < 2:
        raise ShapeError(f"{op}: input must be a tensor of at least 2 dimensions (T, B, *), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    lengths = _host_ints(op, "lengths", lengths)
    B, T = (input.shape[0], input.shape[1]) if batch_first else (input.shape[1], input.shape[0])
    if lengths.size != B:
        raise ShapeError(f"{op}: Expected `len(lengths)` to be equal to batch_size, but got {lengths.size} "
                         f"(batch_size={B})")
    if (lengths <= 0).any():
        raise ShapeError(f"{op}: Length of all samples has to be greater than 0, but found an element in "
                         f"'lengths' that is <= 0 (lengths {lengths.tolist()})")
    if lengths.max() > T:
        raise ShapeError(f"{op}: lengths {lengths.tolist()} exceed the {T} steps of the input of shape {input.shape}")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise ShapeError(f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                             "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                             f"pack_sequence to sidestep this requirement (lengths {lengths.tolist()})")
        order = np.arange(B)
    else:
        order = np.argsort(-lengths, kind="stable")
    sizes = _exceeding(lengths[order])
    # packed row of (t, k): offsets[t] + k, read from input row (t, order[k])
    steps = np.repeat(np.arange(len(sizes)), sizes)
    ranks = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    batch = order[ranks]
    source = batch * T + steps if batch_first else steps * B + batch
    inverse = np.full(T * B, source.size)
    inverse[source] = np.arange(source.size)
    rows = take_rows(_as_rows(input, 2), source, inverse)
    data = ops.reshape(rows, (source.size,) + tuple(input.shape[2:]))
    indices = (None, None)
    if not enforce_sorted:
        indices = tuple(tensor(a, dtype="int64", device=input.device) for a in (order, np.argsort(order)))
    return PackedSequence(data, tensor(sizes, dtype="int64"), *indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded batch (T, B, *) — (B, T, *) with ``batch_first`` — of the packed
    ``sequence``, in its original batch order, and each sequence's length (int64, CPU).
    T is the longest length, or ``total_length`` (not less than it); missing steps
    hold ``padding_value``."""
    op = "pad_packed_sequence"
    sizes, lengths = _lengths(op, sequence)
    T = len(sizes)
    if total_length is not None:
        if total_length < T:
            raise ShapeError(f"{op}: Expected total_length to be at least the length of the longest sequence in "
                             f"input, but got total_length={total_length} and max sequence length being {T}")
        T = int(total_length)
    data = sequence.data
    source, inverse = _padding_rows(sizes, lengths, T, batch_first)
    rows = take_rows(_as_rows(data), source, inverse, padding_value)
    B = int(sizes[0])
    padded = ops.reshape(rows, ((B, T) if batch_first else (T, B)) + tuple(data.shape[1:]))
    if sequence.unsorted_indices is not None:
        padded = take(padded, sequence.unsorted_indices, 0 if batch_first else 1)
        lengths = lengths[_host_ints(op, "unsorted_indices", sequence.unsorted_indices.to("cpu"))]
    return padded, tensor(lengths, dtype="int64")


def pack_sequence(sequences, enforce_sorted=True):
    """Pack the tensors ``sequences`` (each (L_i, *), one trailing shape): the rows of
    all of them joined, then gathered into packed order (one ``cat`` and one gather)."""
    op = "pack_sequence"
    sequences = list(sequences)
    if not sequences or not all(isinstance(s, Tensor) and s.ndim >= 1 for s in sequences):
        raise ShapeError(f"{op}: needs a non-empty list of tensors of at least 1 dimension, got "
                         f"{[getattr(s, 'shape', type(s).__name__) for s in sequences]}")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    T = int(lengths.max())
    joined = join_ops.cat(sequences, 0)
    # the joined rows padded to T per sequence: sequence b's step t at b * T + t
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    t = np.arange(T)[None, :]
    source = np.where(t < lengths[:, None], starts[:, None] + t, joined.shape[0]).ravel()
    inverse = np.empty(joined.shape[0], dtype=np.int64)
    inverse[source[source < joined.shape[0]]] = np.flatnonzero(source < joined.shape[0])
    padded = ops.reshape(take_rows(_as_rows(joined), source, inverse), (len(sequences), T) + tuple(joined.shape[1:]))
    return pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The sequences of a packed batch, each (L_i, *), in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return [padded[b, :int(n)] for b, n in enumerate(lengths.numpy())]


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The sequences of a padded batch (T, B, *) — (B, T, *) with ``batch_first`` —
    each cut to its length ``lengths[b]``."""
    op = "unpad_sequence"
    lengths = _host_ints(op, "lengths", lengths)
    if not isinstance(padded_sequences, Tensor) or padded_sequences.ndim < 2:
        raise ShapeError(f"{op}: padded_sequences must be a tensor (T, B, *), got "
                         f"{getattr(padded_sequences, 'shape', type(padded_sequences).__name__)}")
    B, T = padded_sequences.shape[:2] if batch_first else padded_sequences.shape[1::-1]
    if lengths.size != B or (lengths < 0).any() or (lengths > T).any():
        raise ShapeError(f"{op}: lengths {lengths.tolist()} do not fit the {B} sequences of {T} steps of the padded "
                         f"batch of shape {padded_sequences.shape}")
    return [padded_sequences[b, :int(n)] if batch_first else padded_sequences[:int(n), b]
            for b, n in enumerate(lengths)]
