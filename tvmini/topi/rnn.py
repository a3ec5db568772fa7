"""The fused per-time-step kernels of the recurrent layers (RNN, LSTM, GRU) and their
gradients, plus ``stack_steps`` that joins the steps' states into one sequence and
``step_rows`` (one step's rows of a gradient, for an LSTM's projection).

A recurrent layer computes the input projection of every time step at once (one GEMM,
``xp = x @ W_ih^T + b_ih``, laid out as (T * B, G) rows: step ``t`` is rows ``t*B ..
t*B + B - 1``) and then, per step, the recurrent product ``hh = h @ W_hh^T + b_hh`` (one
GEMM) and one of the kernels here, which reads step ``t`` of ``xp`` (``t`` is a runtime
scalar, so one build serves every step) and does all of the cell's elementwise work in
one pass: gate activations, the new cell state and the new hidden state. Gates are stacked along the feature axis in
PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), each ``H`` wide; a (B, G) compute
picks its gate by comparing the feature index with the gates' bounds and reads the
unit at that index shifted back by the gate's offset, so consecutive features load
consecutive elements and the loops vectorize (only a taken branch loads). Per-unit
values several gates read (``tanh(c')``, the gradient reaching ``c'``) are computed
once, before the gates (``MATERIALIZED``), not again in each gate's branch.

The gradient kernels take the gradient of the whole output sequence (``gy``, rows as
``xp``) with the same scalar ``t`` and the gradient flowing back from the next step, and
return the gradients of the gate pre-activations (what the GEMMs of the backward pass
need). Measured per call at B 32, H 128 on one thread: ``lstm_step`` 0.02 ms,
``lstm_step_grad`` 0.02 ms (0.95 ms when each gate's branch recomputed ``tanh(c')`` and
the gradient reaching ``c'``, and found its unit with ``j % H``: scalar code); the LSTM
as a chain of ~15 small graph ops per step instead makes 1478 kernel calls per
forward + backward of 32 steps against 155 (benchmarks/rnn.py).
"""
from .. import te
from .schedule import MATERIALIZED

#: Tag of these computes: index-mapped, not one-to-one (the default schedules treat them
#: like ``concatenate``).
_TAG = "injective"


def _width(hh, gates):
    """H, the hidden size, from the recurrent product ``hh`` of shape (B, gates * H)."""
    return int(hh.shape[1].value) // gates


def _batch(state):
    """B, the batch size, from a (B, F) per-step array: step ``t`` of a sequence laid out
    as (T * B, F) rows is rows ``t * B`` to ``t * B + B - 1``."""
    return int(state.shape[0].value)


def _sigmoid_grad(s):
    return s * (1.0 - s)


def _tanh_grad(y):
    return 1.0 - y * y


# ------------------------------------------------------------------------------ RNN

def _act(value, nonlinearity):
    return te.tanh(value) if nonlinearity == "tanh" else te.max(value, te.const(0, value.dtype))


def rnn_step(xp, hh, t, nonlinearity="tanh"):
    """Elman step: ``h' = act(xp[t] + hh)`` (act: tanh or relu)."""
    B = _batch(hh)
    return te.compute(hh.shape, lambda b, j: _act(xp[t * B + b, j] + hh[b, j], nonlinearity), name="rnn_h", tag=_TAG)


def rnn_step_grad(gy, dh_next, h, t, nonlinearity="tanh"):
    """The pre-activation's gradient of an Elman step whose output ``h`` received
    ``gy[t] + dh_next`` (relu: none where ``h`` is 0, as PyTorch's at 0)."""
    B = _batch(dh_next)
    def value(b, j):
        dh = gy[t * B + b, j] + dh_next[b, j]
        if nonlinearity == "tanh":
            return dh * _tanh_grad(h[b, j])
        return te.if_then_else(h[b, j] > te.const(0, h.dtype), dh, te.const(0, h.dtype))
    return te.compute(h.shape, value, name="rnn_dpre", tag=_TAG)


# ------------------------------------------------------------------------------ LSTM

def _gate_select(jj, H, values):
    """``values[k](jj - k*H)`` for the gate ``k`` that feature ``jj`` lies in: each
    branch indexes with ``jj`` shifted by a constant, so a vector of consecutive ``jj``
    loads consecutive elements (only the taken branch's lanes load)."""
    value = values[-1](jj - (len(values) - 1) * H)
    for k in range(len(values) - 2, -1, -1):
        value = te.if_then_else(jj < (k + 1) * H, values[k](jj - k * H), value)
    return value


def lstm_step(xp, hh, c, t):
    """LSTM step: the activated gates ``acts`` (B, 4H) = (σ(i), σ(f), tanh(g), σ(o)) of
    ``xp[t] + hh``, ``c' = f*c + i*g`` and ``h' = o*tanh(c')``; returns [h', c', acts]
    (``acts`` is kept for the gradient)."""
    B = _batch(hh)
    H = _width(hh, 4)

    def act(b, j):
        pre = xp[t * B + b, j] + hh[b, j]
        is_g = (j >= 2 * H) & (j < 3 * H)
        return te.if_then_else(is_g, te.tanh(pre), te.sigmoid(pre))
    acts = te.compute(hh.shape, act, name="lstm_acts", tag=_TAG)
    c_new = te.compute(c.shape, lambda b, j: acts[b, H + j] * c[b, j] + acts[b, j] * acts[b, 2 * H + j],
                       name="lstm_c", tag=_TAG)
    h_new = te.compute(c.shape, lambda b, j: acts[b, 3 * H + j] * te.tanh(c_new[b, j]), name="lstm_h", tag=_TAG)
    return [h_new, c_new, acts]


def lstm_step_grad(gy, dh_next, dc_next, acts, c_new, c_prev, t):
    """Gradients of an LSTM step whose ``h'`` received ``gy[t] + dh_next`` and whose
    ``c'`` received ``dc_next``: [d gates (B, 4H, pre-activation), d c_prev]. ``tanh(c')``
    and the whole gradient reaching ``c'`` are computed once per unit (materialized),
    then each gate's gradient reads them."""
    B = _batch(dh_next)
    H = _width(acts, 4)
    shape = c_prev.shape
    tc = te.compute(shape, lambda b, j: te.tanh(c_new[b, j]), name="lstm_tc", tag=MATERIALIZED)

    def dh(b, j):
        return gy[t * B + b, j] + dh_next[b, j]
    dc = te.compute(shape, lambda b, j: dc_next[b, j] + dh(b, j) * acts[b, 3 * H + j] * _tanh_grad(tc[b, j]),
                    name="lstm_dc_total", tag=MATERIALIZED)

    def dgate(b, jj):
        a = acts[b, jj]
        return _gate_select(jj, H, [
            lambda j: dc[b, j] * acts[b, j + 2 * H] * _sigmoid_grad(a),            # i
            lambda j: dc[b, j] * c_prev[b, j] * _sigmoid_grad(a),                   # f
            lambda j: dc[b, j] * acts[b, j] * _tanh_grad(a),                        # g
            lambda j: dh(b, j) * tc[b, j] * _sigmoid_grad(a)])                      # o
    dgates = te.compute(acts.shape, dgate, name="lstm_dgates", tag=_TAG)
    dc_prev = te.compute(shape, lambda b, j: dc[b, j] * acts[b, H + j], name="lstm_dc", tag=_TAG)
    return [dgates, dc_prev]


# ------------------------------------------------------------------------------- GRU

def gru_step(xp, hh, h, t):
    """GRU step (PyTorch's): ``r = σ(xr + hr)``, ``z = σ(xz + hz)``,
    ``n = tanh(xn + r * hn)`` (``hh`` includes ``b_hh``, so ``r`` scales ``W_hn h + b_hn``),
    ``h' = (1 - z) * n + z * h``; returns [h', acts (B, 3H) = (r, z, n)]."""
    B = _batch(hh)
    H = _width(hh, 3)

    def act(b, jj):
        def n(j):       # r of the same unit, 2H features back
            return te.tanh(xp[t * B + b, jj] + te.sigmoid(xp[t * B + b, j] + hh[b, j]) * hh[b, jj])
        return te.if_then_else(jj < 2 * H, te.sigmoid(xp[t * B + b, jj] + hh[b, jj]), n(jj - 2 * H))
    acts = te.compute(hh.shape, act, name="gru_acts", tag=_TAG)
    h_new = te.compute(h.shape, lambda b, j: (1.0 - acts[b, H + j]) * acts[b, 2 * H + j] + acts[b, H + j] * h[b, j],
                       name="gru_h", tag=_TAG)
    return [h_new, acts]


def gru_step_grad(gy, dh_next, dh_direct, acts, hh, h_prev, t):
    """Gradients of a GRU step whose ``h'`` received ``gy[t] + dh_next + dh_direct``:
    [d xp[t] (B, 3H), d hh (B, 3H), the part of d h_prev that skips the GEMM (``z * dh``)].
    The two gate gradients differ only on n, where ``hh``'s is scaled by r. The
    per-unit gradients of the three pre-activations are materialized first."""
    B = _batch(dh_next)
    H = _width(acts, 3)
    shape = h_prev.shape
    dh = te.compute(shape, lambda b, j: gy[t * B + b, j] + dh_next[b, j] + dh_direct[b, j], name="gru_dh_total",
                    tag=MATERIALIZED)
    dn = te.compute(shape, lambda b, j: dh[b, j] * (1.0 - acts[b, H + j]) * _tanh_grad(acts[b, 2 * H + j]),
                    name="gru_dn", tag=MATERIALIZED)
    dr = te.compute(shape, lambda b, j: dn[b, j] * hh[b, 2 * H + j] * _sigmoid_grad(acts[b, j]), name="gru_dr",
                    tag=MATERIALIZED)
    dz = te.compute(shape, lambda b, j: dh[b, j] * (h_prev[b, j] - acts[b, 2 * H + j]) * _sigmoid_grad(acts[b, H + j]),
                    name="gru_dz", tag=MATERIALIZED)
    dxp = te.compute(acts.shape, lambda b, jj: _gate_select(jj, H, [lambda j: dr[b, j], lambda j: dz[b, j],
                                                                     lambda j: dn[b, j]]), name="gru_dxp", tag=_TAG)
    dhh = te.compute(acts.shape, lambda b, jj: _gate_select(jj, H, [lambda j: dr[b, j], lambda j: dz[b, j],
                                                                     lambda j: dn[b, j] * acts[b, j]]),
                     name="gru_dhh", tag=_TAG)
    return [dxp, dhh, te.compute(shape, lambda b, j: dh[b, j] * acts[b, H + j], name="gru_dh", tag=_TAG)]


# ---------------------------------------------------------------------------- joining

def stack_steps(*xs):
    """The (B, F_k) arrays ``xs`` stacked into the (n * B, F) rows of a sequence (step
    ``s`` at rows ``s*B ..``; F the widest F_k, a narrower array's rows padded with
    zeros: an LSTM with projections appends its wider cell state to its hidden states).
    Which input a row comes from is chosen by a balanced tree of selects (depth log2 n)
    on the row's step, the same for a whole row, so each row is one branch and a vector
    copy."""
    n = len(xs)
    B = _batch(xs[0])
    F = max(int(x.shape[1].value) for x in xs)

    def load(x, b, j):
        if int(x.shape[1].value) == F:
            return x[b, j]
        return te.if_then_else(j < x.shape[1], x[b, j], te.const(0, x.dtype))

    def pick(s, b, j, lo, hi):
        if hi - lo == 1:
            return load(xs[lo], b, j)
        mid = (lo + hi) // 2
        return te.if_then_else(s < mid, pick(s, b, j, lo, mid), pick(s, b, j, mid, hi))
    return te.compute((n * B, F), lambda r, j: pick(r // B, r % B, j, 0, n), name="stack_steps", tag=_TAG)


def step_rows(gy, dh_next, t):
    """``gy[t] + dh_next``: the gradient reaching step ``t``'s (B, P) hidden state, from
    the output rows ``gy`` (at least P wide) and from the next step (an LSTM with
    projections sends it back through its projection with a GEMM)."""
    B = _batch(dh_next)
    return te.compute(dh_next.shape, lambda b, j: gy[t * B + b, j] + dh_next[b, j], name="step_rows", tag=_TAG)
