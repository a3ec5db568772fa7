"""Default CPU schedules for the elementwise, broadcast, layout and reduction operators.

Registered per compute tag (see ``topi.schedule``):

* "elemwise" (every operand has the output's shape): fuse all axes into one contiguous
  loop, split off 8 float32 lanes and vectorize them when the extent allows it without a
  bounds guard, run the outer loop in parallel when the tensor is large;
* "broadcast" / "injective" (broadcast operands, layout transforms): fuse all axes but
  the last, which stays the contiguous inner loop (fusing it would put ``%``/``//`` in
  the broadcast operand's index and defeat vectorization), same split/parallel rule;
* "transpose": 2-D tiles so that reads and writes both touch whole cache lines;
* "reduce": by the input's memory order. When the input's innermost axis is reduced,
  the trailing reduce axes are fused, split by the SIMD width and ``rfactor``-ed so the
  partial sums run as vector lanes, computed inside the parallel loop over output rows;
  a reduction to few outputs is factored a second time over a parallel outer chunk.
  When the innermost axis is kept, the reduce loops go outside it so the inner loop
  accumulates whole vectors of outputs.

Elementwise/injective computes that are not outputs of the schedule are inlined into
their consumers. A rule leaves alone a stage some other rule already placed or split.
Parallel loops cost a few microseconds to launch, so small tensors stay serial.

The three injective rules are tunable (see ``topi.schedule``): knob ``lanes`` is the
vector width split off the inner loop (0: none; only widths dividing the loop's extent,
so there is never a bounds guard) and ``parallel`` whether the outer loop runs on
several cores; the heuristic is a host vector's lanes (``HOST_LANES``) and parallel
from ``PARALLEL_MIN`` elements.
"""
import math

from ..codegen.llvm_target import vector_bits
from ..codegen.parallel import thread_count
from ..tir import expr as E
from ..tir.functor import walk
from .schedule import MATERIALIZED, Knobs, kept, register
from ..te.tensor import ProducerLoad, Reduce
from .scan import LAST_TAG, WITHIN_TAG

LANES = 8                 # float32 lanes of an AVX2 vector
HOST_LANES = max(LANES, vector_bits() // 32)   # float32 lanes of the host's widest vector
VECTOR_WIDTHS = (4, 8, 16, 32)   # the tunable ``lanes`` candidates besides 0
PARALLEL_MIN = 1 << 16    # elements of work below which a parallel launch does not pay
ROW_TILE = (64, 32, 16, 8)
# Columns of a thread's partial column sums updated per row (``_rows_split_between_threads``):
# 256 float32 are 1 KB of each row read in one run, 16 zmm (or 32 spilled ymm)
# accumulators. 64-column tiles read 256 bytes of each 4 KB row per pass, a new page
# every row: 1024x1024 column sums, Zen 5, 2 threads, 63 -> 27 us (128: 40, 512: 25).
PARTIAL_ROW_TILE = (256, 128) + ROW_TILE
# Tile edges of a 2-D transpose, the first dividing both axes: a 64x64 tile reads and
# writes 256 contiguous bytes per row (1024x1024 float32, Zen 5, 2 threads: 32x32 tiles
# 0.19-0.27 ms, 64x64 0.15 ms; torch 0.50).
TRANSPOSE_TILES = (64, 32)
FULL_REDUCE_CHUNKS = 16   # parallel chunks of a reduction to a handful of outputs


def _const(extent):
    return extent.value if isinstance(extent, E.Const) else None


def _product(extents):
    """Product of constant extents, None when any is symbolic."""
    values = [_const(e) for e in extents]
    return None if None in values else math.prod(values)


def _untouched(stage):
    return stage.attach_type == "root" and not stage.relations and not stage.iter_kinds


def _large(work):
    return work is None or work >= PARALLEL_MIN


def _vector_split(stage, axis, extent, lanes=LANES):
    """Split ``lanes`` off ``axis`` and vectorize them when no bounds guard is needed."""
    if lanes and extent is not None and extent >= lanes and extent % lanes == 0:
        outer, inner = stage.split(axis, factor=lanes)
        stage.vectorize(inner)
        return outer
    return axis


def _cpu(target):
    return str(target).split()[0] in ("llvm", "cpu")


# ----------------------------------------------------------------------------- injective

def _vector_extent(stage, fuse_last):
    """Extent of the loop the injective rule vectorizes (None when symbolic)."""
    axes = list(stage.op.axis)
    if fuse_last or len(axes) == 1:
        return _product(stage.op.shape)
    return _const(axes[-1].dom.extent)


def _injective_knobs(sch, tensor, target, fuse_last):
    stage = sch[tensor]
    if not _cpu(target) or not _untouched(stage) or not kept(stage) or not stage.op.axis:
        return None
    extent = _vector_extent(stage, fuse_last)
    widths = [w for w in VECTOR_WIDTHS if extent is not None and extent >= w and extent % w == 0]
    default = _injective_default(stage, fuse_last)
    if default["lanes"] not in widths:
        default["lanes"] = 0          # what _vector_split does with a width that does not divide
    return Knobs(default, {"lanes": [0] + widths, "parallel": [False, True]})


def _injective_default(stage, fuse_last):
    """The heuristic: a full host vector of lanes (``HOST_LANES``) where it divides the
    vectorized loop, else ``LANES``; parallel from ``PARALLEL_MIN`` elements. On AVX-512
    (Zen 5, 1024x1024) 16 lanes against 8: tanh 315 -> 122 us, exp 243 -> 170 us,
    sigmoid 203 -> 145 us, log 184 -> 167 us; memory-bound ops unchanged."""
    extent = _vector_extent(stage, fuse_last)
    lanes = next((w for w in (HOST_LANES, LANES) if extent is not None and extent % w == 0), LANES)
    return {"lanes": lanes, "parallel": _large(_product(stage.op.shape))}


def _schedule_injective(sch, tensor, fuse_last, config=None):
    """Fuse the loops (all, or all but the last), vector lanes inside, parallel outside;
    ``config`` (lanes, parallel) defaults to the heuristic choice."""
    stage = sch[tensor]
    if not _untouched(stage):
        return
    if not kept(stage):
        stage.compute_inline()
        return
    axes = list(stage.op.axis)
    if not axes:
        return
    work = _product(stage.op.shape)
    config = config or _injective_default(stage, fuse_last)
    if fuse_last or len(axes) == 1:
        fused = stage.fuse(*axes)
        outer = _vector_split(stage, fused, work, config["lanes"])
    else:
        outer = stage.fuse(*axes[:-1])
        _vector_split(stage, axes[-1], _const(axes[-1].dom.extent), config["lanes"])
    if config["parallel"]:
        stage.parallel(outer)


def _elemwise_knobs(sch, tensor, target):
    return _injective_knobs(sch, tensor, target, fuse_last=True)


def _broadcast_knobs(sch, tensor, target):
    return _injective_knobs(sch, tensor, target, fuse_last=False)


@register("elemwise", knobs=_elemwise_knobs)
@register(MATERIALIZED, knobs=_elemwise_knobs)
def schedule_elemwise(sch, tensor, target="llvm", config=None):
    """All axes fused into one loop: a host vector of lanes inside, parallel outside when large."""
    if _cpu(target):
        _schedule_injective(sch, tensor, True, config)


@register("broadcast", knobs=_broadcast_knobs)
def schedule_broadcast(sch, tensor, target="llvm", config=None):
    """Outer axes fused and parallel when large; the last axis stays the vector loop."""
    if _cpu(target):
        _schedule_injective(sch, tensor, False, config)


@register("injective", knobs=_broadcast_knobs)
def schedule_injective(sch, tensor, target="llvm", config=None):
    """Layout transforms (reshape, slice, pad, concatenate, ...): as broadcast."""
    if _cpu(target):
        _schedule_injective(sch, tensor, False, config)


@register("transpose")
def schedule_transpose(sch, tensor, target="llvm"):
    """Tiles of the last two output axes, so each tile reads and writes whole lines."""
    if not _cpu(target):
        return
    stage = sch[tensor]
    axes = list(stage.op.axis)
    extents = [_const(iv.dom.extent) for iv in axes]
    tile = next((t for t in TRANSPOSE_TILES if all(e is not None and e % t == 0 for e in extents[-2:])), None)
    if len(axes) < 2 or not stage.is_output or not _untouched(stage) or tile is None:
        _schedule_injective(sch, tensor, fuse_last=False)
        return
    yo, xo, yi, xi = stage.tile(axes[-2], axes[-1], tile, tile)
    stage.vectorize(xi)
    outer = stage.fuse(*axes[:-2], yo) if len(axes) > 2 else yo
    if _large(_product(stage.op.shape)):
        stage.parallel(outer)


# ----------------------------------------------------------------------------- reductions

def _main_load(source):
    """The load with the most indices: the tensor being reduced."""
    loads = []
    walk(source, lambda n: loads.append(n) if isinstance(n, ProducerLoad) else None)
    return max(loads, key=lambda ld: len(ld.indices), default=None)


def _trailing_reduce_axes(stage, load):
    """Reduce axes indexing ``load``'s trailing dimensions directly, innermost last,
    provided they are consecutive leaves in that order (so they fuse into one axis
    with a linear index)."""
    by_var = {iv.var: iv for iv in stage.op.reduce_axis}
    run = []
    for index in reversed(load.indices):
        if index not in by_var or not isinstance(index, E.Var):
            break
        run.insert(0, by_var[index])
    leaves = stage.leaf_iter_vars
    while run:
        pos = [leaves.index(iv) for iv in run]
        if pos == list(range(pos[0], pos[0] + len(run))):
            return run
        run = run[1:]
    return run


def lane_factor(extent):
    """Vector lanes (16, 8 or 4) for a reduction of ``extent`` steps: at least two per lane, no remainder; or None."""
    for f in (2 * LANES, LANES, LANES // 2):
        if extent is not None and extent >= 2 * f and extent % f == 0:
            return f
    return None


@register("reduce")
def schedule_reduce(sch, tensor, target="llvm"):
    """Vector lanes on the input's contiguous axis, parallel over output rows."""
    if not _cpu(target):
        return
    stage = sch[tensor]
    if not _untouched(stage) or not stage.op.reduce_axis:
        return
    load = _main_load(stage.op.body.source)
    kept = [iv for iv in stage.op.axis if load is not None and load.indices and load.indices[-1] is iv.var]
    if kept and kept[0] in (stage.op.axis[0], stage.op.axis[-1]):     # the other output axes fuse
        if not _rows_split_between_threads(sch, tensor):
            _reduce_outer(stage, kept[0])
        return
    run = _trailing_reduce_axes(stage, load) if load is not None else []
    rows = _product(stage.op.shape)
    if not run:
        _parallel_rows(stage, rows, _product(iv.dom.extent for iv in stage.op.reduce_axis))
        return
    inner = stage.fuse(*run)
    extent = _product(iv.dom.extent for iv in run)
    reduced = _product(iv.dom.extent for iv in stage.op.reduce_axis)
    work = None if rows is None or reduced is None else rows * reduced
    lanes = lane_factor(extent)
    if lanes is None:
        _parallel_rows(stage, rows, work)
        return
    if rows is not None and rows < 4 and work >= PARALLEL_MIN:
        _reduce_few_rows(sch, stage, tensor, inner, extent, lanes)
        return
    pstage = vector_partials(sch, tensor, inner, lanes)
    if not stage.op.axis:
        return
    producers = _row_producers(sch, pstage, len(stage.op.axis))
    interleave = len(stage.op.axis) == 1 and interleaves(rows, stage, *(sch[t] for t in producers))
    row = interleave_rows(stage, stage.op.axis[0]) if interleave else stage.fuse(*stage.op.axis)
    if rows != 1 and _large(work):
        stage.parallel(row)
    pstage.compute_at(stage, row)
    block = interleave_rows(pstage, pstage.op.axis[0]) if interleave else pstage.op.axis[-2]
    for t in producers:
        _row_producer_inside(sch, sch[t], pstage, block, interleave)


# Rows whose reductions run interleaved when their combine is a long dependency chain.
INTERLEAVED_ROWS = 4


def interleaves(rows, *stages):
    """Whether reductions over ``rows`` rows, by ``stages``, run rows interleaved
    (``interleave_rows``): some stage combines slowly and the rows split evenly."""
    return (rows is not None and rows % INTERLEAVED_ROWS == 0 and rows >= 2 * INTERLEAVED_ROWS
            and any(slow_combine(stage) for stage in stages))


def slow_combine(stage):
    """Whether ``stage`` reduces floats by max or min: NaN-propagating, each step is
    a ``maxps`` and a blend on x86 (``FunctionBuilder._float_min_max``), so one row's
    chain of vector partials runs at a fraction of the load bandwidth (1024x1024 float32
    max over rows, Zen 5, measured with the compare-and-blend step: 87 us one row at a
    time, 49 interleaved)."""
    body = stage.op.body
    return isinstance(body, Reduce) and body.reducer.name in ("max", "min") and body.dtype.startswith("float")


def interleave_rows(stage, row):
    """Split ``INTERLEAVED_ROWS`` rows off data axis ``row`` and run them inside the reduce
    loops, unrolled (and outside any other data axis, the vector lanes): every reduction
    step then updates that many independent chains. Returns the outer row loop (of
    extent 1 in a stage already computed for that many rows). 1024x1024 float max over
    rows 158 -> 47 us, argmax 190 -> 67 us (Zen 5; numpy 140 and 65), where one chain
    per row left them latency-bound."""
    outer, inner = stage.split(row, factor=INTERLEAVED_ROWS)
    stage.reorder(outer, *stage.op.reduce_axis, inner, *[iv for iv in stage.op.axis if iv is not row])
    stage.unroll(inner)
    return outer


def _row_producers(sch, pstage, ndata):
    """The reductions over the same rows that only ``pstage`` (a vector-partials stage
    with ``ndata`` row axes) reads, one element per row, such as argmax's max (not a
    sort's ranks, which each output row reads whole: computed inside the row block,
    they would be computed again for every row)."""
    found = []
    for t in pstage.op.input_tensors:
        if getattr(t.op, "tag", None) != "reduce" or len(t.shape) != ndata or not _read_per_row(pstage, t):
            continue
        producer = sch[t]
        if not _untouched(producer) or [st for st in sch.stages if t in st.op.input_tensors] != [pstage]:
            continue
        run = _trailing_reduce_axes(producer, _main_load(producer.op.body.source))
        if len(run) == len(producer.op.reduce_axis) and producer.op.axis:
            found.append(t)
    return found


def _read_per_row(stage, tensor):
    """Whether ``stage`` reads ``tensor`` only at indices free of its reduce axes."""
    reduce_vars = {iv.var for iv in stage.op.reduce_axis}
    loads = []
    walk(stage.op.body, lambda n: loads.append(n) if isinstance(n, ProducerLoad) and n.tensor is tensor else None)
    used = []
    for load in loads:
        for index in load.indices:
            walk(index, lambda n: used.append(n) if isinstance(n, E.Var) else None)
    return not reduce_vars.intersection(used)


def _row_producer_inside(sch, producer, pstage, block, interleave):
    """Compute ``producer`` (see ``_row_producers``) inside ``pstage``'s row ``block``,
    with vector partials of its own (rows interleaved like ``pstage``'s when
    ``interleave``): the second pass then reads rows still in L1 instead of the whole
    input again (1024x1024 argmax: 0.27 -> 0.13 ms)."""
    run = _trailing_reduce_axes(producer, _main_load(producer.op.body.source))
    inner = producer.fuse(*run) if len(run) > 1 else run[0]
    lanes = lane_factor(_product(iv.dom.extent for iv in run))
    tensor = producer.op.output(0)
    partials = vector_partials(sch, tensor, inner, lanes) if lanes is not None else None
    producer.compute_at(pstage, block)
    if partials is None:
        return
    if interleave:
        partials.compute_at(producer, interleave_rows(producer, producer.op.axis[0]))
        interleave_rows(partials, partials.op.axis[0])
    else:
        partials.compute_at(producer, producer.op.axis[-1])


def vector_partials(sch, tensor, axis, lanes):
    """Split ``lanes`` off reduce ``axis`` of ``tensor`` and ``rfactor`` them: a stage
    accumulating ``lanes`` partial results as one vector per output (returned; its
    reduce loops outside the vectorized lanes), which ``tensor`` then combines."""
    _, lane = sch[tensor].split(axis, factor=lanes)
    partial = sch.rfactor(tensor, lane, factor_axis=len(sch[tensor].op.axis))
    pstage = sch[partial]
    data = list(pstage.op.axis)
    pstage.reorder(*data[:-1], *pstage.op.reduce_axis, data[-1])
    pstage.vectorize(data[-1])
    return pstage


def _parallel_rows(stage, rows, work):
    """No vector split possible: parallel over the fused output rows when worth it."""
    if stage.op.axis:
        row = stage.fuse(*stage.op.axis)
        if rows != 1 and _large(work):
            stage.parallel(row)


def _reduce_few_rows(sch, stage, tensor, inner, extent, lanes):
    """A reduction to a handful of outputs: chunks of the reduce axis run in parallel,
    each accumulating ``lanes`` partial sums; the chunks are combined afterwards. A slow
    combine (``slow_combine``) accumulates ``INTERLEAVED_ROWS`` vectors of partials, as
    many independent chains (max of 1024x1024 float32, Zen 5: 79-92 -> 32 us)."""
    if slow_combine(stage) and extent % (INTERLEAVED_ROWS * lanes) == 0 and extent >= 8 * INTERLEAVED_ROWS * lanes:
        lanes *= INTERLEAVED_ROWS
    rest, lane = stage.split(inner, factor=lanes)
    chunk, _ = stage.split(rest, nparts=FULL_REDUCE_CHUNKS)
    ndata = len(stage.op.axis)
    partial = sch.rfactor(tensor, lane, factor_axis=ndata)
    pstage = sch[partial]
    chunk_axis = next(iv for iv in pstage.op.reduce_axis if iv.name == chunk.name)
    chunked = sch.rfactor(partial, chunk_axis, factor_axis=0)
    cstage = sch[chunked]
    data = list(cstage.op.axis)       # chunk, output axes..., lane
    cstage.reorder(*data[:-1], *cstage.op.reduce_axis, data[-1])
    cstage.vectorize(data[-1])
    cstage.parallel(data[0])


def _rows_split_between_threads(sch, tensor):
    """Column sums of a tall matrix (a bias gradient: ``(batch, features) -> (features,)``)
    split by rows: thread t sums rows [t R/n, (t+1) R/n) into its own partial row
    (``rfactor``), column tiles of lanes inside, and the output adds the n partials.
    Split by columns instead, every thread reads a strip of every row, half of them
    from the other core's cache right after a kernel that split those rows between the
    threads (the batch-split weight gradient reading the same gradient rows). Applies
    to a 1-D output over one reduce axis of constant extent with at least 256 rows per
    thread and enough work for a parallel launch, when the host runs two or more
    threads; returns whether it did. In the OVERFIT jit step (2-core Xeon) its bias
    gradients' sums of 1024x256 and 1024x64 went 22-24 -> 16 and 10 -> 6 us."""
    stage = sch[tensor]
    threads = thread_count()
    (rows,) = stage.op.reduce_axis if len(stage.op.reduce_axis) == 1 else (None,)
    extent = None if rows is None else _const(rows.dom.extent)
    columns = _const(stage.op.axis[0].dom.extent) if len(stage.op.axis) == 1 else None
    if (threads < 2 or extent is None or columns is None or extent % threads or extent // threads < 256
            or not _large(extent * columns)):
        return False
    part, _ = stage.split(rows, nparts=threads)
    partial = sch[sch.rfactor(tensor, part, factor_axis=0)]
    thread, column = partial.op.axis
    (row,) = partial.op.reduce_axis
    tile = next((t for t in PARTIAL_ROW_TILE if columns % t == 0), None)
    if tile is None:
        partial.reorder(thread, row, column)
    else:
        block, column = partial.split(column, factor=tile)
        partial.reorder(thread, block, row, column)
        partial.vectorize(column)
    partial.parallel(thread)
    final = sch[tensor]
    (part,) = final.op.reduce_axis
    (column,) = final.op.axis
    if tile is None:
        final.reorder(part, column)
    else:
        block, lane = final.split(column, factor=tile)
        final.reorder(block, part, lane)
        final.vectorize(lane)
    return True


def _reduce_outer(stage, last):
    """The input's innermost axis (output axis ``last``, the last one) is kept: reduce
    loops outside it, lanes of outputs inside; parallel over the outer output axes, or
    over blocks of the last one when the outer ones are few."""
    axes = list(stage.op.axis)
    outer_axes = [iv for iv in axes if iv is not last]
    extent = _const(last.dom.extent)
    tile = next((t for t in ROW_TILE if extent is not None and extent >= 2 * t and extent % t == 0), None)
    work = _product(list(stage.op.shape) + [iv.dom.extent for iv in stage.op.reduce_axis])
    reduce_axes = list(stage.op.reduce_axis)
    outer = stage.fuse(*outer_axes) if outer_axes else None
    if tile is not None:
        block, lane = stage.split(last, factor=tile)
        stage.reorder(*([outer] if outer is not None else []), block, *reduce_axes, lane)
        stage.vectorize(lane)
    else:
        block = None
        stage.reorder(*([outer] if outer is not None else []), *reduce_axes, last)
    if not _large(work):
        return
    outer_rows = _product(iv.dom.extent for iv in outer_axes) if outer_axes else 1
    if outer is not None and (outer_rows is None or outer_rows >= 4):
        stage.parallel(outer)
    elif block is not None:
        if outer is not None:
            stage.reorder(block, outer)
        stage.parallel(block)


# ----------------------------------------------------------------------------- scans

def _scan_stages(tensor):
    """The computes of a blocked scan feeding its output ``tensor``: every producer
    reached through computes (the placeholders and other kernels' outputs excluded)
    whose name starts with the scan's."""
    prefix = tensor.op.name
    found, seen, stack = [], set(), list(tensor.op.input_tensors)
    while stack:
        t = stack.pop()
        if t.op in seen or not hasattr(t.op, "axis") or not t.op.name.startswith(prefix + "."):
            continue
        seen.add(t.op)
        found.append(t.op)
        stack.extend(t.op.input_tensors)
    return found


def _block_lanes(stage, block):
    """The innermost axis split into blocks of ``block``, the block's elements as
    vector lanes; returns the block loop and the lanes."""
    outer, lane = stage.split(stage.op.axis[-1], factor=block)
    stage.vectorize(lane)
    return outer, lane


@register(LAST_TAG)
def schedule_scan_last(sch, tensor, target="llvm"):
    """A blocked scan along the innermost axis (``topi.scan``): one parallel loop over
    the rows, each row's stages computed inside it (a row of block totals, carries and
    in-block scans in L1). The in-block scans run a block's elements as vector lanes
    (the reduce loop outside them: each step adds one input element, broadcast, to
    the lanes at or after it), and so does the output's add of the carry; 1024x1024
    float32 cumsum along rows, 2 cores: 2.2 ms as scalar loops over all rows per stage."""
    if not _cpu(target):
        return
    stage = sch[tensor]
    if not _untouched(stage):
        return
    block = stage.op.attrs["block"]
    rows = list(stage.op.axis[:-1])
    row = stage.fuse(*rows) if len(rows) > 1 else (rows[0] if rows else None)
    if row is not None and _large(_product(stage.op.shape) * block):      # ~ block steps per element
        stage.parallel(row)
    if _const(stage.op.axis[-1].dom.extent) % block == 0:
        _block_lanes(stage, block)
    for op in _scan_stages(tensor):
        inner = sch[op.output(0)]
        if not _untouched(inner):
            continue
        if row is not None:
            inner.compute_at(stage, row)
        if op.tag in (WITHIN_TAG, LAST_TAG, "injective") and _const(op.axis[-1].dom.extent) % block == 0:
            outer, lane = _block_lanes(inner, block)
            if op.tag == WITHIN_TAG:
                inner.reorder(outer, *inner.op.reduce_axis, lane)
