"""Tensor ops: each a forward kernel from ``tvmini.topi`` plus a gradient rule.

The public functions here check their operands (same device, same dtype, shapes that
broadcast) and raise an error naming the op and both shapes *when the op is called*;
the :class:`~tvmini.graph.autograd.Function` subclasses hold the forward kernel and the
gradient rule, which is written with these same ops (so it runs as kernels too). Python
numbers are runtime scalar arguments of the kernel (``x * 0.5`` and ``x * 2.0`` share one
build). Gradients of broadcast operands are summed back to their shapes by
:func:`sum_to`, the one place that does so.
"""
import math

import numpy as np

from .. import topi
from ..errors import DTypeError, ShapeError
from ..runtime import ndarray as nd
from .autograd import Function
from .dispatch import run
from .operands import (_is_number, broadcast_shapes, category, check_device, check_same, result_dtype,  # noqa: F401
                       scalar_operand, stored_value)
from .shape_ops import flatten, reshape, transpose  # noqa: F401  (ops.flatten etc., as every op)
from .tensor import Tensor

#: integer dtypes that keep their dtype next to a Python int (as in PyTorch: a uint8
#: tensor plus 10 is uint8, wrapping); a bool tensor meets a Python int as int64.
_INT_SCALAR_DTYPES = ("int8", "uint8", "int32", "int64")


def promote(op, a, b):
    """``a`` and ``b`` on one device (else a DeviceError naming both) converted to the
    dtype they compute in (a cast records its gradient between float dtypes): their
    :func:`result_dtype`, except that a 0-d tensor next to a tensor with axes counts only
    when it is of a higher category (bool < integer < float), as in PyTorch: float32
    times a 0-d float64 stays float32, an int64 tensor plus a 0-d float64 is float64."""
    check_device(op, a, b)
    if a._data._dtype is b._data._dtype:          # the common case: nothing to convert
        return a, b
    if (a.ndim == 0) != (b.ndim == 0):
        scalar, full = (a, b) if a.ndim == 0 else (b, a)
        dtype = full.dtype if category(scalar.dtype) <= category(full.dtype) else scalar.dtype
    else:
        dtype = result_dtype(a.dtype, b.dtype)
    return cast(a, dtype), cast(b, dtype)


def _as_tensor(value, like):
    """A Python number as a 0-d tensor of ``like``'s dtype and device."""
    if isinstance(value, Tensor):
        return value
    return Tensor._wrap(nd.array(np.asarray(value, dtype=like.dtype), device=like.device))


def _promote_for_scalar(x, value):
    """``x`` converted so that a kernel with scalar ``value`` can run on it (as PyTorch:
    an integer tensor next to a float number computes in float32)."""
    if x.dtype.startswith("float"):
        return x
    if isinstance(value, (float, np.floating)) or x.dtype not in _INT_SCALAR_DTYPES:
        return cast(x, "float32" if isinstance(value, (float, np.floating)) else "int64")
    return x


def _kernel(name, define, *tensors, scalars=(), scalar_dtypes=(), **attrs):
    """A non-differentiable kernel (gradient kernels, comparisons) on Tensors."""
    return Tensor._wrap(run(name, define, [t._data for t in tensors], scalars, scalar_dtypes,
                            tuple(attrs.items())))


# ------------------------------------------------------------------------- sum_to

class _SumTo(Function):
    saved = ()
    def forward(self, x):
        return run("sum_to", "sum_to", [x], attrs=(("shape", self.shape),))

    def backward(self, g):
        return (broadcast_to(g, self.inputs[0].shape),)


class _BroadcastTo(Function):
    aliases = True
    saved = ()
    def forward(self, x):
        return run("broadcast_to", "broadcast_to", [x], attrs=(("shape", self.shape),))

    def backward(self, g):
        return (sum_to(g, self.inputs[0].shape),)


def sum_to(x, shape):
    """Sum ``x`` over the axes a broadcast to its shape added or stretched, giving ``shape``."""
    shape = tuple(shape)
    return x if x.shape == shape else _SumTo.apply(x, shape=shape)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a copy)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise ShapeError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}")
    return _BroadcastTo.apply(x, shape=shape)


# ------------------------------------------------------------------------- binary ops

_BINARY = {
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "mod": "floor_mod",
    "maximum": "maximum", "minimum": "minimum", "pow": "power",
}


class _Binary(Function):
    @property
    def saved(self):
        return () if self.op in ("add", "sub") else (0, 1)

    def forward(self, a, b):
        out = run(self.op, _BINARY[self.op], [a, b])
        if self.op in ("div", "pow"):
            self.out = out
        return out

    def backward(self, g):
        """The gradient of each operand that requires one (None for the other: no kernel
        runs for a gradient nobody receives)."""
        a, b = self.inputs
        op, need_a, need_b = self.op, a.requires_grad, b.requires_grad
        ga = gb = None
        if op in ("add", "sub", "mod"):
            ga = g
            if need_b:          # a % b = a - b * (a // b), the quotient piecewise constant
                gb = g if op == "add" else neg(g) if op == "sub" else neg(g * floordiv(a, b))
        elif op == "mul":
            ga = g * b if need_a else None
            gb = g * a if need_b else None
        elif op == "div":
            ga = g / b
            gb = neg(ga * Tensor._wrap(self.out)) if need_b else None
        elif op == "pow":
            ga = where(compare(b, 0.0, "eq"), 0.0, g * b * pow(a, b - 1.0)) if need_a else None
            gb = _pow_exponent_grad(g, a, b, Tensor._wrap(self.out)) if need_b else None
        else:       # PyTorch's: g, halved at a tie, zero for the loser only (a NaN loses to nothing)
            loses = "lt" if op == "maximum" else "gt"
            share = where(compare(a, b, "eq"), g * 0.5, g)
            ga = where(compare(a, b, loses), 0.0, share) if need_a else None
            gb = where(compare(b, a, loses), 0.0, share) if need_b else None
        return (sum_to(ga, a.shape) if need_a else None,
                sum_to(gb, b.shape) if need_b else None)


def _pow_exponent_grad(g, a, b, out):
    """d(a**b)/db · g = g · a**b · log(a), and 0 where a == 0 and b >= 0 (PyTorch's:
    there a**b is flat in b, while 0 · log(0) would give NaN)."""
    flat = logical("and", compare(a, 0.0, "eq"), compare(b, 0.0, "ge"))
    return where(flat, 0.0, g * out * log(a))


_SCALAR_KERNELS = {
    "add": lambda x, s: topi.add(x, s),
    "mul": lambda x, s: topi.multiply(x, s),
    "div": lambda x, s: topi.divide(x, s),
    "rsub": lambda x, s: topi.subtract(s, x),
    "rdiv": lambda x, s: topi.divide(s, x),
    "pow": lambda x, s: topi.power(x, s),
    "rpow": lambda x, s: topi.power(s, x),
    "mod": lambda x, s: topi.floor_mod(x, s),
    "rmod": lambda x, s: topi.floor_mod(s, x),
    "floordiv": lambda x, s: topi.floor_divide(x, s),
    "rfloordiv": lambda x, s: topi.floor_divide(s, x),
}


class _Scalar(Function):
    """``x op value`` with ``value`` a runtime scalar of ``x``'s dtype."""

    @property
    def saved(self):
        return (0,) if self.op in ("rdiv", "pow", "rmod") else ()

    def forward(self, x):
        out = run(f"{self.op}_scalar", _SCALAR_KERNELS[self.op], [x], (scalar_operand(self.op, self.value, x.dtype),),
                  (x.dtype,))
        if self.op in ("rdiv", "rpow"):     # the gradients that read the output (kept: its version is checked)
            self.out = out
        return out

    def backward(self, g):
        x, = self.inputs
        op, value = self.op, self.value
        if op == "add":
            return (g,)
        if op == "mul":
            return (g * value,)
        if op == "div":
            return (g / value,)
        if op == "rsub":
            return (neg(g),)
        if op == "rdiv":
            return (neg(g * Tensor._wrap(self.out) / x),)
        if op == "pow":
            return (_kernel("pow_grad_scalar", "power_grad", x, g, scalars=(value,),
                            scalar_dtypes=(x.dtype,)),)
        if op == "mod":
            return (g,)
        if op == "rmod":
            return (neg(g * rfloordiv(x, value)),)
        return (_rpow_grad(g, x, value, Tensor._wrap(self.out)),)


def _rpow_grad(g, x, base, out):
    """d(base**x)/dx · g = g · base**x · log(base), as PyTorch's: 0 where ``base == 0``
    and ``x >= 0`` (flat there), -inf · g · out for a negative ``x``, NaN for a negative
    base (no real logarithm)."""
    if base > 0:
        return g * out * math.log(base)
    if base < 0:
        return g * out * math.nan
    return where(compare(x, 0.0, "ge"), 0.0, g * out * -math.inf)


#: ops that on two bool tensors are logical, as PyTorch's (bool * bool is and, not int)
_BOOL_AS_LOGICAL = {"add": "or", "mul": "and", "maximum": "or", "minimum": "and"}


def _binary(op, a, b, scalar_op=None):
    if isinstance(b, Tensor):
        if not isinstance(a, Tensor):
            a = _as_tensor(a, b)
        if a._data._dtype == "bool" and b._data._dtype == "bool" and op in _BOOL_AS_LOGICAL:
            return logical(_BOOL_AS_LOGICAL[op], a, b)
        a, b = promote(op, a, b)
        broadcast_shapes(op, a.shape, b.shape)
        return _Binary.apply(a, b, op=op)
    if _is_number(b):
        a = _promote_for_scalar(a, b)
        return _Scalar.apply(a, op=scalar_op or op, value=b)
    return _binary(op, a, _as_tensor(b, a))


def add(a, b):
    """``a + b`` (broadcasting; ``b`` may be a Python number)."""
    return _binary("add", a, b)


def _is_bool(value):
    """Whether ``value`` is a bool tensor or array, or a Python/numpy bool."""
    if isinstance(value, (Tensor, np.ndarray)):
        return value.dtype == "bool"
    return isinstance(value, (bool, np.bool_))


def _refuse_bool_sub(a, b):
    """Refuse ``a - b`` with a bool operand (a tensor or a Python bool), as PyTorch
    does: on bools, subtraction has no meaning of its own (numpy refuses it too)."""
    if _is_bool(a) and _is_bool(b):
        raise DTypeError(f"sub: subtraction, the `-` operator, with two bool operands ({_describe(a)} - "
                         f"{_describe(b)}) is not supported; use a ^ b (logical_xor) instead")
    if _is_bool(a) or _is_bool(b):
        raise DTypeError(f"sub: subtraction, the `-` operator, with a bool operand ({_describe(a)} - "
                         f"{_describe(b)}) is not supported; to invert a mask use ~mask (logical_not), "
                         "else convert it with .int() or .float() first")


def _describe(value):
    """An operand for an error message: a tensor by dtype and shape, a number by value."""
    if isinstance(value, (Tensor, np.ndarray)):
        return f"{value.dtype} {'tensor' if isinstance(value, Tensor) else 'array'} of shape {value.shape}"
    return repr(value)


def sub(a, b):
    """``a - b`` (refused with a bool operand, as PyTorch)."""
    _refuse_bool_sub(a, b)
    if _is_number(b):
        return add(a, -b)
    return _binary("sub", a, b)


def rsub(a, b):
    """``b - a`` for a Python number ``b``."""
    _refuse_bool_sub(b, a)
    return _binary("sub", b, a) if isinstance(b, Tensor) else _Scalar.apply(_promote_for_scalar(a, b), op="rsub", value=b)


def mul(a, b):
    """``a * b``."""
    return _binary("mul", a, b)


def div(a, b):
    """True division ``a / b`` (integer tensors give float32). A number ``b`` is the
    kernel's runtime divisor: a real division, correctly rounded (``x * (1/b)`` is not),
    and ``x / 0`` gives inf/nan as PyTorch's."""
    if _is_number(b):
        return _Scalar.apply(_promote_for_scalar(a, 0.0), op="div", value=b)
    b = b if isinstance(b, Tensor) else _as_tensor(b, a)
    a, b = promote("div", a, b)
    if not a.dtype.startswith("float"):         # integers divide in float32 (float16 / int stays float16)
        a, b = cast(a, "float32"), cast(b, "float32")
    return _binary("div", a, b)


def rdiv(a, b):
    """``b / a`` for a Python number ``b``."""
    return _Scalar.apply(_promote_for_scalar(a, 0.0), op="rdiv", value=b)


def _check_int_exponent(a, b):
    """Refuse what an integer power cannot give exactly: a negative exponent (PyTorch
    refuses it too) or one past ``topi``'s exact range (see ``topi.broadcast._int_power``)."""
    if b < 0:
        raise DTypeError(f"pow: integers to negative integer powers are not allowed ({a.dtype} tensor of shape "
                         f"{a.shape} ** {b}); convert to float first")
    if b >= 2 ** topi.broadcast.INT_POWER_BITS:
        raise DTypeError(f"pow: an integer exponent of {b} is past the exact range of integer powers "
                         f"(< {2 ** topi.broadcast.INT_POWER_BITS}) for a {a.dtype} tensor of shape {a.shape}")


def pow(a, b):
    """``a ** b`` (``b`` a tensor or a number). An integer tensor to a non-negative int
    stays an integer (exact, wrapping), as PyTorch's; to a float it is float32. Two bool
    operands are refused (PyTorch: "pow" not implemented for 'Bool')."""
    if _is_bool(a) and _is_bool(b):
        raise DTypeError(f"pow: not implemented for two bool operands ({_describe(a)} ** {_describe(b)}); "
                         "convert one with .int() or .float() first")
    if _is_number(b):
        if b == 1:
            return a
        a = _promote_for_scalar(a, b)
        if not a.dtype.startswith("float"):
            _check_int_exponent(a, b)
        return _Scalar.apply(a, op="pow", value=b)
    return _binary("pow", a, b)


def rpow(a, b):
    """``b ** a`` for a Python number ``b`` (an int to an integer tensor stays integer)."""
    return _Scalar.apply(_promote_for_scalar(a, b), op="rpow", value=b)


def floordiv(a, b):
    """``a // b`` rounded toward negative infinity; no gradient (as PyTorch's has none):
    the result is a constant of the graph (an integer division by zero gives 0)."""
    if _is_number(b):
        a = _promote_for_scalar(a, b)
        return _kernel("floordiv_scalar", _SCALAR_KERNELS["floordiv"], a, scalars=(scalar_operand("floordiv", b, a.dtype),),
                       scalar_dtypes=(a.dtype,))
    b = b if isinstance(b, Tensor) else _as_tensor(b, a)
    check_same("floordiv", a, b)
    broadcast_shapes("floordiv", a.shape, b.shape)
    return _kernel("floordiv", "floor_divide", a, b)


def rfloordiv(a, b):
    """``b // a`` for a Python number ``b`` (no gradient)."""
    a = _promote_for_scalar(a, b)
    return _kernel("rfloordiv_scalar", _SCALAR_KERNELS["rfloordiv"], a, scalars=(scalar_operand("floordiv", b, a.dtype),),
                   scalar_dtypes=(a.dtype,))


def mod(a, b):
    """``a % b`` with the sign of ``b`` (Python's, PyTorch's ``remainder``), broadcasting;
    its gradient is ``g`` for ``a`` and ``-g * (a // b)`` for ``b``."""
    return _binary("mod", a, b)


def rmod(a, b):
    """``b % a`` for a Python number ``b``."""
    return _Scalar.apply(_promote_for_scalar(a, b), op="rmod", value=b)


def _against_number(a, b):
    """(a, b) for ``maximum``/``minimum``: a number ``b`` as a tensor of ``a``'s dtype,
    ``a`` promoted first (an int tensor against 0.5 computes in float32, as PyTorch)."""
    if isinstance(b, Tensor):
        return a, b
    if _is_number(b):
        a = _promote_for_scalar(a, b)
        b = scalar_operand("maximum/minimum", b, a.dtype)
    return a, _as_tensor(b, a)


def maximum(a, b):
    """Elementwise maximum (ties split the gradient evenly; with a NaN operand both
    operands get the full gradient, as PyTorch's)."""
    return _binary("maximum", *_against_number(a, b))


def minimum(a, b):
    """Elementwise minimum."""
    return _binary("minimum", *_against_number(a, b))


# ------------------------------------------------------------------------------ unary ops

# name -> (forward, gradient kernel, whether the gradient reads the output y instead of x)
_UNARY = {
    "neg": ("negative", None, False),
    "exp": ("exp", "exp_grad", True),
    "log": ("log", "log_grad", False),
    "sqrt": ("sqrt", "sqrt_grad", True),
    "abs": ("abs", "abs_grad", False),
    "relu": ("relu", "relu_grad", True),     # y > 0 exactly where x > 0: x can be freed
    "sigmoid": ("sigmoid", "sigmoid_grad", True),
    "tanh": ("tanh", "tanh_grad", True),
    "cos": ("cos", "cos_grad", False),
    "sin": ("sin", "sin_grad", False),
}


class _Unary(Function):
    @property
    def saved(self):
        return () if _UNARY[self.op][2] or self.op == "neg" else (0,)

    def forward(self, x):
        forward, _, uses_output = _UNARY[self.op]
        out = run(self.op, forward, [x])
        if uses_output:
            self.out = out
        return out

    def backward(self, g):
        _, grad, uses_output = _UNARY[self.op]
        if grad is None:
            return (neg(g),)
        saved = Tensor._wrap(self.out) if uses_output else self.inputs[0]
        return (_kernel(f"{self.op}_grad", grad, saved, g),)


def _unary(op):
    def apply(x):
        if x.dtype == "bool" and op in ("abs", "relu"):      # they keep ints; on bools PyTorch refuses them
            raise DTypeError(f"{op}: not supported on a bool tensor (shape {x.shape}), as in PyTorch; convert it "
                             "with .int() or .float() first")
        if not x.dtype.startswith("float") and op not in ("neg", "abs", "relu"):   # these keep ints
            x = cast(x, "float32")
        return _Unary.apply(x, op=op)
    apply.__name__ = op
    apply.__doc__ = f"Elementwise {op}."
    return apply


exp, log, sqrt, abs, relu, sigmoid, tanh, cos, sin = (
    _unary(op) for op in ("exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "cos", "sin"))


def neg(x):
    """``-x``; refused for a bool tensor, as PyTorch (``~x`` inverts a mask)."""
    if x.dtype == "bool":
        raise DTypeError(f"neg: negation, the `-` operator, on a bool tensor of shape {x.shape} is not supported; "
                         "to invert a mask use ~mask (logical_not), else convert it with .int() or .float() first")
    return _Unary.apply(x, op="neg")


class _Cast(Function):
    saved = ()
    def forward(self, x):
        return run("cast", "cast", [x], attrs=(("dtype", self.dtype),))

    def backward(self, g):
        return (cast(g, self.inputs[0].dtype),)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (a copy; gradients flow between float dtypes)."""
    dtype = nd.dtype_name(dtype)
    if dtype == x.dtype:
        return x
    out = _Cast.apply(x, dtype=dtype)
    if not dtype.startswith("float") and out.requires_grad:
        out.requires_grad, out._ctx = False, None
    return out


class _Clone(Function):
    saved = ()
    def forward(self, x):
        return nd.array(x, device=x._device)      # on x's device (nd.array's default is the CPU)

    def backward(self, g):
        return (g,)


def clone(x):
    """A copy of ``x``'s data that keeps its history: the gradient passes through
    unchanged (PyTorch's CloneBackward), so a cloned activation still trains."""
    return _Clone.apply(x)


# ----------------------------------------------------------------------------- shape ops

def expand(x, shape):
    """``x`` broadcast to ``shape`` where -1 keeps ``x``'s extent (PyTorch's ``expand``;
    new axes go in front and cannot be -1)."""
    shape = tuple(int(s) for s in shape)
    lead = len(shape) - x.ndim
    if lead < 0 or any(s == -1 for s in shape[:lead]) or any(s < -1 for s in shape):
        raise ShapeError(f"expand: cannot expand a tensor of shape {x.shape} to {shape} (as many or more "
                         "axes, new ones in front, -1 only where an axis exists)")
    return broadcast_to(x, shape[:lead] + tuple(n if s == -1 else s for n, s in zip(x.shape, shape[lead:])))


# ------------------------------------------------------------------------------- matmul

class _Matmul(Function):
    def forward(self, a, b):
        define = "batch_matmul" if self.batched else "matmul"
        return run("batch_matmul" if self.batched else "matmul", define, [a, b])

    def backward(self, g):
        a, b = self.inputs
        name, define = ("batch_matmul", "batch_matmul") if self.batched else ("matmul", "matmul")
        ga = _kernel(name, define, g, b, transpose_b=True) if a.requires_grad else None
        gb = _kernel(name, define, a, g, transpose_a=True) if b.requires_grad else None
        return ga, gb


def matmul(input, other):
    """Matrix product with PyTorch's rules: 1-D operands are a row (left) or a column
    (right) vector; (..., m, k) @ (k, n) is one (rows, k) @ (k, n) product; otherwise
    the leading (batch) axes broadcast and the product is batched over them. Floats or
    integers (int8, uint8, int32, int64: exact, wrapping in the dtype, as PyTorch's)."""
    a, b = input, other
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise DTypeError(f"matmul: both operands must be tensors, got {type(a).__name__} and {type(b).__name__}")
    check_same("matmul", a, b)
    if a.dtype not in topi.nn.FLOATS + topi.nn.PRODUCT_INTS:
        raise DTypeError(f"matmul: {a.dtype} tensors (shapes {a.shape} and {b.shape}) are not supported: a product "
                         "needs float32, float64 or an integer dtype; convert them with .float() or .int() first")
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not compatible "
                         "(need (..., m, k) @ (..., k, n), a 1-D operand as a vector)")
    if a.ndim == 1:
        out = matmul(reshape(a, (1, a.shape[0])), b)       # drop the row axis the vector got
        return reshape(out, out.shape[:-1] if b.ndim == 1 else out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, (b.shape[0], 1))), a.shape[:-1])
    if b.ndim == 2:
        if a.ndim == 2:
            return _Matmul.apply(a, b, batched=False)
        rows = _Matmul.apply(reshape(a, (math.prod(a.shape[:-1]), a.shape[-1])), b, batched=False)
        return reshape(rows, a.shape[:-1] + b.shape[-1:])
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    count = math.prod(batch)
    a3 = reshape(broadcast_to(a, batch + a.shape[-2:]), (count,) + a.shape[-2:])
    b3 = reshape(broadcast_to(b, batch + b.shape[-2:]), (count,) + b.shape[-2:])
    return reshape(_Matmul.apply(a3, b3, batched=True), batch + (a.shape[-2], b.shape[-1]))


# Comparisons/logic, reductions and indexing live in logic_ops.py, reductions.py and
# indexing.py (which use the ops above, hence imported last) and are re-exported here,
# where the graph layer looks for ops.
from . import logic_ops  # noqa: E402

compare, logical, logical_not, where = logic_ops.compare, logic_ops.logical, logic_ops.logical_not, logic_ops.where

from . import indexing, reductions  # noqa: E402  (they import compare and where from here)

getitem = indexing.getitem

sum, prod, mean, max, min, argmax, argmin = (reductions.sum, reductions.prod, reductions.mean, reductions.max,
                                             reductions.min, reductions.argmax, reductions.argmin)
