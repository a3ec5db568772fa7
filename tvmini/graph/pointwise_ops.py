"""Pointwise functions given by a formula and its derivative: activations (GELU, SiLU,
LeakyReLU, ELU, SELU, CELU, Threshold, Softplus, Hardtanh/ReLU6, Mish, LogSigmoid,
Softsign, Hardsigmoid, Hardswish, Tanhshrink, Softshrink, Hardshrink) and the math
functions beyond ``ops`` (erf, tan, atan, asin, acos, exp2, expm1, log2, log10, log1p,
rsqrt, reciprocal, the hyperbolic functions and their inverses, frac) and the rounding
functions (floor, ceil, round, trunc, sign).

Each entry of ``_FUNCTIONS`` is ``(f(v, *params), df/dv(v, *params))`` written with te
expressions, so the forward is one kernel and the gradient one more (``g * f'(x)``), and
the parameters (a slope, an alpha, a beta) are runtime scalars: a new value builds
nothing. Integer inputs compute in float32, as PyTorch's float functions do; the rounding
functions keep an integer tensor's dtype (and values), as PyTorch's. A derivative of
None marks a function that is flat almost everywhere (rounding, sign): its gradient is
zero, as PyTorch's, whatever the incoming gradient (an inf there gives 0, not NaN).
"""
import builtins
import math

import numpy as np

from .. import te
from ..errors import DTypeError, ShapeError
from ..topi.broadcast import elementwise
from . import ops
from .autograd import Function
from .dispatch import run

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715
#: SELU's constants (Klambauer et al. 2017), as PyTorch's
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
#: past this magnitude asinh/acosh use log(2|x|): x*x would overflow float32 at ~1.8e19
_LARGE = 1e8


def _where(cond, a, b):
    return te.if_then_else(cond, a, b)


def _gelu_tanh_derivative(v):
    t = te.tanh(_SQRT_2_OVER_PI * (v + _GELU_CUBIC * v * v * v))
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * v * v)


def _sign(v):
    one, zero = te.const(1, v.dtype), te.const(0, v.dtype)
    return _where(v > 0, one, _where(v < 0, zero - one, zero))     # NaN -> 0, as PyTorch's


def _asinh(v):
    """asinh(|v|) = log1p(|v| + v²/(1 + sqrt(1 + v²))) (exact near 0), signed; log(2|v|) far out."""
    a = te.abs(v)
    near = te.log1p(a + a * a / (1 + te.sqrt(1 + a * a)))
    mag = _where(a > _LARGE, te.log(a) + math.log(2), near)
    return _where(v < 0, -mag, mag)


def _acosh(v):
    """acosh(v) = log1p(t + sqrt(t·(v + 1))), t = v - 1 (exact near 1); log(2v) far out; NaN below 1."""
    t = v - 1
    return _where(v > _LARGE, te.log(v) + math.log(2), te.log1p(t + te.sqrt(t * (v + 1))))


def _inside(v, lo, hi, inside, outside=0):
    """``inside`` where lo < v < hi, else ``outside`` (a piecewise-linear derivative)."""
    return _where((v > lo) & (v < hi), inside, te.const(outside, v.dtype))


def _softplus(v):
    """log(1 + exp(v)) without overflow: max(v, 0) + log1p(exp(-|v|))."""
    return _where(v > 0, v, te.const(0, v.dtype)) + te.log1p(te.exp(-te.abs(v)))


def _elu(v, alpha):
    return _where(v > 0, v, alpha * te.expm1(v))


def _elu_derivative(v, alpha):
    return _where(v > 0, te.const(1, v.dtype), alpha * te.exp(v))


def _shrink(v, lambd, inside, outside):
    """``outside`` where |v| > lambd, else ``inside`` (the shrink functions)."""
    return _where((v > lambd) | (v < -lambd), outside, inside)


def _mish_derivative(v):
    t = te.tanh(_softplus(v))
    return t + v * te.sigmoid(v) * (1 - t * t)


#: name -> (value, derivative), each a function of the element and the scalar parameters
_FUNCTIONS = {
    "gelu": (lambda v: 0.5 * v * (1 + te.erf(v * math.sqrt(0.5))),
             lambda v: 0.5 * (1 + te.erf(v * math.sqrt(0.5))) + v * te.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)),
    "gelu_tanh": (lambda v: 0.5 * v * (1 + te.tanh(_SQRT_2_OVER_PI * (v + _GELU_CUBIC * v * v * v))),
                  _gelu_tanh_derivative),
    "silu": (lambda v: v * te.sigmoid(v),
             lambda v: te.sigmoid(v) * (1 + v * (1 - te.sigmoid(v)))),
    "leaky_relu": (lambda v, slope: _where(v > 0, v, v * slope),
                   lambda v, slope: _where(v > 0, te.const(1, v.dtype), slope)),
    "elu": (_elu, _elu_derivative),
    "selu": (lambda v: _SELU_SCALE * _elu(v, _SELU_ALPHA), lambda v: _SELU_SCALE * _elu_derivative(v, _SELU_ALPHA)),
    "celu": (lambda v, alpha: _where(v > 0, v, alpha * te.expm1(v / alpha)),
             lambda v, alpha: _where(v > 0, te.const(1, v.dtype), te.exp(v / alpha))),
    "threshold": (lambda v, threshold, value: _where(v > threshold, v, value),
                  lambda v, threshold, value: _where(v > threshold, te.const(1, v.dtype), te.const(0, v.dtype))),
    "tanhshrink": (lambda v: v - te.tanh(v), lambda v: te.tanh(v) * te.tanh(v)),
    "softshrink": (lambda v, lambd: _shrink(v, lambd, te.const(0, v.dtype), _where(v > 0, v - lambd, v + lambd)),
                   lambda v, lambd: _shrink(v, lambd, te.const(0, v.dtype), te.const(1, v.dtype))),
    "hardshrink": (lambda v, lambd: _shrink(v, lambd, te.const(0, v.dtype), v),
                   lambda v, lambd: _shrink(v, lambd, te.const(0, v.dtype), te.const(1, v.dtype))),
    "softplus": (lambda v, beta, threshold: _where(v * beta > threshold, v, te.log1p(te.exp(v * beta)) / beta),
                 lambda v, beta, threshold: _where(v * beta > threshold, te.const(1, v.dtype), te.sigmoid(v * beta))),
    "hardtanh": (lambda v, lo, hi: _where(v < lo, lo, _where(v > hi, hi, v)),
                 lambda v, lo, hi: _inside(v, lo, hi, te.const(1, v.dtype))),
    "mish": (lambda v: v * te.tanh(_softplus(v)), _mish_derivative),
    "logsigmoid": (lambda v: -_softplus(-v), lambda v: te.sigmoid(-v)),
    "softsign": (lambda v: v / (1 + te.abs(v)), lambda v: 1 / ((1 + te.abs(v)) * (1 + te.abs(v)))),
    "hardsigmoid": (lambda v: _where(v <= -3, te.const(0, v.dtype), _where(v >= 3, te.const(1, v.dtype), v / 6 + 0.5)),
                    lambda v: _inside(v, -3, 3, te.const(1 / 6, v.dtype))),
    "hardswish": (lambda v: _where(v <= -3, te.const(0, v.dtype), _where(v >= 3, v, v * (v + 3) / 6)),
                  lambda v: _where(v <= -3, te.const(0, v.dtype), _where(v < 3, v / 3 + 0.5, te.const(1, v.dtype)))),
    "erf": (te.erf, lambda v: (2 / math.sqrt(math.pi)) * te.exp(-v * v)),
    "tan": (te.tan, lambda v: 1 + te.tan(v) * te.tan(v)),
    "atan": (te.atan, lambda v: 1 / (1 + v * v)),
    "asin": (te.asin, lambda v: 1 / te.sqrt(1 - v * v)),
    "acos": (te.acos, lambda v: -1 / te.sqrt(1 - v * v)),
    "exp2": (te.exp2, lambda v: te.exp2(v) * math.log(2)),
    "expm1": (te.expm1, te.exp),
    "log2": (te.log2, lambda v: 1 / (v * math.log(2))),
    "log10": (te.log10, lambda v: 1 / (v * math.log(10))),
    "log1p": (te.log1p, lambda v: 1 / (1 + v)),
    "rsqrt": (te.rsqrt, lambda v: -0.5 * te.rsqrt(v) / v),
    "reciprocal": (lambda v: 1 / v, lambda v: -1 / (v * v)),
    "sinh": (lambda v: 0.5 * (te.expm1(v) - te.expm1(-v)), lambda v: 0.5 * (te.exp(v) + te.exp(-v))),
    "cosh": (lambda v: 0.5 * (te.exp(v) + te.exp(-v)), lambda v: 0.5 * (te.expm1(v) - te.expm1(-v))),
    "asinh": (_asinh, lambda v: 1 / te.sqrt(1 + v * v)),
    "acosh": (_acosh, lambda v: 1 / te.sqrt((v - 1) * (v + 1))),
    "atanh": (lambda v: 0.5 * te.log1p(2 * v / (1 - v)), lambda v: 1 / (1 - v * v)),
    "frac": (lambda v: v - te.trunc(v), lambda v: te.const(1, v.dtype)),
    "floor": (te.floor, None),
    "ceil": (te.ceil, None),
    "round": (te.round, None),           # to the nearest integer, ties to even (as PyTorch)
    "round_scaled": (lambda v, scale: te.round(v * scale) / scale, None),      # decimals > 0, scale 10**decimals
    "round_coarse": (lambda v, scale: te.round(v / scale) * scale, None),      # decimals < 0
    "trunc": (te.trunc, None),
    "sign": (_sign, None),
    "nan_to_num": (lambda v, nan, posinf, neginf: _where(v != v, nan, _where(v == math.inf, posinf, _where(
        v == -math.inf, neginf, v))), lambda v, *_: _where(te.isfinite(v), te.const(1, v.dtype), te.const(0, v.dtype))),
}


def _value_kernel(x, *params, function):
    value = _FUNCTIONS[function][0]
    return elementwise(function, [x], lambda v: value(v, *params))


def _gradient_kernel(x, g, *params, function):
    derivative = _FUNCTIONS[function][1]
    if derivative is None:
        return elementwise(f"{function}_grad", [x, g], lambda v, d: te.const(0, d.dtype))
    return elementwise(f"{function}_grad", [x, g], lambda v, d: d * derivative(v, *params))


class _Pointwise(Function):
    def forward(self, x):
        return run(self.function, _value_kernel, [x], self.params, (x.dtype,) * len(self.params),
                   (("function", self.function),))

    def backward(self, g):
        x, = self.inputs
        return (ops._kernel(f"{self.function}_grad", _gradient_kernel, x, g, scalars=self.params,
                            scalar_dtypes=(x.dtype,) * len(self.params), function=self.function),)


def _apply(function, x, *params):
    if not x.dtype.startswith("float"):
        x = ops.cast(x, "float32")
    params = tuple(ops.scalar_operand(function, p, x.dtype) for p in params)    # 10**400: a ValueOverflowError
    return _Pointwise.apply(x, function=function, params=params)


def gelu(x, approximate="none"):
    """``x * Phi(x)`` (Phi the standard normal CDF, through erf); ``approximate="tanh"``:
    PyTorch's tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise DTypeError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _apply("gelu" if approximate == "none" else "gelu_tanh", x)


def silu(x, inplace=False):
    """``x * sigmoid(x)`` (a.k.a. swish). ``inplace`` as in :func:`leaky_relu`."""
    return _apply("silu", x)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """``x`` where positive, else ``negative_slope * x``. ``inplace=True`` (PyTorch's) is
    accepted; the result is computed out of place, with the same values (``x`` itself
    keeps its own)."""
    return _apply("leaky_relu", x, negative_slope)


def elu(x, alpha=1.0, inplace=False):
    """``x`` where positive, else ``alpha * (exp(x) - 1)``. ``inplace`` as in
    :func:`leaky_relu`."""
    return _apply("elu", x, alpha)


def selu(x, inplace=False):
    """``scale * elu(x, alpha)`` with SELU's fixed alpha and scale. ``inplace`` as in
    :func:`leaky_relu`."""
    return _apply("selu", x)


def celu(x, alpha=1.0, inplace=False):
    """``x`` where positive, else ``alpha * (exp(x / alpha) - 1)``; ``alpha`` must not
    be 0. ``inplace`` as in :func:`leaky_relu`."""
    if alpha == 0:
        raise ShapeError("celu: alpha must not be 0 (it divides x)")
    return _apply("celu", x, alpha)


def threshold(x, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value``; the gradient passes where
    ``x > threshold``. ``inplace`` as in :func:`leaky_relu`."""
    return _apply("threshold", x, threshold, value)


def tanhshrink(x):
    """``x - tanh(x)``."""
    return _apply("tanhshrink", x)


def _lambd(op, lambd):
    if lambd < 0:
        raise ShapeError(f"{op}: lambd must be at least 0, got {lambd}")
    return lambd


def softshrink(x, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 between."""
    return _apply("softshrink", x, _lambd("softshrink", lambd))


def hardshrink(x, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return _apply("hardshrink", x, _lambd("hardshrink", lambd))


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""
    return _apply("softplus", x, beta, threshold)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """``x`` limited to ``[min_val, max_val]``; the gradient flows strictly inside
    (PyTorch's rule). ``inplace`` as in :func:`leaky_relu`."""
    if min_val > max_val:
        raise DTypeError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _apply("hardtanh", x, min_val, max_val)


def relu6(x, inplace=False):
    """``min(max(x, 0), 6)``: ``hardtanh(x, 0, 6)``."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x, inplace=False):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    return _apply("hardsigmoid", x)


def hardswish(x, inplace=False):
    """``x * relu6(x + 3) / 6`` (its gradient as PyTorch's: ``x / 3 + 0.5`` inside (-3, 3),
    0 below, 1 from 3 on)."""
    return _apply("hardswish", x)


def mish(x, inplace=False):
    """``x * tanh(softplus(x))`` (softplus computed without overflow)."""
    return _apply("mish", x)


def logsigmoid(x):
    """``log(sigmoid(x))`` computed stably as ``-softplus(-x)`` (no overflow, no log(0))."""
    return _apply("logsigmoid", x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return _apply("softsign", x)


def _math(function):
    def apply(x):
        return _apply(function, x)
    apply.__name__ = function
    apply.__doc__ = f"Elementwise {function} (its gradient is one fused kernel)."
    return apply


MATH = ("erf", "tan", "atan", "asin", "acos", "exp2", "expm1", "log2", "log10", "log1p", "rsqrt", "reciprocal",
        "sinh", "cosh", "asinh", "acosh", "atanh")
(erf, tan, atan, asin, acos, exp2, expm1, log2, log10, log1p, rsqrt, reciprocal, sinh, cosh, asinh, acosh,
 atanh) = (_math(f) for f in MATH)


def frac(x):
    """``x - trunc(x)`` (the fractional part, with ``x``'s sign), gradient 1; float
    tensors only, as PyTorch's."""
    if not x.dtype.startswith("float"):
        raise DTypeError(f"frac: needs a float tensor, got {x.dtype} of shape {x.shape}")
    return _apply("frac", x)


def _integral_as_is(function, x):
    """Whether rounding ``function`` leaves ``x`` as it is: an integer tensor (a bool one
    is refused, as PyTorch refuses it)."""
    if x.dtype == "bool":
        raise DTypeError(f"{function}: not supported on a bool tensor (shape {x.shape}); convert it with "
                         ".int() or .float() first")
    return not x.dtype.startswith("float")


def _rounding(function):
    def apply(x):
        return ops.clone(x) if _integral_as_is(function, x) else _apply(function, x)
    apply.__name__ = function
    apply.__doc__ = (f"Elementwise {function}, gradient zero (as PyTorch); an integer tensor comes back "
                     "unchanged (a copy), of its dtype.")
    return apply


floor, ceil, trunc = (_rounding(f) for f in ("floor", "ceil", "trunc"))


def round(x, decimals=0):  # noqa: A001  (torch's name)
    """To the nearest integer, ties to even, or to ``decimals`` decimal places (as
    PyTorch: ``round(x * 10**d) / 10**d``, or ``round(x / 10**-d) * 10**-d`` for a
    negative ``d``); gradient zero. An integer tensor comes back unchanged with
    ``decimals=0`` and is refused otherwise, as PyTorch refuses it."""
    if decimals == 0:
        return ops.clone(x) if _integral_as_is("round", x) else _apply("round", x)
    if not x.dtype.startswith("float"):
        raise DTypeError(f"round: decimals={decimals} needs a float tensor, got {x.dtype} of shape {x.shape}")
    return _apply("round_scaled" if decimals > 0 else "round_coarse", x, 10.0 ** builtins.abs(int(decimals)))


def sign(x):
    """-1, 0 or 1 as ``x`` is negative, zero (or NaN) or positive, in ``x``'s dtype (a bool
    tensor is its own sign); gradient zero. ``sgn`` is the same for real tensors."""
    return ops.clone(x) if x.dtype == "bool" else _Pointwise.apply(x, function="sign", params=())


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """``x`` with NaN replaced by ``nan`` and +-inf by ``posinf``/``neginf`` (default: the
    dtype's largest and smallest finite values), as PyTorch's; the gradient passes where
    ``x`` is finite. An integer or bool tensor comes back unchanged (a copy)."""
    if not x.dtype.startswith("float"):
        return ops.clone(x)
    top = float(np.finfo(x.dtype).max)
    return _apply("nan_to_num", x, nan, top if posinf is None else posinf, -top if neginf is None else neginf)
