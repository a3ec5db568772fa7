"""Expression nodes of the loop IR, shared by te (which re-exports them).

Every node is an immutable object with a ``dtype`` and a ``_fields`` tuple naming its
children, so generic visitors (``tir.functor``) can walk any node without a case per
class. Python operators build nodes and apply the promotion rules of ``tir.dtype``.
Equality (``==``) builds an ``EQ`` node, as in TVM; nodes hash by identity, so they can
be used as dictionary keys.
"""
import math
import struct

import numpy as np

from ..errors import DTypeError
from . import dtype as dt
from . import counter_hash


class PrimExpr:
    """Base class of every scalar expression."""
    __slots__ = ("dtype",)
    _fields: tuple = ()

    __hash__ = object.__hash__

    def children(self):
        return [getattr(self, f) for f in self._fields]

    def __bool__(self):
        raise DTypeError(
            f"the truth value of expression {self} is unknown while building; "
            "use te.all/te.any or te.if_then_else instead of Python and/or/if")

    def __int__(self):
        raise DTypeError(f"expression {self} has no value while building; only a constant converts to int")

    def equal(self, other):
        """TVM's ``x.equal(y)``: the expression ``x == y``."""
        return self == other

    # arithmetic -------------------------------------------------------------
    def __add__(self, o): return binary(Add, self, o)
    def __radd__(self, o): return binary(Add, o, self)
    def __sub__(self, o): return binary(Sub, self, o)
    def __rsub__(self, o): return binary(Sub, o, self)
    def __mul__(self, o): return binary(Mul, self, o)
    def __rmul__(self, o): return binary(Mul, o, self)
    def __truediv__(self, o): return binary(Div, self, o)
    def __rtruediv__(self, o): return binary(Div, o, self)
    def __floordiv__(self, o): return binary(FloorDiv, self, o)
    def __rfloordiv__(self, o): return binary(FloorDiv, o, self)
    def __mod__(self, o): return binary(FloorMod, self, o)
    def __rmod__(self, o): return binary(FloorMod, o, self)
    def __pow__(self, o): return power(self, o)
    def __rpow__(self, o): return power(o, self)
    def __neg__(self):     # -0.0 - x: exactly -x for every float (0 - x made -(0.0) +0.0)
        zero = const(-0.0, self.dtype) if dt.is_float(self.dtype) else const(0, "int32" if dt.is_bool(self.dtype) else self.dtype)
        return binary(Sub, zero, self)
    def __abs__(self): return call("abs", self)

    # comparisons and logic --------------------------------------------------
    def __lt__(self, o): return binary(LT, self, o)
    def __le__(self, o): return binary(LE, self, o)
    def __gt__(self, o): return binary(GT, self, o)
    def __ge__(self, o): return binary(GE, self, o)
    def __eq__(self, o): return binary(EQ, self, o)
    def __ne__(self, o): return binary(NE, self, o)
    # on bools ``& | ~`` are logical; on integers they (and ``^ << >>``) are bitwise
    def __and__(self, o): return logical_or_bitwise(And, "bitwise_and", self, o)
    def __rand__(self, o): return logical_or_bitwise(And, "bitwise_and", o, self)
    def __or__(self, o): return logical_or_bitwise(Or, "bitwise_or", self, o)
    def __ror__(self, o): return logical_or_bitwise(Or, "bitwise_or", o, self)
    def __xor__(self, o): return logical_or_bitwise(NE, "bitwise_xor", self, o)
    def __rxor__(self, o): return logical_or_bitwise(NE, "bitwise_xor", o, self)
    def __lshift__(self, o): return call("left_shift", self, o)
    def __rlshift__(self, o): return call("left_shift", o, self)
    def __rshift__(self, o): return call("right_shift", self, o)
    def __rrshift__(self, o): return call("right_shift", o, self)

    def __invert__(self):
        if dt.is_int(self.dtype) and not dt.is_bool(self.dtype):
            return call("bitwise_not", self)
        if not dt.is_bool(self.dtype):
            raise DTypeError(f"~ needs a bool or integer expression, got {self.dtype} in {self}")
        return Not(self)

    def astype(self, dtype):
        """Cast to ``dtype`` (a no-op when it already has it)."""
        dtype = dt.canonical(dtype)
        return self if dtype == self.dtype else Cast(dtype, self)

    def __repr__(self):
        from .printer import expr_str
        return expr_str(self)

    __str__ = __repr__


class Const(PrimExpr):
    """A constant of any dtype."""
    __slots__ = ("value",)

    def __int__(self):
        """``int(A.shape[0])`` of a constant extent, as TVM's ``IntImm``."""
        return int(self.value)

    def __init__(self, value, dtype):
        self.dtype = dtype
        if dt.is_bool(dtype):
            self.value = bool(value)
        elif dt.is_int(dtype):
            self.value = int(value)
        else:
            self.value = _rounded(float(value), dtype)


_PACKERS = {"float32": struct.Struct("<f"), "float16": struct.Struct("<e")}


def _rounded(value, dtype):
    """``value`` rounded to the nearest ``dtype`` value (what the kernel holds), so that
    folding constants computes what the kernel would: ``const(0.1, "float16")`` is
    0.0999755859375, ``const(70000.0, "float16")`` inf."""
    packer = _PACKERS.get(dtype)
    if packer is None:
        return value
    try:
        return packer.unpack(packer.pack(value))[0]
    except OverflowError:                    # rounds past the largest finite value
        return math.copysign(math.inf, value)


class Var(PrimExpr):
    """A named scalar variable: a loop variable or a symbolic extent (``te.var``)."""
    __slots__ = ("name",)

    def __init__(self, name="v", dtype="int32"):
        self.name = name
        self.dtype = dt.canonical(dtype)


class BinaryOp(PrimExpr):
    __slots__ = ("a", "b")
    _fields = ("a", "b")
    symbol = "?"

    def __init__(self, a, b, dtype=None):
        self.a, self.b = a, b
        self.dtype = dtype or a.dtype


class Add(BinaryOp): symbol = "+"
class Sub(BinaryOp): symbol = "-"
class Mul(BinaryOp): symbol = "*"
class Div(BinaryOp): symbol = "/"
class FloorDiv(BinaryOp): symbol = "//"
class FloorMod(BinaryOp): symbol = "%"
class Min(BinaryOp): symbol = "min"
class Max(BinaryOp): symbol = "max"


class CmpOp(BinaryOp):
    def __init__(self, a, b):
        super().__init__(a, b, "bool")


class EQ(CmpOp):
    symbol = "=="

    def __bool__(self):  # lets nodes sit in lists and dicts next to each other
        return self.a is self.b


class NE(CmpOp):
    symbol = "!="

    def __bool__(self):
        return self.a is not self.b


class LT(CmpOp): symbol = "<"
class LE(CmpOp): symbol = "<="
class GT(CmpOp): symbol = ">"
class GE(CmpOp): symbol = ">="
class And(CmpOp): symbol = "&&"
class Or(CmpOp): symbol = "||"


class Not(PrimExpr):
    __slots__ = ("a",)
    _fields = ("a",)

    def __init__(self, a):
        self.a, self.dtype = a, "bool"


class Cast(PrimExpr):
    __slots__ = ("value",)
    _fields = ("value",)

    def __init__(self, dtype, value):
        self.dtype, self.value = dtype, value


class Select(PrimExpr):
    """``cond ? t : f`` where only the taken branch is evaluated (safe for guarded loads)."""
    __slots__ = ("cond", "t", "f")
    _fields = ("cond", "t", "f")

    def __init__(self, cond, t, f):
        """TVM's ``tir.Select`` too: Python numbers become constants; the branches must
        share a dtype and ``cond`` be bool (``te.if_then_else`` promotes instead)."""
        cond, t, f = (x if isinstance(x, PrimExpr) else convert(x) for x in (cond, t, f))
        if t.dtype != f.dtype or cond.dtype != "bool":
            raise DTypeError(f"Select({cond}, {t}, {f}): the branches are {t.dtype} and {f.dtype} and the condition "
                             f"{cond.dtype}; they must be one dtype and bool (te.if_then_else promotes the branches)")
        self.cond, self.t, self.f = cond, t, f
        self.dtype = t.dtype


class Call(PrimExpr):
    """A math intrinsic (``exp``, ``log``, ...) applied to its arguments."""
    __slots__ = ("name", "args")
    _fields = ("args",)

    def __init__(self, name, args, dtype):
        self.name, self.args, self.dtype = name, tuple(args), dtype


class BufferLoad(PrimExpr):
    """Read ``buffer[indices]``; after storage flattening ``indices`` has one entry."""
    __slots__ = ("buffer", "indices")
    _fields = ("indices",)

    def __init__(self, buffer, indices):
        self.buffer, self.indices = buffer, tuple(indices)
        self.dtype = buffer.dtype


class Range:
    """The half-open interval ``[min, min + extent)`` of a loop or axis."""
    __slots__ = ("min", "extent")

    def __init__(self, min, extent):
        self.min, self.extent = convert(min), convert(extent)

    @staticmethod
    def from_bounds(lo, hi):
        return Range(lo, convert(hi) - lo)

    def __repr__(self):
        return f"Range(min={self.min}, extent={self.extent})"


# construction helpers --------------------------------------------------------------

def const(value, dtype=None):
    """A constant; ``dtype`` defaults to int32/int64 for ints, float32 for floats. An
    integer ``value`` must fit ``dtype`` (DTypeError, as TVM's): it would wrap silently."""
    return _fitting_const(value, dt.canonical(dtype) if dtype is not None else dt.scalar_dtype(value))


def _fitting_const(value, dtype):
    """``Const(value, dtype)``, refusing for an integer ``dtype`` a number outside its
    range, or a float that is not a whole number (inf, NaN, 0.5)."""
    if dt.is_int(dtype) and isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value != int(value):
            raise DTypeError(f"constant {value} is not a whole number; an {dtype} constant must be one")
        value = int(value)
    if dt.is_int(dtype) and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        info = np.iinfo(dtype)
        if not info.min <= int(value) <= info.max:
            raise DTypeError(f"integer constant {int(value)} does not fit {dtype} (range {info.min}..{info.max}); "
                             f"use a wider dtype (e.g. cast the expression with .astype)")
    return Const(value, dtype)


def convert(value):
    """Turn a Python/numpy scalar into a ``Const``; expressions pass through."""
    if isinstance(value, PrimExpr):
        return value
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return const(value)
    if hasattr(value, "as_expr"):
        return value.as_expr()
    raise DTypeError(f"cannot use {type(value).__name__} {value!r} as an expression")


def _operands(a, b):
    """Convert both operands, giving Python scalars their partner's dtype."""
    if not isinstance(a, PrimExpr) and not hasattr(a, "as_expr") and isinstance(b, PrimExpr):
        a = _fitting_const(a, dt.scalar_partner(b.dtype, a))
    elif not isinstance(b, PrimExpr) and not hasattr(b, "as_expr") and isinstance(a, PrimExpr):
        b = _fitting_const(b, dt.scalar_partner(a.dtype, b))
    return convert(a), convert(b)


def _to(x, dtype):
    return x if x.dtype == dtype else Cast(dtype, x)


def binary(cls, a, b):
    """Build ``cls(a, b)`` after promoting both operands to their common dtype."""
    a, b = _operands(a, b)
    dtype = dt.promote(a.dtype, b.dtype)
    if cls is Div and not dt.is_float(dtype):
        dtype = "float32"
    elif dt.is_bool(dtype) and not issubclass(cls, (CmpOp, Min, Max)):
        dtype = "int32"          # arithmetic on bools counts (numpy's sum of bools); max/min stay bool
    return cls(_to(a, dtype), _to(b, dtype))


def logical_or_bitwise(cls, name, a, b):
    """``a op b``: logical (``cls``) when both are bool, else the bitwise intrinsic ``name``."""
    a, b = _operands(a, b)
    if dt.is_bool(a.dtype) and dt.is_bool(b.dtype):
        return cls(a, b)
    return call(name, a, b)


def logical(cls, a, b):
    a, b = _operands(a, b)
    for x in (a, b):
        if not dt.is_bool(x.dtype):
            raise DTypeError(f"{cls.symbol} needs bool operands, got {x.dtype} in {x}; compare first")
    return cls(a, b)


#: integer intrinsics (bitwise operators); a shift by a negative count or by the width
#: or more gives 0 (``>>`` of a negative value: -1), never the hardware's undefined result
BITWISE_INTRINSICS = ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "left_shift", "right_shift")

FLOAT_INTRINSICS = ("exp", "log", "sqrt", "tanh", "sigmoid", "cos", "sin", "floor", "ceil", "round", "trunc",
                    "erf", "tan", "atan", "asin", "acos", "exp2", "expm1", "log2", "log10", "log1p")


def call(name, *args):
    """Apply a math intrinsic; integer arguments of float intrinsics become float32.
    ``counter_hash(counter, seed)``: 32 random bits as int64 (see ``counter_hash.py``)."""
    args = [convert(a) for a in args]
    if name in FLOAT_INTRINSICS or name in ("power", "fmod"):
        dtype = args[0].dtype
        for a in args[1:]:
            dtype = dt.promote(dtype, a.dtype)
        if not dt.is_float(dtype):
            dtype = "float32"
        args = [_to(a, dtype) for a in args]
        return Call(name, args, dtype)
    if name == "abs":
        if args[0].dtype.startswith("uint") or args[0].dtype == "bool":
            return args[0]          # never negative (a signed compare made uint8 200 -> 56)
        return Call(name, args, args[0].dtype)
    if name in BITWISE_INTRINSICS:
        if not all(dt.is_int(a.dtype) and not dt.is_bool(a.dtype) for a in args):
            raise DTypeError(f"{name} needs integer operands, got {[str(a) + ': ' + a.dtype for a in args]}")
        dtype = args[0].dtype
        for a in args[1:]:
            dtype = dt.promote(dtype, a.dtype)
        return Call(name, [_to(a, dtype) for a in args], dtype)
    if name == counter_hash.NAME:
        if len(args) != 2 or not all(dt.is_int(a.dtype) for a in args):
            raise DTypeError(f"{name} takes two integers (counter, seed), got {[str(a) for a in args]}")
        return Call(name, [_to(a, "int64") for a in args], "int64")
    raise DTypeError(f"unknown intrinsic {name!r}")


def power(a, b):
    a, b = _operands(a, b)
    return call("power", a, b)


def minimum(a, b):
    return binary(Min, a, b)


def maximum(a, b):
    return binary(Max, a, b)


def select(cond, t, f):
    """``te.if_then_else``: ``t`` where ``cond`` holds, else ``f`` (only one is evaluated)."""
    cond = convert(cond)
    if not dt.is_bool(cond.dtype):
        raise DTypeError(f"if_then_else needs a bool condition, got {cond.dtype} in {cond}")
    t, f = _operands(t, f)
    dtype = dt.promote(t.dtype, f.dtype)
    return Select(cond, _to(t, dtype), _to(f, dtype))


def all_of(*conds):
    """Logical and of all conditions (``te.all``)."""
    if not conds:
        return const(True)
    out = convert(conds[0])
    for c in conds[1:]:
        out = logical(And, out, c)
    return out


def any_of(*conds):
    """Logical or of all conditions (``te.any``)."""
    if not conds:
        return const(False)
    out = convert(conds[0])
    for c in conds[1:]:
        out = logical(Or, out, c)
    return out


def max_value(dtype):
    """The largest value of ``dtype`` (identity of a ``min`` reduction)."""
    if dt.is_float(dtype):
        return Const(math.inf, dtype)
    if dt.is_bool(dtype):
        return Const(True, dtype)
    return Const(np.iinfo(dtype).max, dtype)


def min_value(dtype):
    """The smallest value of ``dtype`` (identity of a ``max`` reduction)."""
    if dt.is_float(dtype):
        return Const(-math.inf, dtype)
    if dt.is_bool(dtype):
        return Const(False, dtype)
    return Const(np.iinfo(dtype).min, dtype)
