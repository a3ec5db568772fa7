"""Integer expressions of the symbolic extents, evaluated on the host at call time.

A kernel computes its indices and loop counters in int32 (``te.INDEX_MAX``); arguments
are checked against that limit when called, but a kernel's own buffers and loops can be
larger than any argument: an ``(n, n)`` stage read by a row sum of an ``(n,)`` output.
:func:`call_limits` lists every such size the symbolic extents fix, and every read
``lower.reads`` left to the call, as Python source the ``Module`` evaluates with the
call's extents and scalars before running the kernel (``runtime.module.Module``'s
``limits``); CUDA launch plans print their grid and temporary sizes with
:func:`py_source` too.
"""
from ..errors import BuildError
from ..te.relation import INDEX_MAX
from ..tir import expr as E
from ..tir.arith import const_interval
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
    """``[(ok, value, what)]``: the checks a call makes before running ``func``, each
    as Python source over the extents and scalar arguments ``v`` (:func:`py_source`):
    ``ok`` is true when the call may run, ``what.format(value)`` says what failed.

    They are each buffer size and loop extent that the symbolic extents alone fix, and
    each sum or product computed on the way to a loop extent (``(m + 3) // 4`` adds in
    int32 too), which must fit int32 (constant ones are checked when built, in ``te``);
    and the reads ``lower.reads`` could not prove inside their tensors."""
    extents = {v for v in func.scalar_params if not any(v is a for a in func.signature)}
    found = {}

    largest = {v: (0, INDEX_MAX) for v in extents}     # what the arguments' checks allow

    def add(size, what):
        size = simplify(size)
        bounds = const_interval(size, largest)      # n - 1, or n itself: fits whatever n is
        if bounds is not None and bounds[1] <= INDEX_MAX:
            return
        if not isinstance(size, E.Const) and free_vars(size) <= extents:
            try:
                source = py_source(size)
            except BuildError:
                return      # a size the host cannot compute (none are made today) stays unchecked
            found.setdefault(source, (f"{source} <= {INDEX_MAX}", source, what))

    def visit(node):
        if isinstance(node, Allocate):
            shape = ", ".join(map(str, node.buffer.shape))
            add(element_count(node.buffer.shape), f"buffer {node.buffer.name}[{shape}] has {{}} elements, past int32")
        elif isinstance(node, For):
            name, extent = node.var.name, node.extent
            add(extent, f"loop {name} runs {{}} iterations (extent {extent}), past int32")
            walk(extent, lambda e: add(e, f"loop {name}'s extent {extent} computes {e} = {{}}, past int32")
                 if isinstance(e, (E.Add, E.Mul)) else None)
    if extents:
        walk(func.body, visit)
    return [list(check) for check in found.values()] + [_read_limit(c) for c in func.read_checks]


def _read_limit(check):
    """The ``(ok, value, what)`` of a ``lower.reads.ReadCheck``."""
    lo, hi, extent = (py_source(simplify(x)) for x in (check.lo, check.hi, check.extent))
    runs = " and ".join(f"{py_source(x)} >= 1" for x in check.domain) or "True"
    return [f"not ({runs}) or ({lo} >= 0 and {hi} < {extent})", f"({lo}, {hi}, {extent})",
            f"{check.op} reads {check.tensor} at indices {{0[0]}}..{{0[1]}} along axis {check.axis}, outside its "
            f"extent {{0[2]}}"]
