"""Operands of the graph layer's ops: device and dtype checks, PyTorch's type
promotion between two tensors, numpy's broadcast of two shapes, and how a Python
number becomes a kernel's scalar argument or a stored element (as PyTorch converts it)."""
import math

import numpy as np

from ..errors import DeviceError, DTypeError, ShapeError, ValueOverflowError


def check_device(op, a, b):
    """Refuse operands on different devices (naming both), or that are not tensors (a
    numpy array where a Tensor belongs: PyTorch's TypeError)."""
    for t in (a, b):
        if not hasattr(t, "_data"):
            raise DTypeError(f"{op}: expected Tensor operands, got {type(t).__name__}")
    if a._data._device is not b._data._device:
        raise DeviceError(f"{op}: operands are on different devices: {a.device} tensor of shape "
                          f"{a.shape} and {b.device} tensor of shape {b.shape}")


def check_same(op, a, b):
    """Refuse operands on different devices or with different dtypes (naming both)."""
    check_device(op, a, b)
    if a._data._dtype != b._data._dtype:
        raise DTypeError(f"{op}: operands have different dtypes: {a.dtype} tensor of shape {a.shape} "
                         f"and {b.dtype} tensor of shape {b.shape}; convert one with .astype()")


#: integer dtypes by width (bool the narrowest), for promotion
_INT_RANK = {"bool": 0, "uint8": 1, "int8": 1, "int32": 2, "int64": 3}


def result_dtype(x, y):
    """The dtype an elementwise op on ``x`` and ``y`` tensors computes in: PyTorch's
    ``promote_types`` — a float beats an integer or bool, the wider float or integer
    wins; uint8 with int8 gives int32 (PyTorch's int16 is not a tvmini dtype)."""
    if x == y:
        return x
    fx, fy = x.startswith("float"), y.startswith("float")
    if fx and fy:
        return x if np.dtype(x).itemsize > np.dtype(y).itemsize else y
    if fx or fy:
        return x if fx else y
    if {x, y} == {"uint8", "int8"}:
        return "int32"
    return x if _INT_RANK[x] > _INT_RANK[y] else y


def category(dtype):
    """0 for bool, 1 for the integers, 2 for the floats: what PyTorch's promotion ranks first."""
    return 2 if dtype.startswith("float") else 0 if dtype == "bool" else 1


def broadcast_shapes(op, s1, s2):
    """numpy's broadcast of two shapes, or a ShapeError naming the op and both shapes."""
    if s1 == s2:
        return s1
    try:
        return tuple(np.broadcast_shapes(s1, s2))
    except ValueError:
        raise ShapeError(f"{op}: shapes {s1} and {s2} do not broadcast") from None


def stored_value(value, dtype, what):
    """Python number (or bool) ``value`` as a ``dtype`` tensor stores it, converted as
    PyTorch's fills convert: nonzero into bool, truncated toward zero into an integer,
    an unsigned dtype taking negatives down to -max (wrapping: -1 is 255 in uint8).
    Raises ValueOverflowError (an OverflowError) naming ``what`` where PyTorch refuses:
    an integer out of the dtype's range, NaN or inf into an integer, a finite number
    past a float dtype's range."""
    def refuse():
        shown = f"an int of {value.bit_length()} bits" if isinstance(value, int) and value.bit_length() > 128 \
            else repr(value)
        return ValueOverflowError(f"{what}: {shown} does not fit in {dtype}")
    if dtype == "bool":
        return bool(value)
    if dtype.startswith("float"):
        try:
            number = float(value)
        except OverflowError:           # a Python int past any float
            raise refuse() from None
        limit = float(np.finfo(dtype).max)        # as a Python float: no numpy overflow warning
        if math.isfinite(number) and not -limit <= number <= limit:
            raise refuse()
        return number
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise refuse()
        value = int(value)
    info = np.iinfo(dtype)
    low = -info.max if info.min == 0 else info.min
    if not low <= int(value) <= info.max:
        raise refuse()
    return int(value) % (info.max + 1) if info.min == 0 else int(value)


def scalar_operand(op, value, dtype):
    """Python number ``value`` as the runtime scalar of ``op`` on a ``dtype`` tensor, taken
    as PyTorch takes it: an int wraps into an integer dtype (an int32 tensor plus 2**40
    adds 0; compared with 2**40 it compares with 0), a float dtype gets a float. Raises
    ValueOverflowError naming ``op`` for an int PyTorch refuses too: past int64 next to an
    integer tensor, past any float next to a float one (``x * 10**400``)."""
    if dtype.startswith("float"):
        try:
            return float(value)
        except OverflowError:
            raise ValueOverflowError(f"{op}: an int of {int(value).bit_length()} bits is past the range of "
                                     f"{dtype} (of any float)") from None
    value = int(value)
    if not -2 ** 63 <= value < 2 ** 63:
        raise ValueOverflowError(f"{op}: an int of {value.bit_length()} bits does not fit in int64 (next to a "
                                 f"{dtype} tensor)")
    info = np.iinfo(dtype)
    span = 2 ** info.bits
    value %= span
    return value - span if value > info.max else value


def scaled(op, x, factor):
    """``x * factor`` for a Python number ``factor`` (``x`` itself for 1) in ``x``'s dtype:
    the ``alpha=``/``beta=`` of ``add``, ``addmm``, ``index_add`` ...; ``x`` may be a
    number too; a fractional factor for an integer tensor is refused (it would have to
    truncate; PyTorch refuses it as well), naming ``op``."""
    if factor == 1:
        return x
    if _is_number(x):
        return x * factor
    if not x.dtype.startswith("float") and not float(factor).is_integer():
        raise DTypeError(f"{op}: a fractional factor {factor!r} cannot scale a {x.dtype} tensor of shape {x.shape}")
    return x * factor


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
