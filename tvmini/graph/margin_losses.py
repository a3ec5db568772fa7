"""Margin and embedding losses with PyTorch's formulas, shapes and reductions: margin
ranking, hinge embedding, soft margin, multi-label soft margin, multi-class margin,
multi-label margin, cosine embedding and the triplet losses.

Each is a composition of graph ops, so its gradient is those ops' kernels and a
``tm.jit`` step traces it like any other op. Hinges are ``relu`` (gradient 0 where the
hinge is exactly 0, as PyTorch's kernels, which add a term only where it is positive).
Every function takes PyTorch's legacy ``size_average``/``reduce`` arguments in their
positions, so a positional call written for PyTorch means the same here.
"""
from ..errors import DTypeError, ShapeError
from . import dispatch, ops
from .creation import arange
from .gather_ops import gather
from .index_ops import take
from .nn_ops import _reduce_loss
from .pointwise_ops import logsigmoid
from .sort_ops import cumsum
from .stat_ops import pairwise_distance
from .tensor import Tensor


def legacy_reduction(op, size_average, reduce, reduction):
    """The reduction PyTorch's deprecated ``size_average``/``reduce`` pair stands for
    (either left None counts as True); ``reduction`` when both are None."""
    if size_average is None and reduce is None:
        if reduction not in ("mean", "sum", "none"):
            raise ShapeError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "mean" if reduce and size_average else "sum" if reduce else "none"


def _float_input(op, *tensors):
    """Refuse non-tensors and integer inputs (the losses are of real-valued scores)."""
    for t in tensors:
        if not isinstance(t, Tensor):
            raise DTypeError(f"{op}: expected tensors, got {type(t).__name__}")
        if not t.dtype.startswith("float"):
            raise DTypeError(f"{op}: expected a floating-point input, got {t.dtype} of shape {t.shape}")


def _class_labels(op, labels, shape, classes):
    """Check integer class ``labels`` of ``shape`` with values in [0, classes) (where they
    can be read, :func:`.dispatch.host_range`; elsewhere the gather's clamps)."""
    if not isinstance(labels, Tensor) or labels.dtype not in ("int32", "int64"):
        got = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise DTypeError(f"{op}: target must be int32/int64 class indices, got {got}")
    if labels.shape != shape:
        raise ShapeError(f"{op}: target of shape {labels.shape} does not match the input's {shape}")
    found = dispatch.host_range(labels, 0, classes)
    if found is not None:
        raise ShapeError(f"{op}: target out of range: values in [{found[0]}, {found[1]}] for {classes} classes")


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` (1 or -1) says which
    input should rank higher. The three must have the same number of axes (PyTorch's
    rule) and broadcast together."""
    reduction = legacy_reduction("margin_ranking_loss", size_average, reduce, reduction)
    _float_input("margin_ranking_loss", input1, input2)
    if not isinstance(target, Tensor):
        raise DTypeError(f"margin_ranking_loss: expected tensors, got {type(target).__name__}")
    if not (input1.ndim == input2.ndim == target.ndim):
        raise ShapeError(f"margin_ranking_loss: all input tensors should have the same number of dimensions, got "
                         f"input1 {input1.shape}, input2 {input2.shape}, target {target.shape}")
    ops.broadcast_shapes("margin_ranking_loss", ops.broadcast_shapes("margin_ranking_loss", input1.shape,
                                                                      input2.shape), target.shape)
    loss = ops.relu(-target * (input1 - input2) + margin)
    return _reduce_loss("margin_ranking_loss", loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """``input`` where ``target`` is 1 and ``max(0, margin - input)`` where it is -1 (any
    other target value adds both terms, as PyTorch's formula does)."""
    reduction = legacy_reduction("hinge_embedding_loss", size_average, reduce, reduction)
    _float_input("hinge_embedding_loss", input)
    ops.broadcast_shapes("hinge_embedding_loss", input.shape, target.shape)
    hinge = ops.where(ops.compare(target, 1, "ne"), ops.relu(margin - input), 0.0)
    loss = hinge + ops.where(ops.compare(target, -1, "ne"), input, 0.0)
    return _reduce_loss("hinge_embedding_loss", loss, reduction)


def _same_shape(op, input, target):
    _float_input(op, input)
    if input.shape != target.shape:
        raise ShapeError(f"{op}: input of shape {input.shape} and target of shape {target.shape} differ")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``log(1 + exp(-target * input))``, the logistic loss of labels +-1, computed as
    ``-logsigmoid(target * input)`` (finite for any magnitude)."""
    reduction = legacy_reduction("soft_margin_loss", size_average, reduce, reduction)
    _same_shape("soft_margin_loss", input, target)
    return _reduce_loss("soft_margin_loss", -logsigmoid(target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary logistic loss of each class of (N, C) scores against 0/1 ``target``,
    ``weight`` (broadcast over the classes) scaling each term, averaged over the classes
    of each sample; the reduction then runs over the samples ("none" gives (N,))."""
    reduction = legacy_reduction("multilabel_soft_margin_loss", size_average, reduce, reduction)
    _same_shape("multilabel_soft_margin_loss", input, target)
    if input.ndim == 0:
        raise ShapeError("multilabel_soft_margin_loss: input must have a class axis, got a 0-d tensor")
    loss = -(target * logsigmoid(input) + (1.0 - target) * logsigmoid(-input))
    if weight is not None:
        ops.broadcast_shapes("multilabel_soft_margin_loss", loss.shape, weight.shape)
        loss = loss * weight
    loss = ops.div(ops.sum(loss, input.ndim - 1), input.shape[-1])
    return _reduce_loss("multilabel_soft_margin_loss", loss, reduction)


def _rows(op, input, target):
    """(N, C) scores and (N,) labels from PyTorch's (C,)/0-d or (N, C)/(N,) layouts; the
    flag says the input was unbatched."""
    _float_input(op, input)
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ShapeError(f"{op}: input must be (C,) or (N, C) with C > 0, got {input.shape}")
    if input.ndim == 1:
        if target.shape not in ((), (1,)):
            raise ShapeError(f"{op}: a (C,) input needs a 0-d or one-element target, got {target.shape}")
        return ops.reshape(input, (1, input.shape[0])), ops.reshape(target, (1,)), True
    return input, target, False


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multi-class hinge loss: for each sample, ``sum_{j != y} max(0, margin - x[y] +
    x[j])^p / C`` (``p`` 1 or 2), each term scaled by ``weight[y]`` when given. Scores
    (N, C) with labels (N,), or (C,) with a 0-d label."""
    op = "multi_margin_loss"
    reduction = legacy_reduction(op, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ShapeError(f"{op}: only p == 1 and p == 2 are supported, got p={p}")
    scores, labels, unbatched = _rows(op, input, target)
    rows, classes = scores.shape
    _class_labels(op, labels, (rows,), classes)
    if weight is not None and weight.shape != (classes,):
        raise ShapeError(f"{op}: weight of shape {weight.shape} does not match {classes} classes")
    index = ops.reshape(labels, (rows, 1))
    hinge = ops.relu(margin - gather(scores, 1, index) + scores)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        hinge = hinge * ops.reshape(take(weight, labels, 0), (rows, 1))
    others = ops.compare(ops.reshape(_arange_like(classes, labels), (1, classes)), index, "ne")
    loss = ops.div(ops.sum(ops.where(others, hinge, 0.0), 1), classes)
    if unbatched and reduction == "none":
        return ops.reshape(loss, ())
    return _reduce_loss(op, loss, reduction)


def _arange_like(n, labels):
    """0 .. n-1 in the labels' dtype and device (to compare class positions with labels)."""
    return arange(n, dtype=labels.dtype, device=labels.device)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: ``target`` (the input's shape) lists each sample's classes,
    ended by the first -1; the loss sums ``max(0, 1 - (x[j] - x[k]))`` over listed ``j``
    and unlisted ``k``, divided by C. (N, C) or (C,) scores; "none" gives (N,) or 0-d."""
    op = "multilabel_margin_loss"
    reduction = legacy_reduction(op, size_average, reduce, reduction)
    _float_input(op, input)
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ShapeError(f"{op}: input must be (C,) or (N, C) with C > 0, got {input.shape}")
    if not isinstance(target, Tensor) or target.dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: target must be an int32/int64 tensor of class indices padded with -1")
    if target.shape != input.shape:
        raise ShapeError(f"{op}: target of shape {target.shape} must have the input's shape {input.shape}")
    unbatched = input.ndim == 1
    scores = ops.reshape(input, (1, -1)) if unbatched else input
    labels = ops.reshape(target, (1, -1)) if unbatched else target
    rows, classes = scores.shape
    found = dispatch.host_range(target, -1, classes)
    if found is not None:
        raise ShapeError(f"{op}: target values must lie in [-1, {classes}), got [{found[0]}, {found[1]}]")
    # a listed position is one before the first -1 (a later label is padding, whatever it holds)
    listed = ops.compare(cumsum(ops.cast(ops.compare(labels, -1, "eq"), labels.dtype), 1), 0, "eq")
    safe = ops.where(listed, labels, 0)
    # is_target[n, c]: some listed position of row n names class c
    classes_row = ops.reshape(_arange_like(classes, labels), (1, 1, classes))
    names = ops.compare(ops.reshape(safe, (rows, classes, 1)), classes_row, "eq")
    is_target = ops.compare(ops.sum(ops.cast(names & ops.reshape(listed, (rows, classes, 1)), "int32"), 1), 0, "gt")
    picked = gather(scores, 1, safe)                          # x[n, target[n, j]]
    pairs = ops.relu(1.0 - ops.reshape(picked, (rows, classes, 1)) + ops.reshape(scores, (rows, 1, classes)))
    keep = ops.reshape(listed, (rows, classes, 1)) & ops.logical_not(ops.reshape(is_target, (rows, 1, classes)))
    loss = ops.div(ops.sum(ops.where(keep, pairs, 0.0), (1, 2)), classes)
    if unbatched and reduction == "none":
        return ops.reshape(loss, ())
    return _reduce_loss(op, loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """``1 - cos(x1, x2)`` where ``target`` is 1 and ``max(0, cos - margin)`` where it is
    -1 (0 for any other value); ``cos`` along the last axis of (N, D) inputs with (N,)
    targets, or (D,) inputs with a 0-d target, each squared norm plus 1e-12 (PyTorch's)."""
    op = "cosine_embedding_loss"
    reduction = legacy_reduction(op, size_average, reduce, reduction)
    _float_input(op, input1, input2)
    if input1.ndim != input2.ndim or input1.ndim not in (1, 2) or target.ndim != input1.ndim - 1:
        raise ShapeError(f"{op}: need (N, D) inputs with an (N,) target or (D,) inputs with a 0-d target, got "
                         f"{input1.shape}, {input2.shape} and {target.shape}")
    ops.broadcast_shapes(op, ops.broadcast_shapes(op, input1.shape, input2.shape)[:-1], target.shape)
    axis = input1.ndim - 1
    dot = ops.sum(input1 * input2, axis)
    squares = (ops.sum(input1 * input1, axis) + 1e-12) * (ops.sum(input2 * input2, axis) + 1e-12)
    cos = dot / ops.sqrt(squares)
    loss = (ops.where(ops.compare(target, 1, "eq"), 1.0 - cos, 0.0)
            + ops.where(ops.compare(target, -1, "eq"), ops.relu(cos - margin), 0.0))
    return _reduce_loss(op, loss, reduction)


def _triplet_shapes(op, anchor, positive, negative):
    """The three inputs have one number of axes (PyTorch's rule) and broadcast together."""
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise ShapeError(f"{op}: anchor, positive and negative must have the same number of dimensions, got "
                         f"{anchor.shape}, {positive.shape} and {negative.shape}")
    ops.broadcast_shapes(op, ops.broadcast_shapes(op, anchor.shape, positive.shape), negative.shape)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` for a distance
    function ``d`` returning one value per sample (``pairwise_distance`` by default);
    ``swap`` uses ``d(positive, negative)`` where it is smaller (the harder negative)."""
    op = "triplet_margin_with_distance_loss"
    reduction = legacy_reduction(op, None, None, reduction)
    if margin <= 0:
        raise ShapeError(f"{op}: margin must be greater than 0, got {margin}")
    _triplet_shapes(op, anchor, positive, negative)
    distance = pairwise_distance if distance_function is None else distance_function
    to_positive, to_negative = distance(anchor, positive), distance(anchor, negative)
    if swap:
        to_negative = ops.minimum(to_negative, distance(positive, negative))
    return _reduce_loss(op, ops.relu(margin + to_positive - to_negative), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """The triplet loss with the ``p``-norm distance ``||a - b + eps||_p`` along the last
    axis of (N, D) or (D,) inputs (see :func:`triplet_margin_with_distance_loss`)."""
    op = "triplet_margin_loss"
    reduction = legacy_reduction(op, size_average, reduce, reduction)
    _float_input(op, anchor, positive, negative)
    _triplet_shapes(op, anchor, positive, negative)
    if anchor.ndim not in (1, 2):
        raise ShapeError(f"{op}: inputs must be (N, D) or (D,), got {anchor.shape}, {positive.shape} and "
                         f"{negative.shape}")
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = ops.minimum(to_negative, pairwise_distance(positive, negative, p, eps))
    return _reduce_loss(op, ops.relu(margin + to_positive - to_negative), reduction)
