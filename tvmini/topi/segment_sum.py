"""Gradients of row lookups (``take`` along axis 0 of a table, ``embedding_bag``) as a
segment sum over the entries sorted by row, computed entirely on the device.

The plain backward of a lookup is a gather per table row (``transform.take_grad``):
each of the ``rows`` rows compares every one of the ``n`` entries' indices, ``rows * n``
work, which dominates a training step once the table is a vocabulary. Here the work
is ``O(n log^2 n)`` for the sort plus ``O(n D log n + rows (log n + D))``, and nothing
is read on the host, so a ``tm.jit`` step (whose replays get other indices) and CUDA
run it as they run any kernel:

1. the entries' keys (their rows; ``rows`` for an entry that counts nowhere, which
   sorts after every real row) are sorted, stably (``topi.sort``: a bitonic network,
   or counting for short lines);
2. each entry's gradient row is gathered in sorted order and summed with the entries
   before it in its run of equal keys: an inclusive segmented scan of ``ceil(log2
   n)`` doubling steps (``total[k] += total[k - s]`` where entry ``k - s`` has the same
   key), each an elementwise compute over (n, D) (te has no sequential loop; no
   atomics either);
3. row ``r`` finds the end of its run by binary search in the sorted keys
   (``topi.search.searchsorted``) and takes the scan's value at the run's last entry,
   or zero where the run is empty.

The keys may be shared by every feature (``take``, "sum"/"mean" bags: one key line)
or differ per feature (a "max" bag sends feature ``j``'s gradient to the row that held
that feature's maximum: ``D`` key lines, each sorted on its own). Each run's sum is
added as a tree (pairs, then pairs of pairs), so its rounding differs from a
sequential sum only in order, not in accuracy.
"""
from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .schedule import MATERIALIZED
from .search import searchsorted
from .sort import sort

__all__ = ["segment_rows", "take_rows_grad"]


def segment_rows(keys, contribution, rows, dim, dtype, name="segment_rows"):
    """The (rows, dim) sums, per table row, of the contributions of the entries whose
    key is that row. ``keys``: int32 te tensor (K, n), K = 1 (the key of entry ``p``
    for every feature) or ``dim`` (line ``j``: the keys of feature ``j``), each key in
    ``[0, rows]`` (``rows``: the entry counts nowhere). ``contribution(p, j)``: the
    ``dtype`` expression entry ``p`` adds to feature ``j`` of its row."""
    lines, n = (int(e.value) for e in keys.shape)
    if lines not in (1, dim):
        raise ShapeError(f"{name}: keys must have 1 or dim={dim} lines, got {lines}")
    sorted_keys, order = sort(keys, axis=1, dtype="int32")

    def line(j):
        return j if lines > 1 else 0
    total = te.compute((n, dim), lambda k, j: contribution(order[line(j), k], j), name=f"{name}.sorted",
                       tag=MATERIALIZED)
    zero = E.const(0, dtype)

    def doubling(prev, s):
        """Step of stride ``s``: each entry adds the partial sum ``s`` entries back
        when that entry is in its run."""
        def body(k, j):
            back = te.max(k - s, 0)
            joined = (k >= s) & (sorted_keys[line(j), back] == sorted_keys[line(j), k])
            return prev[k, j] + te.if_then_else(joined, prev[back, j], zero)
        return body
    step = 1
    while step < n:
        total = te.compute((n, dim), doubling(total, step), name=f"{name}.scan{step}", tag=MATERIALIZED)
        step *= 2
    wanted = te.compute((lines, rows), lambda c, r: r, name=f"{name}.rows", tag="injective")
    ends = searchsorted(sorted_keys, wanted, right=True, dtype="int32")

    def out(r, j):
        end = ends[line(j), r]
        last = te.max(end - 1, 0)
        return te.if_then_else((end > 0) & (sorted_keys[line(j), last] == r), total[last, j], zero)
    return te.compute((rows, dim), out, name=name, tag="injective")


def take_rows_grad(grad, indices, rows):
    """The gradient (rows, D) of ``take(x, indices, axis=0)`` for a table ``x`` of
    ``rows`` rows, given ``grad`` (indices' shape + (D,)): ``transform.take_grad``
    (index clipped into the table) by :func:`segment_rows`."""
    if grad.ndim != indices.ndim + 1:
        raise ShapeError(f"take_rows_grad: gradient {grad.name} of {grad.ndim} axes does not match indices "
                         f"{indices.name} of {indices.ndim} axes + a feature axis")
    n = 1
    for e in indices.shape:
        n *= int(e.value)
    dim = int(grad.shape[-1].value)
    extents = [int(e.value) for e in indices.shape]

    def unflat(p):
        idx = []
        for e in reversed(extents):
            idx.append(p % e)
            p = p // e
        return tuple(reversed(idx))
    keys = te.compute((1, n), lambda _, p: te.min(te.max(indices[unflat(p)].astype("int32"), 0), rows - 1),
                      name="take_rows_grad.keys", tag="injective")
    return segment_rows(keys, lambda p, j: grad[unflat(p) + (j,)], rows, dim, grad.dtype, name="take_rows_grad")
