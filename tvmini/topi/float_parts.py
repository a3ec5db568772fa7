"""A float's binary exponent and its neighbours, elementwise: the kernels of PyTorch's
``frexp`` (``frexp_exponent``, then ``scale_by_power_of_two``) and ``nextafter``.

tvmini's kernels cannot reinterpret a float's bits, so the exponent is found with
arithmetic, exactly: ``floor(log2|x|) + 1`` corrected by one where the logarithm
rounded across a power of two (the test of the scaled value against ``[0.5, 1)`` is
exact). Every power of two is an ``exp2`` of an integer, which is exact in float64;
it is applied in two halves, so that ``2 ** 1074`` (a float64 subnormal's scale) never
overflows. float32 inputs are computed in float64 (their subnormals included) and the
result rounded back, which is exact: it is a float32 value. ``nextafter`` needs no
exponent: a step of a little over half a unit in the last place, taken from ``|x|`` by
one multiplication, rounds to the neighbour (see :func:`nextafter`).
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
    either is), for ``x`` and ``y`` of one shape and dtype.

    Computed in ``x``'s own dtype with four roundings and no transcendental (Rump,
    Zimmermann, Boldo and Melquiond's successor in rounding to nearest): with
    ``u = 2 ** -p`` (``p`` significand bits), ``d = fl(u (1 + 2u) |x|)`` lies strictly
    between half a unit in the last place of ``x`` and one and a half, so ``x + d`` and
    ``x - d`` round to the neighbours (at a power of two too, where the spacing below
    is half the one above), fused into one rounding or not. ``d`` must be a normal
    number: below ``2 ** (p + emin)`` the input is scaled by ``2 ** p`` first and the
    neighbour scaled back, both exact; at or below the smallest normal number the
    spacing is the smallest subnormal, added exactly (a zero result keeps ``x``'s sign,
    as IEEE's nextafter does). Infinities step to the largest
    finite value; ``x + d`` past the largest finite one rounds to infinity, as it should.
    """
    _check("nextafter", x, y)
    digits, lowest = FORMATS[x.dtype]
    info = np.finfo(x.dtype)
    dtype = x.dtype

    def c(value):
        return E.const(float(value), dtype)
    unit = 2.0 ** -digits
    phi, scale, tiny = c(unit * (1.0 + 2.0 * unit)), 2.0 ** digits, 2.0 ** lowest

    def next_value(*i):
        a, b = x[i], y[i]
        magnitude = te.abs(a)
        sign = te.if_then_else(b > a, c(1.0), c(-1.0))
        small = magnitude < c(float(info.tiny) * scale)
        scaled = te.if_then_else(small, a * c(scale), a)        # exact: a power of two
        stepped = scaled + sign * (phi * te.abs(scaled))
        moved = te.if_then_else(small, stepped * c(1.0 / scale), stepped)
        bottom = a + sign * c(tiny)                               # exact; -tiny + tiny is +0.0, not -0.0
        bottom = te.if_then_else(bottom == c(0.0), a * c(0.0), bottom)
        moved = te.if_then_else(magnitude <= c(info.tiny), bottom, moved)
        moved = te.if_then_else(te.isinf(a), te.if_then_else(a > c(0.0), c(info.max), c(-info.max)), moved)
        moved = te.if_then_else(te.isnan(a) | te.isnan(b), c(float("nan")), moved)
        return te.if_then_else(a == b, b, moved)
    return te.compute(x.shape, next_value, name="nextafter", tag="elemwise")
