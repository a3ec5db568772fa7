"""PyTorch's elementwise float functions that tvmini composes from its kernels:
``fmax``/``fmin`` (NaN-ignoring extremes), ``logaddexp2``, ``frexp``, ``nextafter``,
``positive`` and ``isreal``.

``frexp`` finds the binary exponent from ``log2`` and corrects it by one where the
logarithm rounded across a power of two; powers of two come from ``exp2`` of integers,
which is exact in float64, so the mantissa is exact: float32 inputs are taken through
float64 (their subnormals included), and a float64 scale is applied in two halves so
that ``2 ** -e`` never overflows. ``nextafter`` steps ``x`` by the unit in the last
place that ``frexp``'s exponent gives (half of it below an exact power of two, the
smallest subnormal at the bottom of the range). tvmini's kernels cannot reinterpret a
float's bits, hence the arithmetic. ``tm.jit`` fuses these elementwise chains.
"""
import math

import numpy as np

from ..errors import DTypeError
from . import ops
from .autograd import Function, no_grad
from .creation import ones
from .logic_ops import where
from .select_ops import logaddexp
from .tensor import Tensor, add_methods, method_of

#: per float dtype: significand bits and the exponent of the smallest subnormal
_FORMAT = {"float32": (24, -149), "float64": (53, -1074)}


def _operands(op, input, other):
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise DTypeError(f"{op}: takes a Tensor operand, got {type(input).__name__} and {type(other).__name__}")


class _FExtreme(Function):
    """``fmax``/``fmin`` of two tensors of one shape and dtype. The gradient is PyTorch's
    (that of ``maximum``/``minimum``): a tie splits it evenly and an operand gets none
    only where it compares strictly worse, so both NaN operands of a pair get all of it."""

    def forward(self, a, b):
        a, b = Tensor._wrap(a), Tensor._wrap(b)
        better = a >= b if self.larger else a <= b
        return where(better | (b != b), a, b)._data

    def backward(self, g):
        a, b = self.inputs
        g = where(a == b, g * 0.5, g)
        worse_a, worse_b = (a < b, a > b) if self.larger else (a > b, a < b)
        return where(worse_a, 0.0, g), where(worse_b, 0.0, g)


def _extreme(op, input, other, larger):
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise DTypeError(f"{op}: takes two tensors, got {type(input).__name__} and {type(other).__name__}")
    a, b = ops.promote(op, input, other)
    shape = ops.broadcast_shapes(op, a.shape, b.shape)
    return _FExtreme.apply(ops.broadcast_to(a, shape), ops.broadcast_to(b, shape), larger=larger)


def fmax(input, other):
    """The larger of each pair, a NaN losing to a number (NaN only where both are)."""
    return _extreme("fmax", input, other, larger=True)


def fmin(input, other):
    """The smaller of each pair, a NaN losing to a number (NaN only where both are)."""
    return _extreme("fmin", input, other, larger=False)


def logaddexp2(input, other):
    """``log2(2 ** a + 2 ** b)`` without overflow (``logaddexp`` in base 2)."""
    _operands("logaddexp2", input, other)
    return logaddexp(input * math.log(2.0), other * math.log(2.0)) * (1.0 / math.log(2.0))


def _float_input(op, input):
    if not isinstance(input, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(input).__name__}")
    if input.dtype not in _FORMAT:
        raise DTypeError(f"{op}: only supports float32 and float64 tensors, got {input.dtype}")
    return input


def _exponent(x):
    """The float64 exponent ``e`` with ``|x| = m * 2**e``, ``0.5 <= m < 1``, for the float64
    tensor ``x`` (0 where ``x`` is zero, infinite or NaN), and the finite-nonzero mask."""
    magnitude = x.abs()
    regular = (magnitude != 0) & (magnitude != math.inf) & (x == x)
    safe = where(regular, magnitude, 1.0)
    guess = safe.log2().floor() + 1.0
    first, second = _power_of_two(-guess)
    scaled = safe * first * second
    guess = guess + ops.cast(scaled >= 1.0, "float64") - ops.cast(scaled < 0.5, "float64")
    return where(regular, guess, 0.0), regular


def _power_of_two(power):
    """``2 ** power`` for an integer-valued float64 ``power`` as two factors (exact: each
    a power of two float64 holds, where ``2 ** 1074`` itself would overflow)."""
    half = (power * 0.5).floor()
    return half.exp2(), (power - half).exp2()


def frexp(input):
    """``(mantissa, exponent)`` with ``input = mantissa * 2 ** exponent`` and
    ``0.5 <= |mantissa| < 1`` (zero, infinities and NaN: themselves and exponent 0); the
    exponent is int32. The mantissa's gradient is ``2 ** -exponent``, as PyTorch's."""
    x = _float_input("frexp", input)
    with no_grad():
        exponent, _ = _exponent(ops.cast(x, "float64"))
        first, second = _power_of_two(-exponent)
    mantissa = ops.cast(x, "float64") * first * second
    return (mantissa if x.dtype == "float64" else ops.cast(mantissa, x.dtype)), ops.cast(exponent, "int32")


def nextafter(input, other):
    """The next float after ``input`` towards ``other`` (``other`` where they are equal,
    NaN where either is). Not differentiable (as PyTorch's): the result records no
    history."""
    x = _float_input("nextafter", input)
    if not isinstance(other, Tensor):
        other = ops._as_tensor(float(other), x)
    ops.check_same("nextafter", x, other)
    digits, lowest = _FORMAT[x.dtype]
    with no_grad():
        shape = ops.broadcast_shapes("nextafter", x.shape, other.shape)
        x, other = ops.broadcast_to(x, shape), ops.broadcast_to(other, shape)
        x64, y64 = ops.cast(x, "float64"), ops.cast(other, "float64")
        exponent, regular = _exponent(x64)
        magnitude = x64.abs()
        first, second = _power_of_two(-exponent)
        at_power = regular & (magnitude * first * second == 0.5)
        grow = (y64 > x64) == (x64 > 0)
        step_exponent = exponent - digits - ops.cast(at_power & ~grow, "float64")
        step = ops.maximum(step_exponent, float(lowest)).exp2()
        moved = (magnitude + where(grow, step, -step)) * where(x64 < 0, -1.0, 1.0)
        largest = ops._as_tensor(float(np.finfo(x.dtype).max), x64)       # float64 constants: two Python
        moved = where(magnitude == math.inf, where(x64 > 0, largest, -largest), moved)    # floats would be float32
        tiny = ops._as_tensor(2.0 ** lowest, x64)
        moved = where(x64 == 0, where(y64 > 0, tiny, -tiny), moved)
        moved = where((x64 != x64) | (y64 != y64), math.nan, moved)
        return where(x == other, other, ops.cast(moved, x.dtype))


def positive(input):
    """``input`` itself (PyTorch's unary plus); refused for bool tensors, as PyTorch."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"positive: takes a Tensor, got {type(input).__name__}")
    if input.dtype == "bool":
        raise DTypeError("positive: the `+` operator on a bool tensor is not supported")
    return input


def isreal(input):
    """Whether each element is real: always True (tvmini has no complex dtypes)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"isreal: takes a Tensor, got {type(input).__name__}")
    return ones(*input.shape, dtype="bool", device=input.device)


add_methods({name: method_of(function) for name, function in
             (("fmax", fmax), ("fmin", fmin), ("logaddexp2", logaddexp2), ("frexp", frexp),
              ("nextafter", nextafter), ("positive", positive), ("isreal", isreal))})
