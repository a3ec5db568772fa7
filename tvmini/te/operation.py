"""The user-facing constructors of te: placeholders, computes, reductions, intrinsics."""
import inspect
import math
import weakref

import numpy as np

from ..errors import DTypeError, ScheduleError, ShapeError, TVMiniError
from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.simplify import simplify
from . import relation
from .tensor import (ComputeOp, IterVar, PlaceholderOp, ProducerLoad, Reduce, Reducer, Tensor,
                     check_reduce_placement, iter_range, named_by_default)


def var(name="n", dtype="int32"):
    """A value known only when the kernel is called.

    An integer var used in a tensor's shape is a symbolic extent: its value is read
    from the arguments' shapes. Any other var (a float learning rate, an integer seed)
    is a scalar argument: list it among ``build``'s arguments and pass a Python number
    in that position of the call.
    """
    dtype = dt.canonical(dtype)
    if dtype not in ("int32", "int64", "float32", "float64"):
        raise DTypeError(f"te.var {name}: variables are int32, int64, float32 or float64, not {dtype}")
    return E.Var(name, dtype)


def size_var(name="n", dtype="int32"):
    """TVM's ``te.size_var``: a variable known to be a size (at least 0); tvmini's
    symbolic extents are that already, so this is :func:`var`."""
    return var(name, dtype)


def const(value, dtype=None):
    return E.const(value, dtype)


#: The most elements a tensor may have: kernels compute flat indices in int32.
INDEX_MAX = relation.INDEX_MAX


def _shape(shape, what):
    if not isinstance(shape, (tuple, list)):
        shape = (shape,)
    out = []
    for i, s in enumerate(shape):
        e = E.convert(s)
        if not dt.is_int(e.dtype):
            raise ShapeError(f"{what}: extent {i} is {e.dtype} {e}; extents are integers")
        if isinstance(e, E.Const) and e.value < 0:
            raise ShapeError(f"{what}: extent {i} is {e.value}; extents must be at least 0")
        if not isinstance(e, E.Const) and e.dtype != "int32":
            # kernels take symbolic extents as int32 arguments; a cast of an int64 var is not one
            raise ShapeError(f"{what}: extent {i} is {e} of dtype {e.dtype}; symbolic extents are int32 "
                             "(te.var's default dtype)")
        out.append(e)
    constant = math.prod(e.value for e in out if isinstance(e, E.Const))
    if constant > INDEX_MAX:
        raise ShapeError(f"{what}: shape ({', '.join(map(str, out))}) has {constant} elements; kernels index "
                         f"tensors with int32 (at most {INDEX_MAX} elements)")
    return tuple(e.astype("int32") if e.dtype != "int32" else e for e in out)


def placeholder(shape, name=None, dtype="float32"):
    """An input tensor of ``shape`` (ints or ``te.var``s), named "placeholder" by default."""
    op = PlaceholderOp(name or "placeholder", _shape(shape, f"placeholder {name or 'placeholder'}"),
                       dt.canonical(dtype))
    return (op if name else named_by_default(op)).output(0)


def compute(shape, fcompute, name=None, tag="", attrs=None):
    """``name[i, j, ...] = fcompute(i, j, ...)`` over ``shape``.

    The axis names are the lambda's parameter names. ``fcompute`` may return a
    reduction (``te.sum(...)``) as its whole value. ``tag`` names the kind of compute
    for the default schedules (``topi.schedule``); ``attrs``, a dict, tells its rule
    more (``ComputeOp.attrs``).
    """
    given, name = bool(name), name or "compute"
    shape = _shape(shape, f"compute {name}")
    params = list(inspect.signature(fcompute).parameters.values())
    if len(params) == 1 and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        names = [f"i{k}" for k in range(len(shape))]
    elif len(params) != len(shape):
        raise ShapeError(f"compute {name}: shape has {len(shape)} dimensions but fcompute takes {len(params)} arguments")
    else:
        names = [p.name for p in params]
    axis = [IterVar(iter_range(ext), n, "data") for n, ext in zip(names, shape)]
    body = fcompute(*[iv.var for iv in axis])
    bodies = [E.convert(b) for b in body] if isinstance(body, (list, tuple)) else [E.convert(body)]
    _check_bodies(name, bodies)
    for b in bodies:
        check_reduce_placement(name, b)
        _check_reduce_axes_in_place(name, axis, b)
    op = ComputeOp(name, axis, bodies, tag, attrs)
    op = op if given else named_by_default(op)
    return op.outputs if len(bodies) > 1 else op.output(0)


def _same(xs, ys):
    """Whether two tuples hold the same objects."""
    return len(xs) == len(ys) and not [x for x, y in zip(xs, ys) if x is not y]


def _check_bodies(name, bodies):
    """The bodies of one compute: at least one; all reductions (the values of one tuple
    reduction, in order) or none."""
    if not bodies:
        raise TVMiniError(f"compute {name}: fcompute returned no values")
    reduces = [b for b in bodies if isinstance(b, Reduce)]
    if not reduces or len(bodies) == len(reduces[0].sources) == 1:
        return
    first = reduces[0]
    if (len(reduces) != len(bodies) or len(first.sources) != len(bodies)
            or [r for i, r in enumerate(reduces) if r.value_index != i or r.reducer is not first.reducer
                or r.condition is not first.condition or not _same(r.sources, first.sources)
                or not _same(r.axis, first.axis)]):
        raise TVMiniError(f"compute {name}: a compute of several values is either elementwise or the values of "
                          "one tuple reduction, in order (fcompute returns the reducer's result, as "
                          "`lambda i: argmax((idx[i, k], val[i, k]), axis=k)`)")


#: id of a reduce axis's variable -> the axis, while the axis lives (to recognise one
#: used outside its reduction).
_REDUCE_AXES = weakref.WeakValueDictionary()


def reduce_axis(dom, name="k"):
    """A reduction axis over ``dom`` = ``(lo, hi)`` or an extent."""
    if isinstance(dom, (tuple, list)):
        lo, hi = (E.convert(x) for x in dom)
        rng = E.Range(lo, simplify(hi - lo))
    else:
        rng = iter_range(dom)
    axis = IterVar(rng, name, "reduce")
    _REDUCE_AXES[id(axis.var)] = axis
    return axis


def _check_reduce_axes_in_place(name, axis, body):
    """A reduce axis may appear only inside a reduction over it."""
    from ..tir.functor import free_vars
    allowed = {iv.var for iv in axis} | ({iv.var for iv in body.axis} if isinstance(body, Reduce) else set())
    for v in free_vars(body) - allowed:
        owner = _REDUCE_AXES.get(id(v))
        if owner is not None and owner.var is v:
            raise ScheduleError(f"compute {name}: reduce axis {v.name} is used outside a reduction over it; "
                                f"reduce over it (te.sum(..., axis={v.name})) or index with a data axis")


def thread_axis(dom=None, tag=None, name=None):
    """A GPU thread axis ("blockIdx.x", "threadIdx.y", ...) to ``bind`` loops to, or
    "vthread": TVM's virtual threads, iterations each thread runs interleaved with
    its other work (``lower.vthread``).

    ``thread_axis(tag)`` or ``thread_axis(tag, name)``; TVM's
    ``thread_axis((0, 32), "threadIdx.x")`` declares the thread extent too: ``build``
    then checks that every loop bound to the axis has that extent where it is known
    before lowering (see :func:`check_thread_extents`)."""
    if isinstance(dom, str):
        if tag is not None and name is not None:
            raise ScheduleError(f"thread_axis({dom!r}, {tag!r}, name={name!r}): the tag is given first, "
                                "so the second argument is the name; pass it once")
        dom, tag, name = None, dom, name if tag is None else tag
    valid = {f"{k}.{d}" for k in ("blockIdx", "threadIdx") for d in "xyz"} | {"vthread"}
    if tag not in valid:
        raise ScheduleError(f"unknown thread axis {tag!r}; use one of {sorted(valid)}")
    return IterVar(None if dom is None else _thread_range(dom, tag), name or tag, "thread", thread_tag=tag)


def _thread_range(dom, tag):
    """The Range of thread axis ``tag`` declared as ``dom``: ``(0, extent)`` (or a
    Range) with a constant extent of at least 1 (threads count from 0, as in TVM)."""
    if isinstance(dom, E.Range):
        dom = (dom.min, simplify(dom.min + dom.extent))
    lo, hi = (_int_value(x) for x in dom) if isinstance(dom, (tuple, list)) and len(dom) == 2 else (None, None)
    if lo != 0 or hi is None or hi < 1:
        raise ScheduleError(f"thread_axis {tag}: range {dom!r} must be (0, extent) with a constant extent of at "
                            "least 1 (threads count from 0)")
    return E.Range(E.const(0), E.const(hi))


def _int_value(x):
    """The value of a Python int or an integer constant expression, else None."""
    if isinstance(x, E.Const) and dt.is_int(x.dtype):
        return x.value
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def check_thread_extents(sch):
    """ScheduleError where a loop bound to a thread axis declared with a range
    (``te.thread_axis((0, 32), "threadIdx.x")``) has another constant extent.

    Checked where the loop's extent is known before lowering: in stages computed at
    the root, from their axes' ranges, splits and fuses. A stage computed at another
    gets its extents from bound inference, during lowering, and is not checked (nor is
    a symbolic extent): there the declared range is informational, as the launch
    extents come from the loops."""
    from .relation import derived_extents
    for stage in sch.stages:
        declared = {axis: thread for axis, thread in stage.bindings.items() if thread.dom is not None}
        if not declared or stage.attach_type != "root":
            continue
        extents = derived_extents(stage.relations, {iv: iv.dom.extent for iv in stage.root_iter_vars})
        for axis, thread in declared.items():
            extent, want = simplify(extents[axis]), thread.dom.extent.value
            if isinstance(extent, E.Const) and extent.value != want:
                raise ScheduleError(f"stage {stage.name}: axis {axis.name} has extent {extent.value} but is bound "
                                    f"to {thread.name}, declared by te.thread_axis((0, {want}), "
                                    f"{thread.thread_tag!r}); give the loop {want} iterations (split's factor "
                                    f"or nparts) or declare the range (0, {extent.value})")


def _reduction(reducer, check_dtype=None):
    """The te function ``reducer(expr, axis=, where=)`` of ``reducer``; ``check_dtype``
    (if given) vets the reducer for the source's dtype first."""
    name = reducer.name

    def reduce(expr, axis=None, where=None, *args, init=None):
        if init is not None:
            raise TVMiniError(f"te.{name}(..., init=) is not supported: combine the initial value with the "
                              f"result instead (init + te.sum(...))")
        if axis is None or isinstance(axis, (E.PrimExpr, int, float)) and not isinstance(axis, IterVar):
            if name not in ("max", "min") or axis is None or check_dtype is not None:
                raise TVMiniError(f"te.{name} needs axis= (a reduce_axis or a list of them)")
            return (E.maximum if name == "max" else E.minimum)(expr, axis)
        axes = _reduce_axes(name, axis)
        source = E.convert(expr)
        if check_dtype is not None:
            check_dtype(source.dtype)
        elif name in ("sum", "prod") and dt.is_bool(source.dtype):
            source = source.astype("int32")      # numpy counts: the sum of bools is an integer
        cond = E.convert(where) if where is not None else None
        return Reduce(reducer, source, axes, cond)
    reduce.__name__ = name
    return reduce


def _reduce_axes(name, axis):
    """``axis`` (a reduce axis or a list of them) as a list, each listed once."""
    if axis is None:
        raise TVMiniError(f"te.{name} needs axis= (a reduce_axis or a list of them)")
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    for k, a in enumerate(axes):
        if not isinstance(a, IterVar) or a.kind != "reduce":
            raise TVMiniError(f"te.{name}: axis {a} is not a te.reduce_axis")
        if [b for b in axes[:k] if b is a]:
            raise TVMiniError(f"te.{name}: reduce axis {a.name} is listed twice")
    return axes


def _builtin_reducer(name, combine, identity):
    reducer = Reducer(name, combine, identity)
    reduce = _reduction(reducer)
    reduce.__doc__ = (f"{name} of ``expr`` over reduce ``axis`` (one IterVar or a list)"
                      + ("; with two expressions, the elementwise " + name if name in ("max", "min") else "")
                      + (". A NaN among floats gives NaN, as numpy's and torch's" if name in ("max", "min") else "")
                      + ".")
    return reducer, reduce


sum_reducer, sum = _builtin_reducer("sum", lambda a, b: a + b, lambda dtype: E.Const(0, dtype))
max_reducer, max = _builtin_reducer("max", E.maximum, E.min_value)
min_reducer, min = _builtin_reducer("min", E.minimum, E.max_value)
prod_reducer, prod = _builtin_reducer("prod", lambda a, b: a * b, lambda dtype: E.Const(1, dtype))
BUILTIN_REDUCERS = (sum_reducer, max_reducer, min_reducer, prod_reducer)


def comm_reducer(fcombine, fidentity, name="reduce"):
    """A reduction defined by the user, as TVM's ``te.comm_reducer``: ``fcombine(x, y)``
    is the expression combining two values and ``fidentity(dtype)`` its identity element
    (an expression or a number). Returns ``reducer(expr, axis=, where=)``, used like
    ``te.sum``. ``fcombine`` must be commutative and associative: schedules split,
    reorder, ``rfactor`` and spread a reduction across threads, which regroups it.

    Given a tuple of expressions, the reducer reduces them together, as TVM's: then
    ``x`` and ``y`` are tuples, ``fcombine`` returns a tuple and ``fidentity(*dtypes)``
    one identity per value; the reducer returns one reduction per value, the bodies of a
    compute of as many outputs (TVM's argmax:
    ``T_idx, T_val = te.compute((m,), lambda i: argmax((idx[i, k], val[i, k]), axis=k))``)."""
    def identity(dtype):
        return _identity_value(name, fidentity(dtype), dtype)

    def combine(a, b):
        out = fcombine(a, b)
        if isinstance(out, (tuple, list)):
            raise TVMiniError(f"te.comm_reducer {name}: fcombine returned {len(out)} values for one reduced "
                              "value; reduce a tuple of as many expressions")
        return E.convert(out)

    def check_dtype(dtype):
        _check_reducer(name, (dtype,), lambda x, y: (combine(x[0], y[0]),), lambda dtypes: (identity(dtypes[0]),))
    single = _reduction(Reducer(name, combine, identity), check_dtype)
    by_arity = {}

    def reduce(expr, axis=None, where=None, init=None):
        if not isinstance(expr, (tuple, list)):
            return single(expr, axis, where, init=init)
        if len(expr) == 1 or init is not None:          # one value; init= is refused there
            return (single(expr[0], axis, where, init=init),)
        sources = tuple(E.convert(x) for x in expr)
        reducer = by_arity.get(len(sources))
        if reducer is None:
            reducer = by_arity[len(sources)] = _tuple_reducer(name, fcombine, fidentity, len(sources))
        dtypes = tuple(x.dtype for x in sources)
        _check_reducer(name, dtypes, reducer.combine, reducer.identity)
        axes = _reduce_axes(name, axis)
        cond = E.convert(where) if where is not None else E.Const(True, "bool")
        return tuple(Reduce(reducer, sources, axes, cond, i) for i in range(len(sources)))
    reduce.__name__ = name
    return reduce


def _identity_value(name, value, dtype):
    """A reducer's identity element ``value`` (an expression or a number) of ``dtype``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float)):
        return E.const(value, dtype)
    if not isinstance(value, E.PrimExpr):
        raise TVMiniError(f"te.comm_reducer {name}: fidentity gave {value!r}, not a number or expression")
    return value


def _tuple_reducer(name, fcombine, fidentity, arity):
    """The reducer of ``arity`` values together: ``fcombine`` on tuples, ``fidentity``
    on one dtype per value."""
    def values(out, what):
        if not isinstance(out, (tuple, list)) or len(out) != arity:
            got = f"{len(out)} values" if isinstance(out, (tuple, list)) else "one value"
            raise TVMiniError(f"te.comm_reducer {name}: {what} gave {got} for a reduction of {arity} values")
        return out

    def combine(xs, ys):
        return tuple(E.convert(v) for v in values(fcombine(tuple(xs), tuple(ys)), "fcombine"))

    def identity(dtypes):
        return tuple(_identity_value(name, v, d) for v, d in zip(values(fidentity(*dtypes), "fidentity"), dtypes))
    return Reducer(name, combine, identity, arity)


def _check_reducer(name, dtypes, combine, identity):
    """``combine`` on values of ``dtypes`` (as tuples) keeps their dtypes, reads no
    tensor and uses only its arguments; ``identity(dtypes)`` keeps them too."""
    from ..tir.functor import free_vars, walk
    xs = tuple(E.Var(f"x{i}", d) for i, d in enumerate(dtypes))
    ys = tuple(E.Var(f"y{i}", d) for i, d in enumerate(dtypes))
    combined, start = combine(xs, ys), identity(dtypes)
    reads = []
    for e in combined + start:
        walk(e, lambda n: reads.append(n) if isinstance(n, ProducerLoad) else None)
    if reads:
        raise TVMiniError(f"te.comm_reducer {name}: fcombine reads tensor {reads[0].tensor.name}; it may "
                          "use only its two arguments")
    for i, (dtype, c, s) in enumerate(zip(dtypes, combined, start)):
        if c.dtype != dtype or s.dtype != dtype:
            which = "" if len(dtypes) == 1 else f" value {i}"
            raise DTypeError(f"te.comm_reducer {name}: on {dtype} values fcombine gives{which} {c.dtype} and "
                             f"fidentity {s.dtype}; both must keep the values' dtype")
    used = set().union(*(free_vars(c) for c in combined))
    if used - set(xs) - set(ys) or set().union(*(free_vars(s) for s in start)):
        raise TVMiniError(f"te.comm_reducer {name}: fcombine may use only its two arguments and fidentity "
                          f"no variable (got {combined} and {start})")

if_then_else = E.select
all = E.all_of
any = E.any_of


def _intrinsic(name):
    def f(x):
        return E.call(name, x)
    f.__name__ = name
    f.__doc__ = f"Elementwise {name}."
    return f


exp, log, sqrt, tanh, sigmoid, cos, sin, floor, ceil, round, trunc = (
    _intrinsic(n) for n in ("exp", "log", "sqrt", "tanh", "sigmoid", "cos", "sin", "floor", "ceil", "round", "trunc"))
erf, tan, atan, asin, acos, exp2, expm1, log2, log10, log1p = (
    _intrinsic(n) for n in ("erf", "tan", "atan", "asin", "acos", "exp2", "expm1", "log2", "log10", "log1p"))
nearbyint = round         # TVM's name: to the nearest integer, ties to even


def bitwise_and(a, b):
    """Elementwise ``a & b`` of integers (also ``a & b`` on integer expressions)."""
    return E.call("bitwise_and", a, b)


def bitwise_or(a, b):
    """Elementwise ``a | b`` of integers."""
    return E.call("bitwise_or", a, b)


def bitwise_xor(a, b):
    """Elementwise ``a ^ b`` of integers."""
    return E.call("bitwise_xor", a, b)


def bitwise_not(a):
    """Elementwise ``~a`` of integers."""
    return E.call("bitwise_not", a)


def left_shift(a, b):
    """``a << b``: 0 for a count outside ``[0, width)``."""
    return E.call("left_shift", a, b)


def right_shift(a, b):
    """``a >> b`` (arithmetic for signed integers): 0, or -1 for a negative ``a``, for a
    count outside ``[0, width)``."""
    return E.call("right_shift", a, b)


def abs(x):
    """Elementwise absolute value (keeps the dtype)."""
    return E.call("abs", x)


def power(x, y):
    """``x ** y`` in floating point."""
    return E.power(x, y)


# TVM's division, remainder and float-classification functions -----------------------

def floordiv(a, b):
    """TVM's ``te.floordiv``: ``a // b``, the quotient rounded toward minus infinity
    (floats too, as tvmini's ``//``). An integer division by zero gives 0."""
    return E.binary(E.FloorDiv, a, b)


def floormod(a, b):
    """TVM's ``te.floormod``: ``a % b``, with the sign of ``b`` (floats too, as
    tvmini's ``%``). An integer modulo by zero gives 0."""
    return E.binary(E.FloorMod, a, b)


indexdiv, indexmod = floordiv, floormod       # TVM's names for them in index arithmetic


def truncdiv(a, b):
    """TVM's ``te.truncdiv``: the integer quotient rounded toward zero (C's ``/``).
    Integers only, as TVM's; for floats use ``te.trunc(a / b)``. A division by zero
    gives 0."""
    a, b = _integer_operands("truncdiv", a, b)
    q = a // b
    return E.select((a % b != 0) & ((a < 0) != (b < 0)), q + 1, q)


def truncmod(a, b):
    """TVM's ``te.truncmod``: the remainder of :func:`truncdiv`, with the sign of ``a``
    (C's ``%``); for floats it is :func:`fmod`, as TVM's. A modulo by zero gives 0."""
    a, b = E._operands(a, b)
    if dt.is_float(dt.promote(a.dtype, b.dtype)):
        return E.call("fmod", a, b)
    a, b = _integer_operands("truncmod", a, b)
    r = a % b
    return E.select((r != 0) & ((r < 0) != (a < 0)), r - b, r)


def fmod(a, b):
    """TVM's ``te.fmod``: the remainder of ``a / b`` with the quotient rounded toward
    zero, with the sign of ``a`` (C's and numpy's ``fmod``, exact: LLVM's ``frem``, CUDA's
    ``fmod``); integers give :func:`truncmod`."""
    a, b = E._operands(a, b)
    if dt.is_float(dt.promote(a.dtype, b.dtype)):
        return E.call("fmod", a, b)
    return truncmod(a, b)


def _integer_operands(name, a, b):
    """``a`` and ``b`` as expressions of their common integer dtype (bools count as
    int32); DTypeError for floats."""
    a, b = E._operands(a, b)
    dtype = dt.promote(a.dtype, b.dtype)
    if dt.is_float(dtype):
        raise DTypeError(f"te.{name} takes integers (as TVM's), got {a.dtype} {a} and {b.dtype} {b}; "
                         f"for floats use te.trunc(a / b) or te.fmod(a, b)")
    dtype = "int32" if dt.is_bool(dtype) else dtype
    return a.astype(dtype), b.astype(dtype)


def isnan(x):
    """TVM's ``te.isnan``: whether ``x`` is NaN (False for integers and bools)."""
    x = E.convert(x)
    return x != x if dt.is_float(x.dtype) else E.const(False)


def isinf(x):
    """TVM's ``te.isinf``: whether ``x`` is +inf or -inf (False for integers and bools)."""
    x = E.convert(x)
    return abs(x) == E.const(math.inf, x.dtype) if dt.is_float(x.dtype) else E.const(False)


def isfinite(x):
    """TVM's ``te.isfinite``: whether ``x`` is neither infinite nor NaN (True for
    integers and bools)."""
    x = E.convert(x)
    return abs(x) < E.const(math.inf, x.dtype) if dt.is_float(x.dtype) else E.const(True)


def rsqrt(x):
    """TVM's ``te.rsqrt``: ``1 / sqrt(x)`` (integers become float32, as for ``sqrt``)."""
    return 1.0 / sqrt(x)


def max_value(dtype):
    """TVM's ``te.max_value``: the largest *finite* value of ``dtype`` (float32:
    3.4028235e38; bool: True), as a constant."""
    dtype = dt.canonical(dtype)
    return E.const(float(np.finfo(dtype).max), dtype) if dt.is_float(dtype) else E.max_value(dtype)


def min_value(dtype):
    """TVM's ``te.min_value``: the smallest *finite* value of ``dtype`` (float32:
    -3.4028235e38, not -inf as the identity of a max reduction; bool: False), as a
    constant."""
    dtype = dt.canonical(dtype)
    return E.const(float(np.finfo(dtype).min), dtype) if dt.is_float(dtype) else E.min_value(dtype)
