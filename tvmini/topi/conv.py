"""2-D convolution (NCHW input, OIHW weight) and its two gradients.

``conv2d`` is a direct convolution written as an accumulation (tag ``conv2d_accum``)
and an output stage (tag ``conv2d``, which adds the bias), the same split as the GEMM in
``nn``, so the schedule can keep a block of output channels x rows x columns in a local
accumulator. The accumulator's rows are whole SIMD vectors when the output's are nearly
so (:func:`accumulator_width`; the output stage crops). Zero padding is its own stage
(tag ``conv_pad``) so the inner loops never test bounds.

``conv2d_grad_input`` is itself a stride-1 convolution of the zero-bordered output
gradient with the in/out-swapped weight, one per phase of the stride (the input
positions by their remainder modulo it), each over only the kernel taps that reach its
phase; a last stage interleaves the phases. ``conv2d_grad_weight`` correlates the
padded input with the output gradient over batch and output positions, as per-lane
partial sums over vectors of output columns (tag ``conv2d_grad_weight_accum``) and their
sum (tag ``conv2d_grad_weight``).

Small maps with many channels, and 1x1 kernels without padding, take the matrix-product
forms of ``conv_product`` instead; the helpers every form shares (zero padding, the
vector width of an accumulator row, attribute pairs) are ``conv_common``'s.
"""
from .. import te
from ..codegen.llvm_target import vector_bits
from ..errors import ShapeError
from .conv_common import _const_dims, conv2d_output_size, pair, vector_lanes, zero_pad
from .conv_product import (_data_gradient_as_product, _forward_as_product, _product_conv2d, _product_grad_input,
                           _product_grad_weight, _weight_gradient_as_product)
from .nn import check_bias, check_float, check_inner, check_rank, shape_of

__all__ = ["conv2d", "conv2d_grad_input", "conv2d_grad_weight", "conv2d_output_size", "pair"]


def accumulator_width(width, dtype):
    """Columns of a convolution's accumulator for ``width`` output columns: rounded up
    to whole SIMD vectors when the columns fill at least half of them, so the
    accumulator blocks of the schedule are vectors (the output stage crops the extra
    columns). Narrower rows stay scalar loops."""
    lanes = vector_lanes(dtype, width)
    padded = -(-width // lanes) * lanes
    return padded if 2 * width >= lanes else width


def _extra_columns(padded_width, acc_width, kernel_w, stride_w, dilation_w):
    """Zero columns to add on the right of a padded input of ``padded_width`` columns so
    that ``acc_width`` output columns read inside it."""
    return max(0, (acc_width - 1) * stride_w + (kernel_w - 1) * dilation_w + 1 - padded_width)


def _correlate(name, padded, weight_at, out_channels, kernel, out_hw, window, bias=None, where=None, groups=1):
    """``out[n, f, y, x] = sum_{c, ky, kx} padded[n, c, row, col] * weight_at(f, c, wy, wx)``
    with ``(row, col, wy, wx) = window(y, x, ky, kx)`` (:func:`_strided_window` for a
    plain convolution) over the ``kernel``-shaped taps ``(ky, kx)``. A 5-D ``padded``
    holds the columns by phase (:func:`_phase_split`); its window gives ``col`` as a
    (phase, column) pair (:func:`_phase_window`).

    With ``groups`` > 1, output channel ``f`` sums only over the channels of its group,
    ``c`` counting within it: ``padded[n, g * C/groups + c, ...]`` with ``g = f //
    (out_channels/groups)`` (a depthwise convolution has one channel per group).
    The accumulator has :func:`accumulator_width` columns (``padded`` must be wide
    enough for them); the output stage crops them to ``out_hw`` and adds the bias.
    ``where(y, ky, kx)``, when given, is the condition under which tap ``(ky, kx)`` of
    output row ``y`` can be nonzero: the sum skips the others (``tir.loop_guards`` turns
    each conjunct into bounds of the loop it restricts)."""
    N, C = shape_of(padded)[:2]
    c = te.reduce_axis((0, C // groups), name="c")
    channel = _group_channel(groups, C // groups, out_channels // groups)
    ky = te.reduce_axis((0, kernel[0]), name="ky")
    kx = te.reduce_axis((0, kernel[1]), name="kx")

    def tap(n, f, y, x):
        row, col, wy, wx = window(y, x, ky, kx)
        return padded[(n, channel(f, c), row) + (col if isinstance(col, tuple) else (col,))] * weight_at(f, c, wy, wx)
    shape = (N, out_channels, *out_hw)
    accum = te.compute(
        (N, out_channels, out_hw[0], accumulator_width(out_hw[1], padded.dtype)),
        lambda n, f, y, x: te.sum(tap(n, f, y, x), axis=[c, ky, kx],
                                  where=None if where is None else where(y, ky, kx)),
        name=f"{name}.accumulate", tag="conv2d_accum")
    if bias is None:
        return te.compute(shape, lambda n, f, y, x: accum[n, f, y, x], name=name, tag="conv2d")
    return te.compute(shape, lambda n, f, y, x: accum[n, f, y, x] + bias[f], name=name, tag="conv2d")


def _strided_window(stride, dilation):
    """The window of a convolution with ``stride`` and ``dilation``: tap ``(ky, kx)`` of
    output ``(y, x)`` reads input ``(y*sh + ky*dh, x*sw + kx*dw)`` with weight tap ``(ky, kx)``."""
    (sh, sw), (dh, dw) = stride, dilation
    return lambda y, x, ky, kx: (y * sh + ky * dh, x * sw + kx * dw, ky, kx)


def _phase_window(stride, dilation):
    """:func:`_strided_window` on an input split by column phase (:func:`_phase_split`):
    column ``x*sw + kx*dw`` is column ``x + (kx*dw) // sw`` of phase ``(kx*dw) % sw``,
    consecutive in ``x``."""
    (sh, sw), (dh, dw) = stride, dilation
    return lambda y, x, ky, kx: (y * sh + ky * dh, ((kx * dw) % sw, x + (kx * dw) // sw), ky, kx)


def _group_channel(groups, per_group, outputs_per_group):
    """``channel(f, c)``: the input channel that output channel ``f`` reads as its ``c``-th."""
    if groups == 1:
        return lambda f, c: c
    return lambda f, c: f // outputs_per_group * per_group + c


def _check_groups(op, groups, data, C, weight, C2, F):
    """``groups`` divides the ``C`` input channels and the ``F`` filters, and the weight
    has ``C / groups`` channels (``data``/``weight`` describe the operands for the message)."""
    if not isinstance(groups, int) or groups < 1 or C % groups or F % groups:
        raise ShapeError(f"{op}: groups must be a positive int dividing the {C} input channels of {data} and "
                         f"the {F} filters of {weight}, got {groups!r}")
    unit = "channels" if groups == 1 else f"channels per group ({groups} groups)"
    check_inner(op, data, C // groups, weight, C2, unit)


def _attrs(op, stride, padding, dilation):
    return pair(stride, "stride", op, 1), pair(padding, "padding", op, 0), pair(dilation, "dilation", op, 1)


# A strided convolution whose accumulator rows span at most this many 32-byte vectors
# reads its input split by column phase (_phase_split): each tap's input vector is then
# one contiguous load instead of ``stride`` loads and shuffles, for one more pass over
# the input. Measured (Zen 5, A/B, default blocks, 2 threads, torch 2.x alongside):
# 1x128x28x28 -> 256 3x3 s2 (14 columns) 0.47 -> 0.39 ms, 1x256x14x14 -> 512 (7)
# 1.02 -> 0.70 ms (torch ~0.55); with AVX-512 wider rows lost 4-22% (1x64x56x56 -> 128,
# 28 columns: 0.343 -> 0.358 ms; 8x32x112x112 -> 64: 3.6-3.9 -> 4.3-4.8 ms; the stem
# 0.58-0.65 -> 0.70-0.88), their strided loads (two loads and one two-source permute
# per vector) amortized over more accumulators, so they keep them (:func:`_reads_phases`).
PHASED_ROWS_MAX_VECTORS = 2


def _reads_phases(stride, acc_width, dtype):
    """Whether a forward convolution with column ``stride`` and accumulator rows of
    ``acc_width`` columns reads its input by column phase (see PHASED_ROWS_MAX_VECTORS).
    Below 512-bit vectors every strided row does: AVX2 has no two-source permute, a
    stride-2 vector takes two shuffles after its loads, and phases won at every width
    (Zen 5 in AVX2 mode, A/B: 1x64x56x56 -> 128 s2 0.83-0.87 -> 0.74-0.78 ms,
    8x32x112x112 -> 64 s2 7.0-7.4 -> 6.0-6.4, the stem 1.36-1.41 -> 1.28-1.32)."""
    if stride == 1:
        return False
    return vector_bits() < 512 or acc_width <= PHASED_ROWS_MAX_VECTORS * vector_lanes(dtype)


def conv2d(x, w, stride=1, padding=0, dilation=1, bias=None, groups=1):
    """Cross-correlation of ``x`` (N, C, H, W) with ``w`` (F, C/groups, KH, KW), zero
    ``padding``, optional ``bias`` (F,); returns (N, F, OH, OW) like PyTorch's conv2d.
    ``groups`` splits the channels into that many independent convolutions (each group of
    F/groups filters reads its C/groups input channels); groups = C is a depthwise one."""
    check_rank("conv2d", x, 4)
    check_rank("conv2d", w, 4)
    check_float("conv2d", *((x, w) if bias is None else (x, w, bias)))
    stride, padding, dilation = _attrs("conv2d", stride, padding, dilation)
    N, C, H, W = _const_dims("conv2d", x)
    F, C2, KH, KW = _const_dims("conv2d", w)
    _check_groups("conv2d", groups, f"input {x.name} {[N, C, H, W]}", C, f"weight {w.name} {[F, C2, KH, KW]}", C2, F)
    check_bias("conv2d", bias, F, "filters", w)
    out_hw = tuple(conv2d_output_size(s, k, st, p, d)
                   for s, k, st, p, d in zip((H, W), (KH, KW), stride, padding, dilation))
    if min(out_hw) < 1:
        raise ShapeError(f"conv2d: kernel {[KH, KW]} (dilation {list(dilation)}) does not fit input {x.name} "
                         f"{[N, C, H, W]} with padding {list(padding)}")
    if ((KH, KW, groups) == (1, 1, 1) and padding == (0, 0)) or _forward_as_product(N, C, F, out_hw, KH * KW, groups):
        return _product_conv2d(x, w, stride, padding, dilation, out_hw, bias)
    acc_width = accumulator_width(out_hw[1], x.dtype)
    weight_at = lambda f, c, ky, kx: w[f, c, ky, kx]  # noqa: E731
    sw, dw = stride[1], dilation[1]
    if not _reads_phases(sw, acc_width, x.dtype):
        padded = zero_pad(x, *padding, name="conv2d.pad",
                          extra_w=_extra_columns(W + 2 * padding[1], acc_width, KW, sw, dw))
        return _correlate("conv2d", padded, weight_at, F, (KH, KW), out_hw, _strided_window(stride, dilation), bias,
                          groups=groups)
    width = max(-(-(W + 2 * padding[1]) // sw), acc_width + (KW - 1) * dw // sw)
    phases = _phase_split(x, padding, sw, width, "conv2d.phases")
    return _correlate("conv2d", phases, weight_at, F, (KH, KW), out_hw, _phase_window(stride, dilation), bias,
                      groups=groups)


def _check_grad_out(op, grad_out, N, F, out_hw):
    check_rank(op, grad_out, 4)
    expected = (N, F, *out_hw)
    if tuple(shape_of(grad_out)) != expected:
        raise ShapeError(f"{op}: grad_out {grad_out.name} has shape {list(shape_of(grad_out))}; the forward "
                         f"output shape is {list(expected)}")


# The share of a data gradient's (output row, kernel row) pairs that read only the zero
# border of the output gradient above which its sum skips them (see conv2d_grad_input).
SKIPPED_ROWS_MIN_SHARE = 0.125


class _GradientTaps:
    """One axis (rows or columns) of a convolution's data gradient, phase by phase.

    The forward pass reads input position ``h`` for output ``y`` with kernel tap ``k``
    when ``y*s + k*d - p = h``. Writing ``h = rho + s*i`` (phase ``rho = h mod s``), the
    gradient at ``h`` sums output-gradient positions ``i + delta`` with tap ``k*d = rho +
    p - s*delta``: per phase a stride-1 correlation of the output gradient, whose
    offsets ``delta`` are the same few for every ``i``. Tap ``t`` of the sum reads offset
    ``delta = first + t*step`` (``step`` is the dilation at stride 1, else 1); with a
    stride, a phase has only some of the ``taps`` offsets (:meth:`conditions`).
    """

    def __init__(self, size, out_size, kernel, stride, padding, dilation):
        self.out_size, self.kernel = out_size, kernel
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.extent = -(-size // stride)            # positions per phase
        if stride == 1:
            self.first, self.taps, self.step = padding - dilation * (kernel - 1), kernel, dilation
        else:
            deltas = [(rho + padding - k * dilation) // stride for rho in range(stride) for k in range(kernel)
                      if (rho + padding - k * dilation) % stride == 0]
            self.first, self.taps, self.step = min(deltas), max(deltas) - min(deltas) + 1, 1

    @property
    def padded_size(self):
        """Positions of the shifted output gradient that the taps of every phase read."""
        return self.extent + (self.taps - 1) * self.step

    def kernel_tap(self, rho, t):
        """The kernel tap that tap ``t`` of phase ``rho`` multiplies by."""
        if self.stride == 1:
            return self.kernel - 1 - t
        return (rho + self.padding - self.stride * (self.first + t)) // self.dilation

    def conditions(self, rho, t):
        """Conjuncts under which tap ``t`` of phase ``rho`` is a kernel tap: bounds of
        ``t`` (``tir.loop_guards`` makes them the loop's), and with a dilation that the
        kernel tap is whole (a test)."""
        if self.stride == 1:
            return []
        s, p, reach = self.stride, self.padding, self.dilation * (self.kernel - 1)
        terms = [t <= (rho + p) // s - self.first, t >= -((reach - rho - p) // s) - self.first]
        if self.dilation > 1:
            terms.append((rho + p - s * (self.first + t)) % self.dilation == 0)
        return terms

    def border_share(self):
        """The share of (position, tap) pairs that read outside the output gradient."""
        empty = sum(not 0 <= i + t * self.step + self.first < self.out_size
                    for i in range(self.extent) for t in range(self.taps))
        return empty / (self.extent * self.taps)

    def inside(self, i, t):
        """Conjuncts under which tap ``t`` at position ``i`` (of its phase) reads inside."""
        return [i + t * self.step >= -self.first, i + t * self.step < self.out_size - self.first]


def conv2d_grad_input(grad_out, w, input_shape, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv2d with respect to its input, shape ``input_shape`` (N, C, H, W):
    per phase of the stride (input rows and columns by their remainder modulo it), a
    stride-1 correlation of ``grad_out`` (with a border of zeros) with the kernel taps
    that reach that phase, in/out swapped (with ``groups``, group by group: input
    channel ``c`` sums over its group's filters); see :class:`_GradientTaps`. The phases
    are rows of one correlation (tag ``conv2d``, rows ``phase * H/s + i``), which a last
    stage (tag ``conv_interleave``) interleaves. Without a stride that correlation is
    the gradient.

    Per phase only the taps that reach it are summed (bounds of the kernel loops), so a
    strided gradient does the forward pass's work, where correlating the gradient
    spread out with zeros did ``stride^2`` times as much: measured (2-core Xeon,
    AVX-512, ms, torch 2.14 in the same run) 1x64x56x56 <- 128 3x3 filters stride 2
    1.18 -> 0.43 (torch 0.40), 8x32x28x28 <- 64 0.64 -> 0.29 (0.30), a ResNet stem
    (1x3x224x224 <- 64 7x7 filters, stride 2, padding 3) 4.5 -> 1.5 (3.0).

    A small image under a large kernel spends most of a correlation on the border:
    LeNet's second layer (8x8 gradient rows, 5x5 kernel, 12 output rows) reads a border
    row in a third of its (row, kernel row) pairs. When that share is at least
    ``SKIPPED_ROWS_MIN_SHARE``, the sum carries the condition that the row holds
    gradient, which ``tir.loop_guards`` turns into bounds of the kernel-row loop (with
    one output row per accumulator block: :func:`conv2d_knobs`): 64x6x12x12 484 -> 370
    us, 64x1x28x28 311 -> 269 us. Below it the test would cost more than it saves."""
    check_rank("conv2d_grad_input", w, 4)
    check_float("conv2d_grad_input", grad_out, w)
    (sh, sw), (ph, pw), (dh, dw) = _attrs("conv2d_grad_input", stride, padding, dilation)
    N, C, H, W = input_shape
    F, C2, KH, KW = _const_dims("conv2d_grad_input", w)
    _check_groups("conv2d_grad_input", groups, f"input shape {list(input_shape)}", C,
                  f"weight {w.name} {[F, C2, KH, KW]}", C2, F)
    OH = conv2d_output_size(H, KH, sh, ph, dh)
    OW = conv2d_output_size(W, KW, sw, pw, dw)
    _check_grad_out("conv2d_grad_input", grad_out, N, F, (OH, OW))
    if ((KH, KW, ph, pw, groups) == (1, 1, 0, 0, 1)
            or _data_gradient_as_product(N, C, F, (OH, OW), (sh, sw), KH * KW, groups)):
        return _product_grad_input(grad_out, w, input_shape, (sh, sw), (ph, pw), (dh, dw))
    rows = _GradientTaps(H, OH, KH, sh, ph, dh)
    cols = _GradientTaps(W, OW, KW, sw, pw, dw)
    phases = sh * sw
    width = accumulator_width(cols.extent, grad_out.dtype) + (cols.taps - 1) * cols.step
    zero = te.const(0, grad_out.dtype)

    def shifted(n, f, r, v):
        """grad_out at (r + rows.first, v + cols.first), zero outside it."""
        y, x = r + rows.first, v + cols.first
        return te.if_then_else(te.all(y >= 0, x >= 0, y < OH, x < OW), grad_out[n, f, y, x], zero)
    padded = te.compute((N, F, rows.padded_size, width), shifted, name="conv2d_grad_input.pad", tag="conv_pad")

    def phase_of(y):
        """(row phase, column phase, row within the phase) of output row ``y``."""
        if phases == 1:
            return 0, 0, y
        return y // rows.extent // sw, y // rows.extent % sw, y % rows.extent

    def window(y, x, ty, tx):
        rho_h, rho_w, i = phase_of(y)
        return i + ty * rows.step, x + tx * cols.step, rows.kernel_tap(rho_h, ty), cols.kernel_tap(rho_w, tx)
    skip_border = rows.border_share() >= SKIPPED_ROWS_MIN_SHARE

    def where(y, ty, tx):
        rho_h, rho_w, i = phase_of(y)
        terms = rows.conditions(rho_h, ty) + cols.conditions(rho_w, tx) + (rows.inside(i, ty) if skip_border else [])
        return te.all(*terms)
    filters = _group_channel(groups, F // groups, C2)        # filter of input channel c's f-th

    def weight_at(c, f, ky, kx):
        return w[filters(c, f), c if groups == 1 else c % C2, ky, kx]
    uses_where = skip_border or phases > 1
    by_phase = _correlate("conv2d_grad_input" if phases == 1 else "conv2d_grad_input.phases", padded, weight_at, C,
                          (rows.taps, cols.taps), (phases * rows.extent, cols.extent), window,
                          where=where if uses_where else None, groups=groups)
    if phases == 1:
        return by_phase
    return te.compute(input_shape, lambda n, c, h, u: by_phase[
        n, c, ((h % sh) * sw + u % sw) * rows.extent + h // sh, u // sw],
        name="conv2d_grad_input", tag="conv_interleave", attrs={"stride": (sh, sw)})


def _column_phases(x, padding, stride, width, name):
    """``at(n, c, h, r, v)`` = padded ``x`` at row ``h``, column ``v * stride + r``.

    Splitting the columns of the padded input by their phase ``r`` modulo the column
    stride makes the columns a strided window reads consecutive. ``x`` itself serves
    when there is no padding, stride 1 and no column read past its edge; else the
    zero-padded input (tag ``conv_pad``, ``width * stride`` columns), read by phase
    through a stage of ``width`` columns rounded up to whole 32-byte vectors
    (:func:`vector_lanes`) when the stride is above 1. Both are vector loops: the
    padding a masked contiguous load, the phases a strided one (contiguous loads and
    a shuffle). One stage doing both read ``x`` by a guarded strided load, which only
    scalar code does: 1x256x56x56 at stride 2 (a depthwise weight gradient), 198 ->
    ~60 us, the whole gradient 250 -> 143 us (torch 2.14: 134).
    """
    N, C, H, W = shape_of(x)
    (ph, pw), sw = padding, stride
    if ph == 0 and pw == 0 and sw == 1 and width <= W:
        return lambda n, c, h, r, v: x[n, c, h, v]
    if sw == 1:
        padded = zero_pad(x, ph, pw, name=name, extra_w=max(0, width - (W + 2 * pw)))
        return lambda n, c, h, r, v: padded[n, c, h, v]
    phases = _phase_split(x, padding, sw, width, name)
    return lambda n, c, h, r, v: phases[n, c, h, r, v]


def _phase_split(x, padding, stride, width, name):
    """(N, C, padded rows, ``stride``, ``width`` rounded up to whole 32-byte vectors):
    ``[n, c, h, r, v]`` = the zero-padded ``x`` at row ``h``, column ``v * stride + r``;
    the zero padding (tag ``conv_pad``) then the phases (tag ``conv_pad``), both vector
    loops (see :func:`_column_phases`)."""
    N, C, H, W = shape_of(x)
    (ph, pw), sw = padding, stride
    lanes = vector_lanes(x.dtype)
    width = -(-width // lanes) * lanes
    padded = zero_pad(x, ph, pw, name=f"{name}.pad", extra_w=max(0, sw * width - (W + 2 * pw)))
    return te.compute((N, C, H + 2 * ph, sw, width), lambda n, c, h, r, v: padded[n, c, h, v * sw + r],
                      name=name, tag="conv_pad")


def conv2d_grad_weight(grad_out, x, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv2d with respect to its weight, shape ``weight_shape`` (F, C/groups, KH, KW).

    ``grad_w[f, c, ky, kx] = sum_{n, y, u} grad_out[n, f, y, u] * padded[n, c, y*sh + ky*dh, u*sw + kx*dw]``,
    computed in two stages so the sum over output columns runs on SIMD lanes: a partial
    sum per lane (tag ``conv2d_grad_weight_accum``), ``partial[f, c, ky, kx, l]`` over
    images, output rows and vectors of columns ``u = xo * lanes + l``, then the sum of
    the lanes (tag ``conv2d_grad_weight``). Output columns are zero-padded to a whole
    number of vectors, and the input is read through its column phases
    (:func:`_column_phases`), so both operands of the inner loop are contiguous in ``l``
    whatever the stride and dilation. With ``groups``, channel ``c`` of filter ``f`` is
    input channel ``g * C/groups + c`` of ``f``'s group ``g``.
    """
    check_rank("conv2d_grad_weight", x, 4)
    dtype = check_float("conv2d_grad_weight", grad_out, x)
    (sh, sw), padding, (dh, dw) = _attrs("conv2d_grad_weight", stride, padding, dilation)
    N, C, H, W = _const_dims("conv2d_grad_weight", x)
    F, C2, KH, KW = weight_shape
    _check_groups("conv2d_grad_weight", groups, f"input {x.name} {[N, C, H, W]}", C,
                  f"the weight shape {list(weight_shape)}", C2, F)
    OH = conv2d_output_size(H, KH, sh, padding[0], dh)
    OW = conv2d_output_size(W, KW, sw, padding[1], dw)
    _check_grad_out("conv2d_grad_weight", grad_out, N, F, (OH, OW))
    if (((KH, KW, groups) == (1, 1, 1) and padding == (0, 0))
            or _weight_gradient_as_product(N, C, F, (OH, OW), KH * KW, groups, dtype)):
        return _product_grad_weight(grad_out, x, weight_shape, (sh, sw), padding, (dh, dw), (OH, OW))
    lanes = min(vector_lanes(dtype, OW), OW)
    vectors = -(-OW // lanes)
    if vectors * lanes == OW:
        grad_at = grad_out
    else:
        zero = te.const(0, dtype)
        grad_at = te.compute((N, F, OH, vectors * lanes),
                             lambda n, f, y, u: te.if_then_else(u < OW, grad_out[n, f, y, u], zero),
                             name="conv2d_grad_weight.grad_pad", tag="conv_pad")
    # column u * sw + kx * dw of the padded input is column u + (kx * dw) // sw of phase (kx * dw) % sw
    width = max(-(-(W + 2 * padding[1]) // sw), vectors * lanes + (KW - 1) * dw // sw)
    x_at = _column_phases(x, padding, sw, width, "conv2d_grad_weight.phases")
    n = te.reduce_axis((0, N), name="n")
    y = te.reduce_axis((0, OH), name="y")
    xo = te.reduce_axis((0, vectors), name="xo")

    def x_tap(n, c, row, kx, u):
        if sw == 1:
            return x_at(n, c, row, 0, u + kx * dw)
        return x_at(n, c, row, (kx * dw) % sw, u + (kx * dw) // sw)
    channel = _group_channel(groups, C2, F // groups)
    partial = te.compute(
        (F, C2, KH, KW, lanes),
        lambda f, c, ky, kx, l: te.sum(
            grad_at[n, f, y, xo * lanes + l] * x_tap(n, channel(f, c), y * sh + ky * dh, kx, xo * lanes + l),
            axis=[n, y, xo]),
        name="conv2d_grad_weight.partial", tag="conv2d_grad_weight_accum")
    lane = te.reduce_axis((0, lanes), name="l")
    return te.compute((F, C2, KH, KW), lambda f, c, ky, kx: te.sum(partial[f, c, ky, kx, lane], axis=lane),
                      name="conv2d_grad_weight", tag="conv2d_grad_weight")
