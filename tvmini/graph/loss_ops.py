"""More losses with PyTorch's formulas and reductions: L1, smooth L1, Huber, binary cross
entropy on probabilities, and KL divergence. Each is written with graph ops (so its
gradient is the ops' kernels, PyTorch's at the seams: ``|d|`` has gradient 0 at 0)."""
from ..errors import ShapeError
from . import ops
from .join_ops import clamp
from .nn_ops import _reduce_loss


def _pair(op, input, target):
    """``input - target`` after checking devices, dtypes and equal shapes."""
    ops.check_same(op, input, target)
    if input.shape != target.shape:
        raise ShapeError(f"{op}: input of shape {input.shape} and target of shape {target.shape} differ")
    return input - target


def l1_loss(input, target, reduction="mean"):
    """``|input - target|``, reduced."""
    return _reduce_loss("l1_loss", ops.abs(_pair("l1_loss", input, target)), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``beta=0``: L1)."""
    d = _pair("smooth_l1_loss", input, target)
    size = ops.abs(d)
    if beta == 0:
        return _reduce_loss("smooth_l1_loss", size, reduction)
    loss = ops.where(ops.compare(size, beta, "lt"), d * d * (0.5 / beta), size - 0.5 * beta)
    return _reduce_loss("smooth_l1_loss", loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    if delta <= 0:
        raise ShapeError(f"huber_loss: delta must be positive, got {delta}")
    d = _pair("huber_loss", input, target)
    size = ops.abs(d)
    loss = ops.where(ops.compare(size, delta, "lt"), d * d * 0.5, (size - 0.5 * delta) * delta)
    return _reduce_loss("huber_loss", loss, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``-(t log p + (1 - t) log(1 - p))`` for probabilities ``p`` (each log clamped at
    -100, as PyTorch, so p = 0 or 1 gives a finite loss); ``weight`` scales each term."""
    _pair("binary_cross_entropy", input, target)
    loss = -(target * clamp(ops.log(input), min=-100.0) + (1.0 - target) * clamp(ops.log(1.0 - input), min=-100.0))
    if weight is not None:
        loss = loss * weight
    return _reduce_loss("binary_cross_entropy", loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """``target * (log target - input)`` for log-probabilities ``input`` (0 where the
    target is 0); ``reduction="batchmean"``: the sum over the batch size, the true KL."""
    _pair("kl_div", input, target)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        positive = ops.compare(target, 0.0, "gt")
        safe = ops.where(positive, target, 1.0)
        loss = ops.where(positive, target * (ops.log(safe) - input), 0.0)
    if reduction == "batchmean":
        return ops.sum(loss) * (1.0 / input.shape[0]) if input.ndim else ops.sum(loss)
    return _reduce_loss("kl_div", loss, reduction)
