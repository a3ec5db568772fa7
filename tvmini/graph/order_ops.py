"""Order statistics, PyTorch's: ``quantile`` and ``nanquantile`` (all five
interpolation modes) and ``mode``.

``quantile`` finds the positions of the two order statistics around each rank ``q *
(count - 1)`` of each line — by radix selection (``topi.select``: ``(32 + log2 n) / 2``
steps of 3 counting passes over the line per rank for float32, ``64 + log2 n`` for
float64; the statistic after it, the interpolations' second, three passes more) where
that is less work than a sort's ``log2(n)^2 / 2`` passes (long lines, few ranks:
:func:`_selects`), else from ``tm.argsort`` (NaNs last, the same stable order) — reads
the elements there with a ``gather`` (no sorted copy of the lines is made) and
interpolates, so the gradient goes, as PyTorch's, to those elements; ``count`` is the
line's length, or for ``nanquantile`` its number of non-NaN values (a tensor: each line
its own ranks). As PyTorch's, a line holding a NaN reads the NaN the order puts last at
every rank in ``quantile``, and an all-NaN line its first NaN in ``nanquantile``: the
result is NaN and the gradient goes to that NaN.

``mode`` counts every value's equals along the line (one comparison of every pair: n²
per line), takes the smallest of the most frequent values and, as PyTorch, the last
position holding it; its values are a ``gather`` there (the gradient goes to that
element).
"""
from collections import namedtuple

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..runtime import ndarray as nd
from ..topi.select import KEY_BITS, select_positions
from . import axes as check_axes
from . import ops
from .creation import arange
from .gather_ops import gather
from .join_ops import clamp
from .logic_ops import where
from .reductions import amax, amin
from .reorder_ops import movedim
from .sort_ops import argsort
from .tensor import Tensor, add_methods

INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")
#: the shortest lines whose order statistics may be found by radix selection
#: (``topi.select``) rather than a sort: a selection kernel takes seconds to build
SELECT_MIN = 256


def _selects(n, reads, dtype):
    """Whether the order statistics at ``reads`` ranks (each with the one after it, for
    the interpolations) of lines of ``n`` elements are found by radix selection: its
    counting passes over the line, ``reads x (key bits + log2 n) / 2`` steps of 3 counts
    each, against the ``log2 n (log2 n + 1) / 2`` passes of a sort's network, each
    costing about 6 counts (measured on 64 x 1024 and 65536 float32: one or two ranks
    select faster, ten sort faster at 1024 and select faster at 65536). float16 lines
    (no keys) sort."""
    depth = max(n - 1, 1).bit_length()
    return dtype in KEY_BITS and n >= SELECT_MIN and reads * (KEY_BITS[dtype] + depth) <= 2 * depth * (depth + 1)

#: PyTorch's result of mode: a named (values, indices) pair
ModeResult = namedtuple("ModeResult", ["values", "indices"])


def _q_tensor(op, q, x):
    """``q`` as a 1-D tensor of ``x``'s dtype and device (and whether it was a scalar),
    its values checked in [0, 1] where they can be read."""
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise ShapeError(f"{op}: q must be a number, a 0-d or a 1-D tensor, got shape {q.shape}")
        ops.check_device(op, x, q)
        if q.dtype != x.dtype:
            raise DTypeError(f"{op}: q ({q.dtype}) and the input ({x.dtype}) must have the same dtype")
        values = q.numpy() if q.device.kind == "cpu" else None
        scalar, q = q.ndim == 0, ops.reshape(q, (q.numel(),))
    else:
        if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)):
            raise ArgumentError(f"{op}: q must be a number or a tensor, got {q!r}")
        values = np.asarray([q], dtype=x.dtype)
        scalar, q = True, Tensor._wrap(nd.array(values, device=x.device))
    if values is not None and values.size and not (values.min() >= 0 and values.max() <= 1):
        raise ArgumentError(f"{op}: q values must be in the range [0, 1], got {values.tolist()}")
    return q, scalar


def _quantile(op, input, q, dim, keepdim, interpolation, ignore_nan):
    if not isinstance(input, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(input).__name__}")
    if not input.dtype.startswith("float"):
        raise DTypeError(f"{op}: needs a float tensor, got {input.dtype} of shape {input.shape}")
    if interpolation not in INTERPOLATIONS:
        raise ArgumentError(f"{op}: interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    q, scalar = _q_tensor(op, q, input)
    if dim is None:
        x, axis = ops.reshape(input, (input.numel(),)), 0
    else:
        axis = check_axes.axis(op, dim, input.shape)
        x = input if input.ndim else ops.reshape(input, (1,))
    n = x.shape[axis]
    if not n:
        raise ShapeError(f"{op}: the input of shape {input.shape} is empty along the reduced axis")
    lines = movedim(x, axis, -1)                                        # rows (R..., n)
    rest = lines.shape[:-1]

    def ranks(position):
        return ops.cast(clamp(position, 0.0, float(n - 1)), "int64")

    if _selects(n, q.numel(), x.dtype):
        rows = ops.reshape(lines.detach(), (int(np.prod(rest, dtype=np.int64)), n))

        def positions(position, width, following=False):
            """(R..., width) positions of ranks ``position``; ``following``: and of the ranks after."""
            flat = ops.reshape(ops.expand(ranks(position), rest + (width,)), (rows.shape[0], width))
            found = ops._kernel("select_positions", select_positions, rows, flat, following=following)
            return ops.reshape(found, rest + (2 * width if following else width,))

        def around(low, high, width):
            """The positions of ranks ``low`` and ``high`` (``low`` or ``low + 1``): one search."""
            both = positions(low, width, following=True)
            return both[..., :width], where(ops.expand(ranks(high) > ranks(low), rest + (width,)),
                                            both[..., width:], both[..., :width])
    else:
        order = argsort(lines, -1)                                      # NaNs last

        def positions(position, width):
            return gather(order, -1, ops.expand(ranks(position), rest + (width,)))

        def around(low, high, width):
            return positions(low, width), positions(high, width)

    if ignore_nan:          # ranks among the non-NaN values; an all-NaN line reads its first NaN
        count = ops.cast(lines == lines, x.dtype).sum(dim=-1, keepdim=True)
        rank = ops.reshape(q, (1,) * len(rest) + (q.numel(),)) * clamp(count - 1, 0.0)       # (R..., Q)
    else:                   # a line holding a NaN (it sorts last) reads it at every rank
        clean = amax(ops.cast(lines.detach() != lines.detach(), "int32"), -1, True) == 0
        rank = where(clean, ops.reshape(q, (1,) * len(rest) + (q.numel(),)) * float(n - 1),
                     ops._as_tensor(float(n - 1), x))
    low, high = rank.floor(), rank.ceil()
    if interpolation == "nearest":
        low = high = rank.round()
    elif interpolation == "lower":
        high = low
    elif interpolation == "higher":
        low = high
    # the order statistics there, read from the rows themselves (their gradient goes there)
    if interpolation in ("lower", "higher", "nearest"):
        value = gather(lines, -1, positions(low, q.numel()))
    else:
        below, above = (gather(lines, -1, p) for p in around(low, high, q.numel()))
        weight = ops._as_tensor(0.5, x) if interpolation == "midpoint" else rank - low
        value = below + (above - below) * weight
    value = movedim(value, -1, 0)                                           # (Q, R...)
    if keepdim:
        kept = (1,) * input.ndim if dim is None else input.shape[:axis] + (1,) + input.shape[axis + 1:]
        value = ops.reshape(value, (q.numel(),) + (kept if input.ndim else ()))
    elif dim is not None and not input.ndim:
        value = ops.reshape(value, (q.numel(),))
    return ops.reshape(value, value.shape[1:]) if scalar else value


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-quantiles (a number, or a 1-D tensor of them: a leading axis) of
    ``input`` along ``dim`` (None: all its elements), interpolating between the two
    nearest order statistics by ``interpolation``; NaN where a line holds a NaN."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """``quantile`` ignoring NaNs (NaN only for an all-NaN line)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


def mode(input, dim=-1, keepdim=False):
    """(values, indices): the most frequent value along ``dim`` (of several, the
    smallest) and the last position holding it."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"mode: takes a Tensor, got {type(input).__name__}")
    axis = check_axes.axis("mode", dim, input.shape)
    x = input if input.ndim else ops.reshape(input, (1,))
    n = x.shape[axis]
    if not n:
        raise ShapeError(f"mode: the input of shape {input.shape} is empty along axis {dim}")
    lines = movedim(x.detach(), axis, -1)
    rest = lines.shape[:-1]
    pairs = ops.reshape(lines, rest + (n, 1)) == ops.reshape(lines, rest + (1, n))
    counts = ops.cast(pairs, "int32").sum(dim=-1)
    best = counts == amax(counts, -1, True)
    top = float("inf") if x.dtype.startswith("float") else np.iinfo(x.dtype).max if x.dtype != "bool" else True
    value = amin(where(best, lines, ops._as_tensor(top, lines)), -1, True)
    positions = ops.expand(arange(n, device=x.device), rest + (n,))
    index = amax(where(lines == value, positions, ops._as_tensor(-1, positions)), -1, True)
    index = movedim(index, -1, axis)
    values = gather(x, axis, index)
    if not keepdim or not input.ndim:
        shape = input.shape[:axis] + input.shape[axis + 1:]
        values, index = ops.reshape(values, shape), ops.reshape(index, shape)
    return ModeResult(values, index)


add_methods({
    "quantile": lambda self, q, dim=None, keepdim=False, *, interpolation="linear": quantile(
        self, q, dim, keepdim, interpolation=interpolation),
    "nanquantile": lambda self, q, dim=None, keepdim=False, *, interpolation="linear": nanquantile(
        self, q, dim, keepdim, interpolation=interpolation),
    "mode": lambda self, dim=-1, keepdim=False: mode(self, dim, keepdim),
})
