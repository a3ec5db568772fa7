"""Sorting along one axis: ``sort_rank``, ``argsort`` (all positions, the first ``k``
as topk, or one as kthvalue), ``sort``, ``median_index``, and ``randperm_keys``.

te has no sort. A row of constant extent of at least ``NETWORK_MIN`` (100) elements is
sorted by a bitonic network (``topi.sort_network``: ``O(n log^2 n)`` compare-exchanges
of pairs ordered as :func:`goes_before` orders (value, index) pairs, one elementwise
compute per pass), and the outputs select positions of its result. Shorter rows, and rows of symbolic
extent, are sorted by counting, one kernel of two reductions. In a row ``x`` of extent ``n`` the rank of
element ``i`` is the number of elements that go before it::

    rank[i] = #{j : x[j] < x[i]  or  (x[j] == x[i] and j < i)}

a stable total order (equal values keep their index order), in which NaN is greater
than every number and equal to the other NaNs, as PyTorch sorts (ascending: NaNs
last; descending: first, equal elements still in index order, as PyTorch's stable
descending sort). The ranks of a row are a permutation of ``0 .. n-1``, so the
element sorted to position ``r`` is the one whose rank is ``r``: a second reduction,
``index[r] = sum_i i * (rank[i] == r)``, and the sorted values are ``x`` gathered at
those indices (``topi.gather``). Both reductions are ``O(n^2)`` comparisons
per row, cheaper than the network's passes only for short rows; every output element
is an independent reduction, which any schedule and target runs as it runs a sum.
Both ways sort by the same total order, so they give the same (stable) result. Ranks
are int32 (extents are), indices int64 as PyTorch's.
"""
from .. import te
from ..errors import DTypeError, ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import shape_str
from .gather import gather
from .random import random_bits
from .scan import scan_axis
from .sort_network import NETWORK_MIN, SELECT_TAG, network, original_index, padded_extent
from .sort_network import position as sorted_at

__all__ = ["sort_rank", "argsort", "sort", "median_index", "randperm_keys"]


def _check(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__} {x!r}")


def _at(idx, axis, value):
    idx = list(idx)
    idx[axis] = value
    return tuple(idx)


def goes_before(a, b, ia, ib, descending=False):
    """Whether element ``a`` (at index ``ia``) is sorted before element ``b`` (at
    ``ib``): smaller (``descending``: larger), NaN above every number, ties broken by
    index. A strict total order over a row's (value, index) pairs."""
    if dt.is_float(a.dtype):
        a_nan, b_nan = a != a, b != b
        if descending:
            first = (a > b) | (a_nan & ~b_nan)
        else:
            first = (a < b) | (b_nan & ~a_nan)
        tie = (a == b) | (a_nan & b_nan)
    else:
        first = a > b if descending else a < b
        tie = a == b
    return first | (tie & (ia < ib))


def _sortable(x, op):
    _check(x, op)
    if dt.is_bool(x.dtype):
        return te.compute(x.shape, lambda *i: x[i].astype("int32"), name=f"{op}.int", tag="elemwise")
    return x


def sort_rank(x, axis=-1, descending=False):
    """The position (int32) each element of ``x`` takes when its rows along ``axis``
    are sorted (stable; NaN greatest): ``O(n^2)`` comparisons per row."""
    op = "sort_rank"
    axis = scan_axis(x, axis, op)
    x = _sortable(x, op)
    j = te.reduce_axis((0, x.shape[axis]), name="j")

    def body(*i):
        other = _at(i, axis, j.var)
        return te.sum(goes_before(x[other], x[i], j.var, i[axis], descending).astype("int32"), axis=j)
    return te.compute(x.shape, body, name=op, tag="reduce")


def _select_ranks(rank, axis, count, position, dtype, name):
    """Index (``dtype``) along ``axis`` of the element of rank ``position(r, row)`` for
    ``r < count``: an output of ``count`` along ``axis``. ``row`` is the output index."""
    i = te.reduce_axis((0, rank.shape[axis]), name="i")
    shape = _at(rank.shape, axis, count)
    zero = E.const(0, "int32")

    def body(*r):
        # the rank load in the summed value (not in a where=): the CPU rule finds the
        # row it reduces and sums it in vector lanes
        hit = rank[_at(r, axis, i.var)] == position(r[axis], r)
        return te.sum(te.if_then_else(hit, i.var.astype("int32"), zero), axis=i)
    # int32 lanes (8 to an AVX2 vector; int64 needs twice the vectors), widened after
    found = te.compute(shape, body, name=name if dtype == "int32" else f"{name}.int32", tag="reduce")
    if dtype == "int32":
        return found
    return te.compute(shape, lambda *r: found[r].astype(dtype), name=name, tag="elemwise")


def _index_dtype(dtype, op):
    dtype = dt.canonical(dtype)
    if dtype not in ("int32", "int64"):
        raise DTypeError(f"{op}: the index dtype must be int32 or int64, got {dtype}")
    return dtype


def _by_network(x, axis):
    """Whether the rows of ``x`` along ``axis`` are sorted by the network."""
    n = x.shape[axis]
    return isinstance(n, E.Const) and n.value >= NETWORK_MIN


def _selected(x, axis, descending, count, position, parts, name):
    """A compute of extent ``count`` along ``axis`` reading each row of ``x`` sorted by
    the network at position ``position(r, out_index)``: one output per ``(part,
    dtype)`` of ``parts``, part "values" (``x`` at the element's index: its own bits,
    a NaN's payload, -0.0) or "indices"."""
    keys, codes = network(_sortable(x, name), axis, descending, name)
    m = padded_extent(x.shape[axis].value)

    def body(*r):
        row = tuple(r[:axis]) + tuple(r[axis + 1:])
        index = original_index(codes[sorted_at(codes, row, position(r[axis], r))], m)
        found = [(index.astype(dtype) if part == "indices" else x[_at(r, axis, index)]) for part, dtype in parts]
        return found if len(found) > 1 else found[0]
    return te.compute(_at(x.shape, axis, count), body, name=name, tag=SELECT_TAG, attrs={"axis": axis})


def argsort(x, axis=-1, descending=False, k=None, start=0, dtype="int64"):
    """Indices that sort ``x`` along ``axis`` (stable; NaN greatest; ``descending``
    largest first): positions ``start .. start + k - 1`` of the sorted order (``k``
    None: to the end), an output of extent ``k`` along ``axis``: topk's indices are
    ``k`` of them, kthvalue's one at ``start = k - 1``. By the network for rows of
    ``NETWORK_MIN`` or more, else two reductions of ``O(n^2)`` (``O(n k)`` for the
    second) per row."""
    op = "argsort"
    axis = scan_axis(x, axis, op)
    dtype = _index_dtype(dtype, op)
    n = x.shape[axis]
    if k is None:
        k = n.value - start if isinstance(n, E.Const) else n - start
    if isinstance(n, E.Const) and isinstance(k, int) and not (0 <= start and 0 <= k and start + k <= n.value):
        raise ShapeError(f"argsort: positions {start} .. {start} + {k} are out of range for axis {axis} of {x.name} "
                         f"{shape_str(x.shape)}")
    if _by_network(x, axis):
        return _selected(x, axis, descending, k, lambda r, row: r + start, [("indices", dtype)], op)
    rank = sort_rank(x, axis, descending)
    return _select_ranks(rank, axis, k, lambda r, row: r + start, dtype, op)


def sort(x, axis=-1, descending=False, dtype="int64"):
    """``(values, indices)`` of ``x`` sorted along ``axis`` (see :func:`argsort`); by
    the network, one compute of both."""
    _check(x, "sort")
    axis = scan_axis(x, axis, "sort")
    dtype = _index_dtype(dtype, "sort")
    if _by_network(x, axis):
        return _selected(x, axis, descending, x.shape[axis], lambda r, row: r,
                         [("values", x.dtype), ("indices", dtype)], "sort")
    indices = argsort(x, axis, descending, dtype=dtype)
    return gather(x, indices, axis), indices


def median_index(x, axis=-1, dtype="int64"):
    """Index along ``axis`` (keepdims, extent 1) of each row's lower median, PyTorch's
    ``median(dim)``: the element of rank ``(n - 1) // 2``, or where the row holds a
    NaN, the first NaN (the median of a row with a NaN is NaN, as PyTorch's)."""
    op = "median_index"
    axis = scan_axis(x, axis, op)
    dtype = _index_dtype(dtype, op)
    n = x.shape[axis]
    if dt.is_float(x.dtype):
        j = te.reduce_axis((0, n), name="j")
        rows = [e for a, e in enumerate(x.shape) if a != axis]

        def nans(*row):
            element = tuple(row[:axis]) + (j.var,) + tuple(row[axis:])
            return te.sum((x[element] != x[element]).astype("int32"), axis=j)
        count = te.compute(rows, nans, name=f"{op}.nans", tag="reduce")

        def position(_, r):
            row = r[:axis] + r[axis + 1:]
            return te.if_then_else(count[row] > 0, n - count[row], (n - 1) // 2)
    else:
        def position(_, r):
            return (n - 1) // 2
    if _by_network(x, axis):
        return _selected(x, axis, False, 1, position, [("indices", dtype)], op)
    return _select_ranks(sort_rank(x, axis), axis, 1, position, dtype, op)


def randperm_keys(seed, n):
    """``n`` counter-based random keys of 63 bits (int64, ``topi.random``) from ``seed``
    (an int64 0-d te tensor, or an int expression): their argsort is a random
    permutation, the same for a seed on every target (two keys are equal with
    probability ~ n^2 / 2^64, and then the stable order still gives a permutation).
    A kernel of its own, so that the sort reads the keys instead of hashing them again
    for every comparison."""
    if isinstance(seed, te.Tensor):
        if seed.ndim != 0 or not dt.is_int(seed.dtype):
            raise DTypeError(f"randperm_keys: the seed {seed.name} must be a 0-d integer tensor, got {seed.dtype} "
                             f"{shape_str(seed.shape)}")
        seed = seed[()]
    high, low = random_bits(n, seed), random_bits(n, seed, offset=n)
    return te.compute((n,), lambda i: high[i] * (1 << 31) + low[i] // 2, name="randperm_keys", tag="elemwise")
