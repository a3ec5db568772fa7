"""A guard placed on the loop it restricts: a condition that only bounds one loop's
variable becomes that loop's bounds, so the skipped iterations are never entered.

Lowering puts every guard right around its store (see ``lower.nest``). For a
reduction's ``where`` condition that restricts one reduction axis — the kernel rows of
a convolution's data gradient that read only the zero border — that runs every
iteration of every loop inside and tests each one. :func:`guarded_loop` puts the
condition inside the loop of the innermost variable it reads instead, and turns each
conjunct that compares that (serial) loop's variable, with coefficient +-1, against
something free of it into a bound: ``for v in [lo, lo + n): if v + a >= 0 && v + b < 0
&& c: body`` becomes ``for v in [max(lo, -a), min(lo + n, -b)): if c: body``.

The new extent, ``min(...) - max(...)``, may come out negative, which runs no
iterations (loops count up with a signed ``<``); it is not clamped at zero so that
``min + extent`` simplifies back to the ``min(...)``, whose constant bounds code
generation proves the body's accesses in bounds with.
"""
from .arith import Linear, linear_form
from .expr import GE, GT, LE, LT, And, Const, Max, Min, Sub, all_of
from .functor import free_vars
from .simplify import simplify
from .stmt import ForKind, IfThenElse


def conjuncts(cond):
    """The terms of a chain of ``&&``."""
    if isinstance(cond, And):
        return conjuncts(cond.a) + conjuncts(cond.b)
    return [cond]


def _unit_bound(term, var):
    """``("lower" | "upper", bound)`` when ``term`` says ``var >= bound`` or ``var < bound``
    with ``var`` appearing with coefficient +-1 and ``bound`` free of it; else None."""
    if not isinstance(term, (LT, LE, GT, GE)):
        return None
    form = linear_form(simplify(Sub(term.a, term.b)))      # term: form (op) 0
    entry = next((t for t in form.terms.values() if t[0] is var), None)
    if entry is None or abs(entry[1]) != 1:
        return None
    others = {key: t for key, t in form.terms.items() if t is not entry}
    if any(var in free_vars(atom) for atom, _ in others.values()):
        return None
    rest = Linear(others, form.const).to_expr(var.dtype)
    # coeff * var + rest (op) 0  ->  var (op') limit
    if entry[1] == 1:
        limit, op = Sub(Const(0, var.dtype), rest), type(term)
    else:
        limit, op = rest, {LT: GT, LE: GE, GT: LT, GE: LE}[type(term)]
    if op in (GE, GT):
        return "lower", limit if op is GE else limit + 1
    return "upper", limit if op is LT else limit + 1


def guarded_loop(loop, cond):
    """``loop`` running its body only where ``cond`` holds (``cond`` must not read the
    variables of loops inside ``loop``): bounds from the conjuncts that bound a serial
    loop's variable, an ``if`` around the body for the rest."""
    terms, lower, upper = [], loop.min, loop.min + loop.extent
    for term in conjuncts(cond):
        bound = _unit_bound(term, loop.var) if loop.kind is ForKind.SERIAL else None
        if bound is None:
            terms.append(term)
        elif bound[0] == "lower":
            lower = Max(lower, bound[1])
        else:
            upper = Min(upper, bound[1])
    body = IfThenElse(all_of(*terms), loop.body) if terms else loop.body
    lower = simplify(lower)
    return loop.rebuild(lower, simplify(Sub(upper, lower)), body)
