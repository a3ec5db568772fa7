"""Greatest common divisor and least common multiple of integer tensors (PyTorch's
``gcd``, ``lcm``), elementwise, each one loop nest.

PyTorch's gcd is Euclid's loop on the magnitudes, ``(x, y) = (|b|, |a|)``, then ``(x,
y) = (y, x % y)`` (C's remainder) while ``y != 0``, giving ``x``; with ``|min| = min``
of a signed dtype taken as it is (two's complement), which gives PyTorch's own results
for the dtype's minimum (``gcd(-2^31, 6) = -2`` there). tvmini's kernels have no while
loop, but the number of steps has a bound per dtype (Lamé: a pair that needs ``n`` steps
after the first is at least the Fibonacci pair ``F(n+2), F(n+1)``), so a fixed number
of steps always finishes; a finished pair ``(g, 0)`` stays as it is.

The steps are a fold over a step axis: a two-value reduction (``te.comm_reducer`` on
the tuple ``(x, y)``) whose identity ``(0, 0)`` is replaced at the first step by the
pair ``(|b|, |a|)`` (the only state that is ``(0, 0)`` is ``gcd(0, 0)``'s start, where
that changes nothing) and whose later steps are Euclid's. This reducer is an ordered
fold, not a commutative one: the rules below keep its step axis one serial loop, in
order, inside each element (never split, reordered against itself, rfactor-ed or
spread across threads), so the state lives in registers or L1 from step to step
instead of ~50 materialised stages.

Dtypes of at most 32 bits (not uint32) take the remainder through a float64 quotient:
``x - trunc(x / y) * y``, exact for magnitudes below 2^53 (the rounded quotient never
crosses an integer), which vectorizes (x86 has no vector integer division); the CPU
rule then runs a vector of elements through the steps together. int64 and uint32 use
the integer remainder, one element at a time.
"""
from .. import te
from ..errors import DTypeError, ShapeError
from ..tir import dtype as dt
from ..tir import expr as E
from .broadcast import shape_str
from .schedule import register, target_kind
from .schedule_cpu import PARALLEL_MIN
from .schedule_cuda import _bind_flat

__all__ = ["gcd", "lcm", "gcd_steps"]

#: Tags of the fold (a two-output reduction over the steps) and of ``lcm``'s output,
#: whose rules keep the step axis one serial loop per element.
FOLD_TAG, LCM_TAG = "euclid_fold", "euclid_lcm"
#: Elements run through the steps together as one vector (the float-quotient dtypes).
LANES = 8


def gcd_steps(dtype):
    """The number of fold steps that finishes any pair of ``dtype``: one to load the
    pair, one that may swap it, and the most Euclid steps a pair ``x > y`` of
    magnitudes up to the dtype's largest (``2^(bits-1)`` signed: the minimum's) needs,
    the ``n`` of the largest Fibonacci number ``F(n+2)`` not above it (Lamé)."""
    largest = 2 ** dt.bits(dtype) - 1 if dtype.startswith("uint") else 2 ** (dt.bits(dtype) - 1)
    fib = [0, 1]                       # F(0), F(1), ... up to the first above ``largest``
    while fib[-1] <= largest:
        fib.append(fib[-1] + fib[-2])
    k = len(fib) - 2                   # the largest F(k) not above ``largest``: n = k - 2
    return 2 + (k - 2)


def _float_quotient(dtype):
    """Whether ``dtype``'s remainders go through a float64 quotient (magnitudes and
    quotients fit int32: every dtype of at most 32 bits but uint32)."""
    return dt.bits(dtype) < 32 or dt.bits(dtype) == 32 and not dtype.startswith("uint")


def _remainder(x, y, dtype):
    """C's ``x % y`` (the sign of ``x``) for ``y != 0``."""
    if not _float_quotient(dtype):
        return te.truncmod(x, y)
    quotient = (x.astype("float64") / y.astype("float64")).astype("int32").astype(dtype)     # truncated
    return x - quotient * y                   # exact: quotient * y = x - remainder fits the dtype


def _euclid(dtype):
    """The fold's reducer on ``dtype`` pairs (see the module's docstring)."""
    zero, one = E.const(0, dtype), E.const(1, dtype)

    def combine(state, pair):
        (x, y), (first_x, first_y) = state, pair
        start, done = (x == zero) & (y == zero), y == zero
        r = te.if_then_else(done, zero, _remainder(x, te.if_then_else(done, one, y), dtype))
        return (te.if_then_else(start, first_x, te.if_then_else(done, x, y)), te.if_then_else(start, first_y, r))
    return te.comm_reducer(combine, lambda tx, ty: (E.const(0, tx), E.const(0, ty)), name="euclid")


def _check(a, b, op):
    for t in (a, b):
        if not isinstance(t, te.Tensor) or not dt.is_int(t.dtype) or dt.is_bool(t.dtype):
            raise DTypeError(f"{op}: expects integer te tensors, got "
                             f"{t.dtype if isinstance(t, te.Tensor) else type(t).__name__}")
    if a.dtype != b.dtype or len(a.shape) != len(b.shape):
        raise ShapeError(f"{op}: {a.name} {shape_str(a.shape)} {a.dtype} and {b.name} {shape_str(b.shape)} "
                         f"{b.dtype} must have one shape and dtype")


def _fold(a, b, name):
    """The two outputs ``(gcd, 0)`` of the fold over ``gcd_steps`` steps."""
    step = te.reduce_axis((0, gcd_steps(a.dtype)), name="step")
    euclid = _euclid(a.dtype)
    return te.compute(a.shape, lambda *i: euclid((te.abs(b[i]), te.abs(a[i])), axis=step), name=name,
                      tag=FOLD_TAG)


def gcd(a, b):
    """The greatest common divisor of ``a`` and ``b`` (one shape and integer dtype),
    PyTorch's: non-negative but at the dtype's minimum; ``gcd(0, 0) = 0``."""
    _check(a, b, "gcd")
    return _fold(a, b, "gcd")[0]


def lcm(a, b):
    """The least common multiple ``|a / gcd(a, b) * b|`` (0 if either is 0), computed
    as PyTorch's (C++'s arithmetic): in the dtype, int32 for a narrower one, then
    converted; an overflow wraps before the absolute value, so the result may read
    negative, as there (where PyTorch's division of the minimum by a gcd of -1 traps,
    tvmini's wraps: ``min / -1 = min``)."""
    _check(a, b, "lcm")
    g = _fold(a, b, "lcm.gcd")[0]
    zero, wide = E.const(0, a.dtype), a.dtype if dt.bits(a.dtype) >= 32 else "int32"

    def body(*i):
        divisor = te.if_then_else(g[i] == zero, E.const(1, a.dtype), g[i])
        x, y, d = (v.astype(wide) for v in (a[i], b[i], divisor))
        return te.if_then_else(g[i] == zero, zero, te.abs(te.floordiv(x, d) * y).astype(a.dtype))   # exact division
    return te.compute(a.shape, body, name="lcm", tag=LCM_TAG)


def _elements(stage):
    total = 1
    for e in stage.op.shape:
        total *= e.value if isinstance(e, E.Const) else PARALLEL_MIN
    return total


def _cpu_nest(sch, stage, fold):
    """``stage``'s axes fused, cut into vectors of ``LANES`` elements for the
    float-quotient dtypes, parallel when the work is large; ``fold`` (``stage`` itself
    or the fold ``stage`` reads) runs its steps inside, per element or per vector."""
    dtype = fold.op.output(0).dtype
    axes = list(stage.op.axis)
    outer = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    inner = None
    if _float_quotient(dtype):
        outer, inner = stage.split(outer, factor=LANES)
    if _elements(stage) * gcd_steps(dtype) >= PARALLEL_MIN:
        stage.parallel(outer)
    if fold is not stage:
        fold.compute_at(stage, outer)
        fold_axes = list(fold.op.axis)
        fold_inner = fold.fuse(*fold_axes) if len(fold_axes) > 1 else fold_axes[0]
    else:
        fold_inner = inner
    if inner is not None:                  # the steps outside a vector of elements
        fold.reorder(fold.op.reduce_axis[0], fold_inner)
        fold.vectorize(fold_inner)
        if fold is not stage:
            stage.vectorize(inner)


@register(FOLD_TAG)
def schedule_fold(sch, tensor, target="llvm"):
    """CPU: one loop nest, the steps innermost per element (int64) or per vector of
    elements (the float-quotient dtypes); a fold read by ``lcm`` is scheduled there."""
    stage = sch[tensor]
    if target_kind(target) not in ("llvm", "cpu") or stage.attach_type != "root" or stage.relations or \
            not stage.op.axis or not stage.is_output:
        return
    _cpu_nest(sch, stage, stage)


@register(LCM_TAG)
def schedule_lcm(sch, tensor, target="llvm"):
    """CPU: ``lcm`` in vectors (or single elements) with its gcd fold computed inside,
    per vector."""
    stage = sch[tensor]
    if target_kind(target) not in ("llvm", "cpu") or not stage.op.axis:
        return
    _cpu_nest(sch, stage, sch[_fold_of(tensor)])


def _fold_of(tensor):
    return next(t for t in tensor.op.input_tensors if t.op.tag == FOLD_TAG)


@register(FOLD_TAG, target="cuda")
def schedule_fold_cuda(sch, tensor, target="cuda"):
    """CUDA: one thread per element running every step (the step axis serial)."""
    stage = sch[tensor]
    if stage.attach_type == "root" and not stage.relations and stage.op.axis:
        _bind_flat(stage, list(stage.op.axis))


@register(LCM_TAG, target="cuda")
def schedule_lcm_cuda(sch, tensor, target="cuda"):
    """CUDA: one thread per element, its gcd fold computed in that thread."""
    stage = sch[tensor]
    if stage.op.axis:
        thread = _bind_flat(stage, list(stage.op.axis))
        sch[_fold_of(tensor)].compute_at(stage, thread)
