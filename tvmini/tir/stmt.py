"""Statement nodes of the loop IR, buffers and the function that holds them.

Like expressions, statements list their children in ``_fields`` so the generic
visitors in ``tir.functor`` can rebuild any of them.
"""
import enum

from .expr import Var, convert, const


class Buffer:
    """A named region of memory: ``shape`` (exprs), ``dtype`` and storage ``scope``.

    ``scope`` is "global" (function arguments and heap intermediates), "shared"
    (a GPU thread block's memory) or "local" (registers / the stack).
    """
    __hash__ = object.__hash__

    def __init__(self, name, shape, dtype, scope="global"):
        self.name = name
        self.shape = tuple(convert(s) for s in shape)
        self.dtype = dtype
        self.scope = scope

    def strides(self):
        """Row-major strides (in elements) of ``shape``."""
        strides, acc = [], const(1)
        for extent in reversed(self.shape):
            strides.append(acc)
            acc = acc * extent
        return tuple(reversed(strides))

    def __repr__(self):
        return f"Buffer({self.name}, {list(self.shape)}, {self.dtype}, {self.scope})"


class ForKind(enum.Enum):
    SERIAL = "for"
    PARALLEL = "parallel for"
    VECTORIZED = "vectorized for"
    UNROLLED = "unrolled for"
    THREAD_BINDING = "thread for"


class Stmt:
    _fields: tuple = ()

    def __repr__(self):
        from .printer import stmt_str
        return stmt_str(self)


class For(Stmt):
    """``for var in [min, min + extent)``; ``thread_tag`` names a bound GPU axis."""
    _fields = ("min", "extent", "body")

    def __init__(self, var, min, extent, kind, body, thread_tag=None):
        self.var, self.min, self.extent = var, convert(min), convert(extent)
        self.kind, self.body, self.thread_tag = kind, body, thread_tag

    def rebuild(self, min, extent, body):
        return For(self.var, min, extent, self.kind, body, self.thread_tag)


class BufferStore(Stmt):
    _fields = ("value", "indices")

    def __init__(self, buffer, value, indices):
        self.buffer, self.value, self.indices = buffer, value, tuple(indices)

    def rebuild(self, value, indices):
        return BufferStore(self.buffer, value, indices)


class Allocate(Stmt):
    """Memory for ``buffer`` (in its scope) that lives while ``body`` runs."""
    _fields = ("body",)

    def __init__(self, buffer, body):
        self.buffer, self.body = buffer, body

    def rebuild(self, body):
        return Allocate(self.buffer, body)


class IfThenElse(Stmt):
    _fields = ("cond", "then_case", "else_case")

    def __init__(self, cond, then_case, else_case=None):
        self.cond, self.then_case, self.else_case = cond, then_case, else_case

    def rebuild(self, cond, then_case, else_case):
        return IfThenElse(cond, then_case, else_case)


class LetStmt(Stmt):
    """Bind ``var`` to ``value`` inside ``body``."""
    _fields = ("value", "body")

    def __init__(self, var, value, body):
        self.var, self.value, self.body = var, value, body

    def rebuild(self, value, body):
        return LetStmt(self.var, value, body)


class AllReduce(Stmt):
    """``buffers[i][0]`` of every thread becomes value ``i`` of the ``reducer`` (a te
    ``Reducer``: its ``combine``; one buffer per value of a tuple reducer) of the
    ``buffers[..][0]`` values of the threads that differ from it only along
    ``thread_tags`` (``threadIdx.*``): a reduction across a GPU block's threads, lowered
    from a reduce axis bound to a thread axis. Every thread of the block must reach it
    (it has barriers); the CUDA code generator expands it into a tree reduction in
    shared memory."""

    def __init__(self, buffers, reducer, thread_tags):
        self.buffers, self.reducer, self.thread_tags = tuple(buffers), reducer, tuple(thread_tags)


class SeqStmt(Stmt):
    _fields = ("seq",)

    def __init__(self, seq):
        self.seq = tuple(seq)

    def rebuild(self, seq):
        return seq_of(seq)


def stores_of(targets, values):
    """``buffer[index] = value`` for each ``(buffer, index)`` of ``targets`` and value of
    ``values``: one store, or, for several, the values bound to variables
    (``<buffer>.new``) before any store, since each may read every target (a tuple
    reducer's combined values)."""
    if len(targets) == 1:
        (buffer, index), = targets
        return BufferStore(buffer, values[0], index)
    names = [Var(f"{buffer.name}.new", buffer.dtype) for buffer, _ in targets]
    stmt = seq_of([BufferStore(buffer, name, index) for (buffer, index), name in zip(targets, names)])
    for name, value in reversed(list(zip(names, values))):
        stmt = LetStmt(name, value, stmt)
    return stmt


def seq_of(stmts):
    """A sequence of statements, flattened, without ``None``; one statement stays itself."""
    flat = []
    for s in stmts:
        if s is None:
            continue
        flat.extend(s.seq if isinstance(s, SeqStmt) else [s])
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else SeqStmt(flat)


class PrimFunc:
    """A lowered function: buffer parameters, scalar parameters and a body.

    The native function takes the buffers' pointers, then ``scalar_params`` (the symbolic
    extents, read from the buffers' shapes at call time, then the scalar arguments).
    ``signature`` is the user's argument order: Buffers and scalar-argument Vars.
    ``may_alias`` holds the buffer parameters that may share memory with another one
    (in-place outputs and their inputs): the code generator drops ``noalias`` on them.
    ``read_checks``: the reads the ``Module`` checks at call time (``lower.reads``).
    """

    def __init__(self, name, params, scalar_params, body, signature=None, may_alias=(), read_checks=()):
        self.name, self.params, self.scalar_params, self.body = name, list(params), list(scalar_params), body
        self.signature = list(signature) if signature is not None else list(params)
        self.may_alias = frozenset(may_alias)
        self.read_checks = tuple(read_checks)

    def with_body(self, body):
        return PrimFunc(self.name, self.params, self.scalar_params, body, self.signature, self.may_alias,
                        self.read_checks)

    def __repr__(self):
        from .printer import func_str
        return func_str(self)
