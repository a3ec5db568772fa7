"""PyTorch's elementwise numerics that tvmini spells with its existing kernels:
``signbit``, ``float_power``, ``ldexp``, ``deg2rad``/``rad2deg``, ``sinc``, the
``bitwise_*`` functions (the ``& | ^ ~ << >>`` operators' kernels), ``gcd``/``lcm``
(``topi.number_theory``), ``isin``, the NaN-skipping reductions ``nansum``/``nanmean``,
``histc`` (one counting kernel, ``topi.histogram``) and ``tm.clone``; the in-place
forms PyTorch has (``x.sinc_()``, ...).

Each is a composition of graph ops (one or two kernels each; ``tm.jit`` fuses the
elementwise ones), so gradients are those ops': ``sinc``'s is guarded at 0 (the
removable singularity, gradient 0 there as PyTorch's), ``nansum``/``nanmean`` send no
gradient to the NaNs they skip.
"""
import math

import numpy as np

from ..errors import ArgumentError, DTypeError
from ..topi import histogram, number_theory
from . import dispatch, indexing, ops
from .aliases import pow as _pow
from .autograd import no_grad
from .creation import zeros
from .logic_ops import logical, logical_not, where
from .reductions import amax, amin
from .stat_ops import any as _any
from .tensor import Tensor, add_methods, method_of


def _tensor(op, value):
    if not isinstance(value, Tensor):
        raise DTypeError(f"{op}: takes a Tensor, got {type(value).__name__}")
    return value


def _floating(x):
    """``x`` itself if it is a float tensor, else converted to float32 (PyTorch's
    default dtype for the float result of an integer input)."""
    return x if x.dtype.startswith("float") else ops.cast(x, "float32")


def signbit(input):
    """Whether each element's sign bit is set: ``x < 0``, and for floats also ``-0.0``
    (a bool tensor). tvmini's kernels cannot read a NaN's bits: a NaN gives False
    (PyTorch: its sign bit)."""
    _tensor("signbit", input)
    if input.dtype == "bool":
        return input != input
    if not input.dtype.startswith("float"):
        return input < 0
    return (input < 0) | ((input == 0) & (1.0 / input < 0))        # -0.0: 1 / x is -inf


def float_power(input, exponent):
    """``input ** exponent`` computed in float64 (PyTorch's ``float_power``); either side
    may be a number."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise DTypeError(f"float_power: takes a Tensor operand, got {type(input).__name__} and "
                         f"{type(exponent).__name__}")
    input = ops.cast(input, "float64") if isinstance(input, Tensor) else float(input)
    exponent = ops.cast(exponent, "float64") if isinstance(exponent, Tensor) else float(exponent)
    return _pow(input, exponent)


def ldexp(input, other):
    """``input * 2 ** other`` (a float result: float32 for integer inputs)."""
    _tensor("ldexp", input)
    other = other if isinstance(other, Tensor) else ops._as_tensor(other, ops.cast(input, "int64"))
    scale = _pow(2.0, _floating(other))
    return _floating(input) * scale


def deg2rad(input):
    """Degrees to radians (a float result: float32 for integer inputs)."""
    return _floating(_tensor("deg2rad", input)) * (math.pi / 180.0)


def rad2deg(input):
    """Radians to degrees (a float result: float32 for integer inputs)."""
    return _floating(_tensor("rad2deg", input)) * (180.0 / math.pi)


def sinc(input):
    """The normalized sinc, ``sin(pi x) / (pi x)``, 1 at 0 (gradient 0 there)."""
    x = _floating(_tensor("sinc", input))
    zero = x == 0
    safe = where(zero, ops._as_tensor(1.0, x), x) * math.pi      # 0 never reaches the division
    return where(zero, ops._as_tensor(1.0, x), safe.sin() / safe)


def _bitwise(op, name):
    def function(input, other):
        _tensor(name, input)
        for t in (input, other):
            if isinstance(t, Tensor) and (t.dtype.startswith("float") or op.endswith("shift") and t.dtype == "bool"):
                raise DTypeError(f"{name}: needs {'integer' if op.endswith('shift') else 'bool or integer'} tensors, "
                                 f"got a {t.dtype} tensor of shape {t.shape}")
        return logical(op, input, other)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"PyTorch's ``{name}`` on bool or integer tensors (``other`` may be a number); no gradient."
    return function


bitwise_and = _bitwise("and", "bitwise_and")
bitwise_or = _bitwise("or", "bitwise_or")
bitwise_xor = _bitwise("xor", "bitwise_xor")
bitwise_left_shift = _bitwise("left_shift", "bitwise_left_shift")
bitwise_right_shift = _bitwise("right_shift", "bitwise_right_shift")


def bitwise_not(input):
    """``~input``: logical on a bool tensor, bitwise on an integer one."""
    return logical_not(_tensor("bitwise_not", input))


def _histc_kernel(x, low, high, bins):
    return histogram.histc(x, low, high, bins)


def _gcd_kernel(a, b):
    return number_theory.gcd(a, b)


def _lcm_kernel(a, b):
    return number_theory.lcm(a, b)


def _integer_pair(op, input, other):
    """``input`` and ``other`` (a tensor or an int) promoted to one integer dtype and
    broadcast to one shape."""
    _tensor(op, input)
    other = other if isinstance(other, Tensor) else ops._as_tensor(other, input)
    for t in (input, other):
        if t.dtype.startswith("float") or t.dtype == "bool":
            raise DTypeError(f"{op}: needs integer tensors, got a {t.dtype} tensor of shape {t.shape}")
    a, b = ops.promote(op, input, other)
    shape = ops.broadcast_shapes(op, a.shape, b.shape)
    return ops.broadcast_to(a, shape), ops.broadcast_to(b, shape)


def gcd(input, other):
    """The non-negative greatest common divisor, elementwise (integers, broadcast;
    ``gcd(0, 0) = 0``; PyTorch's results at the dtype's minimum): Euclid's steps up to
    their bound for the dtype, one loop nest (``topi.number_theory``). No gradient."""
    a, b = _integer_pair("gcd", input, other)
    return ops._kernel("gcd", _gcd_kernel, a, b)


def lcm(input, other):
    """The non-negative least common multiple, elementwise (0 if either is 0; an
    overflow wraps as PyTorch's)."""
    a, b = _integer_pair("lcm", input, other)
    return ops._kernel("lcm", _lcm_kernel, a, b)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each of ``elements`` equals one of ``test_elements`` (either may be a
    number; the result has ``elements``' shape), or does not with ``invert``. Compares
    every pair (one reduction over the test elements)."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise DTypeError("isin: needs a Tensor for elements or test_elements")
    like = elements if isinstance(elements, Tensor) else test_elements
    elements = elements if isinstance(elements, Tensor) else ops._as_tensor(elements, like)
    tests = test_elements if isinstance(test_elements, Tensor) else ops._as_tensor(test_elements, like)
    ops.check_device("isin", elements, tests)
    if not tests.numel() or not elements.numel():
        found = zeros(elements.shape, dtype="bool", device=elements.device)
    else:
        pairs = ops.reshape(elements, elements.shape + (1,)) == ops.reshape(tests, (tests.numel(),))
        found = _any(pairs, -1)
    return logical_not(found) if invert else found


def _nan_free(op, input):
    _tensor(op, input)
    if not input.dtype.startswith("float"):
        return input, None
    keep = input == input
    return where(keep, input, ops._as_tensor(0, input)), keep


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum with NaNs counted as 0 (no gradient to them)."""
    x, _ = _nan_free("nansum", input)
    return x.sum(dim=dim, keepdim=keepdim, dtype=dtype) if dim is not None else x.sum(dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the elements that are not NaN (NaN where all are); floats only, as
    PyTorch's."""
    if not _tensor("nanmean", input).dtype.startswith("float") and dtype is None:
        raise DTypeError(f"nanmean: needs a float tensor (or dtype=), got {input.dtype} of shape {input.shape}")
    if dtype is not None:
        input = ops.cast(input, dtype)
    x, keep = _nan_free("nanmean", input)
    count = ops.cast(keep, x.dtype)
    if dim is None:
        total, count = x.sum(), count.sum()
        return total / count if not keepdim else ops.reshape(total / count, (1,) * input.ndim)
    return x.sum(dim=dim, keepdim=keepdim) / count.sum(dim=dim, keepdim=keepdim)


def histc(input, bins=100, min=0, max=0):  # noqa: A002  (torch's argument names)
    """Counts of ``input``'s elements in ``bins`` equal-width bins over ``[min, max]``
    (equal, as both 0 by default: the data's smallest and largest value; a range of
    one value widened by 1 either side), elements outside ignored, the last bin
    closed; in ``input``'s float dtype. No gradient (PyTorch defines none)."""
    x = _tensor("histc", input)
    if not x.dtype.startswith("float"):
        raise DTypeError(f"histc: needs a float tensor, got {x.dtype} of shape {x.shape}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins <= 0:
        raise ArgumentError(f"histc: bins must be a positive int, got {bins!r}")
    if min > max:
        raise ArgumentError(f"histc: max must be larger than min, got min={min} and max={max}")
    with no_grad():
        x = ops.reshape(x.detach(), (x.numel(),))
        if not x.numel():
            return zeros(bins, dtype=input.dtype, device=x.device)
        if min == max:              # the data's range (PyTorch's rule for any equal pair)
            low, high = amin(x), amax(x)
            if dispatch.thread.tracer is None and x.device.kind == "cpu" and \
                    not np.isfinite([low.item(), high.item()]).all():
                raise ArgumentError(f"histc: the range of the data, [{low.item()}, {high.item()}], is not "
                                    "finite (give min and max)")
        else:
            low, high = ops._as_tensor(float(min), x), ops._as_tensor(float(max), x)
        return ops._kernel("histc", _histc_kernel, x, low, high, bins=bins)


def clone(input, *, memory_format=None):
    """A copy of ``input`` (differentiable; tvmini's tensors are always contiguous, so
    ``memory_format`` changes nothing)."""
    return _tensor("clone", input).clone()


def _in_place(function):
    """``function``'s in-place form (``x.gcd_(y)``): the result written over self, under
    the rules of in-place ops (``indexing.update``: it must fit self's dtype)."""
    def method(self, *args):
        value = args[0] if args else None
        return indexing.update(self, lambda old, v: function(old, *((v,) + args[1:] if args else ())), value,
                               f"{function.__name__}_")
    method.__doc__ = f"``{function.__name__}`` in place; returns self."
    return method


_FUNCTIONS = (signbit, float_power, ldexp, deg2rad, rad2deg, sinc, bitwise_and, bitwise_or, bitwise_xor, bitwise_not,
              bitwise_left_shift, bitwise_right_shift, nansum, nanmean, histc, gcd, lcm)
add_methods({f.__name__: method_of(f) for f in _FUNCTIONS})
#: the functions PyTorch also has in place (Tensor methods ending in ``_``)
_IN_PLACE = (float_power, ldexp, deg2rad, rad2deg, sinc, bitwise_and, bitwise_or, bitwise_xor, bitwise_not,
             bitwise_left_shift, bitwise_right_shift, gcd, lcm)
add_methods({f"{f.__name__}_": _in_place(f) for f in _IN_PLACE})
