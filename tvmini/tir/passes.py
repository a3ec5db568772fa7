"""Small passes over lowered functions, applied in order by ``finalize``.

* ``flatten_storage``: multi-dimensional buffer accesses become one row-major index.
* ``simplify``: fold constants, drop provably-true guards and empty loops.
* ``guard_division``: integer ``//`` and ``%`` never trap (numpy's answers).

``unroll_loops`` runs later, when a function is built for a target, so ``tm.lower`` still
shows which loops are marked ``unrolled``.
"""
from . import dtype as dt
from .arith import const_interval
from .expr import EQ, Add, BufferLoad, Const, FloorDiv, FloorMod, Mul, Or, Select, Sub, Var
from .functor import Mutator, substitute
from .simplify import simplify_stmt
from .stmt import BufferStore, ForKind, seq_of

MAX_UNROLL = 256


def _flat_index(buffer, indices):
    if not indices:
        return Const(0, "int32")
    index = None
    for i, stride in zip(indices, buffer.strides()):
        term = i * stride
        index = term if index is None else index + term
    return index


class _Flatten(Mutator):
    def visit_BufferLoad(self, e):
        indices = [self.visit(i) for i in e.indices]
        return BufferLoad(e.buffer, [_flat_index(e.buffer, indices)])

    def visit_BufferStore(self, s):
        indices = [self.visit(i) for i in s.indices]
        return BufferStore(s.buffer, self.visit(s.value), [_flat_index(s.buffer, indices)])


def flatten_storage(func):
    """Row-major 1-D indices for every buffer access."""
    return func.with_body(_Flatten().visit(func.body))


def simplify_func(func):
    return func.with_body(simplify_stmt(func.body))


class _GuardDivision(Mutator):
    """Integer ``a // b`` and ``a % b`` as numpy computes them, for every divisor: a zero
    divisor gives 0, and ``a // -1`` is ``-a`` (wrapping: the most negative integer over
    -1 is itself) and ``a % -1`` is 0. The hardware division traps (SIGFPE on x86, the
    whole process) on both, so it only ever sees a divisor of 1 in their place. A
    divisor the loop ranges prove to be neither (a nonzero constant, a loop extent, a
    split's factor) keeps the plain division, so index arithmetic stays as fast and
    vectorizable as before."""

    def __init__(self, extents):
        self.extents = set(extents)
        self.env = {v: (0, 2 ** 31 - 1) for v in extents}   # a symbolic extent may be 0

    def visit_For(self, s):
        saved = {v: self.env.get(v) for v in self._factors(s.extent) | {s.var}}
        for v in self._factors(s.extent):        # the loop runs: each extent it multiplies is >= 1
            self.env[v] = (1, 2 ** 31 - 1)
        span = const_interval(s.min, self.env), const_interval(s.min + s.extent - 1, self.env)
        if None not in span:
            self.env[s.var] = (span[0][0], span[1][1])
        out = self.generic(s)
        for v, bounds in saved.items():
            if bounds is None:
                self.env.pop(v, None)
            else:
                self.env[v] = bounds
        return out

    def _factors(self, extent):
        """Symbolic extents that a positive loop extent proves positive: the factors of a
        product (a fused loop's ``m * n``: extents are never negative, so none is 0), also
        inside a split's ``(m * n + 2) // 3`` (positive only if ``m * n`` is)."""
        if isinstance(extent, Mul):
            return self._factors(extent.a) | self._factors(extent.b)
        if isinstance(extent, FloorDiv) and isinstance(extent.b, Const) and extent.b.value > 0:
            top = extent.a
            if isinstance(top, Add) and isinstance(top.b, Const) and 0 <= top.b.value < extent.b.value:
                top = top.a
            return self._factors(top)
        return {extent} & self.extents if isinstance(extent, Var) else set()

    def visit_FloorDiv(self, e):
        return self._guarded(self.generic(e))

    visit_FloorMod = visit_FloorDiv

    def _guarded(self, e):
        a, b, dtype = e.a, e.b, e.dtype
        if not dt.is_int(dtype):
            return e
        signed = not dtype.startswith("uint")
        bounds = const_interval(b, self.env)
        if bounds is not None and (bounds[0] > 0 or (signed and bounds[1] < -1)):
            return e
        zero, one = Const(0, dtype), Const(1, dtype)
        special = Or(EQ(b, zero), EQ(b, Const(-1, dtype))) if signed else EQ(b, zero)
        quotient = type(e)(a, Select(special, one, b), dtype)
        if isinstance(e, FloorMod):
            return Select(special, zero, quotient)
        by_minus_one = Select(EQ(b, Const(-1, dtype)), Sub(zero, a, dtype), quotient) if signed else quotient
        return Select(EQ(b, zero), zero, by_minus_one)


def guard_division(func):
    """Integer division and modulo that never trap (see ``_GuardDivision``)."""
    extents = [v for v in func.scalar_params if not any(v is a for a in func.signature)]
    return func.with_body(_GuardDivision(extents).visit(func.body))


def finalize(func):
    """The passes every lowered function goes through, in order."""
    for p in (flatten_storage, guard_division, simplify_func):
        func = p(func)
    return func


class _Unroll(Mutator):
    def visit_For(self, s):
        body = self.visit(s.body)
        if s.kind is ForKind.UNROLLED and isinstance(s.extent, Const) and s.extent.value <= MAX_UNROLL:
            return seq_of([substitute(body, {s.var: s.min + k}) for k in range(s.extent.value)])
        return s if body is s.body else s.rebuild(s.min, s.extent, body)


def unroll_loops(func):
    """Replace every ``unrolled`` loop of constant extent (up to MAX_UNROLL) by copies of its body.

    Loops whose extent is symbolic or larger stay loops (run serially).
    """
    return simplify_func(func.with_body(_Unroll().visit(func.body)))
