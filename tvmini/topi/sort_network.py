"""A bitonic sorting network over the rows of a tensor, as a chain of te computes:
what ``topi.sort`` runs for rows past ``NETWORK_MIN`` elements.

Counting ranks (``topi.sort``'s small rows) costs ``O(n^2)`` comparisons per row;
a sorting network ``O(n log^2 n)``, and every one of its passes is an elementwise
compute, which te can express: the row is padded to ``m = 2^p`` elements and then
sorted by ``p (p + 1) / 2`` passes of compare-exchange. The pass of merge size
``size`` and stride ``s`` pairs element ``j`` with ``j ^ s``; the lower of the two
keeps the pair's first element (under ``sort.goes_before``) in blocks sorted
ascending (``j & size == 0``), the upper one in the others, and the last merge
(``size = m``) sorts every block ascending. Each pass is one compute of two outputs,
the values and their original indices (int32), reading the previous pass's pair.

Exactness: the network sorts by ``goes_before`` on (value, index) pairs, a strict
total order, so the result is the one stable sort (ties by index, NaN greatest, a
descending sort's equal elements still in index order) whatever the input holds.
The padding takes indices ``n .. m - 1`` and a value that sorts last among the row's
(ascending: NaN or the dtype's maximum; descending: -inf or the minimum), so with
ties broken by index every pad goes after every element of the row.

The partner index is written ``j + s - 2 s ((j // s) % 2)`` rather than ``j ^ s``:
once a schedule splits ``j`` into blocks of ``2 s`` and halves of ``s``
(``schedule_passes``), the simplifier reduces it to an affine index in the inner
loop, so a stride of at least a vector's lanes loads both halves as whole vectors.
The CPU schedule computes all passes inside the loop over rows of the stage that
reads the network (``sort.argsort``'s selection), so each row's passes run on a row
held in L1/L2 and rows run in parallel; the passes' buffers are then one row each.
"""
from .. import te
from ..tir import dtype as dt
from ..tir import expr as E

__all__ = ["NETWORK_MIN", "network", "padded_extent", "PASS_TAG", "schedule_passes", "passes_of"]

#: Rows of at least this many elements are sorted by the network; shorter ones by
#: counting (``sort.sort_rank``), which is one kernel and fewer operations there.
NETWORK_MIN = 64

#: Tag of the network's passes (their rule leaves them to the stage reading them).
PASS_TAG = "sort_pass"


def padded_extent(n):
    """The power of two the network sorts a row of ``n`` elements in."""
    return 1 << max(0, (n - 1).bit_length())


def _sentinel(dtype, descending):
    """A value that sorts after every value of ``dtype`` (ties aside)."""
    if dt.is_float(dtype):
        return E.const(float("-inf") if descending else float("nan"), dtype)
    return te.min_value(dtype) if descending else te.max_value(dtype)


def network(x, axis, descending, goes_before, name="sort"):
    """``(values, indices)`` of the rows of ``x`` along ``axis`` (a non-negative int,
    constant extent ``n``) sorted by the bitonic network: tensors of shape
    ``rows + (m,)`` (``rows``: ``x``'s other axes in order, ``m = padded_extent(n)``),
    indices int32; positions ``n ..`` hold the padding."""
    n = x.shape[axis].value
    m = padded_extent(n)
    rows = [e for a, e in enumerate(x.shape) if a != axis]
    shape = rows + [m]
    pad = _sentinel(x.dtype, descending)

    def start(*i):
        j = i[-1]
        element = tuple(i[:axis]) + (te.min(j, n - 1),) + tuple(i[axis:-1])
        return te.if_then_else(j < n, x[element], pad), j
    values, indices = te.compute(shape, start, name=f"{name}.pad", tag=PASS_TAG, attrs={"stride": 0})
    size = 2
    while size <= m:
        s = size // 2
        while s >= 1:
            values, indices = _pass(values, indices, size, s, m, descending, goes_before, name)
            s //= 2
        size *= 2
    return values, indices


def _pass(values, indices, size, s, m, descending, goes_before, name):
    """One compare-exchange pass of merge ``size`` and stride ``s``."""
    def body(*i):
        j = i[-1]
        half = (j // s) % 2
        partner = i[:-1] + (j + s - 2 * s * half,)
        mine, theirs = values[i], values[partner]
        before = goes_before(theirs, mine, indices[partner], indices[i], descending)
        keep_first = half == 0 if size == m else half == (j // size) % 2
        take = before == keep_first
        return te.if_then_else(take, theirs, mine), te.if_then_else(take, indices[partner], indices[i])
    return te.compute(values.shape, body, name=f"{name}.s{size}.{s}", tag=PASS_TAG,
                      attrs={"stride": s})


def passes_of(tensor):
    """The network's computes feeding ``tensor`` (a stage reading it), last first."""
    found, seen = [], set()
    stack = list(tensor.op.input_tensors)
    while stack:
        t = stack.pop()
        if t.op in seen or getattr(t.op, "tag", None) != PASS_TAG:
            continue
        seen.add(t.op)
        found.append(t.op)
        stack.extend(t.op.input_tensors)
    return found


def schedule_passes(sch, ops, parent, axis, lanes):
    """Compute the passes ``ops`` inside loop ``axis`` of stage ``parent`` (one row each),
    their element loop split into blocks of ``2 s`` and halves of ``s`` so the partner
    load is affine; the half loop vectorized (``lanes``) when ``s`` is at least that."""
    for op in ops:
        stage = sch[op.output(0)]
        if parent is not None:
            stage.compute_at(parent, axis)
        j = stage.op.axis[-1]
        s = op.attrs["stride"]
        if s >= lanes:
            _, inner = stage.split(j, factor=2 * s)
            _, o = stage.split(inner, factor=s)
            _, lane = stage.split(o, factor=lanes)
            stage.vectorize(lane)
