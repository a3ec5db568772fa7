"""Statistics and norms built from the reduction kernels, PyTorch's names and defaults:
``var``/``std`` (``correction=1``: Bessel's), ``logsumexp`` (stable: the maximum is
taken out first), ``norm`` (p = 2, 1, inf, -inf or any positive p), ``all``/``any``
over integer, float or bool tensors, ``layer_norm`` and ``group_norm``. Their gradients come from the
ops they are written with (each a kernel), so they differentiate and trace under
``tm.jit``.
"""
import math

from ..errors import DTypeError, ShapeError
from . import axes as check_axes
from . import ops
from .tensor import Tensor


def _float(x, op):
    """``x`` as a floating-point tensor (integers cast to float32); bool and non-tensors refused."""
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.startswith("float"):
        return x
    if x.dtype == "bool":
        raise DTypeError(f"{op}: needs a numeric tensor, got bool of shape {x.shape}")
    return ops.cast(x, "float32")


def var(x, dim=None, correction=1, keepdim=False, *, unbiased=None):
    """Variance over ``dim`` (None: all elements), dividing by ``N - correction``
    (PyTorch's older ``unbiased=False`` means ``correction=0``)."""
    if unbiased is not None:
        correction = int(bool(unbiased))
    x = _float(x, "var")
    axes = check_axes.axes("var", dim, x.shape)
    count = math.prod(x.shape[a] for a in axes)
    centred = x - ops.mean(x, axes, keepdims=True)
    squares = ops.sum(centred * centred, axes, keepdims=keepdim)
    return squares * (1.0 / (count - correction) if count > correction else math.nan)


def _sqrt_zero_safe(x):
    """``sqrt(x)`` whose gradient is 0 (not NaN) where ``x`` is 0, as PyTorch's norm and
    std give: the square root only sees positive values, the rest is ``x * 0`` (0 for
    0, NaN kept: the std of too few elements is NaN, as the variance)."""
    positive = ops.compare(x, 0.0, "gt")
    return ops.where(positive, ops.sqrt(ops.where(positive, x, 1.0)), x * 0.0)


def std(x, dim=None, correction=1, keepdim=False, *, unbiased=None):
    """Standard deviation: ``sqrt(var)`` (gradient 0 where the variance is 0)."""
    return _sqrt_zero_safe(var(x, dim, correction, keepdim, unbiased=unbiased))


def logsumexp(x, dim, keepdim=False):
    """``log(sum(exp(x)))`` over ``dim``, without overflow (the maximum is subtracted
    first and added back; it carries no gradient of its own, as it cancels)."""
    x = _float(x, "logsumexp")
    axes = check_axes.axes("logsumexp", dim, x.shape)
    if 0 in [x.shape[a] for a in axes]:      # no terms: log(0) = -inf, as PyTorch's
        return ops.log(ops.sum(ops.exp(x), axes, keepdims=keepdim))
    top = ops.max(x, axes, keepdims=True).detach()
    # an infinite or NaN maximum shifts nothing (an all -inf row gives -inf, a +inf one +inf)
    top = ops.where(ops.compare(top - top, 0.0, "eq"), top, 0.0)
    out = ops.log(ops.sum(ops.exp(x - top), axes, keepdims=True)) + top
    return out if keepdim else ops.reshape(out, tuple(n for k, n in enumerate(x.shape) if k not in axes))


def norm(x, p=2, dim=None, keepdim=False):
    """The vector ``p``-norm over ``dim`` (None: all elements, the Frobenius norm for p=2)."""
    x = _float(x, "norm")
    if p == "fro":
        p = 2
    if not isinstance(p, (int, float)) or (p <= 0 and p != -math.inf):
        raise ShapeError(f"norm: p must be positive, inf or -inf, got {p!r}")
    axes = check_axes.axes("norm", dim, x.shape)
    size = ops.abs(x)
    if p == math.inf:
        return ops.max(size, axes, keepdim)
    if p == -math.inf:
        return ops.min(size, axes, keepdim)
    if p == 1:
        return ops.sum(size, axes, keepdim)
    if p == 2:
        return _sqrt_zero_safe(ops.sum(x * x, axes, keepdim))
    return ops.sum(size ** p, axes, keepdim) ** (1.0 / p)


def _nonzero(x):
    """1 where ``x`` is nonzero (True), else 0: int32."""
    return ops.cast(x if x.dtype == "bool" else ops.compare(x, 0, "ne"), "int32")


def any(x, dim=None, keepdim=False):
    """Whether some element over ``dim`` is nonzero (True); bool."""
    return ops.compare(ops.sum(_nonzero(x), dim, keepdim), 0, "gt")


def all(x, dim=None, keepdim=False):
    """Whether every element over ``dim`` is nonzero (True); bool."""
    axes = check_axes.axes("all", dim, x.shape)
    count = math.prod(x.shape[a] for a in axes)
    return ops.compare(ops.sum(_nonzero(x), dim, keepdim), count, "eq")


def _normalized(x, axes, eps):
    """``(x - mean) / sqrt(var + eps)`` with the mean and biased variance over ``axes``."""
    centred = x - ops.mean(x, axes, keepdims=True)
    return centred / ops.sqrt(ops.mean(centred * centred, axes, keepdims=True) + eps)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with the statistics (biased
    variance) over the trailing axes ``normalized_shape``, as PyTorch's ``layer_norm``."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(normalized_shape)
    if n == 0 or x.shape[x.ndim - n:] != normalized_shape:
        raise ShapeError(f"layer_norm: normalized_shape {normalized_shape} is not the trailing shape of a tensor of "
                         f"shape {x.shape}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != normalized_shape:
            raise ShapeError(f"layer_norm: {name} of shape {param.shape} does not match {normalized_shape}")
    out = _normalized(x, tuple(range(x.ndim - n, x.ndim)), eps)
    if weight is not None:
        out = out * weight
    return out + bias if bias is not None else out


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """PyTorch's ``group_norm``: the C channels of x (N, C, *) split into ``num_groups``
    groups, each sample's group normalised by its own mean and biased variance, then
    ``* weight + bias`` per channel (shape (C,))."""
    if x.ndim < 2:
        raise ShapeError(f"group_norm: input must be (N, C, *), got shape {x.shape}")
    channels = x.shape[1]
    if not isinstance(num_groups, int) or num_groups < 1 or channels % num_groups:
        raise ShapeError(f"group_norm: num_groups={num_groups!r} must be a positive int dividing the {channels} "
                         "channels")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != (channels,):
            raise ShapeError(f"group_norm: {name} of shape {param.shape} does not match the {channels} channels")
    x = _float(x, "group_norm")
    out = ops.reshape(_normalized(ops.reshape(x, (x.shape[0], num_groups, -1)), (2,), eps), x.shape)
    per_channel = (channels,) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * ops.reshape(weight, per_channel)
    return out + ops.reshape(bias, per_channel) if bias is not None else out


def normalize(x, p=2.0, dim=1, eps=1e-12):
    """``x`` divided by its ``p``-norm along ``dim``, floored at ``eps`` (PyTorch's
    ``F.normalize``: ``x / max(||x||_p, eps)``)."""
    return x / norm(x, p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (broadcast
    together first), each normalized with its norm floored at ``eps`` (as PyTorch's
    ``F.cosine_similarity``, which divides each by its own clamped norm)."""
    shape = ops.broadcast_shapes("cosine_similarity", x1.shape, x2.shape)
    x1, x2 = ops.broadcast_to(x1, shape), ops.broadcast_to(x2, shape)
    return ops.sum(normalize(x1, 2, dim, eps) * normalize(x2, 2, dim, eps), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``||x1 - x2 + eps||_p`` along the last axis (PyTorch's ``F.pairwise_distance``)."""
    return norm(x1 - x2 + eps, p, -1, keepdim)
