"""Products and matrix constructions, PyTorch's: ``cross``, ``kron``, ``tensordot``,
``inner``, ``matrix_power``, ``multi_dot``, ``block_diag``, ``vander``, ``cov`` and ``corrcoef``.

Each is a composition of graph ops whose gradients it inherits: ``tensordot`` and
``inner`` permute and reshape both operands into one matrix product (``tm.matmul``'s
kernel); ``kron`` is one broadcasting product of the operands with interleaved unit
axes, reshaped; ``matrix_power`` multiplies by repeated squaring (``log2 n`` products;
a negative power inverts first); ``multi_dot`` multiplies a chain of matrices in the
order that costs the fewest multiply-adds (the classic dynamic programme over
split points, as ``numpy.linalg.multi_dot``); ``block_diag`` pads each block and joins them;
``vander`` is a running product (exact
gradients at 0, where ``x ** k`` has none for ``k = 0``); ``cov`` centres by the
(weighted) mean and takes one matrix product.
"""
import math

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from . import axes as check_axes
from . import ops
from .creation import eye, ones, zeros
from .join_ops import cat, clamp, pad
from .linalg_solve import inv
from .ops import matmul
from .reorder_ops import diag, flip, narrow
from .sort_ops import cumprod
from .tensor import Tensor, add_methods, method_of


def _tensors(op, *values):
    for v in values:
        if not isinstance(v, Tensor):
            raise DTypeError(f"{op}: takes Tensors, got {type(v).__name__}")


def _common(op, a, b):
    """``a`` and ``b`` in their common dtype, on one device."""
    ops.check_device(op, a, b)
    dtype = ops.result_dtype(a.dtype, b.dtype)
    return ops.cast(a, dtype), ops.cast(b, dtype)


def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim`` (broadcast operands); ``dim=None``
    takes the first axis of extent 3, as PyTorch's ``torch.cross`` (``tm.linalg.cross``
    defaults to the last axis)."""
    _tensors("cross", input, other)
    a, b = _common("cross", input, other)
    shape = ops.broadcast_shapes("cross", a.shape, b.shape)
    a, b = ops.broadcast_to(a, shape), ops.broadcast_to(b, shape)
    if dim is None:
        dim = next((k for k, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ShapeError(f"cross: no axis of extent 3 in the broadcast shape {shape}")
    axis = check_axes.axis("cross", dim, shape)
    if shape[axis] != 3:
        raise ShapeError(f"cross: axis {dim} must have extent 3, got {shape[axis]} (shape {shape})")
    x = [narrow(a, axis, k, 1) for k in range(3)]
    y = [narrow(b, axis, k, 1) for k in range(3)]
    return cat([x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]], axis)


def kron(input, other):
    """The Kronecker product: block ``(i, j, ...)`` of the result is ``input[i, j, ...]
    * other``; the operands' ranks are evened out with leading unit axes."""
    _tensors("kron", input, other)
    a, b = _common("kron", input, other)
    rank = max(a.ndim, b.ndim)
    sa, sb = (1,) * (rank - a.ndim) + a.shape, (1,) * (rank - b.ndim) + b.shape
    spread_a = ops.reshape(a, tuple(d for n in sa for d in (n, 1)))
    spread_b = ops.reshape(b, tuple(d for n in sb for d in (1, n)))
    return ops.reshape(spread_a * spread_b, tuple(m * n for m, n in zip(sa, sb)))


def _dims(op, a, b, dims):
    """(a's contracted axes, b's), from an int ``dims`` (a's last, b's first) or a pair
    of axis lists."""
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise ShapeError(f"{op}: dims={dims} is out of range for shapes {a.shape} and {b.shape}")
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    if isinstance(dims, Tensor):
        dims = dims.numpy().tolist()
    if not isinstance(dims, (tuple, list)) or len(dims) != 2:
        raise ArgumentError(f"{op}: dims must be an int or a pair of axis lists, got {dims!r}")
    left, right = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    if len(left) != len(right):
        raise ShapeError(f"{op}: both operands need as many contracted axes, got {left} and {right}")
    return [check_axes.axis(op, d, a.shape) for d in left], [check_axes.axis(op, d, b.shape) for d in right]


def tensordot(a, b, dims=2):
    """The sum of products over the axis pairs ``dims`` (an int: ``a``'s last ``dims``
    axes with ``b``'s first; or two axis lists): ``a``'s free axes then ``b``'s."""
    _tensors("tensordot", a, b)
    a, b = _common("tensordot", a, b)
    left, right = _dims("tensordot", a, b, dims)
    for i, j in zip(left, right):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of shape {a.shape} ({a.shape[i]}) does not match axis {j} of "
                             f"shape {b.shape} ({b.shape[j]})")
    free_a = [k for k in range(a.ndim) if k not in left]
    free_b = [k for k in range(b.ndim) if k not in right]
    m = math.prod(a.shape[k] for k in free_a)
    n = math.prod(b.shape[k] for k in free_b)
    k = math.prod(a.shape[i] for i in left)
    lhs = ops.reshape(a.permute(tuple(free_a + left)) if a.ndim else a, (m, k))
    rhs = ops.reshape(b.permute(tuple(right + free_b)) if b.ndim else b, (k, n))
    return ops.reshape(matmul(lhs, rhs), tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b))


def inner(input, other):
    """The sum of products over the last axes (a 0-d operand: the product), shape
    ``input.shape[:-1] + other.shape[:-1]``."""
    _tensors("inner", input, other)
    if not input.ndim or not other.ndim:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise ShapeError(f"inner: the last axes of shapes {input.shape} and {other.shape} must match")
    return tensordot(input, other, ([-1], [-1]))


def matrix_power(input, n):
    """``input`` (square matrices on the last two axes) to the integer power ``n`` (0:
    the identity; negative: the power ``-n`` of the inverse, ``tm.linalg.inv``)."""
    _tensors("matrix_power", input)
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise ShapeError(f"matrix_power: expects square matrices on the last two axes, got shape {input.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ArgumentError(f"matrix_power: n must be an int, got {n!r}")
    if n < 0:
        input, n = inv(input), -n
    if n == 0:
        return ops.expand(eye(input.shape[-1], dtype=input.dtype, device=input.device), input.shape)
    result, square = None, input
    while True:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if not n:
            return result
        square = matmul(square, square)


def _chain_order(sizes):
    """``split[i][j]``: where the cheapest product of matrices ``i..j`` of a chain with
    dimensions ``sizes`` (matrix ``k`` is ``sizes[k] x sizes[k + 1]``) splits."""
    n = len(sizes) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j], split[i][j] = min(
                (cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1], k) for k in range(i, j))
    return split


def multi_dot(tensors):
    """The product of a chain of matrices, in the cheapest order (``torch.linalg.multi_dot``):
    the first may be a 1-D row vector and the last a 1-D column vector (their axes are
    dropped from the result), the others 2-D; all of one dtype."""
    op = "multi_dot"
    tensors = list(tensors)
    if len(tensors) < 2:
        raise ShapeError(f"{op}: expected at least 2 tensors but got {len(tensors)}")
    _tensors(op, *tensors)
    for k, t in enumerate(tensors):
        allowed = (1, 2) if k in (0, len(tensors) - 1) else (2,)
        if t.ndim not in allowed:
            which = "the first tensor" if k == 0 else "the last tensor" if k == len(tensors) - 1 else f"tensor {k}"
            raise ShapeError(f"{op}: {which} must be {' or '.join(f'{d}D' for d in allowed)} but got {t.ndim}D "
                             f"(shape {t.shape})")
        if t.dtype != tensors[0].dtype:
            raise DTypeError(f"{op}: all tensors must have the same dtype, but tensor 0 is {tensors[0].dtype} and "
                             f"tensor {k} is {t.dtype}")
        ops.check_device(op, tensors[0], t)
    given = [t.shape for t in tensors]
    row, column = tensors[0].ndim == 1, tensors[-1].ndim == 1
    if row:
        tensors[0] = tensors[0].unsqueeze(0)
    if column:
        tensors[-1] = tensors[-1].unsqueeze(1)
    for k in range(len(tensors) - 1):
        if tensors[k].shape[1] != tensors[k + 1].shape[0]:
            raise ShapeError(f"{op}: tensors {k} and {k + 1} with shapes {given[k]} and {given[k + 1]} cannot be "
                             f"multiplied")
    split = _chain_order([t.shape[0] for t in tensors] + [tensors[-1].shape[1]])

    def product(i, j):
        return tensors[i] if i == j else matmul(product(i, split[i][j]), product(split[i][j] + 1, j))
    result = product(0, len(tensors) - 1)
    if column:
        result = result.squeeze(1)
    return result.squeeze(0) if row else result


def block_diag(*tensors):
    """The block-diagonal matrix of the given blocks (0-d: 1 x 1, 1-D: one row), in
    their common dtype."""
    _tensors("block_diag", *tensors)
    if not tensors:
        raise ShapeError("block_diag: needs at least one tensor")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        ops.check_device("block_diag", tensors[0], t)
        dtype = ops.result_dtype(dtype, t.dtype)
    blocks = []
    for t in tensors:
        if t.ndim > 2:
            raise ShapeError(f"block_diag: blocks must have at most 2 dimensions, got shape {t.shape}")
        blocks.append(ops.cast(ops.reshape(t, (1, 1) if not t.ndim else (1, t.shape[0])) if t.ndim < 2 else t, dtype))
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        rows.append(pad(b, (left, width - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of the 1-D ``x``: column ``j`` is ``x ** (N - 1 - j)``
    (``increasing``: ``x ** j``), ``N`` columns (default ``len(x)``); integers give
    int64."""
    _tensors("vander", x)
    if x.ndim != 1:
        raise ShapeError(f"vander: x must be 1-D, got shape {x.shape}")
    n = x.shape[0] if N is None else N
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ArgumentError(f"vander: N must be a non-negative int, got {N!r}")
    if not x.dtype.startswith("float"):
        x = ops.cast(x, "int64")
    if not n:
        return zeros((x.shape[0], 0), dtype=x.dtype, device=x.device)
    column = ops.reshape(x, (x.shape[0], 1))
    parts = [ones(x.shape[0], 1, dtype=x.dtype, device=x.device)]
    if n > 1:
        parts.append(ops.expand(column, (x.shape[0], n - 1)))
    powers = cumprod(cat(parts, 1), 1)
    return powers if increasing else flip(powers, (1,))


def _cov_weights(op, name, w, observations, like):
    if w is None:
        return None
    if not isinstance(w, Tensor) or w.ndim > 1 or (w.ndim and w.shape[0] != observations):
        raise ShapeError(f"{op}: {name} must be a 1-D tensor of {observations} weights, got "
                         f"{w.shape if isinstance(w, Tensor) else type(w).__name__}")
    if name == "fweights" and w.dtype.startswith("float"):
        raise DTypeError(f"{op}: fweights must be integers, got {w.dtype}")
    return ops.cast(w, like.dtype)


def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables in ``input``'s rows (observations in the
    columns; one variable, or a 1-D input: a 0-d result, as PyTorch's), with ``correction`` (1:
    unbiased) and optional integer frequency and float observation weights."""
    _tensors("cov", input)
    if input.ndim > 2:
        raise ShapeError(f"cov: expects a tensor of at most 2 dimensions, got shape {input.shape}")
    x = input if input.dtype.startswith("float") else ops.cast(input, "float32")
    x = ops.reshape(x, (1, x.numel())) if x.ndim < 2 else x
    observations = x.shape[1]
    fw = _cov_weights("cov", "fweights", fweights, observations, x)
    aw = _cov_weights("cov", "aweights", aweights, observations, x)
    w = fw if aw is None else aw if fw is None else fw * aw
    if w is None:
        mean = x.mean(dim=1, keepdim=True)
        norm = observations - correction
        centred = x - mean
        weighted = centred
    else:
        total = w.sum()
        mean = (x * w).sum(dim=1, keepdim=True) / total
        norm = total - correction * ((w * aw).sum() / total if aw is not None else 1)
        centred = x - mean
        weighted = centred * w
    if isinstance(norm, Tensor):
        norm = clamp(norm, 0.0)
    else:
        norm = max(norm, 0)
    out = matmul(weighted, centred.transpose(0, 1)) / norm
    return ops.reshape(out, ()) if out.shape == (1, 1) else out


def corrcoef(input):
    """Pearson's correlation coefficients of the variables in ``input``'s rows: the
    covariance divided by the outer product of the standard deviations, clipped to
    ``[-1, 1]`` (a 1-D input: ``c / c``, 1 or NaN)."""
    c = cov(input)
    if not c.ndim:
        return c / c
    d = diag(c).sqrt()
    return clamp(c / ops.reshape(d, (d.shape[0], 1)) / ops.reshape(d, (1, d.shape[0])), -1.0, 1.0)


add_methods({f.__name__: method_of(f) for f in (cross, kron, inner, matrix_power, cov, corrcoef)})
