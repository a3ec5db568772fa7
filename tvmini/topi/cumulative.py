"""Running extremes and running log-sum-exp along one axis (PyTorch's ``cummax``,
``cummin``, ``logcumsumexp``): ``topi.scan.running``, the blocked scan of ``cumsum``
under another associative operation (masked reductions, as te has no sequential scan),
so every target computes them with the same code and no carried state, and the CPU
runs a row's stages in one parallel loop over rows with vector lanes across a block
(cummax of 64x1024 float32 along rows, one thread: 2 ms with blocks of ``sqrt(n)``
scanned as scalar loops -> 0.14 ms; see benchmarks/scans.py).

``cumextreme`` gives the values and the indices of the running maximum (minimum), NaN once a NaN has been seen (numpy's and PyTorch's propagation),
then the last position up to ``i`` holding that value (a NaN: the last NaN), PyTorch's
index. ``logcumsumexp`` reduces with ``log(exp(a) + exp(b))`` written stably
(``max + log1p(exp(-|a - b|))``), so no ``exp`` overflows whatever the values.
"""
from .. import te
from ..tir import dtype as dt
from ..tir import expr as E
from ..errors import ShapeError, TVMiniError
from .broadcast import shape_str
from .scan import MAX, MIN, Monoid, cumsum, running
from .schedule import MATERIALIZED


def _check(x, op):
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"{op}: expects a te tensor, got {type(x).__name__}")


def _axis(x, axis, op):
    """``axis`` of ``x`` as a non-negative int (a ShapeError naming ``op`` otherwise)."""
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for {x.name} of shape {shape_str(x.shape)}")
    return axis % x.ndim


def _at(idx, axis, value):
    """The index tuple ``idx`` with position ``axis`` replaced by ``value``."""
    return tuple(idx[:axis]) + (value,) + tuple(idx[axis + 1:])

__all__ = ["cumextreme", "logcumsumexp", "logcumsumexp_scaled"]


def _same(a, b, is_float):
    """``a == b``, a NaN equal to a NaN."""
    return te.any(a == b, te.all(te.isnan(a), te.isnan(b))) if is_float else a == b


def cumextreme(x, axis, largest=True, dtype="int64"):
    """``[values, indices]``: the running maximum (``largest``) or minimum ``v`` along
    ``axis`` and its indices: at ``i`` the last ``k <= i`` where ``x[k]`` equals ``v[i]``,
    the extreme of the line's ``x[:i+1]``. The running extreme never goes back, so that
    ``k`` is the last position up to ``i`` where ``x[k]`` reached the running extreme of
    its own time: the running maximum of ``k if x[k] == v[k] else -1`` (two scans).
    That scan runs in int32 (AVX2 has a vector int32 maximum but no int64 one) and is
    widened to ``dtype`` after it (1024x64 float32 cummax along axis 0, one thread:
    79 -> 55 us)."""
    op = "cummax" if largest else "cummin"
    _check(x, op)
    axis = _axis(x, axis, op)
    # an output of its own, scanned in a row loop of its own (not "cummax."-prefixed:
    # the indices' rule places only its own stages in its loop)
    values = running(x, axis, MAX if largest else MIN, f"{op}_values")
    is_float = dt.is_float(x.dtype)
    extent = x.shape[axis]
    scan = "int32" if isinstance(extent, E.Const) and extent.value < 2 ** 31 else dtype
    reached = te.compute(x.shape, lambda *i: te.if_then_else(_same(x[i], values[i], is_float),
                                                             i[axis].astype(scan), E.const(-1, scan)),
                         name=f"{op}.reached", tag="injective")
    indices = running(reached, axis, MAX, op)
    if scan == dtype:
        return [values, indices]
    return [values, te.compute(x.shape, lambda *i: indices[i].astype(dtype), name=f"{op}_indices", tag="injective")]


def _log_add_exp(a, b):
    """``log(exp(a) + exp(b))`` without overflow; -inf is the identity (-inf with -inf
    gives -inf, not the NaN of ``-inf - -inf``)."""
    top = te.max(a, b)
    low = te.min(a, b)
    inf = E.const(float("inf"), a.dtype)
    return te.if_then_else(low == -inf, top,
                           te.if_then_else(top == inf, top, top + te.log1p(te.exp(low - top))))


_LOG_ADD_EXP = te.comm_reducer(_log_add_exp, lambda dtype: E.const(float("-inf"), dtype), name="logaddexp")
_LOG_ADD_EXP_SCAN = Monoid(_LOG_ADD_EXP, _log_add_exp, lambda dtype: E.const(float("-inf"), dtype))


def logcumsumexp(x, axis, reverse=False):
    """``log(cumsum(exp(x)))`` along ``axis`` (a float ``x``), stably; ``reverse`` sums
    from the end of the line instead."""
    _check(x, "logcumsumexp")
    axis = _axis(x, axis, "logcumsumexp")
    return running(x, axis, _LOG_ADD_EXP_SCAN, "logcumsumexp", reverse)


#: How far below a line's maximum its first value that is not -inf may lie for
#: :func:`logcumsumexp_scaled` to be exact (it computes in float64): ``exp`` of what
#: lies further below is subnormal or 0, and must still be negligible (below float64's
#: epsilon) against the running sum it joins, whose largest term is at least
#: ``exp(first - max)``: ``log(tiny) = -708.4`` plus a margin of ``log(1 / eps) + 4``.
SCALED_RANGE = 667.0


def logcumsumexp_scaled(x, axis, reverse=False):
    """``[out, bad]``: ``logcumsumexp`` by one shift and a plain scan of
    ``exp(x - m)``, ``m`` the line's maximum (``topi.scan.cumsum``: a sum per element
    and three transcendentals, where the stable log-add-exp reduction costs two per
    element it combines), and ``bad`` (int32, shape (1,)) the number of lines for which
    that is not exact. Sums are in float64 whatever the input's float type: the error
    of ``exp(x - m)`` grows with ``|x - m|``, and float32 sums left a float32 result
    2-3x less exact than the stable reduction's (near 0 far more); in float64 it is
    as exact. A float64 input's result is ``M + log(cumsum * exp(m - M))``, ``M`` the
    running maximum (a max scan), for the same reason.

    A running sum's largest term is ``exp(M - m)``, ``M`` the running maximum, which
    only grows along the line: so every prefix is exact when the first value that is
    not ``-inf`` lies within ``SCALED_RANGE`` of ``m`` (terms that underflow are then
    below epsilon against that one; a prefix of ``-inf`` alone sums to 0, log -inf, as
    it should, and a line of ``-inf`` alone gives ``-inf``: the backward pass's logs of
    one-signed gradients). A line whose maximum is ``inf`` or NaN or that spans more
    than that range counts as bad; its caller computes it with
    :func:`logcumsumexp` instead."""
    _check(x, "logcumsumexp")
    axis = _axis(x, axis, "logcumsumexp")
    if not dt.is_float(x.dtype):
        raise TVMiniError(f"logcumsumexp: needs a float tensor, got {x.dtype} for {x.name}")
    n = x.shape[axis]
    lines = _at(x.shape, axis, 1)
    k = te.reduce_axis((0, n), name="k")
    top = te.compute(lines, lambda *i: te.max(x[_at(i, axis, k.var)], axis=k), name="logcumsumexp.max",
                     tag="reduce")
    # materialized: inlined, the blocked scan would take each exp once per block element
    scaled = te.compute(x.shape, lambda *i: te.exp(
        x[i].astype("float64") - top[_at(i, axis, 0)].astype("float64")), name="logcumsumexp.exp", tag=MATERIALIZED)
    total = cumsum(scaled, axis, reverse=reverse)
    neg_inf = E.const(float("-inf"), x.dtype)
    if x.dtype == "float64":
        # out = M + log(total * exp(m - M)), M the running maximum: the log of a sum
        # between 1 and n, so the result is as exact relative to M as the stable
        # reduction's, where m + log(total) would lose the digits of m (a prefix near 0
        # in a line reaching 600). A narrower float has them all in float64 anyway.
        peaks = running(x, axis, MAX, "logcumsumexp.running_max", reverse)

        def result(*i):
            m, peak = top[_at(i, axis, 0)], peaks[i]
            return te.if_then_else(peak == neg_inf, neg_inf, peak + te.log(total[i] * te.exp(m - peak)))
    else:
        def result(*i):
            m = top[_at(i, axis, 0)]
            return te.if_then_else(m == neg_inf, neg_inf, (m.astype("float64") + te.log(total[i])).astype(x.dtype))
    out = te.compute(x.shape, result, name="logcumsumexp_scaled", tag="injective")
    # the first position (in scan order) not -inf, and the first within range of the maximum
    inf = E.const(float("inf"), x.dtype)
    low = E.const(SCALED_RANGE, x.dtype)
    none = E.const(int(n.value) if isinstance(n, E.Const) else 1 << 30, "int32")

    def first(test, name):
        j = te.reduce_axis((0, n), name="j")

        def body(*i):
            pos = (n - 1 - j.var) if reverse else j.var
            return te.min(te.if_then_else(test(x[_at(i, axis, pos)], top[i]), j.var.astype("int32"), none), axis=j)
        return te.compute(lines, body, name=f"logcumsumexp.{name}", tag="reduce")
    finite = first(lambda value, m: value > neg_inf, "first_finite")
    near = first(lambda value, m: value >= m - low, "first_near")
    lines_bad = te.compute(lines, lambda *i: te.if_then_else(
        te.all(top[i] < inf, near[i] <= finite[i]), E.const(0, "int32"), E.const(1, "int32")),
        name="logcumsumexp.bad_lines", tag="injective")
    every = [te.reduce_axis((0, e), name=f"b{a}") for a, e in enumerate(lines)]
    bad = te.compute((1,), lambda _: te.sum(lines_bad[tuple(r.var for r in every)], axis=every),
                     name="logcumsumexp.bad", tag="reduce")
    return [out, bad]
