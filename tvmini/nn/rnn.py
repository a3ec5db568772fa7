"""Recurrent layers with PyTorch's arguments, parameter names, shapes and formulas:
the cells ``RNNCell``, ``LSTMCell``, ``GRUCell`` (one time step) and the sequence layers
``RNN``, ``LSTM``, ``GRU`` (stacked layers, optionally bidirectional).

Every step runs the fused kernels of :mod:`tvmini.graph.rnn_ops`: the input projection
of the whole sequence is one ``linear`` before the time loop, then per step one GEMM
with ``W_hh`` and one cell kernel; backpropagation through time is that op's gradient.
A cell is the same op over a sequence of one step. Parameters are named as PyTorch's
(``weight_ih_l0``, ``bias_hh_l1_reverse``, ...; cells: ``weight_ih`` ...) with the gates
stacked in its order (LSTM i, f, g, o; GRU r, z, n), so a PyTorch ``state_dict``
converted to numpy loads as it is.

``pad_sequence`` (PyTorch's ``nn.utils.rnn.pad_sequence``, also reachable as
``tm.nn.utils.rnn.pad_sequence``) joins variable-length sequences into one padded batch
(each padded with ``F.pad`` along its time axis, then stacked, so the gradient reaches
every sequence's own elements). The sequence layers also take a
:class:`~tvmini.nn.packed.PackedSequence` (``pack_padded_sequence`` and the rest of
``nn/packed.py``, re-exported here as ``tm.nn.utils.rnn.*``): they run the same fused
recurrence on the batch padded, each sequence's state frozen past its own end, and
return a PackedSequence with ``h_n`` (``c_n``) taken at each sequence's own last step.
"""
import math
import warnings

from ..errors import DTypeError, ShapeError, TVMiniError
from ..graph import join_ops, ops, zeros
from ..graph.index_ops import take
from ..graph.rnn_ops import GATES, recurrence
from ..graph.tensor import Tensor, tensor
from . import functional as F
from . import init
from .module import Module, Parameter
from .packed import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence, padded,  # noqa: F401
                     unpack_sequence, unpad_sequence)


def _check_sizes(name, **sizes):
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ShapeError(f"{name}: {key} must be an integer greater than zero, got {value!r}")


def _rnn_mode(name, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise TVMiniError(f"{name}: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
    return "rnn_" + nonlinearity


def _check_input(module, name, value):
    """``value`` (the input or a state) must be a tensor of the parameters' dtype, on
    their device (PyTorch refuses a float64 input to a float32 layer too)."""
    if not isinstance(value, Tensor):
        raise DTypeError(f"{type(module).__name__}: {name} must be a Tensor, got {type(value).__name__}")
    weight = next(module.parameters())
    if value.dtype != weight.dtype:
        raise DTypeError(f"{type(module).__name__}: {name} must have the parameters' dtype {weight.dtype}, got "
                         f"{value.dtype} (shape {value.shape}); convert it, or the layer with .to(dtype)")
    ops.check_device(type(module).__name__, weight, value)


def _reset(module):
    """PyTorch's default: every parameter from U(-1/sqrt(hidden), 1/sqrt(hidden))."""
    bound = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


# ------------------------------------------------------------------------------ cells

class _CellBase(Module):
    """One time step of a recurrent cell; ``mode`` picks the kernels (see rnn_ops.GATES)."""

    def __init__(self, mode, input_size, hidden_size, bias, device, dtype):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size)
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bool(bias)
        gates = GATES[mode] * hidden_size
        dtype = dtype or "float32"
        self.weight_ih = Parameter(zeros(gates, input_size, dtype=dtype))
        self.weight_hh = Parameter(zeros(gates, hidden_size, dtype=dtype))
        self.bias_ih = Parameter(zeros(gates, dtype=dtype)) if bias else None
        self.bias_hh = Parameter(zeros(gates, dtype=dtype)) if bias else None
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        _reset(self)

    def _state(self, name, hx, input, batched):
        """``hx`` checked against the input (or zeros for None), as (B, H)."""
        B = input.shape[0] if batched else 1
        if hx is None:
            return zeros(B, self.hidden_size, dtype=input.dtype, device=input.device)
        _check_input(self, name, hx)
        if hx.ndim != input.ndim:
            raise ShapeError(f"{type(self).__name__}: {name} must be {input.ndim}-D for a {input.ndim}-D input, "
                             f"got shape {hx.shape}")
        hx = hx if batched else join_ops.unsqueeze(hx, 0)
        if hx.shape != (B, self.hidden_size):
            raise ShapeError(f"{type(self).__name__}: {name} of shape {tuple(hx.shape)} does not fit an input of "
                             f"shape {tuple(input.shape)} (expected ({B}, {self.hidden_size}): input batch size "
                             "and hidden_size)")
        return hx

    def _run(self, input, h, c):
        """(new h, new c or None): the step on a checked input."""
        name = type(self).__name__
        _check_input(self, "input", input)
        if input.ndim not in (1, 2):
            raise ShapeError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead (shape {input.shape})")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input has inconsistent input_size: got {input.shape[-1]}, expected "
                             f"{self.input_size} (input shape {input.shape})")
        batched = input.ndim == 2
        h = self._state("hx", h, input, batched)
        c = self._state("cx", c, input, batched) if self.mode == "lstm" else None
        x = input if batched else join_ops.unsqueeze(input, 0)
        states = recurrence(self.mode, F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                            self.bias_hh)
        B = x.shape[0]
        h, c = (states[:B], states[B:]) if c is not None else (states, None)
        if not batched:
            h, c = join_ops.squeeze(h, 0), (None if c is None else join_ops.squeeze(c, 0))
        return h, c

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """Elman cell: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(_rnn_mode("RNNCell", nonlinearity), input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._run(input, hx, None)[0]

    def extra_repr(self):
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity}")


class LSTMCell(_CellBase):
    """LSTM cell: gates i, f, g, o of ``x W_ih^T + b_ih + h W_hh^T + b_hh``,
    ``c' = σ(f) c + σ(i) tanh(g)``, ``h' = σ(o) tanh(c')``; returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ShapeError(f"LSTMCell: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        h, c = (None, None) if hx is None else hx
        return self._run(input, h, c)


class GRUCell(_CellBase):
    """GRU cell (PyTorch's): ``r = σ(x_r + h_r)``, ``z = σ(x_z + h_z)``,
    ``n = tanh(x_n + r * (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._run(input, hx, None)[0]


# ----------------------------------------------------------------------- sequence layers

class _RNNBase(Module):
    """Stacked, optionally bidirectional recurrent layers over (T, B, input_size)
    sequences (``batch_first``: (B, T, input_size); unbatched: (T, input_size))."""

    def __init__(self, mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                 proj_size, device, dtype):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ShapeError(f"{name}: dropout should be a number in range [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", UserWarning, stacklevel=3)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ShapeError(f"{name}: proj_size should be a positive integer or zero to disable projections, got "
                             f"{proj_size!r}")
        if proj_size >= hidden_size:
            raise ShapeError(f"{name}: proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
                             f"hidden_size={hidden_size}")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), proj_size
        directions = 2 if bidirectional else 1
        gates = GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size          # the width of h (LSTM's projection)
        dtype = dtype or "float32"
        self._flat_weights_names = []
        for layer in range(num_layers):
            width = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gates, width)), ("weight_hh", (gates, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for base, shape in shapes:
                    setattr(self, base + suffix, Parameter(zeros(*shape, dtype=dtype)))
                    self._flat_weights_names.append(base + suffix)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        _reset(self)

    @property
    def all_weights(self):
        """The parameters per layer and direction, as PyTorch's: [[w_ih, w_hh, b_ih, b_hh(, w_hr)], ...]."""
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        flat = [getattr(self, n) for n in self._flat_weights_names]
        return [flat[k:k + per] for k in range(0, len(flat), per)]

    def flatten_parameters(self):
        """Nothing to do: PyTorch packs the weights into one buffer for cuDNN here, and
        models call this in ``forward``; tvmini's kernels read each parameter as it is."""

    def _states(self, hx, x, batched):
        """The initial (h0, c0 or None), each (layers * directions, B, H): zeros for None."""
        name = type(self).__name__
        shape = (self.num_layers * (2 if self.bidirectional else 1), x.shape[1], self.hidden_size)
        shapes = [shape[:2] + (self.proj_size or self.hidden_size,), shape]       # h_0, c_0
        lstm = self.mode == "lstm"
        if hx is None:
            return zeros(*shapes[0], dtype=x.dtype, device=x.device), \
                (zeros(*shape, dtype=x.dtype, device=x.device) if lstm else None)
        if lstm and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ShapeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        states = list(hx) if lstm else [hx]
        for k, state in enumerate(states):
            which = ("h_0", "c_0")[k]
            _check_input(self, which, state)
            if state.ndim != (3 if batched else 2):
                raise ShapeError(f"{name}: for {'batched 3-D' if batched else 'unbatched 2-D'} input, {which} "
                                 f"should also be {'3-D' if batched else '2-D'} but got {state.ndim}-D tensor "
                                 f"(shape {state.shape})")
            states[k] = state = state if batched else join_ops.unsqueeze(state, 1)
            if state.shape != shapes[k]:
                raise ShapeError(f"{name}: Expected hidden size {shapes[k]}, got {tuple(state.shape)} ({which})")
        return states[0], (states[1] if lstm else None)

    def _layers(self, x, T, h0, c0, lengths=None):
        """(output as (T * B, directions * H) rows, [h_n per layer and direction], [c_n ...])
        for the input ``x`` as (T * B, input_size) rows (``lengths``: each sequence's
        steps, an int32 tensor, for a packed batch; see ``rnn_ops.recurrence``)."""
        directions = 2 if self.bidirectional else 1
        B = h0.shape[1]
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                w_ih, w_hh, *rest = self.all_weights[k]
                w_hr = rest.pop() if self.proj_size else None
                b_ih, b_hh = rest if rest else (None, None)
                states = recurrence(self.mode, F.linear(x, w_ih, b_ih), h0[k], None if c0 is None else c0[k],
                                    w_hh, b_hh, reverse=bool(direction), w_hr=w_hr, lengths=lengths)
                last = 0 if direction else T - 1            # the step each direction ends on
                columns = (slice(0, self.proj_size),) if self.proj_size else ()     # h's, of the padded rows
                h_n.append(states[(slice(last * B, (last + 1) * B),) + columns])
                if c0 is not None:
                    c_n.append(states[T * B:])
                    states = states[(slice(0, T * B),) + columns]
                outputs.append(states)
            x = outputs[0] if directions == 1 else join_ops.cat(outputs, 1)
            if self.dropout and self.training and layer + 1 < self.num_layers:
                x = F.dropout(x, self.dropout, True)
        return x, h_n, c_n

    def _forward(self, input, hx):
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        _check_input(self, "input", input)
        if input.ndim not in (2, 3):
            raise ShapeError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead "
                             f"(shape {input.shape})")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]}")
        batched = input.ndim == 3
        if not batched:
            x = join_ops.unsqueeze(input, 1)
        else:
            x = ops.transpose(input, (1, 0, 2)) if self.batch_first else input
        T, B = x.shape[:2]
        if T == 0 or B == 0:
            raise ShapeError(f"{name}: needs at least one time step and one sequence, got input of shape "
                             f"{input.shape}")
        h0, c0 = self._states(hx, x, batched)
        out, h_n, c_n = self._layers(ops.reshape(x, (T * B, self.input_size)), T, h0, c0)
        out = ops.reshape(out, (T, B, out.shape[1]))
        h_n = join_ops.stack(h_n)
        c_n = join_ops.stack(c_n) if c_n else None
        if not batched:
            out, h_n = join_ops.squeeze(out, 1), join_ops.squeeze(h_n, 1)
            c_n = None if c_n is None else join_ops.squeeze(c_n, 1)
        elif self.batch_first:
            out = ops.transpose(out, (1, 0, 2))
        return out, h_n, c_n

    def _forward_packed(self, packed, hx):
        """(output PackedSequence, h_n, c_n) of a packed batch: padded to (T, B) rows in
        its sorted order, run with each sequence's length, packed again; ``hx`` and the
        final states in the batch's own order (permuted by the packed indices)."""
        name = type(self).__name__
        _check_input(self, "input", packed.data)
        if packed.data.ndim != 2 or packed.data.shape[1] != self.input_size:
            raise ShapeError(f"{name}: the packed data must be (steps, input_size={self.input_size}), got shape "
                             f"{packed.data.shape}")
        rows, lengths, pack = padded(name, packed)
        T, B = int(lengths[0]), len(lengths)
        x = ops.reshape(rows, (T, B, self.input_size))
        h0, c0 = self._states(hx, x, True)
        if hx is not None and packed.sorted_indices is not None:        # into the sorted order
            h0 = take(h0, packed.sorted_indices, 1)
            c0 = None if c0 is None else take(c0, packed.sorted_indices, 1)
        steps = tensor(lengths, dtype="int32", device=rows.device)
        out, h_n, c_n = self._layers(rows, T, h0, c0, steps)
        h_n = join_ops.stack(h_n)
        c_n = join_ops.stack(c_n) if c_n else None
        if packed.unsorted_indices is not None:
            h_n = take(h_n, packed.unsorted_indices, 1)
            c_n = None if c_n is None else take(c_n, packed.unsorted_indices, 1)
        return PackedSequence(pack(out), *packed[1:]), h_n, c_n

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        for key, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)}"
        return text


class RNN(_RNNBase):
    """Elman RNN layers: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``;
    ``forward(input, hx=None)`` returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__(_rnn_mode("RNN", nonlinearity), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        out, h_n, _ = self._forward(input, hx)
        return out, h_n

    def extra_repr(self):
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity}")


class LSTM(_RNNBase):
    """LSTM layers (see :class:`LSTMCell`); ``forward(input, hx=None)`` with
    ``hx = (h_0, c_0)`` returns (output, (h_n, c_n)). ``proj_size`` P > 0: each step's
    hidden state is projected, ``h_t = (o * tanh(c_t)) @ weight_hr^T`` (P wide: the
    output, h_0/h_n and the next layer's input; c stays hidden_size wide)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    def forward(self, input, hx=None):
        out, h_n, c_n = self._forward(input, hx)
        return out, (h_n, c_n)


class GRU(_RNNBase):
    """GRU layers (see :class:`GRUCell`); ``forward(input, hx=None)`` returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype)

    def forward(self, input, hx=None):
        out, h_n, _ = self._forward(input, hx)
        return out, h_n


# ------------------------------------------------------------------- padding sequences

def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack the tensors ``sequences`` (each (L_i, *), one trailing shape, dtype and
    device) into (max L, N, *) — (N, max L, *) with ``batch_first`` — filling the steps
    a sequence lacks with ``padding_value``, after its elements (``padding_side``
    "right") or before them ("left")."""
    op = "pad_sequence"
    sequences = list(sequences)         # a tensor: its slices along axis 0, as PyTorch
    if not sequences or not all(isinstance(s, Tensor) for s in sequences):
        raise ShapeError(f"{op}: needs a non-empty sequence of tensors, got "
                         f"{[type(s).__name__ for s in sequences]}")
    if padding_side not in ("left", "right"):
        raise ShapeError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    first = sequences[0]
    for s in sequences:
        if s.ndim == 0 or s.shape[1:] != first.shape[1:]:
            raise ShapeError(f"{op}: every sequence must be (L, *) with one trailing shape; got shapes "
                             f"{[tuple(t.shape) for t in sequences]}")
        if s.dtype != first.dtype or s.device != first.device:
            raise DTypeError(f"{op}: every sequence must have one dtype and device; got "
                             f"{[(t.dtype, str(t.device)) for t in sequences]}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        widths = (0, 0) * (s.ndim - 1) + ((0, missing) if padding_side == "right" else (missing, 0))
        padded.append(join_ops.pad(s, widths, value=padding_value) if missing else s)
    return join_ops.stack(padded, 0 if batch_first else 1)
