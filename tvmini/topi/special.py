"""Special functions as te expressions: log-gamma, digamma, Hurwitz zeta (and through it
polygamma), erfc/erfcx/ndtr/log_ndtr, the modified Bessel functions i0/i1 (and their
exponentially scaled forms) and entr — PyTorch's ``torch.special`` — each a function of
float64 element expressions, so that an op is one elementwise compute; plus two
tensor-level definitions: :func:`inverse_error` (erfinv and ndtri) and
:func:`incomplete_gamma` (gammainc and gammaincc).

Kernels have no while loop, so every iteration count is fixed and chosen for float64
accuracy on the whole domain (the incomplete gamma function's only for a <= 200, see
:data:`GAMMA_TERMS`): lgamma and digamma shift the argument up to [10, 11) with
ten conditional steps (a select per step, no loop) before their asymptotic series;
zeta sums ten terms and twelve Euler–Maclaurin corrections (enough for any q > 0, as
cephes's zeta, which PyTorch's is); a negative non-integer q is brought back to positive
ones by ``ζ(s, q) = ζ(s, p) + (-1)^s (ζ(s, 1 - p) - ζ(s, 1 - q))``, p = q - floor(q)
(the terms of negative base are the sum over 1 - p .. -q). The smooth parts of erfcx, of
the Bessel functions and of erfinv are polynomials of ``special_coefficients``: erfinv
is a logarithm, a square root and a few polynomials, with no iteration.

Edges follow PyTorch: lgamma is +inf at poles and at ±inf; digamma is -inf at +0, +inf at
-0 and NaN at negative integers; zeta is inf at s = 1 and at non-positive integer q, NaN
for s < 1 and for a negative q with non-integer s.

Lowering does not share repeated subexpressions (a nested reuse would multiply the tree),
so the formulas reuse only leaves and small terms; the inverse functions keep their
logarithm a :data:`~.schedule.MATERIALIZED` loop nest.
"""
import math
from fractions import Fraction

from .. import te
from . import special_coefficients as tables
from .broadcast import broadcast_index, broadcast_shape
from .schedule import MATERIALIZED

__all__ = ["lgamma", "digamma", "zeta", "erfcx", "erfc", "ndtr", "log_ndtr", "i0e", "i1e", "i0", "i1", "entr",
           "inverse_error", "ERFINV_REGIONS", "incomplete_gamma", "GAMMA_TERMS"]

INF, NAN = math.inf, math.nan
#: lgamma and digamma move their argument up to [SHIFT, SHIFT + 1) before the asymptotic series
SHIFT = 10
#: B_2k / (2k (2k - 1)): Stirling's series of lgamma, in powers of 1/z² (times 1/z)
_STIRLING = tuple(float(Fraction(b) / (2 * k * (2 * k - 1))) for k, b in enumerate(
    ("1/6", "-1/30", "1/42", "-1/30", "5/66", "-691/2730", "7/6", "-3617/510"), start=1))
#: B_2k / 2k: the asymptotic series of digamma, in powers of 1/z²
_DIGAMMA = tuple(float(Fraction(b) / (2 * k)) for k, b in enumerate(
    ("1/6", "-1/30", "1/42", "-1/30", "5/66", "-691/2730", "7/6"), start=1))
_PSI_10 = 2.25175258906672110764                 # digamma(10), returned exactly there as PyTorch does
#: B_2k / (2k)!: the Euler–Maclaurin corrections of the Hurwitz zeta sum
_EULER_MACLAURIN = tuple(float(Fraction(b) / math.factorial(2 * k)) for k, b in enumerate(
    ("1/6", "-1/30", "1/42", "-1/30", "5/66", "-691/2730", "7/6", "-3617/510", "43867/798", "-174611/330",
     "854513/138", "-236364091/2730"), start=1))
ZETA_TERMS = 10
ERFCX_K = 3.75
#: erfinv's ratio to its argument by region: (table, variable, low, high), the variable w =
#: -log(1 - x²) or sqrt(w) mapped from [low, high] onto [-1, 1]; the last reaches erfc(z) =
#: 5e-324 (ndtri's smallest p)
ERFINV_REGIONS = (("ERFINV_CENTRAL", "w", 0.0, 6.25), ("ERFINV_MIDDLE", "s", 2.5, 4.0),
                  ("ERFINV_TAIL", "s", 4.0, 6.1), ("ERFINV_FAR", "s", 6.1, 27.5))


def _c(value):
    return te.const(value, "float64")


def _where(cond, a, b):
    return te.if_then_else(cond, a if isinstance(a, te.PrimExpr) else _c(a), b if isinstance(b, te.PrimExpr) else _c(b))


def _horner(coefficients, t):
    """Σ coefficients[k] t^k (lowest power first)."""
    result = _c(coefficients[-1])
    for a in reversed(coefficients[:-1]):
        result = result * t + a
    return result


def _shifts(y):
    """How many unit steps take ``y`` (> 0) up to [SHIFT, SHIFT + 1); 0 from SHIFT on."""
    return _where(y < SHIFT, te.ceil(SHIFT - y), 0)


def lgamma(x):
    """log|Γ(x)|: Stirling's series at z = x + m in [10, 11), less log(x (x+1) ... (x+m-1));
    the reflection ``log(π / |sin πx|) - lgamma(1 - x)`` below 0. The absolute error is
    about 1e-15 (relative near the roots at 1 and 2)."""
    y = _where(x < 0, 1 - x, x)
    m = _shifts(y)
    product = _c(1)
    for k in range(SHIFT):
        product = product * _where(m > k, y + k, 1)
    z = y + m
    positive = ((z - 0.5) * te.log(z) - z + 0.5 * math.log(2 * math.pi) + _horner(_STIRLING, 1 / (z * z)) / z
                - te.log(product))
    sin_pi_x = te.abs(te.sin(math.pi * (x - te.round(x))))         # x - round(x) is exact
    reflected = math.log(math.pi) - te.log(sin_pi_x) - positive
    return _where(te.isinf(x), INF, _where(x < 0, reflected, positive))


def digamma(x):
    """ψ(x) = Γ'(x)/Γ(x), PyTorch's algorithm with its loop unrolled: ``ψ(x + m) - Σ 1/(x+k)``
    with x + m in [10, 11) and the asymptotic series there; ``ψ(1 - x) - π / tan(π frac(x))``
    below 0."""
    y = _where(x < 0, 1 - x, x)
    m = _shifts(y)
    shifted = _c(0)
    for k in range(SHIFT):
        shifted = shifted + _where(m > k, 1 / (y + k), 0)
    z = y + m
    r = 1 / (z * z)
    series = _where(z < 1e17, r * _horner(_DIGAMMA, r), 0)
    positive = _where(z == SHIFT, _PSI_10, te.log(z) - 0.5 / z - series) - shifted
    reflected = positive - math.pi / te.tan(math.pi * (x - te.trunc(x)))
    value = _where(x < 0, _where(x == te.trunc(x), NAN, reflected), positive)
    return _where(x == 0, _where(1 / x < 0, INF, -INF), value)


def _zeta_positive(s, q):
    """ζ(s, q) for q > 0 and s > 1: ten terms, then the tail's integral and twelve
    Euler–Maclaurin corrections at w = q + 9 (cephes's sum, without its early exits)."""
    total = _c(0)
    for k in range(ZETA_TERMS):
        total = total + te.power(q + k, -s)
    w = q + (ZETA_TERMS - 1)
    last = te.power(w, -s)
    total = total + last * w / (s - 1) - 0.5 * last
    rising, scale = s, last / w             # s (s+1) ... (s+2k), w^(-s-2k-1)
    for k, coefficient in enumerate(_EULER_MACLAURIN):
        total = total + coefficient * rising * scale
        rising = rising * (s + (2 * k + 1)) * (s + (2 * k + 2))
        scale = scale / (w * w)
    return total


def zeta(s, q):
    """The Hurwitz zeta function Σ_k (q + k)^-s, with PyTorch's edges."""
    p = q - te.floor(q)
    sign = _where(te.fmod(s, _c(2)) == 0, 1, -1)
    negative = _zeta_positive(s, p) + sign * (_zeta_positive(s, 1 - p) - _zeta_positive(s, 1 - q))
    value = _where(q > 0, _zeta_positive(s, q),
                   _where(q == te.floor(q), INF, _where(s != te.floor(s), NAN, negative)))
    infinite_s = _where(q == 1, 1, _where(q < 1, INF, NAN))      # what PyTorch's early exits give
    return _where(s == 1, INF, _where(s < 1, NAN, _where(te.isinf(s), infinite_s, value)))


def _erfcx_positive(x, table=tables.ERFCX):
    """erfcx(x) = exp(x²) erfc(x) for x >= 0 (0 at inf): a polynomial in (x - K)/(x + K)."""
    value = _horner(table, (x - ERFCX_K) / (x + ERFCX_K)) / (1 + x)
    return _where(te.isinf(x), 0, value)


def erfcx(x):
    """The scaled complementary error function exp(x²) erfc(x); below 0
    ``2 exp(x²) - erfcx(-x)``, inf from -26.7 down (PyTorch's cut-offs)."""
    twice = 2 * te.exp(x * x)
    negative = _where(x < -26.7, INF, _where(x < -6.1, twice, twice - _erfcx_positive(-x)))
    return _where(x < 0, negative, _erfcx_positive(x))


def _exp_minus_square(a):
    """exp(-a²) for 0 <= a <= 30 without the rounding of a² magnified: a = h + l with h
    a multiple of 1/64 (h² exact), exp(-h²) exp(-(2h + l) l)."""
    h = te.floor(a * 64) / 64
    low = a - h
    return te.exp(-(h * h)) * te.exp(-(2 * h + low) * low)


def erfc(x, precise=True):
    """1 - erf(x) to full relative accuracy: ``exp(-x²) erfcx(|x|)`` (or 2 less that below
    0; a few ulp near 0 too, where it is about 1), 0 from |x| = 30 (it underflows). The
    product appears once in the expression (the sign only picks an offset and a factor):
    lowering repeats a repeated subexpression, and LLVM does not merge the vector exp
    calls, so a second use would compute both exps again. ``precise=False`` (float32
    outputs): the shorter erfcx table and one exp of the rounded -x² (its relative error,
    up to 900 x 1e-16, is far below float32's half ulp)."""
    a = te.min(te.abs(x), _c(30))
    if precise:
        tail = _exp_minus_square(a) * _erfcx_positive(a)
    else:
        tail = te.exp(-(a * a)) * _erfcx_positive(a, tables.ERFCX_32)
    negative = x < 0
    return _where(negative, 2, 0) + _where(negative, -1, 1) * tail


def ndtr(x):
    """The standard normal CDF Φ(x), as PyTorch computes it from erf and erfc."""
    t = x * math.sqrt(0.5)
    upper = 0.5 * erfc(te.abs(t))
    return _where(te.abs(t) < math.sqrt(0.5), 0.5 + 0.5 * te.erf(t), _where(x > 0, 1 - upper, upper))


def log_ndtr(x):
    """log Φ(x): ``log(erfcx(-t) / 2) - t²`` below -1 (no underflow), else ``log1p(-erfc(t) / 2)``."""
    t = x * math.sqrt(0.5)
    return _where(x < -1, te.log(erfcx(-t) / 2) - t * t, te.log1p(-erfc(t) / 2))


def i0e(x):
    """exp(-|x|) I0(x): a polynomial in x/4 - 1 up to 8, in 16/|x| - 1 (over sqrt|x|) beyond."""
    a = te.abs(x)
    return _where(a <= 8, _horner(tables.I0E_SMALL, a / 4 - 1), _horner(tables.I0E_LARGE, 16 / a - 1) / te.sqrt(a))


def i1e(x):
    """exp(-|x|) I1(x) (odd): as :func:`i0e`, the small table holding i1e(x)/x."""
    a = te.abs(x)
    magnitude = _where(a <= 8, a * _horner(tables.I1E_SMALL, a / 4 - 1),
                       _horner(tables.I1E_LARGE, 16 / a - 1) / te.sqrt(a))
    return _where(x < 0, -magnitude, magnitude)


def i0(x):
    """The modified Bessel function I0(x) = exp(|x|) i0e(x) (inf past ~713)."""
    return te.exp(te.abs(x)) * i0e(x)


def i1(x):
    """The modified Bessel function I1(x) = exp(|x|) i1e(x)."""
    return te.exp(te.abs(x)) * i1e(x)


def entr(x):
    """-x log x: 0 at 0, -inf below 0 (PyTorch's), NaN stays NaN."""
    return _where(x > 0, -x * te.log(x), _where(x == 0, 0, _where(x < 0, -INF, x)))


def inverse_error(name, shape, a, c, precise, reach, finish):
    """The z >= 0 with erf(z) = a(i) and erfc(z) = c(i) (a, c: functions of the index
    giving float64 expressions, a = 1 - c, either one exact: the other is rounded at most
    once) as ``a · R(w)``, ``w = -log(c (2 - c))`` (= -log(1 - a²), computed from the
    product so that no a² near 1 cancels): R, erfinv's ratio to its argument, is smooth
    in w near 0 and in sqrt(w) beyond, a polynomial in each region of
    :data:`ERFINV_REGIONS` (branch-free: every region reachable is computed, the right
    one selected). ``precise``: the tables to about 1e-16 relative (float64 outputs),
    else to about 1e-11, within half a float32 ulp once rounded; ``reach``: the largest w
    the inputs give (regions past it are not computed). w is a :data:`MATERIALIZED` stage:
    lowering does not share subexpressions, and LLVM does not merge the repeated vector
    logarithm calls. ``finish(i, z)`` gives the output element (signs, edges, the cast)."""
    w = te.compute(shape, lambda *i: -te.log(c(i) * (2 - c(i))), name=f"{name}_w", tag=MATERIALIZED)

    def body(*i):
        ratio = None
        for table, variable, low, high in reversed(ERFINV_REGIONS):
            if (low if variable == "w" else low * low) >= reach:
                continue
            v = w[i] if variable == "w" else te.sqrt(w[i])
            value = _horner(getattr(tables, table if precise else table + "_32"), (v - low) * (2 / (high - low)) - 1)
            ratio = value if ratio is None else _where(v < high, value, ratio)
        return finish(i, a(i) * ratio)
    return te.compute(shape, body, name=name, tag="elemwise")


#: fixed term counts of the incomplete gamma function's series and continued fraction:
#: relative error within ~3e-13 against scipy for a <= 200 and every x (the series needs
#: about sqrt(78 a) terms where x is near a); past a = 200 the terms no longer suffice there
GAMMA_TERMS = 128
#: terms per loop nest: the staged sums keep each expression shallow (codegen recurses per level)
_GAMMA_STAGE = 32


def _gamma_factor(a, x):
    """x^a e^-x / Γ(a), through logarithms (no overflow)."""
    return te.exp(a * te.log(x) - x - lgamma(a))


def _series_step(a, x, inner, first, last):
    """The series Σ_n x^n / ((a+1)...(a+n)) nested from term ``first`` down to ``last``:
    ``1 + x/(a+n) · inner`` for n = first, ..., last (``inner`` the rest, 1 at the start)."""
    for n in range(first, last - 1, -1):
        inner = 1 + inner * x / (a + n)
    return inner


def _fraction_step(a, x, tail, first, last):
    """Legendre's continued fraction of Q from depth ``first`` up to ``last``:
    ``k (k - a) / (x + 2k + 1 - a - tail)``."""
    for k in range(first, last - 1, -1):
        tail = k * (k - a) / (x + (2 * k + 1) - a - tail)
    return tail


def _incomplete_edges(a, x, value, lower):
    """PyTorch's edges of P (``lower``) or Q: NaN for a negative operand or a = x = 0; at
    a = 0 P is 1; at x = 0 P is 0; a = inf gives P = 0 (NaN with x = inf); x = inf gives P = 1."""
    one, zero = (1, 0) if lower else (0, 1)
    return _where((x < 0) | (a < 0), NAN, _where(a == 0, _where(x > 0, one, NAN), _where(
        x == 0, zero, _where(te.isinf(a), _where(te.isinf(x), NAN, zero), _where(te.isinf(x), one, value)))))


def incomplete_gamma(a, x, lower, out_dtype, name):
    """The regularized incomplete gamma function P(a, x) (``lower``) or Q(a, x) of float64
    tensors ``a`` and ``x`` (broadcasting), in ``out_dtype``: the series
    ``P = x^a e^-x / Γ(a+1) Σ_n x^n / ((a+1)...(a+n))`` where x <= 1 or x <= a, else
    Legendre's continued fraction ``Q = x^a e^-x / Γ(a) / (x + 1 - a - 1(1-a)/(x + 3 - a - ...))``,
    each with :data:`GAMMA_TERMS` terms summed innermost first in :data:`MATERIALIZED` loop
    nests of 32 (the other function is 1 less the one computed)."""
    shape = broadcast_shape(a.shape, x.shape, name)

    def operands(i):
        return a[broadcast_index(a, shape, i)], x[broadcast_index(x, shape, i)]

    def stage(previous, step, start, top, bottom):
        def body(*i):
            u, v = operands(i)
            return step(u, v, _c(start) if previous is None else previous[i], top, bottom)
        return body

    series = fraction = None
    for k, top in enumerate(range(GAMMA_TERMS, 0, -_GAMMA_STAGE)):
        bottom = max(top - _GAMMA_STAGE + 1, 1)
        series = te.compute(shape, stage(series, _series_step, 1, top, bottom), name=f"{name}_series{k}",
                            tag=MATERIALIZED)
        fraction = te.compute(shape, stage(fraction, _fraction_step, 0, top, bottom), name=f"{name}_fraction{k}",
                              tag=MATERIALIZED)

    def finish(*i):
        u, v = operands(i)
        factor = _gamma_factor(u, v)
        by_series = factor / u * series[i]
        by_fraction = factor / (v + 1 - u - fraction[i])
        use_fraction = (v > 1) & (v > u)
        value = (_where(use_fraction, 1 - by_fraction, by_series) if lower else
                 _where(use_fraction, by_fraction, 1 - by_series))
        return _incomplete_edges(u, v, value, lower).astype(out_dtype)
    return te.compute(shape, finish, name=name, tag="elemwise" if len(shape) == len(a.shape) else "broadcast")
