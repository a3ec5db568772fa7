"""A float's binary exponent and its neighbours, elementwise: the kernels of PyTorch's
``frexp`` (``frexp_exponent``, then ``scale_by_power_of_two``) and ``nextafter``.

tvmini's kernels cannot reinterpret a float's bits, so the exponent is found with
arithmetic, exactly: ``floor(log2|x|) + 1`` corrected by one where the logarithm
rounded across a power of two (the test of the scaled value against ``[0.5, 1)`` is
exact). Every power of two is an ``exp2`` of an integer, which is exact in float64;
it is applied in two halves, so that ``2 ** 1074`` (a float64 subnormal's scale) never
overflows. float32 inputs are computed in float64 (their subnormals included) and the
result rounded back, which is exact: it is a float32 value. ``nextafter`` steps by the
unit in the last place the exponent gives (half of it below an exact power of two, the
smallest subnormal at the bottom of the range).
"""
import numpy as np

from .. import te
from ..errors import DTypeError
from ..tir import expr as E

__all__ = ["frexp_exponent", "scale_by_power_of_two", "nextafter"]

#: per float dtype: significand bits and the exponent of the smallest subnormal
FORMATS = {"float32": (24, -149), "float64": (53, -1074)}


def _check(op, *tensors):
    for t in tensors:
        if not isinstance(t, te.Tensor) or t.dtype not in FORMATS:
            raise DTypeError(f"{op}: expects float32 or float64 te tensors, got "
                             f"{t.dtype if isinstance(t, te.Tensor) else type(t).__name__}")


def _f64(value):
    return E.const(float(value), "float64")


def _times_power_of_two(x, power):
    """``x * 2 ** power`` (float64 expressions, ``power`` integer-valued), exactly."""
    half = te.floor(power * _f64(0.5))
    return x * te.exp2(half) * te.exp2(power - half)


def _exponent(x):
    """(float64 exponent ``e`` with ``|x| = m 2^e``, ``0.5 <= m < 1``, or 0 where ``x`` is 0,
    infinite or NaN; whether ``x`` is finite and non-zero; whether ``m`` is exactly 0.5,
    i.e. ``|x|`` a power of two) of a float64 expression. The guess from ``log2`` is off
    by at most one, so the scaled value is ``m``, ``2m`` or ``m / 2``, all exact."""
    magnitude = te.abs(x)
    regular = (magnitude != _f64(0.0)) & te.isfinite(x)
    safe = te.if_then_else(regular, magnitude, _f64(1.0))
    guess = te.floor(te.log2(safe)) + _f64(1.0)
    scaled = _times_power_of_two(safe, -guess)
    guess = guess + te.if_then_else(scaled >= _f64(1.0), _f64(1.0), _f64(0.0)) \
        - te.if_then_else(scaled < _f64(0.5), _f64(1.0), _f64(0.0))
    power = regular & ((scaled == _f64(0.5)) | (scaled == _f64(1.0)) | (scaled == _f64(0.25)))
    return te.if_then_else(regular, guess, _f64(0.0)), regular, power


def frexp_exponent(x):
    """The int32 exponent of ``frexp``: ``x = m * 2 ** e`` with ``0.5 <= |m| < 1`` (0 for
    zeros, infinities and NaN)."""
    _check("frexp_exponent", x)
    return te.compute(x.shape, lambda *i: _exponent(x[i].astype("float64"))[0].astype("int32"),
                      name="frexp_exponent", tag="elemwise")


def scale_by_power_of_two(x, power):
    """``x * 2 ** power`` for an integer ``power`` tensor of ``x``'s shape, exact where
    the result is a normal number (``frexp``'s mantissa is ``x`` scaled by ``-e``)."""
    _check("scale_by_power_of_two", x)
    return te.compute(x.shape, lambda *i: _times_power_of_two(x[i].astype("float64"), power[i].astype("float64"))
                      .astype(x.dtype), name="scale_by_power_of_two", tag="elemwise")


def nextafter(x, y):
    """The next float after ``x`` towards ``y`` (``y`` where they are equal, NaN where
    either is), for ``x`` and ``y`` of one shape and dtype."""
    _check("nextafter", x, y)
    digits, lowest = FORMATS[x.dtype]
    largest = float(np.finfo(x.dtype).max)

    def next_value(*i):
        a, b = x[i].astype("float64"), y[i].astype("float64")
        exponent, _, at_power = _exponent(a)
        magnitude = te.abs(a)
        up, positive = b > a, a > _f64(0.0)
        grow = (up & positive) | (~up & ~positive)          # away from zero
        shrink_more = at_power & ~grow
        step_exponent = te.max(exponent - _f64(digits) - te.if_then_else(shrink_more, _f64(1.0), _f64(0.0)),
                               _f64(lowest))
        step = te.exp2(step_exponent)
        moved = (magnitude + te.if_then_else(grow, step, -step)) * te.if_then_else(a < _f64(0.0), _f64(-1.0),
                                                                                  _f64(1.0))
        moved = te.if_then_else(te.isinf(a), te.if_then_else(a > _f64(0.0), _f64(largest), _f64(-largest)), moved)
        tiny = 2.0 ** lowest
        moved = te.if_then_else(a == _f64(0.0), te.if_then_else(b > _f64(0.0), _f64(tiny), _f64(-tiny)), moved)
        moved = te.if_then_else(te.isnan(a) | te.isnan(b), _f64(float("nan")), moved)
        return te.if_then_else(x[i] == y[i], y[i], moved.astype(x.dtype))
    return te.compute(x.shape, next_value, name="nextafter", tag="elemwise")
