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

A "max" bag sends feature ``j``'s gradient to the row that held that feature's
maximum: its entries keep their rows as keys, each contributes only to the features
its row was the maximum of, and a row picked twice in one bag only once (``once_per``).
Each run's sum is added as a tree (pairs, then pairs of pairs), so its rounding
differs from a sequential sum only in order, not in accuracy.
"""
from .. import te
from ..errors import ShapeError
from ..tir import expr as E
from .schedule import register, target_kind
from .schedule_cpu import PARALLEL_MIN
from .schedule_cuda import _bind_flat
from .search import searchsorted
from .sort import sort

__all__ = ["segment_rows", "take_rows_grad"]

#: Tag of the (n, D) stages of the scan (the gathered rows and each doubling step):
#: each its own loop nest, as each step reads its predecessor twice.
SCAN_TAG = "segment_scan"


def segment_rows(keys, contribution, rows, dim, dtype, once_per=None, name="segment_rows"):
    """The (rows, dim) sums, per table row, of the contributions of the entries whose
    key is that row. ``keys``: int32 te tensor (n,), each key in ``[0, rows]``
    (``rows``: the entry counts nowhere). ``contribution(p, j)``: the ``dtype``
    expression entry ``p`` adds to feature ``j`` of its row. ``once_per(p)``: an int32
    group of entry ``p`` (its bag); of the entries of a row in one group only the first
    contributes (the stable sort keeps a row's entries in position order, so they are
    neighbours there when groups are runs of positions)."""
    if keys.ndim != 1:
        raise ShapeError(f"{name}: keys must be 1-D (one per entry), got {keys.name} of shape {tuple(keys.shape)}")
    n = int(keys.shape[0].value)
    sorted_keys, order = sort(keys, dtype="int32")
    zero = E.const(0, dtype)

    def first(k, j):
        if once_per is None:
            return contribution(order[k], j)
        back = te.max(k - 1, 0)
        repeat = (k > 0) & (sorted_keys[back] == sorted_keys[k]) & (once_per(order[back]) == once_per(order[k]))
        return te.if_then_else(repeat, zero, contribution(order[k], j))
    total = te.compute((n, dim), first, name=f"{name}.sorted", tag=SCAN_TAG)

    def doubling(prev, s):
        """Step of stride ``s``: each entry adds the partial sum ``s`` entries back
        when that entry is in its run."""
        def body(k, j):
            back = te.max(k - s, 0)
            return prev[k, j] + te.if_then_else((k >= s) & (sorted_keys[back] == sorted_keys[k]), prev[back, j], zero)
        return body
    step = 1
    while step < n:
        total = te.compute((n, dim), doubling(total, step), name=f"{name}.scan{step}", tag=SCAN_TAG)
        step *= 2
    ends = searchsorted(sorted_keys, te.compute((rows,), lambda r: r, name=f"{name}.rows", tag="injective"),
                        right=True, dtype="int32")

    def out(r, j):
        last = te.max(ends[r] - 1, 0)
        return te.if_then_else((ends[r] > 0) & (sorted_keys[last] == r), total[last, j], zero)
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
    keys = te.compute((n,), lambda p: te.min(te.max(indices[unflat(p)].astype("int32"), 0), rows - 1),
                      name="take_rows_grad.keys", tag="injective")
    return segment_rows(keys, lambda p, j: grad[unflat(p) + (j,)], rows, dim, grad.dtype, name="take_rows_grad")


@register(SCAN_TAG)
def schedule_scan(sch, tensor, target="llvm"):
    """CPU: entries outside (parallel when large), each entry's features in an inner
    loop of their own, so its key comparison is one scalar test for all of them (LLVM
    vectorizes that loop)."""
    if target_kind(target) not in ("llvm", "cpu"):
        return
    stage = sch[tensor]
    entry, feature = stage.op.axis
    if int(entry.dom.extent.value) * int(feature.dom.extent.value) >= PARALLEL_MIN:
        stage.parallel(entry)


@register(SCAN_TAG, target="cuda")
def schedule_scan_cuda(sch, tensor, target="cuda"):
    """CUDA: a kernel per stage, one thread per element."""
    stage = sch[tensor]
    if stage.attach_type == "root" and not stage.relations:
        _bind_flat(stage, list(stage.op.axis))
