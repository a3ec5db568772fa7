"""Broadcasting elementwise ops of two or three tensors given by a formula and its partial
derivatives: ``atan2``, ``hypot``, ``fmod``, ``lerp``, ``addcmul``, ``addcdiv`` (and the
gradient-free ``heaviside`` and ``isclose``), plus the PyTorch spellings ``remainder``
and ``logical_and/or/xor/not`` of ops that exist already.

Each entry of ``_FORMULAS`` is ``(f(*values, *params), partials)`` written with te
expressions: the forward is one broadcasting kernel, and operand ``i``'s gradient one more,
``g * partials[i](*values, *params)`` over the broadcast shape, summed back to the
operand's shape by ``ops.sum_to`` (the one place that does so). A partial of ``_PASS``
means the gradient is ``g`` itself (no kernel runs). Python numbers (a divisor, a lerp
weight, addcmul's ``value``) are runtime scalar parameters, as in ``pointwise_ops``: a
new value builds nothing.
"""
import math

from .. import te
from ..errors import AutogradError, DTypeError
from ..topi.broadcast import elementwise
from . import ops
from .autograd import Function
from .dispatch import run
from .operands import broadcast_shapes, check_same
from .tensor import Tensor

_PASS = "g"
#: the partials of a bool-valued formula: none (its result never requires grad); None
#: instead marks a float one whose derivative is not implemented (heaviside's, as PyTorch)
_BOOL = ()


def _where(cond, a, b):
    return te.if_then_else(cond, a, b)


def _signbit(v):
    """Whether ``v`` has its sign bit set (-0.0 too: 1 / -0.0 is -inf)."""
    return (v < 0) | (te.const(1, v.dtype) / v < 0)


def _atan2(y, x):
    """The angle of (x, y) in [-pi, pi], as C's atan2: the quadrant from both signs (signed
    zeros included: atan2(+0, -0) = pi, atan2(-0, -0) = -pi), two infinities at ±pi/4
    or ±3pi/4, NaN in gives NaN."""
    one = te.const(1, y.dtype)
    both_inf = te.isinf(x) & te.isinf(y)
    ratio = _where(both_inf, _where(_signbit(x) != _signbit(y), -one, one), y / x)
    base = _where((x == 0) & (y == 0), y, te.atan(ratio))
    return _where(_signbit(x), base + _where(_signbit(y), te.const(-math.pi, y.dtype), math.pi), base)


def _hypot(a, b):
    """sqrt(a² + b²) without overflow or underflow on the way (the larger magnitude
    factored out); inf if either is infinite, even beside a NaN (C's hypot)."""
    a, b = te.abs(a), te.abs(b)
    big, small = _where(a > b, a, b), _where(a > b, b, a)
    ratio = _where(big == 0, small, small / big)
    return _where(te.isinf(a) | te.isinf(b), te.const(math.inf, a.dtype), big * te.sqrt(1 + ratio * ratio))


def _lerp(start, end, weight):
    """PyTorch's two-sided formula: exact at both ends (weight 0 gives start, 1 gives end)."""
    return _where(te.abs(weight) < 0.5, start + weight * (end - start), end - (end - start) * (1 - weight))


def _isclose(a, b, rtol, atol, equal_nan):
    """PyTorch's: equal (infinities included), both NaN if ``equal_nan``, or a finite
    difference within ``atol + |rtol * b|``; integers compare in float64."""
    if not a.dtype.startswith("float"):
        a, b = a.astype("float64"), b.astype("float64")
    error = te.abs(a - b)
    close = (a == b) | (te.isfinite(error) & (error <= atol + te.abs(rtol * b)))
    return close | (te.isnan(a) & te.isnan(b)) if equal_nan else close


#: name -> (value, partial derivative per tensor operand), functions of the elements and params
_FORMULAS = {
    "atan2": (_atan2, (lambda y, x: x / (x * x + y * y), lambda y, x: -y / (x * x + y * y))),
    "hypot": (_hypot, (lambda a, b: a / _hypot(a, b), lambda a, b: b / _hypot(a, b))),
    "fmod": (te.fmod, (_PASS, lambda a, b: -te.trunc(a / b))),
    "fmod_scalar": (te.fmod, (_PASS,)),
    "lerp": (_lerp, (lambda s, e, w: 1 - w, lambda s, e, w: w, lambda s, e, w: e - s)),
    "lerp_scalar": (_lerp, (lambda s, e, w: 1 - w, lambda s, e, w: w)),
    "addcmul": (lambda x, a, b, value: x + value * a * b,
                (_PASS, lambda x, a, b, value: value * b, lambda x, a, b, value: value * a)),
    "addcdiv": (lambda x, a, b, value: x + value * a / b,
                (_PASS, lambda x, a, b, value: value / b, lambda x, a, b, value: -value * a / (b * b))),
    "heaviside": (lambda x, v: _where(x == 0, v, _where(x > 0, te.const(1, x.dtype), te.const(0, x.dtype))), None),
    "isclose": (lambda a, b, rtol, atol: _isclose(a, b, rtol, atol, False), _BOOL),
    "isclose_nan": (lambda a, b, rtol, atol: _isclose(a, b, rtol, atol, True), _BOOL),
}


def _value_kernel(*args, formula, arity):
    value = _FORMULAS[formula][0]
    tensors, params = args[:arity], args[arity:]
    return elementwise(formula, list(tensors), lambda *vs: value(*vs, *params))


def _partial_kernel(*args, formula, arity, which):
    partial = _FORMULAS[formula][1][which]
    tensors, g, params = args[:arity], args[arity], args[arity + 1:]
    return elementwise(f"{formula}_grad{which}", [*tensors, g], lambda *vs: vs[-1] * partial(*vs[:-1], *params))


class _Formula(Function):
    def forward(self, *tensors):
        return run(self.formula, _value_kernel, list(tensors), self.params, self.param_dtypes,
                   (("formula", self.formula), ("arity", len(tensors))))

    def backward(self, g):
        partials = _FORMULAS[self.formula][1]
        if partials is None:
            raise AutogradError(f"the derivative of {self.formula} is not implemented (nor is it in PyTorch); "
                                "detach() its input or build the result another way")
        grads = []
        for which, (t, partial) in enumerate(zip(self.inputs, partials)):
            if not t.requires_grad:
                grads.append(None)
                continue
            if partial != _PASS:
                g_t = ops._kernel(f"{self.formula}_grad{which}", _partial_kernel, *self.inputs, g,
                                  scalars=self.params, scalar_dtypes=self.param_dtypes, formula=self.formula,
                                  arity=len(self.inputs), which=which)
            grads.append(ops.sum_to(g if partial == _PASS else g_t, t.shape))
        return tuple(grads)


def _apply(formula, tensors, params=(), param_dtype=None):
    """``formula`` on ``tensors`` (promoted and checked by the caller) and Python-number
    ``params`` (runtime scalars of ``param_dtype``, default the tensors' dtype). Without
    partials, a float result of tracked inputs is recorded but its backward raises
    (PyTorch's "derivative not implemented", heaviside's); a bool one is a plain kernel."""
    shape = tensors[0].shape
    for t in tensors[1:]:
        shape = broadcast_shapes(formula, shape, t.shape)
    param_dtype = param_dtype or tensors[0].dtype
    params = tuple(ops.scalar_operand(formula, p, param_dtype) for p in params)
    dtypes = (param_dtype,) * len(params)
    if _FORMULAS[formula][1] == _BOOL:
        return ops._kernel(formula, _value_kernel, *tensors, scalars=params, scalar_dtypes=dtypes, formula=formula,
                           arity=len(tensors))
    return _Formula.apply(*tensors, formula=formula, params=params, param_dtypes=dtypes)


def _tensor(op, value, what):
    if not isinstance(value, Tensor):
        raise DTypeError(f"{op}: {what} must be a Tensor, got {type(value).__name__}")
    return value


def _promoted(op, *tensors):
    """``tensors`` converted to the dtype they compute in together (``ops.promote``,
    pairwise: a 0-d tensor counts only when of a higher category)."""
    first = tensors[0]
    for t in tensors[1:]:
        first, _ = ops.promote(op, first, t)
    return [ops.cast(t, first.dtype) for t in tensors]


def _floats(op, *tensors):
    """``tensors`` promoted, integers and bools computing in float32 (as PyTorch's float functions)."""
    tensors = _promoted(op, *tensors)
    return tensors if tensors[0].dtype.startswith("float") else [ops.cast(t, "float32") for t in tensors]


def atan2(input, other):
    """The angle of the point (``other``, ``input``), elementwise, in [-pi, pi]
    (broadcasting; integers give float32); both operands tensors, as PyTorch's."""
    return _apply("atan2", _floats("atan2", input, _tensor("atan2", other, "other")))


def hypot(input, other):
    """``sqrt(input² + other²)`` without intermediate overflow (broadcasting). The
    operands promote as PyTorch's (an int64 and a float32 tensor compute in float32);
    two integer tensors are refused, as PyTorch refuses them."""
    tensors = _promoted("hypot", input, _tensor("hypot", other, "other"))
    if not tensors[0].dtype.startswith("float"):
        raise DTypeError(f"hypot: needs a float operand, got {input.dtype} (shape {input.shape}) and {other.dtype} "
                         f"(shape {other.shape})")
    return _apply("hypot", tensors)


def fmod(input, other):
    """The remainder of ``input / other`` with the quotient rounded toward zero: it has
    the sign of ``input`` (C's fmod; ``remainder`` / ``%`` take the divisor's sign).
    ``other`` a tensor (broadcasting) or a number; an integer tensor stays integer (by a
    float number it is float32). Gradients: ``g``, and ``-g * trunc(input / other)``."""
    if isinstance(other, Tensor):
        return _apply("fmod", _promoted("fmod", input, other))
    input = ops._promote_for_scalar(input, other)
    return _apply("fmod_scalar", [input], (other,))


def remainder(input, other):
    """The remainder of ``input / other`` with the sign of ``other`` (Python's ``%``,
    PyTorch's ``remainder``); ``input`` or ``other`` may be a number."""
    return ops.mod(input, other) if isinstance(input, Tensor) else ops.rmod(other, input)


def lerp(input, end, weight):
    """``input + weight * (end - input)`` (PyTorch's formula, exact at both ends),
    broadcasting; ``input`` and ``end`` float tensors of one dtype, ``weight`` a number
    or a tensor (of that dtype, or 0-d)."""
    end = _tensor("lerp", end, "end")
    check_same("lerp", input, end)
    if not input.dtype.startswith("float"):
        raise DTypeError(f"lerp: needs float tensors, got {input.dtype} of shape {input.shape}")
    if not isinstance(weight, Tensor):
        return _apply("lerp_scalar", [input, end], (weight,))
    if weight.ndim == 0:
        weight = ops.cast(weight, input.dtype)
    check_same("lerp", input, weight)
    return _apply("lerp", [input, end, weight])


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2`` (broadcasting, promoted as PyTorch: an
    integer result converts ``value`` to that integer type)."""
    return _apply("addcmul", _promoted("addcmul", input, _tensor("addcmul", tensor1, "tensor1"),
                                       _tensor("addcmul", tensor2, "tensor2")), (value,))


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2`` (broadcasting); refused, as PyTorch does,
    when both ``tensor1`` and ``tensor2`` are integer tensors (the division would be
    ambiguous)."""
    for t, what in ((tensor1, "tensor1"), (tensor2, "tensor2")):
        _tensor("addcdiv", t, what)
    if not tensor1.dtype.startswith("float") and not tensor2.dtype.startswith("float"):
        raise DTypeError(f"addcdiv: integer division of tensor1 ({tensor1.dtype}, shape {tensor1.shape}) by "
                         f"tensor2 ({tensor2.dtype}, shape {tensor2.shape}) is not supported; convert one to float")
    return _apply("addcdiv", _promoted("addcdiv", input, tensor1, tensor2), (value,))


def heaviside(input, values):
    """0 where ``input`` is negative, 1 where positive, ``values`` where zero
    (broadcasting; one dtype, as PyTorch's). Recorded on a tracked input, but backward
    through it raises an AutogradError, as PyTorch's (its derivative is not implemented);
    so does backward through ``x.heaviside_(v)``."""
    check_same("heaviside", input, _tensor("heaviside", values, "values"))
    if input.dtype == "bool":
        raise DTypeError(f"heaviside: not supported on bool tensors (shape {input.shape})")
    return _apply("heaviside", [input, values])


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A bool tensor: where ``|input - other| <= atol + rtol * |other|`` (or equal; both
    NaN if ``equal_nan``); broadcasting, both tensors of one dtype, as PyTorch's."""
    check_same("isclose", input, _tensor("isclose", other, "other"))
    if rtol < 0 or atol < 0:
        raise DTypeError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    dtype = input.dtype if input.dtype.startswith("float") else "float64"
    return _apply("isclose_nan" if equal_nan else "isclose", [input, other], (rtol, atol), dtype)


def _truth(x):
    """``x`` as a bool tensor: nonzero (NaN too) is True, as PyTorch's logical ops read it."""
    return x if x.dtype == "bool" else ops.cast(x, "bool")


def _logical(op):
    def apply(input, other):
        return ops.logical(op, _truth(input), _truth(_tensor(f"logical_{op}", other, "other")))
    apply.__name__ = f"logical_{op}"
    apply.__doc__ = (f"Elementwise logical {op} of the operands' truth values (nonzero is True), as a bool "
                     "tensor (broadcasting; any dtypes; no gradient).")
    return apply


logical_and, logical_or, logical_xor = (_logical(op) for op in ("and", "or", "xor"))


def logical_not(input):
    """A bool tensor, True where ``input`` is zero (any dtype; PyTorch's ``logical_not``,
    where ``~`` on an integer tensor is bitwise)."""
    return ops.logical_not(_truth(input))


def square(input):
    """``input * input`` (PyTorch's ``square``; a bool tensor squares as int64, as
    PyTorch's, not as the logical and that ``bool * bool`` is)."""
    input = ops.cast(input, "int64") if input.dtype == "bool" else input
    return ops.mul(input, input)

