"""``F.embedding_bag`` (PyTorch's): the sum, mean or maximum of the weight rows each bag
of indices picks, without materializing the (N, D) rows in between — one forward kernel
and one backward kernel (``topi.embedding_bag``), plus one for ``per_sample_weights``'
gradient where it is asked for.

The bags' layout, offsets and lengths are checked on the host where they can be read
(CPU tensors, eagerly and as guards of a ``tm.jit`` step), as PyTorch checks them; the
longest bag found there bounds the kernel's reduction (elsewhere every bag may be as
long as the whole input, which is right for any offsets, only slower). Likewise the
backward groups the positions by weight row on the host when the indices are eager CPU
tensors of "sum" and "mean" bags (``embedding_bag_grad_sorted``: each row reduces over
its own entries, the fastest way there); elsewhere — "max", inside a ``tm.jit`` step
(whose replays get other indices), on CUDA — the kernels sort the positions by row on
the device and sum each row's run (``topi.segment_sum``): N log N work and the table's
size, not rows * N. (One thread, 64 bags of 20, dim 64, forward + backward, ms, host /
device: V 1000 sum 0.22 / 0.33, max 0.53 / 0.49; V 10000 sum 0.31 / 0.37, max 1.07 /
0.52.)
"""
import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..runtime import ndarray as nd
from ..topi import embedding_bag as kernels
from . import dispatch, ops
from .autograd import Function
from .creation import ones, zeros, zeros_like
from .dispatch import run
from .gather_ops import scatter_add
from .index_ops import _renorm_rows, check_dense, check_indices
from .tensor import Tensor


class _EmbeddingBag(Function):
    """Inputs: weight (V, D), indices (N,), offsets, [per_sample_weights (N,)].
    Attributes: ``mode``, ``length``, ``padding_idx``, ``last_offset``,
    ``scale_grad_by_freq``."""
    nondiff = (1, 2)

    def _attrs(self):
        return (("mode", self.mode), ("length", self.length), ("padding_idx", self.padding_idx),
                ("last_offset", self.last_offset))

    def forward(self, weight, indices, offsets, *psw):
        outs = run("embedding_bag", kernels.embedding_bag, [weight, indices, offsets, *psw], attrs=self._attrs())
        self.count = outs[1]
        self.max_rows = outs[2] if self.mode == "max" else None
        return outs[0]

    def backward(self, g):
        weight, indices, offsets, *psw = self.inputs
        rows, padding, last = weight.shape[0], self.padding_idx, self.last_offset
        if not weight.requires_grad:
            gw = None
        elif dispatch.thread.tracer is None and indices.device.kind == "cpu" and self.mode != "max":
            gw = self._grouped_grad(g, weight, indices, offsets, psw)
        elif self.mode == "max":
            gw = ops._kernel("embedding_bag_max_grad", kernels.embedding_bag_max_grad, g, indices, offsets,
                             Tensor._wrap(self.max_rows), rows=rows, padding_idx=padding, last_offset=last)
        else:
            gw = ops._kernel("embedding_bag_grad", kernels.embedding_bag_grad, g, indices, offsets,
                             Tensor._wrap(self.count), *psw, rows=rows, mode=self.mode, padding_idx=padding,
                             last_offset=last)
        if gw is not None and self.scale_grad_by_freq:
            gw = _scaled_by_frequency(gw, indices)
        grads = [gw, None, None]
        if psw:
            grads.append(ops._kernel("per_sample_weights_grad", kernels.per_sample_weights_grad, g, weight, indices,
                                     offsets, padding_idx=padding, last_offset=last)
                         if psw[0].requires_grad else None)
        return tuple(grads)

    def _grouped_grad(self, g, weight, indices, offsets, psw):
        """The "sum" or "mean" weight's gradient with the entries grouped by weight row on
        the host (eager CPU indices: see ``topi.embedding_bag``); zeros where no entry
        counts."""
        index = indices._data._storage.host_view().astype(np.int64)
        starts = offsets._data._storage.host_view().astype(np.int64)
        positions = np.arange(index.size)
        bag_of = np.searchsorted(starts[:-1] if self.last_offset else starts, positions, "right") - 1
        if self.last_offset:
            bag_of[positions >= starts[-1]] = -1
        counted = (bag_of >= 0) & (index != (-1 if self.padding_idx is None else self.padding_idx))
        picked = np.flatnonzero(counted)
        members = picked[np.argsort(index[picked], kind="stable")]
        if not members.size:
            return zeros_like(weight)
        row_start = np.searchsorted(index[members], np.arange(weight.shape[0] + 1))
        most = int(np.diff(row_start).max())
        return ops._kernel("embedding_bag_grad_sorted", kernels.embedding_bag_grad_sorted, g,
                           _ints(np.maximum(bag_of, 0), weight), _ints(members, weight), _ints(row_start, weight),
                           Tensor._wrap(self.count), *psw, mode=self.mode, most=most)


def _scaled_by_frequency(gw, indices):
    """``gw`` (V, D) with row ``r`` divided by how often ``r`` occurs in ``indices`` (all
    of the mini-batch's indices, as PyTorch counts them; a row that never occurs has a
    zero gradient and stays zero). The counts are a ``scatter_add`` of ones on the
    device, so a ``tm.jit`` step counts each replay's own indices."""
    index = ops.cast(indices, "int64")
    each = ones(index.shape, dtype=gw.dtype, device=gw.device)
    counts = scatter_add(zeros((gw.shape[0],), dtype=gw.dtype, device=gw.device), 0, index, each)
    return gw / ops.reshape(ops.maximum(counts, 1.0), (-1, 1))


def _ints(values, like):
    """The host array ``values`` as an int32 tensor on ``like``'s device."""
    return Tensor._wrap(nd.array(values.astype("int32"), device=like.device))


def _offsets_checked(op, offsets, n, last_offset):
    """The longest bag of ``offsets`` over ``n`` indices, after PyTorch's checks, where
    the offsets can be read; None where they cannot."""
    def longest(array):
        values = array._storage.host_view().astype(np.int64)
        ends = values[1:] if last_offset else np.append(values[1:], n)
        if not values.size:
            return ("empty",)
        if values[0] != 0:
            return ("first", int(values[0]))
        if values[-1] > n:
            return ("last", int(values[-1]))
        if (np.diff(values) < 0).any():
            return ("order",)
        return ("ok", int((ends - values[:len(ends)]).max(initial=0)))
    found = dispatch.host_check(offsets, longest, chooses_path=True)
    if found is None:
        return None
    if found[0] == "empty":
        raise ShapeError(f"{op}: offsets must hold at least {2 if last_offset else 1} entries, got none")
    if found[0] == "first":
        raise ShapeError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                         f"from position 0. However, got {found[1]}")
    if found[0] == "last":
        raise ShapeError(f"{op}: offsets[-1] can not be greater than input's length {n}, but got {found[1]}")
    if found[0] == "order":
        raise ShapeError(f"{op}: offsets must be non-decreasing")
    return found[1]


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """PyTorch's ``F.embedding_bag``: ``input`` (B, n) of fixed bags, or 1-D with
    ``offsets`` (bag b from ``offsets[b]`` to the next offset; with
    ``include_last_offset`` the last offset ends the last bag, else the input's end);
    ``mode`` "sum", "mean" or "max" over each bag's rows of ``weight`` (V, D) -> (B, D).
    ``per_sample_weights`` (``input``'s shape, "sum" only) scales each entry;
    ``padding_idx`` entries are left out of their bags; ``max_norm`` first renormalizes
    the picked rows in place (as ``F.embedding``). An empty bag gives zeros.
    ``scale_grad_by_freq`` ("sum" and "mean") divides each weight row's gradient by the
    number of times its index occurs in ``input``; ``sparse=True`` is refused (tvmini has
    no sparse tensors: the weight's gradient is always dense)."""
    op = "embedding_bag"
    if mode not in kernels.MODES:
        raise ShapeError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    check_dense(op, sparse)
    if scale_grad_by_freq and mode == "max":
        raise ArgumentError(f"{op}: max mode does not support scaling the gradient by the frequency "
                            "(scale_grad_by_freq=True)")
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise DTypeError(f"{op}: input and weight must be tensors, got {type(input).__name__} and "
                         f"{type(weight).__name__}")
    if weight.ndim != 2 or not weight.dtype.startswith("float"):
        raise ShapeError(f"{op}: weight must be a floating-point (num_embeddings, embedding_dim) tensor, got "
                         f"{weight.dtype} of shape {weight.shape}")
    if input.dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: input must be an int32 or int64 tensor of indices, got {input.dtype}")
    ops.check_device(op, weight, input)
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ShapeError(f"{op}: padding_idx must be within num_embeddings ({rows}), got {padding_idx}")
        padding_idx %= rows
    if input.ndim == 2:
        if offsets is not None:
            raise ShapeError(f"{op}: if input is 2D, then offsets has to be None, as input is treated is a "
                             f"mini-batch of fixed length sequences. However, found offsets of type "
                             f"{type(offsets).__name__}")
        bags, length = input.shape
        offsets = Tensor._wrap(nd.array(np.arange(bags, dtype="int64") * length, device=weight.device))
        include_last_offset = False
    elif input.ndim == 1:
        if not isinstance(offsets, Tensor) or offsets.ndim != 1:
            raise ShapeError(f"{op}: offsets has to be a 1D Tensor but got "
                             f"{'None' if offsets is None else getattr(offsets, 'shape', type(offsets).__name__)}")
        if offsets.dtype not in ("int32", "int64"):
            raise DTypeError(f"{op}: offsets must be an int32 or int64 tensor, got {offsets.dtype}")
        ops.check_device(op, weight, offsets)
        length = _offsets_checked(op, offsets, input.shape[0], include_last_offset)
        if length is None:
            length = input.shape[0]
    else:
        raise ShapeError(f"{op}: input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if offsets.shape[0] < (2 if include_last_offset else 1):
        raise ShapeError(f"{op}: offsets must hold at least {2 if include_last_offset else 1} entries "
                         f"(include_last_offset={include_last_offset}), got {offsets.shape[0]}")
    psw = []
    if per_sample_weights is not None:
        if mode != "sum":
            raise ShapeError(f"{op}: per_sample_weights was not None. per_sample_weights is only supported for "
                             f"mode='sum' (got mode='{mode}')")
        if not isinstance(per_sample_weights, Tensor) or per_sample_weights.shape != input.shape:
            raise ShapeError(f"{op}: If per_sample_weights ({getattr(per_sample_weights, 'shape', None)}) is not "
                             f"None, then it must have the same shape as the input ({input.shape})")
        ops.check_same(op, weight, per_sample_weights)
        psw = [ops.reshape(per_sample_weights, (-1,))]
    check_indices(op, input, rows)
    if max_norm is not None:
        _renorm_rows(input, weight, float(max_norm), norm_type)
    flat = ops.reshape(input, (-1,))
    if flat.shape[0] == 0:
        raise ShapeError(f"{op}: needs at least one index, got input of shape {input.shape}")
    return _EmbeddingBag.apply(weight, flat, offsets, *psw, mode=mode, length=max(int(length), 1),
                               padding_idx=padding_idx, last_offset=bool(include_last_offset),
                               scale_grad_by_freq=bool(scale_grad_by_freq))
