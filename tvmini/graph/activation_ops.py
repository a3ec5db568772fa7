"""Activations composed of other graph ops, so their gradients come from those ops:
``prelu`` (a learnable negative slope, per channel or shared) and ``glu`` (one half of
an axis gating the other)."""
from ..errors import ShapeError
from . import ops
from .join_ops import chunk
from .nn_ops import _check_float


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
