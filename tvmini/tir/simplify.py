"""The simplifier: constant folding, linear canonical forms and provable facts.

``simplify(e, bounds)`` rewrites an expression bottom-up. Integer ``+ - *`` are put in
canonical linear form (so ``x*1``, ``x+0`` and ``x*8 + y - x*8`` vanish); ``(a*b)//b``,
``(8*x + y) // 8`` and ``% `` fold when the remainder is provably inside ``[0, b)``, and a
factor common to the divisor and every coefficient is divided out (``(4*x + 1) // 16`` is
``x // 4``);
comparisons, ``min``/``max`` and ``select`` fold when the interval analysis of
``tir.arith`` proves them, using ``bounds`` (Var -> inclusive ``(lo, hi)``).
``simplify_stmt`` does the same over a statement, learning loop-variable ranges from the
enclosing loops, dropping provably-true guards and provably-empty loops.
"""
import math

import numpy as np

from . import dtype as dt
from .arith import interval, linear_form, structural_key
from .expr import (EQ, GE, GT, LE, LT, NE, Add, And, Call, Cast, CmpOp, Const, Div,
                   FloorDiv, FloorMod, Max, Min, Mul, Not, Or, Select, Sub)
from .functor import Mutator, substitute
from .stmt import ForKind, IfThenElse, LetStmt

def _nan_max(a, b):
    """``max`` as the kernels compute it: a NaN either side gives NaN (Python's ignores
    one in second place)."""
    return a if a != a else b if b != b else max(a, b)


def _nan_min(a, b):
    return a if a != a else b if b != b else min(a, b)


_FOLD = {
    Add: lambda a, b: a + b, Sub: lambda a, b: a - b, Mul: lambda a, b: a * b,
    Div: lambda a, b: a / b, FloorDiv: lambda a, b: a // b, FloorMod: lambda a, b: a % b,
    Min: _nan_min, Max: _nan_max,
    EQ: lambda a, b: a == b, NE: lambda a, b: a != b, LT: lambda a, b: a < b,
    LE: lambda a, b: a <= b, GT: lambda a, b: a > b, GE: lambda a, b: a >= b,
    And: lambda a, b: a and b, Or: lambda a, b: a or b,
}


def _typed(value, dtype):
    """Round a folded Python number to what ``dtype`` can hold."""
    if dt.is_float(dtype):
        return float(np.array(value).astype(dtype))
    if dt.is_int(dtype):
        return int(np.array(value).astype(dtype))
    return bool(value)


def _overflows(value, dtype):
    """Whether folded integer ``value`` is outside ``dtype``'s range (products of the
    bounds of three int32 extents reach 2^93)."""
    if not dt.is_int(dtype) or dt.is_bool(dtype) or isinstance(value, bool):
        return False
    bits = dt.bits(dtype)
    lo, hi = (0, 2**bits - 1) if dtype.startswith("uint") else (-2**(bits - 1), 2**(bits - 1) - 1)
    return not lo <= value <= hi


def _exact(dtype):
    """Whether integer algebra that assumes no overflow holds for ``dtype``: int32 and
    int64, the dtypes of indices (as TVM assumes), not the 8-bit data types, where
    wrapping is the point of the arithmetic (``(x * 2) // 2`` is not ``x`` for int8)."""
    return dtype in ("int32", "int64")


def _zero(c, sign):
    """Whether constant ``c`` is 0, with the sign ``sign`` (+1/-1) if it is a float."""
    return c.value == 0 and (not dt.is_float(c.dtype) or math.copysign(1.0, c.value) == sign)


class Simplifier(Mutator):
    def __init__(self, bounds=None):
        self.bounds = dict(bounds or {})

    # facts ------------------------------------------------------------------
    def sign_bounds(self, e):
        """Constant (lo, hi) of integer ``e`` where known (each may be None)."""
        iv = interval(e, self.bounds)
        if iv is None:
            return None, None
        lo, hi = iv
        return (lo.value if isinstance(lo, Const) else None,
                hi.value if isinstance(hi, Const) else None)

    def _diff_bounds(self, a, b):
        return self.sign_bounds(self.visit(Sub(a, b)))

    # nodes ------------------------------------------------------------------
    def visit_Cast(self, e):
        v = self.visit(e.value)
        if v.dtype == e.dtype:
            return v
        if isinstance(v, Const):
            value = v.value
            if dt.is_int(e.dtype) and dt.is_float(v.dtype):
                if not math.isfinite(value):
                    return Cast(e.dtype, v)
                value = math.trunc(value)
            return Const(_typed(value, e.dtype), e.dtype)
        return e if v is e.value else Cast(e.dtype, v)

    def visit_BinaryOp(self, e):
        a, b = self.visit(e.a), self.visit(e.b)
        cls = type(e)
        if isinstance(a, Const) and isinstance(b, Const):
            if not (cls in (Div, FloorDiv, FloorMod) and b.value == 0):
                value = _FOLD[cls](a.value, b.value)
                if _overflows(value, e.dtype):     # left to wrap at run time; bounds analysis sees no constant
                    return e if a is e.a and b is e.b else cls(a, b, e.dtype)
                return Const(_typed(value, e.dtype), e.dtype)
        handler = getattr(self, "_" + cls.__name__, None)
        if handler is not None:
            out = handler(a, b, e.dtype)
            if out is not None:
                return out
        if a is e.a and b is e.b:
            return e
        return cls(a, b) if issubclass(cls, CmpOp) else cls(a, b, e.dtype)

    def _linear(self, a, b, dtype, cls):
        if not _exact(dtype):
            return self._float_identity(a, b, cls)
        return _merge_div_mod(linear_form(cls(a, b, dtype))).to_expr(dtype)

    def _float_identity(self, a, b, cls):
        """``x + 0``, ``x * 1``... -> ``x`` where that holds for every value, the sign of
        a zero included: for floats ``x + (-0.0)`` and ``x - 0.0`` are ``x`` but
        ``x + 0.0`` is not (-0.0 + 0.0 is +0.0)."""
        if isinstance(b, Const) and ((cls is Add and _zero(b, -1)) or (cls is Sub and _zero(b, 1))
                                     or (cls in (Mul, Div) and b.value == 1)):
            return a
        if isinstance(a, Const) and ((cls is Add and _zero(a, -1)) or (cls is Mul and a.value == 1)):
            return b
        return None

    def _Add(self, a, b, dtype): return self._linear(a, b, dtype, Add)
    def _Sub(self, a, b, dtype): return self._linear(a, b, dtype, Sub)
    def _Mul(self, a, b, dtype): return self._linear(a, b, dtype, Mul)
    def _Div(self, a, b, dtype): return self._float_identity(a, b, Div)

    def _div_parts(self, a, b, dtype):
        """(q, r, c) with a == c*q + r when b is a positive constant c, else None."""
        if not (_exact(dtype) and isinstance(b, Const) and b.value > 0):
            return None
        c = b.value
        q, r = linear_form(a).split_divisible(c)
        return q, r, c

    def _remainder_in_range(self, r, c):
        lo, hi = self.sign_bounds(r.to_expr("int64") if not r.is_const() else Const(r.const, "int64"))
        return lo is not None and hi is not None and lo >= 0 and hi < c

    def _factor_out(self, r, c):
        """(s, k, t) with ``r == k*s + t``, where ``k > 1`` divides ``c`` and ``t`` (the
        terms ``k`` does not divide, and the constant's remainder) is provably in ``[0,
        k)``; None when there is none. Then ``r // c == s // (c/k)`` and ``r % c == k *
        (s % (c/k)) + t``: an unrolled copy ``(4*f + 1) // 16`` of a block of four
        filters is ``f // 4``, and a thread's ``(4*tx + j) // 32`` with ``0 <= j < 4`` is
        ``tx // 8`` — the same group for the thread's four columns, so a GPU loads them
        as one vector. The largest such ``k`` is taken."""
        if r.is_const():
            return None
        for k in sorted({math.gcd(c, v) for _, v in r.terms.values()} - {1}, reverse=True):
            s, t = r.split_divisible(k)
            if not s.is_const() and self._remainder_in_range(t, k):
                return s, k, t
        return None

    def _FloorDiv(self, a, b, dtype):
        parts = self._div_parts(a, b, dtype)
        if parts is None:
            return None
        q, r, c = parts
        if c == 1:
            return a
        if isinstance(a, FloorMod) and isinstance(a.b, Const) and 0 < a.b.value <= c:
            return Const(0, dtype)          # x % m is in [0, m) and m <= c
        if self._remainder_in_range(r, c):
            return q.to_expr(dtype)
        common = self._factor_out(r, c)
        if common is not None:
            s, k, _ = common
            return self.visit(Add(q.to_expr(dtype), FloorDiv(s.to_expr(dtype), Const(c // k, dtype), dtype), dtype))
        if q.is_const() and q.const == 0:
            return None
        return self.visit(Add(q.to_expr(dtype), FloorDiv(r.to_expr(dtype), b, dtype), dtype))

    def _FloorMod(self, a, b, dtype):
        parts = self._div_parts(a, b, dtype)
        if parts is None:
            return None
        q, r, c = parts
        if c == 1:
            return Const(0, dtype)
        if self._remainder_in_range(r, c):
            return r.to_expr(dtype)
        common = self._factor_out(r, c)
        if common is not None:
            s, k, rest = common
            inner = FloorMod(s.to_expr(dtype), Const(c // k, dtype), dtype)
            return self.visit(Add(Mul(inner, Const(k, dtype), dtype), rest.to_expr(dtype), dtype))
        if q.is_const() and q.const == 0:
            return None
        return FloorMod(r.to_expr(dtype), b, dtype)

    def _minmax(self, a, b, pick_a_if_le):
        if structural_key(a) == structural_key(b):
            return a
        if not _exact(a.dtype):
            return None
        lo, hi = self._diff_bounds(a, b)
        if hi is not None and hi <= 0:
            return a if pick_a_if_le else b
        if lo is not None and lo >= 0:
            return b if pick_a_if_le else a
        return None

    def _Min(self, a, b, dtype): return self._minmax(a, b, True)
    def _Max(self, a, b, dtype): return self._minmax(a, b, False)

    def _compare(self, a, b, true_if, false_if):
        if not _exact(a.dtype):
            return None
        lo, hi = self._diff_bounds(a, b)
        if true_if(lo, hi):
            return Const(True, "bool")
        if false_if(lo, hi):
            return Const(False, "bool")
        return None

    def _LT(self, a, b, _):
        return self._compare(a, b, lambda lo, hi: hi is not None and hi < 0, lambda lo, hi: lo is not None and lo >= 0)

    def _LE(self, a, b, _):
        return self._compare(a, b, lambda lo, hi: hi is not None and hi <= 0, lambda lo, hi: lo is not None and lo > 0)

    def _GT(self, a, b, _): return self._LT(b, a, _)
    def _GE(self, a, b, _): return self._LE(b, a, _)

    def _EQ(self, a, b, _):
        return self._compare(a, b, lambda lo, hi: lo == 0 and hi == 0,
                             lambda lo, hi: (lo is not None and lo > 0) or (hi is not None and hi < 0))

    def _NE(self, a, b, _):
        out = self._EQ(a, b, _)
        return None if out is None else Const(not out.value, "bool")

    def _And(self, a, b, _):
        for x, y in ((a, b), (b, a)):
            if isinstance(x, Const):
                return y if x.value else Const(False, "bool")
        return None

    def _Or(self, a, b, _):
        for x, y in ((a, b), (b, a)):
            if isinstance(x, Const):
                return Const(True, "bool") if x.value else y
        return None

    def visit_Not(self, e):
        a = self.visit(e.a)
        if isinstance(a, Const):
            return Const(not a.value, "bool")
        return e if a is e.a else Not(a)

    def visit_Select(self, e):
        cond = self.visit(e.cond)
        if isinstance(cond, Const):
            return self.visit(e.t if cond.value else e.f)
        t, f = self.visit(e.t), self.visit(e.f)
        if structural_key(t) == structural_key(f):
            return t
        if cond is e.cond and t is e.t and f is e.f:
            return e
        return Select(cond, t, f)

    def visit_Call(self, e):
        args = tuple(self.visit(a) for a in e.args)
        if all(a is b for a, b in zip(args, e.args)):
            return e
        return Call(e.name, args, e.dtype)

    # statements -------------------------------------------------------------
    def visit_For(self, s):
        lo, extent = self.visit(s.min), self.visit(s.extent)
        ext_lo, ext_hi = self.sign_bounds(extent)
        if ext_hi is not None and ext_hi <= 0:
            return None
        if isinstance(extent, Const) and extent.value == 1 and s.kind is not ForKind.THREAD_BINDING:
            return self.visit(substitute(s.body, {s.var: lo}))
        saved = self.bounds.get(s.var)
        self.bounds[s.var] = (lo, self.visit(Sub(Add(lo, extent, lo.dtype), Const(1, lo.dtype), lo.dtype)))
        body = self.visit(s.body)
        if saved is None:
            del self.bounds[s.var]
        else:
            self.bounds[s.var] = saved
        if body is None:
            return None
        return s.rebuild(lo, extent, body)

    def visit_IfThenElse(self, s):
        cond = self.visit(s.cond)
        if isinstance(cond, Const):
            return self.visit(s.then_case if cond.value else s.else_case)
        then_case, else_case = self.visit(s.then_case), self.visit(s.else_case)
        if then_case is None and else_case is None:
            return None
        if then_case is None:
            return IfThenElse(self.visit(Not(cond)), else_case)
        return IfThenElse(cond, then_case, else_case)

    def visit_LetStmt(self, s):
        value = self.visit(s.value)
        iv = interval(value, self.bounds) if dt.is_int(value.dtype) else None
        if iv is not None:
            self.bounds[s.var] = iv
        body = self.visit(s.body)
        self.bounds.pop(s.var, None)
        return None if body is None else LetStmt(s.var, value, body)


def _merge_div_mod(lin):
    """Rewrite ``k*c*(n // c) + k*(x % c)`` as ``k*n`` inside a linear form, where ``n``
    is ``x`` or ``x % m`` with ``c`` dividing ``m`` (then ``n % c == x % c``), until no
    pair is left: the flattened index of a tensor read through a reshape, ``k // 9 * 9 +
    k % 9 // 3 * 3 + k % 3``, is ``k``."""
    merged = True
    while merged:
        merged = False
        for key, (atom, k) in list(lin.terms.items()):
            if key not in lin.terms or not (isinstance(atom, FloorMod) and isinstance(atom.b, Const)):
                continue
            c = atom.b.value
            for div_key, (div, coeff) in list(lin.terms.items()):
                if (isinstance(div, FloorDiv) and isinstance(div.b, Const) and div.b.value == c and coeff == k * c
                        and _same_remainder(div.a, atom.a, c)):
                    del lin.terms[key], lin.terms[div_key]
                    lin = lin.add(linear_form(div.a).scale(k))
                    merged = True
                    break
    return lin


def _same_remainder(n, x, c):
    """Whether ``n % c == x % c`` for every ``x``: ``n`` is ``x`` or ``x % m`` with ``c | m``."""
    if structural_key(n) == structural_key(x):
        return True
    return (isinstance(n, FloorMod) and isinstance(n.b, Const) and n.b.value % c == 0
            and structural_key(n.a) == structural_key(x))


def simplify(node, bounds=None):
    """Simplify an expression or statement (see the module docstring)."""
    return Simplifier(bounds).visit(node)


def simplify_stmt(stmt, bounds=None):
    return Simplifier(bounds).visit(stmt)


def is_const_int(e, value=None):
    """Whether ``e`` simplifies to an integer constant (equal to ``value`` if given)."""
    e = simplify(e)
    return isinstance(e, Const) and dt.is_int(e.dtype) and (value is None or e.value == value)


def const_int(e):
    """The integer value of ``e`` if it simplifies to a constant, else None."""
    e = simplify(e)
    return e.value if isinstance(e, Const) and dt.is_int(e.dtype) else None
