"""compute_inline: substitute inlined stages' expressions into their readers."""
from ..te.tensor import Outputs, stage_body
from ..tir.functor import Mutator, substitute


class Inliner(Mutator):
    """Replace each read of an inlined compute by its expression at the read's indices;
    ``inlined`` maps an op to (its axis variables, its body with inlining done)."""

    def __init__(self, inlined):
        self.inlined = inlined        # op -> (axis vars, expression already inlined)

    def visit_ProducerLoad(self, e):
        indices = tuple(self.visit(i) for i in e.indices)
        entry = self.inlined.get(e.tensor.op)
        if entry is None:
            if all(a is b for a, b in zip(indices, e.indices)):
                return e
            return type(e)(e.tensor, indices)
        axis_vars, body = entry
        if isinstance(body, Outputs):
            body = body.values[e.tensor.value_index]
        return substitute(body, dict(zip(axis_vars, indices)))


def inline_bodies(stages):
    """The body of every stage with the inlined stages' expressions substituted.

    ``stages`` are in dataflow order; returns ``{stage: body}`` for every stage that is
    not itself inlined (the body of a compute of several outputs is a ``te.tensor.Outputs``).
    """
    inlined, bodies = {}, {}
    for stage in stages:
        body = Inliner(inlined).visit(stage_body(stage.op))
        if stage.attach_type == "inline":
            inlined[stage.op] = ([iv.var for iv in stage.op.axis], body)
        else:
            bodies[stage] = body
    return bodies
