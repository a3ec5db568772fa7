"""Binary elementwise operators with numpy broadcasting.

Every operand is a ``te.Tensor``, a Python scalar or a scalar ``te`` expression (a
``te.var`` learning rate, say). Shapes broadcast as in numpy: aligned on the right, an
extent of 1 stretches to the other operand's. The result dtype follows
``tvmini/tir/dtype.py`` (the expression operators apply it), comparisons give ``bool``.

Computes are tagged "elemwise" when every tensor operand has the output's shape (so the
schedule may fuse all axes into one contiguous loop) and "broadcast" otherwise.
"""
from .. import te
from ..errors import DTypeError, ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.arith import structural_key

__all__ = [
    "broadcast_shape", "add", "subtract", "multiply", "divide", "floor_divide", "floor_mod", "maximum", "minimum",
    "power",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "where",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "left_shift", "right_shift",
]


def _extent_str(e):
    return str(e.value) if isinstance(e, E.Const) else str(e)


def shape_str(shape):
    """``(2, n, 3)``: a shape as it appears in error messages."""
    shape = tuple(E.convert(s) for s in shape)
    return "(" + ", ".join(_extent_str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def is_one(extent):
    return isinstance(extent, E.Const) and extent.value == 1


def same_extent(a, b):
    """True when the extents are provably equal (equal constants or the same expression)."""
    a, b = E.convert(a), E.convert(b)
    if isinstance(a, E.Const) and isinstance(b, E.Const):
        return a.value == b.value
    return a is b or structural_key(a) == structural_key(b)


def broadcast_shape(s1, s2, op="broadcast"):
    """The numpy broadcast of shapes ``s1`` and ``s2`` (ints or te extents).

    Raises ShapeError naming both shapes when an axis pair is neither equal nor 1; two
    different symbolic extents are refused too (they cannot be proven equal).
    """
    s1 = tuple(E.convert(s) for s in s1)
    s2 = tuple(E.convert(s) for s in s2)
    n = max(len(s1), len(s2))
    p1 = (E.const(1),) * (n - len(s1)) + s1
    p2 = (E.const(1),) * (n - len(s2)) + s2
    out = []
    for axis, (a, b) in enumerate(zip(p1, p2)):
        if same_extent(a, b) or is_one(b):
            out.append(a)
        elif is_one(a):
            out.append(b)
        else:
            raise ShapeError(f"{op}: shapes {shape_str(s1)} and {shape_str(s2)} do not broadcast "
                             f"(axis {axis - n}: {_extent_str(a)} vs {_extent_str(b)})")
    return tuple(out)


def _is_scalar(x):
    return not isinstance(x, te.Tensor)


def _check_operand(x, op):
    if isinstance(x, te.Tensor) or isinstance(x, E.PrimExpr):
        return x
    if isinstance(x, (bool, int, float)) or hasattr(x, "dtype") and getattr(x, "shape", None) == ():
        return x
    raise TVMiniError(f"{op}: operands are te tensors or scalars, got {type(x).__name__} {x!r}")


def broadcast_index(tensor, out_shape, idx):
    """The element of ``tensor`` that output index ``idx`` (of ``out_shape``) reads."""
    offset = len(out_shape) - tensor.ndim
    return tuple(E.const(0) if is_one(ext) and not is_one(out_shape[offset + k]) else idx[offset + k]
                 for k, ext in enumerate(tensor.shape))


def _plain(tensors, out_shape):
    """Every tensor has exactly the output's shape (no broadcasting in the loads)."""
    return all(t.ndim == len(out_shape) and all(same_extent(a, b) for a, b in zip(t.shape, out_shape))
               for t in tensors)


def elementwise(op, operands, fn, name=None):
    """``fn(*values)`` over the broadcast of ``operands`` (tensors and scalars).

    ``fn`` receives one scalar expression per operand (a tensor's element or the scalar
    itself) and returns the output element.
    """
    operands = [_check_operand(x, op) for x in operands]
    tensors = [x for x in operands if not _is_scalar(x)]
    if not tensors:
        raise TVMiniError(f"{op}: at least one operand must be a te tensor, got scalars {operands!r}")
    shape = tensors[0].shape
    for t in tensors[1:]:
        shape = broadcast_shape(shape, t.shape, op)

    def body(*idx):
        values = [x if _is_scalar(x) else x[broadcast_index(x, shape, idx)] for x in operands]
        return fn(*values)

    tag = "elemwise" if _plain(tensors, shape) else "broadcast"
    if not shape:
        tag = "elemwise"
    return te.compute(shape, body, name=name or op, tag=tag)


def add(a, b):
    """``a + b`` with broadcasting."""
    return elementwise("add", [a, b], lambda x, y: x + y)


def subtract(a, b):
    """``a - b`` with broadcasting."""
    return elementwise("subtract", [a, b], lambda x, y: x - y)


def multiply(a, b):
    """``a * b`` with broadcasting."""
    return elementwise("multiply", [a, b], lambda x, y: x * y)


def divide(a, b):
    """True division ``a / b`` (integers give float32, as in tir.dtype)."""
    return elementwise("divide", [a, b], lambda x, y: x / y)


def floor_divide(a, b):
    """``a // b`` rounded toward negative infinity (Python's, numpy's and PyTorch's ``//``),
    with broadcasting; an integer division by zero gives 0, as numpy's does (lowering's
    ``tir.passes.guard_division`` makes every integer division safe)."""
    return elementwise("floor_divide", [a, b], lambda x, y: x // y)


def floor_mod(a, b):
    """``a % b`` with the sign of ``b`` (Python's, numpy's and PyTorch's ``%``), with
    broadcasting; an integer modulo by zero gives 0, as numpy's does."""
    return elementwise("floor_mod", [a, b], lambda x, y: x % y)


def maximum(a, b):
    """Elementwise maximum with broadcasting (a NaN operand gives NaN, as numpy's)."""
    return elementwise("maximum", [a, b], te.max)


def minimum(a, b):
    """Elementwise minimum with broadcasting (a NaN operand gives NaN, as numpy's)."""
    return elementwise("minimum", [a, b], te.min)


#: Exponent bits an integer power squares through: exact (wrapping as numpy's) below
#: 2**INT_POWER_BITS; the expression holds 2**INT_POWER_BITS - 1 products in all.
INT_POWER_BITS = 6


def _int_power(x, y):
    """``x ** y`` for integers by squaring, loop-free: the product over the bits k of
    ``y`` of ``x**(2**k)`` where the bit is set. Exact, wrapping like numpy's, for
    ``0 <= y < 2**INT_POWER_BITS``; above, exact for the bases -1, 0, 1 and the even
    ones (whose power wraps to 0) — other bases give 0 there, and a negative exponent
    gives 0 (numpy and PyTorch refuse it): callers check Python-number exponents."""
    dtype = (x + y).dtype
    x, y = (v.astype(dtype) if isinstance(v, E.PrimExpr) else te.const(v, dtype) for v in (x, y))
    one, zero = te.const(1, dtype), te.const(0, dtype)
    result, square = one, x
    for k in range(INT_POWER_BITS):
        bit = (y // te.const(2 ** k, dtype)) % te.const(2, dtype)
        result = result * te.if_then_else(bit == one, square, one)
        square = square * square
    odd = y % te.const(2, dtype) == one
    big = te.if_then_else(x == one, one, te.if_then_else(x == te.const(-1, dtype),
                                                         te.if_then_else(odd, x, one), zero))
    small = te.if_then_else(y < zero, zero, result)
    return te.if_then_else(y >= te.const(2 ** INT_POWER_BITS, dtype), big, small)


def power(a, b):
    """``a ** b`` with broadcasting (``b`` is often a scalar): in floating point, or
    exactly by squaring when both are integers (see :func:`_int_power` for its range)."""
    def pow_(x, y):
        return _int_power(x, y) if dt.is_int((x + y).dtype) else te.power(x, y)
    return elementwise("power", [a, b], pow_)


def equal(a, b):
    """``a == b`` -> bool."""
    return elementwise("equal", [a, b], lambda x, y: E.binary(E.EQ, x, y))


def not_equal(a, b):
    """``a != b`` -> bool."""
    return elementwise("not_equal", [a, b], lambda x, y: E.binary(E.NE, x, y))


def less(a, b):
    """``a < b`` -> bool."""
    return elementwise("less", [a, b], lambda x, y: E.binary(E.LT, x, y))


def less_equal(a, b):
    """``a <= b`` -> bool."""
    return elementwise("less_equal", [a, b], lambda x, y: E.binary(E.LE, x, y))


def greater(a, b):
    """``a > b`` -> bool."""
    return elementwise("greater", [a, b], lambda x, y: E.binary(E.GT, x, y))


def greater_equal(a, b):
    """``a >= b`` -> bool."""
    return elementwise("greater_equal", [a, b], lambda x, y: E.binary(E.GE, x, y))


def where(cond, a, b):
    """``a`` where the bool ``cond`` holds, else ``b``; all three broadcast together."""
    if isinstance(cond, te.Tensor) and cond.dtype != "bool":
        raise DTypeError(f"where: condition {cond.name} must be bool, got {cond.dtype}")
    return elementwise("where", [cond, a, b], te.if_then_else)


def bitwise_and(a, b):
    """``a & b`` with broadcasting: bitwise on integers, logical on bools."""
    return elementwise("bitwise_and", [a, b], lambda x, y: x & y)


def bitwise_or(a, b):
    """``a | b`` with broadcasting: bitwise on integers, logical on bools."""
    return elementwise("bitwise_or", [a, b], lambda x, y: x | y)


def bitwise_xor(a, b):
    """``a ^ b`` with broadcasting: bitwise on integers, logical on bools."""
    return elementwise("bitwise_xor", [a, b], lambda x, y: x ^ y)


def bitwise_not(a):
    """``~a``: bitwise on integers, logical on bools."""
    return elementwise("bitwise_not", [a], lambda x: ~x)


def left_shift(a, b):
    """``a << b`` of integers with broadcasting (0 for a count outside ``[0, width)``)."""
    return elementwise("left_shift", [a, b], lambda x, y: x << y)


def right_shift(a, b):
    """``a >> b`` of integers with broadcasting, arithmetic for signed ones (a count
    outside ``[0, width)`` gives 0, or -1 for a negative ``a``)."""
    return elementwise("right_shift", [a, b], lambda x, y: x >> y)
