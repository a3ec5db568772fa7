"""Random GPU schedules beyond one thread per output element, for the programs of
``tests/fuzz_programs.py`` (``tests/test_fuzz_gpu_schedules.py`` runs them).

Each stage computed at the root is one kernel with one of these layouts:

* ``threads``: its data axes fused and split into ``blockIdx.x``, maybe an outer split
  bound to ``te.thread_axis("vthread")`` (each thread computes that many outputs, one
  per virtual thread), ``threadIdx.x``, and maybe a serial per-thread tile; a reduction
  may keep its accumulator in registers (``cache_write(T, "local")`` computed at the
  thread loop, so one accumulator per output of the thread's tile);
* ``tile`` (elementwise stages): rows on ``blockIdx.y`` / ``threadIdx.y``, columns on
  ``blockIdx.x`` / ``threadIdx.x``;
* ``allreduce`` (reductions): the data axes on ``blockIdx.x`` and one reduce axis split
  with its inner part bound to ``threadIdx.x`` (a cross-thread reduction,
  ``AllReduce``), the other reduce loops serial in each thread;
* ``rfactor`` (reductions): TVM's recipe, the inner part of a split reduce axis factored
  out and reduced across ``threadIdx.x``, the partial results computed at the thread.

Where the extents are constants, a root stage may read placeholders through
``cache_read(X, "shared")`` computed at its block loop or at a serial reduce loop (the
copy redone on every iteration), copied cooperatively (the cache's axes fused and split
over the block's threads; the barriers are codegen's), and a producer may be computed in
registers (``set_scope("local")``) at the thread loop of the stage that reads it, or in
shared memory at its block loop, spread over the block's threads.
Symbolic extents keep registers and shared memory out (their sizes would be symbolic:
a BuildError the test file checks on its own).
"""
from hypothesis import strategies as st

from tvmini import te

THREADS = (1, 2, 7, 32)


class Kernel:
    """A stage at the root as a kernel: its ``block_loop``, its ``thread_loop`` (None
    when its threads reduce together) and its ``threads`` per block ((y, x))."""

    def __init__(self, stage, block_loop, thread_loop, threads):
        self.stage, self.block_loop, self.thread_loop, self.threads = stage, block_loop, thread_loop, threads


class GpuScheduler:
    """Draws a GPU schedule of a program ``p`` with ``drawer`` (the ``fuzz_programs.Drawer``
    that drew ``p``: its hypothesis data and extents)."""

    def __init__(self, drawer, p):
        self.drawer, self.p = drawer, p
        self.constant = not drawer.dims.any_symbolic

    def draw(self, strategy, label):
        return self.drawer.draw(strategy, label)

    def schedule(self):
        p = self.p
        out = p.stages[-1]
        s = te.create_schedule(out.op)
        reader = None       # the Kernel of the stage that reads the next one, if it may host it
        for T in reversed(p.stages):
            if p.kinds[T] == "elementwise" and T is not out and self.draw(st.booleans(), f"inline {T.name}"):
                s[T].compute_inline()
                continue
            if T is not out and self.constant and reader is not None:
                where = self.draw(st.sampled_from(["root", "local", "shared"] if reader.thread_loop is not None
                                                  else ["root", "shared"]), f"{T.name} at")
                if where == "local":
                    s[T].set_scope("local")
                    s[T].compute_at(s[reader.stage], reader.thread_loop)
                    continue
                if where == "shared":
                    reader = self.shared_stage(s, T, reader)
                    continue
            layouts = ["threads", "allreduce", "rfactor"] if p.kinds[T] == "reduce" else ["threads", "tile"]
            layout = self.draw(st.sampled_from(layouts), f"{T.name} layout")
            reader = getattr(self, layout)(s, T)
        return s

    def shared_stage(self, s, T, reader):
        """``T`` computed in shared memory at the block loop of ``reader``, its elements
        spread over the block's threads (a reduction reduces serially in each thread);
        returns ``T`` as the reader of its producers (its serial loop over rounds of
        threads as the block loop)."""
        s[T].set_scope("shared")
        s[T].compute_at(s[reader.stage], reader.block_loop)
        rounds, thread_loop = spread(s[T], reader.threads)
        return Kernel(T, rounds, thread_loop, reader.threads)

    def threads(self, s, T):
        """The ``threads`` layout (module doc)."""
        p = self.p
        body = T
        if p.kinds[T] == "reduce" and self.draw(st.booleans(), f"{T.name} local accumulator"):
            body = s.cache_write(T, "local")
        threads = self.draw(st.sampled_from(THREADS), f"{T.name} threads")
        vthreads = self.draw(st.sampled_from([1, 1, 2, 3]), f"{T.name} vthreads")
        tile = self.draw(st.sampled_from([1, 1, 2, 3]), f"{T.name} tile")
        axes = list(T.op.axis)
        fused = s[T].fuse(*axes) if len(axes) > 1 else axes[0]
        bx, rest = s[T].split(fused, factor=vthreads * threads * tile)
        if vthreads > 1:
            vx, rest = s[T].split(rest, nparts=vthreads)
            s[T].bind(vx, te.thread_axis("vthread", name=f"v{T.name}"))
        if tile > 1:
            tx, ri = s[T].split(rest, factor=tile)
            if self.draw(st.booleans(), f"{T.name} unroll tile"):
                s[T].unroll(ri)
        else:
            tx = rest
        s[T].bind(bx, te.thread_axis("blockIdx.x"))
        s[T].bind(tx, te.thread_axis("threadIdx.x"))
        places = [(T, bx)]
        if body is not T:
            s[body].compute_at(s[T], tx)
            k = self.draw(st.sampled_from(s[body].op.reduce_axis), f"{T.name} accumulator k")
            ko, _ = s[body].split(k, factor=self.draw(st.integers(1, 3), f"{T.name} k slice"))
            places.append((body, ko))
        self.shared_caches(s, T, body, places, (1, threads))
        return Kernel(T, bx, tx, (1, threads))

    def tile(self, s, T):
        """An (M, N) stage in 2-D blocks: rows on ``blockIdx.y`` / ``threadIdx.y``,
        columns on ``blockIdx.x`` / ``threadIdx.x``."""
        ty = self.draw(st.sampled_from([1, 2, 3, 4]), f"{T.name} threads y")
        tx = self.draw(st.sampled_from([1, 2, 5, 8]), f"{T.name} threads x")
        by, bx, ity, itx = s[T].tile(T.op.axis[0], T.op.axis[1], ty, tx)
        for axis, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ity, "threadIdx.y"), (itx, "threadIdx.x")):
            s[T].bind(axis, te.thread_axis(tag))
        self.shared_caches(s, T, T, [(T, bx)], (ty, tx))
        return Kernel(T, bx, itx, (ty, tx))

    def allreduce(self, s, T):
        """The ``allreduce`` layout (module doc)."""
        axes = list(T.op.axis)
        fused = s[T].fuse(*axes) if len(axes) > 1 else axes[0]
        k = self.draw(st.sampled_from(T.op.reduce_axis), f"{T.name} reduce across threads")
        threads = self.draw(st.sampled_from(THREADS), f"{T.name} threads")
        ko, ki = s[T].split(k, factor=threads)
        s[T].bind(fused, te.thread_axis("blockIdx.x"))
        s[T].bind(ki, te.thread_axis("threadIdx.x"))
        self.shared_caches(s, T, T, [(T, fused), (T, ko)], (1, threads))
        return Kernel(T, fused, None, (1, threads))

    def rfactor(self, s, T):
        """TVM's cross-thread recipe: one reduce axis split, its inner part factored out
        (``rfactor``) and reduced across ``threadIdx.x``, the partial sums computed at
        the thread loop."""
        k = self.draw(st.sampled_from(T.op.reduce_axis), f"{T.name} rfactor axis")
        threads = self.draw(st.sampled_from(THREADS), f"{T.name} threads")
        _, ki = s[T].split(k, factor=threads)
        TF = s.rfactor(T, ki)
        axes = list(s[T].op.axis)
        fused = s[T].fuse(*axes) if len(axes) > 1 else axes[0]
        tx = s[T].op.reduce_axis[0]
        s[T].bind(fused, te.thread_axis("blockIdx.x"))
        s[T].bind(tx, te.thread_axis("threadIdx.x"))
        s[TF].compute_at(s[T], tx)
        self.shared_caches(s, T, TF, [(T, fused)] + [(TF, r) for r in s[TF].op.reduce_axis], (1, threads))
        return Kernel(T, fused, None, (1, threads))

    def shared_caches(self, s, T, body, places, threads):
        """Maybe stage placeholders ``body`` reads in shared memory at one of ``places``
        ((stage, loop): the block loop, or a serial reduce loop every thread of the block
        runs alike, so the copy is redone, between barriers, on each of its iterations),
        copied by the block's ``threads`` threads."""
        if not self.constant:
            return
        for X in sorted(self.p.reads[T], key=lambda t: t.name):
            if not self.draw(st.booleans(), f"shared {X.name} for {T.name}"):
                continue
            cache = s.cache_read(X, "shared", [body])
            stage, loop = self.draw(st.sampled_from(places), f"shared {X.name} at")
            s[cache].compute_at(s[stage], loop)
            spread(s[cache], threads)


def spread(stage, threads):
    """The elements of ``stage`` spread over a block of ``threads`` ((y, x)) threads: its
    axes fused, split by x, then by y, bound to ``threadIdx.x`` and ``threadIdx.y``;
    returns (the serial loop over rounds of the block, the innermost thread loop)."""
    ty, tx = threads
    axes = list(stage.op.axis)
    flat = stage.fuse(*axes) if len(axes) > 1 else axes[0]
    rounds, ix = stage.split(flat, factor=tx)
    stage.bind(ix, te.thread_axis("threadIdx.x"))
    if ty > 1:
        rounds, iy = stage.split(rounds, factor=ty)
        stage.bind(iy, te.thread_axis("threadIdx.y"))
    return rounds, ix
