"""Small passes over lowered functions, applied in order by ``finalize``.

* ``flatten_storage``: multi-dimensional buffer accesses become one row-major index.
* ``simplify``: fold constants, drop provably-true guards and empty loops.
"""
from .expr import BufferLoad, Const
from .functor import Mutator
from .simplify import simplify_stmt
from .stmt import BufferStore


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
