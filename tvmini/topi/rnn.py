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

Packed sequences use the ``_masked`` variants, which also read each sequence's length
(an int32 (B,) array): past its end a row keeps its state (``_kept``), and in the
backward its gates get no gradient and its state's gradient passes straight to the
previous step (``dh_direct``, as a GRU's ``z * dh``); ``keep_rows`` and ``split_rows``
do the same around an LSTM's projection. ``take_rows`` is the row gather that packs
and unpacks sequences.

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


def _live(lengths, t, b):
    """Whether step ``t`` lies within sequence ``b`` (``t < lengths[b]``)."""
    return t < lengths[b]


def _kept(frozen, t, b, j, value):
    """``value`` where step ``t`` lies within sequence ``b``, else the state it had
    (``frozen`` = (state, lengths); None: no masking). Past its end a sequence's state
    stays what it was, so the last step holds each sequence's final state, and a
    reverse pass holds the initial state until it reaches the sequence's own end."""
    if frozen is None:
        return value
    state, lengths = frozen
    return te.if_then_else(_live(lengths, t, b), value, state[b, j])


def _passed(dh, lengths, t):
    """The part of the gradient ``dh`` (B, P) of a masked step's output that goes straight
    to the previous state: all of it on frozen rows, none on live ones."""
    zero = te.const(0, dh.dtype)
    return te.compute(dh.shape, lambda b, j: te.if_then_else(_live(lengths, t, b), zero, dh[b, j]), name="dh_passed",
                      tag=_TAG)


# ------------------------------------------------------------------------------ RNN

def _act(value, nonlinearity):
    return te.tanh(value) if nonlinearity == "tanh" else te.max(value, te.const(0, value.dtype))


def rnn_step(xp, hh, t, nonlinearity="tanh"):
    """Elman step: ``h' = act(xp[t] + hh)`` (act: tanh or relu)."""
    return _rnn_step(xp, hh, t, nonlinearity)


def rnn_step_masked(xp, hh, h, lengths, t, nonlinearity="tanh"):
    """:func:`rnn_step` where sequence ``b`` keeps its state ``h`` once ``t`` is past its
    length ``lengths[b]`` (see :func:`_kept`)."""
    return _rnn_step(xp, hh, t, nonlinearity, (h, lengths))


def _rnn_step(xp, hh, t, nonlinearity, frozen=None):
    B = _batch(hh)
    return te.compute(hh.shape, lambda b, j: _kept(frozen, t, b, j, _act(xp[t * B + b, j] + hh[b, j], nonlinearity)),
                      name="rnn_h", tag=_TAG)


def rnn_step_grad(gy, dh_next, h, t, nonlinearity="tanh"):
    """The pre-activation's gradient of an Elman step whose output ``h`` received
    ``gy[t] + dh_next`` (relu: none where ``h`` is 0, as PyTorch's at 0)."""
    B = _batch(dh_next)
    def value(b, j):
        return _rnn_dpre(gy[t * B + b, j] + dh_next[b, j], h[b, j], nonlinearity)
    return te.compute(h.shape, value, name="rnn_dpre", tag=_TAG)


def rnn_step_grad_masked(gy, dh_next, dh_direct, h, lengths, t, nonlinearity="tanh"):
    """:func:`rnn_step_grad` of :func:`rnn_step_masked`: [d pre-activation, the gradient
    passing straight to the previous state]. A live row's ``dh`` (``gy[t] + dh_next +
    dh_direct``) goes to its pre-activation; a frozen row's (its state is the previous
    one) goes straight back, its pre-activation getting none."""
    B = _batch(dh_next)
    zero = te.const(0, h.dtype)
    dh = te.compute(h.shape, lambda b, j: gy[t * B + b, j] + dh_next[b, j] + dh_direct[b, j], name="rnn_dh_total",
                    tag=MATERIALIZED)
    dpre = te.compute(h.shape, lambda b, j: te.if_then_else(_live(lengths, t, b), _rnn_dpre(dh[b, j], h[b, j],
                                                                                          nonlinearity), zero),
                      name="rnn_dpre", tag=_TAG)
    return [dpre, _passed(dh, lengths, t)]


def _rnn_dpre(dh, h, nonlinearity):
    if nonlinearity == "tanh":
        return dh * _tanh_grad(h)
    return te.if_then_else(h > te.const(0, h.dtype), dh, te.const(0, h.dtype))


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
    return _lstm_step(xp, hh, c, t)


def lstm_step_masked(xp, hh, c, h, lengths, t):
    """:func:`lstm_step` where sequence ``b`` keeps its states ``h`` and ``c`` once ``t``
    is past its length ``lengths[b]``."""
    return _lstm_step(xp, hh, c, t, h, lengths)


def _lstm_step(xp, hh, c, t, h=None, lengths=None):
    B = _batch(hh)
    H = _width(hh, 4)

    def act(b, j):
        pre = xp[t * B + b, j] + hh[b, j]
        is_g = (j >= 2 * H) & (j < 3 * H)
        return te.if_then_else(is_g, te.tanh(pre), te.sigmoid(pre))
    acts = te.compute(hh.shape, act, name="lstm_acts", tag=_TAG)
    c_frozen, h_frozen = (None, None) if lengths is None else ((c, lengths), (h, lengths))
    c_new = te.compute(c.shape, lambda b, j: _kept(c_frozen, t, b, j, acts[b, H + j] * c[b, j] +
                                                   acts[b, j] * acts[b, 2 * H + j]), name="lstm_c", tag=_TAG)
    h_new = te.compute(c.shape, lambda b, j: _kept(h_frozen, t, b, j, acts[b, 3 * H + j] * te.tanh(c_new[b, j])),
                       name="lstm_h", tag=_TAG)
    return [h_new, c_new, acts]


def lstm_step_grad(gy, dh_next, dc_next, acts, c_new, c_prev, t):
    """Gradients of an LSTM step whose ``h'`` received ``gy[t] + dh_next`` and whose
    ``c'`` received ``dc_next``: [d gates (B, 4H, pre-activation), d c_prev]. ``tanh(c')``
    and the whole gradient reaching ``c'`` are computed once per unit (materialized),
    then each gate's gradient reads them."""
    B = _batch(dh_next)
    return _lstm_step_grad(lambda b, j: gy[t * B + b, j] + dh_next[b, j], dc_next, acts, c_new, c_prev, t)


def lstm_step_grad_masked(gy, dh_next, dh_direct, dc_next, acts, c_new, c_prev, lengths, t, own_rows=False):
    """:func:`lstm_step_grad` of :func:`lstm_step_masked`, whose ``h'`` received ``gy[t] +
    dh_next + dh_direct``: [d gates, d c_prev, the gradient passing straight to the
    previous hidden state]. A frozen row's gates get none; its ``dh`` and ``dc`` go
    straight back to the previous states. ``own_rows``: ``gy`` is this step's (B, H)
    gradient itself (an LSTM with projections, back through its projection first)."""
    B = _batch(dh_next)
    row = (lambda b: b) if own_rows else (lambda b: t * B + b)
    dh = te.compute(dh_next.shape, lambda b, j: gy[row(b), j] + dh_next[b, j] + dh_direct[b, j],
                    name="lstm_dh_total", tag=MATERIALIZED)
    dgates, dc_prev = _lstm_step_grad(lambda b, j: dh[b, j], dc_next, acts, c_new, c_prev, t, lengths)
    return [dgates, dc_prev, _passed(dh, lengths, t)]


def _lstm_step_grad(dh, dc_next, acts, c_new, c_prev, t, lengths=None):
    """[d gates, d c_prev] of an LSTM step whose ``h'`` received ``dh(b, j)``; with
    ``lengths``, the rows past their sequence's end pass ``dc_next`` on and get no gate
    gradient."""
    H = _width(acts, 4)
    shape = c_prev.shape
    zero = te.const(0, acts.dtype)
    tc = te.compute(shape, lambda b, j: te.tanh(c_new[b, j]), name="lstm_tc", tag=MATERIALIZED)
    dc = te.compute(shape, lambda b, j: dc_next[b, j] + dh(b, j) * acts[b, 3 * H + j] * _tanh_grad(tc[b, j]),
                    name="lstm_dc_total", tag=MATERIALIZED)

    def dgate(b, jj):
        a = acts[b, jj]
        value = _gate_select(jj, H, [
            lambda j: dc[b, j] * acts[b, j + 2 * H] * _sigmoid_grad(a),            # i
            lambda j: dc[b, j] * c_prev[b, j] * _sigmoid_grad(a),                   # f
            lambda j: dc[b, j] * acts[b, j] * _tanh_grad(a),                        # g
            lambda j: dh(b, j) * tc[b, j] * _sigmoid_grad(a)])                      # o
        return value if lengths is None else te.if_then_else(_live(lengths, t, b), value, zero)
    dgates = te.compute(acts.shape, dgate, name="lstm_dgates", tag=_TAG)

    def dc_back(b, j):
        value = dc[b, j] * acts[b, H + j]
        return value if lengths is None else te.if_then_else(_live(lengths, t, b), value, dc_next[b, j])
    return [dgates, te.compute(shape, dc_back, name="lstm_dc", tag=_TAG)]


# ------------------------------------------------------------------------------- GRU

def gru_step(xp, hh, h, t):
    """GRU step (PyTorch's): ``r = σ(xr + hr)``, ``z = σ(xz + hz)``,
    ``n = tanh(xn + r * hn)`` (``hh`` includes ``b_hh``, so ``r`` scales ``W_hn h + b_hn``),
    ``h' = (1 - z) * n + z * h``; returns [h', acts (B, 3H) = (r, z, n)]."""
    return _gru_step(xp, hh, h, t)


def gru_step_masked(xp, hh, h, lengths, t):
    """:func:`gru_step` where sequence ``b`` keeps its state ``h`` once ``t`` is past its
    length ``lengths[b]``."""
    return _gru_step(xp, hh, h, t, lengths)


def _gru_step(xp, hh, h, t, lengths=None):
    B = _batch(hh)
    H = _width(hh, 3)

    def act(b, jj):
        def n(j):       # r of the same unit, 2H features back
            return te.tanh(xp[t * B + b, jj] + te.sigmoid(xp[t * B + b, j] + hh[b, j]) * hh[b, jj])
        return te.if_then_else(jj < 2 * H, te.sigmoid(xp[t * B + b, jj] + hh[b, jj]), n(jj - 2 * H))
    acts = te.compute(hh.shape, act, name="gru_acts", tag=_TAG)
    frozen = None if lengths is None else (h, lengths)
    h_new = te.compute(h.shape, lambda b, j: _kept(frozen, t, b, j, (1.0 - acts[b, H + j]) * acts[b, 2 * H + j] +
                                                   acts[b, H + j] * h[b, j]), name="gru_h", tag=_TAG)
    return [h_new, acts]


def gru_step_grad(gy, dh_next, dh_direct, acts, hh, h_prev, t):
    """Gradients of a GRU step whose ``h'`` received ``gy[t] + dh_next + dh_direct``:
    [d xp[t] (B, 3H), d hh (B, 3H), the part of d h_prev that skips the GEMM (``z * dh``)].
    The two gate gradients differ only on n, where ``hh``'s is scaled by r. The
    per-unit gradients of the three pre-activations are materialized first."""
    return _gru_step_grad(gy, dh_next, dh_direct, acts, hh, h_prev, t)


def gru_step_grad_masked(gy, dh_next, dh_direct, acts, hh, h_prev, lengths, t):
    """:func:`gru_step_grad` of :func:`gru_step_masked`: a frozen row's gates get no
    gradient and all of its ``dh`` passes straight to the previous state."""
    return _gru_step_grad(gy, dh_next, dh_direct, acts, hh, h_prev, t, lengths)


def _gru_step_grad(gy, dh_next, dh_direct, acts, hh, h_prev, t, lengths=None):
    B = _batch(dh_next)
    H = _width(acts, 3)
    shape = h_prev.shape
    zero = te.const(0, acts.dtype)

    def live(b, value, otherwise=zero):
        return value if lengths is None else te.if_then_else(_live(lengths, t, b), value, otherwise)
    dh = te.compute(shape, lambda b, j: gy[t * B + b, j] + dh_next[b, j] + dh_direct[b, j], name="gru_dh_total",
                    tag=MATERIALIZED)
    dn = te.compute(shape, lambda b, j: dh[b, j] * (1.0 - acts[b, H + j]) * _tanh_grad(acts[b, 2 * H + j]),
                    name="gru_dn", tag=MATERIALIZED)
    dr = te.compute(shape, lambda b, j: dn[b, j] * hh[b, 2 * H + j] * _sigmoid_grad(acts[b, j]), name="gru_dr",
                    tag=MATERIALIZED)
    dz = te.compute(shape, lambda b, j: dh[b, j] * (h_prev[b, j] - acts[b, 2 * H + j]) * _sigmoid_grad(acts[b, H + j]),
                    name="gru_dz", tag=MATERIALIZED)
    dxp = te.compute(acts.shape, lambda b, jj: live(b, _gate_select(jj, H, [lambda j: dr[b, j], lambda j: dz[b, j],
                                                                             lambda j: dn[b, j]])),
                     name="gru_dxp", tag=_TAG)
    dhh = te.compute(acts.shape, lambda b, jj: live(b, _gate_select(jj, H, [lambda j: dr[b, j], lambda j: dz[b, j],
                                                                             lambda j: dn[b, j] * acts[b, j]])),
                     name="gru_dhh", tag=_TAG)
    direct = te.compute(shape, lambda b, j: live(b, dh[b, j] * acts[b, H + j], dh[b, j]), name="gru_dh", tag=_TAG)
    return [dxp, dhh, direct]


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


def take_rows(x, index, fill=0.0):
    """Rows of ``x`` (N, F) picked by the int32 ``index`` (R,): row ``r`` of the (R, F)
    output is ``x[index[r]]``, or ``fill`` where ``index[r]`` is N (a row no input
    fills: the padding of a packed sequence). Packing and unpacking sequences are such
    gathers, and each one's gradient is the other (the rows correspond one to one), so
    no scatter is needed."""
    n = x.shape[0]
    last = te.const(int(n.value) - 1, index.dtype)

    def body(r, j):
        i = index[r]
        return te.if_then_else(i < last + 1, x[te.min(i, last), j], te.const(fill, x.dtype))
    return te.compute((index.shape[0], x.shape[1]), body, name="take_rows", tag=_TAG)


def keep_rows(new, old, lengths, t):
    """``new`` where step ``t`` lies within sequence ``b``, else ``old`` (B, F): the
    masking of :func:`_kept` as its own kernel, for an LSTM's projected hidden state
    (and its cell state), which the step kernel does not produce."""
    return te.compute(new.shape, lambda b, j: _kept((old, lengths), t, b, j, new[b, j]), name="keep_rows", tag=_TAG)


def split_rows(gy, dh_next, dh_direct, lengths, t):
    """The gradient reaching step ``t``'s (B, P) hidden state (``gy[t] + dh_next +
    dh_direct``) split into [the part of the live rows (zeros elsewhere), the part
    passing straight to the previous state (the frozen rows')]: the masked form of
    :func:`step_rows`."""
    B = _batch(dh_next)
    dh = te.compute(dh_next.shape, lambda b, j: gy[t * B + b, j] + dh_next[b, j] + dh_direct[b, j],
                    name="split_dh_total", tag=MATERIALIZED)
    zero = te.const(0, dh_next.dtype)
    live = te.compute(dh.shape, lambda b, j: te.if_then_else(_live(lengths, t, b), dh[b, j], zero), name="dh_live",
                      tag=_TAG)
    return [live, _passed(dh, lengths, t)]
