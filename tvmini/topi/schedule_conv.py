"""Default CPU schedules for convolutions and pooling (by tag): direct convolution and
its weight gradient with register-sized accumulator blocks (tunable: ``conv2d_knobs``,
``conv2d_grad_weight_knobs``), and pooling planes whose windows read a padded plane
from L1. Shared helpers (parallel thresholds, vectorization rules) are
``schedule_nn``'s.
"""
from ..codegen.llvm_target import vector_registers
from ..te.tensor import ProducerLoad
from ..tir.expr import Const, Select
from ..tir.functor import free_vars, substitute, walk
from ..tir.simplify import simplify
from .conv_common import vector_lanes
from .schedule import Knobs, register
from .schedule_nn import (PARALLEL_MIN_WORK, _int, _left_to_reader, _parallel_outer, _producer, _rows_then_lanes,
                          _vectorize, _work)

# The host's vector registers (16 with AVX2, 32 with AVX-512, which holds 8-lane ymm
# vectors in all 32). A weight-gradient block keeps at most three quarters of them as
# accumulators (its output-gradient operands can be memory operands of the FMAs).
# Measured on AVX-512 (Zen 5), 32 registers against 16: the 1x64x56x56 3x3 layer
# 1.14-1.16x faster (forward and both gradients), 64x32x14x14 forward and data gradient
# 1.58x, LeNet conv2 forward 1.16x, LeNet's data gradients 4-10% slower.
VECTOR_REGISTERS = vector_registers()
ACCUMULATOR_REGISTERS = VECTOR_REGISTERS * 3 // 4
CONV_CHANNEL_BLOCKS = (1, 2, 3, 4, 6, 8, 16)
# 7: the 7x7 maps of a ResNet's last stage, whose rows hold one 8-lane vector: 2 filters x
# 7 rows is 14 accumulators, 1x512x7x7 -> 512 3x3 1.70 -> 1.18 ms against 16 filters x 1 row.
CONV_ROW_BLOCKS = (1, 2, 4, 7)
CONV_WIDTH_BLOCKS = (8, 16, 32)


def _conv_block(channels, rows, widths, lanes, stride=1):
    """(fb, yb, columns): output channels, rows and accumulator columns per block of
    a direct convolution, the columns one of ``widths``.

    A tap loads ``yb * v`` input vectors (``v`` vectors per block row) and ``fb``
    broadcast weights for ``fb * yb * v`` FMAs; the block with the most FMAs per load
    wins (ties: more channels, then wider blocks), among divisors whose accumulators
    plus one tap's input vectors plus a weight fit the vector registers. Measured on
    LeNet conv1/conv2 and the 1x64x56x56 layer (forward and data gradient): blocks
    past that register count (3 x 4 rows of one vector, 3 x 2 rows of two) ran at
    half the speed their load count predicts. An input vector of a window with column
    ``stride`` s > 1 counts as its 2s - 1 instructions (s loads and s - 1 shuffles),
    which favours more channels per block (A/B, Zen 5, stride 2): 3x3 1x64x56x56 -> 128
    416 -> 331 us, 8x32x112x112 -> 64 3.99 -> 3.0 ms, 5x5 32x16x64x64 -> 32 2.51 -> 1.93
    ms, the 7x7 stem 640 -> 599 us; 1x128x28x28 -> 256 (14 columns) unchanged."""
    cost = 2 * stride - 1
    best = (0.0, 0, 0, 1, 1, widths[0])
    for width in widths:
        vectors = -(-width // lanes)
        for fb in (b for b in CONV_CHANNEL_BLOCKS if channels % b == 0):
            for yb in (b for b in CONV_ROW_BLOCKS if rows % b == 0):
                inputs = yb * vectors
                if fb * inputs + inputs + 1 <= VECTOR_REGISTERS:
                    best = max(best, (fb * inputs / (fb + inputs * cost), fb, width, fb, yb, width))
    return best[3:]


def _column_stride(acc):
    """Input columns between the windows of consecutive output columns of convolution
    accumulator ``acc``: the coefficient of its column axis in the input's column index."""
    x = acc.op.axis[3].var
    loads = []
    walk(acc.op.body.source, lambda n: loads.append(n) if isinstance(n, ProducerLoad) else None)
    for load in loads:
        column = load.indices[-1]
        if any(v is x for v in free_vars(column)):
            at = {v: Const(1 if v is x else 0, "int32") for v in free_vars(column)}
            stride = simplify(substitute(column, at) - substitute(column, {**at, x: Const(0, "int32")}))
            return stride.value if isinstance(stride, Const) else 1
    return 1


def conv2d_knobs(sch, out, target):
    """``fb`` output channels, ``yb`` output rows and ``xb`` columns of the accumulator
    (0: its whole row; else a multiple of 8 dividing its width, so the vector loop has
    no tail) per accumulator block; ``order`` of the reduction loops (input channel
    outside or inside the kernel window); ``parallel`` loop over (image, channel block).
    The default block is :func:`_conv_block`'s."""
    acc = _producer(out, "conv2d_accum")
    _, f, y, _ = sch[out].op.axis
    channels, rows, width = _int(f.dom.extent), _int(y.dom.extent), _int(acc.shape[3])
    widths = [0] + [b for b in CONV_WIDTH_BLOCKS if b < width and width % b == 0]
    # A sum that skips kernel rows (conv2d_grad_input) skips them with loop bounds only
    # when each block holds one output row; several would test the rows tap by tap.
    block_rows = 1 if _skips_kernel_rows(acc) else rows
    lanes = vector_lanes(out.dtype, _int(sch[out].op.axis[3].dom.extent))
    fb, yb, columns = _conv_block(channels, block_rows, [width] + widths[1:], lanes, _column_stride(acc))
    taps = _work(*(iv.dom.extent for iv in sch[acc].op.reduce_axis))
    default = {"fb": fb, "yb": yb, "xb": 0 if columns == width else columns, "order": "c,ky,kx",
               "parallel": _work(*out.shape) * taps >= PARALLEL_MIN_WORK}
    return Knobs(default, {
        "fb": sorted({b for b in CONV_CHANNEL_BLOCKS if b <= channels} | {fb}),
        "yb": sorted({b for b in CONV_ROW_BLOCKS if b <= rows} | {yb}),
        "xb": widths,
        "order": ["c,ky,kx", "ky,kx,c"],
        "parallel": [False, True]})


def _skips_kernel_rows(acc):
    """Whether accumulation ``acc``'s sum has a condition (a ``where``)."""
    condition = acc.op.body.condition
    return not (isinstance(condition, Const) and condition.value)


@register("conv2d", knobs=conv2d_knobs)
def schedule_conv2d(sch, out, target, config):
    """Direct convolution: (image, channel block) parallel; per block of ``yb`` output
    rows and ``xb`` accumulator columns (default: one whole row) a local accumulator of
    ``fb`` channels x rows x columns updated tap by tap, the column loop vectorized.
    An accumulator wider than the output (padded to whole vectors) is computed whole;
    the output stage stores only the columns it has."""
    acc = _producer(out, "conv2d_accum")
    stage = sch[out]
    n, f, y, x = stage.op.axis
    width, acc_width = _int(x.dom.extent), _int(acc.shape[3])
    block_width = config["xb"] or acc_width
    fo, fi = stage.split(f, factor=config["fb"])
    blocks, inside = [n, fo, y], [fi, x]        # the accumulator is computed in blocks[-1]
    if config["yb"] > 1:
        blocks[2], yi = stage.split(y, factor=config["yb"])
        inside.insert(1, yi)
    if block_width != width:
        xo, inside[-1] = stage.split(x, factor=block_width)
        blocks.append(xo)
    stage.reorder(*blocks, *inside)
    outer = stage.fuse(n, fo)
    if config["parallel"]:
        stage.parallel(outer)
    _vectorize(stage, inside[-1], block_width if width % block_width == 0 else None, out.dtype)

    s_acc = sch[acc]
    s_acc.scope = "local"
    s_acc.compute_at(stage, blocks[-1])
    an, af, ay, ax = s_acc.op.axis
    reduction = (c, ky, kx) = s_acc.op.reduce_axis
    if config["order"] == "ky,kx,c":
        reduction = (ky, kx, c)
    if config["yb"] > 1:
        s_acc.reorder(an, *reduction, af, ay, ax)
        s_acc.unroll(ay)
    else:
        s_acc.reorder(an, ay, *reduction, af, ax)
    s_acc.unroll(af)
    _vectorize(s_acc, ax, block_width, out.dtype)


GRAD_WEIGHT_BLOCKS = (1, 2, 3, 4, 6, 8)


def _grad_weight_block(filters, channels, taps):
    """(filters, channels) per accumulator block of the weight gradient: the most FMAs
    per vector load, ``fb * cb * taps / (fb + cb * taps)``, among divisors whose
    ``fb * cb * taps`` accumulators fit the registers (ties: more filters)."""
    best = (0.0, 1, 1)
    for fb in (b for b in GRAD_WEIGHT_BLOCKS if filters % b == 0):
        for cb in (b for b in GRAD_WEIGHT_BLOCKS if channels % b == 0):
            accumulators = fb * cb * taps
            if accumulators <= ACCUMULATOR_REGISTERS:
                best = max(best, (accumulators / (fb + cb * taps), fb, -cb))
    return best[1], -best[2]


def conv2d_grad_weight_knobs(sch, out, target):
    """``fb`` filters x ``cb`` input channels per accumulator block, ``taps``: the block
    spans a whole kernel row ("row") or one tap ("one"); ``parallel`` loop over
    (filter block, channel block, kernel row)."""
    partial = _producer(out, "conv2d_grad_weight_accum")
    filters, channels, _, width, _ = (_int(e) for e in partial.shape)
    row = width <= ACCUMULATOR_REGISTERS
    fb, cb = _grad_weight_block(filters, channels, width if row else 1)
    default = {"fb": fb, "cb": cb, "taps": "row" if row else "one",
               "parallel": _work(*partial.shape, *(iv.dom.extent for iv in partial.op.reduce_axis))
               >= PARALLEL_MIN_WORK}
    return Knobs(default, {
        "fb": sorted({b for b in GRAD_WEIGHT_BLOCKS if b <= filters} | {fb}),
        "cb": sorted({b for b in GRAD_WEIGHT_BLOCKS[:4] if b <= channels} | {cb}),
        "taps": ["row", "one"],
        "parallel": [False, True]})


@register("conv2d_grad_weight", knobs=conv2d_grad_weight_knobs)
def schedule_conv2d_grad_weight(sch, out, target, config):
    """Weight gradient: per (block of ``fb`` filters x ``cb`` channels, kernel row), and
    per tap of that row unless the block spans it, a local accumulator of
    ``fb x cb (x KW) x lanes`` vectors is updated over images, output rows and column
    vectors (one vector of output gradient per filter, one shifted input row vector per
    channel and tap), then its lanes are summed, lane by lane for all the block's
    outputs at once (independent adds rather than one chain of ``lanes`` adds per
    output: the 7x7 stem's gradient 850 -> 800 us, others unchanged). The block loop is
    parallel."""
    partial = _producer(out, "conv2d_grad_weight_accum")
    stage = sch[out]
    f, c, ky, kx = stage.op.axis
    (lane,) = stage.op.reduce_axis
    fo, fi = stage.split(f, factor=config["fb"])
    co, ci = stage.split(c, factor=config["cb"])
    if config["taps"] == "row":
        stage.reorder(fo, co, ky, lane, fi, ci, kx)
    else:
        stage.reorder(fo, co, ky, kx, lane, fi, ci)
    for axis in (fi, ci) if config["taps"] == "one" else (fi, ci, kx):
        stage.unroll(axis)
    block = stage.fuse(fo, co, ky)
    if config["parallel"]:
        stage.parallel(block)

    s_part = sch[partial]
    s_part.scope = "local"
    s_part.compute_at(stage, block if config["taps"] == "row" else kx)
    pf, pc, pky, pkx, pl = s_part.op.axis
    s_part.reorder(*s_part.op.reduce_axis, pky, pf, pc, pkx, pl)
    for axis in (pf, pc, pkx):
        s_part.unroll(axis)
    _vectorize(s_part, pl, pl.dom.extent, out.dtype)


@register("pool_grad")
def schedule_pool_grad(sch, out, target):
    """Pooling gradients: (image, channel) planes parallel, everything they read computed
    per plane: the max-pool argmax (and the window maxima it compares with, row by row
    of windows), so a plane of the input is read from L1 by all its stages (LeNet's
    64x6x24x24 2x2 max-pool gradient 890 -> 95 us). Overlapping windows go by phase
    (``pool._gather_by_phase``): the phase sums run on plain vector loads along the
    windows. The gradient's own columns stay scalar: each finds its window (or phase) by
    division, which vector code can only gather, measured 0-60% slower than scalar even
    with AVX-512's gathers (2x slower on AVX2)."""
    stage = sch[out]
    if stage.attach_type != "root":
        return
    n, c, _, _ = stage.op.axis
    planes = _parallel_outer(stage, [n, c], _work(*out.shape, *(iv.dom.extent for iv in stage.op.reduce_axis)))
    for t in out.op.input_tensors:
        tag = getattr(t.op, "tag", None)
        if tag == "pool_argmax":
            _argmax_at(sch, t, stage, planes)
        elif tag == "pool_grad_phases":
            phases = sch[t]
            phases.compute_at(stage, planes)
            pn, pc, ry, rx, qy, qx = phases.op.axis
            a, b = phases.op.reduce_axis
            phases.reorder(pn, pc, ry, rx, qy, a, b, qx)
            phases.unroll(a)
            phases.unroll(b)
            phases.vectorize(qx)
            for border in (u for u in t.op.input_tensors if getattr(u.op, "tag", None) == "pool_pad"):
                sch[border].compute_at(phases, pc)
                sch[border].vectorize(sch[border].op.axis[-1])
                for argmax in (u for u in border.op.input_tensors if getattr(u.op, "tag", None) == "pool_argmax"):
                    _argmax_at(sch, argmax, sch[border], sch[border].op.axis[1])


def _argmax_at(sch, argmax, parent, loop):
    """Compute the max-pool argmax inside ``parent``'s ``loop`` (one plane), its window
    maxima row by row of windows inside it, both reading padded rows right before."""
    sch[argmax].compute_at(parent, loop)
    maxima = _producer(argmax, "pool")
    sch[maxima].compute_at(sch[argmax], sch[argmax].op.axis[2])
    for window_stage in (sch[argmax], sch[maxima]):
        _windows_outside_columns(window_stage)
        _pad_at(sch, window_stage, window_stage.op.axis[2])


def _pad_at(sch, reader, loop):
    """Compute the padded input (tag ``pool_pad``, or ``conv_pad`` read by a convolution
    input's column phases) that stage ``reader`` reads inside ``reader``'s ``loop``
    (what one plane or one row of windows reads), its rows vectorized (the border test
    is a lane mask on the loads only): the reader then reads it from cache with no
    guard, and the padded input never makes a round trip through memory."""
    for pad in (t for t in reader.op.input_tensors if getattr(t.op, "tag", None) in ("pool_pad", "conv_pad")):
        if sch[pad].attach_type == "root":
            sch[pad].compute_at(reader, loop)
            sch[pad].vectorize(sch[pad].op.axis[-1])


def _guarded_reads(body):
    """Whether ``body`` reads a tensor under an ``if_then_else`` (padding)."""
    found = []

    def visit(e):
        if isinstance(e, Select):
            for branch in (e.t, e.f):
                walk(branch, lambda x: found.append(x) if isinstance(x, ProducerLoad) else None)
    walk(body, visit)
    return bool(found)


def _windows_outside_columns(stage):
    """Run a window reduction's window loops outside the innermost output axis and
    vectorize that axis, unless the window reads are guarded (padding: their masked
    gathers are slower than the scalar loop) or there are fewer than 4 columns."""
    *outer, columns = stage.op.axis
    if (_int(columns.dom.extent) or 0) < 4 or _guarded_reads(stage.op.body):
        return
    stage.reorder(*outer, *stage.op.reduce_axis, columns)
    stage.vectorize(columns)


@register("conv_interleave")
def schedule_interleave(sch, out, target):
    """A strided data gradient's interleaving of its phases (attr ``stride``): (image,
    channel) planes parallel, rows and columns split by the stride, each output row
    written in groups of ``stride`` columns (phase loops unrolled), so no element divides to
    find its phase. Scalar: vector code could only gather. Measured (2-core Xeon,
    AVX-512): 4x16x15x15 8.5 us with division, 1-2 us split; 1x256x56x56 175 -> 115 us
    with the row phase outside the columns rather than inside. Inlined into a stage
    that reads it."""
    stage = sch[out]
    if _left_to_reader(stage):
        return
    n, c, h, u = stage.op.axis
    sh, sw = out.op.attrs.get("stride", (1, 1))
    i, rh = stage.split(h, factor=sh)
    j, rw = stage.split(u, factor=sw)
    stage.reorder(n, c, i, rh, j, rw)
    stage.unroll(rh)
    stage.unroll(rw)
    _parallel_outer(stage, [n, c], _work(*out.shape))


@register("conv_pad")
@register("conv_col2im")
@register("pool_pad")
@register("pool")
@register("pool_argmax")
def schedule_planes(sch, out, target):
    """NCHW stages: (image, channel) planes parallel; the innermost loop vectorized when
    it is a plain data loop. A window reduction without padding runs its window loops
    outside the output columns, which are vectorized: a stride-2 window read is two
    vector loads and a shuffle (LeNet's 64x6x24x24 2x2 max pooling 111 -> 25 us). A
    padded window's guarded read would be a masked gather, slower than the scalar loop.
    A stage computed inside another is left to that one."""
    stage = sch[out]
    if stage.attach_type != "root":
        return
    n, c, *rest = stage.op.axis
    reduces = stage.op.reduce_axis
    if not reduces:
        _vectorize(stage, rest[-1], rest[-1].dom.extent, out.dtype)
        if len(rest) == 3:
            # column phases (n, c, h, phase, column): each unrolled phase's strided read
            # has a constant start, so its loads cover whole vectors of the padded row
            stage.unroll(rest[1])
    elif rest:
        _windows_outside_columns(stage)
    planes = _parallel_outer(stage, [n, c], _work(*out.shape, *(iv.dom.extent for iv in reduces)))
    # A window reads several rows of the padding, a copy (column phases) one.
    _pad_at(sch, stage, planes if reduces else rest[0])


@register("pool_scale")
def schedule_pool_scale(sch, out, target):
    """Average pooling's scaling: rows parallel, with the window sums (over vector
    columns) computed per row."""
    planes = _rows_then_lanes(sch[out], _work(*out.shape))
    total = _producer(out, "pool")
    if planes is not None:
        sch[total].compute_at(sch[out], planes)
        _windows_outside_columns(sch[total])
        _pad_at(sch, sch[total], sch[total].op.axis[2])
