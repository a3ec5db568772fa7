"""Default CPU schedules for the computes of ``nn`` (by tag): GEMM, row-wise kernels and
batch norm; convolutions and pooling are ``schedule_conv``'s.

Rules receive the tensor their tag marks and schedule it (and the helper stages only it
reads) inside a schedule that may hold other outputs too. Parallel loops cost a thread
pool launch (a few microseconds), so tiny problems stay serial.

The "gemm" rule is tunable (``gemm_knobs``, like the convolutions'; see
``topi.schedule``): its block sizes, loop order and parallelism are knobs whose
heuristic values are the defaults, and ``tvmini.autotune`` measures the others.
"""
from ..codegen.llvm_target import cache_bytes, fast_masked_vectors, vector_registers
from ..errors import ScheduleError
from ..te.tensor import ProducerLoad
from ..tir.expr import Const
from ..tir.functor import free_vars, walk
from ..tir.dtype import bits
from .epilogue import attach_sibling_outputs, sibling_outputs
from .nn import GEMM_ROW_BLOCKS
from .schedule import Knobs, gemm_axes, register
from .schedule_cpu import HOST_LANES, interleave_rows, interleaves, lane_factor, schedule_reduce, vector_partials

# Below this many multiply-adds (or elements for the row-wise kernels) a kernel runs
# on one core: a thread pool launch would cost more than the work.
PARALLEL_MIN_WORK = 1 << 15

# A matrix product runs on one core below this many multiply-adds: its two launches (the
# packing and the tiles) and the cores' exchange of the output's cache lines cost more
# than half the work. Measured (2-core Xeon, AVX-512, parallel vs serial): 128x128x10
# 7.8 vs 3.1 us, 10x128x128 (A transposed) 10.1 vs 4.6, 128x128x64 14.4 vs 11.6,
# 64x128x128 15.3 vs 13.0, 1024x64x2 21.7 vs 9.2; 128x128x128 21.0 vs 23.5 and
# 128x128x256 24.6 vs 55.6 pay. (Two skinny products pay below it, 1024x2x64 8.7 vs
# 12.9 and 2x64x1024 3.9 vs 5.5 us; a count of multiply-adds cannot tell them.)
GEMM_PARALLEL_MIN_WORK = 3 << 19

# One core's L1 data and L2 caches (read from the host).
L1_BYTES = cache_bytes(1, default=32 * 1024)
L2_BYTES = cache_bytes(2, default=512 * 1024)


def _int(e):
    return e.value if isinstance(e, Const) else None


def _producer(tensor, tag):
    """The input of ``tensor``'s compute carrying ``tag``; a ScheduleError when it has
    none (a definition cut between the two stages, as the jit's batch lanes try)."""
    found = [t for t in tensor.op.input_tensors if getattr(t.op, "tag", None) == tag]
    if not found:
        raise ScheduleError(f"{tensor.op.name}: no input stage tagged {tag!r} to schedule it with")
    return found[0]


def _work(*extents):
    """Product of the constant extents (a symbolic one counts as large)."""
    total = 1
    for e in extents:
        value = _int(e)
        total *= value if value is not None else PARALLEL_MIN_WORK
    return total


def _row_block(rows, column_blocks):
    """Rows of C per micro-kernel. With several column blocks: 6 with 16 vector
    registers — a two-vector column block makes 12 accumulators of AVX2's 16, the classic
    micro-kernel shape — and 8 (16 accumulators) with AVX-512's 32. Measured on the
    training steps' products (and 512^3, 1024^3): on AVX2, 6 rows were the fastest or
    within 4% of it even where 6 does not divide the rows (the last block is partial),
    and 4 rows up to 1.4x slower; on AVX-512, 8 rows 0-5% faster than 6 (17% on
    256x1024x64 with A transposed). With a single column block (a narrow product such as
    a classifier head) a divisor of ``rows`` near 4 with 16 registers (4 rows measured
    1.1-1.6x faster than 6 on AVX2) or near 8 with 32 (AVX-512: 1.2-1.6x faster than 4
    on the OVERFIT and MNIST heads, 1024x64 -> 2 and 128x128 -> 10, and their weight
    gradients), so there is no partial block."""
    wide = 8 if vector_registers() >= 32 else 6
    near = (8, 6, 4, 3, 2, 5) if wide == 8 else (4, 6, 3, 2, 5)
    if column_blocks != 1:
        return wide if rows is None or rows >= wide else rows
    if rows is None:
        return near[0]
    for block in near:
        if rows % block == 0:
            return block
    return near[0] if rows > near[0] else rows


def _parallel_outer(stage, axes, work):
    """Fuse ``axes`` (outermost loops, in order) into one loop, parallel when worth it."""
    fused = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    if work >= PARALLEL_MIN_WORK:
        stage.parallel(fused)
    return fused


def _gemm_parts(out):
    """(accumulate, packed B, packed block width, rows, K) of a GEMM output."""
    acc = _producer(out, "gemm_accum")
    packed = _producer(acc, "gemm_pack")
    return acc, packed, _int(packed.shape[-1]), out.shape[acc.ndim - 2], packed.shape[-2]


def gemm_knobs(sch, out, target):
    """``mi`` rows per micro-kernel, ``bn`` columns per tile (one or two packed blocks of
    B), ``order`` of the accumulation loops ("kij": k outside the register tile, "ikj":
    one row at a time), ``tiles`` order ("ij": row blocks outside, each reused by every
    column block; "ji", the default: column blocks outside, each K x bn panel of packed
    B reused from cache by every row block; "jki": column blocks outside, each one's
    column of tiles accumulated k block by k block, see :func:`_k_block`; "ij" only when
    a fused update is computed by row blocks, :func:`_update_by_rows`), ``parallel``
    tile loop."""
    acc, packed, block, rows, K = _gemm_parts(out)
    rows, blocks, K = _int(rows), _int(packed.shape[-3]), _int(K)
    by_rows = _update_by_rows(sch, out, acc, block)
    tile_orders = ["ij"] if by_rows else ["ij", "ji"] + (["jki"] if _k_block(K) and blocks != 1 else [])
    by_k_blocks = "jki" in tile_orders and (
        (K >= 512 and (blocks is None or blocks * block >= 64) and _strided_along_k(acc, packed))
        or (_panel_spills_l1(rows, K, block, out.dtype) and not sibling_outputs(sch, out)))
    tiles = "jki" if by_k_blocks else "ij" if by_rows or _update_streams_rows(sch, out) else "ji"
    default = {"mi": _row_block(rows, blocks), "bn": block, "order": "kij", "tiles": tiles,
               "parallel": _work(*out.shape, packed.shape[-2]) >= GEMM_PARALLEL_MIN_WORK}
    row_blocks = sorted({m for m in GEMM_ROW_BLOCKS if rows is None or m <= rows} | {default["mi"]})
    widths = [block, 2 * block] if blocks is None or blocks > 1 else [block]
    return Knobs(default, {"mi": row_blocks, "bn": widths, "order": ["kij", "ikj"], "tiles": tile_orders,
                           "parallel": [False, True]})


#: An update-fused weight gradient from this size on takes row blocks outside: see
#: :func:`_update_streams_rows`.
UPDATE_ROWS_MIN_BYTES = 128 << 10


def _update_streams_rows(sch, out):
    """Whether ``out`` carries sibling outputs (an optimizer update fused into a weight
    gradient) and has at least ``UPDATE_ROWS_MIN_BYTES``, so that row blocks outside
    ("ij") pay. The parallel tile loop then gives each thread whole rows of the
    weight, which is how the next step's forward product (``x @ W^T``) divides the
    weight between threads when it packs it: each core packs rows it updated itself,
    from its own cache, where column blocks outside ("ji") leave every row half
    written by the other core. The update also reads and writes the parameter, its
    state and the gradient along rows, in streams the hardware prefetches. Measured
    on whole jit steps (2-core Xeon, 2 MB L2 per core, A/B in one process): the MNIST
    MLP (batch 128, SGD with momentum) 0.576 -> 0.560 ms, nearly all of it from the
    first layer's 256x784 gradient (800 KB; with the 128 KB second layer's too, within
    1%); the OVERFIT MLPs' and LeNet's, whose weights have 120 KB at most, 1-1.5%
    slower in "ij" order, so they keep "ji". An output that takes the "jki" order keeps
    it (the OVERFIT Adam updates lose 8-11% otherwise)."""
    size = _work(*out.shape) * bits(out.dtype) // 8
    return size >= UPDATE_ROWS_MIN_BYTES and bool(sibling_outputs(sch, out))


def _k_block(K):
    """Reduction steps per k block of the "jki" tile order: the largest divisor of ``K``
    from 128 down to 64, when K holds at least two such blocks; else None.

    Accumulating a column of tiles k block by k block keeps the block's lines of A (at
    most 128 per micro-kernel) in cache for the next row block. A whole-K sweep evicts
    them when A is read across its rows (a transposed A, as in a weight gradient
    g.T @ x) with a power-of-two row stride: every k step then touches a new line of the
    same few cache sets. Measured (2 cores, A/B in one process): 256x64x1024 with A
    transposed 362 -> 271 us, 512^3 transposed 2230 -> 2077 us; products reading A
    along its rows lose 5-15%, so only those reading across rows (with at least 64
    columns, K >= 512) get it by default; on AVX-512 (32-column blocks) 4-15% faster
    than "ji" on 256x64x1024, 64x256x1024 and 256x128x1024 transposed."""
    if K is None:
        return None
    block = next((b for b in range(128, 63, -1) if K % b == 0), None)
    return block if block and K >= 2 * block else None


def _panel_spills_l1(rows, K, block, dtype):
    """Whether a ``K x block`` panel of packed B no longer fits in a core's L1 cache
    while A (``rows x K``) fits in a quarter of its L2, so that the "jki" order pays for
    a product reading A along its rows: every row block then reads its panel from L2
    in "ji" order, where "jki" keeps one k block of it in L1 for all row blocks, and A's
    short k-block rows still come from L2. Measured (2-core Xeon, 48 KB L1, 2 MB L2,
    ``x @ W^T`` isolated, jki/ji): 128x256x784 0.94, 128x256x512 0.93, 128x512x1024
    0.90 (the MNIST MLP's first layer: whole jit step 0.540 -> 0.534 ms); with A
    larger than that 256x64x1024 0.99, 512^3 0.99, 1024x256x512 1.05, 1024^3 1.34;
    with the panel in L1, 128x128x256 1.00 and 1024x64x256 1.21."""
    if rows is None or K is None:
        return False
    size = bits(dtype) // 8
    return K * block * size > L1_BYTES and rows * K * size <= L2_BYTES // 4


def _strided_along_k(acc, packed):
    """Whether the accumulation reads its A operand across rows: the innermost index of
    a load other than packed B does not move with the reduction variable."""
    (k,) = acc.op.reduce_axis
    loads = []
    walk(acc.op.body, lambda e: loads.append(e) if isinstance(e, ProducerLoad) and e.tensor is not packed else None)
    return any(k.var not in free_vars(load.indices[-1]) for load in loads)


def _update_by_rows(sch, out, acc, bn):
    """Whether the sibling outputs of product ``out`` (an optimizer update fused into
    a weight gradient) are computed row block by row block, after all the column tiles
    of the block, rather than tile by tile: when its ``bn``-column tiles are not boxes
    of its output's column axes.

    The update of a block is computed with the product (``compute_with``) over a box of
    its domain. A product with several column axes (a convolution's weight gradient,
    columns (C, KH, KW) in row-major order) has tiles of ``bn`` columns that start and
    end inside a kernel's taps, which are no box: the lowering refuses that attach (it
    would update some weights twice and read gradients not computed yet), while a row
    block of whole rows is one. Row blocks outside are what the "ij" tile order does
    anyway, the default for the large updates (:func:`_update_streams_rows`)."""
    column_axes = len(out.shape) - (acc.ndim - 1)
    if column_axes < 2 or not sibling_outputs(sch, out):
        return False
    shape = [_int(d) for d in out.shape[-column_axes:]]
    return None in shape or not _blocks_are_boxes(shape, bn)


def _blocks_are_boxes(shape, width):
    """Whether the blocks of ``width`` consecutive row-major positions of ``shape`` that
    start at multiples of ``width`` are boxes (the last one cut by the end of the
    outermost axis counts): ``width`` is ``t`` times the product of the axes past some
    axis ``d``, with ``t`` dividing ``shape[d]`` or ``d`` the outermost axis."""
    inner = 1
    for d in reversed(range(len(shape))):
        if width % inner == 0 and (d == 0 or shape[d] % (width // inner) == 0):
            return True
        inner *= shape[d]
        if inner > width:
            return False
    return False


@register("gemm", knobs=gemm_knobs)
def schedule_gemm(sch, out, target, config):
    """Register-blocked GEMM: per (row block, column block) tile of the output, a local
    ``mi x bn`` accumulator over k (rows unrolled, columns vectorized) reads packed B
    contiguously; the tile loop (in ``tiles`` order) is parallel; the output stage crops
    padding (+ bias, + a fused epilogue); sibling outputs (an optimizer update reading the
    product) are computed with each tile (with each row block after all its tiles where
    tiles are no boxes of the output: :func:`_update_by_rows`). With tiles "jki" the parallel loop runs over
    column blocks, each accumulating its ``rows x bn`` panel k block by k block, row
    block by row block, before its tiles are stored; each k block of packed B is packed
    by the thread that uses it right before its row blocks read it (from L1, and with no
    separate parallel pass over all of B: 4-16% faster on the OVERFIT weight gradients,
    64x256x1024 and 256x64x1024 with A transposed)."""
    acc, packed, block, rows, K = _gemm_parts(out)
    mi, bn = config["mi"], config["bn"]
    by_rows = _update_by_rows(sch, out, acc, bn)
    by_k_blocks = config["tiles"] == "jki" and not by_rows
    s_out = sch[out]
    batch_axes, row_axis, column_axis, columns = gemm_axes(s_out, acc)
    io, ii = s_out.split(row_axis, factor=mi)
    jo, ji = s_out.split(column_axis, factor=bn)
    if by_rows:
        # each row block's tiles, then its update (a box of the weight: whole rows)
        s_out.reorder(*batch_axes, io, jo, ii, ji)
        tile = s_out.fuse(*batch_axes, io)
        block_loop, update_loop = jo, tile
    else:
        tiles = (io, jo) if config["tiles"] == "ij" else (jo, io)
        s_out.reorder(*batch_axes, *tiles, ii, ji)
        tile = s_out.fuse(*batch_axes, jo) if by_k_blocks else s_out.fuse(*batch_axes, *tiles)
        block_loop, update_loop = tile, io if by_k_blocks else tile
    if config["parallel"]:
        s_out.parallel(tile)
    columns = _int(columns)
    # A partial last column block (784 = 24.5 x 32) guards the crop's and the updates'
    # column loop: vector code with a lane mask where masks are native (AVX-512: the
    # MNIST MLP's 256x784 gradient with its SGD update 0.67 -> 0.20 ms), else scalar.
    whole_blocks = bn if columns is not None and (columns % bn == 0 or fast_masked_vectors()) else None
    _vectorize(s_out, ji, whole_blocks, out.dtype)
    update_columns = columns if by_rows else bn      # columns of the update's block
    whole_updates = update_columns if columns is not None and (
        columns % update_columns == 0 or fast_masked_vectors()) else None
    column_axes = len(out.shape) - (acc.ndim - 1)

    def vectorize_update(stage, axis):
        # an output with several column axes (a convolution's weight): its update's
        # columns as one loop, the contiguous run of the block
        if column_axes > 1:
            axis = stage.fuse(*stage.op.axis[-column_axes:])
        _vectorize(stage, axis, whole_updates, out.dtype)
    attach_sibling_outputs(sch, out, update_loop, vectorize_update)

    s_acc = sch[acc]
    s_acc.scope = "local"
    s_acc.compute_at(s_out, block_loop)
    *outer, i, j = s_acc.op.axis
    (k,) = s_acc.op.reduce_axis
    if by_k_blocks:
        ko, k = s_acc.split(k, factor=_k_block(_int(K)))
        i_blocks, i = s_acc.split(i, factor=mi)
        outer += [ko, i_blocks]
    jb, jl = s_acc.split(j, factor=block)
    s_acc.reorder(*outer, *((k, i) if config["order"] == "kij" else (i, k)), jb, jl)
    s_acc.unroll(i)
    s_acc.unroll(jb)
    _vectorize(s_acc, jl, block, out.dtype)

    s_pack = sch[packed]
    *pack_outer, pk, pj = s_pack.op.axis
    if by_k_blocks:
        s_pack.compute_at(s_acc, ko)
    else:
        # packed by the same team as the tiles (a serial product packs serially too)
        _parallel_outer(s_pack, pack_outer, _work(*packed.shape) if config["parallel"] else 0)
    _vectorize(s_pack, pj, block, out.dtype)


@register("gemm_operand")
def schedule_gemm_operand(sch, out, target):
    """An operand of a product read through a view of its own shape (a pointwise
    convolution's output gradient as a matrix, ``conv_product._product_grad_weight``):
    inlined, so the product reads the tensor itself."""
    sch[out].compute_inline()


@register("gemm_parts")
def schedule_gemm_parts(sch, out, target):
    """The sum of a split product's parts (``nn.matmul(..., parts=n)``): rows parallel,
    columns vectorized, sibling outputs (an optimizer update) computed row by row with
    it. The parts themselves are a batched GEMM (the "gemm" rule) whose tile loop is
    fused with the part index and split statically, so thread t computes part t."""
    s_out = sch[out]
    *outer, columns = s_out.op.axis
    _vectorize(s_out, columns, columns.dom.extent, out.dtype)
    row = s_out.fuse(*outer) if len(outer) > 1 else outer[0]
    s_out.parallel(row)
    attach_sibling_outputs(sch, out, row, lambda stage, axis: _vectorize(stage, axis, axis.dom.extent, out.dtype))


def _vectorize(stage, axis, extent, dtype):
    """Vectorize ``axis`` when its ``extent`` is a whole number of SIMD vectors (32 bytes).

    A partial vector becomes a masked tail in the vector code generator, which measured
    10-20x slower than LLVM's own handling of a plain loop for the conv/GEMM tiles here.
    """
    extent = _int(extent) if extent is not None and not isinstance(extent, int) else extent
    lanes = 8 if dtype == "float32" else 4
    if extent is not None and extent % lanes == 0:
        stage.vectorize(axis)


def _left_to_reader(stage):
    """Whether ``stage`` is left to a stage that reads it: already computed inside one,
    or, not being an output, inlined into its readers now."""
    if stage.attach_type != "root":
        return True
    if not stage.is_output:
        stage.compute_inline()
        return True
    return False


def _readers(sch, tensor):
    """Stages of ``sch`` that read ``tensor``."""
    return [st for st in sch.stages if tensor in st.op.input_tensors]


def _rows_then_lanes(stage, work):
    """Fuse all loops but the innermost into one (parallel when worth it) and vectorize
    the innermost when its extent is constant. Returns the fused outer loop or None."""
    axes = list(stage.op.axis)
    if not axes:
        return None
    *outer, inner = axes
    _vectorize(stage, inner, inner.dom.extent, stage.op.dtype)
    if not outer:
        return None
    return _parallel_outer(stage, outer, work)


def _attach_row_stages(sch, out, row_loop):
    """Compute inside ``out``'s row loop each per-row stage that only stages computed
    there read: row reductions and a softmax's exponentials (vectorized), so a row is
    read from L1 by all of them. A row reduction over a row long enough for vector lanes
    (``lane_factor``) accumulates vector partials first (a softmax's max and sum of
    exp(x - max) over 1024 columns: 4.0 -> 1.0 ms for 1024 rows), combined once per row."""
    if row_loop is None:
        return
    inside, attached = [sch[out]], True     # stages (an rfactor replaces their ops)
    while attached:
        attached = False
        for t in [t for stage in inside for t in stage.op.input_tensors]:
            tag = getattr(t.op, "tag", None)
            if tag not in ("row_reduce", "softmax") or sch[t] in inside or not sch[t].op.axis \
                    or any(r not in inside for r in _readers(sch, t)) or _interleaved_alone(sch, t):
                continue
            inside.append(sch[t])
            attached = True
            sch[t].compute_at(sch[out], row_loop)
            if tag == "softmax":
                _vectorize(sch[t], sch[t].op.axis[-1], sch[t].op.axis[-1].dom.extent, t.dtype)
                continue
            partials = _row_partials(sch, t)
            if partials is not None:
                partials.compute_at(sch[t], sch[t].op.axis[-1])
                inside.append(partials)


def _interleaved_alone(sch, t):
    """Whether row reduction ``t`` runs faster as a pass of its own, rows interleaved
    (``interleaves``), than row by row inside its reader: a max over 1024x1024 (softmax
    0.42 -> 0.34 ms, log_softmax 0.36 -> 0.28 ms on Zen 5)."""
    rows = _int(t.op.axis[0].dom.extent) if len(t.op.axis) == 1 else None
    return t.op.tag == "row_reduce" and interleaves(rows, sch[t])


@register("softmax")
def schedule_softmax(sch, out, target):
    """Row-wise kernels shaped like their input: rows parallel, the innermost axis
    vectorized, per-row stages computed inside the row loop when only stages there read
    them (:func:`_attach_row_stages`; a softmax's exponentials then once per element,
    1024x1024 0.43 -> 0.23 ms on Zen 5, torch 0.33; the cross-entropy gradient 0.49 ->
    0.21 ms); over short rows of a matrix (see :func:`_short_rows`) rows are vector
    lanes. One that is neither an output nor computed per row by its reader (a
    softmax's exponentials) is inlined."""
    if _left_to_reader(sch[out]):
        return
    if len(out.shape) == 2 and _short_rows(out):
        _rows_as_lanes(sch[out], sch[out].op.axis[0], _work(*out.shape))
        return
    rows = _rows_then_lanes(sch[out], _work(*out.shape))
    _attach_row_stages(sch, out, rows)


@register("row_loss")
def schedule_row_loss(sch, out, target):
    """Per-sample losses (N,): samples parallel, their row reductions computed per
    sample; over short rows (see :func:`_short_rows`) samples are vector lanes, each
    row reduction a pass of its own with rows as lanes too."""
    stage = sch[out]
    (n,) = stage.op.axis
    in_shape = next((t.shape for t in out.op.input_tensors if t.ndim == 2), out.shape)
    if _short_rows(out):
        _rows_as_lanes(stage, n, _work(*in_shape))
        return
    if _work(*in_shape) >= PARALLEL_MIN_WORK:
        stage.parallel(n)
    _attach_row_stages(sch, out, n)


def _short_rows(t):
    """Whether the row reductions ``t`` reads (tag ``row_reduce``, one reduce axis) have
    rows too short for vector partials (``lane_factor``: a classifier's 2 or 10 logits)
    and enough of them (at least two vectors' worth) to run rows as vector lanes
    instead. Only where gathers, scatters and masks are native (AVX-512): a row's
    elements are ``C`` apart, and the measurements are from there."""
    if not fast_masked_vectors():
        return False
    reductions = [r for r in t.op.input_tensors if getattr(r.op, "tag", None) == "row_reduce"]
    if not reductions or any(len(r.op.reduce_axis) != 1 or len(r.op.axis) != 1 for r in reductions):
        return False
    columns, rows = _int(reductions[0].op.reduce_axis[0].dom.extent), _int(reductions[0].op.axis[0].dom.extent)
    return columns is not None and rows is not None and lane_factor(columns) is None and rows >= 2 * HOST_LANES


def _rows_as_lanes(stage, row, work):
    """Split ``row`` into vectors of ``HOST_LANES`` rows (its innermost loop, vectorized; the
    loops over the row's columns go outside it), the vector loop parallel when worth it.
    Rows as lanes over 2 to 10 columns against one scalar row at a time (Zen 5):
    cross-entropy 1024x2 10.4 -> 2.0 us, 128x10 3.8 -> 1.9 us; its gradient (strided
    stores) 7.5 -> 4.0 us and 5.9 -> 4.4 us."""
    block, lane = stage.split(row, factor=HOST_LANES)
    columns = [iv for iv in stage.op.axis if iv is not row]
    stage.reorder(block, *columns, *stage.op.reduce_axis, lane)
    stage.vectorize(lane)
    if work >= PARALLEL_MIN_WORK:
        stage.parallel(block)


@register("row_reduce")
@register("axis_reduce")
def schedule_reduction(sch, out, target):
    """A reduction left at the root: its data loops fused and parallel when worth it;
    a row reduction long enough for vector lanes accumulates vector partials per row,
    one of a row loss over short rows runs rows as lanes (see :func:`_short_rows`)."""
    stage = sch[out]
    if stage.attach_type != "root" or not stage.op.axis:
        return
    reduce_work = _work(*(iv.dom.extent for iv in stage.op.reduce_axis))
    if out.op.tag == "row_reduce" and len(stage.op.axis) == 1 and any(
            _short_rows(reader.op.output(0)) for reader in _readers(sch, out)
            if getattr(reader.op, "tag", None) in ("row_loss", "softmax")):
        _rows_as_lanes(stage, stage.op.axis[0], _work(*out.shape) * reduce_work)
        return
    partials = _row_partials(sch, out) if out.op.tag == "row_reduce" else None
    rows = _int(stage.op.axis[0].dom.extent) if len(stage.op.axis) == 1 else None
    if partials is not None and interleaves(rows, stage):     # see _interleaved_alone
        row = interleave_rows(stage, stage.op.axis[0])
        if _work(*out.shape) * reduce_work >= PARALLEL_MIN_WORK:
            stage.parallel(row)
        partials.compute_at(stage, row)
        interleave_rows(partials, partials.op.axis[0])
        return
    row = _parallel_outer(stage, list(stage.op.axis), _work(*out.shape) * reduce_work)
    if partials is not None:
        partials.compute_at(stage, row)


def _row_partials(sch, t):
    """The vector-partials stage of row reduction ``t`` (see ``vector_partials``), or
    None when its row is too short or not a multiple of the lanes."""
    reduce_axes = sch[t].op.reduce_axis
    lanes = lane_factor(_int(reduce_axes[0].dom.extent)) if len(reduce_axes) == 1 else None
    return vector_partials(sch, t, reduce_axes[0], lanes) if lanes is not None else None


# --------------------------------------------------------------------------- batch norm

# Channels per parallel chunk of a channel-last reduction: 8 vectors of 8 floats, which
# stay in registers while the chunk's rows are summed.
CHANNEL_CHUNK = 64


@register("channel_reduce_last")
def schedule_channel_reduce_last(sch, out, target):
    """Per-channel sums where the channel axis is innermost in memory ((N, C) input):
    the reduction loops run outside the vectorized channel loop. Over 64 channels
    (a multiple of 64) the channels are cut into chunks of 64 and the chunk loop (fused
    with any outer axes) is parallel, each chunk's sums staying in registers
    (1024x256 batch-norm forward 95 -> 61 us, backward 175 -> 79-88 us together with
    its per-channel factors; for 64 channels, two parallel chunks of 32 measured 10%
    slower than one serial pass)."""
    stage = sch[out]
    *outer, lanes = stage.op.axis
    channels = _int(lanes.dom.extent)
    chunk = CHANNEL_CHUNK if channels is not None and channels > CHANNEL_CHUNK and channels % CHANNEL_CHUNK == 0 \
        else None
    if chunk is not None:
        chunks, lanes = stage.split(lanes, factor=chunk)
        outer.append(chunks)
    stage.reorder(*outer, *stage.op.reduce_axis, lanes)
    _vectorize(stage, lanes, lanes.dom.extent if chunk is None else chunk, out.dtype)
    if outer:
        _parallel_outer(stage, outer, _work(*out.shape, *(iv.dom.extent for iv in stage.op.reduce_axis)))


@register("channel_reduce")
def schedule_channel_reduce(sch, out, target):
    """Per-channel sums over inner axes (NCHW): scheduled like any reduction
    (``schedule_reduce``): channels parallel, each summing vector partials along the
    image rows, contiguous in memory (a scalar sum is one chain of dependent adds:
    64x32x28x28 batch-norm forward 2.8 -> 0.75 ms, backward 2.5 -> 0.63 ms, before the
    vectorized elementwise pass of ``schedule_bn_apply``)."""
    schedule_reduce(sch, out, target)


@register("bn_apply")
def schedule_bn_apply(sch, out, target):
    """Batch-norm elementwise stages: outer axes parallel, the innermost vectorized. An
    NCHW image's rows are fused into one contiguous loop first, vectorized whole when it
    is a number of full vectors (28x28) or by 4 lanes when it is of half vectors (14x14):
    a 28-column row alone has a scalar tail and reads its channel factors once per row
    (64x32x28x28 forward pass 746 -> 327 us, backward 632 -> 352 us)."""
    stage = sch[out]
    if len(stage.op.axis) != 4 or _int(out.shape[2]) is None or _int(out.shape[3]) is None:
        _rows_then_lanes(stage, _work(*out.shape))
        return
    n, c, h, w = stage.op.axis
    image = stage.fuse(h, w)
    pixels = _int(out.shape[2]) * _int(out.shape[3])
    lanes = 8 if out.dtype == "float32" else 4
    if pixels % lanes == 0:
        stage.vectorize(image)
    elif pixels % (lanes // 2) == 0:
        stage.vectorize(stage.split(image, factor=lanes // 2)[1])
    _parallel_outer(stage, [n, c], _work(*out.shape))
