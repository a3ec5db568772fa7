"""Default CUDA schedules for every topi compute tag (rules registered with ``target="cuda"``).

Every stage of a CUDA kernel must end up bound to ``blockIdx``/``threadIdx`` or inlined
(the codegen raises BuildError otherwise), so the rules here cover every tag; any tag
without a rule of its own (untagged computes, tags added later) gets the generic rule
registered for ``"*"``, which treats a compute by its kind (injective or reduction).

* Injective computes (elemwise, broadcast, injective, transpose, softmax, row_loss,
  bn_apply, pool_scale, conv_pad, pool_pad, ...): inlined into their readers unless they are
  outputs; an output's axes are fused into one index and split by ``THREADS`` threads
  per block (blockIdx.x, threadIdx.x): consecutive threads write consecutive elements,
  so stores are coalesced; the codegen guards the last, partial block. A transpose
  reads strided (no shared-memory tile: without padding the tile's column reads would
  hit one bank 32 times).
* Reductions (reduce, row_reduce, axis_reduce, channel_reduce, pool, pool_argmax,
  pool_grad, conv2d_grad_weight, ...): see :func:`schedule_reduction`. A small
  reduction that only one bound stage reads at its own index is computed inside that
  stage's thread (no kernel, no temporary). A reduction over the input's contiguous
  axis runs one block per output row: up to 256 threads each reduce a strided share
  of the row, then combine their results through shared memory (the reduce axis bound
  to ``threadIdx.x``: a cross-thread reduction). Other reductions run one thread
  per output (coalesced when the kept axis is the contiguous one); reductions to few
  outputs first split the reduce axis into partial sums computed by a kernel of their
  own, and a reduction to a scalar repeats that until at most ``SERIAL_MAX`` partials
  are left for one thread.
* gemm: blocks of up to 64 x 64 outputs, 16 x 16 threads each computing a 4 x 4
  register block (the accumulator stage in "local" scope) over k tiles whose rows of A
  and columns of B are copied cooperatively into shared memory; the packing stage of
  ``nn.gemm_stages`` is inlined into the copy of B (so its zero padding costs nothing).
* conv2d (and conv2d_grad_input, a conv2d of the zero-bordered gradient per phase of the
  stride, interleaved by a generic injective kernel): direct, one thread per output
  pixel x ``FR`` output channels (a register block), the padding stage inlined; threads
  along a row of output pixels read neighbouring input pixels and write neighbouring
  outputs.
"""
import math

from .. import te
from ..te.tensor import ProducerLoad
from ..tir import expr as E
from ..tir.functor import walk
from .schedule import MATERIALIZED, gemm_axes, kept, register

THREADS = 256          # threads per block of an injective kernel or a per-output reduction
WARP = 32
BLOCK_MIN = 32         # reduce extent from which a contiguous reduction gets a block per row
SERIAL_MAX = 256       # most values one thread sums on its own for a scalar result
ATTACH_MAX = 32        # reduce extent up to which a reduction is recomputed inside its reader
FEW_ROWS = 16          # outputs below which a long reduction is split into partial sums first
LONG_ROW = 1 << 16     # reduce extent from which that split pays
PARTIALS = 1 << 14     # partial sums of the first level of a very long reduction
STRIDED_ROWS = 2048    # outputs below which a strided reduction is split into partial sums
STRIDED_PARTS = 64     # partial sums per output of that split
GEMM_TILE = 64         # output rows/columns per gemm block (at most)
GEMM_REG = 4           # output rows/columns per gemm thread
GEMM_KT = 16           # k per shared-memory tile
CONV_PIXELS = 64       # output pixels per conv2d block (threadIdx.x)
CONV_FR = 4            # output channels per conv2d thread (register block)
CONV_FY = 4            # channel groups per conv2d block (threadIdx.y)


def _const(extent):
    return extent.value if isinstance(extent, E.Const) else None


def _product(extents):
    """Product of constant extents, None when any is symbolic."""
    values = [_const(e) for e in extents]
    return None if None in values else math.prod(values)


def _bind(stage, axis, tag):
    stage.bind(axis, te.thread_axis(tag))


def _untouched(stage):
    return stage.attach_type == "root" and not stage.relations and not stage.iter_kinds and not stage.bindings


def _threads(total):
    """Threads per block for ``total`` independent outputs (fewer for a small tensor)."""
    return THREADS if total is None else max(1, min(THREADS, total))


def _bind_flat(stage, axes):
    """Fuse ``axes`` into one index split over blocks x threads; returns the thread loop."""
    fused = stage.fuse(*axes)
    block, thread = stage.split(fused, factor=_threads(_product([iv.dom.extent for iv in axes])))
    _bind(stage, block, "blockIdx.x")
    _bind(stage, thread, "threadIdx.x")
    return thread


def _readers(sch, tensor):
    """Stages of ``sch`` whose current op reads ``tensor``'s current op."""
    op = sch[tensor].op
    return [st for st in sch.stages if any(t.op is op for t in st.op.input_tensors)]


def _thread_leaf(stage):
    """The innermost loop of ``stage`` bound to a threadIdx axis (None when there is none)."""
    bound = [iv for iv in stage.leaf_iter_vars
             if iv in stage.bindings and stage.bindings[iv].thread_tag.startswith("threadIdx")]
    return bound[-1] if bound else None


def _loads(expr, op=None):
    found = []
    walk(expr, lambda n: found.append(n) if isinstance(n, ProducerLoad) and op in (None, n.tensor.op) else None)
    return found


def _read_at_own_index(reader, op):
    """Whether every read of ``op`` by ``reader`` is indexed by ``reader``'s own axis
    variables only, so one thread of ``reader`` needs one element of ``op``."""
    own = [iv.var for iv in reader.op.axis]
    loads = _loads(reader.op.body, op)
    if not loads:
        return False
    for load in loads:
        if not all(isinstance(i, E.Var) and i in own for i in load.indices):
            return False
    return True


# ----------------------------------------------------------------------------- injective

def _schedule_injective(sch, tensor):
    stage = sch[tensor]
    if not _untouched(stage):
        return
    if not kept(stage):
        stage.compute_inline()
        return
    if stage.op.axis:        # a scalar stage runs as one thread (the codegen's rule)
        _bind_flat(stage, list(stage.op.axis))


@register("elemwise", target="cuda")
@register(MATERIALIZED, target="cuda")
@register("broadcast", target="cuda")
@register("injective", target="cuda")
@register("transpose", target="cuda")
@register("softmax", target="cuda")
@register("row_loss", target="cuda")
@register("bn_apply", target="cuda")
@register("pool_scale", target="cuda")
@register("conv_pad", target="cuda")
@register("pool_pad", target="cuda")
@register("gemm_pack", target="cuda")
@register("gemm_operand", target="cuda")
def schedule_injective(sch, tensor, target="cuda"):
    """Inlined unless an output; an output's axes fused and split over blocks x threads.
    (A compute under one of these tags that is a reduction goes to the reduction rule.)"""
    if sch[tensor].op.reduce_axis:
        schedule_reduction(sch, tensor, target)
    else:
        _schedule_injective(sch, tensor)


@register("*", target="cuda")
def schedule_generic(sch, tensor, target="cuda"):
    """Computes whose tag has no CUDA rule: by kind, injective or reduction."""
    schedule_injective(sch, tensor, target)


# ----------------------------------------------------------------------------- reductions

def _contiguous(stage):
    """Whether the reduced input's innermost axis is reduced (the main load — the one
    with the most indices — has a reduce variable as its last index)."""
    loads = _loads(stage.op.body.source)
    if not loads:
        return False
    last = max(loads, key=lambda ld: len(ld.indices)).indices
    return bool(last) and any(last[-1] is iv.var for iv in stage.op.reduce_axis)


def _reduce_extent(stage):
    return _product([iv.dom.extent for iv in stage.op.reduce_axis])


def _block_threads(extent):
    """Threads of a block-per-row reduction: a power of two up to 256, at most the extent."""
    threads = WARP
    while threads < THREADS and (extent is None or threads * 2 <= extent):
        threads *= 2
    return threads


def _fused_reduce_axis(stage):
    axes = list(stage.op.reduce_axis)
    return stage.fuse(*axes) if len(axes) > 1 else axes[0]


@register("reduce", target="cuda")
@register("row_reduce", target="cuda")
@register("axis_reduce", target="cuda")
@register("channel_reduce", target="cuda")
@register("channel_reduce_last", target="cuda")
@register("pool", target="cuda")
@register("pool_argmax", target="cuda")
@register("pool_grad", target="cuda")
@register("conv2d_grad_weight", target="cuda")
def schedule_reduction(sch, tensor, target="cuda"):
    """Reductions (see the module docstring): inside the one reader's thread when small
    and read at the reader's own index, else a kernel of their own — block per row for
    a long contiguous row, partial sums first for few outputs, else thread per output."""
    stage = sch[tensor]
    if not _untouched(stage):
        return
    if not stage.op.reduce_axis:
        _schedule_injective(sch, tensor)
        return
    extent = _reduce_extent(stage)
    if not stage.is_output and extent is not None and extent <= ATTACH_MAX:
        readers = _readers(sch, tensor)
        if len(readers) == 1 and _thread_leaf(readers[0]) is not None and _read_at_own_index(readers[0], stage.op):
            stage.compute_at(readers[0], _thread_leaf(readers[0]))
            return
    _reduce_root(sch, tensor)


def _reduce_root(sch, tensor):
    stage = sch[tensor]
    extent = _reduce_extent(stage)
    rows = _product(stage.op.shape)
    contiguous = _contiguous(stage)
    if not stage.op.axis:
        while extent is None or extent > SERIAL_MAX:
            extent = _partial_sums(sch, tensor, PARTIALS if extent is None or extent > 4 * PARTIALS else SERIAL_MAX,
                                   last=True)
        return                                  # the scalar stage runs as one thread
    if contiguous:
        if rows is not None and rows < FEW_ROWS and (extent is None or extent >= LONG_ROW):
            extent = _partial_sums(sch, tensor, PARTIALS, last=True)
        if extent is None or extent >= BLOCK_MIN:
            _block_per_row(sch, tensor, extent)
            return
    elif rows is not None and rows < STRIDED_ROWS and (extent is None or extent >= SERIAL_MAX):
        _partial_sums(sch, tensor, STRIDED_PARTS, last=False)
    stage = sch[tensor]
    _bind_flat(stage, list(stage.op.axis))


def _partial_sums(sch, tensor, parts, last):
    """Split the reduction of ``tensor`` into ``parts`` partial results per output,
    computed by their own kernel (one thread each); ``tensor`` then reduces the
    partials. ``last``: the partial index is the innermost axis of the partials (reads
    of a contiguous row stay coalesced), else the outermost (the outputs' index is).
    Returns the reduce extent left to ``tensor``."""
    stage = sch[tensor]
    k = _fused_reduce_axis(stage)
    _, inner = stage.split(k, factor=parts)
    partial = sch.rfactor(tensor, inner, factor_axis=len(stage.op.axis) if last else 0)
    pstage = sch[partial]
    _bind_flat(pstage, list(pstage.op.axis))
    return _reduce_extent(sch[tensor])


def _block_per_row(sch, tensor, extent):
    """One block per output row: its threads each reduce every ``threads``-th value of
    the row in a register (consecutive threads read consecutive values), then combine
    their results across ``threadIdx.x`` (a cross-thread reduction)."""
    stage = sch[tensor]
    row = stage.fuse(*stage.op.axis) if len(stage.op.axis) > 1 else stage.op.axis[0]
    _bind(stage, row, "blockIdx.x")
    _, lane = stage.split(_fused_reduce_axis(stage), factor=_block_threads(extent))
    _bind(stage, lane, "threadIdx.x")


# ----------------------------------------------------------------------------- gemm

def _producer(tensor, tag):
    return next(t for t in tensor.op.input_tensors if getattr(t.op, "tag", None) == tag)


def _tile(extent):
    """Outputs per block along one gemm axis: 64, or 32/16 for a small (constant) extent."""
    value = _const(extent)
    for tile in (GEMM_TILE, GEMM_TILE // 2):
        if value is None or value >= tile:
            return tile
    return GEMM_TILE // 4


@register("gemm", target="cuda")
def schedule_gemm(sch, out, target="cuda"):
    """Shared-memory tiled GEMM (see the module docstring); batch on blockIdx.z."""
    stage = sch[out]
    if not _untouched(stage):
        return
    acc = _producer(out, "gemm_accum")
    packed = _producer(acc, "gemm_pack")
    sch[packed].compute_inline()
    a_shared = [sch.cache_read(t, "shared", [acc]) for t in acc.op.input_tensors if t is not packed]
    b_shared = sch.cache_read(packed, "shared", [acc])

    batch, i, j, columns = gemm_axes(stage, acc)
    tm, tn = _tile(i.dom.extent), _tile(columns)
    io, ii = stage.split(i, factor=tm)
    ty, ri = stage.split(ii, factor=GEMM_REG)
    jo, ji = stage.split(j, factor=tn)
    tx, rj = stage.split(ji, factor=GEMM_REG)
    stage.reorder(*batch, io, jo, ty, tx, ri, rj)
    if batch:
        _bind(stage, stage.fuse(*batch), "blockIdx.z")
    _bind(stage, io, "blockIdx.y")
    _bind(stage, jo, "blockIdx.x")
    _bind(stage, ty, "threadIdx.y")
    _bind(stage, tx, "threadIdx.x")

    s_acc = sch[acc]
    s_acc.scope = "local"
    s_acc.compute_at(stage, tx)
    *_, ai, aj = s_acc.op.axis
    (k,) = s_acc.op.reduce_axis
    kt = GEMM_KT if _const(k.dom.extent) is None else max(1, min(GEMM_KT, _const(k.dom.extent)))  # K = 0: 1
    ko, ki = s_acc.split(k, factor=kt)
    s_acc.reorder(ko, ki, ai, aj)
    for axis in (ki, ai, aj):
        s_acc.unroll(axis)
    threads_y, threads_x = tm // GEMM_REG, tn // GEMM_REG
    for cache in a_shared + [b_shared]:
        s_cache = sch[cache]
        s_cache.compute_at(s_acc, ko)
        _, flat = s_cache.split(s_cache.fuse(*s_cache.op.axis), factor=threads_y * threads_x)
        cy, cx = s_cache.split(flat, factor=threads_x)
        _bind(s_cache, cy, "threadIdx.y")
        _bind(s_cache, cx, "threadIdx.x")


# ----------------------------------------------------------------------------- conv2d

@register("conv2d", target="cuda")
def schedule_conv2d(sch, out, target="cuda"):
    """Direct convolution (see the module docstring): blocks over (image, channel group,
    pixel group), threadIdx.x over pixels, threadIdx.y over channel groups, ``FR``
    channels per thread accumulated in registers over (c, ky, kx)."""
    stage = sch[out]
    if not _untouched(stage):
        return
    acc = _producer(out, "conv2d_accum")
    n, f, y, x = stage.op.axis
    channels, pixels = _const(f.dom.extent), _const(y.dom.extent) * _const(x.dom.extent)
    fr = min(CONV_FR, channels)
    fy = min(CONV_FY, -(-channels // fr))
    px = CONV_PIXELS if pixels >= CONV_PIXELS else WARP
    fo, fi = stage.split(f, factor=fr * fy)
    ty, fc = stage.split(fi, factor=fr)
    po, tx = stage.split(stage.fuse(y, x), factor=px)
    stage.reorder(n, fo, po, ty, tx, fc)
    _bind(stage, stage.fuse(n, fo, po), "blockIdx.x")
    _bind(stage, ty, "threadIdx.y")
    _bind(stage, tx, "threadIdx.x")

    s_acc = sch[acc]
    s_acc.scope = "local"
    s_acc.compute_at(stage, tx)
    an, af, ay, ax = s_acc.op.axis
    s_acc.reorder(an, ay, ax, *s_acc.op.reduce_axis, af)
    s_acc.unroll(af)
