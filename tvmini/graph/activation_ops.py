"""Activations composed of other graph ops, so their gradients come from those ops:
``prelu`` (a learnable negative slope, per channel or shared), ``glu`` (one half of
an axis gating the other), ``rrelu`` (randomized leaky ReLU) and ``gumbel_softmax``.

The random numbers of ``rrelu`` and ``gumbel_softmax`` are one sampling kernel each on
tvmini's counter-based generator (``random_ops``): made on the tensor's device,
reproduced by ``tm.manual_seed`` and drawn anew at each ``tm.jit`` replay.
"""
from ..errors import ArgumentError, ShapeError
from . import axes as check_axes
from . import ops
from .creation import arange
from .join_ops import chunk
from .nn_ops import _check_float, softmax
from .pointwise_ops import leaky_relu
from .random_ops import _sample_like


def prelu(x, weight):
    """``x`` where positive, else ``weight * x`` (PyTorch's ``F.prelu``): ``weight`` has
    one slope, or one per channel (axis 1; axis 0 of a 1-D input). The gradient reaches
    the slopes too; at 0 the input's gradient is the slope's branch, as PyTorch's."""
    op = "prelu"
    _check_float(op, x, weight)
    ops.check_same(op, x, weight)
    if x.ndim == 0:
        raise ShapeError(f"{op}: needs at least one axis, got a 0-d tensor")
    channel = 1 if x.ndim >= 2 else 0
    if weight.ndim != 1 or weight.shape[0] not in (1, x.shape[channel]):
        raise ShapeError(f"{op}: weight of shape {weight.shape} must hold 1 slope or one per channel ("
                         f"{x.shape[channel]}, axis {channel} of an input of shape {x.shape})")
    slope = ops.reshape(weight, weight.shape + (1,) * (x.ndim - channel - 1))
    return ops.where(ops.compare(x, 0, "gt"), x, slope * x)


def glu(x, dim=-1):
    """``a * sigmoid(b)`` for the halves ``a``, ``b`` of axis ``dim`` (of even extent)."""
    if x.ndim == 0:
        raise ShapeError("glu: does not take a 0-d tensor")
    axis = dim % x.ndim if -x.ndim <= dim < x.ndim else dim
    if not 0 <= axis < x.ndim or x.shape[axis] % 2:
        raise ShapeError(f"glu: halving dimension {dim} of a tensor of shape {x.shape} needs an axis of even extent")
    a, b = chunk(x, 2, axis)
    return a * ops.sigmoid(b)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: ``x`` where positive, else ``a * x``; in training each
    element's slope ``a`` is drawn uniformly from ``[lower, upper]`` (the gradient is
    that slope), in evaluation ``a`` is their mean ``(lower + upper) / 2``.
    ``inplace=True`` is accepted; the result is computed out of place (``F.rrelu_``
    writes it over the input)."""
    _check_float("rrelu", input)
    lower, upper = float(lower), float(upper)
    if lower > upper:
        raise ArgumentError(f"rrelu: lower bound {lower} must be less than or equal to the upper bound {upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    slopes = _sample_like(input.detach(), "uniform", lower, upper)
    return ops.where(ops.compare(input, 0, "gt"), input, input * slopes)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """A sample of the Gumbel-softmax distribution over axis ``dim``:
    ``softmax((logits + g) / tau)`` with Gumbel noise ``g = -log(E)``, ``E`` exponential.
    ``hard``: the one-hot vector of the sample's largest entry, with the soft sample's
    gradient (straight-through: ``y_hard - y_soft.detach() + y_soft``). ``eps`` is
    PyTorch's unused, deprecated argument."""
    _check_float("gumbel_softmax", logits)
    if logits.ndim == 0:
        raise ShapeError("gumbel_softmax: expects a tensor with at least one dimension, got a 0-d tensor")
    axis = check_axes.axis("gumbel_softmax", dim, logits.shape)
    if float(tau) <= 0:
        raise ArgumentError(f"gumbel_softmax: tau must be positive, got {tau}")
    gumbels = -_sample_like(logits.detach(), "exponential", 1.0).log()
    soft = softmax((logits + gumbels) / float(tau), dim=axis)
    if not hard:
        return soft
    index = ops.argmax(soft, axis, keepdims=True)
    positions = ops.reshape(arange(soft.shape[axis], device=soft.device),
                            tuple(n if k == axis else 1 for k, n in enumerate(soft.shape)))
    one_hot = ops.cast(ops.compare(positions, index, "eq"), soft.dtype)
    return one_hot - soft.detach() + soft
