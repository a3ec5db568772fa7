"""Unary elementwise operators and the fused gradient kernels of the unary ops.

Each function takes a ``te.Tensor`` and returns a tensor of the same shape, tagged
"elemwise" (one compute, so one loop nest after scheduling). The gradient kernels take
what is cheapest to have at backward time — the forward input ``x`` or the forward
output ``y`` — and the incoming gradient ``g``, and compute ``dL/dx`` in one pass
(``sigmoid_grad(y, g) = g * y * (1 - y)`` reads the saved output instead of recomputing
the exponential). They broadcast like the binary ops, though the graph layer normally
passes equal shapes.
"""
from .. import te
from ..errors import DTypeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import elementwise

__all__ = [
    "negative", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "cos", "sin", "square",
    "reciprocal", "cast", "scale_shift", "identity", "sign",
    "relu_grad", "sigmoid_grad", "tanh_grad", "exp_grad", "cos_grad", "sin_grad", "log_grad",
    "sqrt_grad", "abs_grad", "power_grad",
]


def _unary(name, fn):
    def op(x):
        _check_tensor(x, name)
        return te.compute(x.shape, lambda *i: fn(x[i]), name=name, tag="elemwise")
    op.__name__ = name
    return op


def _check_tensor(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__} {x!r}")


def _float(x):
    """Float intrinsics of an integer tensor compute in float32 (as te does)."""
    return x if dt.is_float(x.dtype) else x.astype("float32")


def _zero(x):
    return E.const(0, x.dtype)


negative = _unary("negative", lambda v: -v)
exp = _unary("exp", te.exp)
log = _unary("log", te.log)
sqrt = _unary("sqrt", te.sqrt)
abs = _unary("abs", te.abs)
relu = _unary("relu", lambda v: te.max(v, _zero(v)))
sigmoid = _unary("sigmoid", te.sigmoid)
tanh = _unary("tanh", te.tanh)
cos = _unary("cos", te.cos)
sin = _unary("sin", te.sin)
square = _unary("square", lambda v: v * v)
reciprocal = _unary("reciprocal", lambda v: E.const(1, _float(v).dtype) / v)
identity = _unary("identity", lambda v: v)
sign = _unary("sign", lambda v: te.if_then_else(v > _zero(v), E.const(1, v.dtype),
                                                te.if_then_else(v < _zero(v), E.const(-1, v.dtype), _zero(v))))
for _f in (negative, exp, log, sqrt, abs, relu, sigmoid, tanh, cos, sin, square, reciprocal, identity):
    _f.__doc__ = f"Elementwise {_f.__name__} (same shape; float intrinsics of integers give float32)."
del _f
sign.__doc__ = "Elementwise sign: -1, 0 or 1 in the input's dtype."


def cast(x, dtype):
    """``x`` converted to ``dtype`` (float -> int truncates toward zero, -> bool is ``!= 0``)."""
    _check_tensor(x, "cast")
    dtype = dt.canonical(dtype)
    if dtype == "bool":
        return te.compute(x.shape, lambda *i: x[i] != _zero(x[i]), name="cast", tag="elemwise")
    return te.compute(x.shape, lambda *i: x[i].astype(dtype), name="cast", tag="elemwise")


def scale_shift(x, a, b):
    """``a * x + b`` with scalars (Python numbers or scalar ``te.var``s) ``a`` and ``b``."""
    for what, v in (("a", a), ("b", b)):
        if isinstance(v, te.Tensor):
            raise DTypeError(f"scale_shift: {what} must be a scalar, got tensor {v.name}")
    return elementwise("scale_shift", [x], lambda v: a * v + b)


# ----------------------------------------------------------------------------- gradients

def relu_grad(x, g):
    """0 where ``x <= 0``, else ``g`` (PyTorch's threshold_backward: 0 at 0, ``g`` at a
    NaN). ``x`` may be relu's input or its output: they are positive (and NaN) at the
    same places."""
    return elementwise("relu_grad", [x, g], lambda v, d: te.if_then_else(v <= _zero(v), _zero(d), d))


def sigmoid_grad(y, g):
    """``g * y * (1 - y)`` from the sigmoid output ``y``."""
    return elementwise("sigmoid_grad", [y, g], lambda s, d: d * (s * (1 - s)))


def tanh_grad(y, g):
    """``g * (1 - y^2)`` from the tanh output ``y``."""
    return elementwise("tanh_grad", [y, g], lambda t, d: d * (1 - t * t))


def exp_grad(y, g):
    """``g * y`` from the exp output ``y``."""
    return elementwise("exp_grad", [y, g], lambda e, d: d * e)


def cos_grad(x, g):
    """``-sin(x) * g``."""
    return elementwise("cos_grad", [x, g], lambda v, d: -(te.sin(v) * d))


def sin_grad(x, g):
    """``cos(x) * g``."""
    return elementwise("sin_grad", [x, g], lambda v, d: te.cos(v) * d)


def log_grad(x, g):
    """``g / x``."""
    return elementwise("log_grad", [x, g], lambda v, d: d / v)


def sqrt_grad(y, g):
    """``g / (2 y)`` from the sqrt output ``y``."""
    return elementwise("sqrt_grad", [y, g], lambda r, d: d * 0.5 / r)


def abs_grad(x, g):
    """``g * sign(x)`` (0 at 0, as PyTorch)."""
    def fn(v, d):
        zero = _zero(d)
        return te.if_then_else(v > _zero(v), d, te.if_then_else(v < _zero(v), zero - d, zero))
    return elementwise("abs_grad", [x, g], fn)


def power_grad(x, g, p):
    """``g * p * x^(p-1)`` for a scalar exponent ``p`` (a number or a scalar te.var), and
    0 when ``p == 0`` (PyTorch's: ``x ** 0`` is flat, while ``0 * 0^-1`` is NaN at 0)."""
    if isinstance(p, te.Tensor):
        raise DTypeError(f"power_grad: the exponent must be a scalar, got tensor {p.name}")
    if isinstance(p, (int, float)):
        if p == 0:
            return elementwise("power_grad", [x, g], lambda v, d: _zero(d))
        if p == 2:
            return elementwise("power_grad", [x, g], lambda v, d: d * (2 * v))
        return elementwise("power_grad", [x, g], lambda v, d: d * (p * te.power(v, p - 1)))
    return elementwise("power_grad", [x, g],
                       lambda v, d: te.if_then_else(p == E.const(0, p.dtype), _zero(d), d * (p * te.power(v, p - 1))))
