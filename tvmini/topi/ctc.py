"""The kernels of the CTC loss (``F.ctc_loss``): one step of the forward (alpha) and
backward (beta) recursions in log space, the loss from the last alphas, and the
gradient with respect to the log-probabilities from all alphas and betas.

Shapes: ``log_probs`` (T, N, C); the target extended with blanks, ``labels`` (N, S')
int64 with ``S' = 2 S + 1`` (the blank at even states, the k-th label at state 2k+1);
``skip`` (N, S') bool, true at a label state that may be entered from two states back
(a label differing from the previous one); ``steps`` (N,) each sample's input length;
``counts`` (N,) its target length. ``t`` is a scalar (int64), so one kernel serves
every step; a kernel runs ``CHUNK`` steps of a recursion, each step's alphas (betas) an
output, so the host calls one kernel per ``CHUNK`` steps.

``alpha_t(s)`` is the log-probability of the prefixes of length ``t + 1`` ending in
state ``s``, the emission at ``t`` included: the log-sum-exp of the up-to-three
predecessors ``alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2)`` (the last where
``skip``) plus ``log_probs[t, n, labels[n, s]]``. Starting from a virtual
``alpha_{-1}`` that is 0 at state 0 and ``-inf`` elsewhere gives exactly PyTorch's
start (the blank or the first label at t = 0). ``beta_t(s)`` is the log-probability
of the completions after ``t`` from state ``s``, the emission at ``t`` excluded, so
``alpha_t(s) + beta_t(s)`` is the log-probability of the paths through ``(t, s)`` and
``d log p / d log_probs[t, n, c]`` sums ``exp(alpha + beta - log p)`` over the states
labelled ``c``. A sample's steps past its input length copy its alphas unchanged and
have no gradient. ``-inf`` (unreachable) states stay ``-inf`` and never make a NaN.
"""
from .. import te
from ..tir import expr as E
from .transform import _check

__all__ = ["ctc_alpha_step", "ctc_beta_step", "ctc_alpha_steps", "ctc_beta_steps", "ctc_nll", "ctc_grad"]

#: Steps of the recursion per kernel call (:func:`ctc_alpha_steps`, :func:`ctc_beta_steps`):
#: a call costs tens of microseconds of host time, a step of a small batch far less.
CHUNK = 8


def _lse3(a, b, c):
    """``log(exp(a) + exp(b) + exp(c))``; ``-inf`` when all three are."""
    top = te.max(te.max(a, b), c)
    neg_inf = E.const(float("-inf"), a.dtype)
    safe = te.if_then_else(top == neg_inf, E.const(0, a.dtype), top)
    total = te.exp(a - safe) + te.exp(b - safe) + te.exp(c - safe)
    return te.if_then_else(top == neg_inf, neg_inf, safe + te.log(total))


def _clamp(i, n):
    return te.min(te.max(i, 0), n - 1)


def _states(labels):
    return int(labels.shape[1].value) if isinstance(labels.shape[1], E.Const) else labels.shape[1]


def ctc_alpha_steps(log_probs, labels, skip, steps, alpha, t, count):
    """``[alpha_t, ..., alpha_{t+count-1}]`` from ``alpha`` = ``alpha_{t-1}``: ``count``
    steps of :func:`ctc_alpha_step` in one kernel, each an output of its own (steps past
    the input keep their alphas, and a step past T reads no input)."""
    out = []
    for k in range(count):
        alpha = ctc_alpha_step(log_probs, labels, skip, steps, alpha, t + k, name=f"ctc_alpha_step{k}")
        out.append(alpha)
    return out


def ctc_beta_steps(log_probs, labels, skip, steps, counts, beta, t, count):
    """``[beta_t, ..., beta_{t-count+1}]`` from ``beta`` = ``beta_{t+1}`` in one kernel
    (:func:`ctc_beta_step`; a step before 0 is computed from clamped reads and unused)."""
    out = []
    for k in range(count):
        beta = ctc_beta_step(log_probs, labels, skip, steps, counts, beta, t - k, name=f"ctc_beta_step{k}")
        out.append(beta)
    return out


def ctc_alpha_step(log_probs, labels, skip, steps, alpha, t, name="ctc_alpha_step"):
    """``alpha_t`` (N, S') from ``alpha`` = ``alpha_{t-1}`` (the virtual start at t = 0);
    a sample with ``t >= steps[n]`` keeps ``alpha``."""
    for x in (log_probs, labels, skip, steps, alpha):
        _check(x, "ctc_alpha_step")
    width = _states(labels)
    at = _clamp(t, log_probs.shape[0])
    neg_inf = E.const(float("-inf"), alpha.dtype)

    def body(n, s):
        stay = alpha[n, s]
        step = te.if_then_else(s >= 1, alpha[n, _clamp(s - 1, width)], neg_inf)
        jump = te.if_then_else(te.all(s >= 2, skip[n, s]), alpha[n, _clamp(s - 2, width)], neg_inf)
        new = _lse3(stay, step, jump) + log_probs[at, n, labels[n, s]]
        return te.if_then_else(t < steps[n], new, stay)
    return te.compute(alpha.shape, body, name=name, tag="injective")


def _final(s, count):
    """Whether state ``s`` ends a target of ``count`` labels (its last blank or label)."""
    return te.any(s == 2 * count, te.all(count > 0, s == 2 * count - 1))


def ctc_beta_step(log_probs, labels, skip, steps, counts, beta, t, name="ctc_beta_step"):
    """``beta_t`` (N, S') from ``beta`` = ``beta_{t+1}``: 0 at the final states and
    ``-inf`` elsewhere at a sample's last step ``t = steps[n] - 1`` (and after it, where
    it is never used), else the log-sum-exp over the successors ``s, s+1, s+2`` (the
    last where ``skip`` at ``s + 2``) of ``beta_{t+1} + log_probs[t + 1]`` there."""
    for x in (log_probs, labels, skip, steps, counts, beta):
        _check(x, "ctc_beta_step")
    width = _states(labels)
    last_step = log_probs.shape[0] - 1
    neg_inf, zero = E.const(float("-inf"), beta.dtype), E.const(0, beta.dtype)

    def body(n, s):
        after = _clamp(t + 1, last_step + 1)

        def successor(k):
            at = _clamp(s + k, width)
            return beta[n, at] + log_probs[after, n, labels[n, at]]
        stay = successor(0)
        step = te.if_then_else(s + 1 < width, successor(1), neg_inf)
        jump = te.if_then_else(te.all(s + 2 < width, skip[n, _clamp(s + 2, width)]), successor(2), neg_inf)
        start = te.if_then_else(_final(s, counts[n]), zero, neg_inf)
        return te.if_then_else(t >= steps[n] - 1, start, _lse3(stay, step, jump))
    return te.compute(beta.shape, body, name=name, tag="injective")


def ctc_nll(alpha, steps, counts):
    """``-log p(target | input)`` (N,) from the alphas after the last step: the
    log-sum-exp of the two final states negated; a sample with no input steps has
    loss 0 for an empty target and ``inf`` otherwise."""
    for x in (alpha, steps, counts):
        _check(x, "ctc_nll")
    width = _states(alpha)
    neg_inf, inf, zero = (E.const(v, alpha.dtype) for v in (float("-inf"), float("inf"), 0))

    def body(n):
        count = counts[n]
        blank_end = alpha[n, _clamp(2 * count, width)]
        label_end = te.if_then_else(count > 0, alpha[n, _clamp(2 * count - 1, width)], neg_inf)
        nll = -_lse3(blank_end, label_end, neg_inf)
        return te.if_then_else(steps[n] == 0, te.if_then_else(count == 0, zero, inf), nll)
    return te.compute((alpha.shape[0],), body, name="ctc_nll", tag="injective")


def ctc_grad(log_probs, labels, steps, alphas, betas, nll, g):
    """The gradient (T, N, C) of ``g . nll`` with respect to ``log_probs``: at step
    ``t < steps[n]`` of a sample with a finite loss, ``-g[n]`` times the sum over the
    states labelled ``c`` of ``exp(alphas + betas + nll)`` (``alphas``, ``betas``:
    (T * N, S'), the steps one after another); 0 elsewhere (an impossible target has no
    gradient)."""
    for x in (log_probs, labels, steps, alphas, betas, nll, g):
        _check(x, "ctc_grad")
    s = te.reduce_axis((0, labels.shape[1]), name="s")
    zero = E.const(0, log_probs.dtype)
    inf = E.const(float("inf"), log_probs.dtype)

    batch = log_probs.shape[1]

    def body(t, n, c):
        used = te.all(labels[n, s.var] == c, t < steps[n], nll[n] < inf)
        share = te.exp(alphas[t * batch + n, s.var] + betas[t * batch + n, s.var] + nll[n])
        return te.sum(te.if_then_else(used, -g[n] * share, zero), axis=s)
    return te.compute(log_probs.shape, body, name="ctc_grad", tag="reduce")
