"""Small passes over lowered functions, applied in order by ``finalize``.

* ``flatten_storage``: multi-dimensional buffer accesses become one row-major index.
* ``simplify``: fold constants, drop provably-true guards and empty loops.

``unroll_loops`` runs later, when a function is built for a target, so ``tm.lower`` still
shows which loops are marked ``unrolled``.
"""
from .expr import BufferLoad, Const
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


def finalize(func):
    """The passes every lowered function goes through, in order."""
    for p in (flatten_storage, simplify_func):
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
