"""Ops whose result's size depends on the data — ``nonzero``, one-argument ``where``,
``masked_select``, ``bincount`` — and ``count_nonzero``, plus PyTorch's remaining binary
math spellings (``logaddexp``, ``logit``, ``xlogy``, ``copysign``, ``floor_divide``,
``true_divide``), all written with tvmini's ops.

The data-dependent ones compute their mask (or the largest value) with a kernel and read
it on the host to size the result: a synchronisation, as PyTorch's on a GPU. The values
are then picked by a kernel (``take``, ``scatter_add``), whose gradient the result keeps.
"""
import numpy as np

from ..errors import DTypeError, ShapeError
from ..runtime import ndarray as nd
from . import axes as check_axes
from . import ops
from .gather_ops import scatter_add, take
from .logic_ops import where as _where3
from .tensor import Tensor, add_methods


def _int64(values, device):
    return Tensor._wrap(nd.array(np.ascontiguousarray(values, dtype="int64"), device=device))


def nonzero(input, *, as_tuple=False):
    """The indices of the non-zero elements in row-major order: an (n, ndim) int64 tensor,
    or with ``as_tuple`` one 1-D tensor per axis (a 0-d input counts as 1-D)."""
    found = np.nonzero((input != 0).numpy().reshape(input.shape or (1,)))
    if as_tuple:
        return tuple(_int64(axis, input.device) for axis in found)
    return _int64(np.stack(found, axis=1) if input.ndim else np.zeros((len(found[0]), 0)), input.device)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (broadcasting); with the
    condition alone, ``nonzero(condition, as_tuple=True)`` as PyTorch's."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise ShapeError("where: give both input and other, or neither (the indices of the true elements)")
    return _where3(condition, input, other)


def masked_select(input, mask):
    """The elements of ``input`` where the bool ``mask`` holds (broadcast together), as a
    1-D tensor in row-major order; its gradient goes back to those elements."""
    if mask.dtype != "bool":
        raise DTypeError(f"masked_select: mask must be a bool tensor, got {mask.dtype}")
    shape = ops.broadcast_shapes("masked_select", input.shape, mask.shape)
    input = ops.broadcast_to(input, shape) if input.shape != shape else input
    picked = np.flatnonzero(np.broadcast_to(mask.numpy(), shape))
    return take(input, _int64(picked, input.device))


def count_nonzero(input, dim=None):
    """How many elements are not zero, over ``dim`` (an axis or axes; all by default)."""
    return ops.sum(ops.cast(input != 0, "int64"), check_axes.axes("count_nonzero", dim, input.shape))


def bincount(input, weights=None, minlength=0):
    """How often each value ``0 .. max`` occurs in the 1-D non-negative integer ``input``
    (at least ``minlength`` bins), or the sums of ``weights`` per value; a
    ``scatter_add`` into zeros, so the weights get their gradient."""
    if input.ndim != 1 or input.dtype not in ("int8", "uint8", "int32", "int64"):
        raise ShapeError(f"bincount: input must be a 1-D integer tensor, got {input.dtype} of shape {input.shape}")
    values = input.numpy()
    if values.size and values.min() < 0:
        raise ShapeError(f"bincount: input must be non-negative, got {values.min()}")
    bins = max(int(values.max()) + 1 if values.size else 0, int(minlength))
    if weights is None:
        counts = np.bincount(values, minlength=bins).astype("int64")      # integers: no gradient to carry
        return _int64(counts, input.device)
    if weights.shape != input.shape:
        raise ShapeError(f"bincount: weights of shape {weights.shape} do not match input of shape {input.shape}")
    weights = weights if weights.dtype.startswith("float") else ops.cast(weights, "float64")
    zeros = Tensor._wrap(nd.zeros((bins,), weights.dtype, weights.device))
    return scatter_add(zeros, 0, ops.cast(input, "int64"), weights)


# ------------------------------------------------------------------- binary math spellings

def logaddexp(input, other):
    """``log(exp(a) + exp(b))`` without overflow: the larger taken out first, unless it
    is infinite (``inf - inf`` would be NaN: ``+inf`` then gives ``inf``, two ``-inf``
    give ``-inf``, as PyTorch); the gradient is the softmax of the pair."""
    top = ops.maximum(input, other)
    finite = ops.where((top == float("-inf")) | (top == float("inf")), 0.0, top)
    return finite + ((input - finite).exp() + (other - finite).exp()).log()


def logit(input, eps=None):
    """``log(p / (1 - p))``, ``p`` clamped to ``[eps, 1 - eps]`` first when ``eps`` is given;
    spelled ``log(p) - log1p(-p)`` so its gradient ``1/p + 1/(1 - p)`` is ``inf`` at 0 and 1,
    as PyTorch's (the quotient's chain rule gives NaN there)."""
    if eps is not None:
        input = input.clamp(eps, 1 - eps)
    return input.log() - (-input).log1p()


def xlogy(input, other):
    """``x * log(y)``, 0 where ``x`` is 0 (unless ``y`` is NaN), with PyTorch's gradients:
    ``log(y)`` for ``x`` (0 where ``x`` is 0 and ``y <= 0``), ``x / y`` for ``y``."""
    x, y = ops.promote("xlogy", *(t if isinstance(t, Tensor) else ops._as_tensor(t, u) for t, u in
                                  ((input, other), (other, input))))
    x, y = (ops.cast(t, "float32") if not t.dtype.startswith("float") else t for t in (x, y))
    zero = x == 0
    log_y = ops.where(zero & (y <= 0), 0.0, y.log())      # x * log_y is then 0 at x == 0 unless y is inf or NaN
    return ops.where(zero & (y == float("inf")), 0.0, x * log_y)


def copysign(input, other):
    """``|a|`` with the sign of ``b`` (its sign bit: ``-0.0`` counts as negative)."""
    other = other if isinstance(other, Tensor) else ops._as_tensor(float(other), input)
    negative = (other < 0) | ((other == 0) & (1.0 / other < 0))
    magnitude = (input if input.dtype.startswith("float") else ops.cast(input, "float32")).abs()
    return ops.where(negative, -magnitude, magnitude)


def floor_divide(input, other):
    """``input // other`` (rounding toward minus infinity, as PyTorch's since 1.13)."""
    return input // other


def true_divide(input, other):
    """``input / other`` (always a float result)."""
    return input / other


add_methods({
    "nonzero": lambda self, *, as_tuple=False: nonzero(self, as_tuple=as_tuple),
    "masked_select": lambda self, mask: masked_select(self, mask),
    "count_nonzero": lambda self, dim=None: count_nonzero(self, dim),
    "bincount": lambda self, weights=None, minlength=0: bincount(self, weights, minlength),
    "logaddexp": lambda self, other: logaddexp(self, other),
    "logit": lambda self, eps=None: logit(self, eps),
    "xlogy": lambda self, other: xlogy(self, other),
    "copysign": lambda self, other: copysign(self, other),
    "floor_divide": lambda self, other: floor_divide(self, other),
    "true_divide": lambda self, other: true_divide(self, other),
})
