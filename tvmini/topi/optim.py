"""Fused optimizer updates: one kernel per parameter and step, PyTorch's formulas.

Every function takes the parameter ``p``, its gradient ``g`` and the optimizer state
tensors, plus hyper-parameters as scalars — normally ``te.var``s listed among the build
arguments, so a learning-rate scheduler or the step-dependent bias corrections never
trigger a rebuild — and returns the list of new tensors (new parameter first, then the
new states, in the order the states were given).

Each output is its own elementwise compute, written so that the update can run **in
place** (``build(..., inplace=...)``, see ``tvmini.lower.inplace``): a new state reads the
old inputs only at its own element, and the new parameter reads the *new* states (the
computes before it) instead of recomputing them, so it is written last and every input
element is read before it is overwritten. The optimizers pass the parameter and its
states as their own outputs: each tensor keeps its memory for its whole life.
"""
from .. import te
from ..errors import DTypeError, ShapeError
from .schedule import MATERIALIZED

__all__ = ["sgd_update", "sgd_momentum_update", "adam_update", "adagrad_update", "rmsprop_update", "adamax_update",
           "nadam_update", "radam_update", "adadelta_update"]


def _check(op, p, *others):
    for t in others:
        if [str(d) for d in t.shape] != [str(d) for d in p.shape]:
            raise ShapeError(f"{op}: {t.name} has shape {list(t.shape)} but the parameter {p.name} has "
                             f"{list(p.shape)}")
        if t.dtype != p.dtype:
            raise DTypeError(f"{op}: {t.name} is {t.dtype} but the parameter {p.name} is {p.dtype}")
    if not p.dtype.startswith("float"):
        raise DTypeError(f"{op}: parameters are floating point, got {p.dtype} {p.name}")


def _out(p, fn, name):
    return te.compute(p.shape, lambda *i: fn(*i), name=name, tag="elemwise")


def sgd_update(p, g, lr, weight_decay):
    """Plain SGD: ``p - lr * (g + weight_decay * p)``."""
    _check("sgd_update", p, g)
    return [_out(p, lambda *i: p[i] - lr * (g[i] + weight_decay * p[i]), "sgd.param")]


def sgd_momentum_update(p, g, buf, lr, weight_decay, keep, grad_scale, momentum, nesterov=False):
    """SGD with momentum: ``d = g + wd*p``, ``buf' = keep*buf + grad_scale*d`` and
    ``p' = p - lr * (d + momentum*buf' if nesterov else buf')``.

    PyTorch sets ``buf = d`` on the first step and ``buf = momentum*buf + (1-dampening)*d``
    afterwards: the caller passes keep=0, grad_scale=1 on the first step and
    keep=momentum, grad_scale=1-dampening later.
    """
    _check("sgd_momentum_update", p, g, buf)

    def d(i):
        return g[i] + weight_decay * p[i]

    buf_out = _out(p, lambda *i: keep * buf[i] + grad_scale * d(i), "sgd.momentum_buffer")
    if nesterov:
        new_p = _out(p, lambda *i: p[i] - lr * (d(i) + momentum * buf_out[i]), "sgd.param")
    else:
        new_p = _out(p, lambda *i: p[i] - lr * buf_out[i], "sgd.param")
    return [new_p, buf_out]


def adam_update(p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt, weight_decay, decay, v_max=None):
    """Adam/AdamW: ``d = g + weight_decay*p`` (Adam's coupled decay; 0 for AdamW),
    ``m' = b1*m + (1-b1)*d``, ``v' = b2*v + (1-b2)*d²`` and
    ``p' = decay*p - step_size * m' / (sqrt(v')/bias_correction2_sqrt + eps)``
    with ``step_size = lr / (1 - b1^t)``, ``bias_correction2_sqrt = sqrt(1 - b2^t)`` and
    ``decay = 1 - lr*weight_decay`` for AdamW's decoupled decay (1 for Adam). With
    ``v_max`` (AMSGrad): ``v_max' = max(v_max, v')`` takes ``v'``'s place in ``p'``, and
    is a fourth output."""
    _check("adam_update", p, g, m, v, *([] if v_max is None else [v_max]))
    _, m_out, v_out = _moments("adam", p, g, m, v, beta1, beta2, weight_decay)
    largest = None if v_max is None else _out(p, lambda *i: te.max(v_max[i], v_out[i]), "adam.max_exp_avg_sq")
    second = v_out if largest is None else largest

    def new_p(*i):
        denom = te.sqrt(second[i]) / bias_correction2_sqrt + eps
        return decay * p[i] - step_size * m_out[i] / denom

    return [_out(p, new_p, "adam.param"), m_out, v_out] + ([] if largest is None else [largest])


def adagrad_update(p, g, s, clr, eps, weight_decay):
    """Adagrad: ``d = g + wd*p``, ``s' = s + d²``, ``p' = p - clr * d / (sqrt(s') + eps)``
    with ``clr = lr / (1 + (t-1)*lr_decay)``."""
    _check("adagrad_update", p, g, s)

    def d(i):
        return g[i] + weight_decay * p[i]

    def new_s(*i):
        di = d(i)
        return s[i] + di * di

    s_out = _out(p, new_s, "adagrad.sum")
    return [_out(p, lambda *i: p[i] - clr * d(i) / (te.sqrt(s_out[i]) + eps), "adagrad.param"), s_out]


def rmsprop_update(p, g, *states, lr, alpha, eps, weight_decay, momentum, centered=False, use_momentum=False):
    """RMSprop with PyTorch's options. ``states`` are ``square_avg``, then ``grad_avg`` when
    ``centered``, then ``momentum_buffer`` when ``use_momentum``; the outputs are the new
    parameter and the new states in that order.

    ``d = g + wd*p``; ``sq' = alpha*sq + (1-alpha)*d²``; ``avg = sqrt(sq' - ga'²) + eps``
    with ``ga' = alpha*ga + (1-alpha)*d`` when centered, else ``sqrt(sq') + eps``; then
    ``buf' = momentum*buf + d/avg`` and ``p' = p - lr*buf'``, or ``p' = p - lr*d/avg``.
    """
    expected = 1 + centered + use_momentum
    if len(states) != expected:
        raise ShapeError(f"rmsprop_update: expected {expected} state tensors, got {len(states)}")
    _check("rmsprop_update", p, g, *states)
    sq = states[0]
    ga = states[1] if centered else None
    buf = states[-1] if use_momentum else None
    one = te.const(1, p.dtype)

    def d(i):
        return g[i] + weight_decay * p[i]

    def new_sq(*i):
        di = d(i)
        return alpha * sq[i] + (one - alpha) * di * di

    outs = [_out(p, new_sq, "rmsprop.square_avg")]
    if centered:
        outs.append(_out(p, lambda *i: alpha * ga[i] + (one - alpha) * d(i), "rmsprop.grad_avg"))

    def avg(i):
        if centered:
            gi = outs[1][i]
            return te.sqrt(outs[0][i] - gi * gi) + eps
        return te.sqrt(outs[0][i]) + eps

    if use_momentum:
        outs.append(_out(p, lambda *i: momentum * buf[i] + d(i) / avg(i), "rmsprop.momentum_buffer"))
        new_p = _out(p, lambda *i: p[i] - lr * outs[-1][i], "rmsprop.param")
    else:
        new_p = _out(p, lambda *i: p[i] - lr * d(i) / avg(i), "rmsprop.param")
    return [new_p] + outs


def _moments(op, p, g, m, v, beta1, beta2, weight_decay, second="square"):
    """The first-moment output ``m' = b1*m + (1-b1)*d`` and the second-moment output
    (``square``: ``v' = b2*v + (1-b2)*d²``; ``inf``: Adamax's ``v' = max(b2*v, |d|+eps)``
    with ``beta2`` then the pair ``(b2, eps)``) of ``d = g + weight_decay*p``, shared by
    the Adam family."""
    one = te.const(1, p.dtype)

    def d(i):
        return g[i] + weight_decay * p[i]

    m_out = _out(p, lambda *i: beta1 * m[i] + (one - beta1) * d(i), f"{op}.exp_avg")
    if second == "square":
        v_out = _out(p, lambda *i: beta2 * v[i] + (one - beta2) * d(i) * d(i), f"{op}.exp_avg_sq")
    else:
        b2, eps = beta2
        v_out = _out(p, lambda *i: te.max(b2 * v[i], te.abs(d(i)) + eps), f"{op}.exp_inf")
    return d, m_out, v_out


def adamax_update(p, g, m, u, clr, beta1, beta2, eps, weight_decay):
    """Adamax: ``m' = b1*m + (1-b1)*d``, ``u' = max(b2*u, |d| + eps)`` and
    ``p' = p - clr * m' / u'`` with ``clr = lr / (1 - b1^t)``."""
    _check("adamax_update", p, g, m, u)
    _, m_out, u_out = _moments("adamax", p, g, m, u, beta1, (beta2, eps), weight_decay, second="inf")
    return [_out(p, lambda *i: p[i] - clr * m_out[i] / u_out[i], "adamax.param"), m_out, u_out]


def nadam_update(p, g, m, v, grad_step, momentum_step, beta1, beta2, eps, bias_correction2, weight_decay, decay):
    """NAdam (Nesterov-accelerated Adam): with the Adam moments of ``d``,
    ``p' = decay*p - (grad_step*d + momentum_step*m') / (sqrt(v'/bias_correction2) + eps)``
    where ``grad_step = lr*(1-mu_t)/(1-prod mu_1..t)`` and
    ``momentum_step = lr*mu_{t+1}/(1-prod mu_1..t+1)`` (the momentum schedule ``mu``
    is the caller's) and ``decay = 1 - lr*weight_decay`` for decoupled decay."""
    _check("nadam_update", p, g, m, v)
    d, m_out, v_out = _moments("nadam", p, g, m, v, beta1, beta2, weight_decay)

    def new_p(*i):
        denom = te.sqrt(v_out[i] / bias_correction2) + eps
        return decay * p[i] - (grad_step * d(i) + momentum_step * m_out[i]) / denom

    return [_out(p, new_p, "nadam.param"), m_out, v_out]


def radam_update(p, g, m, v, step_size, rectified, adaptive_scale, beta1, beta2, eps, weight_decay, decay):
    """RAdam (rectified Adam): with the Adam moments of ``d``, ``p' = decay*p - step_size
    * m' * r`` where ``r = adaptive_scale / (sqrt(v') + eps)`` when ``rectified`` (> 0:
    the variance of the adaptive step is tractable, rho_t > 5) and 1 before;
    ``step_size = lr / (1 - b1^t)``, ``adaptive_scale = rect_t * sqrt(1 - b2^t)``."""
    _check("radam_update", p, g, m, v)
    _, m_out, v_out = _moments("radam", p, g, m, v, beta1, beta2, weight_decay)
    one = te.const(1, p.dtype)

    def new_p(*i):
        scale = te.if_then_else(rectified > 0, adaptive_scale / (te.sqrt(v_out[i]) + eps), one)
        return decay * p[i] - step_size * m_out[i] * scale

    return [_out(p, new_p, "radam.param"), m_out, v_out]


def adadelta_update(p, g, sq, acc, lr, rho, eps, weight_decay):
    """Adadelta: ``d = g + wd*p``, ``sq' = rho*sq + (1-rho)*d²``,
    ``delta = sqrt(acc + eps) / sqrt(sq' + eps) * d``, ``acc' = rho*acc + (1-rho)*delta²``
    and ``p' = p - lr*delta``. The step ``delta`` is its own stage, computed before
    ``acc'`` overwrites the ``acc`` it reads (never inlined: :data:`MATERIALIZED`), and
    read by both updates."""
    _check("adadelta_update", p, g, sq, acc)
    one = te.const(1, p.dtype)

    def d(i):
        return g[i] + weight_decay * p[i]

    sq_out = _out(p, lambda *i: rho * sq[i] + (one - rho) * d(i) * d(i), "adadelta.square_avg")
    delta = te.compute(p.shape, lambda *i: te.sqrt(acc[i] + eps) / te.sqrt(sq_out[i] + eps) * d(i),
                       name="adadelta.delta", tag=MATERIALIZED)
    acc_out = _out(p, lambda *i: rho * acc[i] + (one - rho) * delta[i] * delta[i], "adadelta.acc_delta")
    return [_out(p, lambda *i: p[i] - lr * delta[i], "adadelta.param"), sq_out, acc_out]
