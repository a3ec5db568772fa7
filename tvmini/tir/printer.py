"""A readable text form of expressions, statements and lowered functions.

One statement per line, two-space indents, loop kinds spelled out (``parallel for``,
``vectorized for``, ``unrolled for``, ``thread for ... bound to threadIdx.x``),
allocations with their scope, guards as ``if``. Operators print with the fewest
parentheses their precedence allows. Nodes defined above tir (te's tensor reads and
reductions) print themselves through a ``print_parts(printer)`` method.
"""
from .expr import (EQ, GE, GT, LE, LT, NE, Add, And, BinaryOp, BufferLoad, Call, Cast, Const,
                   Div, FloorDiv, FloorMod, Max, Min, Mul, Not, Or, Select, Sub, Var)
from .stmt import Allocate, BufferStore, For, ForKind, IfThenElse, LetStmt, SeqStmt

_PREC = {Or: 1, And: 2, EQ: 3, NE: 3, LT: 3, LE: 3, GT: 3, GE: 3,
         Add: 4, Sub: 4, Mul: 5, Div: 5, FloorDiv: 5, FloorMod: 5}
_ATOM = 9


def _const_str(c):
    if c.dtype == "bool":
        return "true" if c.value else "false"
    if c.dtype.startswith("float"):
        text = repr(c.value)
        return text + ("f" if c.dtype == "float32" else "h" if c.dtype == "float16" else "")
    return str(c.value) if c.dtype in ("int32", "int64") else f"{c.dtype}({c.value})"


def _expr(e):
    """(text, precedence) of ``e``."""
    if isinstance(e, Const):
        return _const_str(e), (6 if e.value < 0 else _ATOM)
    if isinstance(e, Var):
        return e.name, _ATOM
    parts = getattr(e, "print_parts", None)
    if parts is not None:
        return parts(expr_str), _ATOM
    if isinstance(e, (Min, Max)):
        return f"{type(e).__name__.lower()}({expr_str(e.a)}, {expr_str(e.b)})", _ATOM
    if isinstance(e, BinaryOp):
        p = _PREC[type(e)]
        a, pa = _expr(e.a)
        b, pb = _expr(e.b)
        if pa < p:
            a = f"({a})"
        if pb <= p and not (pb == p and isinstance(e, (Add, Mul, And, Or)) and type(e.b) is type(e)):
            b = f"({b})"
        return f"{a} {e.symbol} {b}", p
    if isinstance(e, Not):
        a, pa = _expr(e.a)
        return "!" + (a if pa >= _ATOM else f"({a})"), 6
    if isinstance(e, Cast):
        return f"{e.dtype}({expr_str(e.value)})", _ATOM
    if isinstance(e, Select):
        return f"select({expr_str(e.cond)}, {expr_str(e.t)}, {expr_str(e.f)})", _ATOM
    if isinstance(e, Call):
        return f"{e.name}({', '.join(expr_str(a) for a in e.args)})", _ATOM
    if isinstance(e, BufferLoad):
        return f"{e.buffer.name}[{', '.join(expr_str(i) for i in e.indices)}]", _ATOM
    return f"<{type(e).__name__}>", _ATOM


def expr_str(e):
    return _expr(e)[0]


def _for_header(s):
    if s.kind is ForKind.THREAD_BINDING:
        return f"for {s.var.name} in range({expr_str(s.extent)}) bound to {s.thread_tag}:"
    rng = expr_str(s.extent) if isinstance(s.min, Const) and s.min.value == 0 else \
        f"{expr_str(s.min)}, {expr_str(s.min + s.extent)}"
    return f"{s.kind.value} {s.var.name} in range({rng}):"


def _lines(s, depth, out):
    pad = "  " * depth
    if s is None:
        out.append(pad + "pass")
    elif isinstance(s, SeqStmt):
        for x in s.seq:
            _lines(x, depth, out)
    elif isinstance(s, For):
        out.append(pad + _for_header(s))
        _lines(s.body, depth + 1, out)
    elif isinstance(s, BufferStore):
        idx = ", ".join(expr_str(i) for i in s.indices)
        out.append(f"{pad}{s.buffer.name}[{idx}] = {expr_str(s.value)}")
    elif isinstance(s, Allocate):
        b = s.buffer
        shape = ", ".join(expr_str(x) for x in b.shape)
        out.append(f"{pad}allocate {b.name}: {b.dtype}[{shape}] in {b.scope}")
        _lines(s.body, depth, out)
    elif isinstance(s, IfThenElse):
        out.append(f"{pad}if {expr_str(s.cond)}:")
        _lines(s.then_case, depth + 1, out)
        if s.else_case is not None:
            out.append(pad + "else:")
            _lines(s.else_case, depth + 1, out)
    elif isinstance(s, LetStmt):
        out.append(f"{pad}{s.var.name} = {expr_str(s.value)}")
        _lines(s.body, depth, out)
    else:
        out.append(f"{pad}<{type(s).__name__}>")


def stmt_str(s, depth=0):
    out = []
    _lines(s, depth, out)
    return "\n".join(out)


def func_str(f):
    params = [f"{b.name}: {b.dtype}[{', '.join(expr_str(x) for x in b.shape)}]" for b in f.params]
    params += [f"{v.name}: {v.dtype}" for v in f.scalar_params]
    return f"def {f.name}({', '.join(params)}):\n" + stmt_str(f.body, 1)
