"""Integer arithmetic on expressions: canonical linear forms and interval bounds.

Two tools that the simplifier, bound inference and guard elimination share:

* ``linear_form(e)`` writes an integer expression as ``sum(coeff * atom) + constant``
  where atoms are variables or non-linear subexpressions (compared structurally), so
  ``x*8 + y - x*8`` becomes ``y`` and ``(x*8 + y) // 8`` can be reasoned about.
* ``interval(e, env)`` bounds an expression over variables that range over intervals:
  ``env`` maps a ``Var`` to ``(lo, hi)`` (inclusive, expressions or ints); variables not
  in ``env`` stay symbolic points. The result is ``(lo, hi)`` expressions, or ``None``
  where the analysis cannot bound the expression (indirect loads, non-linear products).
"""
from . import dtype as dt
from .expr import (Add, BinaryOp, BufferLoad, Call, Cast, Const, FloorDiv, FloorMod, Max,
                   Min, Mul, PrimExpr, Select, Sub, Var)


def structural_key(e):
    """A hashable key equal for structurally identical expressions."""
    if isinstance(e, Var):
        return ("var", id(e))
    if isinstance(e, Const):
        return ("const", e.dtype, e.value)
    parts = [type(e).__name__, e.dtype]
    if isinstance(e, Call):
        parts.append(e.name)
    if isinstance(e, BufferLoad):
        parts.append(id(e.buffer))
    tensor = getattr(e, "tensor", None)
    if tensor is not None:
        parts.append(id(tensor))
    for f in e._fields:
        v = getattr(e, f)
        if isinstance(v, tuple):
            parts.append(tuple(structural_key(x) if isinstance(x, PrimExpr) else id(x) for x in v))
        elif isinstance(v, PrimExpr):
            parts.append(structural_key(v))
        else:
            parts.append(id(v))
    return tuple(parts)


class Linear:
    """``sum(coeff * atom) + const`` over integer atoms; atoms keyed structurally."""
    __slots__ = ("terms", "const")

    def __init__(self, terms=None, const=0):
        self.terms = terms or {}    # key -> [atom, coeff]
        self.const = const

    def add(self, other, sign=1):
        terms = {k: list(v) for k, v in self.terms.items()}
        for k, (atom, c) in other.terms.items():
            if k in terms:
                terms[k][1] += sign * c
            else:
                terms[k] = [atom, sign * c]
        return Linear({k: v for k, v in terms.items() if v[1] != 0}, self.const + sign * other.const)

    def scale(self, c):
        if c == 0:
            return Linear()
        return Linear({k: [a, v * c] for k, (a, v) in self.terms.items()}, self.const * c)

    def is_const(self):
        return not self.terms

    def split_divisible(self, c):
        """(q, r) with self == c*q + r, where q takes the terms whose coefficient c divides."""
        q, r = Linear(), Linear()
        for k, (a, v) in self.terms.items():
            if v % c == 0:
                q.terms[k] = [a, v // c]
            else:
                r.terms[k] = [a, v]
        q.const, r.const = self.const // c, self.const % c
        return q, r

    def to_expr(self, dtype):
        out = None
        for atom, c in self.terms.values():
            if c == 1 or c == -1:
                term = atom
            else:
                term = Mul(atom, Const(abs(c), dtype))
            if out is None:
                out = term if c > 0 else Sub(Const(0, dtype), term)
            else:
                out = Add(out, term) if c > 0 else Sub(out, term)
        if out is None:
            return Const(self.const, dtype)
        if self.const > 0:
            out = Add(out, Const(self.const, dtype))
        elif self.const < 0:
            out = Sub(out, Const(-self.const, dtype))
        return out


def linear_form(e):
    """The linear form of an (already simplified) integer expression."""
    if isinstance(e, Const):
        return Linear(const=int(e.value))
    if isinstance(e, Add):
        return linear_form(e.a).add(linear_form(e.b))
    if isinstance(e, Sub):
        return linear_form(e.a).add(linear_form(e.b), -1)
    if isinstance(e, Mul):
        la, lb = linear_form(e.a), linear_form(e.b)
        if lb.is_const():
            return la.scale(lb.const)
        if la.is_const():
            return lb.scale(la.const)
    return Linear({structural_key(e): [e, 1]})


# interval analysis ---------------------------------------------------------------

def _c(x, dtype):
    return x if isinstance(x, PrimExpr) else Const(x, dtype)


def interval(e, env):
    """Inclusive bounds ``(lo, hi)`` of integer expression ``e`` (see module docstring)."""
    from .simplify import simplify
    result = _interval(e, env)
    if result is None:
        return None
    return simplify(result[0]), simplify(result[1])


def _interval(e, env):
    dtype = e.dtype
    if isinstance(e, Const):
        return e, e
    if isinstance(e, Var):
        if e in env:
            lo, hi = env[e]
            return _c(lo, dtype), _c(hi, dtype)
        return e, e
    if not dt.is_int(dtype) and not isinstance(e, Cast):
        return None
    if isinstance(e, Cast):
        if not (dt.is_int(e.value.dtype) and dt.is_int(dtype)):
            return None
        inner = _interval(e.value, env)
        return None if inner is None else (Cast(dtype, inner[0]), Cast(dtype, inner[1]))
    if isinstance(e, BinaryOp):
        a = _interval(e.a, env)
        b = _interval(e.b, env)
        if a is None or b is None:
            return None
        return _binary_interval(type(e), a, b, e)
    if isinstance(e, Select):
        t, f = _interval(e.t, env), _interval(e.f, env)
        if t is None or f is None:
            return None
        return Min(t[0], f[0]), Max(t[1], f[1])
    return None


def _const_value(x):
    from .simplify import simplify
    x = simplify(x)
    return x.value if isinstance(x, Const) else None


def _binary_interval(cls, a, b, e):
    if _same(a) and _same(b):
        point = cls(a[0], b[0], e.dtype)
        return point, point
    if cls is Add:
        return Add(a[0], b[0]), Add(a[1], b[1])
    if cls is Sub:
        return Sub(a[0], b[1]), Sub(a[1], b[0])
    if cls in (Min, Max):
        return cls(a[0], b[0]), cls(a[1], b[1])
    if cls is Mul:
        for (x, y) in ((a, b), (b, a)):
            c = _const_value(y[0]) if _same(y) else None
            if c is not None:
                return (Mul(x[0], y[0]), Mul(x[1], y[0])) if c >= 0 else (Mul(x[1], y[0]), Mul(x[0], y[0]))
        los, his = [_const_value(v) for v in a], [_const_value(v) for v in b]
        if None in los or None in his:
            return None
        products = [p * q for p in los for q in his]
        return Const(min(products), e.dtype), Const(max(products), e.dtype)
    if cls in (FloorDiv, FloorMod):
        c = _const_value(b[0]) if _same(b) else None
        if c is None or c <= 0:
            return None
        if cls is FloorDiv:
            return FloorDiv(a[0], b[0]), FloorDiv(a[1], b[0])
        lo, hi = _const_value(a[0]), _const_value(a[1])
        if lo is not None and hi is not None and lo // c == hi // c:
            return Const(lo % c, e.dtype), Const(hi % c, e.dtype)
        return Const(0, e.dtype), Const(c - 1, e.dtype)
    return None


def _same(iv):
    from .simplify import simplify
    lo, hi = iv
    if lo is hi:
        return True
    return structural_key(simplify(lo)) == structural_key(simplify(hi))


def const_interval(e, bounds):
    """Constant inclusive bounds ``(lo, hi)`` of ``e`` given constant variable bounds, or None."""
    iv = interval(e, bounds)
    if iv is None:
        return None
    lo, hi = iv
    if isinstance(lo, Const) and isinstance(hi, Const):
        return lo.value, hi.value
    return None
