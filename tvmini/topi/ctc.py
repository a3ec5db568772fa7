"""The kernels of the CTC loss (``F.ctc_loss``): concatenated targets padded, the
targets extended with blanks, the forward (alpha) recursion in log space a chunk of
steps per kernel, the loss from the last alphas, and the backward (beta) recursion
fused with the gradient with respect to the log-probabilities, a chunk of steps per
kernel.

Shapes: ``log_probs`` (T, N, C); the targets padded to ``S`` labels, ``targets`` (N, S)
(any integer type); the target extended with blanks, ``labels`` (N, S') int64 with
``S'`` the least multiple of ``LANES`` from ``2 S + 1`` (the blank at even states, the
k-th label at state 2k+1, the blank also past a sample's own ``2 counts[n] + 1`` states); ``skip`` (N, S') bool, true at a
label state that may be entered from two states back (a label differing from the
previous one); ``steps`` (N,) each sample's input length; ``counts`` (N,) its target
length. Lengths are read on the device, so one kernel serves every length of a padded
shape (and ``tm.jit`` replays a traced step for other lengths): the states past a
sample's target are reachable only from one another, never reach its final states
and get gradient 0, and its steps past its input length change nothing.

``alpha_t(s)`` is the log-probability of the prefixes of length ``t + 1`` ending in
state ``s``, the emission at ``t`` included: the log-sum-exp of the up-to-three
predecessors ``alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2)`` (the last where
``skip``) plus ``log_probs[t, n, labels[n, s]]``. Starting from a virtual
``alpha_{-1}`` that is 0 at state 0 and ``-inf`` elsewhere gives exactly PyTorch's
start (the blank or the first label at t = 0). ``beta_t(s)`` is the log-probability
of the completions after ``t`` from state ``s``, the emission at ``t`` excluded, so
``alpha_t(s) + beta_t(s)`` is the log-probability of the paths through ``(t, s)`` and
``d log p / d log_probs[t, n, c]`` sums ``exp(alpha + beta - log p)`` over the states
labelled ``c``. ``-inf`` (unreachable) states stay ``-inf`` and never make a NaN.

A chunk kernel runs ``count`` steps from row ``t`` (a scalar, so one kernel serves
every chunk), each step a stage of its own, their rows stacked into one (count, N, S')
output; rows past T copy (alphas) or restart (betas) and read clamped rows. The CPU
rule runs a chunk as one parallel loop over the batch with every step of a sample
inside it, the states as vector lanes (``schedule_steps``). T=50, N=16, C=20, S=10-30,
forward and backward, CPU time on one thread (benchmarks/scans.py --threads 1 --clock
cpu): 8.0 ms as a loop nest per step and the gradient one kernel over all steps, now
3.2 ms (2.6 ms as a ``tm.jit`` step); torch 1.9 ms.
"""
import math

from .. import te
from ..tir import expr as E
from .schedule import MATERIALIZED, register, target_kind
from .transform import _check

__all__ = ["ctc_unpack", "ctc_extend", "ctc_alpha_steps", "ctc_nll", "ctc_beta_grad_steps"]

#: Steps of the recursions per kernel call: a call costs tens of microseconds of host
#: time, a step of a small batch a few; every T runs the same kernels (the last chunk's
#: rows past T are masked).
CHUNK = 8
#: The extended targets' width is a multiple of this (the states past ``2 S + 1`` are
#: blanks, like those past a shorter target), so the CPU runs the states as vector lanes.
LANES = 8
#: Elements of a chunk (rows x samples x states; the gradient: x classes) from which its
#: loop over the batch runs in parallel: a state's step costs about eight plain
#: operations (three exps, a log, gathers), so this is the CPU rules' ``PARALLEL_MIN``
#: of 2^16 operations.
#: (T=50, N=16, C=20, S=30 on 2 cores shared with busy processes: fastest of 21 calls
#: 1.2 ms parallel, 1.9 ms serial; the median is the other way round, 19 vs 5 ms.)
PARALLEL_WORK = 1 << 13
#: Tags of a chunk's stacked output and of its gradient (``schedule_steps``).
STEPS_TAG, GRAD_TAG = "ctc_steps", "ctc_grad"


def _lse3(a, b, c):
    """``log(exp(a) + exp(b) + exp(c))``; ``-inf`` when all three are."""
    top = te.max(te.max(a, b), c)
    neg_inf = E.const(float("-inf"), a.dtype)
    safe = te.if_then_else(top == neg_inf, E.const(0, a.dtype), top)
    total = te.exp(a - safe) + te.exp(b - safe) + te.exp(c - safe)
    return te.if_then_else(top == neg_inf, neg_inf, safe + te.log(total))


def _clamp(i, n):
    return te.min(te.max(i, 0), n - 1)


# One-sided clamps where the other side holds by construction (rows and states from 0
# on): half the min/max terms for the lowering's simplifier, the cost of building a
# chunk's kernel.
def _below(i, n):
    return te.min(i, n - 1)


def _above(i):
    return te.max(i, 0)


def _extent(x, axis):
    n = x.shape[axis]
    return int(n.value) if isinstance(n, E.Const) else n


def ctc_extend(targets, counts, blank, classes):
    """``[labels, skip]`` (N, S') from padded ``targets`` (N, S) and ``counts`` (N,):
    the blank at even states and past ``2 counts[n]``, else the label (clamped into
    ``[0, classes)``: a kernel never reads outside ``log_probs``, whatever the values);
    ``skip`` where a label differs from the one before it."""
    for x in (targets, counts):
        _check(x, "ctc_extend")
    batch, width = targets.shape[0], _extent(targets, 1)
    blank_label = E.const(blank, "int64")

    def label(n, k):
        return _clamp(targets[n, _clamp(k, width)].astype("int64"), classes)

    def labels_body(n, s):
        k = (s - 1) // 2
        if width == 0:
            return blank_label
        return te.if_then_else(te.all(s % 2 == 1, k < counts[n]), label(n, k), blank_label)

    def skip_body(n, s):
        k = (s - 1) // 2
        if width == 0:
            return E.const(False, "bool")
        return te.all(s % 2 == 1, s >= 3, k < counts[n], label(n, k) != label(n, k - 1))
    shape = (batch, -(-(2 * width + 1) // LANES) * LANES)
    return [te.compute(shape, labels_body, name="ctc_extend.labels", tag="injective"),
            te.compute(shape, skip_body, name="ctc_extend.skip", tag="injective")]


def ctc_unpack(targets, counts, width):
    """Concatenated ``targets`` (L,) (every sample's labels one after another, ``counts``
    (N,) of them each) as padded (N, ``width``) ones: row ``n`` from the sum of the
    counts before it on (reads clamped into the L labels; 0 past a row's count)."""
    for x in (targets, counts):
        _check(x, "ctc_unpack")
    total, batch = _extent(targets, 0), counts.shape[0]
    m = te.reduce_axis((0, batch), name="m")
    start = te.compute((batch,), lambda n: te.sum(counts[m.var], axis=m, where=m.var < n), name="ctc_unpack.start",
                       tag="reduce")

    def body(n, j):
        if total == 0:
            return E.const(0, targets.dtype)
        at = _clamp(start[n] + j, total)
        return te.if_then_else(j < counts[n], targets[at], E.const(0, targets.dtype))
    return te.compute((batch, width), body, name="ctc_unpack", tag="injective")


def _stack(steps, name):
    """One (count, N, S') tensor of the ``count`` step stages (each (N, S'))."""
    def body(k, n, s):
        out = steps[-1][n, s]
        for j in range(len(steps) - 2, -1, -1):
            out = te.if_then_else(k == j, steps[j][n, s], out)
        return out
    return te.compute((len(steps),) + tuple(steps[0].shape), body, name=name, tag=STEPS_TAG)


def ctc_alpha_steps(log_probs, labels, skip, steps, prev, t, count):
    """The alphas of rows ``t .. t + count - 1`` (count, N, S') from ``prev`` (P, N, S'),
    whose last row is ``alpha_{t-1}`` (the virtual start before row 0); a sample keeps
    its alphas from its input length on (rows past T included)."""
    for x in (log_probs, labels, skip, steps, prev):
        _check(x, "ctc_alpha_steps")
    last = _extent(prev, 0) - 1
    neg_inf = E.const(float("-inf"), prev.dtype)

    def stage(before, row):
        def alpha(n, state):
            return before[n, state] if before is not None else prev[last, n, state]

        def body(n, s):
            stay = alpha(n, s)
            step = te.if_then_else(s >= 1, alpha(n, _above(s - 1)), neg_inf)
            jump = te.if_then_else(te.all(s >= 2, skip[n, s]), alpha(n, _above(s - 2)), neg_inf)
            new = _lse3(stay, step, jump) + log_probs[_below(row, log_probs.shape[0]), n, labels[n, s]]
            return te.if_then_else(row < steps[n], new, stay)
        return body
    out = []
    for k in range(count):
        out.append(te.compute(labels.shape, stage(out[-1] if out else None, t + k), name=f"ctc_alpha.step{k}",
                              tag=MATERIALIZED))
    return _stack(out, "ctc_alphas")


def _final(s, count):
    """Whether state ``s`` ends a target of ``count`` labels (its last blank or label)."""
    return te.any(s == 2 * count, te.all(count > 0, s == 2 * count - 1))


def ctc_nll(alphas, steps, counts):
    """``-log p(target | input)`` (N,) from the last chunk of alphas (its last row holds
    every sample's alphas after its last step): the log-sum-exp of the two final states
    negated; a sample with no input steps has loss 0 for an empty target and ``inf``
    otherwise."""
    for x in (alphas, steps, counts):
        _check(x, "ctc_nll")
    width = _extent(alphas, 2)
    last = _extent(alphas, 0) - 1
    neg_inf, inf, zero = (E.const(v, alphas.dtype) for v in (float("-inf"), float("inf"), 0))

    def body(n):
        count = counts[n]
        blank_end = alphas[last, n, _clamp(2 * count, width)]
        label_end = te.if_then_else(count > 0, alphas[last, n, _clamp(2 * count - 1, width)], neg_inf)
        nll = -_lse3(blank_end, label_end, neg_inf)
        return te.if_then_else(steps[n] == 0, te.if_then_else(count == 0, zero, inf), nll)
    return te.compute((alphas.shape[1],), body, name="ctc_nll", tag="injective")


def ctc_beta_grad_steps(log_probs, labels, skip, steps, counts, after, alphas, nll, g, t, count):
    """``[betas, grad]`` of rows ``t .. t + count - 1``: the betas (count, N, S'), from
    ``after`` (P, N, S'), whose first row is ``beta_{t+count}`` (unread when the chunk
    holds row T - 1: every sample restarts there or before), and the gradient (count, N,
    C) of ``g . nll`` with respect to those rows of ``log_probs``, from the same rows of
    the forward's ``alphas``: ``-g[n]`` times the sum over the states labelled ``c`` of
    ``exp(alpha + beta + nll)`` at a step ``< steps[n]`` of a sample with a finite loss,
    else 0 (an impossible target has no gradient).

    ``beta_r`` is 0 at the final states and ``-inf`` elsewhere at a sample's last step
    ``r = steps[n] - 1`` (and after it, where it is never used), else the log-sum-exp
    over the successors ``s, s+1, s+2`` (the last where ``skip`` at ``s + 2``) of
    ``beta_{r+1} + log_probs[r + 1]`` there."""
    for x in (log_probs, labels, skip, steps, counts, after, alphas, nll, g):
        _check(x, "ctc_beta_grad_steps")
    width = _extent(labels, 1)
    rows = log_probs.shape[0]
    neg_inf, zero, inf = (E.const(v, after.dtype) for v in (float("-inf"), 0, float("inf")))

    def stage(later, row):
        def successor(n, s, j):
            at = _below(s + j, width)
            beta = later[n, at] if later is not None else after[0, n, at]
            return beta + log_probs[_below(row + 1, rows), n, labels[n, at]]

        def body(n, s):
            stay = successor(n, s, 0)
            step = te.if_then_else(s + 1 < width, successor(n, s, 1), neg_inf)
            jump = te.if_then_else(te.all(s + 2 < width, skip[n, _below(s + 2, width)]), successor(n, s, 2), neg_inf)
            start = te.if_then_else(_final(s, counts[n]), zero, neg_inf)
            return te.if_then_else(row >= steps[n] - 1, start, _lse3(stay, step, jump))
        return body
    out = [None] * count
    for k in range(count - 1, -1, -1):
        out[k] = te.compute(labels.shape, stage(out[k + 1] if k + 1 < count else None, t + k),
                            name=f"ctc_beta.step{k}", tag=MATERIALIZED)
    betas = _stack(out, "ctc_betas")
    share = te.compute(betas.shape, lambda k, n, s: te.exp(alphas[k, n, s] + betas[k, n, s] + nll[n]),
                       name="ctc_grad.share", tag=MATERIALIZED)
    s = te.reduce_axis((0, width), name="s")

    def grad(k, n, c):
        used = te.all(labels[n, s.var] == c, t + k < steps[n], nll[n] < inf)
        return te.sum(te.if_then_else(used, -g[n] * share[k, n, s.var], zero), axis=s)
    return [betas, te.compute((count,) + tuple(log_probs.shape[1:]), grad, name="ctc_grad", tag=GRAD_TAG)]


def _steps_of(tensor):
    """The step stages (and the gradient's shares) feeding a chunk's output ``tensor``."""
    return [t.op for t in tensor.op.input_tensors if getattr(t.op, "tag", None) == MATERIALIZED]


@register(STEPS_TAG)
@register(GRAD_TAG)
def schedule_steps(sch, tensor, target="llvm"):
    """A chunk's output (k, N, ...) on the CPU: one loop over the batch, parallel when it
    has several samples, with each step stage (the gradient: its shares) computed for
    the sample inside it, so a chunk is one parallel launch rather than a launch per
    step (other targets have rules of their own for every tag)."""
    if target_kind(target) not in ("llvm", "cpu"):
        return
    stage = sch[tensor]
    k, n, inner = stage.op.axis
    if stage.op.reduce_axis:
        # the gradient: states outside, classes inside as vector lanes (one label
        # compared with every class at once)
        classes = _extent(tensor, 2)
        lanes = next((w for w in (8, 4) if isinstance(classes, int) and classes % w == 0), None)
        stage.reorder(n, k, *stage.op.reduce_axis, inner)
        if lanes:
            stage.vectorize(stage.split(inner, factor=lanes)[1])
    else:
        stage.reorder(n, k, inner)
        _lanes(stage, inner)
    extents = [e.value if isinstance(e, E.Const) else None for e in
               list(tensor.shape) + [iv.dom.extent for iv in stage.op.reduce_axis]]
    if None in extents or extents[1] > 1 and math.prod(extents) >= PARALLEL_WORK:
        stage.parallel(n)
    for op in _steps_of(tensor):
        step = sch[op.output(0)]
        step.compute_at(stage, n)
        _lanes(step, op.axis[-1])


def _lanes(stage, states):
    """The states (a multiple of ``LANES`` wide, see :func:`ctc_extend`) as vector lanes."""
    if isinstance(states.dom.extent, E.Const) and states.dom.extent.value % LANES == 0:
        stage.vectorize(stage.split(states, factor=LANES)[1])
