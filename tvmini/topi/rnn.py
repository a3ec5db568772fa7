"""The fused per-time-step kernels of the recurrent layers (RNN, LSTM, GRU) and their
gradients, plus ``stack_steps`` that joins the steps' states into one sequence.

A recurrent layer computes the input projection of every time step at once (one GEMM,
``xp = x @ W_ih^T + b_ih`` of shape (T, B, G)) and then, per step, the recurrent
product ``hh = h @ W_hh^T + b_hh`` (one GEMM) and one of the kernels here, which
reads step ``t`` of ``xp`` (``t`` is a runtime scalar, so one build serves every step)
and does all of the cell's elementwise work in one pass: gate activations, the new
cell state and the new hidden state. Gates are stacked along the feature axis in
PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), each ``H`` wide; a (B, G) compute
finds its gate as ``j // H`` and its unit as ``j % H``, so every load stays inside its
buffer whichever gate a select picks.

The gradient kernels take the gradient of the whole output sequence (``gy``) with the
same scalar ``t`` and the gradient flowing back from the next step, and return the
gradients of the gate pre-activations (what the GEMMs of the backward pass need).
"""
from .. import te

#: Tag of these computes: index-mapped, not one-to-one (the default schedules treat them
#: like ``concatenate``).
_TAG = "injective"


def _width(hh, gates):
    """H, the hidden size, from the recurrent product ``hh`` of shape (B, gates * H)."""
    return int(hh.shape[1].value) // gates


def _sigmoid_grad(s):
    return s * (1.0 - s)


def _tanh_grad(y):
    return 1.0 - y * y


# ------------------------------------------------------------------------------ RNN

def _act(value, nonlinearity):
    return te.tanh(value) if nonlinearity == "tanh" else te.max(value, te.const(0, value.dtype))


def rnn_step(xp, hh, t, nonlinearity="tanh"):
    """Elman step: ``h' = act(xp[t] + hh)`` (act: tanh or relu)."""
    return te.compute(hh.shape, lambda b, j: _act(xp[t, b, j] + hh[b, j], nonlinearity), name="rnn_h", tag=_TAG)


def rnn_step_grad(gy, dh_next, h, t, nonlinearity="tanh"):
    """The pre-activation's gradient of an Elman step whose output ``h`` received
    ``gy[t] + dh_next`` (relu: none where ``h`` is 0, as PyTorch's at 0)."""
    def value(b, j):
        dh = gy[t, b, j] + dh_next[b, j]
        if nonlinearity == "tanh":
            return dh * _tanh_grad(h[b, j])
        return te.if_then_else(h[b, j] > te.const(0, h.dtype), dh, te.const(0, h.dtype))
    return te.compute(h.shape, value, name="rnn_dpre", tag=_TAG)


# ------------------------------------------------------------------------------ LSTM

def lstm_step(xp, hh, c, t):
    """LSTM step: the activated gates ``acts`` (B, 4H) = (σ(i), σ(f), tanh(g), σ(o)) of
    ``xp[t] + hh``, ``c' = f*c + i*g`` and ``h' = o*tanh(c')``; returns [h', c', acts]
    (``acts`` is kept for the gradient)."""
    H = _width(hh, 4)

    def act(b, j):
        pre = xp[t, b, j] + hh[b, j]
        is_g = (j >= 2 * H) & (j < 3 * H)
        return te.if_then_else(is_g, te.tanh(pre), te.sigmoid(pre))
    acts = te.compute(hh.shape, act, name="lstm_acts", tag=_TAG)
    c_new = te.compute(c.shape, lambda b, j: acts[b, H + j] * c[b, j] + acts[b, j] * acts[b, 2 * H + j],
                       name="lstm_c", tag=_TAG)
    h_new = te.compute(c.shape, lambda b, j: acts[b, 3 * H + j] * te.tanh(c_new[b, j]), name="lstm_h", tag=_TAG)
    return [h_new, c_new, acts]


def lstm_step_grad(gy, dh_next, dc_next, acts, c_new, c_prev, t):
    """Gradients of an LSTM step whose ``h'`` received ``gy[t] + dh_next`` and whose
    ``c'`` received ``dc_next``: [d gates (B, 4H, pre-activation), d c_prev]."""
    H = _width(acts, 4)

    def dc(b, j):       # the whole gradient reaching c'
        tc = te.tanh(c_new[b, j])
        return dc_next[b, j] + (gy[t, b, j] + dh_next[b, j]) * acts[b, 3 * H + j] * _tanh_grad(tc)

    def dgate(b, jj):
        k, j = jj // H, jj % H
        i, f, g, o = (acts[b, q * H + j] for q in range(4))
        d = dc(b, j)
        di = d * g * _sigmoid_grad(i)
        df = d * c_prev[b, j] * _sigmoid_grad(f)
        dg = d * i * _tanh_grad(g)
        do = (gy[t, b, j] + dh_next[b, j]) * te.tanh(c_new[b, j]) * _sigmoid_grad(o)
        return te.if_then_else(k == 0, di, te.if_then_else(k == 1, df, te.if_then_else(k == 2, dg, do)))
    dgates = te.compute(acts.shape, dgate, name="lstm_dgates", tag=_TAG)
    dc_prev = te.compute(c_prev.shape, lambda b, j: dc(b, j) * acts[b, H + j], name="lstm_dc", tag=_TAG)
    return [dgates, dc_prev]


# ------------------------------------------------------------------------------- GRU

def gru_step(xp, hh, h, t):
    """GRU step (PyTorch's): ``r = σ(xr + hr)``, ``z = σ(xz + hz)``,
    ``n = tanh(xn + r * hn)`` (``hh`` includes ``b_hh``, so ``r`` scales ``W_hn h + b_hn``),
    ``h' = (1 - z) * n + z * h``; returns [h', acts (B, 3H) = (r, z, n)]."""
    H = _width(hh, 3)

    def act(b, jj):
        j = jj % H
        r = te.sigmoid(xp[t, b, j] + hh[b, j])
        n = te.tanh(xp[t, b, 2 * H + j] + r * hh[b, 2 * H + j])
        return te.if_then_else(jj >= 2 * H, n, te.sigmoid(xp[t, b, jj] + hh[b, jj]))
    acts = te.compute(hh.shape, act, name="gru_acts", tag=_TAG)
    h_new = te.compute(h.shape, lambda b, j: (1.0 - acts[b, H + j]) * acts[b, 2 * H + j] + acts[b, H + j] * h[b, j],
                       name="gru_h", tag=_TAG)
    return [h_new, acts]


def gru_step_grad(gy, dh_next, dh_direct, acts, hh, h_prev, t):
    """Gradients of a GRU step whose ``h'`` received ``gy[t] + dh_next + dh_direct``:
    [d xp[t] (B, 3H), d hh (B, 3H), the part of d h_prev that skips the GEMM (``z * dh``)].
    The two gate gradients differ only on n, where ``hh``'s is scaled by r."""
    H = _width(acts, 3)

    def dh(b, j):
        return gy[t, b, j] + dh_next[b, j] + dh_direct[b, j]

    def parts(b, jj):
        k, j = jj // H, jj % H
        r, z, n = (acts[b, q * H + j] for q in range(3))
        d = dh(b, j)
        dn = d * (1.0 - z) * _tanh_grad(n)
        dr = dn * hh[b, 2 * H + j] * _sigmoid_grad(r)
        dz = d * (h_prev[b, j] - n) * _sigmoid_grad(z)
        return k, r, dr, dz, dn

    def dxp(b, jj):
        k, _, dr, dz, dn = parts(b, jj)
        return te.if_then_else(k == 0, dr, te.if_then_else(k == 1, dz, dn))

    def dhh(b, jj):
        k, r, dr, dz, dn = parts(b, jj)
        return te.if_then_else(k == 0, dr, te.if_then_else(k == 1, dz, dn * r))
    return [te.compute(acts.shape, dxp, name="gru_dxp", tag=_TAG),
            te.compute(acts.shape, dhh, name="gru_dhh", tag=_TAG),
            te.compute(h_prev.shape, lambda b, j: dh(b, j) * acts[b, H + j], name="gru_dh", tag=_TAG)]


# ---------------------------------------------------------------------------- joining

def stack_steps(*xs, flat=False):
    """The (B, F) arrays ``xs`` stacked along a new leading axis: (n, B, F), or with
    ``flat`` the (n * B, F) matrix of the same memory order (what a GEMM over all steps
    reads). Which input an element comes from is chosen by a balanced tree of selects
    (depth log2 n), so a long sequence costs few comparisons per element."""
    n = len(xs)
    B, F = (int(d.value) for d in xs[0].shape)

    def pick(s, b, j, lo, hi):
        if hi - lo == 1:
            return xs[lo][b, j]
        mid = (lo + hi) // 2
        return te.if_then_else(s < mid, pick(s, b, j, lo, mid), pick(s, b, j, mid, hi))
    if flat:
        return te.compute((n * B, F), lambda r, j: pick(r // B, r % B, j, 0, n), name="stack_steps", tag=_TAG)
    return te.compute((n, B, F), lambda s, b, j: pick(s, b, j, 0, n), name="stack_steps", tag=_TAG)
