"""Negative log-likelihood losses of distributions with PyTorch's formulas: Poisson
(``poisson_nll_loss``, with the Stirling term when ``full``) and Gaussian
(``gaussian_nll_loss``, with PyTorch's rules for the shape of the variance). Compositions
of graph ops, so their gradients are those ops' kernels."""
import math

from ..errors import ShapeError
from . import dispatch, ops
from .creation import full_like
from .join_ops import clamp
from .margin_losses import _float_input, legacy_reduction
from .nn_ops import _reduce_loss
from .tensor import Tensor


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """Poisson negative log-likelihood of counts ``target`` under rate ``exp(input)``
    (``log_input``: ``exp(input) - target * input``) or rate ``input`` (``input - target
    * log(input + eps)``); ``full`` adds Stirling's approximation of ``log(target!)``,
    ``target log target - target + 0.5 log(2 pi target)``, where ``target > 1``."""
    op = "poisson_nll_loss"
    reduction = legacy_reduction(op, size_average, reduce, reduction)
    _float_input(op, input)
    ops.broadcast_shapes(op, input.shape, target.shape)
    if log_input:
        loss = ops.exp(input) - target * input
    else:
        loss = input - target * ops.log(input + eps)
    if full:
        big = ops.compare(target, 1, "gt")
        safe = ops.where(big, target, 1.0)      # the log is taken where it is kept only
        stirling = safe * ops.log(safe) - safe + 0.5 * ops.log(safe * (2 * math.pi))
        loss = loss + ops.where(big, stirling, 0.0)
    return _reduce_loss(op, loss, reduction)


def _variance_shape(op, input, var):
    """``var`` shaped to broadcast against ``input`` by PyTorch's rules: the input's shape;
    the input's shape less its last axis (one variance per sample: a last axis of 1 is
    added); or the input's rank with exactly one mismatched axis, where ``var`` holds 1."""
    if var.shape == input.shape:
        return var
    if var.shape == input.shape[:-1] and input.ndim:
        return ops.reshape(var, var.shape + (1,))
    if var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1:
        return var
    raise ShapeError(f"{op}: var of shape {var.shape} does not fit the input of shape {input.shape} (need the "
                     "input's shape, the input's shape less its last axis, or one axis of size 1 where they differ)")


def _check_nonnegative(op, var):
    """PyTorch's refusal of a negative variance, where it can be read
    (:func:`.dispatch.host_range`; a GPU variance, or one a jitted step computes, is not
    read back: a negative one is clamped)."""
    found = dispatch.host_range(var, 0.0)
    if found is not None:
        raise ShapeError(f"{op}: var has negative entries (smallest {found[0]}, var of shape {var.shape})")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """``0.5 (log v + (input - target)^2 / v)`` (plus ``0.5 log(2 pi)`` when ``full``)
    with ``v = max(var, eps)``. As PyTorch, the clamp does not stop the gradient: ``var``
    gets the gradient of the formula at the clamped value (straight through). ``var`` is
    a tensor (see :func:`_variance_shape`) or a non-negative number."""
    op = "gaussian_nll_loss"
    _float_input(op, input)
    if not isinstance(var, Tensor):
        if var < 0:
            raise ShapeError(f"{op}: var has negative entries (got {var})")
        var = full_like(input, float(var))
    _check_nonnegative(op, var)
    var = _variance_shape(op, input, var)
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    held = var.detach()
    var = var + (clamp(held, min=eps) - held)
    diff = input - target
    loss = 0.5 * (ops.log(var) + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce_loss(op, loss, reduction)
