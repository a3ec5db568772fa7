"""Pointwise functions given by a formula and its derivative: activations (GELU, SiLU,
LeakyReLU, ELU, Softplus) and the math functions beyond ``ops`` (erf, tan, atan, asin,
acos, exp2, expm1, log2, log10, log1p).

Each entry of ``_FUNCTIONS`` is ``(f(v, *params), df/dv(v, *params))`` written with te
expressions, so the forward is one kernel and the gradient one more (``g * f'(x)``), and
the parameters (a slope, an alpha, a beta) are runtime scalars: a new value builds
nothing. Integer inputs compute in float32, as PyTorch's float functions do.
"""
import math

from .. import te
from ..errors import DTypeError
from ..topi.broadcast import elementwise
from . import ops
from .autograd import Function
from .dispatch import run

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715


def _where(cond, a, b):
    return te.if_then_else(cond, a, b)


def _gelu_tanh_derivative(v):
    t = te.tanh(_SQRT_2_OVER_PI * (v + _GELU_CUBIC * v * v * v))
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * v * v)


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
    "elu": (lambda v, alpha: _where(v > 0, v, alpha * te.expm1(v)),
            lambda v, alpha: _where(v > 0, te.const(1, v.dtype), alpha * te.exp(v))),
    "softplus": (lambda v, beta, threshold: _where(v * beta > threshold, v, te.log1p(te.exp(v * beta)) / beta),
                 lambda v, beta, threshold: _where(v * beta > threshold, te.const(1, v.dtype), te.sigmoid(v * beta))),
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
}


def _value_kernel(x, *params, function):
    value = _FUNCTIONS[function][0]
    return elementwise(function, [x], lambda v: value(v, *params))


def _gradient_kernel(x, g, *params, function):
    derivative = _FUNCTIONS[function][1]
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
    if x.dtype == "bool" or not x.dtype.startswith("float"):
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


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""
    return _apply("softplus", x, beta, threshold)


def _math(function):
    def apply(x):
        return _apply(function, x)
    apply.__name__ = function
    apply.__doc__ = f"Elementwise {function} (its gradient is one fused kernel)."
    return apply


erf, tan, atan, asin, acos, exp2, expm1, log2, log10, log1p = (
    _math(f) for f in ("erf", "tan", "atan", "asin", "acos", "exp2", "expm1", "log2", "log10", "log1p"))
