"""A bitonic sorting network over the rows of a tensor, as a chain of te computes:
what ``topi.sort`` runs for rows past ``NETWORK_MIN`` elements.

Counting ranks (``topi.sort``'s short rows) costs ``O(n^2)`` comparisons per row;
a sorting network ``O(n log^2 n)``, and every one of its passes is an elementwise
compute, which te can express: the row is padded to ``m = 2^p`` elements and then
sorted by ``p (p + 1) / 2`` passes of compare-exchange. The pass of merge size
``size`` and stride ``s`` pairs element ``j`` with ``j ^ s``; the lower of the two
keeps the pair's first element in blocks sorted ascending (``j & size == 0``), the
upper one in the others, and the last merge (``size = m``) sorts every block
ascending. Each pass is one compute of two outputs, the keys and their codes (int32),
reading the previous pass's pair.

Exactness: the pairs (key, code) of :func:`network` are ordered exactly as
``sort.goes_before`` orders (value, index) pairs, a strict total order, so the
result is the one stable sort (ties by index, NaN greatest, a descending sort's equal
elements still in index order) whatever the input holds. The padding takes indices
``n .. m - 1`` and a value that sorts last among the row's (ascending: NaN or the
dtype's maximum; descending: -inf or the minimum), so with ties broken by index every
pad goes after every element of the row.

The partner index is written ``j + s - 2 s ((j // s) % 2)`` rather than ``j ^ s``:
once a schedule splits ``j`` into blocks of ``2 s`` and halves of ``s``
(``_split_pass``), the simplifier reduces it to an affine index in the inner loop, so
a stride of at least ``NARROW`` loads both halves as whole vectors. The CPU schedule
computes all passes inside the loop over rows of the stage that reads the network
(``sort.argsort``'s selection), so each row's passes run on a row held in L1/L2 and
rows run in parallel; the passes' buffers are then one row each. A single row runs
each pass over the whole row, in parallel. On CUDA every pass is a kernel.
"""
from .. import te
from ..codegen.llvm_target import vector_bits
from ..tir import dtype as dt
from ..tir import expr as E
from .schedule import register
from .schedule_cpu import PARALLEL_MIN
from .schedule_cuda import _bind_flat

__all__ = ["NETWORK_MIN", "PASS_TAG", "SELECT_TAG", "network", "original_index", "padded_extent"]

#: Rows of at least this many elements are sorted by the network; shorter ones by
#: counting (``sort.sort_rank``), one kernel of two reductions, as fast there: argsort
#: of 64 rows of float32 on one core (ms, counting / network): 64 elements 0.050 /
#: 0.051, 128: 0.22 / 0.12, 256: 0.78 / 0.29, 512: 3.0 / 0.67 (a row of 65 to 127
#: elements is padded to 128 for the network).
NETWORK_MIN = 100

#: Tag of the network's passes (their rule leaves them to the stage reading them).
PASS_TAG = "sort_pass"
#: Tag of the copy ending a run of passes inside blocks of a long row (see
#: :func:`network`); its CPU rule computes those passes inside its loop over blocks.
GROUP_TAG = "sort_blocks"
#: Elements of a block of a long row (the network holds longer rows as blocks).
BLOCK = 2048
#: Tag of a compute reading positions of the network's sorted rows (``attrs["axis"]``:
#: its sorted axis); its CPU rule schedules the passes inside its loop over rows.
SELECT_TAG = "sort_select"


def padded_extent(n):
    """The power of two the network sorts a row of ``n`` elements in."""
    return 1 << max(0, (n - 1).bit_length())


def _sentinel(dtype, descending):
    """A value that sorts after every value of ``dtype`` (ties aside)."""
    if dt.is_float(dtype):
        return E.const(float("-inf") if descending else float("nan"), dtype)
    return te.min_value(dtype) if descending else te.max_value(dtype)


def network(x, axis, descending, name="sort"):
    """``(keys, codes)`` of the rows of ``x`` along ``axis`` (a non-negative int,
    constant extent ``n``) sorted by the bitonic network: tensors of shape
    ``rows + (m,)`` (``rows``: ``x``'s other axes in order, ``m = padded_extent(n)``),
    or ``rows + (m // BLOCK, BLOCK)`` when ``m > BLOCK`` (see :func:`position`), int32
    codes; position ``p < n`` of a row holds the element of index
    ``original_index(code, m)``; positions ``n ..`` hold the padding.

    The pairs sorted are (key, code): a float's key is its value with NaN replaced by
    +inf and its code its index, plus ``m`` for a NaN (minus ``m`` descending), so that
    the plain order of the pairs, key then code, is ``sort.goes_before``'s (a NaN after
    +inf ascending, before it descending, NaNs in index order among themselves) with no
    NaN test in the passes. Other dtypes are their own keys, their codes the indices.

    A row longer than ``BLOCK`` is held as blocks of ``BLOCK``: a pass of stride
    ``s < BLOCK`` pairs elements inside a block, one of ``s >= BLOCK`` the elements at
    the same place in two blocks. Each run of passes inside blocks ends in a copy
    (``GROUP_TAG``) inside whose loop over blocks the CPU schedule computes them, a
    block at a time in cache (as a row's passes in a short row)."""
    n = x.shape[axis].value
    m = padded_extent(n)
    rows = [e for a, e in enumerate(x.shape) if a != axis]
    blocked = m > BLOCK
    shape = rows + ([m // BLOCK, BLOCK] if blocked else [m])
    pad = _sentinel(x.dtype, descending)
    is_float = dt.is_float(x.dtype)
    nrows = len(rows)

    def start(*i):
        j = i[-2] * BLOCK + i[-1] if blocked else i[-1]
        element = tuple(i[:axis]) + (te.min(j, n - 1),) + tuple(i[axis:nrows])
        value = te.if_then_else(j < n, x[element], pad)
        if not is_float:
            return value, j
        nan = value != value
        key = te.if_then_else(nan, E.const(float("inf"), x.dtype), value)
        return key, te.if_then_else(nan, j - m if descending else j + m, j)
    keys, codes = te.compute(shape, start, name=f"{name}.pad", tag=PASS_TAG, attrs={"stride": 0})
    size = 2
    while size <= m:
        s = size // 2
        while s >= 1:
            keys, codes = _pass(keys, codes, size, s, m, descending, name, blocked)
            if blocked and s == 1 and size >= BLOCK:       # the next pass (if any) pairs blocks
                keys, codes = te.compute(shape, _copy(keys, codes), name=f"{name}.blocks{size}", tag=GROUP_TAG)
            s //= 2
        size *= 2
    return keys, codes


def _copy(keys, codes):
    return lambda *i: (keys[i], codes[i])


def position(keys, row, p):
    """The index in ``keys`` (or codes) of position ``p`` of the sorted row ``row`` (a
    tuple of the other axes' indices)."""
    if len(keys.shape) == len(row) + 1:
        return tuple(row) + (p,)
    return tuple(row) + (p // BLOCK, p % BLOCK)


def original_index(code, m):
    """The index in its row of the element with ``code`` (see :func:`network`)."""
    return te.floormod(code, m)


def _pass(keys, codes, size, s, m, descending, name, blocked):
    """One compare-exchange pass of merge ``size`` and stride ``s``."""
    def body(*i):
        if not blocked:
            j = i[-1]
            half = (j // s) % 2
            partner = i[:-1] + (j + s - 2 * s * half,)
            direction = (j // size) % 2
        else:
            block, j = i[-2], i[-1]
            if s < BLOCK:
                half = (j // s) % 2
                partner = i[:-1] + (j + s - 2 * s * half,)
            else:
                sb = s // BLOCK
                half = (block // sb) % 2
                partner = i[:-2] + (block + sb - 2 * sb * half, j)
            direction = (j // size) % 2 if size < BLOCK else (block // (size // BLOCK)) % 2
        mine, theirs = keys[i], keys[partner]
        first = theirs > mine if descending else theirs < mine
        before = first | ((theirs == mine) & (codes[partner] < codes[i]))
        keep_first = half == 0 if size == m else half == direction
        take = before == keep_first
        return te.if_then_else(take, theirs, mine), te.if_then_else(take, codes[partner], codes[i])
    return te.compute(keys.shape, body, name=f"{name}.s{size}.{s}", tag=PASS_TAG,
                      attrs={"stride": s})


def _passes(tensor):
    """The run of the network's passes feeding ``tensor`` (a stage reading it) back to
    a copy of blocks or a pass pairing blocks (neither included)."""
    found, seen = [], set()
    stack = list(tensor.op.input_tensors)
    while stack:
        t = stack.pop()
        if t.op in seen or getattr(t.op, "tag", None) != PASS_TAG or t.op.attrs["stride"] >= BLOCK:
            continue
        seen.add(t.op)
        found.append(t.op)
        stack.extend(t.op.input_tensors)
    return found


#: Parallel chunks of a pass over a single long row whose stride has no vector split.
PARALLEL_CHUNKS = 16


def _lanes(op):
    """Vector lanes of the host for the widest value a pass carries."""
    return max(2, vector_bits() // max(dt.bits(t.dtype) for t in op.outputs))


#: Strides below this stay scalar loops: their pairs lie inside a vector, and the
#: gathers vectorizing them would take cost more than the scalar loop (argsort of
#: 64x1024 float32 on one core, ms: strides 1 and 2 gathered 4.6, scalar 2.4; strides
#: 4 and 8 as vectors of 4 and 8 lanes instead of scalar loops: 3.8 -> 2.4).
NARROW = 4


def _split_pass(stage, s, lanes):
    """Split the element loop of a pass of stride ``s`` into blocks of ``2 s``, halves
    and ``s`` elements (the partner load then affine), the elements vectorized, up to
    ``lanes`` at a time, when ``s`` is at least ``NARROW``; returns the loops outside
    the elements, outermost first."""
    j = stage.op.axis[-1]
    if s < NARROW:
        return [j]
    block, inner = stage.split(j, factor=2 * s)
    half, o = stage.split(inner, factor=s)
    _, lane = stage.split(o, factor=min(s, lanes))
    stage.vectorize(lane)
    return [block, half]


@register(SELECT_TAG)
def schedule_select(sch, tensor, target="llvm"):
    """CPU: the output's rows (its axes but the sorted one) fused into one loop,
    parallel when large, with every pass of the network computed inside it for one
    row (a row's passes then run in cache, and the passes' buffers are one row each).
    A single row instead runs each pass over the whole row, in parallel when large."""
    if str(target).split()[0] not in ("llvm", "cpu"):
        return
    stage = sch[tensor]
    axis = stage.op.attrs["axis"]
    rows = [iv for a, iv in enumerate(stage.op.axis) if a != axis]
    passes = _passes(tensor)
    if not passes:              # rows held as blocks: the copies' rule placed the passes
        if len(rows) and _count(rows) >= 4:
            stage.reorder(*rows, stage.op.axis[axis])
            stage.parallel(stage.fuse(*rows) if len(rows) > 1 else rows[0])
        return
    extent = passes[0].shape[-1].value
    count = 1
    for iv in rows:
        count *= iv.dom.extent.value
    work = count * extent * len(passes)      # elements computed, all passes together
    if count == 1:
        for op in passes:
            pstage = sch[op.output(0)]
            loops = _split_pass(pstage, op.attrs["stride"], _lanes(op))
            if extent * len(passes) >= PARALLEL_MIN:
                if len(loops) == 1:
                    loops = list(pstage.split(loops[0], nparts=PARALLEL_CHUNKS))
                pstage.parallel(loops[0] if op.attrs["stride"] * 2 < extent else loops[1])
        return
    stage.reorder(*rows, stage.op.axis[axis])
    row = stage.fuse(*rows) if len(rows) > 1 else rows[0]
    if work >= PARALLEL_MIN:
        stage.parallel(row)
    for op in passes:
        sch[op.output(0)].compute_at(stage, row)
        _split_pass(sch[op.output(0)], op.attrs["stride"], _lanes(op))


@register(GROUP_TAG)
def schedule_blocks(sch, tensor, target="llvm"):
    """CPU: the copy's rows and blocks fused into one loop, parallel when large, with
    the run of passes before it computed inside for one block each."""
    if str(target).split()[0] not in ("llvm", "cpu"):
        return
    stage = sch[tensor]
    if not _untouched(stage):
        return
    passes = _passes(tensor)
    outer = list(stage.op.axis[:-1])
    loop = outer[-1]            # the blocks (not fused with the rows: bounds stay simple)
    if BLOCK * len(passes) * _count(outer) >= PARALLEL_MIN:
        stage.parallel(next((iv for iv in outer if iv.dom.extent.value > 1), loop))
    for op in passes:
        sch[op.output(0)].compute_at(stage, loop)
        _split_pass(sch[op.output(0)], op.attrs["stride"], _lanes(op))


@register(PASS_TAG)
def schedule_pass(sch, tensor, target="llvm"):
    """CPU: a pass pairing the blocks of long rows (no rule has placed it): rows and
    blocks fused into one parallel loop, a block's elements vector lanes."""
    if str(target).split()[0] not in ("llvm", "cpu"):
        return
    stage = sch[tensor]
    if not _untouched(stage) or stage.op.attrs["stride"] < BLOCK:
        return
    outer = list(stage.op.axis[:-1])
    loop = stage.fuse(*outer) if len(outer) > 1 else outer[0]
    stage.parallel(loop)
    _, lane = stage.split(stage.op.axis[-1], factor=_lanes(stage.op))
    stage.vectorize(lane)


def _untouched(stage):
    return stage.attach_type == "root" and not stage.relations and not stage.iter_kinds


def _count(axes):
    """The product of the extents of ``axes``."""
    count = 1
    for iv in axes:
        count *= iv.dom.extent.value
    return count


@register(PASS_TAG, target="cuda")
def schedule_pass_cuda(sch, tensor, target="cuda"):
    """CUDA: every pass a kernel of its own, one thread per element (a pass reads the
    whole previous one, so none can be inlined into the next)."""
    stage = sch[tensor]
    if stage.attach_type == "root" and not stage.relations:
        _bind_flat(stage, list(stage.op.axis))
