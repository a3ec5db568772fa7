"""The recurrence of one RNN/LSTM/GRU layer in one direction, as one differentiable op.

:func:`recurrence` takes the input projection of all time steps, ``xp = x @ W_ih^T +
b_ih`` (T, B, G), computed by the caller with one ``linear``, and runs the time loop:
per step one GEMM ``hh = h @ W_hh^T + b_hh`` and one fused cell kernel
(``tvmini.topi.rnn``). Its output is the hidden states of every step, (T, B, H), in time
order whichever the direction (LSTM: with the last cell state appended as row T).

Backpropagation through time is its gradient rule, written as kernels too (so
``tm.jit`` traces it): per step (latest first) one fused gradient kernel and one GEMM
sending the gradient to the previous hidden state; then the gradients of all steps at
once — ``W_hh``'s as one GEMM over every step's rows, ``b_hh``'s as one sum, ``xp``'s
as the steps' gate gradients stacked. Keeping the whole loop in one op is what makes
``xp``'s gradient one (T, B, G) tensor rather than T slices each padded to the whole
sequence and summed.
"""
from ..errors import DTypeError, ShapeError
from ..runtime import ndarray as nd
from ..topi import rnn as kernels
from . import ops, reductions
from .autograd import Function
from .dispatch import run
from .join_ops import _concatenate
from .nn_ops import _split_by_rows
from .tensor import Tensor

#: gates per cell (the width of ``xp`` and ``W_hh`` is gates * hidden size)
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}

#: the most arrays one ``stack_steps`` kernel joins; longer sequences join in groups
_STACK_FANIN = 32


def _stack(arrays, flat=False):
    """``arrays`` (each (B, F)) stacked into (n, B, F), or (n * B, F) with ``flat``:
    one kernel, or a tree of them over groups of at most ``_STACK_FANIN``."""
    if len(arrays) <= _STACK_FANIN:
        return run("stack_steps", kernels.stack_steps, list(arrays), attrs=(("flat", flat),))
    groups = [_stack(arrays[k:k + _STACK_FANIN], flat=True) for k in range(0, len(arrays), _STACK_FANIN)]
    rows = run("cat", _concatenate, groups, attrs=(("axis", 0),))
    if flat:
        return rows
    B, F = arrays[0].shape
    return run("reshape", "reshape", [rows], attrs=(("newshape", (len(arrays), B, F)),))


def _step(name, define, inputs, t, **attrs):
    """Run a fused step kernel that reads step ``t`` (a runtime int32 scalar)."""
    return run(name, define, inputs, scalars=(t,), scalar_dtypes=("int32",), attrs=tuple(attrs.items()))


class _Recurrence(Function):
    """Inputs: xp (T, B, G), h0 (B, H), [c0 (B, H), LSTM], W_hh (G, H), [b_hh (G,)].
    Attributes: ``mode`` (a key of :data:`GATES`), ``reverse``, ``lstm``, ``bias``."""

    def _split(self, inputs):
        xp, h0, *rest = inputs
        c0 = rest.pop(0) if self.lstm else None
        w = rest[0]
        b = rest[1] if self.bias else None
        return xp, h0, c0, w, b

    def _times(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def forward(self, *inputs):
        xp, h, c, w, b = self._split(inputs)
        recurrent = [w] if b is None else [w, b]
        T = xp.shape[0]
        self.prev, self.hs, self.saved_steps = [None] * T, [None] * T, [None] * T
        for t in self._times(T):
            hh = run("dense", "dense", [h] + recurrent)
            self.prev[t] = h
            if self.mode == "lstm":
                h_new, c_new, acts = _step("lstm_step", kernels.lstm_step, [xp, hh, c], t)
                self.saved_steps[t] = (acts, c_new, c)
                c = c_new
            elif self.mode == "gru":
                h_new, acts = _step("gru_step", kernels.gru_step, [xp, hh, h], t)
                self.saved_steps[t] = (acts, hh)
            else:
                h_new = _step("rnn_step", kernels.rnn_step, [xp, hh], t, nonlinearity=self.mode[4:])
            self.hs[t] = h = h_new
        return _stack(self.hs + ([c] if self.lstm else []))

    def backward(self, g):
        xp, h0, c0, w, b = self._split(self.inputs)
        gy = g._data
        T = xp.shape[0]
        zeros = nd.zeros(h0.shape, h0.dtype, h0.device)
        dh_next, dh_direct = zeros, zeros
        dc = ops.getitem(g, T)._data if self.lstm else None
        dxp, dhh = [None] * T, [None] * T
        times = list(reversed(self._times(T)))
        for n, t in enumerate(times):
            if self.mode == "lstm":
                acts, c_new, c_prev = self.saved_steps[t]
                dxp[t], dc = _step("lstm_step_grad", kernels.lstm_step_grad, [gy, dh_next, dc, acts, c_new, c_prev], t)
                dhh[t] = dxp[t]
            elif self.mode == "gru":
                acts, hh = self.saved_steps[t]
                dxp[t], dhh[t], dh_direct = _step("gru_step_grad", kernels.gru_step_grad,
                                                  [gy, dh_next, dh_direct, acts, hh, self.prev[t]], t)
            else:
                dxp[t] = _step("rnn_step_grad", kernels.rnn_step_grad, [gy, dh_next, self.hs[t]], t,
                               nonlinearity=self.mode[4:])
                dhh[t] = dxp[t]
            if n + 1 < T or h0.requires_grad:          # the gradient of the previous hidden state
                dh_next = run("matmul", "matmul", [dhh[t], w._data])
        grads = [Tensor._wrap(_stack(dxp)) if xp.requires_grad else None]
        if h0.requires_grad:
            gh0 = Tensor._wrap(dh_next)
            grads.append(gh0 + Tensor._wrap(dh_direct) if self.mode == "gru" else gh0)
        else:
            grads.append(None)
        if self.lstm:
            grads.append(Tensor._wrap(dc) if c0.requires_grad else None)
        rows = Tensor._wrap(_stack(dhh, flat=True)) if w.requires_grad or (b is not None and b.requires_grad) else None
        if w.requires_grad:
            prev = Tensor._wrap(_stack(self.prev, flat=True))
            grads.append(ops._kernel("matmul", "matmul", rows, prev, transpose_a=True, **_split_by_rows(rows, prev)))
        else:
            grads.append(None)
        if b is not None:
            grads.append(reductions.sum(rows, 0) if b.requires_grad else None)
        return tuple(grads)


def recurrence(mode, xp, h0, c0, w_hh, b_hh, reverse=False):
    """Run one layer's recurrence in one direction (see the module docstring).

    ``mode``: "rnn_tanh", "rnn_relu", "lstm" or "gru"; ``xp`` (T, B, G) the projected
    inputs (with ``b_ih``); ``h0``/``c0`` (B, H) the initial states (``c0``: LSTM only,
    else None); ``w_hh`` (G, H) and ``b_hh`` (G,) or None. Returns the hidden states of
    every step (T, B, H) in time order — for an LSTM (T + 1, B, H) with the last cell
    state as row T; ``reverse`` runs the steps from the last to the first."""
    op = mode
    if mode not in GATES:
        raise ShapeError(f"recurrence: mode must be one of {sorted(GATES)}, got {mode!r}")
    lstm = mode == "lstm"
    tensors = [xp, h0] + ([c0] if lstm else []) + [w_hh] + ([b_hh] if b_hh is not None else [])
    for t in tensors:
        ops.check_same(op, xp, t)
        if not t.dtype.startswith("float"):
            raise DTypeError(f"{op}: expects floating-point tensors, got {t.dtype} of shape {t.shape}")
    T, B, G = xp.shape if xp.ndim == 3 else (None, None, None)
    H = h0.shape[-1] if h0.ndim == 2 else None
    want = {"xp": (T, B, GATES[mode] * (H or 0)), "h0": (B, H), "w_hh": (GATES[mode] * (H or 0), H)}
    got = {"xp": xp.shape, "h0": h0.shape, "w_hh": w_hh.shape}
    if lstm:
        want["c0"], got["c0"] = (B, H), c0.shape
    if b_hh is not None:
        want["b_hh"], got["b_hh"] = (G,), b_hh.shape
    if T is None or H is None or T == 0 or got != want:
        raise ShapeError(f"{op}: shapes {got} do not fit together (need xp (T>0, B, {GATES[mode]}*H), h0 (B, H), "
                         f"w_hh ({GATES[mode]}*H, H), b_hh ({GATES[mode]}*H,){', c0 (B, H)' if lstm else ''})")
    return _Recurrence.apply(*tensors, mode=mode, reverse=bool(reverse), lstm=lstm, bias=b_hh is not None)
