"""What every convolution form shares (``conv``, ``conv_product``, ``pool``): attribute
pairs, output sizes, constant shapes, the vector width of an accumulator row, and zero
padding as a stage of its own (tag ``conv_pad``)."""
from .. import te
from ..codegen.llvm_target import vector_bits
from ..errors import ShapeError
from ..tir.dtype import bits
from .nn import shape_of


def pair(value, what, op, minimum):
    """``value`` (an int or a pair of ints) as a pair, each at least ``minimum``."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(isinstance(v, int) and v >= minimum for v in values):
        raise ShapeError(f"{op}: {what} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return values


def conv2d_output_size(size, kernel, stride, padding, dilation):
    """Output extent of a convolution/pooling window along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _const_dims(op, t):
    dims = shape_of(t)
    if not all(isinstance(d, int) for d in dims):
        raise ShapeError(f"{op}: {t.name} has symbolic shape {list(dims)}; convolutions need constant shapes")
    return dims


def vector_lanes(dtype, width=None):
    """Elements of ``dtype`` per accumulator vector of a convolution whose output rows
    have ``width`` columns: the host's full SIMD width when the row rounded up to full
    vectors spans at least two of them and wastes at most an eighth of its lanes, else
    32 bytes' worth (8 float32 or 4 float64). Measured on AVX-512 (Zen 5, A/B, 3x3
    padding-1 layers), 16 lanes against 8: 1x64x56x56 1.6-1.7x faster (forward 1.11 ->
    0.66 ms), 8x64x56x56 1.4-1.7x, 1x32x112x112 1.15-1.8x, 28-column rows (16x32x28x28,
    1x128x28x28) 1.15-1.65x, in all three kernels; LeNet's 24-column rows (a third of
    the lanes wasted) 5-12% slower, 14-column rows (no whole vector) 1.5-18x slower."""
    half = 32 * 8 // bits(dtype)
    full = vector_bits() // bits(dtype)
    if width is None or full <= half:
        return half
    padded = -(-width // full) * full
    return full if padded >= 2 * full and 8 * (padded - width) <= padded else half


def zero_pad(x, pad_h, pad_w, name, extra_w=0):
    """``x`` (N, C, H, W) with ``pad_h``/``pad_w`` zero rows/columns on each side and
    ``extra_w`` more zero columns on the right (or ``x`` when there is no padding)."""
    if pad_h == 0 and pad_w == 0 and extra_w == 0:
        return x
    N, C, H, W = shape_of(x)
    zero = te.const(0, x.dtype)

    def value(n, c, h, w):
        inside = te.all(h >= pad_h, h < H + pad_h, w >= pad_w, w < W + pad_w)
        return te.if_then_else(inside, x[n, c, h - pad_h, w - pad_w], zero)
    return te.compute((N, C, H + 2 * pad_h, W + 2 * pad_w + extra_w), value, name=name, tag="conv_pad")
