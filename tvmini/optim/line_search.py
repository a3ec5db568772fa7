"""The strong-Wolfe line search of L-BFGS (Nocedal and Wright, algorithms 3.5 and 3.6),
with the rules PyTorch's LBFGS uses, so the two take the same steps: a bracketing phase
that extrapolates with cubic interpolation (steps between ``t + 0.01 (t - t_prev)`` and
``10 t``), then a zoom phase that interpolates inside the bracket and moves a trial
step that lands within a tenth of the bracket's ends (twice running, or outside it) to
that tenth. At most ``max_ls`` evaluations after the first.

Directions and gradients are flat graph tensors; losses, slopes and steps are Python
floats (each dot product is read back once)."""
import math
from dataclasses import dataclass

from ..graph import ops
from ..graph.tensor import Tensor


def dot(a, b):
    """``<a, b>`` of two flat tensors, as a float."""
    return ops.sum(a * b).item()


def cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through ``(x1, f1)`` and ``(x2, f2)`` with slopes ``g1``
    and ``g2``, clipped to ``bounds`` (default: between the two points); the middle of
    the bounds when the cubic has no real minimiser."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    discriminant = d1 * d1 - g1 * g2
    if not discriminant >= 0:               # negative or NaN
        return (low + high) / 2.0
    d2 = math.sqrt(discriminant)
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, low), high)


@dataclass
class _Point:
    """One evaluation along the line: step, loss, gradient (flat tensor), slope."""
    t: float
    f: float
    g: Tensor
    slope: float


def strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Search along ``d`` from the point of loss ``f``, gradient ``g`` and slope ``gtd``
    (negative) for a step satisfying the strong Wolfe conditions (sufficient decrease
    ``c1``, curvature ``c2``), starting with step ``t``. ``evaluate(t)`` returns (loss,
    flat gradient) at step ``t``. Returns (loss, gradient, step, evaluations)."""
    d_size = ops.max(ops.abs(d)).item()
    start = _Point(0.0, f, g, gtd)

    def at(step):
        loss, grad = evaluate(step)
        return _Point(step, loss, grad, dot(grad, d))
    new, evaluations, tries = at(t), 1, 0
    previous, bracket, done = start, None, False
    while tries < max_ls:
        if new.f > f + c1 * new.t * gtd or (tries > 1 and new.f >= previous.f):
            bracket = [previous, new]           # no sufficient decrease: a minimum lies before
            break
        if abs(new.slope) <= -c2 * gtd:
            bracket, done = [new], True         # both conditions hold
            break
        if new.slope >= 0:
            bracket = [previous, new]           # the slope turned: a minimum lies between
            break
        step = cubic_minimum(previous.t, previous.f, previous.slope, new.t, new.f, new.slope,
                             bounds=(new.t + 0.01 * (new.t - previous.t), new.t * 10))
        previous, new = new, at(step)
        evaluations += 1
        tries += 1
    if tries == max_ls:
        bracket = [start, new]
    evaluations += _zoom(at, bracket, done, f, gtd, c1, c2, tolerance_change, max_ls - tries, d_size)
    best = _lowest(bracket)
    return best.f, best.g, best.t, evaluations


def _lowest(bracket):
    """The bracket's point of lowest loss (the first on a tie)."""
    return bracket[0] if len(bracket) == 1 or bracket[0].f <= bracket[-1].f else bracket[1]


def _zoom(at, bracket, done, f, gtd, c1, c2, tolerance_change, tries_left, d_size):
    """Shrink the two-point ``bracket`` (in place) until its low point satisfies the
    strong Wolfe conditions, it is too short to matter, or the tries run out; returns
    the evaluations made."""
    evaluations, stuck = 0, False
    while not done and evaluations < tries_left:
        if abs(bracket[1].t - bracket[0].t) * d_size < tolerance_change:
            break
        a, b = bracket
        t = cubic_minimum(a.t, a.f, a.slope, b.t, b.f, b.slope)
        low_end, high_end = min(a.t, b.t), max(a.t, b.t)
        margin = 0.1 * (high_end - low_end)
        if min(high_end - t, t - low_end) < margin:        # too close to an end
            if stuck or t >= high_end or t <= low_end:
                t = high_end - margin if abs(t - high_end) < abs(t - low_end) else low_end + margin
                stuck = False
            else:
                stuck = True
        else:
            stuck = False
        new = at(t)
        evaluations += 1
        low = 0 if bracket[0].f <= bracket[1].f else 1
        high = 1 - low
        if new.f > f + c1 * t * gtd or new.f >= bracket[low].f:
            bracket[high] = new
        else:
            if abs(new.slope) <= -c2 * gtd:
                done = True
            elif new.slope * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    return evaluations
