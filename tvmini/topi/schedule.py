"""Default schedules for topi operators, chosen per compute by its ``tag``.

Every topi definition tags its computes (``te.compute(..., tag="injective")``). A rule
registered for a tag with :func:`register` schedules one such compute inside a schedule
built for a whole group of outputs; :func:`default_schedule` applies the rules to every
compute reachable from the outputs, consumers before producers (so a rule can
``compute_at``/``compute_inline`` the stages it owns).
"""
from .. import te

_RULES = {}


def register(tag):
    """Decorator: ``fn(sch, tensor, target)`` schedules computes tagged ``tag``."""
    def wrap(fn):
        _RULES[tag] = fn
        return fn
    return wrap


def _computes(outs):
    """Compute ops reachable from ``outs``, consumers before producers."""
    order, seen = [], set()
    stack = [(t.op, False) for t in reversed(outs)]
    while stack:
        op, expanded = stack.pop()
        if expanded:
            order.append(op)
            continue
        if op in seen or not isinstance(op, te.ComputeOp):
            continue
        seen.add(op)
        stack.append((op, True))
        stack.extend((t.op, False) for t in op.input_tensors())
    return list(reversed(order))


def default_schedule(outs, target="llvm"):
    """A schedule for ``outs`` (a te.Tensor or a list) with every tagged compute scheduled."""
    outs = [outs] if isinstance(outs, te.Tensor) else list(outs)
    sch = te.create_schedule([t.op for t in outs])
    for op in _computes(outs):
        rule = _RULES.get(op.tag)
        if rule is not None:
            rule(sch, op.output(0), target)
    return sch
