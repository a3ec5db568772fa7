"""Integer expressions of the symbolic extents, evaluated on the host at call time.

A kernel computes its indices and loop counters in int32 (``te.INDEX_MAX``); arguments
are checked against that limit when called, but a kernel's own buffers and loops can be
larger than any argument: an ``(n, n)`` stage read by a row sum of an ``(n,)`` output.
:func:`call_limits` lists every such size the symbolic extents fix, as Python source
the ``Module`` evaluates with the call's extents before running the kernel
(``runtime.module.Module``'s ``limits``); CUDA launch plans print their grid and
temporary sizes with :func:`py_source` too.
"""
from ..errors import BuildError
from ..tir import expr as E
from ..tir.functor import free_vars, walk
from ..tir.simplify import simplify
from ..tir.stmt import Allocate, For

_OPS = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.FloorDiv: "//", E.FloorMod: "%"}


def py_source(e):
    """Python source computing integer expression ``e`` (exactly, in Python ints) from a
    dict ``v`` of variable values; BuildError for a node it cannot print."""
    if isinstance(e, E.Const):
        return repr(int(e.value))
    if isinstance(e, E.Var):
        return f"v[{e.name!r}]"
    if isinstance(e, E.Cast):
        return py_source(e.value)
    if type(e) in _OPS:
        return f"({py_source(e.a)} {_OPS[type(e)]} {py_source(e.b)})"
    if isinstance(e, (E.Min, E.Max)):
        return f"{'min' if isinstance(e, E.Min) else 'max'}({py_source(e.a)}, {py_source(e.b)})"
    raise BuildError(f"extent {e} cannot be computed on the host")


def element_count(shape):
    """The number of elements of ``shape`` as an int64 expression (no int32 wrap)."""
    out = E.Const(1, "int64")
    for x in shape:
        out = out * (E.Cast("int64", x) if x.dtype != "int64" else x)
    return out


def call_limits(func):
    """``[(source, what)]``: each buffer size and loop extent of ``func`` that its
    symbolic extents alone fix, and each sum or product the kernel computes on the way
    to a loop extent (``(m + 3) // 4`` adds in int32 too), as :func:`py_source` of the
    extents, with what it is, a phrase whose ``{}`` takes the value ("buffer T[n, n] has
    {} elements"); constant ones are checked when built (``te``)."""
    extents = {v for v in func.scalar_params if not any(v is a for a in func.signature)}
    found = {}

    def add(size, what):
        size = simplify(size)
        if not isinstance(size, E.Const) and free_vars(size) <= extents:
            try:
                found.setdefault(py_source(size), what)
            except BuildError:
                pass        # a size the host cannot compute (none are made today) stays unchecked

    def visit(node):
        if isinstance(node, Allocate):
            shape = ", ".join(map(str, node.buffer.shape))
            add(element_count(node.buffer.shape), f"buffer {node.buffer.name}[{shape}] has {{}} elements")
        elif isinstance(node, For):
            name, extent = node.var.name, node.extent
            add(extent, f"loop {name} runs {{}} iterations (extent {extent})")
            walk(extent, lambda e: add(e, f"loop {name}'s extent {extent} computes {e} = {{}}")
                 if isinstance(e, (E.Add, E.Mul)) else None)
    if extents:
        walk(func.body, visit)
    return [[source, what] for source, what in found.items()]
