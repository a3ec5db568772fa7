"""Static analysis of lowered functions: how many floating-point operations a kernel does.

:func:`count_flops` counts the FLOPs one call of a lowered function performs, from the
loop IR alone (no run), so the profiler can report GFLOP/s for every kernel. The rule:

* one FLOP per floating-point ``+ - * /``, ``min``/``max``, comparison (``<`` ... ``!=``)
  and math intrinsic call (``exp``, ``log``, ``sqrt``, ``tanh``, ``sigmoid``, ``power``,
  ...); integer and bool operations (index arithmetic, guards, logic) and casts count
  nothing. There is no FMA node in the IR: ``a * b + c`` counts 2, as a fused multiply-add
  is conventionally counted. So a reduction ``C[i, j] += A[i, k] * B[k, j]`` costs 2 per
  point and an ``(M, K) x (K, N)`` matmul ``2 * M * N * K``; its init (``C = 0``) and any
  copies into packed or cached buffers cost nothing.
* ``select(c, t, f)`` counts ``c`` and the costlier of ``t`` and ``f`` (only one is
  evaluated);
* a statement counts once per iteration of its enclosing loops. Serial, parallel,
  vectorized, unrolled and thread-bound loops are all counted by their extent (a vector
  loop of 8 lanes is 8 iterations), and an unrolled copy counts like the iteration it
  replaced, so a schedule never changes the count of the same computation;
* a guarded statement (``if cond``, e.g. the tail of a non-divisible split) counts only
  the iterations where the guard holds: the guards' loop variables are enumerated
  (up to ``MAX_ENUMERATION`` points), so a padded tile is not over-counted.

A loop whose bounds depend on enclosing loops (a reduction's ``where`` turned into loop
bounds) counts as the hull of its bounds with them as a guard.

The count is ``None`` (unknown) when it depends on something only known at run time: a
loop with a symbolic extent around floating-point work, a guard reading memory or a
symbolic extent, or too many points to enumerate. Work-free loops never make it unknown.
"""
import math

import numpy as np

from . import dtype as dt
from .expr import (Add, And, BinaryOp, BufferLoad, Call, Cast, CmpOp, Const, Div, EQ, FloorDiv, FloorMod, GE,
                   GT, LE, LT, Max, Min, Mul, NE, Not, Or, Select, Sub, Var)
from .arith import const_interval
from .functor import free_vars, substitute
from .simplify import simplify
from .stmt import Allocate, BufferStore, For, IfThenElse, LetStmt, PrimFunc, SeqStmt

#: The most loop-variable combinations enumerated to count a guard's true iterations.
MAX_ENUMERATION = 1 << 22

_FLOAT_OPS = (Add, Sub, Mul, Div, Min, Max, FloorDiv, FloorMod)


def expr_flops(expr):
    """FLOPs of evaluating ``expr`` once (the rule in the module docstring)."""
    if isinstance(expr, Select):
        return expr_flops(expr.cond) + max(expr_flops(expr.t), expr_flops(expr.f))
    if isinstance(expr, Call):
        own = 1 if dt.is_float(expr.dtype) else 0
        return own + sum(expr_flops(a) for a in expr.args)
    if isinstance(expr, CmpOp) and not isinstance(expr, (And, Or)):
        own = 1 if dt.is_float(expr.a.dtype) else 0
        return own + expr_flops(expr.a) + expr_flops(expr.b)
    if isinstance(expr, BinaryOp):
        own = 1 if isinstance(expr, _FLOAT_OPS) and dt.is_float(expr.dtype) else 0
        return own + expr_flops(expr.a) + expr_flops(expr.b)
    if isinstance(expr, (Cast, Not)):
        return expr_flops(expr.value if isinstance(expr, Cast) else expr.a)
    if isinstance(expr, BufferLoad):
        return sum(expr_flops(i) for i in expr.indices)
    return 0


class _Unknown(Exception):
    """The count depends on run-time values."""


def count_flops(func):
    """FLOPs of one call of ``func`` (a ``PrimFunc`` or a statement), or None when unknown."""
    body = func.body if isinstance(func, PrimFunc) else func
    try:
        return _Counter().stmt(body, (), ())
    except _Unknown:
        return None


class _Counter:
    """Sums FLOPs over the iteration space; ``loops`` are the enclosing ``For`` nodes and
    ``conds`` the guards in force (already in terms of loop variables)."""

    def __init__(self):
        # ids of (loops, conds) -> (loops, conds, iterations where every guard holds); the
        # nodes are kept so their ids cannot be reused by nodes made later (``Not``, lets)
        self._points = {}

    def stmt(self, s, loops, conds):
        if s is None:
            return 0
        if isinstance(s, SeqStmt):
            return sum(self.stmt(x, loops, conds) for x in s.seq)
        if isinstance(s, For):
            if isinstance(s.min, Const) and isinstance(s.extent, Const):
                return self.stmt(s.body, loops + (s,), conds)
            return self._bounded_by_outer_loops(s, loops, conds)
        if isinstance(s, Allocate):
            return self.stmt(s.body, loops, conds)
        if isinstance(s, IfThenElse):
            here = self.leaf(expr_flops(s.cond), loops, conds)
            then = self.stmt(s.then_case, loops, conds + (s.cond,))
            return here + then + self.stmt(s.else_case, loops, conds + (Not(s.cond),))
        if isinstance(s, LetStmt):
            here = self.leaf(expr_flops(s.value), loops, conds)
            return here + self.stmt(substitute(s.body, {s.var: s.value}), loops, conds)
        if isinstance(s, BufferStore):
            return self.leaf(expr_flops(s.value) + sum(expr_flops(i) for i in s.indices), loops, conds)
        raise _Unknown

    def _bounded_by_outer_loops(self, s, loops, conds):
        """A loop whose bounds depend on enclosing loops (``tir.loop_guards``) counts as a
        loop over the hull of its bounds guarded by them."""
        ranges = {loop.var: (loop.min.value, loop.min.value + loop.extent.value - 1) for loop in loops
                  if isinstance(loop.min, Const) and isinstance(loop.extent, Const)}
        first = const_interval(s.min, ranges)
        last = const_interval(simplify(s.min + s.extent - 1), ranges)
        if first is None or last is None:       # a symbolic extent: unknown if there is float work
            return self.stmt(s.body, loops + (s,), conds)
        if first[0] > last[1]:
            return 0
        hull = For(s.var, first[0], last[1] - first[0] + 1, s.kind, s.body)
        inside = And(GE(s.var, s.min), LT(s.var, simplify(s.min + s.extent)))
        return self.stmt(s.body, loops + (hull,), conds + (inside,))

    def leaf(self, flops, loops, conds):
        """``flops`` per execution times the iterations where the statement runs."""
        if not flops:
            return 0
        key = (tuple(map(id, loops)), tuple(map(id, conds)))
        entry = self._points.get(key)
        if entry is None:
            entry = self._points[key] = (loops, conds, _iterations(loops, conds))
        return flops * entry[2]


def _iterations(loops, conds):
    """How many iterations of ``loops`` satisfy every condition in ``conds``."""
    for loop in loops:
        if not isinstance(loop.extent, Const) or not isinstance(loop.min, Const):
            raise _Unknown
    used = set()
    for cond in conds:
        used |= free_vars(cond)
    guarded = [loop for loop in loops if loop.var in used]
    if used - {loop.var for loop in guarded}:
        raise _Unknown    # a guard on a symbolic extent or a scalar argument
    free = math.prod(loop.extent.value for loop in loops if loop not in guarded)
    if not guarded:
        return free
    if math.prod(loop.extent.value for loop in guarded) > MAX_ENUMERATION:
        raise _Unknown
    axes = np.meshgrid(*[np.arange(loop.min.value, loop.min.value + loop.extent.value, dtype=np.int64)
                         for loop in guarded], indexing="ij", sparse=True)
    env = {loop.var: axis for loop, axis in zip(guarded, axes)}
    holds = np.ones([loop.extent.value for loop in guarded], dtype=bool)
    for cond in conds:
        holds &= np.broadcast_to(_evaluate(cond, env), holds.shape)
    return free * int(holds.sum())


_NUMPY_OPS = {Add: np.add, Sub: np.subtract, Mul: np.multiply, FloorDiv: np.floor_divide, FloorMod: np.mod,
              Min: np.minimum, Max: np.maximum, LT: np.less, LE: np.less_equal, GT: np.greater,
              GE: np.greater_equal, EQ: np.equal, NE: np.not_equal, And: np.logical_and, Or: np.logical_or}


def _evaluate(expr, env):
    """Evaluate an integer/bool guard over numpy grids of loop-variable values."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Var):
        return env[expr]
    if isinstance(expr, Not):
        return np.logical_not(_evaluate(expr.a, env))
    if isinstance(expr, Cast) and not dt.is_float(expr.dtype) and not dt.is_float(expr.value.dtype):
        value = _evaluate(expr.value, env)
        return np.asarray(value, dtype=bool) if dt.is_bool(expr.dtype) else value
    if isinstance(expr, Select):
        return np.where(_evaluate(expr.cond, env), _evaluate(expr.t, env), _evaluate(expr.f, env))
    op = _NUMPY_OPS.get(type(expr))
    if op is None or dt.is_float(expr.dtype) or (isinstance(expr, BinaryOp) and dt.is_float(expr.a.dtype)):
        raise _Unknown   # loads, float arithmetic: not a static loop guard
    return op(_evaluate(expr.a, env), _evaluate(expr.b, env))
