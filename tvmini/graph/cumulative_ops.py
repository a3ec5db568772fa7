"""Running reductions and differences along one axis, PyTorch's: ``cummax`` and
``cummin`` (values and indices), ``logcumsumexp`` and ``diff``.

``cummax``/``cummin`` find the values and the indices with one ``topi.cumulative``
kernel; the values' gradient is ``gather``'s at the indices (each ``g`` added at the
element it came from), as PyTorch's. ``logcumsumexp`` is one kernel: a
shift by the line's maximum and a plain scan (``logcumsumexp_scaled``; 256x256 on one
core 18.9 -> 0.26 ms, see benchmarks/tensorops.py), or, where that is not exact for some
line (values spanning more than float64's exponent range, inf, NaN) and inside
``tm.jit``, one reducing with a stable log-add-exp; its gradient, ``sum over i >= k`` of
``g[i] exp(x[k] - out[i])``, is computed in log space as PyTorch's (the positive and
negative parts of ``g`` separately, each a reversed logcumsumexp), so it neither
overflows nor underflows where the forward does not. ``diff`` is differences of two
narrowed copies, repeated ``n`` times (a bool tensor's by ``!=``, as PyTorch's xor).
"""
from collections import namedtuple

from ..errors import DTypeError, ShapeError
from ..topi import cumulative
from . import axes as check_axes
from . import dispatch, ops
from .autograd import Function
from .dispatch import run
from .join_ops import cat
from .logic_ops import where
from .reorder_ops import narrow
from .tensor import Tensor, add_methods

#: PyTorch's result of cummax/cummin: a named (values, indices) pair
CumulativeResult = namedtuple("CumulativeResult", ["values", "indices"])


def _cumextreme_kernel(x, axis, largest):
    return cumulative.cumextreme(x, axis, largest)


class _Reached(Function):
    """The running extreme's ``values`` (computed by the scan with the indices) as a
    function of ``x``: ``x`` gathered at ``indices``, so its gradient is gather's (each
    ``g`` added at the element it came from), as PyTorch's."""
    nondiff = (1,)
    saved = (1,)

    def forward(self, x, indices):
        return self.values

    def backward(self, g):
        x, indices = self.inputs
        return ops._kernel("gather_grad", "gather_grad", g, indices, x_shape=x.shape, axis=self.axis), None


def _cumextreme(op, input, dim, largest):
    if not isinstance(input, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(input).__name__}")
    axis = check_axes.axis(op, dim, input.shape)
    if input.dtype == "bool":
        raise DTypeError(f"{op}: not for a bool tensor (shape {input.shape}); convert it to an integer type")
    if not input.ndim:
        return CumulativeResult(ops.clone(input), ops._as_tensor(0, ops.cast(input, "int64")))
    if not input.numel():
        return CumulativeResult(ops.clone(input), ops.cast(input.detach(), "int64"))
    values, indices = run(op, _cumextreme_kernel, [input._data], attrs=(("axis", axis), ("largest", largest)))
    indices = Tensor._wrap(indices)
    return CumulativeResult(_Reached.apply(input, indices, values=values, axis=axis), indices)


def cummax(input, dim):
    """(values, indices): the running maximum along ``dim`` and where it was reached
    (the last such position; a NaN, once seen, stays the maximum)."""
    return _cumextreme("cummax", input, dim, True)


def cummin(input, dim):
    """(values, indices): the running minimum along ``dim`` (see :func:`cummax`)."""
    return _cumextreme("cummin", input, dim, False)


def _logcumsumexp_kernel(x, axis, reverse):
    return cumulative.logcumsumexp(x, axis, reverse)


def _scaled_kernel(x, axis, reverse):
    return cumulative.logcumsumexp_scaled(x, axis, reverse)


def _lse_array(x, axis, reverse):
    """The (reversed) logcumsumexp of NDArray ``x``: the scaled scan
    (``topi.cumulative.logcumsumexp_scaled``), or the stable reduction where that is not
    exact for some line (read on the host: one int), or inside ``tm.jit`` (a traced step
    must not depend on the data)."""
    attrs = (("axis", axis), ("reverse", reverse))
    if dispatch.thread.tracer is None:
        out, bad = run("logcumsumexp_scaled", _scaled_kernel, [x], attrs=attrs)
        if not int(bad.numpy()[0]):
            return out
    return run("logcumsumexp", _logcumsumexp_kernel, [x], attrs=attrs)


class _LogCumSumExp(Function):
    def forward(self, x):
        self.result = _lse_array(x, self.axis, False)
        return self.result

    def backward(self, g):
        x, = self.inputs
        out = Tensor._wrap(self.result)
        minus_inf = ops._as_tensor(float("-inf"), g)

        def part(weights):
            # log of sum over i >= k of weights[i] * exp(-out[i]), then times exp(x[k])
            logs = where(weights > 0, ops.log(where(weights > 0, weights, ops._as_tensor(1, g))), minus_inf)
            return ops.exp(_reversed_lse(logs - out, self.axis) + x)
        return (part(g) - part(-g),)


def _reversed_lse(x, axis):
    if dispatch.thread.tracer is not None:
        return ops._kernel("logcumsumexp", _logcumsumexp_kernel, x, axis=axis, reverse=True)
    return Tensor._wrap(_lse_array(x._data, axis, True))


def logcumsumexp(input, dim):
    """``log(cumsum(exp(input)))`` along ``dim``, computed stably (no overflow for large
    values, no underflow to -inf for small ones); floats only, as PyTorch's."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"logcumsumexp: takes a Tensor, got {type(input).__name__}")
    if not input.dtype.startswith("float"):
        raise DTypeError(f"logcumsumexp: needs a float tensor, got {input.dtype} (shape {input.shape})")
    axis = check_axes.axis("logcumsumexp", dim, input.shape)
    if not input.ndim or not input.numel():
        return ops.clone(input)
    return _LogCumSumExp.apply(input, axis=axis)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (``out[i] = x[i + 1] - x[i]``,
    repeated; ``n = 0``: the input as it is), after joining ``prepend`` and ``append`` (tensors of ``input``'s shape
    off ``dim``) on either side; bool tensors give ``x[i + 1] != x[i]``."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"diff: takes a Tensor, got {type(input).__name__}")
    if not input.ndim:
        raise ShapeError("diff: expects input to be at least one-dimensional, got a 0-d tensor")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ShapeError(f"diff: order must be a non-negative int, got {n!r}")
    axis = check_axes.axis("diff", dim, input.shape)
    if not n:                   # the input itself, without prepend/append (numpy's and PyTorch's)
        return input
    parts = [t for t in (prepend, input, append) if t is not None]
    for t in parts:
        if not isinstance(t, Tensor) or t.ndim != input.ndim:
            raise ShapeError(f"diff: prepend and append must be tensors of the input's rank {input.ndim}, got "
                             f"{t.shape if isinstance(t, Tensor) else type(t).__name__}")
    x = cat(parts, axis) if len(parts) > 1 else input
    for _ in range(n):
        length = x.shape[axis] - 1
        if length <= 0:
            return narrow(x, axis, 0, 0)
        later, earlier = narrow(x, axis, 1, length), narrow(x, axis, 0, length)
        x = later != earlier if x.dtype == "bool" else later - earlier
    return x


add_methods({
    "cummax": lambda self, dim: cummax(self, dim),
    "cummin": lambda self, dim: cummin(self, dim),
    "logcumsumexp": lambda self, dim: logcumsumexp(self, dim),
    "diff": lambda self, n=1, dim=-1, prepend=None, append=None: diff(self, n, dim, prepend, append),
})
