"""Parameter initialisation, with PyTorch's formulas and names.

Values are drawn on the host from tvmini's seeded generator (``tm.manual_seed``) and
copied into the tensor in place; initialisation happens once per model, so it does not
need a kernel. Fans follow PyTorch: for a weight of shape (out, in, *kernel),
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
"""
import math

import numpy as np

from ..errors import ShapeError, TVMiniError
from ..graph import no_grad
from ..graph.creation import generator


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise TVMiniError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def calculate_fans(tensor):
    """(fan_in, fan_out) of a weight tensor with at least 2 dimensions."""
    if tensor.ndim < 2:
        raise ShapeError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, values):
    with no_grad():
        tensor.copy_(values.astype(tensor.dtype))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with samples from U(a, b)."""
    return _fill(tensor, generator().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with samples from N(mean, std²)."""
    return _fill(tensor, generator().normal(mean, std, size=tensor.shape))


def constant_(tensor, value):
    """Fill with ``value``."""
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot)."""
    fan_in, fan_out = calculate_fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise TVMiniError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fans(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with ``b = gain * sqrt(3 / fan)`` (He)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²) with ``std = gain / sqrt(fan)`` (He)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """N(mean, std²) truncated to ``[a, b]`` (absolute bounds, as PyTorch's): draws
    outside the bounds are drawn again until every value lies inside, which is the
    truncated distribution exactly."""
    if not a < b:
        raise TVMiniError(f"trunc_normal_: the bounds must satisfy a < b, got a={a}, b={b}")
    if std <= 0:
        raise TVMiniError(f"trunc_normal_: std must be positive, got {std}")
    rng = generator()
    values = rng.normal(mean, std, size=tensor.shape)
    outside = (values < a) | (values > b)
    for _ in range(1000):
        if not outside.any():
            break
        values[outside] = rng.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    else:
        raise TVMiniError(f"trunc_normal_: [{a}, {b}] holds almost none of N({mean}, {std}²); "
                          "give bounds nearer the mean")
    return _fill(tensor, values)


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix times ``gain``: the tensor seen as (rows, cols) =
    (shape[0], the rest) has orthonormal rows or columns, whichever are fewer. As
    PyTorch: the Q of a Gaussian matrix's QR, with the signs of R's diagonal, so that
    Q is drawn uniformly (Haar)."""
    if tensor.ndim < 2:
        raise ShapeError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape[1:])
    flat = generator().normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def eye_(tensor):
    """The 2-D identity (ones on the main diagonal of a rectangular matrix too)."""
    if tensor.ndim != 2:
        raise ShapeError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor, groups=1):
    """The identity convolution weight (out, in, *kernel) of a 3-, 4- or 5-D tensor: in
    each of ``groups`` groups, output channel ``d`` takes input channel ``d`` at the
    kernel's centre (channels past the smaller count stay 0)."""
    if tensor.ndim not in (3, 4, 5):
        raise ShapeError(f"dirac_: only 3-, 4- and 5-D tensors are supported, got shape {tensor.shape}")
    out_channels = tensor.shape[0]
    if groups < 1 or out_channels % groups:
        raise ShapeError(f"dirac_: {out_channels} output channels do not split into {groups} groups")
    per_group = out_channels // groups
    values = np.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(g * per_group + d, d) + centre] = 1.0
    return _fill(tensor, values)


def sparse_(tensor, sparsity, std=0.01):
    """A 2-D matrix of N(0, std²) values in which ``ceil(sparsity * rows)`` entries of
    every column, picked at random, are zero."""
    if tensor.ndim != 2:
        raise ShapeError(f"sparse_: only 2-D tensors are supported, got shape {tensor.shape}")
    rows, cols = tensor.shape
    rng = generator()
    values = rng.normal(0.0, std, size=(rows, cols))
    zeros = int(math.ceil(sparsity * rows))
    for col in range(cols):
        values[rng.permutation(rows)[:zeros], col] = 0.0
    return _fill(tensor, values)
