"""Block-level synchronisation in CUDA kernels: cross-thread reductions and barriers.

``expand_allreduces`` turns each ``AllReduce`` (a reduce axis bound to ``threadIdx.*``)
into a tree reduction through a ``__shared__`` array; ``insert_syncs`` then puts a
``__syncthreads()`` between every write of a shared buffer and a later read of it (and
at the end of a loop body that writes and then reads one), refusing a barrier under a
condition that could differ between the threads of a block.
"""
import math

from ..errors import BuildError
from ..tir import expr as E
from ..tir.functor import Mutator, walk
from ..tir.simplify import simplify
from ..tir.stmt import Allocate, Buffer, BufferStore, For, ForKind, IfThenElse, LetStmt, SeqStmt, Stmt, stores_of


class SyncThreads(Stmt):
    """``__syncthreads()``: a barrier for every thread of the block (CUDA kernels only)."""


# cross-thread reductions ------------------------------------------------------------

def _thread_index(tag):
    """The index of this thread along ``tag`` (``threadIdx.x``, ...) as an expression."""
    return E.Call(tag, [], "int32")


def expand_allreduces(body, extents):
    """Each :class:`AllReduce` of ``body`` as a tree reduction in shared memory: every
    thread writes its value to its own slot of a block-sized array; along each reduced
    thread axis of extent n, ceil(log2 n) halving steps add slot ``t + offset`` into
    slot ``t``; then each thread reads its group's slot (index 0 along the reduced
    axes). The barriers between the steps come from :func:`insert_syncs` (each step
    reads what the one before it wrote), so they sit outside the steps' ``if``s."""
    sizes = {axis: extents[f"threadIdx.{axis}"].value if f"threadIdx.{axis}" in extents else 1 for axis in "xyz"}
    strides = {"x": 1, "y": sizes["x"], "z": sizes["x"] * sizes["y"]}
    tid = simplify(sum((_thread_index(f"threadIdx.{a}") * strides[a] for a in "xyz" if sizes[a] > 1),
                       E.Const(0, "int32")))

    class Expand(Mutator):
        def visit_AllReduce(self, s):
            zero = [E.Const(0, "int32")]
            slots = [Buffer(f"{b.name}.slots", (math.prod(sizes.values()),), b.dtype, "shared") for b in s.buffers]
            steps = [BufferStore(slot, E.BufferLoad(b, zero), [tid]) for slot, b in zip(slots, s.buffers)]
            group = tid
            for tag in s.thread_tags:
                t, n, stride = _thread_index(tag), sizes[tag[-1]], strides[tag[-1]]
                offset = 1 << ((n - 1).bit_length() - 1) if n > 1 else 0   # the largest power of 2 below n
                while offset >= 1:
                    partners = [E.BufferLoad(slot, [simplify(tid + offset * stride)]) for slot in slots]
                    mine = [E.BufferLoad(slot, [tid]) for slot in slots]
                    pairs = t < offset if 2 * offset <= n else E.And(t < offset, t + offset < n)
                    steps.append(IfThenElse(pairs, stores_of([(slot, [tid]) for slot in slots],
                                                             s.reducer.combine_all(mine, partners))))
                    offset //= 2
                group = group - t * stride
            steps += [BufferStore(b, E.BufferLoad(slot, [simplify(group)]), zero) for slot, b in zip(slots, s.buffers)]
            stmt = SeqStmt(steps)
            for slot in reversed(slots):
                stmt = Allocate(slot, stmt)
            return stmt
    return Expand().visit(body)


# __syncthreads insertion ------------------------------------------------------------

def _shared_accesses(s):
    """(written, read) shared buffers of statement ``s``."""
    written, read = set(), set()

    def visit(n):
        if isinstance(n, BufferStore) and n.buffer.scope == "shared":
            written.add(n.buffer)
        elif isinstance(n, E.BufferLoad) and n.buffer.scope == "shared":
            read.add(n.buffer)
    walk(s, visit)
    return written, read


def insert_syncs(s):
    """Put barriers between writes and reads of shared buffers (see the module doc)."""
    if isinstance(s, SeqStmt):
        out, pending = [], set()
        for x in s.seq:
            x = insert_syncs(x)
            written, read = _shared_accesses(x)
            if pending & (read | written):
                out.append(SyncThreads())
                pending = set()
            out.append(x)
            pending |= written
        return SeqStmt(out)
    if isinstance(s, For):
        body = insert_syncs(s.body)
        written, read = _shared_accesses(body)
        if s.kind is not ForKind.THREAD_BINDING and written and read and written & read:
            body = SeqStmt(list(body.seq if isinstance(body, SeqStmt) else [body]) + [SyncThreads()])
        return s.rebuild(s.min, s.extent, body)
    if isinstance(s, Allocate):
        return Allocate(s.buffer, insert_syncs(s.body))
    if isinstance(s, LetStmt):
        return LetStmt(s.var, s.value, insert_syncs(s.body))
    if isinstance(s, IfThenElse):
        then = insert_syncs(s.then_case)
        if _contains_sync(then):
            raise BuildError("a barrier (__syncthreads) would sit under a condition that differs between "
                             "threads; move the guarded stage out of the condition")
        return IfThenElse(s.cond, then, s.else_case)
    return s


def _contains_sync(s):
    found = []
    walk(s, lambda n: found.append(n) if isinstance(n, SyncThreads) else None)
    return bool(found)
