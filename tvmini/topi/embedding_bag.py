"""PyTorch's ``embedding_bag``: per bag of indices, the sum, mean or maximum of the
weight rows they pick, as one forward kernel (a segmented reduction over the bags) and
one backward kernel (the bags' gradients added into the weight rows).

A batch of bags is the flat ``indices`` (N,) and ``offsets`` (B, or B + 1 with
``include_last_offset``): bag ``b`` is ``indices[offsets[b] : offsets[b + 1]]``, the last
one running to N (a 2-D input of fixed bags becomes offsets 0, n, 2n, ...). The forward
reduces over the positions of each bag, a reduce axis of ``length`` (the longest bag,
known on the host, or N) masked to the bag's own range, so its work is B * length * D,
not B * N * D. Entries equal to ``padding_idx`` are left out of their bag: they add
nothing, do not count towards a mean, and a bag of nothing else gives zeros (as an empty
bag does).

The backward needs no atomics and reads nothing on the host (the same code on every
target, inside a ``tm.jit`` step as eagerly): the positions that count are sorted by
their weight row and each row sums its run of them (``topi.segment_sum``), ``O(N log^2
N + N D log N + rows D)`` work, each position's bag found once by counting the offsets
at or before it (a materialized stage). Where the indices are read on the host (eager
CPU) the graph layer may group the positions by row there instead, and
:func:`embedding_bag_grad_sorted` reduces each row over its own group: rows * (largest
group) + N * D ("sum" and "mean"). "max" sends each (bag, feature) gradient to the row
that held the maximum (the forward's third output, as PyTorch's ``max_indices``), once
per bag however often the bag picks the row.
"""
from .. import te
from ..errors import ShapeError
from .schedule import MATERIALIZED
from .segment_sum import segment_rows

#: modes and their reductions over a bag
MODES = ("sum", "mean", "max")


def _bounds(offsets, n, b, last_offset):
    """(start, end) of bag ``b`` as int32 expressions."""
    start = offsets[b].astype("int32")
    if last_offset:
        return start, offsets[b + 1].astype("int32")
    bags = int(offsets.shape[0].value)
    after = te.if_then_else(b + 1 < bags, offsets[te.min(b + 1, bags - 1)].astype("int32"), te.const(n, "int32"))
    return start, after


def _row(indices, pos, rows):
    """The weight row index ``indices[pos]`` reads, clipped into the table (a CUDA index
    out of range reads the nearest row instead of outside the buffer)."""
    return te.min(te.max(indices[pos].astype("int32"), 0), rows - 1)


def _check(weight, indices, offsets, mode, op):
    if mode not in MODES:
        raise ShapeError(f"{op}: mode has to be one of {list(MODES)}, got {mode!r}")
    if weight.ndim != 2 or indices.ndim != 1 or offsets.ndim != 1:
        raise ShapeError(f"{op}: needs weight (num_embeddings, dim), 1-D indices and 1-D offsets, got "
                         f"{weight.shape}, {indices.shape}, {offsets.shape}")


def embedding_bag(weight, indices, offsets, *per_sample_weights, mode="mean", length=1, padding_idx=None,
                  last_offset=False):
    """[out (B, D), count (B,) int32 (the entries of each bag, padding left out), the
    row of each maximum (B, D) int32, -1 in an empty bag ("max" only)]. ``length``: a
    bound on every bag's length (the reduce extent); ``per_sample_weights`` (N,): each
    entry's weight ("sum" only)."""
    op = "embedding_bag"
    _check(weight, indices, offsets, mode, op)
    rows, dim = (int(d.value) for d in weight.shape)
    n = int(indices.shape[0].value)
    bags = int(offsets.shape[0].value) - (1 if last_offset else 0)
    psw = per_sample_weights[0] if per_sample_weights else None

    def entry(b, m):
        """(position, whether it is one of bag b's entries) of the bag's m-th entry."""
        start, end = _bounds(offsets, n, b, last_offset)
        pos = start + m
        inside = pos < end
        safe = te.min(pos, n - 1)
        if padding_idx is not None:
            inside = inside & (indices[safe].astype("int32") != padding_idx)
        return safe, inside

    m = te.reduce_axis((0, length), name="m")
    one, zero = te.const(1, "int32"), te.const(0, "int32")
    count = te.compute((bags,), lambda b: te.sum(te.if_then_else(entry(b, m)[1], one, zero), axis=m),
                       name="bag_count", tag=MATERIALIZED)

    def value(b, j, k):
        pos, _ = entry(b, k)
        v = weight[_row(indices, pos, rows), j]
        return v * psw[pos] if psw is not None else v
    k = te.reduce_axis((0, length), name="k")
    if mode == "max":
        top = te.compute((bags, dim), lambda b, j: te.max(value(b, j, k), axis=k, where=entry(b, k)[1]),
                         name="bag_max", tag=MATERIALIZED)
        out = te.compute((bags, dim), lambda b, j: te.if_then_else(count[b] > 0, top[b, j], te.const(0, weight.dtype)),
                         name="embedding_bag", tag="injective")
        q = te.reduce_axis((0, length), name="q")
        first = te.compute((bags, dim), lambda b, j: te.min(q, axis=q, where=entry(b, q)[1] &
                                                            (value(b, j, q) == top[b, j])),
                           name="bag_argmax", tag=MATERIALIZED)
        where = te.compute((bags, dim), lambda b, j: te.if_then_else(
            count[b] > 0, _row(indices, entry(b, te.min(first[b, j], length - 1))[0], rows), te.const(-1, "int32")),
            name="bag_max_rows", tag="injective")
        return [out, count, where]
    total = te.compute((bags, dim), lambda b, j: te.sum(value(b, j, k), axis=k, where=entry(b, k)[1]),
                       name="bag_sum", tag=MATERIALIZED)
    if mode == "sum":
        return [te.compute((bags, dim), lambda b, j: total[b, j], name="embedding_bag", tag="injective"), count]
    return [te.compute((bags, dim), lambda b, j: total[b, j] / te.max(count[b], one).astype(weight.dtype),
                       name="embedding_bag", tag="injective"), count]


def _bag_of(offsets, n, last_offset):
    """(N,) int32: the bag of each position, the number of offsets after the first
    (which is 0) at or before it; -1 past the last offset with ``last_offset``."""
    size = int(offsets.shape[0].value)
    later = size - 2 if last_offset else size - 1
    one, zero = te.const(1, "int32"), te.const(0, "int32")
    if later == 0:
        bag_of = te.compute((n,), lambda p: zero, name="bag_of", tag=MATERIALIZED)
    else:
        r = te.reduce_axis((0, later), name="o")
        bag_of = te.compute((n,), lambda p: te.sum(te.if_then_else(offsets[r + 1].astype("int32") <= p, one, zero),
                                                   axis=r), name="bag_of", tag=MATERIALIZED)
    if not last_offset:
        return bag_of
    end = offsets[size - 1].astype("int32")
    return te.compute((n,), lambda p: te.if_then_else(p < end, bag_of[p], te.const(-1, "int32")), name="bag_in",
                      tag=MATERIALIZED)


def _row_keys(indices, bag_of, rows, padding_idx, op):
    """(N,) int32 segment keys: each position's weight row, or ``rows`` (it counts
    nowhere) for padding and positions in no bag."""
    def key(p):
        live = bag_of[p] >= 0
        if padding_idx is not None:
            live = live & (indices[p].astype("int32") != padding_idx)
        return te.if_then_else(live, _row(indices, p, rows), te.const(rows, "int32"))
    return te.compute((int(indices.shape[0].value),), key, name=f"{op}.keys", tag=MATERIALIZED)


def embedding_bag_grad(grad, indices, offsets, count, *per_sample_weights, rows=1, mode="mean", padding_idx=None,
                       last_offset=False):
    """The weight's gradient (rows, D) of "sum" or "mean" :func:`embedding_bag` whose
    output received ``grad`` (B, D): row ``r`` sums, over the positions ``p`` with
    ``indices[p] == r`` (not ``padding_idx``, in a bag), ``grad[bag of p]`` times the
    entry's weight (``per_sample_weights[p]``, or 1 / the bag's count for "mean"), as a
    segment sum over the positions sorted by row (``topi.segment_sum``)."""
    op = "embedding_bag_grad"
    _check(grad, indices, offsets, mode, op)
    n = int(indices.shape[0].value)
    dim = int(grad.shape[1].value)
    psw = per_sample_weights[0] if per_sample_weights else None
    bag_of = _bag_of(offsets, n, last_offset)

    keys = _row_keys(indices, bag_of, rows, padding_idx, op)

    def contribution(p, j):
        b = te.max(bag_of[p], 0)
        if mode == "mean":
            scale = 1.0 / te.max(count[b], te.const(1, "int32")).astype(grad.dtype)
        else:
            scale = psw[p] if psw is not None else te.const(1, grad.dtype)
        return grad[b, j] * scale
    return segment_rows(keys, contribution, rows, dim, grad.dtype, name=op)


def embedding_bag_grad_sorted(grad, bag_of, order, row_start, count, *per_sample_weights, mode="mean", most=1):
    """:func:`embedding_bag_grad` given, from the host, where each row's entries are:
    ``order`` (the positions of the entries that count, grouped by row) and
    ``row_start`` (rows + 1,: row ``r``'s group is ``order[row_start[r] :
    row_start[r + 1]]``), ``bag_of`` (N,) each position's bag and ``most`` the largest
    group. Row ``r`` then reduces over its own group only (``most`` terms, masked): work
    rows * most + N * D instead of rows * N."""
    rows = int(row_start.shape[0].value) - 1
    dim = int(grad.shape[1].value)
    size = int(order.shape[0].value)
    psw = per_sample_weights[0] if per_sample_weights else None
    m = te.reduce_axis((0, most), name="m")

    def body(r, j):
        k = row_start[r] + m
        p = order[te.min(k, size - 1)]
        b = bag_of[p]
        if mode == "mean":
            scale = 1.0 / te.max(count[b], te.const(1, "int32")).astype(grad.dtype)
        else:
            scale = psw[p] if psw is not None else te.const(1, grad.dtype)
        return te.sum(grad[b, j] * scale, axis=m, where=k < row_start[r + 1])
    return te.compute((rows, dim), body, name="embedding_bag_grad", tag="reduce")


def embedding_bag_max_grad(grad, indices, offsets, max_rows, rows=1, padding_idx=None, last_offset=False):
    """The weight's gradient (rows, D) of "max" :func:`embedding_bag`: row ``r``, feature
    ``j`` sums ``grad[b, j]`` over the bags whose maximum of feature ``j`` it held, as a
    segment sum over the positions sorted by row (``topi.segment_sum``): a position
    whose row holds its bag's maximum of feature ``j`` sends it, once per (row, bag)."""
    n = int(indices.shape[0].value)
    dim = int(grad.shape[1].value)
    bag_of = _bag_of(offsets, n, last_offset)
    keys = _row_keys(indices, bag_of, rows, padding_idx, "embedding_bag_max_grad")

    def contribution(p, j):
        b = te.max(bag_of[p], 0)
        return te.if_then_else(max_rows[b, j] == keys[p], grad[b, j], te.const(0, grad.dtype))
    return segment_rows(keys, contribution, rows, dim, grad.dtype, once_per=lambda p: bag_of[p],
                        name="embedding_bag_max_grad")


def per_sample_weights_grad(grad, weight, indices, offsets, padding_idx=None, last_offset=False):
    """(N,): the gradient of each entry's weight in "sum" :func:`embedding_bag`, the dot
    product of its weight row with its bag's gradient (0 for padding and positions in no
    bag)."""
    n = int(indices.shape[0].value)
    rows = int(weight.shape[0].value)
    bag_of = _bag_of(offsets, n, last_offset)
    j = te.reduce_axis((0, int(weight.shape[1].value)), name="j")

    def body(p):
        live = bag_of[p] >= 0
        if padding_idx is not None:
            live = live & (indices[p].astype("int32") != padding_idx)
        return te.sum(weight[_row(indices, p, rows), j] * grad[te.max(bag_of[p], 0), j], axis=j, where=live)
    return te.compute((n,), body, name="per_sample_weights_grad", tag="reduce")
