"""Connectionist temporal classification loss (Graves et al. 2006) with PyTorch's
arguments, shapes and reductions: ``-log`` of the total probability of every alignment
of each target (blanks between and around its labels, repeats merged) with the input's
per-step log-probabilities.

The forward variable is the log-space recursion over time on the target extended with
blanks (``2 S + 1`` states): ``alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1),
alpha_{t-1}(s-2) where a skip is allowed) + log p_t(l'_s)``, one kernel stage per step
and one kernel call per ``topi.ctc.CHUNK`` steps. The gradient is the backward (beta)
recursion, run the same way, and one kernel summing ``exp(alpha + beta - log p)`` per
class: the true gradient with respect to ``log_probs``, whether or not they are
normalised. (It replaced autodiff through ~25 graph ops per step: T=50, N=8, C=20, S=10
forward and backward on 2 shared cores 40 -> 1.5 ms, torch 0.25 ms; see
benchmarks/tensorops.py.) Unreachable states hold ``-inf`` and get gradient 0 (never
NaN); so does a sample whose target is impossible. Targets and lengths are read on the
host (they are integers that shape the recursion), so the loss is not traced by
``tm.jit``."""
import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..runtime import ndarray as nd
from ..topi.ctc import CHUNK, ctc_alpha_steps, ctc_beta_steps, ctc_grad, ctc_nll
from . import dispatch, ops
from .autograd import Function, no_grad
from .join_ops import cat
from .margin_losses import _float_input
from .tensor import Tensor

_NEG_INF = float("-inf")


def _host_ints(op, name, value):
    """``value`` (a tensor, a sequence or a number) as a numpy int64 array."""
    if isinstance(value, Tensor):
        if value.dtype not in ("int32", "int64"):
            raise DTypeError(f"{op}: {name} must be integers, got {value.dtype} of shape {value.shape}")
        return value.numpy().astype("int64")
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {name} must be integers, got {array.dtype}")
    return array.astype("int64")


def _targets_by_row(op, targets, target_lengths, batch):
    """Each sample's target labels (a list of int arrays), from padded (N, S) targets
    or the labels of all samples concatenated (1-d)."""
    labels = _host_ints(op, "targets", targets)
    lengths = _host_ints(op, "target_lengths", target_lengths).reshape(-1)
    if lengths.shape != (batch,):
        raise ShapeError(f"{op}: target_lengths of shape {lengths.shape} for a batch of {batch}")
    if (lengths < 0).any():
        raise ShapeError(f"{op}: target_lengths must be non-negative, got {lengths.tolist()}")
    if labels.ndim == 2:
        if labels.shape[0] != batch or (lengths > labels.shape[1]).any():
            raise ShapeError(f"{op}: targets of shape {labels.shape} do not hold target_lengths {lengths.tolist()} "
                             f"for a batch of {batch}")
        return [labels[n, :lengths[n]] for n in range(batch)]
    if labels.ndim != 1 or lengths.sum() > labels.shape[0]:
        raise ShapeError(f"{op}: concatenated targets of shape {labels.shape} hold fewer than the "
                         f"{int(lengths.sum())} labels of target_lengths")
    ends = np.cumsum(lengths)
    return [labels[end - length:end] for end, length in zip(ends, lengths)]


def _const(array, device):
    """A constant tensor of ``array`` on ``device``."""
    return Tensor._wrap(nd.array(np.ascontiguousarray(array), device=device))


def _steps(outs):
    """A chunk kernel's outputs as a list (one output comes back bare)."""
    return outs if isinstance(outs, list) else [outs]


class _CTCNegLogLikelihood(Function):
    """``-log p(target | input)`` per sample (N,) of ``log_probs`` (T, N, C) for the
    extended targets ``labels`` (N, S'), their ``skip`` mask, input lengths ``steps`` and
    target lengths ``counts`` (``topi.ctc``). The forward keeps every step's alphas for
    the gradient."""
    nondiff = (1, 2, 3, 4)
    saved = (0, 1, 2, 3, 4)

    def forward(self, log_probs, labels, skip, steps, counts):
        start = np.full(labels.shape, _NEG_INF, dtype=log_probs.dtype)
        start[:, 0] = 0.0                   # the virtual alpha_{-1}: t = 0 enters state 0 or 1
        alpha = nd.array(start, device=log_probs.device)
        total = log_probs.shape[0]
        count = min(CHUNK, total)
        self.alphas = []
        for t in range(0, total, count):
            self.alphas += _steps(dispatch.run("ctc_alpha_steps", ctc_alpha_steps,
                                               [log_probs, labels, skip, steps, alpha], scalars=(t,),
                                               scalar_dtypes=("int64",), attrs=(("count", count),)))
            alpha = self.alphas[-1]
        del self.alphas[total:]             # steps past T (the last chunk's overshoot)
        self.nll = dispatch.run("ctc_nll", ctc_nll, [self.alphas[-1], steps, counts])
        return self.nll

    def backward(self, g):
        log_probs, labels, skip, steps, counts = (t._data for t in self.inputs)
        total = log_probs.shape[0]
        count = min(CHUNK, total)
        beta, betas = self.alphas[-1], []   # beta_{T-1} is the start everywhere: its input is unread
        for t in range(total - 1, -1, -count):
            betas += _steps(dispatch.run("ctc_beta_steps", ctc_beta_steps,
                                         [log_probs, labels, skip, steps, counts, beta], scalars=(t,),
                                         scalar_dtypes=("int64",), attrs=(("count", count),)))
            beta = betas[-1]
        del betas[total:]                   # steps before 0
        with no_grad():
            # (T * N, S'): one kernel joins the steps, with no reshape of each
            alphas, betas = (cat([Tensor._wrap(a) for a in arrays])._data for arrays in (self.alphas, betas[::-1]))
        grad = dispatch.run("ctc_grad", ctc_grad, [log_probs, labels, steps, alphas, betas, self.nll, g._data])
        return Tensor._wrap(grad), None, None, None, None


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """CTC loss of ``log_probs`` (T, N, C) (or unbatched (T, C)) against ``targets``
    (padded (N, S), or 1-d: every sample's labels one after another), with each sample's
    ``input_lengths`` and ``target_lengths`` (tensors or sequences). "mean" divides each
    loss by its target length (at least 1) and averages over the batch, as PyTorch's;
    ``zero_infinity`` makes impossible alignments (infinite losses) 0, gradient included."""
    op = "ctc_loss"
    if dispatch.thread.tracer is not None:
        raise TVMiniError(f"{op} reads its targets and lengths on the host; call it outside tm.jit")
    _float_input(op, log_probs)
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = ops.reshape(log_probs, (log_probs.shape[0], 1, log_probs.shape[1]))
        targets = targets.numpy().reshape(1, -1) if isinstance(targets, Tensor) else np.reshape(targets, (1, -1))
    if log_probs.ndim != 3:
        raise ShapeError(f"{op}: log_probs must be (T, N, C) or (T, C), got {log_probs.shape}")
    steps, batch, classes = log_probs.shape
    if not steps * batch * classes:
        raise ShapeError(f"{op}: log_probs tensor must not be empty, got {log_probs.shape}")
    if not 0 <= blank < classes:
        raise ShapeError(f"{op}: blank must be in the label range [0, {classes}), got {blank}")
    lengths_in = _host_ints(op, "input_lengths", input_lengths).reshape(-1)
    if lengths_in.shape != (batch,) or (lengths_in < 0).any() or (lengths_in > steps).any():
        raise ShapeError(f"{op}: input_lengths {lengths_in.tolist()} must be one per sample of a batch of {batch}, "
                         f"each at most T={steps}")
    rows = _targets_by_row(op, targets, target_lengths, batch)
    for row in rows:
        if row.size and (row.min() < 0 or row.max() >= classes or (row == blank).any()):
            raise ShapeError(f"{op}: target labels must lie in [0, {classes}) and differ from blank={blank}, "
                             f"got {row.tolist()}")
    loss = _negative_log_likelihood(log_probs, rows, lengths_in, blank)
    if zero_infinity:
        loss = ops.where(ops.compare(loss, float("inf"), "eq"), 0.0, loss)
    if reduction == "none":
        return ops.reshape(loss, ()) if unbatched else loss
    if reduction == "sum":
        return ops.sum(loss)
    per_label = np.maximum([len(row) for row in rows], 1).astype(log_probs.dtype)
    return ops.mean(loss / _const(per_label, log_probs.device))


def _negative_log_likelihood(log_probs, rows, lengths_in, blank):
    """``-log p(target | input)`` per sample, (N,), by the forward recursion."""
    batch = log_probs.shape[1]
    states = 2 * max((len(row) for row in rows), default=0) + 1
    extended = np.full((batch, states), blank, dtype="int64")
    skip = np.zeros((batch, states), dtype=bool)
    for n, row in enumerate(rows):
        extended[n, 1:2 * len(row):2] = row
        if len(row) > 1:
            skip[n, 3:2 * len(row):2] = row[1:] != row[:-1]
    counts = np.array([len(row) for row in rows], dtype="int64")
    device = log_probs.device
    return _CTCNegLogLikelihood.apply(log_probs, _const(extended, device), _const(skip, device),
                                      _const(lengths_in, device), _const(counts, device))
