"""Scans and sorting of graph Tensors, PyTorch's names and rules: ``cumsum``,
``cumprod``, ``sort``, ``argsort``, ``topk``, ``kthvalue``, ``median`` and
``randperm``.

The kernels are ``topi.scan`` and ``topi.sort``: scans written as blocked
reductions, sorts as counting (short rows) or a bitonic network of elementwise passes
(``topi.sort_network``, ``O(n log^2 n)`` per row; see those modules), so they build
for every target and trace under ``tm.jit`` like any op.

* ``cumsum``/``cumprod``: integer and bool inputs give int64 (``dtype=`` converts the
  input first), as PyTorch's. ``cumsum``'s gradient is the reversed cumsum of the
  output's gradient; ``cumprod``'s is exact where the input holds zeros
  (``topi.cumprod_grad``, PyTorch's rule).
* ``sort``, ``topk``, ``kthvalue``, ``median(dim)`` return a named
  ``(values, indices)`` pair as PyTorch's ``torch.return_types``; indices are int64
  and carry no gradient. The order is always stable (``stable=`` is accepted: an
  unstable sort may give any order among equal elements, a stable one is one of
  them), NaN sorts above every number, and a descending sort keeps equal elements in
  index order, as PyTorch's stable descending sort. Among equal elements ``topk`` and
  ``kthvalue`` pick the first in that order (PyTorch's choice there is unspecified).
  The values' gradient goes back to the positions the indices name
  (``gather``'s gradient, ``topi.gather_grad``).
* ``median()`` (no dim) is the lower median of all elements, its gradient shared
  evenly by the elements equal to it (PyTorch's rule); ``median(dim)`` is
  ``kthvalue`` at ``(n + 1) // 2`` except that a row holding a NaN gives NaN (at the
  first NaN), as PyTorch's.
* ``randperm(n)`` is the argsort of ``n`` counter-based random keys
  (``topi.random``) under a seed drawn from tvmini's generator, so ``tm.manual_seed``
  makes it reproducible, on every device alike.
"""
import math
from collections import namedtuple

import numpy as np

from ..errors import DTypeError, IndexingError, ShapeError, TVMiniError
from ..runtime import as_device
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import ops
from .autograd import Function
from .creation import _host_draw
from .dispatch import run
from .gather_ops import _Gather
from .tensor import Tensor, add_methods, method_of

#: What ``sort``/``topk``/``kthvalue``/``median(dim)`` return, as PyTorch's
#: ``torch.return_types``: ``.values``, ``.indices``, and unpacking.
sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])
kthvalue_result = namedtuple("kthvalue", ["values", "indices"])
median_result = namedtuple("median", ["values", "indices"])


def _tensor(x, op):
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op} takes a Tensor, got {type(x).__name__}")
    return x


# ------------------------------------------------------------------------------- scans

def _scan_dtype(op, x, dtype):
    """``x`` converted to the dtype its scan computes in, and the dtype of the result:
    ``dtype`` when given, int64 for integers and bools, float16 through float32."""
    if dtype is not None:
        x = ops.cast(x, nd.dtype_name(dtype))
    elif not x.dtype.startswith("float"):
        x = ops.cast(x, "int64")
    result = x.dtype
    return (ops.cast(x, "float32") if result == "float16" else x), result


class _Cumsum(Function):
    saved = ()          # the gradient is a scan of the output's gradient alone

    def forward(self, x):
        return run("cumsum", "cumsum", [x], attrs=(("axis", self.axis),))

    def backward(self, g):
        return (ops._kernel("cumsum", "cumsum", g, axis=self.axis, reverse=True),)


class _Cumprod(Function):
    def forward(self, x):
        self.out = run("cumprod", "cumprod", [x], attrs=(("axis", self.axis),))
        return self.out

    def backward(self, g):
        x, = self.inputs
        return (ops._kernel("cumprod_grad", "cumprod_grad", x, Tensor._wrap(self.out), g, axis=self.axis),)


def _scan(op, function, x, dim, dtype):
    _tensor(x, op)
    axis = check_axes.axis(op, dim, x.shape)
    x, result = _scan_dtype(op, x, dtype)
    if not x.ndim:                  # a 0-d tensor is its own prefix
        out = ops.clone(x)
    else:
        out = function.apply(x, axis=axis)
    return ops.cast(out, result)


def cumsum(x, dim, dtype=None):
    """Inclusive prefix sums along ``dim``; integers and bools give int64 (``dtype``
    converts ``x`` first), as PyTorch's."""
    return _scan("cumsum", _Cumsum, x, dim, dtype)


def cumprod(x, dim, dtype=None):
    """Inclusive prefix products along ``dim``; integers and bools give int64. The
    gradient is exact with zeros in ``x`` (see ``topi.cumprod_grad``)."""
    return _scan("cumprod", _Cumprod, x, dim, dtype)


# ---------------------------------------------------------------------------- gathering

def _values_at(x, indices, axis):
    """``x`` gathered along ``axis`` at ``indices`` it sorted (in range: no check); the
    gradient adds each element back where it came from (``gather``'s)."""
    return _Gather.apply(x, indices, axis=axis)


def _sort_axis(op, x, dim):
    """``dim`` of ``x`` checked (a 0-d tensor takes 0 and -1, as PyTorch's)."""
    _tensor(x, op)
    return check_axes.axis(op, dim, x.shape)


def _scalar_pair(x):
    """(``x``, index 0): the sort, top-1 or median of a 0-d tensor."""
    return ops.clone(x), Tensor._wrap(nd.array(np.zeros((), "int64"), device=x.device))


def _indices(x, axis, **attrs):
    """int64 indices sorting ``x`` along ``axis`` (``topi.argsort`` with ``attrs``)."""
    return ops._kernel("argsort", "argsort", x, axis=axis, **attrs)


def _drop_axis(t, axis, keepdim):
    return t if keepdim else ops.reshape(t, t.shape[:axis] + t.shape[axis + 1:])


# ------------------------------------------------------------------------------ sorting

def sort(x, dim=-1, descending=False, *, stable=False):
    """``(values, indices)`` of ``x`` sorted along ``dim`` (ascending unless
    ``descending``); always stable, NaN above every number."""
    axis = _sort_axis("sort", x, dim)
    if not x.ndim:
        return sort_result(*_scalar_pair(x))
    indices = _indices(x, axis, descending=bool(descending))
    return sort_result(_values_at(x, indices, axis), indices)


def argsort(x, dim=-1, descending=False, stable=False):
    """The int64 indices that sort ``x`` along ``dim`` (``sort(...).indices``)."""
    axis = _sort_axis("argsort", x, dim)
    if not x.ndim:
        return _scalar_pair(x)[1]
    return _indices(x, axis, descending=bool(descending))


def _check_k(op, k, n, low, shape):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not low <= k <= n:
        raise IndexingError(f"{op}: k={k!r} is out of range for a dimension of extent {n} (tensor of shape {shape}): "
                            f"expected {low} <= k <= {n}")
    return int(k)


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002  (torch's argument name)
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` and their
    indices, largest first (smallest first); ``sorted=False`` gives the same order.
    Equal elements are taken in index order."""
    axis = _sort_axis("topk", x, dim)
    if not x.ndim:
        _check_k("topk", k, 1, 0, x.shape)
        return topk_result(*_scalar_pair(x))
    k = _check_k("topk", k, x.shape[axis], 0, x.shape)
    indices = _indices(x, axis, descending=bool(largest), k=k)
    return topk_result(_values_at(x, indices, axis), indices)


def kthvalue(x, k, dim=-1, keepdim=False):
    """The ``k``-th smallest element along ``dim`` (``k`` from 1) and its index; among
    equal elements the first in index order."""
    axis = _sort_axis("kthvalue", x, dim)
    if not x.ndim:
        _check_k("kthvalue", k, 1, 1, x.shape)
        return kthvalue_result(*_scalar_pair(x))
    k = _check_k("kthvalue", k, x.shape[axis], 1, x.shape)
    indices = _indices(x, axis, k=1, start=k - 1)
    values = _values_at(x, indices, axis)
    return kthvalue_result(_drop_axis(values, axis, keepdim), _drop_axis(indices, axis, keepdim))


class _MedianAll(Function):
    """The lower median of a 1-D tensor (a NaN if it holds one), shape (1,); its
    gradient is shared evenly by the elements equal to it (all NaNs for a NaN), as
    PyTorch's ``median()``."""

    def forward(self, x):
        index = run("median_index", "median_index", [x], attrs=(("axis", 0),))
        self.out = run("gather", "gather", [x, index], attrs=(("axis", 0),))
        return self.out

    def backward(self, g):
        x, = self.inputs
        value = Tensor._wrap(self.out)
        mask = ops.compare(x, value, "eq")
        if x.dtype.startswith("float"):
            nan = ops.logical("and", ops.compare(x, x, "ne"), ops.compare(value, value, "ne"))
            mask = ops.logical("or", mask, nan)
        count = ops.sum(ops.cast(mask, x.dtype))
        return (ops.where(mask, g / count, 0.0),)


def median(x, dim=None, keepdim=False):
    """The lower median (``(n + 1) // 2``-th smallest): of all elements without
    ``dim`` (a 0-d tensor; NaN over no elements), else ``(values, indices)`` along
    ``dim``. A NaN in a row makes its median NaN (at the first NaN), as PyTorch's."""
    _tensor(x, "median")
    if x.dtype == "bool":
        raise DTypeError(f"median: not implemented for bool (tensor of shape {x.shape}), as in PyTorch; convert it "
                         "with .int() first")
    if dim is None:
        if not x._data.size:
            if not x.dtype.startswith("float"):
                raise ShapeError(f"median: an empty {x.dtype} tensor of shape {x.shape} has no median")
            return ops.sum(x) * math.nan
        flat = ops.reshape(x, (x._data.size,))
        return ops.reshape(_MedianAll.apply(flat), ())
    axis = _sort_axis("median", x, dim)
    if not x.ndim:
        return median_result(*_scalar_pair(x))
    if not x.shape[axis]:
        raise ShapeError(f"median: reducing axis {axis} of extent 0 of a tensor of shape {x.shape}; the median of no "
                         "elements is undefined")
    indices = ops._kernel("median_index", "median_index", x, axis=axis)
    values = _values_at(x, indices, axis)
    return median_result(_drop_axis(values, axis, keepdim), _drop_axis(indices, axis, keepdim))


# ----------------------------------------------------------------------------- randperm

#: Seeds of randperm's keys are drawn below this.
SEED_LIMIT = 1 << 62


def randperm(n, *, generator=None, dtype="int64", device=None, requires_grad=False):
    """A random permutation of ``0 .. n-1``: the argsort of ``n`` random keys hashed
    from a seed drawn from tvmini's generator (``tm.manual_seed`` reproduces it), or
    from ``generator`` (a ``numpy.random.Generator``)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ShapeError(f"randperm: n must be a non-negative int, got {n!r}")
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TVMiniError(f"randperm: generator must be a numpy.random.Generator (or None), got "
                          f"{type(generator).__name__}")
    dtype = nd.dtype_name(dtype)
    device = as_device(device or "cpu")
    source = generator if generator is not None else _host_draw("randperm")
    seed = int(source.integers(SEED_LIMIT))
    if not n:
        out = Tensor._wrap(nd.array(np.zeros(0, nd.normalize_dtype(dtype)), device=device))
    else:
        seed_tensor = Tensor._wrap(nd.array(np.asarray(seed, "int64"), device=device))
        keys = ops._kernel("randperm_keys", "randperm_keys", seed_tensor, n=int(n))
        out = ops.cast(_indices(keys, 0), dtype)
    return out.requires_grad_(True) if requires_grad else out


add_methods({name: method_of(function) for name, function in (
    ("cumsum", cumsum), ("cumprod", cumprod), ("sort", sort), ("argsort", argsort), ("topk", topk),
    ("kthvalue", kthvalue), ("median", median))})
