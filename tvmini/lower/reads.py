"""Reads outside a tensor: refused when built, or checked when the kernel is called.

A te definition can read outside a tensor: ``A[i + 1]`` over ``i < n`` of an ``(n,)``
``A``, ``A[i + 20]`` of a 16-element one, ``A[i + off]`` with a run-time ``off``. The
kernel would read past its buffer (garbage, or a crash). Each read's index is bounded
over the reading op's whole domain, whatever the schedule (a schedule computes a part
of that domain, never more): where the bounds are *exact*, a read outside is certain
as soon as the domain is not empty, so

* proven outside (constant bounds, constant extents): BuildError naming the op, the
  tensor and the axis;
* proven inside: nothing to do (the common case, every constant-shape kernel);
* otherwise, when the bounds depend only on the kernel's symbolic extents and scalar
  arguments: a :class:`ReadCheck` the ``Module`` evaluates at each call, before the
  native code runs (``codegen.host_expr.call_limits`` prints it).

Bounds are exact when every loop variable occurs once in the index, under operations
monotone in it (``+``, ``-``, ``*`` by a constant, ``//`` by a positive constant, min,
max, casts): each end of the interval is then read by some iteration. Other indices
(``i % 4``, ``i * n``, selects, loads) are left alone, as are reads the definition
guards: in a branch of ``if_then_else``, or in a reduction with a ``where`` condition.
"""
from dataclasses import dataclass

from ..errors import BuildError
from ..te.tensor import ComputeOp, ProducerLoad, Reduce
from ..tir import expr as E
from ..tir.arith import interval
from ..tir.functor import free_vars
from ..tir.loop_guards import conjuncts
from ..tir.simplify import simplify

_MONOTONE = (E.Add, E.Sub, E.Min, E.Max)


@dataclass(frozen=True)
class ReadCheck:
    """A read of ``tensor`` by ``op`` along ``axis`` whose bounds ``lo``..``hi`` must lie
    in ``[0, extent)`` whenever every extent in ``domain`` is at least 1."""
    op: str
    tensor: str
    axis: int
    lo: E.PrimExpr
    hi: E.PrimExpr
    extent: E.PrimExpr
    domain: tuple


def read_checks(stages, symbolic):
    """The :class:`ReadCheck` of every read of ``stages``' ops (inlined ones too) not
    proven inside its tensor; BuildError for one proven outside. ``symbolic``: the
    variables known at call time (extents and scalar arguments)."""
    checks = []
    for stage in stages:
        op = stage.op
        if not isinstance(op, ComputeOp):
            continue
        axes = list(op.axis) + list(op.reduce_axis)
        env = {iv.var: (iv.dom.min, simplify(iv.dom.min + iv.dom.extent - 1)) for iv in axes}
        domain = tuple(simplify(iv.dom.extent) for iv in axes)
        for load in _unguarded_reads(op):
            for axis, (index, extent) in enumerate(zip(load.indices, load.tensor.shape)):
                check = _check(op, load, axis, simplify(index), extent, env, domain)
                if check is not None and _free(check.lo, check.hi, check.extent, *domain) <= symbolic:
                    checks.append(check)
    return checks


def _check(op, load, axis, index, extent, env, domain):
    """The ReadCheck of one index, None when it is proven inside or not exactly bounded."""
    if not _exact(index, set(env)):
        return None
    bounds = interval(index, env)
    if bounds is None:
        return None
    lo, hi = bounds
    below, above = simplify(lo), simplify(hi - (extent - 1))
    inside = _const(below, lambda v: v >= 0) and _const(above, lambda v: v <= 0)
    if inside:
        return None
    outside = _const(below, lambda v: v < 0) or _const(above, lambda v: v > 0)
    if outside and all(_const(x, lambda v: v >= 1) for x in domain):
        raise BuildError(f"{op.name} reads {load.tensor.name} outside it: along axis {axis} its index {index} runs "
                         f"from {lo} to {hi}, but {load.tensor.name} has extent {extent} there")
    return ReadCheck(op.name, load.tensor.name, axis, lo, hi, extent, domain)


def _free(*exprs):
    return set().union(*(free_vars(e) for e in exprs))


def _const(e, test):
    return isinstance(e, E.Const) and test(e.value)


def _exact(index, loop_vars):
    """Whether interval bounds of ``index`` are exact: each loop variable occurs at most
    once, under monotone operations only."""
    seen = []

    def visit(e):
        if isinstance(e, E.Var):
            seen.append(e)
            return True
        if isinstance(e, E.Const):
            return True
        if isinstance(e, E.Cast):
            return visit(e.value)
        if isinstance(e, _MONOTONE):
            return visit(e.a) and visit(e.b)
        if isinstance(e, E.Mul):
            return visit(e.a) if isinstance(e.b, E.Const) else isinstance(e.a, E.Const) and visit(e.b)
        if isinstance(e, E.FloorDiv):
            return isinstance(e.b, E.Const) and e.b.value > 0 and visit(e.a)
        return False
    if not visit(index):
        return False
    used = [v for v in seen if v in loop_vars]
    return len(used) == len(set(used))


def _unguarded_reads(op):
    """The reads of ``op``'s bodies that run wherever the body is evaluated: not in a
    branch of a select, nor in a reduction guarded by a ``where`` condition (nor in
    that condition, unless it is a single test)."""
    found = []

    def visit(e):
        if isinstance(e, ProducerLoad):
            found.append(e)
            for i in e.indices:
                visit(i)
        elif isinstance(e, E.Select):
            visit(e.cond)
        elif isinstance(e, Reduce):
            terms = conjuncts(e.condition)
            if len(terms) == 1:          # with others (rfactor's split guard), each guards the rest
                visit(e.condition)
            if isinstance(e.condition, E.Const) and e.condition.value:
                for source in e.sources:
                    visit(source)
        else:
            for field in e._fields:
                child = getattr(e, field)
                for c in child if isinstance(child, tuple) else (child,):
                    if isinstance(c, E.PrimExpr):
                        visit(c)
    for body in op.bodies[:1] if isinstance(op.bodies[0], Reduce) else op.bodies:
        visit(body)
    return found
