"""Neural-network ops: first-class kernels (dense, softmax, losses, convolution, pooling,
batch norm, dropout) with their gradient rules.

These stay whole kernels instead of compositions of elementwise ops because that is
what makes them fast (a GEMM schedule, a fused softmax-minus-one-hot gradient). Every
public function checks its operands and raises an error naming the op and the shapes.
"""
import math
import warnings

from .. import te, topi
from ..codegen import parallel
from ..errors import DTypeError, ShapeError, TVMiniError
from . import axes, dispatch, ops
from .autograd import Function
from .dispatch import run
from .ops import _kernel, check_same
from .pointwise_ops import logsigmoid
from .tensor import Tensor


def _check_tensor(op, *tensors):
    """Refuse a non-tensor (a numpy array or list: PyTorch's TypeError) naming the op."""
    for t in tensors:
        if not isinstance(t, Tensor):
            raise DTypeError(f"{op}: expected Tensor operands, got {type(t).__name__}")


def _check_float(op, *tensors):
    """Refuse anything but floating-point tensors (naming the op)."""
    _check_tensor(op, *tensors)
    for t in tensors:
        if not t.dtype.startswith("float"):
            raise DTypeError(f"{op}: expects floating-point tensors, got {t.dtype} of shape {t.shape}")


# ---------------------------------------------------------------------------- dense

class _Dense(Function):
    def forward(self, x, w, b=None):
        return run("dense", "dense", [x, w] if b is None else [x, w, b])

    def backward(self, g):
        x, w = self.inputs[0], self.inputs[1]
        gx = _kernel("matmul", "matmul", g, w) if x.requires_grad else None
        gw = _kernel("matmul", "matmul", g, x, transpose_a=True, **_split_by_rows(g, x)) if w.requires_grad else None
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, (ops.sum(g, 0) if self.inputs[2].requires_grad else None)


def _split_by_rows(g, x):
    """``parts`` for the weight gradient ``g^T @ x`` on the CPU: split by batch rows
    between the threads when that pays (``topi.nn.reduction_parts``), else nothing."""
    if g.device.kind != "cpu":
        return {}
    parts = topi.nn.reduction_parts(g.shape[1], x.shape[1], g.shape[0], g.dtype, parallel.thread_count())
    return {"parts": parts} if parts > 1 else {}


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` with PyTorch's layout: weight (out, in), bias (out,);
    ``x`` may have any number of leading axes."""
    check_same("linear", x, weight)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} "
                         "(need (..., in) and (out, in))")
    if bias is not None:
        check_same("linear", x, bias)
        if bias.shape != (weight.shape[0],):
            raise ShapeError(f"linear: bias of shape {bias.shape} does not match weight of shape {weight.shape}")
    lead = x.shape[:-1]
    flat = x if x.ndim == 2 else ops.reshape(x, (math.prod(lead), x.shape[-1]))
    out = _Dense.apply(flat, weight) if bias is None else _Dense.apply(flat, weight, bias)
    return out if x.ndim == 2 else ops.reshape(out, lead + (weight.shape[0],))


# ---------------------------------------------------------------------------- softmax

class _Softmax(Function):
    saved = ()          # the gradient reads the output only
    def forward(self, x):
        self.out = run(self.op, self.op, [x], attrs=(("axis", self.axis),))
        return self.out

    def backward(self, g):
        return (_kernel(f"{self.op}_grad", f"{self.op}_grad", Tensor._wrap(self.out), g, axis=self.axis),)


def _implicit_dim(op, ndim):
    """PyTorch's legacy choice when no ``dim`` is given: 0 for 0-, 1- and 3-D inputs,
    else 1 (not the last axis), with its deprecation warning."""
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(op, x, axis, dim, dtype):
    """``op`` ("softmax", "log_softmax" or "softmin": the softmax kernel on ``-x``) along
    the resolved axis of ``x`` converted to ``dtype``."""
    if dim is not None:             # PyTorch's spelling
        if axis is not None:
            raise TVMiniError(f"{op}: give axis= or dim=, not both (got {axis!r} and {dim!r})")
        axis = dim
    if dtype is not None:           # PyTorch casts the input first
        x = ops.cast(x, dtype)
    _check_float(op, x)
    if axis is None:
        axis = _implicit_dim(op, x.ndim)
    kernel = op
    if op == "softmin":
        x, kernel = ops.neg(x), "softmax"
    if not x.shape:                 # a 0-d tensor: one element along axis 0 (or -1)
        axes.axis(op, axis, (1,))
        return ops.reshape(_Softmax.apply(ops.reshape(x, (1,)), op=kernel, axis=0), ())
    return _Softmax.apply(x, op=kernel, axis=axes.axis(op, axis, x.shape))


def softmax(x, axis=None, _stacklevel=3, dtype=None, *, dim=None):
    """``exp(x) / sum(exp(x))`` along ``axis`` (or PyTorch's ``dim``; stable), after
    converting ``x`` to ``dtype`` when given. No axis: PyTorch's legacy implicit one (0
    for 0-, 1- and 3-D inputs, else 1), with its deprecation warning. ``_stacklevel``
    is PyTorch's positional slot, kept so that ``dtype`` is the fourth argument here too."""
    return _softmax("softmax", x, axis, dim, dtype)


def log_softmax(x, axis=None, _stacklevel=3, dtype=None, *, dim=None):
    """``x - logsumexp(x)`` along ``axis`` (or PyTorch's ``dim``; stable); ``dtype`` and
    the implicit axis as :func:`softmax`."""
    return _softmax("log_softmax", x, axis, dim, dtype)


def softmin(x, axis=None, _stacklevel=3, dtype=None, *, dim=None):
    """``softmax(-x)`` along ``axis`` (or ``dim``); ``dtype`` and the implicit axis as
    :func:`softmax`."""
    return _softmax("softmin", x, axis, dim, dtype)


# ---------------------------------------------------------------------------- losses

class _RowLoss(Function):
    """Per-sample ``cross_entropy`` (from logits) or ``nll_loss`` (from log-probabilities)."""
    nondiff = (1,)

    def forward(self, scores, labels):
        return run(self.op, self.op, [scores, labels])

    def backward(self, g):
        scores, labels = self.inputs
        return _kernel(f"{self.op}_grad", f"{self.op}_grad", scores, labels, g), None


def _reduce_loss(op, per_sample, reduction):
    if reduction == "mean":
        return ops.mean(per_sample)
    if reduction == "sum":
        return ops.sum(per_sample)
    if reduction == "none":
        return per_sample
    raise ShapeError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _row_loss(op, scores, labels, reduction):
    _check_float(op, scores)
    if scores.ndim != 2 or labels.ndim != 1 or labels.shape[0] != scores.shape[0]:
        raise ShapeError(f"{op}: scores of shape {scores.shape} and labels of shape {labels.shape} do not match "
                         "(need (N, C) and (N,))")
    if labels.dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: labels must be int32 or int64 class indices, got {labels.dtype}")
    if labels.device != scores.device:
        check_same(op, scores, labels)
    found = dispatch.host_range(labels, 0, scores.shape[1])
    if found is not None:
        raise ShapeError(f"{op}: labels must lie in [0, {scores.shape[1]}), got values in [{found[0]}, {found[1]}]")
    return _reduce_loss(op, _RowLoss.apply(scores, labels, op=op), reduction)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross entropy from ``logits`` (N, C) and integer class ``labels`` (N,)."""
    return _row_loss("cross_entropy", logits, labels, reduction)


def nll_loss(log_probs, labels, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C) at integer ``labels`` (N,)."""
    return _row_loss("nll_loss", log_probs, labels, reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean (or summed) squared error."""
    check_same("mse_loss", input, target)
    if input.shape != target.shape:
        raise ShapeError(f"mse_loss: input of shape {input.shape} and target of shape {target.shape} differ")
    diff = input - target
    return _reduce_loss("mse_loss", diff * diff, reduction)


def _bce_logits(x, t):
    """``max(x, 0) - x*t + log(1 + exp(-|x|))`` elementwise: stable for any magnitude."""
    def loss(a, b):
        return te.max(a, te.const(0, a.dtype)) - a * b + te.log(te.exp(te.const(0, a.dtype) - te.abs(a)) + 1.0)
    return topi.broadcast.elementwise("bce_with_logits", [x, t], loss)


def _bce_logits_grad(x, t, g):
    """``(sigmoid(x) - t) · g``: the logits' gradient, right at x = 0 too."""
    return topi.broadcast.elementwise("bce_with_logits_grad", [x, t, g], lambda a, b, c: (te.sigmoid(a) - b) * c)


class _BCEWithLogits(Function):
    """Per-element BCE on logits with its gradient written out: the formula's kinks
    (max and |x| at 0) would give the autodiff of a composition a gradient of -t
    instead of 0.5 - t at a logit of exactly 0."""

    def forward(self, x, t):
        return run("bce_with_logits", _bce_logits, [x, t])

    def backward(self, g):
        x, t = self.inputs
        gx = _kernel("bce_with_logits_grad", _bce_logits_grad, x, t, g) if x.requires_grad else None
        return gx, (ops.neg(g * x) if t.requires_grad else None)


def _bce_factor(op, logits, factor, name):
    """Check a ``weight``/``pos_weight`` tensor: logits' device and dtype, and a shape
    that broadcasts to the logits' without enlarging it (PyTorch's rule)."""
    if not isinstance(factor, Tensor):
        raise DTypeError(f"{op}: {name} must be a Tensor, got {type(factor).__name__}")
    check_same(op, logits, factor)
    try:
        shape = ops.broadcast_shapes(op, logits.shape, factor.shape)
    except ShapeError:
        shape = None
    if shape != logits.shape:
        raise ShapeError(f"{op}: {name} of shape {factor.shape} does not broadcast to the logits' shape "
                         f"{logits.shape}")
    return factor


def binary_cross_entropy_with_logits(logits, target, reduction="mean", *, weight=None, pos_weight=None):
    """BCE on logits ``max(x, 0) - x*t + log(1 + exp(-|x|))``, stable for any magnitude;
    the gradient is ``sigmoid(x) - t`` (and ``-x`` for the target), as PyTorch's.
    PyTorch's ``pos_weight`` (broadcast along the last axis: one per class) weighs the
    positive term, ``-[pw*t*log sigmoid(x) + (1-t)*log(1-sigmoid(x))]``, computed in its
    stable form ``(1-t)*x - (1 + (pw-1)*t) * logsigmoid(x)`` (smooth: its autodiff is
    exact at x = 0); ``weight`` scales each element's loss. Both must broadcast to the
    logits' shape. (``reduction`` is third, as in tvmini's ``cross_entropy``; pass
    ``weight``/``pos_weight`` by keyword.)"""
    op = "binary_cross_entropy_with_logits"
    check_same(op, logits, target)
    _check_float(op, logits)
    if logits.shape != target.shape:
        raise ShapeError(f"{op}: logits of shape {logits.shape} and target of shape {target.shape} differ")
    if pos_weight is None:
        loss = _BCEWithLogits.apply(logits, target)
    else:
        pos_weight = _bce_factor(op, logits, pos_weight, "pos_weight")
        loss = (1.0 - target) * logits - (1.0 + (pos_weight - 1.0) * target) * logsigmoid(logits)
    if weight is not None:
        loss = loss * _bce_factor(op, logits, weight, "weight")
    return _reduce_loss(op, loss, reduction)
