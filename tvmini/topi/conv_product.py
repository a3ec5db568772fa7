"""Convolutions as matrix products, and when to take them.

A 1x1 convolution without padding, and larger kernels over small maps with many
channels (a ResNet's last stages), run faster as GEMMs than as direct correlations: the
forward is weights (F x C*KH*KW) times the packed windows of the input (im2col, packed
block by block by the GEMM); the data gradient is the transposed weights times the
output gradient, then each input pixel sums the window columns of the taps that reach
it (tag ``conv_col2im``); the weight gradient is one product over images and pixels.
The ``*_as_product`` rules say when, with the measurements they rest on; ``conv``
dispatches on them.
"""
from .. import te
from .conv_common import vector_lanes, zero_pad
from .nn import gemm_stages, shape_of


def _product_conv2d(x, w, stride, padding, dilation, out_hw, bias):
    """A convolution as a matrix product (tag ``gemm``): ``out[n] = w (F x C*KH*KW) @ the
    windows of x[n] (C*KH*KW x OH*OW)``, the windows (im2col) packed block by block by
    the GEMM, so it gets the GEMM's packed, register-blocked schedule; padding is a
    stage of its own (tag ``conv_pad``). A 1x1 kernel or a single image is a product per
    image (output (N, F, OH, OW)); larger kernels over several images are one product
    over all their pixels (F x N*OH*OW, a wider operand than an image's few dozen
    pixels: 8x512x7x7 -> 512 10.7 -> 8.8 ms against a product per image) whose planes
    a last stage (tag ``injective``) moves behind the images.

    A 1x1 kernel without padding always takes it: a direct convolution has one tap per
    input channel there, too little work per loaded vector to hide reading the input
    once per block of output channels: measured (2-core Xeon, AVX-512, default schedules, ms,
    direct -> product; torch 2.14 for scale) 1x256x56x56 -> 64 filters 0.95 -> 0.31
    (torch 0.59), 1x576x56x56 -> 64 1.45 -> 0.66 (0.83), 1x64x56x56 -> 256 0.47 -> 0.25
    (0.38), 1x512x28x28 -> 128 0.74 -> 0.49 (0.59), 8x64x28x28 -> 64 0.25 -> 0.15
    (0.26); stride 2, 1x256x56x56 -> 512 1.76 -> 0.54 (0.67), 32x64x14x14 -> 128 0.60
    -> 0.12 (0.15). Larger kernels take it over small maps (:func:`_forward_as_product`)."""
    N, C = shape_of(x)[:2]
    F, _, KH, KW = shape_of(w)
    (sh, sw), (dh, dw), (OH, OW) = stride, dilation, out_hw
    taps = KH * KW
    source = zero_pad(x, *padding, name="conv2d.pad")
    pixels = OH * OW
    weights = _weight_matrix(w, lambda f, k: (f, k), (F, C * taps), "conv2d.weights")
    bias_at = None if bias is None else lambda f, _: bias[f]
    if taps == 1 or N == 1:
        def window(n, k, p):
            t = k % taps
            return source[n[0], k // taps, p // OW * sh + t // KW * dh, p % OW * sw + t % KW * dw]
        return gemm_stages("conv2d", (N,), F, pixels, C * taps, lambda _, f, k: weights[f, k], window, x.dtype,
                           bias_at, columns=(OH, OW))

    # Several images: one product over all their pixels (a wider B, where each image's
    # own has a few dozen columns), then the images' planes moved in front of the filters.
    def image_window(_, k, j):
        t, p = k % taps, j % pixels
        return source[j // pixels, k // taps, p // OW * sh + t // KW * dh, p % OW * sw + t % KW * dw]
    product = gemm_stages("conv2d.product", (), F, N * pixels, C * taps, lambda _, f, k: weights[f, k], image_window,
                          x.dtype, bias_at, columns=(N, OH, OW))
    return te.compute((N, F, OH, OW), lambda n, f, y, u: product[f, n, y, u], name="conv2d", tag="injective")


def _weight_matrix(w, at, shape, name):
    """``w`` (F, C, KH, KW) as a matrix of ``shape`` whose element ``[i, j]`` is
    ``w[f, k // taps, ...]`` for ``(f, k) = at(i, j)`` (its (F x C*KH*KW) view, or that
    transposed), a stage of its own (tag ``gemm_operand``, inlined): a GPU GEMM then
    caches a (rows x steps) tile of the matrix in shared memory, where a read of the
    4-D weight through divisions would cache the whole weight."""
    _, _, KH, KW = shape_of(w)
    taps = KH * KW

    def value(i, j):
        f, k = at(i, j)
        return w[f, k // taps, k % taps // KW, k % KW]
    return te.compute(shape, value, name=name, tag="gemm_operand")


def _product_grad_input(grad_out, w, input_shape, stride, padding, dilation):
    """The data gradient as a matrix product then a sum of window columns: ``columns =
    w^T @ grad_out`` over all images' pixels (tag ``gemm``, (C*KH*KW) x (N*OH*OW): what
    each kernel tap of each output pixel sends back to its input pixel), and each input
    pixel sums the columns of the taps that reach it (tag ``conv_col2im``). A 1x1 kernel
    without padding needs no sum: ``w^T @ grad_out[n]`` per image, with stride 1 the
    gradient itself, with a larger one scattered to every ``stride``-th row and column
    (tag ``injective``) and zero between. Measured against the direct correlation
    (2-core Xeon, AVX-512, ms): 1x256x56x56 <- 64 filters 1.00 -> 0.26, 1x1024x14x14 <-
    256 0.65 -> 0.33; stride 2, 1x256x56x56 <- 512 4.6 -> 0.69, 32x64x14x14 <- 128 0.61
    -> 0.17. Used for those and for small maps (:func:`_data_gradient_as_product`)."""
    N, C, H, W = input_shape
    F, _, KH, KW = shape_of(w)
    (sh, sw), OW = stride, shape_of(grad_out)[3]
    weights = _weight_matrix(w, lambda i, f: (f, i), (C * KH * KW, F), "conv2d_grad_input.weights")
    if KH * KW > 1 or padding != (0, 0):
        return _column_sums(_image_columns(grad_out, weights, C * KH * KW), input_shape, (KH, KW), stride, padding,
                            dilation)
    product = gemm_stages("conv2d_grad_input" if stride == (1, 1) else "conv2d_grad_input.product", (N,), C,
                          shape_of(grad_out)[2] * OW, F, lambda _, c, f: weights[c, f],
                          lambda n, f, p: grad_out[n[0], f, p // OW, p % OW], grad_out.dtype,
                          columns=shape_of(grad_out)[2:])
    if stride == (1, 1):
        return product
    zero = te.const(0, grad_out.dtype)
    return te.compute(input_shape, lambda n, c, h, u: te.if_then_else(
        te.all(h % sh == 0, u % sw == 0), product[n, c, h // sh, u // sw], zero),
        name="conv2d_grad_input", tag="injective")


def _image_columns(grad_out, weights, rows):
    """``columns[i, n, y, x] = sum_f weights[i, f] * grad_out[n, f, y, x]``: one product
    (tag ``gemm``) over all images' pixels, ``rows`` = C*KH*KW rows."""
    N, F, OH, OW = shape_of(grad_out)
    pixels = OH * OW

    def g_at(_, f, j):
        p = j % pixels
        return grad_out[j // pixels, f, p // OW, p % OW]
    return gemm_stages("conv2d_grad_input.columns", (), rows, N * pixels, F, lambda _, i, f: weights[i, f], g_at,
                       grad_out.dtype, columns=(N, OH, OW))


def _column_sums(columns, input_shape, kernel, stride, padding, dilation):
    """``grad_x[n, c, h, u]``: the sum of the window columns (``columns[c*KH*KW + tap, n,
    y, x]``) of the taps that reach input pixel (h, u) (tag ``conv_col2im``)."""
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    OH, OW = shape_of(columns)[2:]
    ky = te.reduce_axis((0, KH), name="ky")
    kx = te.reduce_axis((0, KW), name="kx")

    def reaching(n, c, h, u):
        """Tap (ky, kx) reaches input (h, u) from output (row / sh, col / sw) when both divide."""
        row, col = h + ph - ky * dh, u + pw - kx * dw
        return te.sum(columns[c * KH * KW + ky * KW + kx, n, row // sh, col // sw], axis=[ky, kx],
                      where=te.all(row >= 0, col >= 0, row < OH * sh, col < OW * sw, row % sh == 0, col % sw == 0))
    return te.compute(input_shape, reaching, name="conv2d_grad_input", tag="conv_col2im")


# The most elements of the window columns (im2col) of a gradient as a product.
PRODUCT_PACK_MAX = 1 << 23


def _forward_as_product(N, C, F, out_hw, taps, groups):
    """Whether a convolution is faster as a matrix product (:func:`_product_conv2d`):
    with 256 or more filters and channels over at most 64 output pixels per image (a
    ResNet's last stage), where a direct convolution has one short vector per output
    row. Measured (Zen 5, 2 threads, 3x3 kernels, direct -> product, ms): 1x256x14x14 ->
    512 stride 2 0.62 -> 0.49 (torch ~0.55), 1x512x7x7 -> 512 1.16 -> 0.97 (~1.1-1.3),
    8x512x7x7 -> 512 10.7 -> 8.8, 8x256x7x7 -> 256 2.55 -> 2.13, 8x256x14x14 -> 512
    stride 2 6.5 -> 5.7; left direct: 8x128x7x7 -> 128 0.74 (0.92), 1x64x14x14
    -> 64 0.049 (0.10), 1x512x14x14 -> 512 3.5 (5.7), 64x16x7x7 -> 16 0.093 (0.28)."""
    pixels = out_hw[0] * out_hw[1]
    return (groups == 1 and min(C, F) >= 256 and pixels <= 64
            and N * pixels * C * taps <= PRODUCT_PACK_MAX)


def _data_gradient_as_product(N, C, F, out_hw, stride, taps, groups):
    """Whether a data gradient is faster as a product and a sum of window columns
    (:func:`_product_grad_input`) than as per-phase correlations: with 64 or more filters
    and channels, when output rows are under 8 columns, or strided with at most 16
    output pixels per channel (each phase's correlation then has short rows and few
    taps). Measured (Zen 5, 2 threads, 3x3 kernels, direct -> product, ms): 1x256x14x14
    <- 512 stride 2 1.28 -> 0.41 (torch ~0.54), 1x128x28x28 <- 256 stride 2 0.70 -> 0.39
    (~0.46), 1x256x28x28 <- 256 stride 2 1.37 -> 0.79, 1x64x56x56 <- 128 stride 2 0.46
    -> 0.41, 1x512x7x7 <- 512 1.25 -> 0.78, 8x128x7x7 <- 128 0.59 -> 0.48; left direct:
    1x512x14x14 <- 512 2.79 (3.19), 16x64x14x14 <- 64 0.72 (0.94), 64x16x7x7 <- 16 0.105
    (0.21), the ResNet stem 1.68 (2.20)."""
    pixels = N * out_hw[0] * out_hw[1]
    channels = min(C, F)
    if groups != 1 or channels < 64 or pixels * C * taps > PRODUCT_PACK_MAX:
        return False
    return out_hw[1] < 8 or (max(stride) > 1 and pixels <= 16 * channels)


def _weight_gradient_as_product(N, C, F, out_hw, taps, groups, dtype):
    """Whether a weight gradient is faster as a matrix product (:func:`_product_grad_weight`)
    than as per-lane correlations: its sum per weight, ``N*OH*OW`` products, is then one
    long reduction of a register-blocked GEMM instead of ``N*OH`` vector steps and a lane
    sum. It is when output rows are under one 32-byte vector (the lanes mostly idle), or
    with 64 or more filters and channels when rows are under two vectors or the pixels
    are at most 16 per channel. Measured (Zen 5, 2 threads, 3x3 kernels, direct ->
    product, ms): 1x256x14x14 -> 512 stride 2 5.4 -> 0.28 (torch ~2.3), 1x512x7x7 -> 512
    6.5 -> 0.55 (~6), 8x128x7x7 -> 128 3.5 -> 0.39, 1x128x28x28 -> 256 stride 2 0.76 ->
    0.28, 16x64x14x14 -> 64 1.39 -> 1.04, 1x64x56x56 -> 128 stride 2 0.46 -> 0.35,
    64x16x7x7 -> 16 0.42 -> 0.18; left direct: 4x64x28x28 -> 64 1.38 (1.63),
    1x64x56x56 -> 64 0.67 (0.84), 8x16x14x14 -> 16 0.048 (0.075), LeNet conv2 0.083
    (0.143), the ResNet stem 0.84 (1.0)."""
    lanes = vector_lanes(dtype)
    pixels = N * out_hw[0] * out_hw[1]
    if groups != 1 or pixels * C * taps > PRODUCT_PACK_MAX:
        return False
    channels = min(C, F)
    return out_hw[1] < lanes or (channels >= 64 and (out_hw[1] < 2 * lanes or pixels <= 16 * channels))


def _product_grad_weight(grad_out, x, weight_shape, stride, padding, dilation, out_hw):
    """The weight gradient as one matrix product (tag ``gemm``, output ``weight_shape``)
    over images and pixels: ``grad_out`` (F x N*OH*OW) times the input's windows
    (N*OH*OW x C*KH*KW, the packed operand of the product is that im2col matrix, block
    by block). ``grad_out`` is read through a stage of that matrix's shape (tag
    ``gemm_operand``, always inlined), so that a GPU's shared tile of it is a (rows x
    steps) window rather than whole images. Padding is a stage of its own (tag
    ``conv_pad``). Used for 1x1 kernels without padding (measured against the direct
    correlation, 2-core Xeon, AVX-512, ms: 1x256x56x56 -> 64 filters 1.22 -> 0.29,
    1x576x56x56 -> 64 2.98 -> 0.70, 8x64x28x28 -> 64 0.39 -> 0.24; stride 2,
    32x64x14x14 -> 128 1.95 -> 0.10) and for small output maps
    (:func:`_weight_gradient_as_product`)."""
    N = shape_of(x)[0]
    F, C, KH, KW = weight_shape
    (sh, sw), (dh, dw), (OH, OW) = stride, dilation, out_hw
    pixels, taps = OH * OW, KH * KW

    def g_at(f, k):
        p = k % pixels
        return grad_out[k // pixels, f, p // OW, p % OW]
    rows = te.compute((F, N * pixels), g_at, name="conv2d_grad_weight.rows", tag="gemm_operand")
    source = zero_pad(x, *padding, name="conv2d_grad_weight.pad")

    def x_at(_, k, j):
        p, t = k % pixels, j % taps
        return source[k // pixels, j // taps, p // OW * sh + t // KW * dh, p % OW * sw + t % KW * dw]
    return gemm_stages("conv2d_grad_weight", (), F, C * taps, N * pixels, lambda _, f, k: rows[f, k], x_at, x.dtype,
                       columns=(C, KH, KW))
