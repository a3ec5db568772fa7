"""Connectionist temporal classification loss (Graves et al. 2006) with PyTorch's
arguments, shapes and reductions: ``-log`` of the total probability of every alignment
of each target (blanks between and around its labels, repeats merged) with the input's
per-step log-probabilities.

The forward variable is the log-space recursion over time on the target extended with
blanks (``2 S + 1`` states, ``S`` the padded target width): ``alpha_t(s) =
logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) where a skip is allowed) +
log p_t(l'_s)``, ``topi.ctc.CHUNK`` steps per kernel call. The gradient is the backward
(beta) recursion, run the same way, each chunk's kernel also summing ``exp(alpha + beta
- log p)`` per class for its rows: the true gradient with respect to ``log_probs``,
whether or not they are normalised. Unreachable states hold ``-inf`` and get gradient 0
(never NaN); so does a sample whose target is impossible. (Timings: ``topi.ctc``.)

Lengths and targets reach the kernels as device tensors (the extended targets are built
by a kernel), so nothing but shapes shapes the recursion and ``tm.jit`` traces the
loss: a replay with other lengths of the same padded shapes computes them. The value
checks (lengths within T and the targets, labels among the classes and not blank) read
them on the host: eagerly at once, in a trace as a guard of the step
(:func:`.dispatch.host_check_all`), so a replay refuses what the eager call does.
Concatenated (1-d) targets are padded by a kernel to the longest target length, read
on the host: in a trace a guard, so a replay whose longest target differs traces
again."""
import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..runtime import ndarray as nd
from ..topi.ctc import CHUNK, ctc_alpha_steps, ctc_beta_grad_steps, ctc_extend, ctc_nll, ctc_unpack
from . import dispatch, ops
from .autograd import Function, no_grad
from .join_ops import cat, clamp
from .margin_losses import _float_input
from .reorder_ops import narrow
from .tensor import Tensor


def _int_tensor(op, name, value, device):
    """``value`` (a tensor, a sequence or a number) as an integer tensor: a tensor as it
    is (its values are checked there, on the step's own argument inside a trace), else
    an int64 one on ``device``."""
    if isinstance(value, Tensor):
        if value.dtype not in ("int32", "int64"):
            raise DTypeError(f"{op}: {name} must be integers, got {value.dtype} of shape {value.shape}")
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {name} must be integers, got {array.dtype}")
    return Tensor._wrap(nd.array(np.ascontiguousarray(array, dtype="int64"), device=device))


def _longest(op, counts):
    """The longest target length (the padded width of concatenated targets), read on the
    host: eagerly at once; in a trace a guard choosing the kernels' shapes, so a replay
    whose longest target differs traces again."""
    if dispatch.thread.tracer is None:
        return int(counts.numpy().max(initial=0))
    longest = dispatch.host_check_all([counts], lambda a: int(a._storage.host_view().max(initial=0)),
                                      chooses_path=True)
    if longest is None:
        raise TVMiniError(f"{op}: inside tm.jit, concatenated targets need target_lengths on the CPU that the step "
                          f"receives as an argument or holds as a constant (their longest decides the padded "
                          f"width); or pass padded (N, S) targets")
    return longest


def _padded_rows(labels, counts):
    """Concatenated labels (numpy) as padded (N, longest) rows, for the value check."""
    out = np.zeros((len(counts), counts.max(initial=0)), dtype=labels.dtype)
    for n, end in enumerate(np.cumsum(counts)):
        out[n, :counts[n]] = labels[end - counts[n]:end]
    return out


def _problem(op, steps, classes, blank, shape):
    """The value check of (targets, input lengths, target lengths): a function of their
    numpy arrays (the targets seen as ``shape``) returning None, or the message of the
    ShapeError PyTorch would raise."""
    def check(labels, lengths_in, counts):
        labels, lengths_in, counts = labels.reshape(shape), lengths_in.reshape(-1), counts.reshape(-1)
        if lengths_in.size and (lengths_in.min() < 0 or lengths_in.max() > steps):
            return f"{op}: input_lengths {lengths_in.tolist()} must each be in [0, T={steps}]"
        if labels.ndim == 1:
            if counts.min(initial=0) < 0 or counts.sum() > labels.shape[0]:
                return (f"{op}: concatenated targets of shape {labels.shape} hold fewer than the "
                        f"{int(counts.sum())} labels of target_lengths {counts.tolist()}")
            labels = _padded_rows(labels, counts)
        if counts.size and (counts.min() < 0 or counts.max() > labels.shape[1]):
            return (f"{op}: targets of shape {labels.shape} do not hold target_lengths {counts.tolist()} "
                    f"(each in [0, {labels.shape[1]}])")
        used = np.arange(labels.shape[1]) < counts[:, None]
        bad = used & ((labels < 0) | (labels >= classes) | (labels == blank))
        if bad.any():
            row = int(np.flatnonzero(bad.any(1))[0])
            return (f"{op}: target labels must lie in [0, {classes}) and differ from blank={blank}, "
                    f"got {labels[row, :counts[row]].tolist()}")
        return None
    return check


class _CTCNegLogLikelihood(Function):
    """``-log p(target | input)`` per sample (N,) of ``log_probs`` (T, N, C) for the
    extended targets ``labels`` (N, S'), their ``skip`` mask, input lengths ``steps`` and
    target lengths ``counts`` (``topi.ctc``). The forward keeps its chunks of alphas for
    the gradient."""
    nondiff = (1, 2, 3, 4)
    saved = (0, 1, 2, 3, 4)

    def forward(self, log_probs, labels, skip, steps, counts):
        start = np.full((CHUNK,) + labels.shape, float("-inf"), dtype=log_probs.dtype)
        start[:, :, 0] = 0.0                # the virtual alpha_{-1}: t = 0 enters state 0 or 1
        self.start = nd.array(start, device=log_probs.device)
        alphas, self.alphas = self.start, []
        for t in range(0, log_probs.shape[0], CHUNK):
            alphas = dispatch.run("ctc_alpha_steps", ctc_alpha_steps, [log_probs, labels, skip, steps, alphas],
                                  scalars=(t,), scalar_dtypes=("int64",), attrs=(("count", CHUNK),))
            self.alphas.append(alphas)
        self.nll = dispatch.run("ctc_nll", ctc_nll, [alphas, steps, counts])
        return self.nll

    def backward(self, g):
        log_probs, labels, skip, steps, counts = (t._data for t in self.inputs)
        betas, grads = self.start, []       # the last chunk restarts every sample: its input is unread
        for chunk in range(len(self.alphas) - 1, -1, -1):
            betas, grad = dispatch.run("ctc_beta_grad_steps", ctc_beta_grad_steps,
                                       [log_probs, labels, skip, steps, counts, betas, self.alphas[chunk], self.nll,
                                        g._data], scalars=(chunk * CHUNK,), scalar_dtypes=("int64",),
                                       attrs=(("count", CHUNK),))
            grads.append(Tensor._wrap(grad))
        with no_grad():
            grad = cat(grads[::-1]) if len(grads) > 1 else grads[0]
            total = log_probs.shape[0]
            grad = narrow(grad, 0, 0, total) if grad.shape[0] != total else grad
        return grad, None, None, None, None


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """CTC loss of ``log_probs`` (T, N, C) (or unbatched (T, C)) against ``targets``
    (padded (N, S), or 1-d: every sample's labels one after another), with each sample's
    ``input_lengths`` and ``target_lengths`` (tensors or sequences). "mean" divides each
    loss by its target length (at least 1) and averages over the batch, as PyTorch's;
    ``zero_infinity`` makes impossible alignments (infinite losses) 0, gradient included."""
    op = "ctc_loss"
    _float_input(op, log_probs)
    if reduction not in ("mean", "sum", "none"):
        raise ShapeError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = ops.reshape(log_probs, (log_probs.shape[0], 1, log_probs.shape[1]))
    if log_probs.ndim != 3:
        raise ShapeError(f"{op}: log_probs must be (T, N, C) or (T, C), got {log_probs.shape}")
    steps, batch, classes = log_probs.shape
    if not steps * batch * classes:
        raise ShapeError(f"{op}: log_probs tensor must not be empty, got {log_probs.shape}")
    if not 0 <= blank < classes:
        raise ShapeError(f"{op}: blank must be in the label range [0, {classes}), got {blank}")
    device = log_probs.device
    given = [_int_tensor(op, name, value, device) for name, value in
             (("targets", targets), ("input_lengths", input_lengths), ("target_lengths", target_lengths))]
    targets, lengths_in, counts = (ops.reshape(t, shape).to(device, "int64") for t, shape in
                                   zip(given, ((1, given[0].numel()) if unbatched else given[0].shape, (-1,), (-1,))))
    if lengths_in.shape != (batch,):
        raise ShapeError(f"{op}: input_lengths of shape {lengths_in.shape} for a batch of {batch}")
    if counts.shape != (batch,):
        raise ShapeError(f"{op}: target_lengths of shape {counts.shape} for a batch of {batch}")
    if targets.ndim not in (1, 2) or targets.ndim == 2 and targets.shape[0] != batch:
        raise ShapeError(f"{op}: targets must be (N, S) padded or 1-d concatenated for a batch of {batch}, "
                         f"got {targets.shape}")
    check = _problem(op, steps, classes, blank, targets.shape)
    problem = check(*(t.numpy() for t in given)) if dispatch.thread.tracer is None else dispatch.host_check_all(
        given, lambda *arrays: check(*(a._storage.host_view() for a in arrays)))
    if problem is not None:
        raise ShapeError(problem)
    if targets.ndim == 1:
        targets = Tensor._wrap(dispatch.run("ctc_unpack", ctc_unpack, [targets._data, counts._data],
                                            attrs=(("width", _longest(op, given[2])),)))
    labels, skip = (Tensor._wrap(a) for a in dispatch.run("ctc_extend", ctc_extend, [targets._data, counts._data],
                                                          attrs=(("blank", blank), ("classes", classes))))
    loss = _CTCNegLogLikelihood.apply(log_probs, labels, skip, lengths_in, counts)
    if zero_infinity:
        loss = ops.where(ops.compare(loss, float("inf"), "eq"), 0.0, loss)
    if reduction == "none":
        return ops.reshape(loss, ()) if unbatched else loss
    if reduction == "sum":
        return ops.sum(loss)
    return ops.mean(loss / clamp(ops.cast(counts, log_probs.dtype), min=1))
