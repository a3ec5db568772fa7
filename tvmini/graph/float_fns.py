"""PyTorch's elementwise float functions that tvmini composes from its kernels:
``fmax``/``fmin`` (NaN-ignoring extremes), ``logaddexp2``, ``frexp``, ``nextafter``,
``positive`` and ``isreal``.

``frexp`` (two kernels: the exponent, then the input scaled by its inverse power of
two) and ``nextafter`` (one kernel) are ``topi.float_parts``: exact arithmetic on the
binary exponent, since tvmini's kernels cannot reinterpret a float's bits.
"""
import math

from ..errors import DTypeError
from ..topi import float_parts
from . import ops
from .autograd import Function
from .creation import ones, zeros_like
from .dispatch import run
from .logic_ops import where
from .select_ops import logaddexp
from .tensor import Tensor, add_methods, method_of

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
    if input.dtype not in ("float32", "float64"):
        raise DTypeError(f"{op}: only supports float32 and float64 tensors, got {input.dtype}")
    return input


def frexp(input):
    """``(mantissa, exponent)`` with ``input = mantissa * 2 ** exponent`` and
    ``0.5 <= |mantissa| < 1`` (zero, infinities and NaN: themselves and exponent 0); the
    exponent is int32. The mantissa's gradient is ``2 ** -exponent``, as PyTorch's."""
    x = _float_input("frexp", input)
    exponent = ops._kernel("frexp_exponent", float_parts.frexp_exponent, x)
    return _ScaledByPowerOfTwo.apply(x, -exponent), exponent


class _ScaledByPowerOfTwo(Function):
    """``x * 2 ** power`` (an integer tensor, not differentiated), exact; the gradient is
    the head's, scaled the same way."""
    nondiff = (1,)
    saved = ()

    def forward(self, x, power):
        return run("scale_by_power_of_two", float_parts.scale_by_power_of_two, [x, power])

    def backward(self, g):
        return _ScaledByPowerOfTwo.apply(g, self.inputs[1]), None


class _NextAfter(Function):
    """``nextafter`` of two tensors of one shape and dtype, with PyTorch's gradient: the
    head's to ``input`` (the result moves off it by one unit in the last place), zeros
    to ``other``."""
    saved = ()

    def forward(self, x, other):
        return run("nextafter", float_parts.nextafter, [x, other])

    def backward(self, g):
        return g, zeros_like(g)


def nextafter(input, other):
    """The next float after ``input`` towards ``other`` (``other`` where they are equal,
    NaN where either is), broadcasting; the operands promote to one float dtype first,
    as PyTorch's (float32 and float64 give float64). The gradient is PyTorch's: the
    head's to ``input``, zeros to ``other``."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"nextafter: takes a Tensor, got {type(input).__name__}")
    if not isinstance(other, Tensor):
        other = ops._as_tensor(float(other), input)
    x, other = ops.promote("nextafter", input, other)
    _float_input("nextafter", x)
    shape = ops.broadcast_shapes("nextafter", x.shape, other.shape)
    return _NextAfter.apply(ops.broadcast_to(x, shape), ops.broadcast_to(other, shape))


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
