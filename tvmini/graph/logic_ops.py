"""Comparisons, logical/bitwise operators and ``where`` on graph Tensors.

Comparisons give bool tensors and record no gradient; ``& | ^ ~ << >>`` are logical on
bool tensors and bitwise on integer ones (topi's ``bitwise_*`` kernels); ``where``
selects with broadcasting and sends the gradient to the side each element came from.
Operands meet by the arithmetic's promotion (``ops.promote``; Python numbers as
``ops._promote_for_scalar``).
"""
import numpy as np

from ..errors import DeviceError, DTypeError
from ..runtime import ndarray as nd
from .autograd import Function
from .dispatch import run
from .ops import _as_tensor, _is_number, _kernel, _promote_for_scalar, broadcast_shapes, promote, scalar_operand, sum_to
from .tensor import Tensor

_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
            "gt": "greater", "ge": "greater_equal"}


def compare(a, b, op):
    """Elementwise comparison ``op`` ("eq", "lt", ...) giving a bool tensor (no gradient)."""
    if _is_number(b):
        a = _promote_for_scalar(a, b)
        return _kernel(f"{op}_scalar", _COMPARE[op], a, scalars=(scalar_operand(op, b, a.dtype),),
                       scalar_dtypes=(a.dtype,))
    b = b if isinstance(b, Tensor) else _as_tensor(b, a)
    a, b = promote(op, a, b)
    broadcast_shapes(op, a.shape, b.shape)
    return _kernel(op, _COMPARE[op], a, b)


#: the topi kernel of each operator (logical on bools, bitwise on integers)
_BITWISE = {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor", "left_shift": "left_shift",
            "right_shift": "right_shift"}


def _require_integral(op, *tensors, shift=False):
    for t in tensors:
        if t.dtype.startswith("float") or (shift and t.dtype == "bool"):
            raise DTypeError(f"{op}: needs {'integer' if shift else 'bool or integer'} tensors, got {t.dtype} "
                             f"tensor of shape {t.shape}")


def logical(op, a, b):
    """``a & b``, ``a | b``, ``a ^ b`` ("and", "or", "xor"): logical on bool tensors,
    bitwise on integer ones (a bool meeting an integer counts as that integer type, as in
    PyTorch); broadcasting, ``b`` may be a Python bool or int; ``"left_shift"``/
    ``"right_shift"`` for integers only (a count outside ``[0, width)`` gives 0, or -1
    for ``>>`` of a negative value). No gradient."""
    b = b if isinstance(b, Tensor) else _as_tensor(b, a)
    _require_integral(op, a, b, shift=op.endswith("shift"))
    a, b = promote(op, a, b)
    broadcast_shapes(op, a.shape, b.shape)
    return _kernel(_BITWISE[op], _BITWISE[op], a, b)


def logical_not(x):
    """``~x``: logical on a bool tensor, bitwise on an integer one (no gradient)."""
    _require_integral("invert", x)
    return _kernel("bitwise_not", "bitwise_not", x)


class _Where(Function):
    nondiff = (0,)
    saved = (0,)

    def forward(self, cond, a, b):
        return run("where", "where", [cond, a, b])

    def backward(self, g):
        cond, a, b = self.inputs
        ga = sum_to(where(cond, g, 0.0), a.shape) if a.requires_grad else None
        gb = sum_to(where(cond, 0.0, g), b.shape) if b.requires_grad else None
        return None, ga, gb


def _where_operands(cond, a, b):
    """``a`` and ``b`` as tensors: a number next to a tensor as in arithmetic (a float
    next to an integer tensor makes both float32); two numbers as PyTorch's defaults
    (float32 if either is a float, else int64), on ``cond``'s device."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        dtype = "float32" if any(isinstance(v, (float, np.floating)) for v in (a, b)) else "int64"
        like = Tensor._wrap(nd.new((), nd.normalize_dtype(dtype), cond._data._device))
        return _as_tensor(a, like), _as_tensor(b, like)
    if not isinstance(a, Tensor):
        b = _promote_for_scalar(b, a) if _is_number(a) else b
        return _as_tensor(a, b), b
    if not isinstance(b, Tensor):
        a = _promote_for_scalar(a, b) if _is_number(b) else a
        return a, _as_tensor(b, a)
    return a, b


def where(cond, a, b):
    """``a`` where bool ``cond`` holds, else ``b`` (broadcasting; a or b may be numbers)."""
    a, b = _where_operands(cond, a, b)
    if cond.dtype != "bool":
        raise DTypeError(f"where: condition must be a bool tensor, got {cond.dtype} of shape {cond.shape}")
    a, b = promote("where", a, b)
    broadcast_shapes("where", broadcast_shapes("where", cond.shape, a.shape), b.shape)
    if cond.device != a.device:
        raise DeviceError(f"where: condition on {cond.device} but operands on {a.device}")
    return _Where.apply(cond, a, b)
