"""More losses with PyTorch's formulas and reductions: L1, smooth L1, Huber, binary cross
entropy on probabilities, KL divergence, and cross entropy / NLL with class weights,
ignored labels and label smoothing. Each is written with graph ops (so its
gradient is the ops' kernels, PyTorch's at the seams: ``|d|`` has gradient 0 at 0)."""
import math

from ..errors import DTypeError, ShapeError, TVMiniError
from . import dispatch, ops
from .join_ops import clamp
from .index_ops import take
from .nn_ops import _reduce_loss, _row_loss, log_softmax
from .tensor import Tensor


def _pair(op, input, target):
    """``input - target`` after checking devices, dtypes and equal shapes."""
    ops.check_same(op, input, target)
    if input.shape != target.shape:
        raise ShapeError(f"{op}: input of shape {input.shape} and target of shape {target.shape} differ")
    return input - target


def l1_loss(input, target, reduction="mean"):
    """``|input - target|``, reduced."""
    return _reduce_loss("l1_loss", ops.abs(_pair("l1_loss", input, target)), reduction)


def _quadratic_part(d, size, bound):
    """(where ``|d| < bound``, ``d`` there and 0 elsewhere): the quadratic branch squares
    the latter, so its gradient is 0 where it is not taken even for an infinite ``d``
    (``0 * 2d`` was NaN there, as was the gradient through the select)."""
    inside = ops.compare(size, bound, "lt")
    return inside, ops.where(inside, d, 0.0)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``beta=0``: L1)."""
    d = _pair("smooth_l1_loss", input, target)
    size = ops.abs(d)
    if beta == 0:
        return _reduce_loss("smooth_l1_loss", size, reduction)
    inside, small = _quadratic_part(d, size, beta)
    loss = ops.where(inside, small * small * (0.5 / beta), size - 0.5 * beta)
    return _reduce_loss("smooth_l1_loss", loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    if delta <= 0:
        raise ShapeError(f"huber_loss: delta must be positive, got {delta}")
    d = _pair("huber_loss", input, target)
    size = ops.abs(d)
    inside, small = _quadratic_part(d, size, delta)
    loss = ops.where(inside, small * small * 0.5, (size - 0.5 * delta) * delta)
    return _reduce_loss("huber_loss", loss, reduction)


def _clamped_log(p):
    """``max(log p, -100)``: finite at ``p = 0``, NaN for a NaN or negative ``p`` (clamp
    keeps a NaN; ``p`` is detached, so the log's derivative is never taken)."""
    return clamp(ops.log(p), min=-100.0)


def _check_probabilities(op, p):
    """PyTorch's check that every probability is in [0, 1] (a NaN is not), wherever the
    values can be read (:func:`.dispatch.host_check`). Elsewhere (a GPU would have to be
    waited for; a jitted step's own intermediate) an out-of-range or NaN probability
    gives a NaN loss instead (the logs of the formula)."""
    def inside(array):
        values = array._storage.host_view()
        return bool(((values >= 0) & (values <= 1)).all())
    if dispatch.host_check(p, inside) is False:
        values = p._data._storage.host_view()
        bad = values[~((values >= 0) & (values <= 1))].flat[0]
        raise TVMiniError(f"{op}: all elements of input should be between 0 and 1, found {bad} "
                          f"(input of shape {p.shape})")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``-(t log p + (1 - t) log(1 - p))`` for probabilities ``p`` (each log clamped at
    -100, as PyTorch, so p = 0 or 1 gives a finite loss); ``weight`` scales each term. A
    ``p`` outside [0, 1] or NaN raises, as PyTorch's, where it can be checked (see
    :func:`_check_probabilities`), and gives a NaN loss elsewhere.

    The gradient for ``p`` is PyTorch's formula, ``(p - t) / max(p (1 - p), 1e-12)``
    (0 where p = t = 0 or 1; the clamped logs' own derivative gave -1 there): the loss
    adds ``s * (p - p.detach())``, which is 0 in value and has gradient ``s``, to the
    loss of a detached ``p``. The target's gradient is the clamped logs'."""
    _pair("binary_cross_entropy", input, target)
    _check_probabilities("binary_cross_entropy", input)
    p = input.detach()
    loss = -(target * _clamped_log(p) + (1.0 - target) * _clamped_log(1.0 - p))
    if input.requires_grad:
        slope = (p - target.detach()) / clamp(p * (1.0 - p), min=1e-12)
        loss = loss + slope * (input - p)
    if weight is not None:
        loss = loss * weight
    return _reduce_loss("binary_cross_entropy", loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """``target log target - target * input`` for log-probabilities ``input``, PyTorch's
    formula: ``0 log 0`` is 0, and a NaN or negative target gives NaN (it was 0);
    ``reduction="batchmean"``: the sum over the batch size, the true KL (NaN for a batch
    of no rows, as PyTorch's 0 / 0)."""
    _pair("kl_div", input, target)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        zero = ops.compare(target, 0.0, "eq")
        loss = ops.where(zero, 0.0, target * ops.log(ops.where(zero, 1.0, target))) - target * input
    if reduction == "batchmean":
        # divided as PyTorch (a division, not a product with 1/N): NaN for a batch of none
        return ops.div(ops.sum(loss), input.shape[0]) if input.ndim else ops.sum(loss)
    return _reduce_loss("kl_div", loss, reduction)


def class_loss(op, scores, labels, reduction="mean", weight=None, ignore_index=-100, label_smoothing=0.0):
    """``cross_entropy``/``nll_loss`` with PyTorch's options: per-class ``weight`` (C,),
    samples whose label is ``ignore_index`` left out, and ``label_smoothing`` (cross
    entropy only: the target mixes ``1 - eps`` of the label with ``eps / C`` of every
    class). A weighted or filtered mean divides by the summed weights of the samples kept,
    as PyTorch's. An ignored sample's loss is selected away, not multiplied by 0, so its
    scores may be anything (padding holding inf or NaN): it adds 0, as in PyTorch. Without
    options this is the one fused kernel of ``nn_ops``."""
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0 or (label_smoothing and op != "cross_entropy"):
        raise ShapeError(f"{op}: label_smoothing must be in [0, 1] (cross_entropy only), got {label_smoothing}")
    if weight is None and label_smoothing == 0.0 and not _has_label(labels, ignore_index):
        return _row_loss(op, scores, labels, reduction)
    classes = scores.shape[-1]
    if weight is not None and weight.shape != (classes,):
        raise ShapeError(f"{op}: weight of shape {weight.shape} does not match {classes} classes")
    _check_labels(op, labels, classes, ignore_index)
    kept = ops.compare(labels, ignore_index, "ne")
    safe = ops.where(kept, labels, 0)
    scale = ops.cast(kept, scores.dtype)
    loss = _row_loss(op, scores, safe, "none")
    if weight is not None:
        sample_weight = take(weight, safe, 0)
        scale, loss = scale * sample_weight, loss * sample_weight
    if label_smoothing:
        log_probs = log_softmax(scores, 1)
        spread = log_probs if weight is None else log_probs * weight
        loss = loss * (1.0 - label_smoothing) - ops.sum(spread, 1) * (label_smoothing / classes)
    loss = ops.where(kept, loss, 0.0)
    if reduction == "none":
        return loss
    total = ops.sum(loss)
    if reduction == "sum":
        return total
    # every sample ignored: PyTorch's NaN loss, with a zero (not NaN) gradient
    weight_sum = ops.sum(scale)
    kept_any = ops.compare(weight_sum, 0.0, "gt")
    return ops.where(kept_any, total / ops.where(kept_any, weight_sum, 1.0), float("nan"))


def _check_labels(op, labels, classes, ignore_index):
    """Labels in ``[0, classes)`` or equal to ``ignore_index``, checked on the labels
    themselves (the kernels see them with the ignored ones replaced, which a ``tm.jit``
    step computes itself and so could not check)."""
    def valid(array):
        host = array._storage.host_view()
        return bool((((host >= 0) & (host < classes)) | (host == ignore_index)).all())
    if labels.dtype in ("int32", "int64") and dispatch.host_check(labels, valid) is False:
        host = labels._data._storage.host_view()
        bad = host[~(((host >= 0) & (host < classes)) | (host == ignore_index))].flat[0]
        raise ShapeError(f"{op}: labels must lie in [0, {classes}) or be ignore_index={ignore_index}, got {bad}")


def _has_label(labels, value):
    """Whether some label may equal ``value``: read where the labels can be read
    (:func:`.dispatch.host_check`; in a ``tm.jit`` trace the answer guards the step, so a
    batch that answers otherwise traces another variant); assumed elsewhere (the general
    path, right for any labels)."""
    found = dispatch.host_check(labels, lambda array: bool((array._storage.host_view() == value).any()),
                               chooses_path=True)
    return True if found is None else found


def _options(op, reduction, weight):
    """PyTorch passes ``weight`` third: a tensor in the ``reduction`` slot is the weight."""
    if isinstance(reduction, Tensor):
        if weight is not None:
            raise ShapeError(f"{op}: weight given twice")
        return "mean", reduction
    return reduction, weight


def _classes_last(op, scores, labels, reduction, loss):
    """``loss(scores, labels, reduction)`` for PyTorch's other layouts, through the
    (rows, C) form: (C,) scores with a 0-d label (unbatched), and (N, C, d1, ...) scores
    with (N, d1, ...) labels (a class per position, as in segmentation); probability
    targets have the scores' shape. "none" gives the per-position shape back."""
    if scores.ndim == 2:
        return loss(scores, labels, reduction)
    classes = scores.shape[0 if scores.ndim == 1 else 1]
    perm = (0,) + tuple(range(2, scores.ndim)) + (1,)
    moved = ops.reshape(scores, (1, classes)) if scores.ndim == 1 else ops.transpose(scores, perm)
    positions = math.prod(moved.shape[:-1])     # not -1: ambiguous when there are no classes
    if labels.shape == scores.shape:
        rows = ops.reshape(labels if scores.ndim == 1 else ops.transpose(labels, perm), (positions, classes))
    elif labels.shape == moved.shape[:-1] or (scores.ndim == 1 and labels.ndim == 0):
        rows = ops.reshape(labels, (-1,))
    else:
        raise ShapeError(f"{op}: scores of shape {scores.shape} and labels of shape {labels.shape} do not match "
                         "(need (N, C, d1, ...) and (N, d1, ...), or (C,) and a 0-d label)")
    out = loss(ops.reshape(moved, (positions, classes)), rows, reduction)
    return ops.reshape(out, moved.shape[:-1] if scores.ndim > 1 else ()) if reduction == "none" else out


def _soft_cross_entropy(logits, probs, reduction, weight, label_smoothing):
    """Cross entropy against class probabilities (N, C): ``-sum_c w_c p_c log softmax_c``
    with the probabilities smoothed toward uniform; "mean" averages over the rows."""
    classes = logits.shape[-1]
    if label_smoothing:
        probs = probs * (1.0 - label_smoothing) + label_smoothing / classes
    spread = log_softmax(logits, 1) * probs
    loss = -ops.sum(spread if weight is None else spread * weight, 1)
    return _reduce_loss("cross_entropy", loss, reduction)


def cross_entropy(logits, labels, reduction="mean", *, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Softmax cross entropy from ``logits`` (N, C) and integer class ``labels`` (N,), with
    PyTorch's ``weight``, ``ignore_index`` and ``label_smoothing`` (see :func:`class_loss`);
    also (N, C, d1, ...) logits with (N, d1, ...) labels, unbatched (C,) logits, and
    class-probability targets of the logits' shape (a float tensor)."""
    reduction, weight = _options("cross_entropy", reduction, weight)

    def loss(scores, targets, how):
        if targets.dtype.startswith("float"):
            ops.check_same("cross_entropy", scores, targets)
            if targets.shape != scores.shape:
                raise DTypeError(f"cross_entropy: labels must be int32/int64 class indices, or class probabilities "
                                 f"of the logits' shape {scores.shape}; got {targets.dtype} of shape {targets.shape}")
            return _soft_cross_entropy(scores, targets, how, weight, label_smoothing)
        return class_loss("cross_entropy", scores, targets, how, weight, ignore_index, label_smoothing)
    return _classes_last("cross_entropy", logits, labels, reduction, loss)


def nll_loss(log_probs, labels, reduction="mean", *, weight=None, ignore_index=-100):
    """Negative log-likelihood of log-probabilities (N, C) at integer ``labels`` (N,), with
    PyTorch's ``weight`` and ``ignore_index``; (N, C, d1, ...) and unbatched (C,) too."""
    reduction, weight = _options("nll_loss", reduction, weight)
    return _classes_last("nll_loss", log_probs, labels, reduction,
                         lambda scores, targets, how: class_loss("nll_loss", scores, targets, how, weight,
                                                                 ignore_index))
