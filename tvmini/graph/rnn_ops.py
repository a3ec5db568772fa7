"""The recurrence of one RNN/LSTM/GRU layer in one direction, as one differentiable op.

:func:`recurrence` takes the input projection of all time steps, ``xp = x @ W_ih^T +
b_ih``, computed by the caller with one ``linear`` and laid out as (T * B, G) rows (step
``t`` at rows ``t*B ..``, so a layer's output feeds the next layer's ``linear`` without a
reshape), and runs the time loop:
per step one GEMM ``hh = h @ W_hh^T + b_hh`` and one fused cell kernel
(``tvmini.topi.rnn``). Its output is the hidden states of every step, (T * B, H) rows in
time order whichever the direction (LSTM: with the last cell state appended as B more
rows).

Backpropagation through time is its gradient rule, written as kernels too (so
``tm.jit`` traces it): per step (latest first) one fused gradient kernel and one GEMM
sending the gradient to the previous hidden state; then the gradients of all steps at
once — ``W_hh``'s as one GEMM over every step's rows, ``b_hh``'s as one sum, ``xp``'s
as the steps' gate gradients stacked. Keeping the whole loop in one op is what makes
``xp``'s gradient one (T * B, G) tensor rather than T slices each padded to the whole
sequence and summed.

With ``lengths`` (packed sequences) the steps run the masked kernels: each sequence's
states stay as they were past its own end. ``take_rows`` is the differentiable row
gather that packs and unpacks sequences (``nn/packed.py``).
"""
import numpy as np

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

#: the most arrays one ``stack_steps`` kernel joins (a 64-step LSTM, its last cell state in
#: a second group); longer sequences join in groups
_STACK_FANIN = 64


def _stack(arrays):
    """``arrays`` (each (B, F)) stacked into the (n * B, F) rows of a sequence: one
    kernel, or one per group of at most ``_STACK_FANIN`` and a ``cat`` of the groups."""
    if len(arrays) <= _STACK_FANIN:
        return run("stack_steps", kernels.stack_steps, list(arrays))
    groups = [_stack(arrays[k:k + _STACK_FANIN]) for k in range(0, len(arrays), _STACK_FANIN)]
    return run("cat", _concatenate, groups, attrs=(("axis", 0),))


def _step(name, define, inputs, t, **attrs):
    """Run a fused step kernel that reads step ``t`` (a runtime int32 scalar)."""
    return run(name, define, inputs, scalars=(t,), scalar_dtypes=("int32",), attrs=tuple(attrs.items()))


def _rows_product(rows, steps):
    """``rows^T @ stack(steps)``: a weight's gradient summed over every step in one GEMM
    (``rows``: the (T * B, G) gradients of its outputs; ``steps``: its (B, F) inputs)."""
    inputs = Tensor._wrap(_stack(steps))
    return ops._kernel("matmul", "matmul", rows, inputs, transpose_a=True, **_split_by_rows(rows, inputs))


class _Recurrence(Function):
    """Inputs: xp (T * B, G), h0 (B, P), [c0 (B, H), LSTM], W_hh (G, P), [b_hh (G,)],
    [W_hr (P, H), an LSTM with projections; else P = H], [lengths (B,) int32, ``masked``].
    Attributes: ``mode`` (a key of :data:`GATES`), ``reverse``, ``lstm``, ``bias``,
    ``proj``, ``masked``."""

    def _split(self, inputs):
        xp, h0, *rest = inputs[:-1] if self.masked else inputs
        c0 = rest.pop(0) if self.lstm else None
        w = rest.pop(0)
        b = rest.pop(0) if self.bias else None
        return xp, h0, c0, w, b, (rest[0] if self.proj else None)

    def _times(self, T):
        return range(T - 1, -1, -1) if self.reverse else range(T)

    def forward(self, *inputs):
        xp, h, c, w, b, w_hr = self._split(inputs)
        lengths = [inputs[-1]] if self.masked else []
        masked = "_masked" if self.masked else ""
        recurrent = [w] if b is None else [w, b]
        T = xp.shape[0] // h.shape[0]
        self.prev, self.hs, self.saved_steps = [None] * T, [None] * T, [None] * T
        for t in self._times(T):
            hh = run("dense", "dense", [h] + recurrent)
            self.prev[t] = h
            if self.mode == "lstm" and w_hr is not None:     # the projection: h' = (o * tanh(c')) @ W_hr^T
                h_new, c_new, acts = _step("lstm_step", kernels.lstm_step, [xp, hh, c], t)
                self.saved_steps[t] = (acts, c_new, c, h_new)
                h_new = run("dense", "dense", [h_new, w_hr])
                if masked:                  # frozen past each sequence's end, after the projection
                    c_new = _step("keep_rows", kernels.keep_rows, [c_new, c] + lengths, t)
                    h_new = _step("keep_rows", kernels.keep_rows, [h_new, h] + lengths, t)
                c = c_new
            elif self.mode == "lstm":
                h_new, c_new, acts = _step("lstm_step" + masked, getattr(kernels, "lstm_step" + masked),
                                           [xp, hh, c] + ([h] if masked else []) + lengths, t)
                self.saved_steps[t] = (acts, c_new, c, h_new)
                c = c_new
            elif self.mode == "gru":
                h_new, acts = _step("gru_step" + masked, getattr(kernels, "gru_step" + masked), [xp, hh, h] + lengths,
                                    t)
                self.saved_steps[t] = (acts, hh)
            else:
                h_new = _step("rnn_step" + masked, getattr(kernels, "rnn_step" + masked),
                              [xp, hh] + ([h] if masked else []) + lengths, t, nonlinearity=self.mode[4:])
            self.hs[t] = h = h_new
        return _stack(self.hs + ([c] if self.lstm else []))

    def backward(self, g):
        xp, h0, c0, w, b, w_hr = self._split(self.inputs)
        lengths = [self.inputs[-1]._data] if self.masked else []
        gy = g._data
        T = xp.shape[0] // h0.shape[0]
        zeros = nd.zeros(h0.shape, h0.dtype, h0.device)
        dh_next, dh_direct = zeros, zeros
        dc = ops.getitem(g, slice(T * h0.shape[0], None))._data if self.lstm else None
        dxp, dhh, dh_out = [None] * T, [None] * T, [None] * T
        if w_hr is not None:         # the lstm kernel's dh_next: all of dh arrives as its gy (dm)
            zero_cell = nd.zeros(c0.shape, c0.dtype, c0.device)
        times = list(reversed(self._times(T)))
        for n, t in enumerate(times):
            if self.mode == "lstm":
                acts, c_new, c_prev, _ = self.saved_steps[t]
                if lengths and w_hr is not None:       # the live rows' gradient back through the projection
                    dh_out[t], dh_direct = _step("split_rows", kernels.split_rows, [gy, dh_next, dh_direct] + lengths,
                                                 t)
                    dm = run("matmul", "matmul", [dh_out[t], w_hr._data])
                    dxp[t], dc, _ = _step("lstm_step_grad_masked", kernels.lstm_step_grad_masked,
                                          [dm, zero_cell, zero_cell, dc, acts, c_new, c_prev] + lengths, t,
                                          own_rows=True)
                elif lengths:
                    dxp[t], dc, dh_direct = _step("lstm_step_grad_masked", kernels.lstm_step_grad_masked,
                                                  [gy, dh_next, dh_direct, dc, acts, c_new, c_prev] + lengths, t)
                elif w_hr is None:
                    dxp[t], dc = _step("lstm_step_grad", kernels.lstm_step_grad,
                                       [gy, dh_next, dc, acts, c_new, c_prev], t)
                else:               # back through the projection first: the step's kernel reads it as gy[0]
                    dh_out[t] = _step("step_rows", kernels.step_rows, [gy, dh_next], t)
                    dm = run("matmul", "matmul", [dh_out[t], w_hr._data])
                    dxp[t], dc = _step("lstm_step_grad", kernels.lstm_step_grad,
                                       [dm, zero_cell, dc, acts, c_new, c_prev], 0)
                dhh[t] = dxp[t]
            elif self.mode == "gru":
                acts, hh = self.saved_steps[t]
                name = "gru_step_grad" + ("_masked" if lengths else "")
                dxp[t], dhh[t], dh_direct = _step(name, getattr(kernels, name),
                                                  [gy, dh_next, dh_direct, acts, hh, self.prev[t]] + lengths, t)
            elif lengths:
                dxp[t], dh_direct = _step("rnn_step_grad_masked", kernels.rnn_step_grad_masked,
                                          [gy, dh_next, dh_direct, self.hs[t]] + lengths, t,
                                          nonlinearity=self.mode[4:])
                dhh[t] = dxp[t]
            else:
                dxp[t] = _step("rnn_step_grad", kernels.rnn_step_grad, [gy, dh_next, self.hs[t]], t,
                               nonlinearity=self.mode[4:])
                dhh[t] = dxp[t]
            if n + 1 < T or h0.requires_grad:          # the gradient of the previous hidden state
                dh_next = run("matmul", "matmul", [dhh[t], w._data])
        weights = [t for t in (w, b) if t is not None]
        need_rows = any(t.requires_grad for t in weights)
        gxp = Tensor._wrap(_stack(dxp)) if xp.requires_grad or (need_rows and self.mode != "gru") else None
        grads = [gxp if xp.requires_grad else None]
        if h0.requires_grad:
            gh0 = Tensor._wrap(dh_next)
            grads.append(gh0 + Tensor._wrap(dh_direct) if self.mode == "gru" or lengths else gh0)
        else:
            grads.append(None)
        if self.lstm:
            grads.append(Tensor._wrap(dc) if c0.requires_grad else None)
        if need_rows:       # the gradient of every step's hh (an LSTM's and RNN's is xp's)
            rows = gxp if self.mode != "gru" else Tensor._wrap(_stack(dhh))
        grads.append(_rows_product(rows, self.prev) if w.requires_grad else None)
        if b is not None:
            grads.append(reductions.sum(rows, 0) if b.requires_grad else None)
        if w_hr is not None:
            grads.append(_rows_product(Tensor._wrap(_stack(dh_out)), [step[3] for step in self.saved_steps])
                         if w_hr.requires_grad else None)
        return tuple(grads) + ((None,) if lengths else ())


class _Rows(Function):
    """Rows of ``x`` (N, F) picked by ``index`` (int32, R; N: a ``fill`` row); the
    gradient picks the rows of ``g`` by ``inverse`` (int32, N; R: none), the positions
    the rows of ``x`` went to, so each row's gradient is one copy, not a scatter."""
    nondiff = (1, 2)
    saved = (1, 2)

    def forward(self, x, index, inverse):
        return run("take_rows", kernels.take_rows, [x, index], attrs=(("fill", self.fill),))

    def backward(self, g):
        return (Tensor._wrap(run("take_rows", kernels.take_rows, [g._data, self.inputs[2]._data],
                                 attrs=(("fill", 0.0),))), None, None)


def take_rows(x, index, inverse, fill=0.0):
    """``x`` (N, F) rearranged into the rows ``index`` names (numpy ints, each in [0, N];
    N gives a row of ``fill``), as a differentiable op; ``inverse`` (numpy ints, N of them):
    where each row of ``x`` went, R (the output's row count) for a row left out. Every
    row of ``x`` must go to at most one output row. Packing and padding sequences
    (``nn.utils.rnn``) are such rearrangements."""
    def ints(values):
        return Tensor._wrap(nd.array(np.asarray(values, dtype="int32"), device=x.device))
    return _Rows.apply(x, ints(index), ints(inverse), fill=float(fill))


def recurrence(mode, xp, h0, c0, w_hh, b_hh, reverse=False, w_hr=None, lengths=None):
    """Run one layer's recurrence in one direction (see the module docstring).

    ``mode``: "rnn_tanh", "rnn_relu", "lstm" or "gru"; ``xp`` the projected inputs (with
    ``b_ih``) as (T * B, G) rows, step ``t`` at rows ``t*B .. t*B + B - 1``; ``h0`` (B, P)
    and ``c0`` (B, H) the initial states (``c0``: LSTM only, else None); ``w_hh`` (G, P)
    and ``b_hh`` (G,) or None; ``w_hr`` (P, H): an LSTM's projection of its hidden state
    (PyTorch's ``proj_size`` P), else None and P = H. Returns the hidden states of every
    step as (T * B, P) rows in time order — for an LSTM ((T + 1) * B, H), the last cell
    state in the last B rows (with a projection the hidden states are padded to H
    columns with zeros); ``reverse`` runs the steps from the last to the first.

    ``lengths``: an int32 tensor (B,) of each sequence's number of steps (packed
    sequences): past its length a sequence's states stay as they were (see
    ``topi.rnn``), so the last step holds every sequence's final states and a reverse
    pass starts at each sequence's own end; None: every sequence runs all T steps."""
    op = mode
    if mode not in GATES:
        raise ShapeError(f"recurrence: mode must be one of {sorted(GATES)}, got {mode!r}")
    lstm = mode == "lstm"
    if w_hr is not None and not lstm:
        raise ShapeError(f"{op}: only an LSTM projects its hidden state (w_hr), not {mode}")
    tensors = [xp, h0] + ([c0] if lstm else []) + [w_hh] + ([b_hh] if b_hh is not None else []) + \
        ([w_hr] if w_hr is not None else [])
    for t in tensors:
        ops.check_same(op, xp, t)
        if not t.dtype.startswith("float"):
            raise DTypeError(f"{op}: expects floating-point tensors, got {t.dtype} of shape {t.shape}")
    B, P = h0.shape if h0.ndim == 2 else (0, 0)
    H = c0.shape[-1] if lstm and w_hr is not None else P
    G = GATES[mode] * H
    fits = (B > 0 and P > 0 and xp.ndim == 2 and xp.shape[0] % B == 0 and xp.shape[0] > 0 and xp.shape[1] == G
            and w_hh.shape == (G, P) and (not lstm or c0.shape == (B, H))
            and (b_hh is None or b_hh.shape == (G,)) and (w_hr is None or w_hr.shape == (P, H)))
    if not fits:
        shapes = {name: tuple(t.shape) for name, t in (("xp", xp), ("h0", h0), ("c0", c0), ("w_hh", w_hh),
                                                       ("b_hh", b_hh), ("w_hr", w_hr)) if t is not None}
        raise ShapeError(f"{op}: shapes {shapes} do not fit together (need xp (T*B, {GATES[mode]}*H) with T > 0, "
                         f"h0 (B, P), w_hh ({GATES[mode]}*H, P), b_hh ({GATES[mode]}*H,)"
                         f"{', c0 (B, H)' if lstm else ''}, w_hr (P, H) or P = H)")
    if lengths is not None:
        ops.check_device(op, xp, lengths)
        if lengths.dtype != "int32" or lengths.shape != (B,):
            raise DTypeError(f"{op}: lengths must be an int32 tensor of shape ({B},), got {lengths.dtype} of shape "
                             f"{lengths.shape}")
        tensors.append(lengths)
    return _Recurrence.apply(*tensors, mode=mode, reverse=bool(reverse), lstm=lstm, bias=b_hh is not None,
                             proj=w_hr is not None, masked=lengths is not None)
