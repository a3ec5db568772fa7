"""A readable text form of expressions, statements and lowered functions.

One statement per line, two-space indents, loop kinds spelled out (``parallel for``,
``vectorized for``, ``unrolled for``, ``thread for ... bound to threadIdx.x``),
allocations with their scope, guards as ``if``. Operators print with the fewest
parentheses their precedence allows. Nodes defined above tir (te's tensor reads and
reductions) print themselves through a ``print_parts(printer)`` method.
"""
import math

from .expr import (EQ, GE, GT, LE, LT, NE, Add, And, BinaryOp, BufferLoad, Call, Cast, Const,
                   Div, FloorDiv, FloorMod, Max, Min, Mul, Not, Or, Select, Sub, Var)
from .simplify import simplify
from .stmt import AllReduce, Allocate, BufferStore, For, ForKind, IfThenElse, LetStmt, SeqStmt

_PREC = {Or: 1, And: 2, EQ: 3, NE: 3, LT: 3, LE: 3, GT: 3, GE: 3,
         Add: 4, Sub: 4, Mul: 5, Div: 5, FloorDiv: 5, FloorMod: 5}
_ATOM = 9


def _const_str(c):
    if c.dtype == "bool":
        return "true" if c.value else "false"
    if c.dtype.startswith("float"):
        if not math.isfinite(c.value):
            return f"{c.dtype}({c.value})"
        text = repr(c.value)
        return text + ("f" if c.dtype == "float32" else "h" if c.dtype == "float16" else "")
    return str(c.value) if c.dtype in ("int32", "int64") else f"{c.dtype}({c.value})"


def _expr(e, names=None):
    """(text, precedence) of ``e``; ``names`` renames variables that share a name."""
    fmt = lambda x: _expr(x, names)[0]  # noqa: E731
    if isinstance(e, Const):
        return _const_str(e), (6 if e.value < 0 and math.isfinite(e.value) else _ATOM)
    if isinstance(e, Var):
        return (names or {}).get(e, e.name), _ATOM
    parts = getattr(e, "print_parts", None)
    if parts is not None:
        return parts(fmt), _ATOM
    if isinstance(e, (Min, Max)):
        return f"{type(e).__name__.lower()}({fmt(e.a)}, {fmt(e.b)})", _ATOM
    if isinstance(e, BinaryOp):
        p = _PREC[type(e)]
        a, pa = _expr(e.a, names)
        b, pb = _expr(e.b, names)
        if pa < p:
            a = f"({a})"
        if pb <= p and not (pb == p and isinstance(e, (Add, Mul, And, Or)) and type(e.b) is type(e)):
            b = f"({b})"
        return f"{a} {e.symbol} {b}", p
    if isinstance(e, Not):
        a, pa = _expr(e.a, names)
        return "!" + (a if pa >= _ATOM else f"({a})"), 6
    if isinstance(e, Cast):
        return f"{e.dtype}({fmt(e.value)})", _ATOM
    if isinstance(e, Select):
        return f"select({fmt(e.cond)}, {fmt(e.t)}, {fmt(e.f)})", _ATOM
    if isinstance(e, Call):
        return f"{e.name}({', '.join(fmt(a) for a in e.args)})", _ATOM
    if isinstance(e, BufferLoad):
        return f"{e.buffer.name}[{', '.join(fmt(i) for i in e.indices)}]", _ATOM
    return f"<{type(e).__name__}>", _ATOM


def expr_str(e, names=None):
    return _expr(e, names)[0]


def _unique_names(node, params=()):
    """Give every distinct variable defined in ``node`` a distinct printed name."""
    from .functor import walk
    names, taken = {}, set()

    def claim(v):
        if v in names:
            return
        name, k = v.name, 1
        while name in taken:
            name, k = f"{v.name}_{k}", k + 1
        names[v] = name
        taken.add(name)
    for v in params:
        claim(v)
    walk(node, lambda n: claim(n.var) if isinstance(n, (For, LetStmt)) else None)
    return names


def _for_header(s, names):
    expr_str = lambda e: _expr(e, names)[0]  # noqa: E731
    if s.kind is ForKind.THREAD_BINDING:
        return f"for {names.get(s.var, s.var.name)} in range({expr_str(s.extent)}) bound to {s.thread_tag}:"
    rng = expr_str(s.extent) if isinstance(s.min, Const) and s.min.value == 0 else \
        f"{expr_str(s.min)}, {expr_str(simplify(s.min + s.extent))}"
    return f"{s.kind.value} {names.get(s.var, s.var.name)} in range({rng}):"


def _lines(s, depth, out, names):
    pad = "  " * depth
    expr_str = lambda e: _expr(e, names)[0]  # noqa: E731
    if s is None:
        out.append(pad + "pass")
    elif isinstance(s, SeqStmt):
        for x in s.seq:
            _lines(x, depth, out, names)
    elif isinstance(s, For):
        out.append(pad + _for_header(s, names))
        _lines(s.body, depth + 1, out, names)
    elif isinstance(s, BufferStore):
        idx = ", ".join(expr_str(i) for i in s.indices)
        out.append(f"{pad}{s.buffer.name}[{idx}] = {expr_str(s.value)}")
    elif isinstance(s, Allocate):
        b = s.buffer
        shape = ", ".join(expr_str(x) for x in b.shape)
        out.append(f"{pad}allocate {b.name}: {b.dtype}[{shape}] in {b.scope}")
        _lines(s.body, depth, out, names)
    elif isinstance(s, IfThenElse):
        out.append(f"{pad}if {expr_str(s.cond)}:")
        _lines(s.then_case, depth + 1, out, names)
        if s.else_case is not None:
            out.append(pad + "else:")
            _lines(s.else_case, depth + 1, out, names)
    elif isinstance(s, LetStmt):
        out.append(f"{pad}{names.get(s.var, s.var.name)} = {expr_str(s.value)}")
        _lines(s.body, depth, out, names)
    elif isinstance(s, AllReduce):
        values = ", ".join(f"{b.name}[0]" for b in s.buffers)
        out.append(f"{pad}{values} = {s.reducer.name} of {values} across {', '.join(s.thread_tags)}")
    else:
        out.append(f"{pad}<{type(s).__name__}>")


def stmt_str(s, depth=0, names=None):
    out = []
    _lines(s, depth, out, names if names is not None else _unique_names(s))
    return "\n".join(out)


def func_str(f):
    names = _unique_names(f.body, f.scalar_params)
    params = [f"{b.name}: {b.dtype}[{', '.join(expr_str(x) for x in b.shape)}]" for b in f.params]
    params += [f"{v.name}: {v.dtype}" for v in f.scalar_params]
    return f"def {f.name}({', '.join(params)}):\n" + stmt_str(f.body, 1, names)
