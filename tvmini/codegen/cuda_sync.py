"""Block-level synchronisation in CUDA kernels: cross-thread reductions and barriers.

``expand_allreduces`` turns each ``AllReduce`` (a reduce axis bound to ``threadIdx.*``)
into a tree reduction through a ``__shared__`` array; ``insert_syncs`` then puts a
``__syncthreads()`` between every write of a shared buffer and a later read of it (and
at the end of a loop body that writes and then reads one) unless each thread only reads
back the element it wrote itself (the same index, naming a thread), refusing a barrier
under a condition that could differ between the threads of a block.
"""
import math

from ..errors import BuildError
from ..tir import expr as E
from ..tir.arith import structural_key
from ..tir.functor import Mutator, free_vars, walk
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
    """(written, read) shared buffers of statement ``s``, each ``{buffer: {(index key,
    index variables)}}``; the key is None for an index that uses a variable bound inside
    ``s`` (it names many elements)."""
    written, read = {}, {}
    inner = set()
    walk(s, lambda n: inner.add(n.var) if isinstance(n, (For, LetStmt)) else None)

    def record(into, buffer, indices):
        variables = frozenset().union(*map(free_vars, indices))
        key = None if variables & inner else tuple(map(structural_key, indices))
        into.setdefault(buffer, set()).add((key, variables))

    def visit(n):
        if isinstance(n, BufferStore) and n.buffer.scope == "shared":
            record(written, n.buffer, n.indices)
        elif isinstance(n, E.BufferLoad) and n.buffer.scope == "shared":
            record(read, n.buffer, n.indices)
    walk(s, visit)
    return written, read


def _conflict(written, accessed, threads, changing=frozenset()):
    """Whether the writes ``written`` and the accesses ``accessed`` (``_shared_accesses``'
    maps) can touch an element across threads: any buffer in both, unless all of its
    accesses there are one index, fixed in the statements (no variable of ``changing``,
    the loop whose iterations they are, nor one bound inside them) and naming a
    ``threadIdx`` variable: each thread then reads back only what it wrote itself
    (TVM's rule: the same index means the same thread)."""
    for buffer in written.keys() & accessed.keys():
        uses = written[buffer] | accessed[buffer]
        if len(uses) != 1:
            return True
        (key, variables), = uses
        if key is None or variables & changing or not variables & threads:
            return True
    return False


def insert_syncs(s, threads=None):
    """Put barriers between writes and reads of shared buffers (see the module doc);
    ``threads``: the kernel's ``threadIdx`` loop variables (found in ``s`` when None)."""
    if threads is None:
        threads = set()
        walk(s, lambda n: threads.add(n.var) if isinstance(n, For) and n.kind is ForKind.THREAD_BINDING
             and n.thread_tag.startswith("threadIdx") else None)
    if isinstance(s, SeqStmt):
        out, pending = [], {}
        for x in s.seq:
            x = insert_syncs(x, threads)
            written, read = _shared_accesses(x)
            accessed = {b: read.get(b, set()) | written.get(b, set()) for b in read.keys() | written.keys()}
            if _conflict(pending, accessed, threads):
                out.append(SyncThreads())
                pending = {}
            out.append(x)
            for b, uses in written.items():
                pending[b] = pending.get(b, set()) | uses
        return SeqStmt(out)
    if isinstance(s, For):
        body = insert_syncs(s.body, threads)
        written, read = _shared_accesses(body)
        if s.kind is not ForKind.THREAD_BINDING and _conflict(written, read, threads, {s.var}):
            body = SeqStmt(list(body.seq if isinstance(body, SeqStmt) else [body]) + [SyncThreads()])
        return s.rebuild(s.min, s.extent, body)
    if isinstance(s, Allocate):
        return Allocate(s.buffer, insert_syncs(s.body, threads))
    if isinstance(s, LetStmt):
        return LetStmt(s.var, s.value, insert_syncs(s.body, threads))
    if isinstance(s, IfThenElse):
        then = insert_syncs(s.then_case, threads)
        if _contains_sync(then):
            raise BuildError("a barrier (__syncthreads) would sit under a condition that differs between "
                             "threads; move the guarded stage out of the condition")
        return IfThenElse(s.cond, then, s.else_case)
    return s


def _contains_sync(s):
    found = []
    walk(s, lambda n: found.append(n) if isinstance(n, SyncThreads) else None)
    return bool(found)
