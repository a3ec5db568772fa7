"""Order statistics without a sort: the position in each row of the element that a stable
ascending sort (NaNs last, ``topi.sort``'s order) would put at a given rank, found by
radix selection — the kernel of ``quantile``'s reads.

A sort of a row of ``n`` elements is ``O(n log^2 n)`` compare-exchanges (the bitonic
network of ``topi.sort_network``), one pass over the row per network stage; a few ranks
of a long row (a quantile over all elements) need far less. Here every element gets an
integer *key* whose order is the sort's value order (:func:`ordered_keys`), and the
key at rank ``k`` is found bit by bit from the top: it is the largest ``v`` with
``#{key < v} <= k``, so each step counts the keys below ``prefix + 2^b`` (one reduction
over the row, vector lanes of elements) and keeps that bit where the count stays within
``k`` (:data:`DIGIT` bits per step: 3 counts in one pass). The position among the
elements of that key is found the same way over the positions' bits: the ``m``-th (``m
= k - #{key < v}``) equal element in index order is at the largest ``t`` with ``#{key ==
v, i < t} <= m``, the stable sort's choice. The work per rank is ``(key bits + log2 n) /
2`` passes of 3 counts: 32 + log2 n key and position bits for float32 rows (int32 keys,
16 to a 512-bit vector), 64 + log2 n for float64, against the network's ``log2(n)^2 /
2`` passes.

te has no loop carrying a value from step to step, so each step is two stages of the
kernel: the count (tag ``reduce``) and the updated prefix (``materialized``, a loop nest
over the ranks, so that the next count reads it rather than recomputing it per element).
"""
from .. import te
from ..errors import DTypeError, ShapeError
from ..tir import expr as E
from .float_parts import FORMATS
from .schedule import MATERIALIZED

__all__ = ["ordered_keys", "KEY_BITS", "KEY_DTYPE", "select_positions"]

#: bits chosen per step of the search: 2^DIGIT - 1 counts per step; 1 bit per step
#: doubles the steps (and the kernel's stages, whose build time grows faster than their count)
DIGIT = 2
#: bits spanned by the keys of each float dtype (the keys lie in [-2^(bits-1), 2^(bits-1)))
KEY_BITS = {"float32": 32, "float64": 64}
#: the keys' integer dtype: float32's fit int32, twice the vector lanes of int64 in the counts
KEY_DTYPE = {"float32": "int32", "float64": "int64"}


def _f64(value):
    return E.const(float(value), "float64")


def _scaled(v, power, dtype):
    """v 2^power (float64; ``power`` an integer-valued float64 expression), exactly, for
    the powers the keys of ``dtype`` need: one exp2 for float32's, two halves applied in
    turn for float64's (2^1074 overflows, its halves do not)."""
    if dtype == "float32":
        return v * te.exp2(power)
    half = te.floor(power * _f64(0.5))
    return v * te.exp2(half) * te.exp2(power - half)


def ordered_keys(x):
    """Integer keys (:data:`KEY_DTYPE`) of the float (R, n) ``x``, increasing with its
    values in sort order: equal for equal values (-0 and +0 too), the infinities past
    every finite value, every NaN (whatever its sign) above +inf. With ``|v| = m 2^e``
    (``0.5 <= m < 1``, e no less than the smallest normal's ``e0``), the magnitude's key
    is ``(e - e0) 2^(p-1) + |v| 2^(p-e)`` (p: the significand bits; an exact integer), 0
    for zero: consecutive binades take consecutive blocks of 2^(p-1) integers, the
    subnormals the block below. Three stages (``materialized``: the exponent's guess
    from log2, the exponent corrected by the exactly scaled value, the key), each
    reading the one before once."""
    dtype = x.dtype
    digits, lowest = FORMATS[dtype]
    least = lowest + digits                         # frexp's exponent of the smallest normal

    def magnitude(r, j):
        v = te.abs(x[r, j].astype("float64"))
        return te.if_then_else((v != _f64(0)) & te.isfinite(v), v, _f64(1))   # 1 stands for 0, inf, NaN

    guess = te.compute(x.shape, lambda r, j: te.floor(te.log2(magnitude(r, j))) + _f64(1), name="select.guess",
                       tag=MATERIALIZED)                              # off by at most one

    def corrected(r, j):
        scaled = _scaled(magnitude(r, j), -guess[r, j], dtype)      # m, 2m or m / 2, exactly
        e = guess[r, j] + te.if_then_else(scaled >= _f64(1), _f64(1), _f64(0)) \
            - te.if_then_else(scaled < _f64(0.5), _f64(1), _f64(0))
        return te.max(e, _f64(least))
    binade = te.compute(x.shape, corrected, name="select.binade", tag=MATERIALIZED)
    top = (1 << (KEY_BITS[dtype] - 1)) - 2                  # +inf's key, beyond every finite one; NaN's: + 1
    kind = KEY_DTYPE[dtype]

    def key(r, j):
        v = x[r, j].astype("float64")
        size = te.abs(v)
        e = binade[r, j]
        significand = _scaled(size, _f64(digits) - e, dtype)
        finite = (e - _f64(least)).astype(kind) * E.const(1 << (digits - 1), kind) + significand.astype(kind)
        magnitude_key = te.if_then_else(size == _f64(0), E.const(0, kind), te.if_then_else(
            te.isfinite(v), finite, te.if_then_else(size == size, E.const(top, kind), E.const(top + 1, kind))))
        return te.if_then_else(v < _f64(0), E.const(-1, kind), E.const(1, kind)) * magnitude_key
    return te.compute(x.shape, key, name="select.key", tag=MATERIALIZED)


def _bisect(name, rows, ranks, bits, counted, start, kind):
    """The largest ``t`` (``kind``, (R, K)) in ``[start, start + 2^bits)`` with
    ``counted(r, k, t, i)`` summed over ``i`` in ``[0, rows)`` at most ``ranks[r, k]`` (a
    count non-decreasing in ``t``, within the rank at ``start``), :data:`DIGIT` bits at a
    time from the top."""
    shape = tuple(ranks.shape)
    prefix = te.compute(shape, lambda r, k: E.const(start, kind), name=f"{name}.start", tag=MATERIALIZED)
    top = bits
    while top > 0:
        width = min(DIGIT, top)
        top -= width
        prefix = _step(name, rows, ranks, counted, prefix, top, width)
    return prefix


def _step(name, rows, ranks, counted, prefix, low, width):
    """The prefix with its bits ``low .. low + width - 1`` chosen: the largest digit ``d``
    whose candidate ``prefix + d 2^low`` counts within the rank (one count per candidate
    d >= 1, in one reduction; the counts grow with d). A candidate is ``(prefix / 2^low +
    d) 2^low`` (the prefix's bits below ``low`` are 0): within the range, where ``d
    2^low`` alone is not (3 2^62 in int64)."""
    kind = prefix.dtype

    def candidate(r, k, digit):
        step = E.const(1 << low, kind)
        return (te.floordiv(prefix[r, k], step) + digit.astype(kind)) * step
    i = te.reduce_axis((0, rows), name="i")
    count = te.compute(tuple(prefix.shape) + ((1 << width) - 1,), lambda r, k, d: te.sum(
        counted(r, k, candidate(r, k, d + 1), i.var), axis=i), name=f"{name}.count{low}", tag="reduce")

    def chosen(r, k):
        digit = E.const(0, "int32")
        for d in range((1 << width) - 1):
            digit = digit + te.if_then_else(count[r, k, d].astype("int64") <= ranks[r, k], E.const(1, "int32"),
                                            E.const(0, "int32"))
        return candidate(r, k, digit)
    return te.compute(prefix.shape, chosen, name=f"{name}.digit{low}", tag=MATERIALIZED)


def select_positions(x, ranks, following=False):
    """int64 (R, K): for each row of the float ``x`` (R, n) and each int64 rank in ``ranks``
    (R, K) (each in [0, n)), the position of the element a stable ascending sort with
    NaNs last puts at that rank. ``following``: (R, 2K), then the positions at each rank
    + 1 (the rank itself at n - 1), found from the first ones in three passes
    (:func:`_following`) rather than a search of their own."""
    if not isinstance(x, te.Tensor) or x.ndim != 2 or x.dtype not in KEY_BITS:
        raise DTypeError(f"select_positions: expects a 2-D float32 or float64 te tensor, got "
                         f"{x.dtype + ' ' + str(x.ndim) + '-D' if isinstance(x, te.Tensor) else type(x).__name__}")
    if not isinstance(ranks, te.Tensor) or ranks.ndim != 2 or ranks.dtype != "int64" or \
            int(ranks.shape[0].value) != int(x.shape[0].value):
        raise ShapeError(f"select_positions: ranks must be int64 (R, K) with the R = {x.shape[0]} rows of x")
    n = int(x.shape[1].value)
    bits = KEY_BITS[x.dtype]
    key = ordered_keys(x)
    one, zero = E.const(1, "int32"), E.const(0, "int32")
    value = _bisect("select.value", n, ranks, bits,
                    lambda r, k, t, j: te.if_then_else(key[r, j] < t, one, zero), -(1 << (bits - 1)), key.dtype)
    j = te.reduce_axis((0, n), name="j")
    below = te.compute(ranks.shape, lambda r, k: te.sum(te.if_then_else(key[r, j.var] < value[r, k], one, zero),
                                                        axis=j), name="select.below", tag="reduce")
    within = te.compute(ranks.shape, lambda r, k: ranks[r, k] - below[r, k].astype("int64"), name="select.within",
                        tag=MATERIALIZED)
    index_bits = max(n - 1, 1).bit_length()
    position = _bisect("select.index", n, within, index_bits, lambda r, k, t, i: te.if_then_else(
        (key[r, i] == value[r, k]) & (i < t), one, zero), 0, "int32")
    if not following:
        return te.compute(ranks.shape, lambda r, k: position[r, k].astype("int64"), name="select", tag="injective")
    after = _following(key, value, position, n)
    count = int(ranks.shape[1].value)
    return te.compute((ranks.shape[0], 2 * count), lambda r, k: te.if_then_else(
        k < count, position[r, te.min(k, count - 1)], after[r, te.max(k - count, 0)]).astype("int64"),
        name="select", tag="injective")


def _following(key, value, position, n):
    """The position the stable order puts after ``position`` (int32, (R, K); its key
    ``value``): the next element of that key in index order, else the first element of
    the least larger key, else (the last rank) ``position`` itself. Three reductions."""
    shape, kind = tuple(position.shape), key.dtype
    i, m, f = (te.reduce_axis((0, n), name=name) for name in ("i", "m", "f"))
    none = E.const(n, "int32")
    tie = te.compute(shape, lambda r, k: te.min(te.if_then_else(
        (key[r, i.var] == value[r, k]) & (i.var > position[r, k]), i.var, none), axis=i), name="select.tie",
        tag="reduce")
    largest = E.const((1 << (KEY_BITS["float32" if kind == "int32" else "float64"] - 1)) - 1, kind)
    larger = te.compute(shape, lambda r, k: te.min(te.if_then_else(key[r, m.var] > value[r, k], key[r, m.var],
                                                                   largest), axis=m), name="select.larger",
                        tag="reduce")
    first = te.compute(shape, lambda r, k: te.min(te.if_then_else(
        (key[r, f.var] == larger[r, k]) & (key[r, f.var] > value[r, k]), f.var, none), axis=f),
        name="select.first", tag="reduce")
    return te.compute(shape, lambda r, k: te.if_then_else(tie[r, k] < none, tie[r, k], te.if_then_else(
        first[r, k] < none, first[r, k], position[r, k])), name="select.following", tag=MATERIALIZED)
