"""``reference``: evaluate te definitions directly with numpy, ignoring every schedule.

This is the oracle of the property tests: it shares no code with lowering or code
generation. Each compute is evaluated over the whole grid of its axes (plus its reduce
axes) with numpy broadcasting; ``if_then_else`` evaluates both branches and picks, so
reads in the untaken branch are clipped into the tensor instead of failing. (The one
piece it shares with the code generators is the counter hash's algorithm, which each
renders on its own: ``tir/counter_hash.py``.)
"""
import math

import numpy as np

from ..errors import ShapeError, TVMiniError
from ..te.operation import BUILTIN_REDUCERS
from ..te.tensor import ComputeOp, PlaceholderOp, ProducerLoad, Reduce, Tensor
from ..tir import counter_hash
from ..tir import expr as E


def _shift(value, count, left):
    """numpy's shift with tvmini's rule for counts outside [0, width): 0, or -1 for ``>>``
    of a negative value (numpy leaves them to the hardware)."""
    value, count = np.asarray(value), np.asarray(count)
    width = value.dtype.itemsize * 8
    inside = (count >= 0) & (count < width)
    safe = np.where(inside, count, 0).astype(value.dtype)
    shifted = np.left_shift(value, safe) if left else np.right_shift(value, safe)
    fill = np.zeros_like(value) if left else np.where(value < 0, -1, 0).astype(value.dtype)
    return np.where(inside, shifted, fill).astype(value.dtype)


def _erf(x):
    """The error function elementwise (numpy has none), in ``x``'s dtype."""
    return np.vectorize(math.erf, otypes=[x.dtype])(x).astype(x.dtype)


_BINARY = {
    E.Add: np.add, E.Sub: np.subtract, E.Mul: np.multiply, E.Div: np.true_divide,
    E.FloorDiv: np.floor_divide, E.FloorMod: np.mod, E.Min: np.minimum, E.Max: np.maximum,
    E.EQ: np.equal, E.NE: np.not_equal, E.LT: np.less, E.LE: np.less_equal, E.GT: np.greater,
    E.GE: np.greater_equal, E.And: np.logical_and, E.Or: np.logical_or,
}
_CALLS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "cos": np.cos, "sin": np.sin,
    "floor": np.floor, "ceil": np.ceil, "round": np.round, "abs": np.abs, "power": np.power, "fmod": np.fmod,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "trunc": np.trunc, "tan": np.tan, "atan": np.arctan,
    "asin": np.arcsin, "acos": np.arccos, "exp2": np.exp2, "expm1": np.expm1, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "erf": lambda x: _erf(np.asarray(x)),
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
    "bitwise_not": np.invert, "left_shift": lambda a, s: _shift(a, s, True),
    "right_shift": lambda a, s: _shift(a, s, False),
    counter_hash.NAME: counter_hash.numpy_hash,
}
_REDUCE = dict(zip(BUILTIN_REDUCERS, (np.sum, np.max, np.min, np.prod)))


class _Evaluator:
    def __init__(self, inputs):
        self.values, self.scalars = {}, {}
        for key, value in inputs.items():
            if isinstance(key, Tensor):
                self.values[key] = np.asarray(value)
            elif isinstance(key, E.Var):
                self.scalars[key] = value
            else:
                raise TVMiniError(f"reference: inputs are keyed by placeholders and te.vars, got {key!r}")

    def extent(self, e):
        return int(self.expr(e, {}))

    def tensor(self, t):
        if t in self.values:
            return self.values[t]
        if isinstance(t.op, PlaceholderOp):
            raise TVMiniError(f"reference: no value given for placeholder {t.name}")
        self.values.update(zip(t.op.outputs, self.compute(t.op)))
        return self.values[t]

    def compute(self, op: ComputeOp):
        shape = [self.extent(iv.dom.extent) for iv in op.axis]
        raxes = list(op.reduce_axis)
        rdom = [(self.extent(iv.dom.min), self.extent(iv.dom.extent)) for iv in raxes]
        ndim = len(shape) + len(raxes)
        env = {}
        for d, (iv, n) in enumerate(zip(op.axis, shape)):
            env[iv.var] = _along(np.arange(n, dtype=np.int64), d, ndim)
        for d, (iv, (lo, n)) in enumerate(zip(raxes, rdom)):
            env[iv.var] = _along(np.arange(lo, lo + n, dtype=np.int64), len(shape) + d, ndim)
        body = op.bodies[0]
        if not isinstance(body, Reduce):
            outs = [np.broadcast_to(self.expr(b, env), shape) for b in op.bodies]
        else:
            full = shape + [n for _, n in rdom]
            srcs = [np.broadcast_to(self.expr(x, env), full) for x in body.sources]
            cond = np.broadcast_to(self.expr(body.condition, env), full)
            reducer = body.reducer
            dtypes = tuple(x.dtype for x in body.sources)
            identity = reducer.identities(dtypes)
            identity = [self.expr(i, {}) for i in identity]
            srcs = [np.where(cond, x, i) for x, i in zip(srcs, identity)]
            reduce = _REDUCE.get(reducer)
            if not raxes:
                outs = srcs
            elif reduce is not None:
                # ``initial``: a reduction over an empty axis gives the identity, as kernels do
                outs = [reduce(srcs[0], axis=tuple(range(len(shape), ndim)), initial=identity[0][()])]
            else:
                outs = self.fold(reducer, dtypes, srcs, identity, len(shape))
        return [np.array(out, dtype=dtype, order="C") for out, dtype in zip(outs, op.dtypes)]

    def fold(self, reducer, dtypes, srcs, identity, kept):
        """A ``te.comm_reducer``'s reduction of ``srcs`` (one array per value) over their
        axes from ``kept`` on: its combining expressions applied to one reduced position
        after another."""
        xs, ys = (tuple(E.Var(f"{c}{i}", d) for i, d in enumerate(dtypes)) for c in "xy")
        combined = reducer.combine_all(xs, ys)
        rows = [x.reshape(x.shape[:kept] + (math.prod(x.shape[kept:]),)) for x in srcs]
        accs = [np.broadcast_to(i, rows[0].shape[:-1]) for i in identity]
        for r in range(rows[0].shape[-1]):
            env = dict(zip(xs, accs))
            env.update((y, row[..., r]) for y, row in zip(ys, rows))
            accs = [self.expr(c, env) for c in combined]
        return [np.broadcast_to(a, rows[0].shape[:-1]) for a in accs]       # a combine may ignore its values

    def expr(self, e, env):
        if isinstance(e, E.Const):
            return np.array(e.value, dtype=e.dtype)
        if isinstance(e, E.Var):
            if e in env:
                return env[e]
            if e in self.scalars:
                return np.array(self.scalars[e], dtype=e.dtype)
            raise TVMiniError(f"reference: no value given for variable {e.name}")
        if isinstance(e, ProducerLoad):
            data = self.tensor(e.tensor)
            if data.ndim != len(e.indices):
                raise ShapeError(f"reference: {e.tensor.name} is indexed with {len(e.indices)} indices, the value "
                                 f"given has {data.ndim} dimensions")
            idx = [np.clip(self.expr(i, env), 0, n - 1) for i, n in zip(e.indices, data.shape)]
            if not data.size:       # read only in an untaken branch (padding an empty tensor): any value
                return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in idx)), data.dtype)
            return data[tuple(idx)] if idx else data[()]
        if isinstance(e, E.BinaryOp):
            a, b = self.expr(e.a, env), self.expr(e.b, env)
            with np.errstate(all="ignore"):
                return _BINARY[type(e)](a, b).astype(e.dtype)
        if isinstance(e, E.Not):
            return np.logical_not(self.expr(e.a, env))
        if isinstance(e, E.Cast):
            v = self.expr(e.value, env)
            return (v != 0) if e.dtype == "bool" else v.astype(e.dtype)
        if isinstance(e, E.Select):
            return np.where(self.expr(e.cond, env), self.expr(e.t, env), self.expr(e.f, env)).astype(e.dtype)
        if isinstance(e, E.Call):
            with np.errstate(all="ignore"):
                return np.asarray(_CALLS[e.name](*[self.expr(a, env) for a in e.args])).astype(e.dtype)
        raise TVMiniError(f"reference: cannot evaluate {type(e).__name__} {e}")


def _along(values, axis, ndim):
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def reference(outputs, inputs):
    """numpy values of ``outputs`` (a tensor or a list) given ``{placeholder: array, var: int}``."""
    ev = _Evaluator(inputs)
    if isinstance(outputs, Tensor):
        return ev.tensor(outputs)
    return [ev.tensor(t) for t in outputs]
