"""Sampling kernels on tvmini's counter-based generator (``topi.random``): each element
of a draw is a transform of ``hash(element index, seed)``, so a draw is one elementwise
kernel, the same numbers on every target for one seed.

* :func:`fill` — a tensor's shape and dtype filled from a distribution named by
  ``kind`` (uniform, normal, log-normal, exponential, Cauchy, geometric, Bernoulli of a
  number), its two parameters runtime scalars (a new value builds no new kernel);
* :func:`random_integers` — integers ``low + (63 random bits mod span)``;
* :func:`bernoulli` — 1 where a uniform draw is below the probability tensor ``p``;
* :func:`categorical` — draws from the rows of a cumulative weight table (inverse CDF:
  the count of entries at or below ``u * total``), ``multinomial`` with replacement;
* :func:`race_keys` — ``Exp(1) / weight`` per entry: the ``k`` smallest of a row are a
  draw of ``k`` categories without replacement, each next one chosen with probability
  proportional to its weight among those left (the exponential race).
"""
import math

from .. import te
from ..errors import DTypeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from .random import _draw, _flat_index, _hash, _int64, _unit

__all__ = ["fill", "random_integers", "bernoulli", "categorical", "race_keys"]


def _compute_dtype(dtype):
    """The float type a draw for ``dtype`` is computed in (float64 for float64, else
    float32: half types and integers take their values from a float32 draw)."""
    return "float64" if dtype == "float64" else "float32"


def _normal(bits, dtype):
    """A standard normal number (Box-Muller) from hashes 0 and 1 of the element."""
    u1, u2 = _unit(bits(0), dtype), _unit(bits(1), dtype)
    return te.sqrt(-2.0 * te.log(u1)) * te.cos((2 * math.pi) * u2)


def _uniform(bits, a, b, f):
    return a + (b - a) * _unit(bits(0), f)


def _log_normal(bits, a, b, f):
    return te.exp(a + b * _normal(bits, f))


def _exponential(bits, a, b, f):
    return -te.log(_unit(bits(0), f)) / a


def _cauchy(bits, a, b, f):
    return a + b * te.tan(math.pi * (_unit(bits(0), f) - 0.5))


def _geometric(bits, a, b, f):
    # trials up to the first success: ceil(log u / log(1 - p)), at least 1 (p = 1 gives 1)
    return te.max(te.ceil(te.log(_unit(bits(0), f)) / te.log(1.0 - a)), E.const(1.0, f))


def _bernoulli(bits, a, b, f):
    return te.if_then_else(_unit(bits(0), f) < a, E.const(1.0, f), E.const(0.0, f))


#: kind -> (value of one element from ``bits(k)``, params a and b, compute dtype f;
#: hashes per element)
KINDS = {"uniform": (_uniform, 1), "normal": (lambda bits, a, b, f: a + b * _normal(bits, f), 2),
         "log_normal": (_log_normal, 2), "exponential": (_exponential, 1), "cauchy": (_cauchy, 1),
         "geometric": (_geometric, 1), "bernoulli": (_bernoulli, 1)}


def fill(x, seed, a, b, kind):
    """A tensor of ``x``'s shape and dtype drawn from distribution ``kind`` (a key of
    :data:`KINDS`) with parameters ``a`` and ``b`` (numbers or float scalars: low and
    high, mean and std, rate, median and scale, success probability); ``x``'s values are
    not read. Integer dtypes take the float draw converted (geometric, Bernoulli)."""
    if kind not in KINDS:
        raise TVMiniError(f"sampling.fill: unknown distribution {kind!r}; one of {sorted(KINDS)}")
    function, stream = KINDS[kind]
    f = _compute_dtype(x.dtype)
    a, b = E.convert(a).astype(f), E.convert(b).astype(f)
    return _draw(x.shape, seed, 0, stream, lambda bits: function(bits, a, b, f).astype(x.dtype), f"sample_{kind}")


def random_integers(x, seed, low, span):
    """A tensor of ``x``'s shape and dtype with integers uniform on ``[low, low + span)``
    (int64 scalars): 63 random bits from two hashes, modulo ``span`` (its bias is below
    span / 2^63); ``span`` 0 stands for 2^63 (all 63 bits, which int64 cannot hold)."""
    low, span = _int64(low, "low"), _int64(span, "span")

    def value(bits):
        wide = (bits(0) % (1 << 31)) * (1 << 32) + bits(1)
        return (low + te.if_then_else(span > 0, wide % te.max(span, E.const(1, "int64")), wide)).astype(x.dtype)
    return _draw(x.shape, seed, 0, 2, value, "random_integers")


def bernoulli(p, seed, dtype=None):
    """1 where a uniform draw is below ``p`` (probabilities, a float tensor), else 0, in
    ``dtype`` (default ``p``'s)."""
    if not dt.is_float(p.dtype):
        raise DTypeError(f"sampling.bernoulli: probabilities must be floats, got {p.dtype}")
    dtype = dt.canonical(dtype or p.dtype)
    seed = _int64(seed, "seed")
    f = _compute_dtype(p.dtype)

    def body(*i):
        u = _unit(_hash(_flat_index(p.shape, i), seed), f)
        return te.if_then_else(u < p[i].astype(f), E.const(1, dtype), E.const(0, dtype))
    return te.compute(p.shape, body, name="bernoulli", tag="elemwise")


def categorical(cdf, seed, num_samples):
    """(rows, ``num_samples``) int64 draws from the rows of ``cdf`` (rows, n), each row
    the running sum of non-negative weights: category ``k`` is drawn where
    ``cdf[k - 1] <= u * cdf[n - 1] < cdf[k]`` for a uniform ``u`` in (0, 1), so a
    category of weight 0 never is."""
    rows, n = cdf.shape
    seed = _int64(seed, "seed")
    f = _compute_dtype(cdf.dtype)
    j = te.reduce_axis((0, n), name="j")

    def body(r, s):
        u = _unit(_hash(r.astype("int64") * num_samples + s.astype("int64"), seed), f)
        target = u * cdf[r, n - 1].astype(f)
        return te.sum(te.if_then_else(cdf[r, j].astype(f) <= target, E.const(1, "int64"), E.const(0, "int64")),
                      axis=j)
    below = te.compute((rows, num_samples), body, name="categorical_count", tag="reduce")
    # u * total rounds to total at worst: never past the last category
    return te.compute((rows, num_samples), lambda r, s: te.min(below[r, s], E.convert(n - 1).astype("int64")),
                      name="categorical", tag="injective")


def race_keys(weights, seed):
    """``-log(u) / w`` per entry of ``weights`` (+inf where ``w`` is 0): exponential
    arrival times of rate ``w``, in ``weights``' dtype."""
    seed = _int64(seed, "seed")
    f = _compute_dtype(weights.dtype)

    def body(*i):
        arrival = -te.log(_unit(_hash(_flat_index(weights.shape, i), seed), f))
        w = weights[i].astype(f)
        return te.if_then_else(w > 0, arrival / w, E.const(math.inf, f)).astype(weights.dtype)
    return te.compute(weights.shape, body, name="race_keys", tag="elemwise")
