"""Virtual threads: loops bound to ``vthread``, interleaved into the thread's other work.

TVM's GPU schedules bind a few outer splits to ``te.thread_axis("vthread")``: each
thread then computes several strided tiles (spreading a warp's accesses over shared
memory banks) as if it were that many threads. Bound inference treats a virtual thread
as a thread (a shared tile covers all of them; a local tile is one virtual thread's),
and this pass, like TVM's InjectVirtualThread, then turns the loop into plain code:

- a *touched* buffer is one whose contents depend on the virtual thread: written by a
  statement whose indices, value or enclosing loop bounds and conditions use the loop
  variable or read a touched buffer (to a fixed point);
- statements that touch nothing run once, for every virtual thread (the shared tile
  loads, in a GEMM);
- a statement all of whose stores are touched runs in an unrolled loop over the virtual
  threads; one that mixes both is descended into, so the virtual-thread loop moves
  inside serial loops (the reduction's k loops);
- a buffer allocated inside the virtual-thread loop and touched gets one copy per
  virtual thread (a leading axis): the register tiles.

As in TVM, the virtual threads are assumed independent, as the threads of a block are:
moving their loop inside another loop is valid because no virtual thread reads what
another writes without the barrier a real thread would need.
"""
from ..errors import ScheduleError
from ..tir.expr import BufferLoad, Const
from ..tir.functor import Mutator, free_vars, walk
from ..tir.simplify import simplify
from ..tir.stmt import (AllReduce, Allocate, Buffer, BufferStore, For, ForKind, IfThenElse, LetStmt, SeqStmt,
                        seq_of)


def is_virtual_thread(stmt):
    return isinstance(stmt, For) and stmt.kind is ForKind.THREAD_BINDING and stmt.thread_tag == "vthread"


def inject_virtual_threads(body):
    """``body`` with every ``vthread`` loop replaced as the module docstring says."""
    return _Injector().visit(body)


class _Injector(Mutator):
    def visit_For(self, s):
        body = self.visit(s.body)                  # inner virtual threads first
        if not is_virtual_thread(s):
            return s if body is s.body else s.rebuild(s.min, s.extent, body)
        extent = simplify(s.extent)
        if not isinstance(extent, Const):
            raise ScheduleError(f"loop {s.var.name} is bound to vthread with extent {extent}; virtual threads "
                                "need a constant extent (split the axis by a constant factor first)")
        return _Spread(s.var, extent.value, _touched_buffers(body, s.var)).spread(body)


def _stores(stmt, context=()):
    """(buffer written, expressions it depends on) for every store and all-reduce in
    ``stmt``: its indices and value, and the bounds, conditions and let-values around it."""
    if isinstance(stmt, BufferStore):
        yield stmt.buffer, context + (stmt.value,) + stmt.indices
    elif isinstance(stmt, AllReduce):
        for buffer in stmt.buffers:
            yield buffer, context
    elif isinstance(stmt, SeqStmt):
        for s in stmt.seq:
            yield from _stores(s, context)
    elif isinstance(stmt, For):
        yield from _stores(stmt.body, context + (stmt.min, stmt.extent))
    elif isinstance(stmt, IfThenElse):
        yield from _stores(stmt.then_case, context + (stmt.cond,))
        yield from _stores(stmt.else_case, context + (stmt.cond,))
    elif isinstance(stmt, LetStmt):
        yield from _stores(stmt.body, context + (stmt.value,))
    elif isinstance(stmt, Allocate):
        yield from _stores(stmt.body, context)


def _reads(exprs):
    """The variables and buffers ``exprs`` read."""
    found = set()
    for e in exprs:
        walk(e, lambda n: found.add(n.buffer) if isinstance(n, BufferLoad) else None)
        found |= free_vars(e)
    return found


def _touched_buffers(body, var):
    """The buffers whose contents depend on loop variable ``var`` (module docstring)."""
    stores = [(buffer, _reads(exprs)) for buffer, exprs in _stores(body)]
    touched, grew = {var}, True
    while grew:
        grew = False
        for buffer, reads in stores:
            if buffer not in touched and reads & touched:
                touched.add(buffer)
                grew = True
    return touched - {var}


class _Spread:
    """Rewrites the body of one virtual-thread loop (variable ``var``, ``extent``)."""

    def __init__(self, var, extent, touched):
        self.var, self.extent, self.touched = var, extent, touched
        self.copies = {}                           # buffer allocated inside -> its per-thread copies

    def _depends(self, buffer, exprs):
        return buffer in self.touched or bool(_reads(exprs) & (self.touched | {self.var}))

    def spread(self, stmt):
        if stmt is None:
            return None
        kinds = {self._depends(buffer, exprs) for buffer, exprs in _stores(stmt)}
        if kinds == {True}:                        # every store is the virtual thread's own
            return For(self.var, 0, self.extent, ForKind.UNROLLED, _PerThread(self.var, self.copies).visit(stmt))
        if True not in kinds:                      # the same for every virtual thread: once
            return stmt
        if isinstance(stmt, SeqStmt):
            return seq_of([self.spread(s) for s in stmt.seq])
        if isinstance(stmt, For):
            return stmt.rebuild(stmt.min, stmt.extent, self.spread(stmt.body))
        if isinstance(stmt, IfThenElse):
            return stmt.rebuild(stmt.cond, self.spread(stmt.then_case), self.spread(stmt.else_case))
        if isinstance(stmt, LetStmt):
            return stmt.rebuild(stmt.value, self.spread(stmt.body))
        assert isinstance(stmt, Allocate), stmt    # the only other statement holding stores
        buffer = stmt.buffer
        if buffer in self.touched:
            copy = Buffer(buffer.name, (self.extent,) + buffer.shape, buffer.dtype, buffer.scope)
            self.copies[buffer] = copy
            return Allocate(copy, self.spread(stmt.body))
        return stmt.rebuild(self.spread(stmt.body))


class _PerThread(Mutator):
    """A statement run by each virtual thread: its accesses to per-thread copies take
    the virtual thread's index as their first index."""

    def __init__(self, var, copies):
        self.var, self.copies = var, copies

    def visit_BufferLoad(self, e):
        e = self.generic(e)
        copy = self.copies.get(e.buffer)
        return e if copy is None else BufferLoad(copy, (self.var,) + tuple(e.indices))

    def visit_BufferStore(self, s):
        s = self.generic(s)
        copy = self.copies.get(s.buffer)
        return s if copy is None else BufferStore(copy, s.value, (self.var,) + s.indices)

    def visit_AllReduce(self, s):
        copied = [b for b in s.buffers if b in self.copies]
        if copied:
            raise ScheduleError(f"the cross-thread reduction into {copied[0].name} is inside a vthread loop; bind "
                                "the reduce axis to threadIdx outside the virtual threads")
        return s
