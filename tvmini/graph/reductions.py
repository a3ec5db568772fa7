"""Reductions of graph Tensors: sum, prod, mean, max, min, argmax, argmin.

Result dtypes follow PyTorch: integer and bool sums and products are int64 (a uint8
sum must not wrap at 256), float16 sums and means accumulate in float32 and round
once at the end (5000 ones sum to 5000, not 2048), integer means are float32.
``max(dim)``/``min(dim)`` with one int axis return a ``(values, indices)`` pair as
PyTorch's, and send the values' gradient to those indices only; without an axis (or
with a tuple of axes, like ``amax``) the values alone, whose gradient ties share evenly
(PyTorch's rule for ``max()`` and ``amax``).
PyTorch's ``dim=``/``keepdim=`` spellings are accepted beside ``axis=``/``keepdims=``.
Over no elements: sum 0, prod 1, mean NaN; max, min, argmax and argmin raise.
"""
import math
from collections import namedtuple

import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from . import axes as check_axes
from . import kernels
from .autograd import Function
from .dispatch import run
from .ops import _kernel, cast, compare, reshape, where
from .tensor import Tensor

#: What ``max(dim)``/``min(dim)`` return, as PyTorch's ``torch.return_types.max``.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def resolve(op, axis, keepdims, dim, keepdim):
    """``(axis, keepdims)`` from numpy's spelling or PyTorch's ``dim``/``keepdim``."""
    if dim is not None:
        if axis is not None:
            raise TVMiniError(f"{op}: give axis= or dim=, not both (got {axis!r} and {dim!r})")
        axis = dim
    return axis, bool(keepdims if keepdim is None else keepdim)


def _expand(g, shape, axes, keepdims, scale=1.0):
    """``scale · g`` spread back over the reduced ``axes`` of ``shape`` (one kernel)."""
    return _kernel("expand_reduced", kernels.expand_reduced, g, scalars=(scale,), scalar_dtypes=(g.dtype,),
                   shape=shape, axes=axes, keepdims=keepdims)


class _Reduce(Function):
    @property
    def saved(self):
        return () if self.op in ("sum", "mean") else (0,)

    def forward(self, x):
        out = run(self.op, self.op, [x], attrs=(("axis", self.axes), ("keepdims", self.keepdims)))
        if self.op not in ("sum", "mean", "prod"):     # max/min's gradient reads the output
            self.out = out
        return out

    def backward(self, g):
        x, = self.inputs
        if self.op in ("sum", "mean"):
            count = math.prod(x.shape[a] for a in self.axes)
            # an empty reduction (count 0) has an empty input: the scale scales nothing
            scale = 1.0 if self.op == "sum" or not count else 1.0 / count
            return (_expand(g, x.shape, self.axes, self.keepdims, scale),)
        if self.op == "prod":
            return (_kernel("prod_grad", "prod_grad", x, g, axis=self.axes, keepdims=self.keepdims),)
        y = _expand(Tensor._wrap(self.out), x.shape, self.axes, self.keepdims)
        mask = compare(x, y, "eq")
        count = sum(cast(mask, x.dtype), self.axes, keepdims=True)
        share = _expand(g, x.shape, self.axes, self.keepdims) / _expand(count, x.shape, self.axes, True)
        return (where(mask, share, 0.0),)


def _accumulated(op, dtype):
    """(the dtype ``op`` reduces a ``dtype`` tensor in, the dtype of its result), as PyTorch."""
    if not dtype.startswith("float"):
        return ("int64", "int64") if op in ("sum", "prod") else ("float32", "float32") if op == "mean" \
            else (dtype, dtype)
    if dtype == "float16" and op in ("sum", "mean"):
        return "float32", "float16"
    return dtype, dtype


def _nonempty(op, x, axes):
    """``max``/``min``/``argmax``/``argmin`` have no value over no elements: PyTorch
    raises, and so does this (a ShapeError naming the op), rather than give the
    reduction's identity (-inf, +inf) or a made-up index."""
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise ShapeError(f"{op}: reducing axis {empty[0]} of extent 0 of a tensor of shape {x.shape}; "
                         f"{op} of no elements is undefined (reduce a non-empty axis, or check the size first)")


def _reduce(op, x, axis, keepdims):
    axes = check_axes.axes(op, axis, x.shape)
    if op in ("max", "min"):
        _nonempty(op, x, axes)
    compute, result = _accumulated(op, x.dtype)
    x = cast(x, compute)
    out = _Reduce.apply(x, op=op, axes=axes, keepdims=bool(keepdims)) if axes else x
    return cast(out, result)


def _as_dtype(x, dtype):
    """``x`` converted to ``dtype`` first (PyTorch's ``dtype=`` of sum and mean), or as it is."""
    return x if dtype is None else cast(x, dtype)


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    """Sum over ``axis`` (None or ``()``: all axes); integers and bools give int64.
    ``dtype``: ``x`` is converted to it first and the sum is of that dtype (PyTorch's)."""
    out = _reduce("sum", _as_dtype(x, dtype), *resolve("sum", axis, keepdims, dim, keepdim))
    return _as_dtype(out, dtype)


def prod(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Product over ``axis``; its gradient is the product of the other elements (exact
    with zeros, see ``topi.prod_grad``); integers and bools give int64."""
    return _reduce("prod", x, *resolve("prod", axis, keepdims, dim, keepdim))


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):
    """Mean over ``axis`` of a floating-point tensor; an integer or bool one raises a
    DTypeError, as PyTorch's (it gave a float32 mean): convert it with ``.float()`` first,
    or give a float ``dtype`` (``x`` is converted to it first, as PyTorch's)."""
    x = _as_dtype(x, dtype)
    if not x.dtype.startswith("float"):
        raise DTypeError(f"mean: a {x.dtype} tensor of shape {x.shape} has no floating-point mean dtype, as in "
                         f"PyTorch; convert it first (x.float().mean())")
    return _reduce("mean", x, *resolve("mean", axis, keepdims, dim, keepdim))


class _ExtremeAt(Function):
    """``max``/``min`` over one axis whose gradient goes whole to the index returned
    beside the values (input 1), as PyTorch's ``x.max(dim)``: ties do not share it."""
    nondiff = (1,)
    saved = (1,)        # the gradient reads the indices, not the values

    def forward(self, x, index):
        return run(self.op, self.op, [x], attrs=(("axis", (self.axis,)), ("keepdims", self.keepdims)))

    def backward(self, g):
        x, index = self.inputs
        return (_kernel("scatter_to_index", kernels.scatter_to_index, g, index, shape=x.shape, axis=self.axis,
                        keepdims=self.keepdims), None)


def _extreme(op, x, axis, keepdims, dim, keepdim):
    """``max``/``min``: the values over ``axis``, paired with their indices for one int
    axis (the values' gradient then goes to those indices, see :class:`_ExtremeAt`)."""
    axis, keepdims = resolve(op, axis, keepdims, dim, keepdim)
    if axis is None or not isinstance(axis, (int, np.integer)):
        return _reduce(op, x, axis, keepdims)
    if not x.ndim:          # a 0-d tensor is its own extreme, at index 0
        return ValuesIndices(_reduce(op, x, axis, keepdims), _arg("arg" + op, x, axis, keepdims))
    axis = check_axes.axis(op, axis, x.shape)
    _nonempty(op, x, (axis,))
    indices = _arg("arg" + op, x, axis, keepdims)
    return ValuesIndices(_ExtremeAt.apply(x, indices, op=op, axis=axis, keepdims=bool(keepdims)), indices)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Maximum over ``axis``; ``(values, indices)`` for one int axis, as PyTorch's
    ``x.max(dim)``, the gradient going to those indices; otherwise the values, whose
    gradient ties share evenly (as PyTorch's ``x.max()`` and ``amax``)."""
    return _extreme("max", x, axis, keepdims, dim, keepdim)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Minimum over ``axis``; ``(values, indices)`` for one int axis (see :func:`max`)."""
    return _extreme("min", x, axis, keepdims, dim, keepdim)


def amax(x, dim=(), keepdim=False):
    """PyTorch's ``amax``: the maximum over ``dim`` (an int or a tuple; ``()``: every
    axis), the values alone, ties sharing the gradient evenly."""
    return _reduce("max", x, dim if isinstance(dim, (tuple, list)) else (dim,), keepdim)


def amin(x, dim=(), keepdim=False):
    """PyTorch's ``amin`` (see :func:`amax`)."""
    return _reduce("min", x, dim if isinstance(dim, (tuple, list)) else (dim,), keepdim)


def _arg(op, x, axis, keepdims):
    """Index (int64) of the first maximum/minimum along ``axis`` (None: of the flattened
    tensor)."""
    _nonempty(op, x, check_axes.axes(op, axis, x.shape))
    if axis is None:
        flat = _kernel(op, op, reshape(x, (x._data.size,)), axis=0, keepdims=False)
        return reshape(flat, (1,) * x.ndim if keepdims else ())
    axis = check_axes.axis(op, axis, x.shape)
    if not x.shape:
        return _kernel(op, op, reshape(x, (1,)), axis=0, keepdims=False).reshape(())
    return _kernel(op, op, x, axis=axis, keepdims=bool(keepdims))


def _refuse_bool(op, x):
    """PyTorch's argmax/argmin refuse bool tensors (its ``max(dim)`` takes them)."""
    if x.dtype == "bool":
        raise DTypeError(f"{op}: not supported on a bool tensor (shape {x.shape}), as in PyTorch; convert it "
                         "with .int() first")


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the maximum along ``axis`` (over the flattened tensor when None); int64."""
    _refuse_bool("argmax", x)
    return _arg("argmax", x, *resolve("argmax", axis, keepdims, dim, keepdim))


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Index of the minimum along ``axis`` (over the flattened tensor when None); int64."""
    _refuse_bool("argmin", x)
    return _arg("argmin", x, *resolve("argmin", axis, keepdims, dim, keepdim))
