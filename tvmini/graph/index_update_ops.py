"""Writes at indexed positions, PyTorch's: ``scatter_reduce`` (sum, prod, mean, amax,
amin, with or without ``include_self``), ``index_copy``, ``index_fill``,
``masked_scatter``, ``index_put`` (a tuple of index tensors, ``accumulate=``),
``put`` (flat positions) and ``index_reduce`` (``scatter_reduce`` of whole slices),
each out of place and in place (``x.index_copy_`` ...).

``scatter_reduce`` is one ``topi.scatter_reduce`` kernel; its gradient, as PyTorch's
(every reduction, zeros in a product included), is built from gathers, scatters and
scatter_reduce itself (so ``tm.jit`` traces it). The others are compositions of the scatter family of ``gather_ops``:
``index_copy`` is a scatter of the source's slices, ``index_fill`` a ``where`` over a
scattered mask, ``masked_scatter`` a gather of the source at the running count of the
mask, ``index_put`` and ``put`` an ``index_copy``/``index_add`` along the flattened
leading axes (its linear positions computed from the index tensors); their gradients
are those ops'. Of duplicate positions in ``index_copy``/``index_put``/``put`` without
``accumulate`` the last wins (PyTorch: unspecified).
"""
import numpy as np

from ..errors import ArgumentError, DTypeError, IndexingError, ShapeError
from ..runtime import ndarray as nd
from ..topi import scatter_reduce as topi_scatter_reduce
from . import axes as check_axes
from . import dispatch, indexing, ops
from .autograd import Function
from .creation import zeros
from .dispatch import run
from .gather_ops import _as_1d, _line_checks, gather, index_add, scatter, scatter_add
from .index_ops import check_indices, take
from .join_ops import clamp
from .logic_ops import where
from .sort_ops import cumsum
from .tensor import Tensor, add_methods, method_of

_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce_kernel(x, index, src, axis, reduce, include_self):
    return topi_scatter_reduce.scatter_reduce(x, index, src, axis, reduce, include_self)


def _scatter_count_kernel(x, index, axis):
    return topi_scatter_reduce.scatter_count(x, index, axis)


class _ScatterReduce(Function):
    """``topi.scatter_reduce``; backward as PyTorch's."""
    nondiff = (1,)

    def forward(self, x, index, src):
        self.result = run("scatter_reduce", _scatter_reduce_kernel, [x, index, src],
                          attrs=(("axis", self.axis), ("reduce", self.reduce), ("include_self", self.include_self)))
        return self.result

    def backward(self, g):
        return self._grads(g, *self.inputs)

    def _grads(self, g, x, index, src):
        """The gradients of ``x``, ``index`` (None) and ``src``."""
        axis, reduce = self.axis, self.reduce
        if reduce == "prod":
            return self._prod_grad(g, x, index, src)
        count = ops.cast(ops._kernel("scatter_count", _scatter_count_kernel, x, index, axis=axis), g.dtype)
        touched = count > 0
        if reduce in ("sum", "mean"):
            share = g / clamp(count + 1.0, 1.0) if reduce == "mean" and self.include_self else \
                g / clamp(count, 1.0) if reduce == "mean" else g
            gx = share if self.include_self else where(touched, ops._as_tensor(0, g), g)
            return gx, None, gather(share, axis, index)
        out = Tensor._wrap(self.result)
        self_is = x == out
        if not self.include_self:
            self_is = self_is & ~touched
        src_is = src == gather(out, axis, index)
        nothing = zeros(x.shape, dtype=g.dtype, device=g.device)
        ties = ops.cast(self_is, g.dtype) + scatter_add(nothing, axis, index, ops.cast(src_is, g.dtype))
        share = where(ties > 0, g / clamp(ties, 1.0), ops._as_tensor(0, g))
        zero = ops._as_tensor(0, g)
        return where(self_is, share, zero), None, where(src_is, gather(share, axis, index), zero)


    def _prod_grad(self, g, x, index, src):
        """The gradient of a product: each factor gets ``g`` times the product of the
        others. Dividing the result by the factor is that product where the factor is
        not 0; a zero ``x`` is divided out of a product taken with it replaced by 1, a
        lone zero ``src`` entry gets the product taken with it replaced by 1, and where
        two or more zeros meet every factor's product of the others is 0 (as PyTorch's)."""
        axis, include_self = self.axis, self.include_self
        out = Tensor._wrap(self.result)
        zero, one = ops._as_tensor(0, g), ops._as_tensor(1, g)

        def product(base, factors):
            return _ScatterReduce.apply(base, index, factors, axis=axis, reduce="prod", include_self=include_self)
        if include_self:
            nonzero_x = where(x == 0, one, x)
            gx = g * product(nonzero_x, src) / nonzero_x
        else:
            touched = ops._kernel("scatter_count", _scatter_count_kernel, x, index, axis=axis) > 0
            gx = where(touched, zero, g)
        src_zero = src == 0
        nothing = zeros(x.shape, dtype=g.dtype, device=g.device)
        zeros_there = gather(scatter_add(nothing, axis, index, ops.cast(src_zero, g.dtype)), axis, index)
        lone_zero = src_zero & (zeros_there == 1)
        others = gather(g * product(x, where(lone_zero, one, src)), axis, index)
        divided = gather(g * out, axis, index) / where(src_zero, one, src)
        return gx, None, where(lone_zero, others, divided)


class _IndexReduce(_ScatterReduce):
    """``topi.index_reduce``: ``scatter_reduce`` of whole slices, the 1-D index (the
    last input) given once per slice. Its backward is scatter_reduce's, with the index
    expanded to the source's shape."""
    nondiff = (2,)

    def forward(self, x, src, index):
        self.result = run("index_reduce", _index_reduce_kernel, [x, index, src],
                          attrs=(("axis", self.axis), ("reduce", self.reduce), ("include_self", self.include_self)))
        return self.result

    def backward(self, g):
        x, src, index = self.inputs
        gx, _, gsrc = self._grads(g, x, _along(index, self.axis, src.shape), src)
        return gx, gsrc, None


def _index_reduce_kernel(x, index, src, axis, reduce, include_self):
    return topi_scatter_reduce.index_reduce(x, index, src, axis, reduce, include_self)


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``input`` with each ``src[i]`` reduced by ``reduce`` ("sum", "prod", "mean",
    "amax", "amin") into the element ``i`` with axis ``dim`` replaced by ``index[i]``;
    ``include_self`` counts ``input``'s value among those reduced (elements nothing
    points at keep it either way). ``mean`` of integers rounds down, as PyTorch's.
    Gradients as PyTorch's (amax/amin: ties share equally; prod: exact with zeros)."""
    if reduce not in _REDUCES:
        raise ArgumentError(f"scatter_reduce: reduce must be one of {', '.join(_REDUCES)}, got {reduce!r}")
    if not isinstance(src, Tensor):
        raise DTypeError(f"scatter_reduce: src must be a tensor, got {type(src).__name__}")
    ops.check_device("scatter_reduce", input, src)
    if src.dtype != input.dtype:
        raise DTypeError(f"scatter_reduce: src is {src.dtype} but the tensor of shape {input.shape} is "
                         f"{input.dtype} (they must match, as in PyTorch)")
    axis = _line_checks("scatter_reduce", input, dim, index, src)
    x, index, src = _as_1d(input), _as_1d(index), _as_1d(src)
    if src.shape != index.shape:            # only the entries index names are read: the gradient's shape is src's
        src = src[tuple(slice(0, m) for m in index.shape)]
    out = _ScatterReduce.apply(x, index, src, axis=axis, reduce=reduce, include_self=bool(include_self))
    return ops.reshape(out, ()) if input.ndim == 0 else out


def _index_1d(op, index, extent):
    """``index`` checked as a 1-D (or 0-d) integer tensor of positions in ``[0, extent)``."""
    if not isinstance(index, Tensor) or index.ndim > 1:
        raise IndexingError(f"{op}: index must be a 1-D integer tensor, got "
                            f"{'shape ' + str(index.shape) if isinstance(index, Tensor) else type(index).__name__}")
    check_indices(op, index, extent)
    return _as_1d(index)


def _along(index, axis, shape):
    """The 1-D ``index`` expanded to ``shape``, running along ``axis``."""
    at = [1] * len(shape)
    at[axis] = index.shape[0]
    return ops.expand(ops.reshape(index, tuple(at)), shape)


def _slices_at(op, input, dim, index, source, expand=True):
    """``(input, source, axis, index)`` of index_copy/index_reduce: 0-d operands as 1-D,
    ``dim`` as an axis, and the 1-D ``index`` checked and broadcast along ``axis`` to
    ``source``'s shape, which must be ``input``'s with that axis of the index's length
    (the index of ``scatter``/``scatter_reduce`` writing ``source``'s slices; without
    ``expand``, the checked 1-D index itself)."""
    x, source = _as_1d(input), _as_1d(source)
    axis = check_axes.axis(op, dim, x.shape)
    index = _index_1d(op, index, x.shape[axis])
    want = x.shape[:axis] + index.shape + x.shape[axis + 1:]
    if source.shape != want:
        raise ShapeError(f"{op}: source of shape {source.shape} must be {want}: the tensor of shape "
                         f"{input.shape} with axis {dim} of the index's length {index.shape[0]}")
    return x, source, axis, _along(index, axis, want) if expand else index


def index_copy(input, dim, index, source):
    """``input`` with its slices along ``dim`` at the positions of the 1-D ``index``
    replaced by ``source``'s slices, in order (PyTorch's ``index_copy``)."""
    ops.check_same("index_copy", input, source)
    x, source, axis, index = _slices_at("index_copy", input, dim, index, source)
    if not index.shape[0]:
        return input
    out = scatter(x, axis, index, source)
    return ops.reshape(out, ()) if input.ndim == 0 else out


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """``input`` with each slice of ``source`` along ``dim`` reduced by ``reduce``
    ("prod", "mean", "amax", "amin") into the slice of ``input`` at the matching entry of
    the 1-D ``index``; ``include_self`` counts ``input``'s value among those reduced.
    ``scatter_reduce`` with the index running along ``dim`` (its gradients)."""
    if reduce not in _REDUCES[1:]:
        raise ArgumentError(f"index_reduce: reduce must be one of {', '.join(_REDUCES[1:])}, got {reduce!r}")
    if not isinstance(source, Tensor):
        raise DTypeError(f"index_reduce: source must be a tensor, got {type(source).__name__}")
    ops.check_same("index_reduce", input, source)
    x, source, axis, index = _slices_at("index_reduce", input, dim, index, source, expand=False)
    if not index.shape[0]:
        return input
    out = _IndexReduce.apply(x, source, index, axis=axis, reduce=reduce, include_self=bool(include_self))
    return ops.reshape(out, ()) if input.ndim == 0 else out


def _value_tensor(op, input, value):
    """``value`` (a number or a 0-d tensor) as a 0-d tensor of ``input``'s dtype."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise IndexingError(f"{op}: value must be a number or a 0-d tensor, got shape {value.shape}")
        ops.check_device(op, input, value)
        return ops.cast(value, input.dtype)
    return ops._as_tensor(ops.stored_value(value, input.dtype, f"{op} into a {input.dtype} tensor"), input)


def index_fill(input, dim, index, value):
    """``input`` with its slices along ``dim`` at the positions of ``index`` (negatives
    from the end, as PyTorch's) set to ``value`` (a number, or a 0-d tensor, which gets
    the gradient of those elements)."""
    x = _as_1d(input)
    axis = check_axes.axis("index_fill", dim, x.shape)
    n = x.shape[axis]
    if isinstance(index, Tensor) and index.dtype in ("int32", "int64"):       # negatives count from the end
        if dispatch.thread.tracer is None and index.device.kind == "cpu" and index.numel() and \
                index.numpy().min() < -n:
            raise IndexingError(f"index_fill: index {index.numpy().min()} is out of range for an axis of extent {n}")
        index = where(index < 0, index + n, index)
    index = _index_1d("index_fill", index, n)
    value = _value_tensor("index_fill", input, value)
    hit = scatter(zeros(x.shape[axis], dtype="int32", device=x.device), 0, index, value=1) > 0
    at = [1] * x.ndim
    at[axis] = x.shape[axis]
    out = where(ops.reshape(hit, tuple(at)), value, x)
    return ops.reshape(out, ()) if input.ndim == 0 else out


def masked_scatter(input, mask, source):
    """``input`` (broadcast with ``mask``) with the elements where ``mask`` is True
    replaced, in order, by ``source``'s first elements (PyTorch's ``masked_scatter``;
    ``source`` needs at least as many elements as the mask has Trues)."""
    if not isinstance(mask, Tensor) or mask.dtype != "bool":
        raise DTypeError(f"masked_scatter: mask must be a bool tensor, got "
                         f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}")
    ops.check_same("masked_scatter", input, source)
    ops.check_device("masked_scatter", input, mask)
    shape = ops.broadcast_shapes("masked_scatter", input.shape, mask.shape)
    x, mask = ops.broadcast_to(input, shape), ops.broadcast_to(mask, shape)
    n = source.numel()
    if dispatch.thread.tracer is None and mask.device.kind == "cpu":
        needed = int(mask.numpy().sum())
        if needed > n:
            raise ShapeError(f"masked_scatter: the mask of shape {mask.shape} has {needed} Trues but source "
                             f"(shape {source.shape}) only {n} elements")
    if not n or not x.numel():
        return x
    flat = ops.reshape(mask, (x.numel(),))
    positions = clamp(cumsum(ops.cast(flat, "int64"), 0) - 1, 0, n - 1)
    picked = take(ops.reshape(source, (n,)), positions, 0)
    return where(mask, ops.reshape(picked, shape), x)


def _positions(op, input, indices):
    """The linear positions (int64, of the indices' broadcast shape) in ``input``'s
    first ``len(indices)`` axes that the index tensors name (bool masks become their
    nonzero positions; negatives count from the end), and the number of those axes."""
    if not isinstance(indices, (tuple, list)) or not indices:
        raise IndexingError(f"{op}: indices must be a non-empty tuple of index tensors, got {indices!r}")
    expanded = []
    for t in indices:
        if not isinstance(t, Tensor):
            raise IndexingError(f"{op}: every index must be a tensor, got {type(t).__name__}")
        ops.check_device(op, input, t)
        if t.dtype == "bool":
            if dispatch.thread.tracer is not None or t.device.kind != "cpu":
                raise IndexingError(f"{op}: a bool index is read on the host: not inside tm.jit or on a GPU "
                                    "(pass x.nonzero(as_tuple=True) instead)")
            expanded += [Tensor._wrap(nd.array(p.astype("int64"), device=t.device)) for p in np.nonzero(t.numpy())]
        elif t.dtype in ("int32", "int64"):
            expanded.append(ops.cast(t, "int64"))
        else:
            raise IndexingError(f"{op}: indices must be integer or bool tensors, got {t.dtype}")
    k = len(expanded)
    if k > input.ndim:
        raise IndexingError(f"{op}: too many indices ({k}) for a tensor of shape {input.shape}")
    shape = ()
    for t in expanded:
        shape = ops.broadcast_shapes(op, shape, t.shape)
    linear = None
    for axis, t in enumerate(expanded):
        extent = input.shape[axis]
        if dispatch.thread.tracer is None and t.device.kind == "cpu" and t.numel():
            values = t.numpy()
            if values.min() < -extent or values.max() >= extent:
                bad = values.min() if values.min() < -extent else values.max()
                raise IndexingError(f"{op}: index {bad} is out of range for axis {axis} with extent {extent} "
                                    f"(tensor of shape {input.shape})")
        t = where(t < 0, t + extent, t)
        stride = int(np.prod(input.shape[axis + 1:k], dtype=np.int64))
        term = ops.broadcast_to(t * stride if stride != 1 else t, shape)
        linear = term if linear is None else linear + term
    return linear, k


def _put_rows(op, input, indices, values, accumulate):
    """``input`` with ``values`` (broadcast to the selection) written, or added with
    ``accumulate``, at the positions ``indices`` name in its leading axes."""
    if not isinstance(values, Tensor):
        values = ops._as_tensor(ops.stored_value(values, input.dtype, f"{op} into a {input.dtype} tensor"), input)
    ops.check_same(op, input, values)
    linear, k = _positions(op, input, indices)
    rest = input.shape[k:]
    count = int(np.prod(linear.shape, dtype=np.int64))
    if not count:
        return input
    rows = ops.reshape(input, (int(np.prod(input.shape[:k], dtype=np.int64)),) + rest)
    try:
        selection = ops.broadcast_shapes(op, values.shape, linear.shape + rest)
    except ShapeError:
        selection = None
    if selection != linear.shape + rest:
        raise ShapeError(f"{op}: values of shape {values.shape} do not broadcast to the selection's shape "
                         f"{linear.shape + rest} (tensor of shape {input.shape})")
    source = ops.reshape(ops.broadcast_to(values, selection), (count,) + rest)
    positions = ops.reshape(linear, (count,))
    out = index_add(rows, 0, positions, source) if accumulate else index_copy(rows, 0, positions, source)
    return ops.reshape(out, input.shape)


def index_put(input, indices, values, accumulate=False):
    """``input`` with ``values`` written at ``input[indices]`` (a tuple of integer or
    bool index tensors for the leading axes, broadcast together; ``values`` broadcast to
    the selection), or added there with ``accumulate`` (repeats add up)."""
    return _put_rows("index_put", input, tuple(indices) if isinstance(indices, list) else indices, values,
                     accumulate)


def put(input, index, source, accumulate=False):
    """``input`` read as 1-D with ``source``'s elements written at the positions
    ``index`` (negatives from the end), or added there with ``accumulate``
    (PyTorch's ``put``; ``index`` and ``source`` of as many elements)."""
    if not isinstance(index, Tensor) or not isinstance(source, Tensor):
        raise DTypeError("put: index and source must be tensors")
    if index.numel() != source.numel():
        raise ShapeError(f"put: index (shape {index.shape}) and source (shape {source.shape}) must have as many "
                         "elements")
    flat = ops.reshape(input, (input.numel(),))
    out = _put_rows("put", flat, (ops.reshape(index, (index.numel(),)),), ops.reshape(source, (source.numel(),)),
                    accumulate)
    return ops.reshape(out, input.shape)


def _in_place(name, function, at, keyword):
    """The in-place form of ``function(self, *args)``: the result written over self
    (recorded for autograd as PyTorch's in-place ops, see ``indexing.update``), with
    argument ``at`` (or the keyword ``keyword``), the written values, as the update's
    operand: a tensor of them that requires grad gets its gradient."""
    def method(self, *args, **kwargs):
        args = list(args)
        if len(args) > at:
            value = args[at]

            def op(old, v):
                return function(old, *args[:at], v, *args[at + 1:], **kwargs)
        else:
            value = kwargs.pop(keyword, None)

            def op(old, v):
                return function(old, *args, **{keyword: v}, **kwargs)
        return indexing.update(self, op, value, name)
    method.__doc__ = f"``{name[:-1]}`` in place; returns self."
    return method


#: name, function, the position and name of its argument holding the written values
_UPDATES = (("scatter_reduce", scatter_reduce, 2, "src"), ("index_copy", index_copy, 2, "source"),
            ("index_fill", index_fill, 2, "value"), ("masked_scatter", masked_scatter, 1, "source"),
            ("index_put", index_put, 1, "values"), ("put", put, 1, "source"),
            ("index_reduce", index_reduce, 2, "source"))
add_methods({name: method_of(function) for name, function, _, _ in _UPDATES})
add_methods({f"{name}_": _in_place(f"{name}_", function, at, keyword) for name, function, at, keyword in _UPDATES})
