"""Cross-thread reductions on CUDA: a reduce axis bound to ``threadIdx.*``.

Each thread reduces its share of the reduce axis (the serial reduce loops), the block's
threads combine their partial results in shared memory, and the thread at index 0 of
the reduced thread axes stores the result (TVM's cross-thread reduction). The schedules
below cover the layouts users write: the reduce axis on threadIdx.x with rows on blocks,
rows also on threadIdx.y, the reduction on threadIdx.y, on two thread axes at once,
TVM's rfactor recipe, the reduction inside a serial loop, and a softmax whose three
stages share one kernel through shared memory. Every one compiles to PTX where nvcc is
installed and runs (emulated on the CPU here, on a GPU where one is present) against
numpy; a property test draws shapes that split factors do not divide, size-1 extents,
``where`` conditions, reducers and dtypes.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from tvmini.testing import reference

from strategies import assert_matches, examples, unique
from test_cuda import HAS_GPU, bind, needs_gpu, needs_nvcc, softmax_stages

REDUCERS = {"sum": te.sum, "max": te.max, "min": te.min,
            "absmax": te.comm_reducer(lambda x, y: te.max(te.abs(x), te.abs(y)), lambda t: 0, name="absmax")}
LAYOUTS = ("x", "rows_y", "reduce_y", "reduce_xy", "rfactor", "serial_rows")


def row_reduction(n, m, factor, layout, reducer="sum", dtype="float32", where=False):
    """``B[i] = reducer(A[i, k] for k < m)`` (optionally where ``(i + k) % 3 != 1``) with
    the reduce axis split by ``factor`` and bound to threads as ``layout`` says."""
    A = te.placeholder((n, m), name="A", dtype=dtype)
    k = te.reduce_axis((0, m), name="k")
    cond = (lambda i: (i + k) % 3 != 1) if where else (lambda i: None)
    B = te.compute((n,), lambda i: REDUCERS[reducer](A[i, k], axis=k, where=cond(i)), name="B")
    s = te.create_schedule(B.op)
    i = B.op.axis[0]
    if layout == "rfactor":       # TVM's tutorial: rfactor the inner part, reduce it across threads
        ko, ki = s[B].split(k, factor=factor)
        BF = s.rfactor(B, ki)
        bind(s, B, s[B].op.axis[0], "blockIdx.x")
        tx = s[B].op.reduce_axis[0]
        bind(s, B, tx, "threadIdx.x")
        s[BF].compute_at(s[B], tx)
        return s, [A, B]
    if layout == "reduce_xy":
        ko, kr = s[B].split(k, factor=factor * 2)
        ky, kx = s[B].split(kr, factor=2)
        bind(s, B, i, "blockIdx.x")
        bind(s, B, ky, "threadIdx.y")
        bind(s, B, kx, "threadIdx.x")
        return s, [A, B]
    ko, ki = s[B].split(k, factor=factor)
    if layout == "x":
        bind(s, B, i, "blockIdx.x")
        bind(s, B, ki, "threadIdx.x")
    elif layout == "rows_y":
        io, ii = s[B].split(i, factor=3)
        bind(s, B, io, "blockIdx.x")
        bind(s, B, ii, "threadIdx.y")
        bind(s, B, ki, "threadIdx.x")
    elif layout == "reduce_y":
        io, ii = s[B].split(i, factor=4)
        bind(s, B, io, "blockIdx.x")
        bind(s, B, ii, "threadIdx.x")
        bind(s, B, ki, "threadIdx.y")
    elif layout == "serial_rows":
        io, ii = s[B].split(i, factor=3)
        bind(s, B, io, "blockIdx.x")
        bind(s, B, ki, "threadIdx.x")
        s[B].reorder(io, ki, ii, ko)      # a serial data loop around the reduction
    return s, [A, B]


def block_softmax(m, n, threads=32):
    """Softmax of each row in one block: the row max and the row sum of exponentials
    are cross-thread reductions computed at the row's block loop (so they live in shared
    memory), and the block's threads then write the row."""
    X, M, S, Y = softmax_stages(m, n)
    s = te.create_schedule(Y.op)
    i, j = Y.op.axis
    bind(s, Y, i, "blockIdx.x")
    jo, ji = s[Y].split(j, factor=threads)
    bind(s, Y, ji, "threadIdx.x")
    for T in (M, S):
        s[T].compute_at(s[Y], i)
        ko, ki = s[T].split(T.op.reduce_axis[0], factor=threads)
        bind(s, T, ki, "threadIdx.x")
    return s, [X, Y]


def run_emulated_or_gpu(s, args, inputs, name, binds=None):
    """Build ``s`` for CUDA, run it on ``tm.cuda(0)`` with ``inputs`` (outputs start as
    garbage) and compare the last argument with ``tvmini.testing.reference``."""
    out = args[-1]
    want = reference([out], {**inputs, **(binds or {})})[0]
    f = tm.build(s, args, target="cuda", name=unique(name))
    dev = tm.cuda(0)
    result = tm.nd.array(np.full(want.shape, 7, want.dtype), device=dev)
    f(*[tm.nd.array(inputs[t], device=dev) for t in args[:-1]], result)
    assert_matches(result.numpy(), want, out.dtype, scale=want.size and np.abs(want).max() + 1, what=name)
    return f


def random_rows(rng, shape, dtype):
    if dtype == "int32":
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.uniform(-1, 1, shape).astype(dtype)


def test_the_lowered_loop_ir_shows_the_reduction_across_threads():
    s, args = row_reduction(5, 40, 16, "x")
    ir = str(tm.lower(s, args, name="rowsum"))
    assert "in local" in ir and "sum of B.red[0] across threadIdx.x" in ir and "if k.inner == 0:" in ir


def test_the_cuda_source_reduces_in_shared_memory_between_barriers():
    s, args = row_reduction(5, 40, 16, "x")
    src = tm.build(s, args, target="cuda", name="xr_source").get_source("cuda")
    steps = src.count("B_red_slots[threadIdx.x] = (B_red_slots[threadIdx.x] + B_red_slots[(threadIdx.x + ")
    assert "__shared__ __align__(16) float B_red_slots[16];" in src and steps == 4      # 16 -> 8 -> 4 -> 2 -> 1
    assert src.count("__syncthreads();") == steps + 1 and "if ((k_inner == 0))" in src


def test_block_softmax_keeps_its_row_statistics_in_shared_memory():
    src = tm.build(*block_softmax(3, 10), target="cuda", name="xr_softmax_src").get_source("cuda")
    assert src.count("__shared__") == 4          # M, S and the slots of their two reductions
    assert "if ((k1_inner == 0))" in src and "if ((k2_inner == 0))" in src


@needs_nvcc
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cross_thread_reductions_compile_to_ptx(layout):
    s, args = row_reduction(7, 50, 8, layout, where=layout == "x")
    assert ".entry" in tm.build(s, args, target="cuda", name=f"xr_ptx_{layout}").get_source("ptx")


@needs_nvcc
def test_block_softmax_compiles_to_ptx():
    assert ".entry" in tm.build(*block_softmax(5, 70), target="cuda", name="xr_ptx_softmax").get_source("ptx")


def _run_layouts():
    rng = np.random.default_rng(0)
    pairs = (("sum", "float32"), ("max", "int32"), ("absmax", "float64"))   # one per layout, in turn
    for k, layout in enumerate(LAYOUTS):
        reducer, dtype = pairs[k % len(pairs)]
        s, args = row_reduction(7, 50, 8, layout, reducer, dtype)
        run_emulated_or_gpu(s, args, {args[0]: random_rows(rng, (7, 50), dtype)}, f"xr_{layout}_{reducer}")


def _run_softmax():
    s, args = block_softmax(5, 70)
    run_emulated_or_gpu(s, args, {args[0]: np.random.default_rng(1).normal(0, 3, (5, 70)).astype("float32")},
                        "xr_softmax")


def _property(n, m, factor, layout, reducer, dtype, where, symbolic):
    nv = te.var("n") if symbolic else n
    s, args = row_reduction(nv, m, factor, layout, reducer, dtype, where)
    binds = {nv: n} if symbolic else {}
    a = random_rows(np.random.default_rng(n * 1000 + m), (n, m), dtype)
    run_emulated_or_gpu(s, args, {args[0]: a}, f"xr_prop_{layout}", binds)


PROPERTY = dict(n=st.integers(1, 9), m=st.sampled_from([1, 2, 5, 16, 33, 64, 70]),
                factor=st.sampled_from([1, 3, 8, 32]), layout=st.sampled_from(LAYOUTS),
                reducer=st.sampled_from(sorted(REDUCERS)), dtype=st.sampled_from(["float32", "float64", "int32"]),
                where=st.booleans(), symbolic=st.booleans())


@needs_gpu
def test_cross_thread_reductions_run_on_the_gpu():
    _run_layouts()
    _run_softmax()


@needs_gpu
@examples(40)
@given(**PROPERTY)
def test_random_cross_thread_reductions_on_the_gpu(n, m, factor, layout, reducer, dtype, where, symbolic):
    _property(n, m, factor, layout, reducer, dtype, where, symbolic)


@pytest.mark.skipif(HAS_GPU, reason="the GPU runs these in the tests above")
def test_cross_thread_reductions_run_emulated(emulated_gpu):
    _run_layouts()
    _run_softmax()


@pytest.mark.skipif(HAS_GPU, reason="the GPU runs these in the tests above")
@settings(examples(6), suppress_health_check=[*settings.default.suppress_health_check,
                                              HealthCheck.function_scoped_fixture])   # the emulator is stateless
@given(**PROPERTY)
def test_random_cross_thread_reductions_emulated(emulated_gpu, n, m, factor, layout, reducer, dtype, where, symbolic):
    _property(n, m, factor, layout, reducer, dtype, where, symbolic)
