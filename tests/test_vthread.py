"""Virtual threads: loops bound to ``te.thread_axis("vthread")`` (``lower.vthread``).

The GEMM below is TVM's "optimize GEMM on GPU" recipe: a block tile split into virtual
threads, then threads, then a register tile, with shared and local cache stages. The
tests check the lowered shape (one register tile per virtual thread, the shared tiles
loaded once, not once per virtual thread), compile it to PTX, run it (emulated on the
CPU here) on shapes the factors do not divide, and draw random schedules with virtual
threads on the CPU target, where they are unrolled loops of the one thread.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from tvmini.errors import ScheduleError

from strategies import check, examples, unique
from test_cuda import HAS_GPU, needs_gpu, needs_nvcc
from test_cuda_cross_thread import run_emulated_or_gpu


def vthread_gemm(n, m, k, block=16, threads=4, vthreads=2, step=4):
    """``C = A @ B`` ((n, k) by (k, m)) with TVM's GEMM schedule: ``block`` x ``block``
    tiles per block, split into ``vthreads`` x ``vthreads`` virtual threads of
    ``threads`` x ``threads`` threads, each computing a register tile; A and B staged
    through shared memory ``step`` columns/rows at a time, and through registers."""
    A = te.placeholder((n, k), name="A")
    B = te.placeholder((k, m), name="B")
    r = te.reduce_axis((0, k), name="r")
    C = te.compute((n, m), lambda i, j: te.sum(A[i, r] * B[r, j], axis=r), name="C")
    s = te.create_schedule(C.op)
    AA, BB = s.cache_read(A, "shared", [C]), s.cache_read(B, "shared", [C])
    AL, BL = s.cache_read(AA, "local", [C]), s.cache_read(BB, "local", [C])
    CC = s.cache_write(C, "local")
    ty, tx = te.thread_axis("threadIdx.y"), te.thread_axis("threadIdx.x")
    by, yi = s[C].split(C.op.axis[0], factor=block)
    bx, xi = s[C].split(C.op.axis[1], factor=block)
    s[C].reorder(by, bx, yi, xi)
    s[C].bind(by, te.thread_axis("blockIdx.y"))
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    vy, yi = s[C].split(yi, nparts=vthreads)
    tyi, yi = s[C].split(yi, nparts=threads)
    vx, xi = s[C].split(xi, nparts=vthreads)
    txi, xi = s[C].split(xi, nparts=threads)
    s[C].reorder(vy, vx, tyi, txi, yi, xi)
    s[C].bind(vy, te.thread_axis("vthread", name="vy"))
    s[C].bind(vx, te.thread_axis("vthread", name="vx"))
    s[C].bind(tyi, ty)
    s[C].bind(txi, tx)
    s[CC].compute_at(s[C], txi)
    ko, ki = s[CC].split(CC.op.reduce_axis[0], factor=step)
    s[CC].reorder(ko, ki, *CC.op.axis)
    for shared, local in ((AA, AL), (BB, BL)):
        s[shared].compute_at(s[CC], ko)
        s[local].compute_at(s[CC], ki)
        rows, cols = s[shared].op.axis
        to, _ = s[shared].split(rows, nparts=threads)
        co, _ = s[shared].split(cols, nparts=threads)
        s[shared].reorder(to, co)
        s[shared].bind(to, ty)
        s[shared].bind(co, tx)
    return s, [A, B, C]


def test_each_virtual_thread_has_its_register_tile_and_the_shared_tiles_load_once():
    s, args = vthread_gemm(64, 64, 32, block=32, threads=4, vthreads=2, step=8)
    ir = str(tm.lower(s, args, name="vgemm"))
    # 32 rows per block: 2 virtual threads x 4 threads x a 4-row register tile
    assert "allocate C.local: float32[2, 2, 4, 4] in local" in ir
    assert "allocate A.shared.local: float32[2, 4, 1] in local" in ir
    assert "allocate A.shared: float32[32, 8] in shared" in ir         # the block's rows, all virtual threads
    assert "bound to vthread" not in ir and "unrolled for vy" not in ir
    shared_load = next(line for line in ir.splitlines() if line.strip().startswith("A.shared["))
    depth = len(shared_load) - len(shared_load.lstrip())
    enclosing = [line.strip() for line in ir.splitlines()[:ir.splitlines().index(shared_load)]
                 if len(line) - len(line.lstrip()) < depth]
    assert not any(line.startswith("unrolled for") for line in enclosing[-6:])    # not per virtual thread


def test_a_symbolic_virtual_thread_extent_and_a_virtual_reduce_axis_are_refused():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1, name="B")
    s = te.create_schedule(B.op)
    vo, _ = s[B].split(B.op.axis[0], factor=4)
    s[B].bind(vo, te.thread_axis("vthread"))
    with pytest.raises(ScheduleError, match="bound to vthread with extent .*constant extent"):
        tm.lower(s, [A, B])
    k = te.reduce_axis((0, 8), name="k")
    X = te.placeholder((4, 8), name="X")
    Y = te.compute((4,), lambda i: te.sum(X[i, k], axis=k), name="Y")
    s = te.create_schedule(Y.op)
    with pytest.raises(ScheduleError, match="cannot bind reduce axis k to vthread"):
        s[Y].bind(k, te.thread_axis("vthread"))
    i = Y.op.axis[0]
    io, ii = s[Y].split(i, factor=2)
    v = te.thread_axis("vthread")
    s[Y].bind(io, v)
    with pytest.raises(ScheduleError, match="cannot both be bound to vthread"):
        s[Y].bind(ii, v)
    s[Y].bind(ii, te.thread_axis("vthread"))       # another virtual thread axis is fine


@needs_nvcc
def test_the_vthread_gemm_compiles_to_ptx():
    f = tm.build(*vthread_gemm(64, 48, 40), target="cuda", name="vthread_gemm_ptx")
    assert ".entry" in f.get_source("ptx")


SHAPES = [(64, 64, 32), (37, 50, 19), (1, 16, 1)]


def _run_shapes():
    rng = np.random.default_rng(0)
    for n, m, k in SHAPES:
        s, (A, B, C) = vthread_gemm(n, m, k)
        inputs = {A: rng.uniform(-1, 1, (n, k)).astype("float32"), B: rng.uniform(-1, 1, (k, m)).astype("float32")}
        run_emulated_or_gpu(s, [A, B, C], inputs, "vthread_gemm")


@needs_gpu
def test_the_vthread_gemm_runs_on_the_gpu():
    _run_shapes()


@pytest.mark.skipif(HAS_GPU, reason="the GPU runs these in the test above")
def test_the_vthread_gemm_runs_emulated(emulated_gpu):
    _run_shapes()


GEMM_PROPERTY = dict(n=st.integers(1, 40), m=st.integers(1, 40), k=st.integers(1, 20),
                     block=st.sampled_from([8, 16]), threads=st.sampled_from([1, 2, 4]),
                     vthreads=st.sampled_from([1, 2, 3]), step=st.sampled_from([1, 3, 4]))


def _gemm_property(n, m, k, block, threads, vthreads, step):
    s, (A, B, C) = vthread_gemm(n, m, k, block, threads, vthreads, step)
    rng = np.random.default_rng(n * 10000 + m * 100 + k)
    inputs = {A: rng.uniform(-1, 1, (n, k)).astype("float32"), B: rng.uniform(-1, 1, (k, m)).astype("float32")}
    run_emulated_or_gpu(s, [A, B, C], inputs, "vthread_gemm_prop")


@needs_gpu
@examples(40)
@given(**GEMM_PROPERTY)
def test_random_vthread_gemms_on_the_gpu(n, m, k, block, threads, vthreads, step):
    _gemm_property(n, m, k, block, threads, vthreads, step)


@pytest.mark.skipif(HAS_GPU, reason="the GPU runs these in the test above")
@settings(examples(4), suppress_health_check=[*settings.default.suppress_health_check,
                                              HealthCheck.function_scoped_fixture])   # the emulator is stateless
@given(**GEMM_PROPERTY)
def test_random_vthread_gemms_emulated(emulated_gpu, n, m, k, block, threads, vthreads, step):
    _gemm_property(n, m, k, block, threads, vthreads, step)


@examples(25)
@given(n=st.integers(1, 23), m=st.integers(1, 23), k=st.integers(1, 9), factor=st.integers(1, 7),
       inner=st.booleans(), local=st.booleans(), reduce_first=st.booleans())
def test_random_virtual_threads_on_the_cpu(n, m, k, factor, inner, local, reduce_first):
    """On the CPU a virtual thread is an unrolled loop of the one thread: a row-sum of a
    product whose row (or column) split is bound to vthread, with the producer inlined
    or computed at the innermost data loop into a local buffer, and the reduction split
    before or after the data loops."""
    A = te.placeholder((n, k), name="A")
    W = te.placeholder((k, m), name="W")
    r = te.reduce_axis((0, k), name="r")
    P = te.compute((n, k), lambda i, j: A[i, j] * 2.0 - 1.0, name="P")
    C = te.compute((n, m), lambda i, j: te.sum(P[i, r] * W[r, j], axis=r), name="C")
    s = te.create_schedule(C.op)
    i, j = C.op.axis
    outer, rest = s[C].split(j if inner else i, factor=factor)
    s[C].bind(outer, te.thread_axis("vthread"))
    other = i if inner else j
    order = [outer, r, other, rest] if reduce_first else [outer, other, rest, r]
    s[C].reorder(*order)
    if local:
        s[P].compute_at(s[C], order[2])
    else:
        s[P].compute_inline()
    rng = np.random.default_rng(n * 1000 + m * 10 + k)
    a, w = rng.uniform(-1, 1, (n, k)).astype("float32"), rng.uniform(-1, 1, (k, m)).astype("float32")
    check(s, [A, W, C], {A: a, W: w}, {C: (a * 2 - 1) @ w}, name=unique("vthread_cpu"))
