"""Poisson draws (PyTorch's ``torch.poisson``) on tvmini's counter-based generator
(``topi.random``): element ``i`` of a draw is a function of hashes of ``(i, seed)``
alone, so one seed gives the same numbers on every target and under any schedule.

Two samplers, chosen per element by its rate λ (the split numpy and PyTorch use):

* λ < :data:`SMALL` — inversion by sequential search: one uniform ``u`` of 52 random
  bits (two hashes), and ``X`` the number of ``k`` whose CDF ``F(k) = Σ_{j<=k} e^-λ
  λ^j / j!`` is below ``u`` (each pmf term the one before times ``λ / k``). Exact up
  to the 2^-52 resolution of ``u``; one hash pair per element, a multiply-add per step.
* λ >= :data:`SMALL` — PTRS, Hörmann's transformed rejection with squeeze (W.
  Hörmann, "The transformed rejection method for generating Poisson random variables",
  1993): a candidate ``floor((2a / us + b) U + λ + 0.43)`` from two uniforms, accepted
  at once inside the squeeze, else by comparing ``log V`` of the hat with the log
  pmf. Exact: every accepted candidate has the Poisson law. Its cost does not grow
  with λ (an attempt is a few logarithms), where inversion's would.

te has no while loop, so both are folds over a fixed number of steps, as Euclid's
algorithm in ``topi.number_theory``: :data:`INVERSION_STEPS` search steps (a count
past them has probability below 2.3e-17 for λ < 10, and then reads as the last step)
and :data:`PTRS_ATTEMPTS` attempts, of which the first accepted one is the draw (each
attempt is rejected with probability about 0.25 at λ = 10 (0.247 simulated), less
above, so all of them are with probability below 2^-56; the last candidate, at least 0,
is the draw then). Each fold
is a tuple reduction (``te.comm_reducer``) over its step axis whose schedule keeps
that axis one serial loop in order inside each element (on the CPU, inside a vector
of elements), its state kept from step to step in a few vectors (registers or L1).
The values a step shares with the others (the uniform ``u``, the hat's constants) are
computed once per element in a stage of their own. Every element runs both folds (a
vector or a GPU warp mixes rates); :func:`poisson` selects by its rate.

The arithmetic is float64 whatever the rates' dtype (the draw is converted at the
end). A rate of 0 draws 0, +inf draws +inf, and a negative or NaN rate gives NaN (the
graph layer refuses those where it can read the rates, as PyTorch does).
"""
import math

from .. import te
from ..errors import DTypeError, ShapeError
from ..tir import dtype as dt
from ..tir import expr as E
from .random import _hash, _int64, _unit
from .schedule import register, target_kind
from .schedule_cpu import PARALLEL_MIN
from .schedule_cuda import _bind_flat
from .special import _STIRLING, _horner

__all__ = ["poisson", "SMALL", "INVERSION_STEPS", "PTRS_ATTEMPTS"]

#: rates below this are drawn by inversion, the others by PTRS
SMALL = 10.0
#: inversion's search steps: P(X > 48) < 2.3e-17 for a rate below 10
INVERSION_STEPS = 48
#: PTRS attempts: each rejected with probability ~0.25 at λ = 10 (less for larger λ)
PTRS_ATTEMPTS = 28
#: hashes per element: two for inversion's uniform, two per PTRS attempt
_STREAM = 2 + 2 * PTRS_ATTEMPTS
#: elements run through the folds together on the CPU: two AVX2 vectors of float64, so
#: that two independent chains fill the latency of the logarithms and divisions (100k
#: mixed rates: ~28 ms, against ~38 with 4 lanes and ~32 with 16)
LANES = 8
#: tags: the per-element parameters and the folds (both scheduled by the draw that reads
#: them) and the draw that selects between the folds
PARAMETERS_TAG, FOLD_TAG, DRAW_TAG = "poisson_parameters", "poisson_fold", "poisson"


def _c(value):
    return E.const(value, "float64")


def _log_factorial(k):
    """``log(k!)`` of an integer-valued float64 ``k >= 0``: a table below 10, Stirling's
    series (``topi.special``'s coefficients) at ``z = k + 1 >= 11`` above (error ~1e-16)."""
    z = k + 1.0
    r = 1.0 / z
    stirling = (z - 0.5) * te.log(z) - z + 0.5 * math.log(2 * math.pi) + _horner(_STIRLING, r * r) * r
    value = stirling
    for n in range(9, -1, -1):
        value = te.if_then_else(k == float(n), _c(math.lgamma(n + 1.0)), value)
    return value


def _search():
    """Inversion's fold on (count, F, p): a step multiplies the pmf ``p`` by the step's
    ratio ``r`` (``e^-λ`` at step 0, ``λ / k`` at step k), adds it to the CDF ``F`` and
    counts the step when ``F`` is still below ``u``."""
    def combine(state, step):
        (count, cdf, pmf), (ratio, u, _) = state, step
        pmf = pmf * ratio
        # a term this small no longer moves the CDF (which is at least e^-10 by then):
        # flushed to 0 before it turns subnormal, whose arithmetic is ~100x slower on x86
        pmf = te.if_then_else(pmf < 1e-200, _c(0.0), pmf)
        cdf = cdf + pmf
        return count + te.if_then_else(cdf < u, _c(1.0), _c(0.0)), cdf, pmf
    return te.comm_reducer(combine, lambda a, b, c: (_c(0.0), _c(0.0), _c(1.0)), name="poisson_search")


def _first_accepted():
    """PTRS's fold on (found, k): the first attempt's candidate that was accepted."""
    def combine(state, attempt):
        (found, k), (accepted, candidate) = state, attempt
        return te.max(found, accepted), te.if_then_else(found > 0.0, k, candidate)
    return te.comm_reducer(combine, lambda a, b: (_c(0.0), _c(0.0)), name="poisson_ptrs")


def _parameters(rates, seed):
    """The per-element values the folds' steps share, computed once per element (a
    stage of its own: inside a step they would be recomputed at every step): inversion's
    uniform ``u`` (52 random bits), its rate (at most SMALL) and ``e^-λ``; PTRS's rate
    (at least SMALL), ``log λ`` and the constants ``a``, ``b``, ``1/α`` and ``v_r`` of
    its hat and squeeze."""
    def body(i):
        rate = rates[i].astype("float64")
        bits = _hashes(i, seed)
        wide = (bits(0) // 4096) * (1 << 32) + bits(1)                       # 52 random bits
        u = (wide.astype("float64") + 0.5) * (1.0 / (1 << 52))
        small, large = te.min(rate, _c(SMALL)), te.max(rate, _c(SMALL))
        b = 0.931 + 2.53 * te.sqrt(large)
        return (u, small, te.exp(-small), large, te.log(large), -0.059 + 0.02483 * b, b,
                1.1239 + 1.1328 / (b - 3.4), 0.9277 - 3.6224 / (b - 2.0))
    return te.compute(rates.shape, body, name="poisson_parameters", tag=PARAMETERS_TAG)


def _hashes(i, seed):
    """``k -> hash k`` of element ``i``'s :data:`_STREAM` hashes."""
    base = i.astype("int64") * _STREAM
    return lambda k: _hash(base + (k.astype("int64") if isinstance(k, E.PrimExpr) else k), seed)


def _ptrs_attempt(params, i, bits, j):
    """(accepted 0/1, candidate) of PTRS attempt ``j`` of element ``i``."""
    lam, loglam, a, b, inv_alpha, vr = (params[k][i] for k in range(3, 9))
    u = _unit(bits(2 + 2 * j), "float64") - 0.5
    v = _unit(bits(3 + 2 * j), "float64")
    us = 0.5 - te.abs(u)
    k = te.floor((2.0 * a / us + b) * u + lam + 0.43)
    squeeze = (us >= 0.07) & (v <= vr)
    hopeless = (k < 0.0) | ((us < 0.013) & (v > us))
    log_pmf = -lam + k * loglam - _log_factorial(te.max(k, _c(0.0)))
    square = us * us
    hat = te.log(v * inv_alpha * square / (a + b * square))
    accepted = squeeze | (~hopeless & (hat <= log_pmf))
    return te.if_then_else(accepted, _c(1.0), _c(0.0)), k


def poisson(rates, seed):
    """Poisson draws of the 1-D float tensor ``rates`` (same shape and dtype), seeded by
    the int64 scalar ``seed`` (see the module's docstring for the samplers). One axis,
    so that the stages computed per vector of the draw cover just that vector (the graph
    layer draws a tensor of any shape through its flat view)."""
    if not dt.is_float(rates.dtype):
        raise DTypeError(f"poisson: rates must be a float tensor, got {rates.dtype} ({rates.name})")
    if len(rates.shape) != 1:
        raise ShapeError(f"poisson: rates must be 1-D (draw a tensor through its flat view), got {rates.name} of "
                         f"shape {tuple(rates.shape)}")
    seed = _int64(seed, "seed")
    params = _parameters(rates, seed)
    search, first = _search(), _first_accepted()
    step = te.reduce_axis((0, INVERSION_STEPS), name="step")
    attempt = te.reduce_axis((0, PTRS_ATTEMPTS), name="attempt")

    def inversion(i):
        u, lam, first_pmf = params[0][i], params[1][i], params[2][i]
        j = step.var.astype("float64")
        ratio = te.if_then_else(j == 0.0, first_pmf, lam / te.max(j, _c(1.0)))
        return search((ratio, u, u), axis=step)

    def ptrs(i):
        return first(_ptrs_attempt(params, i, _hashes(i, seed), attempt.var), axis=attempt)

    counts = te.compute(rates.shape, inversion, name="poisson_inversion", tag=FOLD_TAG)[0]
    drawn = te.compute(rates.shape, ptrs, name="poisson_ptrs", tag=FOLD_TAG)[1]

    def body(i):
        lam = rates[i].astype("float64")
        value = te.if_then_else(lam < SMALL, counts[i], te.max(drawn[i], _c(0.0)))
        value = te.if_then_else(te.isinf(lam), _c(math.inf), value)
        return te.if_then_else(te.isnan(lam) | (lam < 0.0), _c(math.nan), value).astype(rates.dtype)
    return te.compute(rates.shape, body, name="poisson", tag=DRAW_TAG)


def _inputs(tensor, tag):
    return [t for t in tensor.op.input_tensors if getattr(t.op, "tag", None) == tag]


def _stages(sch, tensor):
    """The parameters' stage and the folds' stages the draw ``tensor`` reads, in the
    order they run."""
    folds = [sch[t] for t in _inputs(tensor, FOLD_TAG)]
    parameters = {t.op: t for fold in folds for t in _inputs(fold.op.output(0), PARAMETERS_TAG)}
    return [sch[t] for t in parameters.values()] + folds


def _elements(stage):
    total = 1
    for e in stage.op.shape:
        total *= e.value if isinstance(e, E.Const) else PARALLEL_MIN
    return total


@register(DRAW_TAG)
def schedule_poisson(sch, tensor, target="llvm"):
    """CPU: the draw cut into vectors of :data:`LANES` elements (parallel when
    the work is large), the parameters and both folds computed inside per vector, the
    folds' steps outside the vector's lanes."""
    stage = sch[tensor]
    if target_kind(target) not in ("llvm", "cpu") or not stage.op.axis:
        return
    outer, inner = stage.split(stage.op.axis[0], factor=LANES)
    if _elements(stage) * (INVERSION_STEPS + PTRS_ATTEMPTS) >= PARALLEL_MIN:
        stage.parallel(outer)
    for inner_stage in _stages(sch, tensor):
        inner_stage.compute_at(stage, outer)
        lanes = inner_stage.op.axis[0]
        if inner_stage.op.reduce_axis:
            inner_stage.reorder(inner_stage.op.reduce_axis[0], lanes)
        inner_stage.vectorize(lanes)
    stage.vectorize(inner)


@register(DRAW_TAG, target="cuda")
def schedule_poisson_cuda(sch, tensor, target="cuda"):
    """CUDA: one thread per element, the parameters and both folds computed in that thread."""
    stage = sch[tensor]
    if stage.op.axis:
        thread = _bind_flat(stage, list(stage.op.axis))
        for inner_stage in _stages(sch, tensor):
            inner_stage.compute_at(stage, thread)


def _scheduled_by_the_draw(sch, tensor, target="llvm"):
    """Nothing: the draw that reads the parameters and the folds schedules them (a
    fold's step axis stays one serial loop)."""


for _tag in (PARAMETERS_TAG, FOLD_TAG):
    register(_tag)(_scheduled_by_the_draw)
    register(_tag, target="cuda")(_scheduled_by_the_draw)
