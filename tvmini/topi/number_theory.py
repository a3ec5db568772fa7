"""Greatest common divisor and least common multiple of integer tensors (PyTorch's
``gcd``, ``lcm``), elementwise.

Euclid's algorithm has a data-dependent number of steps, and tvmini's kernels have no
while loop; but the number of steps has a bound per dtype. With the least absolute
remainder (``r`` or ``y - r``, whichever is smaller: the gcd is the same) a pair below
``2^k`` needs at most ``k log 2 / log(1 + sqrt 2)`` steps, so a fixed chain of steps
always finishes: each step a compute ``R[i+1] = f(R[i-1], R[i])`` over the remainder
sequence, kept as a loop nest of its own (:data:`MATERIALIZED`; inlined, every step
would copy the tree of the ones before it, exponentially). Once a remainder is 0 the
sequence alternates ``g, 0, g, 0``, so the gcd is the sum of the last two terms. A zero
divisor is never divided by (it is replaced by 1 in the branch not taken).
"""
import math

from .. import te
from ..errors import DTypeError, ShapeError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import shape_str
from .schedule import MATERIALIZED

__all__ = ["gcd", "lcm", "gcd_steps"]


def gcd_steps(dtype):
    """The number of least-absolute-remainder steps that finishes any pair of
    ``dtype``'s magnitudes (bits of the magnitude over ``log2(1 + sqrt 2)``, plus 2)."""
    bits = dt.bits(dtype) - (0 if dtype.startswith("uint") else 1)
    return int(math.ceil(bits * math.log(2) / math.log(1 + math.sqrt(2)))) + 2


def _check(a, b, op):
    for t in (a, b):
        if not isinstance(t, te.Tensor) or not dt.is_int(t.dtype) or dt.is_bool(t.dtype):
            raise DTypeError(f"{op}: expects integer te tensors, got "
                             f"{t.dtype if isinstance(t, te.Tensor) else type(t).__name__}")
    if a.dtype != b.dtype or len(a.shape) != len(b.shape):
        raise ShapeError(f"{op}: {a.name} {shape_str(a.shape)} {a.dtype} and {b.name} {shape_str(b.shape)} "
                         f"{b.dtype} must have one shape and dtype")


def gcd(a, b):
    """The non-negative greatest common divisor of ``a`` and ``b`` (one shape and
    integer dtype); ``gcd(0, 0) = 0``."""
    _check(a, b, "gcd")
    dtype = a.dtype
    zero, one = E.const(0, dtype), E.const(1, dtype)
    before = te.compute(a.shape, lambda *i: te.abs(a[i]), name="gcd_r0", tag=MATERIALIZED)
    current = te.compute(b.shape, lambda *i: te.abs(b[i]), name="gcd_r1", tag=MATERIALIZED)
    def step(x, y):
        def body(*i):
            divisor = y[i]
            safe = te.if_then_else(divisor == zero, one, divisor)
            r = te.floormod(x[i], safe)
            return te.if_then_else(divisor == zero, x[i], te.min(r, safe - r))
        return body
    for k in range(gcd_steps(dtype)):
        before, current = current, te.compute(a.shape, step(before, current), name=f"gcd_r{k + 2}", tag=MATERIALIZED)
    return te.compute(a.shape, lambda *i: before[i] + current[i], name="gcd", tag="elemwise")


def lcm(a, b):
    """The least common multiple ``|a / gcd(a, b) * b|`` (0 if either is 0), computed
    in int64 and converted to the dtype, so an overflow wraps as PyTorch's (a narrow
    dtype's result may then read negative, as there)."""
    _check(a, b, "lcm")
    g = gcd(a, b)
    zero = E.const(0, a.dtype)

    def body(*i):
        divisor = te.if_then_else(g[i] == zero, E.const(1, a.dtype), g[i])
        wide = te.abs(te.floordiv(a[i], divisor).astype("int64") * b[i].astype("int64"))
        return te.if_then_else(g[i] == zero, zero, wide.astype(a.dtype))
    return te.compute(a.shape, body, name="lcm", tag="elemwise")
