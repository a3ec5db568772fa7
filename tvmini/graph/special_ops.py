"""PyTorch's special functions on tensors: ``lgamma``, ``digamma``, ``polygamma``,
``mvlgamma``, ``erfc``, ``erfcx``, ``erfinv``, ``ndtr``, ``ndtri``, ``log_ndtr``, ``i0``,
``i0e``, ``i1``, ``i1e``, ``entr`` and the two-operand ``zeta`` and ``xlog1py``, with
their gradients (``tm.special`` gives them ``torch.special``'s names).

Each is one kernel over ``topi.special``'s formulas, evaluated in float64 whatever the
tensor's float dtype (the result rounded back once, so float32 results are the correctly
rounded float64 ones), and its gradient one more: ``_UNARY`` and ``_BINARY`` hold
``(value, gradient)`` pairs, the gradient a function of the input(s), the output and the
incoming gradient, so that masked rules (xlog1py's, i1's at 0) are written as PyTorch
writes them. Integer inputs compute in float32, as PyTorch's. A gradient of None marks
an operand PyTorch does not differentiate (zeta's ``s``): backward raises there.
"""
import math

from .. import te
from ..errors import AutogradError, DTypeError, ShapeError
from ..topi import special as sp
from ..topi.broadcast import elementwise
from . import ops
from .autograd import Function
from .dispatch import run
from .math_methods import _in_place
from .operands import broadcast_shapes
from .tensor import Tensor, add_methods, method_of

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _where(cond, a, b):
    return te.if_then_else(cond, a, b if isinstance(b, te.PrimExpr) else te.const(b, a.dtype))


def _sign(v):
    return _where(v > 0, te.const(1, v.dtype), _where(v < 0, te.const(-1, v.dtype), 0))


def _mvlgamma(v, p):
    return sum((sp.lgamma(v - i / 2) for i in range(1, p)), sp.lgamma(v)) + p * (p - 1) / 4 * math.log(math.pi)


def _mvlgamma_grad(v, o, g, p):
    return g * sum((sp.digamma(v - i / 2) for i in range(1, p)), sp.digamma(v))


#: name -> (value(v, *static, *params), gradient(v, out, g, *static, *params)); v, out, g
#: float64; a gradient of None: one of _GRAPH_GRADIENTS
_UNARY = {
    "lgamma": (sp.lgamma, None),
    "digamma": (sp.digamma, None),
    # polygamma(n): factor ζ(s, v) with s = n + 1, factor = (-1)^(n+1) n!
    "polygamma": (lambda v, s, factor: factor * sp.zeta(s, v), None),
    "mvlgamma": (_mvlgamma, _mvlgamma_grad),
    "erfc": (sp.erfc, lambda v, o, g: g * (-2 / _SQRT_PI) * te.exp(-v * v)),
    "erfcx": (sp.erfcx, lambda v, o, g: g * (2 * v * o - 2 / _SQRT_PI)),
    "ndtr": (sp.ndtr, lambda v, o, g: g * te.exp(-0.5 * v * v) / _SQRT_2PI),
    "log_ndtr": (sp.log_ndtr, lambda v, o, g: g * te.exp(-0.5 * v * v - o) / _SQRT_2PI),
    "i0": (sp.i0, None),
    "i0e": (sp.i0e, lambda v, o, g: g * (sp.i1e(v) - _sign(v) * o)),
    "i1": (sp.i1, lambda v, o, g: g * _where(v == 0, te.const(0.5, v.dtype), sp.i0(v) - o / v)),
    "i1e": (sp.i1e, lambda v, o, g: g * _where(v == 0, te.const(0.5, v.dtype), sp.i0e(v) - o * (_sign(v) + 1 / v))),
    "entr": (sp.entr, lambda v, o, g: g * -(1 + te.log(v))),
    # value None: the kernel is a tensor-level definition of _INVERSES
    "erfinv": (None, lambda v, o, g: g * (_SQRT_PI / 2) * te.exp(o * o)),
    "ndtri": (None, lambda v, o, g: g * _SQRT_2PI * te.exp(0.5 * o * o)),
}


def _erfinv(x):
    """erfinv(v) = sign(v) · z, erf(z) = |v| (1 - |v| is exact from 1/2 up, and rounded
    at most once below, where the ratio's variable does not need it exact)."""
    def magnitude(i):
        return te.abs(_wide(x[i]))

    def finish(i, z):
        v = _wide(x[i])
        z = _where(te.abs(v) == 1, te.const(math.inf, "float64"), _where(te.abs(v) > 1, math.nan, z))
        return _where(v < 0, -z, z).astype(x.dtype)
    return sp.inverse_error("erfinv", x.shape, magnitude, lambda i: 1 - magnitude(i), x.dtype == "float64",
                            _ERFINV_REACH[x.dtype], finish)


def _ndtri(x):
    """Φ⁻¹(p) = ±√2 z: erf(z) = |2p - 1| and erfc(z) = 2p below 1/2, 2 (1 - p) above
    (each exact or rounded once)."""
    def p(i):
        return _wide(x[i])

    def finish(i, z):
        v = p(i)
        value = math.sqrt(2) * _where(v < 0.5, -z, z)
        return _where(v == 0, te.const(-math.inf, "float64"), _where(v == 1, math.inf, _where(
            (v < 0) | (v > 1), math.nan, value))).astype(x.dtype)
    return sp.inverse_error("ndtri", x.shape, lambda i: te.abs(2 * p(i) - 1),
                            lambda i: _where(p(i) < 0.5, 2 * p(i), 2 * (1 - p(i))), x.dtype == "float64",
                            _NDTRI_REACH[x.dtype], finish)


#: the largest w = -log(1 - a²) of erfinv's inputs below 1 in magnitude (a = 1 - 2^-24,
#: 1 - 2^-53), and of ndtri's (erfc(z) = 2p, p the smallest subnormal)
_ERFINV_REACH = {"float32": 16.0, "float64": 37.0}
_NDTRI_REACH = {"float32": 104.0, "float64": 745.0}
_INVERSES = {"erfinv": _erfinv, "ndtri": _ndtri}


def _wide(x):
    return x.astype("float64") if x.dtype != "float64" else x


def _widened(t, name):
    """Tensor ``t`` read as float64 (inlined into its readers)."""
    return t if t.dtype == "float64" else te.compute(t.shape, lambda *i: _wide(t[i]), name=name, tag="elemwise")


#: functions with a shorter form for outputs narrower than float64: value(v, precise=)
_PRECISION = {"erfc"}


def _unary_kernel(x, *params, function, static):
    value = _UNARY[function][0]
    if value is None:
        return _INVERSES[function](x)
    extra = {"precise": x.dtype == "float64"} if function in _PRECISION else {}
    return elementwise(function, [x], lambda v: value(_wide(v), *static, *(_wide(p) for p in params),
                                                      **extra).astype(x.dtype))


def _unary_grad_kernel(x, out, g, *params, function, static):
    gradient = _UNARY[function][1]
    return elementwise(f"{function}_grad", [x, out, g], lambda v, o, d: gradient(
        _wide(v), _wide(o), _wide(d), *static, *(_wide(p) for p in params)).astype(x.dtype))


#: the gradients that are other special functions: graph ops (x, g, params), so that they
#: share those ops' kernels and are differentiable again
_GRAPH_GRADIENTS = {
    "lgamma": lambda x, g, params: g * digamma(x),
    "digamma": lambda x, g, params: g * polygamma(1, x),
    "polygamma": lambda x, g, params: g * polygamma(int(params[0]), x),      # params[0] = n + 1
    "i0": lambda x, g, params: g * i1(x),
}


class _Unary(Function):
    def forward(self, x):
        self.out = run(self.function, _unary_kernel, [x], self.params, ("float64",) * len(self.params),
                       (("function", self.function), ("static", self.static)))
        return self.out

    def backward(self, g):
        x, = self.inputs
        if self.function in _GRAPH_GRADIENTS:
            return (_GRAPH_GRADIENTS[self.function](x, g, self.params),)
        return (ops._kernel(f"{self.function}_grad", _unary_grad_kernel, x, Tensor._wrap(self.out), g,
                            scalars=self.params, scalar_dtypes=("float64",) * len(self.params),
                            function=self.function, static=self.static),)


def _floating(op, x):
    if not isinstance(x, Tensor):
        raise DTypeError(f"{op}: expects a Tensor, got {type(x).__name__}")
    if x.dtype == "bool" or not x.dtype.startswith("float"):
        return ops.cast(x, "float32")
    return x


def _unary(function, x, *params, static=()):
    return _Unary.apply(_floating(function, x), function=function, params=tuple(float(p) for p in params),
                        static=static)


def _make(function, doc):
    def apply(input):
        return _unary(function, input)
    apply.__name__ = apply.__qualname__ = function
    apply.__doc__ = doc
    return apply


lgamma = _make("lgamma", "log|Γ(x)| (+inf at 0, the negative integers and ±inf); gradient digamma.")
digamma = _make("digamma", "ψ(x) = d/dx lgamma(x) (-inf at +0, NaN at negative integers); gradient polygamma(1, x).")
erfc = _make("erfc", "1 - erf(x), accurate in the upper tail too.")
erfcx = _make("erfcx", "exp(x²) · erfc(x) (finite where erfc underflows).")
erfinv = _make("erfinv", "The inverse of erf on [-1, 1] (±inf at ±1, NaN outside).")
ndtr = _make("ndtr", "The standard normal CDF Φ(x).")
ndtri = _make("ndtri", "Φ⁻¹(p), the standard normal quantile (±inf at 1 and 0, NaN outside [0, 1]).")
log_ndtr = _make("log_ndtr", "log Φ(x), without underflow far left.")
i0 = _make("i0", "The modified Bessel function of the first kind of order 0; gradient i1.")
i0e = _make("i0e", "exp(-|x|) · i0(x).")
i1 = _make("i1", "The modified Bessel function of the first kind of order 1.")
i1e = _make("i1e", "exp(-|x|) · i1(x).")
entr = _make("entr", "-x · log(x) elementwise: 0 at 0, -inf for negative x.")


def polygamma(n, input):
    """The n-th derivative of digamma (n >= 0 an int): ``(-1)^(n+1) n! ζ(n + 1, x)`` for
    n >= 1, digamma for n = 0."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise DTypeError(f"polygamma: n must be an int, got {type(n).__name__} {n!r}")
    if n < 0:
        raise ShapeError(f"polygamma: n must be non-negative, got {n}")
    if n == 0:
        return digamma(input)
    return _unary("polygamma", input, n + 1, (-1) ** (n + 1) * math.exp(math.lgamma(n + 1)))


def mvlgamma(input, p):
    """The multivariate log-gamma of dimension ``p``: ``Σ_{i<p} lgamma(x - i/2) + p(p-1)/4
    log π``; like PyTorch it refuses elements not above ``(p - 1) / 2`` (read on the host)."""
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise ShapeError(f"mvlgamma: p must be an int of at least 1, got {p!r}")
    x = _floating("mvlgamma", input)
    if x.numel() and not bool((x > (p - 1) / 2).all().item()):
        raise ShapeError(f"mvlgamma: all elements must be greater than (p-1)/2 = {(p - 1) / 2} (p={p})")
    return _Unary.apply(x, function="mvlgamma", params=(), static=(p,))


# ------------------------------------------------------------------------------ two operands

def _xlog1py(x, y):
    return _where((x == 0) & (y == y), 0, x * te.log1p(y))


def _xlog1py_grad_x(x, y, o, g):
    return _where((x == 0) & (y <= -1), 0, _xlog1py(g, y))


def _gamma_density(a, x, o, g):
    """d/dx P(a, x) = x^(a-1) e^-x / Γ(a), times g."""
    return g * te.exp((a - 1) * te.log(x) - x - sp.lgamma(a))


#: name -> (value(a, b), (gradient of a, gradient of b)), each gradient f(a, b, out, g) or None
_BINARY = {
    "zeta": (sp.zeta, (None, lambda s, q, o, g: -g * s * sp.zeta(s + 1, q))),
    "xlog1py": (_xlog1py, (_xlog1py_grad_x, lambda x, y, o, g: g * x / (y + 1))),
    # values None: tensor-level definitions (topi.special.incomplete_gamma)
    "gammainc": (None, (None, _gamma_density)),
    "gammaincc": (None, (None, lambda a, x, o, g: -_gamma_density(a, x, o, g))),
}


def _binary_kernel(a, b, *, function):
    value = _BINARY[function][0]
    if value is None:
        return sp.incomplete_gamma(_widened(a, f"{function}_a"), _widened(b, f"{function}_x"), function == "gammainc",
                                   a.dtype, function)
    return elementwise(function, [a, b], lambda u, v: value(_wide(u), _wide(v)).astype(a.dtype))


def _binary_grad_kernel(a, b, out, g, *, function, which):
    gradient = _BINARY[function][1][which]
    return elementwise(f"{function}_grad{which}", [a, b, out, g], lambda u, v, o, d: gradient(
        _wide(u), _wide(v), _wide(o), _wide(d)).astype(a.dtype))


class _Binary(Function):
    def forward(self, a, b):
        self.out = run(self.function, _binary_kernel, [a, b], attrs=(("function", self.function),))
        return self.out

    def backward(self, g):
        grads = []
        for which, t in enumerate(self.inputs):
            if not t.requires_grad:
                grads.append(None)
                continue
            if _BINARY[self.function][1][which] is None:
                raise AutogradError(f"{self.function}: the derivative with respect to argument {which} is not "
                                    "implemented (nor is it in PyTorch); detach() it")
            grad = ops._kernel(f"{self.function}_grad{which}", _binary_grad_kernel, *self.inputs,
                               Tensor._wrap(self.out), g, function=self.function, which=which)
            grads.append(ops.sum_to(grad, t.shape))
        return tuple(grads)


def _binary(function, input, other):
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise DTypeError(f"{function}: at least one of input and other must be a Tensor")
    a = input if isinstance(input, Tensor) else ops._as_tensor(input, other)
    b = other if isinstance(other, Tensor) else ops._as_tensor(other, input)
    a, b = ops.promote(function, _floating(function, a), _floating(function, b))
    broadcast_shapes(function, a.shape, b.shape)
    return _Binary.apply(a, b, function=function)


def zeta(input, other):
    """The Hurwitz zeta function ζ(x, q) = Σ_k (q + k)^-x (broadcasting; either may be a
    number); gradient with respect to q only, as PyTorch's."""
    return _binary("zeta", input, other)


def gammainc(input, other):
    """The regularized lower incomplete gamma function P(a, x) (``torch.special.gammainc``,
    ``torch.igamma``); gradient with respect to x only, as PyTorch's. Accurate to ~1e-12
    for a up to 200 (see ``topi.special.GAMMA_TERMS``)."""
    return _binary("gammainc", input, other)


def gammaincc(input, other):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), accurate
    where it is small too (``torch.special.gammaincc``, ``torch.igammac``)."""
    return _binary("gammaincc", input, other)


def xlog1py(input, other):
    """``x · log1p(y)``, 0 where x is 0 (unless y is NaN), with PyTorch's gradients."""
    return _binary("xlog1py", input, other)


#: the Tensor methods PyTorch has, each with its in-place ``_`` variant
METHODS = {name: globals()[name] for name in ("lgamma", "digamma", "erfinv", "erfc", "i0", "xlog1py")}
METHODS.update(polygamma=lambda self, n: polygamma(n, self), mvlgamma=mvlgamma, igamma=gammainc, igammac=gammaincc)
add_methods({name: method_of(fn) for name, fn in METHODS.items()})
add_methods({f"{name}_": _in_place(fn, f"{name}_") for name, fn in METHODS.items()})
