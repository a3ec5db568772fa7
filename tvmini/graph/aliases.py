"""PyTorch's other spellings of tvmini's ops, which ported scripts use everywhere:
``x.eq(y)`` for ``x == y``, ``x.add(y, alpha=2)``, ``x.t()``, ``x.softmax(1)``,
``x.new_zeros(3)``, ``tm.sum(x, 1)`` for ``x.sum(1)``, ``tm.set_grad_enabled(False)``,
``tm.device("cpu")``. Each is the op it names (same kernels, gradients, jit tracing)."""
import math

import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..runtime.device import as_device
from . import binary_ops, ops
from .autograd import _GradModeSetter, _state, is_grad_enabled
from .creation import full
from .operands import scaled
from .tensor import Tensor, add_methods


def _div(self, other, *, rounding_mode=None):
    """``self / other``; ``rounding_mode="floor"`` is ``self // other``."""
    if rounding_mode is None:
        return self / other
    if rounding_mode == "floor":
        return self // other
    raise TVMiniError(f"div: rounding_mode={rounding_mode!r} is not supported; use None or 'floor'")


def _t(self):
    """The transpose of a matrix (a vector or scalar as it is), as PyTorch's ``t()``."""
    if self.ndim > 2:
        raise ShapeError(f"t() takes a tensor of at most 2 dimensions, got shape {self.shape}; use transpose")
    return self if self.ndim < 2 else self.transpose(0, 1)


def _softmax(self, dim, dtype, log=False):
    from ..nn import functional as F
    return (F.log_softmax if log else F.softmax)(self, dim, dtype=dtype)


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``, of this one's dtype and device
    unless given (PyTorch's ``new_full``; ``new_zeros``/``new_ones`` likewise)."""
    return full(tuple(size) if isinstance(size, (tuple, list)) else (size,), fill_value,
                dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def _sizes(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def _isinf(self):
    if not self.dtype.startswith("float"):
        return self != self             # all False, as a bool tensor
    return self.abs() == math.inf


_METHODS = {
    "eq": lambda self, other: self == other,
    "ne": lambda self, other: self != other,
    "lt": lambda self, other: self < other,
    "le": lambda self, other: self <= other,
    "gt": lambda self, other: self > other,
    "ge": lambda self, other: self >= other,
    "add": lambda self, other, *, alpha=1: self + scaled("add", other, alpha),
    "sub": lambda self, other, *, alpha=1: self - scaled("sub", other, alpha),
    "mul": lambda self, other: self * other,
    "div": _div,
    "pow": lambda self, exponent: self ** exponent,
    "neg": lambda self: -self,
    "contiguous": lambda self, memory_format=None: self,        # tvmini's tensors always are
    "t": _t,
    "softmax": lambda self, dim, dtype=None: _softmax(self, dim, dtype),
    "log_softmax": lambda self, dim, dtype=None: _softmax(self, dim, dtype, log=True),
    "type_as": lambda self, other: self.to(other.dtype),
    "new_full": _new_full,
    "new_zeros": lambda self, *size, **kw: _new_full(self, _sizes(size), 0, **kw),
    "new_ones": lambda self, *size, **kw: _new_full(self, _sizes(size), 1, **kw),
    "isnan": lambda self: self != self,
    "isinf": _isinf,
}
add_methods(_METHODS)


# module-level functions: tm.sum(x, 1) is x.sum(1) -------------------------------------

def _function(name):
    def fn(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise DTypeError(f"tm.{name} takes a Tensor first, got {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"PyTorch's ``torch.{name}(input, ...)``: ``input.{name}(...)``."
    return fn


#: The functions ``tvmini`` exports under PyTorch's names (``tm.sum``, ...): each the
#: Tensor method of that name (the math ones from ``math_methods``).
NAMES = ("sum", "mean", "prod", "exp", "log", "sqrt", "abs", "flatten", "reshape", "transpose", "softmax",
         "log_softmax", "isnan", "isinf", "argmax", "argmin", "sigmoid", "tanh", "relu",
         "add", "sub", "mul", "div", "neg", "eq", "ne", "lt", "le", "gt", "ge", "cos", "sin", "tan", "erf",
         "expm1", "log1p", "log2", "log10", "exp2", "atan", "asin", "acos", "masked_fill", "clip", "square", "numel",
         "all", "any", "broadcast_to", "permute",
         "floor", "ceil", "round", "trunc", "frac", "sign", "sgn", "rsqrt", "reciprocal", "sinh", "cosh", "asinh",
         "acosh", "atanh", "nan_to_num", "atan2", "hypot", "fmod", "lerp", "addcmul", "addcdiv", "heaviside",
         "isclose", "logical_and", "logical_or", "logical_xor", "logical_not", "clamp_min", "clamp_max")
globals().update({n: _function(n) for n in NAMES})      # sum, mean, ... (torch's names, builtins' too)
_tensor_max, _tensor_min, _tensor_pow = _function("max"), _function("min"), _function("pow")


def pow(input, exponent):  # noqa: A001
    """``torch.pow``: ``input ** exponent``; ``input`` may be a number (to a tensor power)."""
    if isinstance(exponent, Tensor) and not isinstance(input, Tensor):
        return ops.rpow(exponent, input)
    return _tensor_pow(input, exponent)


def remainder(input, other):
    """``torch.remainder``: ``input % other`` with the sign of ``other``; ``input`` may
    be a number (by a tensor divisor)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise DTypeError(f"tm.remainder takes a Tensor operand, got {type(input).__name__} and "
                         f"{type(other).__name__}")
    return binary_ops.remainder(input, other)


def max(input, *args, **kwargs):  # noqa: A001
    """``torch.max``: of a tensor (``input.max(...)``), or of two, elementwise."""
    if args and isinstance(args[0], Tensor):
        from .ops import maximum
        return maximum(input, args[0])
    return _tensor_max(input, *args, **kwargs)


def min(input, *args, **kwargs):  # noqa: A001
    """``torch.min``: of a tensor (``input.min(...)``), or of two, elementwise."""
    if args and isinstance(args[0], Tensor):
        from .ops import minimum
        return minimum(input, args[0])
    return _tensor_min(input, *args, **kwargs)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether the values are close (``torch.allclose``; reads both back to the host)."""
    return bool(np.allclose(input.numpy(), other.numpy(), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    """Whether the shapes and values are the same (``torch.equal``; reads both back)."""
    return input.shape == other.shape and bool(np.array_equal(input.numpy(), other.numpy()))


def device(type, index=None):  # noqa: A002  (torch's argument name)
    """PyTorch's ``torch.device("cuda", 0)`` / ``torch.device("cuda:0")``: tvmini's Device."""
    return as_device(type if index is None else f"{type}:{index}")


class set_grad_enabled(_GradModeSetter):
    """``tm.set_grad_enabled(False)``: turns history recording off (or on) at once, as
    PyTorch's; as a context manager (or decorator) it restores the mode on exit."""

    def __init__(self, mode):
        self.mode, self._previous = bool(mode), is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def _recreate_cm(self):
        return set_grad_enabled(self.mode)


class inference_mode(_GradModeSetter):
    """PyTorch's ``inference_mode``: here :class:`~tvmini.graph.autograd.no_grad`
    (``inference_mode(False)`` leaves grad mode as it is)."""

    def __init__(self, mode=True):
        self._inference = bool(mode)

    @property
    def mode(self):
        return False if self._inference else is_grad_enabled()

    def _recreate_cm(self):
        return inference_mode(self._inference)
