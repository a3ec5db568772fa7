"""Fused updates of Rprop and ASGD (PyTorch's formulas), written as ``tvmini.topi.optim``'s
are: one elementwise compute per output, hyper-parameters as scalars (``te.var``s at
build time, so no step rebuilds), the new parameter first and then the new states in
the order given, each output able to overwrite its input in place."""
from .. import te
from .optim import _check, _out
from .schedule import MATERIALIZED

__all__ = ["rprop_update", "asgd_update"]


def rprop_update(p, g, prev, step_size, etaminus, etaplus, step_size_min, step_size_max):
    """Rprop: with ``s = sign(g * prev)``, ``step' = clamp(step * (etaplus if s > 0,
    etaminus if s < 0, else 1), step_size_min, step_size_max)``; the gradient is dropped
    (0) where its sign flipped, ``prev' = (s < 0 ? 0 : g)``, and ``p' = p - sign(prev') *
    step'``. ``s`` is its own stage, read before ``prev'`` overwrites ``prev`` (never
    inlined: :data:`MATERIALIZED`)."""
    _check("rprop_update", p, g, prev, step_size)
    zero, one = te.const(0, p.dtype), te.const(1, p.dtype)

    def sign(v):
        return te.if_then_else(v > zero, one, te.if_then_else(v < zero, -one, zero))

    flip = te.compute(p.shape, lambda *i: sign(g[i] * prev[i]), name="rprop.sign", tag=MATERIALIZED)

    def new_step(*i):
        factor = te.if_then_else(flip[i] > zero, etaplus, te.if_then_else(flip[i] < zero, etaminus, one))
        return te.min(te.max(step_size[i] * factor, step_size_min), step_size_max)

    step_out = _out(p, new_step, "rprop.step_size")
    prev_out = _out(p, lambda *i: te.if_then_else(flip[i] < zero, zero, g[i]), "rprop.prev")
    new_p = _out(p, lambda *i: p[i] - sign(prev_out[i]) * step_out[i], "rprop.param")
    return [new_p, prev_out, step_out]


def asgd_update(p, g, ax, eta, lambd, mu, weight_decay):
    """ASGD (averaged SGD): ``p' = p * (1 - lambd * eta) - eta * (g + weight_decay * p)``
    and the average ``ax' = p'`` while ``mu >= 1``, else ``ax + mu * (p' - ax)``; ``eta``
    and ``mu`` are the step's (the caller's schedule)."""
    _check("asgd_update", p, g, ax)
    one = te.const(1, p.dtype)
    new_p = _out(p, lambda *i: p[i] * (one - lambd * eta) - eta * (g[i] + weight_decay * p[i]), "asgd.param")
    ax_out = _out(p, lambda *i: te.if_then_else(mu >= one, new_p[i], ax[i] + (new_p[i] - ax[i]) * mu), "asgd.ax")
    return [new_p, ax_out]
