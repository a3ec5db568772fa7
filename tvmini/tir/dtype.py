"""dtype names and the promotion rules of tvmini expressions.

The rules (tested in tests/test_dtype.py):

* dtypes are named as numpy names them: ``bool``, ``int8``, ``int32``, ``int64``,
  ``uint8``, ``float16``, ``float32``, ``float64``.
* Binary arithmetic between two expressions promotes to the higher of the two on the
  ladder ``bool < int8 < uint8 < int32 < int64 < float16 < float32 < float64``
  (mixing ``uint8`` and ``int8`` gives ``int32``; any float beats any integer).
* A Python ``int`` next to an expression takes the expression's dtype; a Python
  ``float`` takes the expression's dtype if it is a float, else ``float32``; a bool
  expression next to a Python number behaves as ``int32`` (or ``float32``).
* ``/`` is true division: integer operands give ``float32``.
  ``//`` and ``%`` are floor division and floor modulo (the result has the sign of the
  divisor, as in Python and numpy), defined for integers and floats.
* Comparisons and ``&``, ``|``, ``~`` give ``bool``.
"""
import numpy as np

from ..errors import DTypeError

_LADDER = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]
_RANK = {name: i for i, name in enumerate(_LADDER)}

DTYPES = tuple(_LADDER)


def canonical(dtype) -> str:
    """Return the canonical name of ``dtype`` (a str, numpy dtype or numpy type)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise DTypeError(f"unknown dtype {dtype!r}") from None
    if name not in _RANK:
        raise DTypeError(f"dtype {name} is not supported; use one of {', '.join(_LADDER)}")
    return name


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def is_int(dtype: str) -> bool:
    return dtype.startswith("int") or dtype.startswith("uint")


def is_bool(dtype: str) -> bool:
    return dtype == "bool"


def bits(dtype: str) -> int:
    return 8 if dtype == "bool" else np.dtype(dtype).itemsize * 8


def promote(a: str, b: str) -> str:
    """The dtype of a binary arithmetic result with operand dtypes ``a`` and ``b``."""
    if a == b:
        return a
    if {a, b} == {"int8", "uint8"}:
        return "int32"
    return a if _RANK[a] > _RANK[b] else b


def scalar_partner(expr_dtype: str, value) -> str:
    """The dtype a Python scalar ``value`` takes next to an expression of ``expr_dtype``."""
    if isinstance(value, (bool, np.bool_)):
        return expr_dtype
    if isinstance(value, (int, np.integer)):
        return "int32" if is_bool(expr_dtype) else expr_dtype
    if isinstance(value, (float, np.floating)):
        return expr_dtype if is_float(expr_dtype) else "float32"
    raise DTypeError(f"cannot use {type(value).__name__} {value!r} in an expression")


def scalar_dtype(value) -> str:
    """The dtype of a Python scalar standing alone (``te.const`` without dtype)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int32" if -2**31 <= int(value) < 2**31 else "int64"
    if isinstance(value, (float, np.floating)):
        return "float32"
    raise DTypeError(f"cannot make a constant from {type(value).__name__} {value!r}")
