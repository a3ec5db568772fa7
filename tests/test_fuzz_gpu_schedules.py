"""The program fuzzer's programs (tests/fuzz_programs.py) under the GPU schedules of
tests/fuzz_gpu_schedules.py: shared-memory caches copied by the block's threads,
cross-thread reductions, register accumulators at the thread loop, virtual threads
and per-thread tiles. Run through the CUDA emulator against
``tvmini.testing.reference`` and compiled to PTX with nvcc where it is installed;
``TVMINI_FUZZ_EXAMPLES`` runs more (see tests/test_fuzz_programs.py).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmini as tm
from fuzz_gpu_schedules import GpuScheduler
from fuzz_programs import Drawer
from strategies import rng_of, unique
from test_cuda import needs_nvcc
from test_fuzz_programs import fuzz_examples
from test_fuzz_programs_cuda import compiles_to_ptx, runs_as_the_reference
from tvmini import te
from tvmini.errors import BuildError


def gpu_program(data):
    """A drawn program and GPU schedule; constant extents more often than the CPU fuzzer
    draws them (registers and shared memory need them)."""
    drawer = Drawer(data, symbolic=data.draw(st.booleans(), label="symbolic extents allowed"))
    p = drawer.program(rng_of(data))
    return p, GpuScheduler(drawer, p).schedule()


@fuzz_examples(8, suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_gpu_schedules_on_the_emulated_gpu(emulated_gpu, data):
    runs_as_the_reference(*gpu_program(data), "fuzz_gpu_sched")


@needs_nvcc
@fuzz_examples(4)
@given(st.data())
def test_random_gpu_schedules_compile_to_ptx(data):
    compiles_to_ptx(*gpu_program(data), "fuzz_gpu_sched_ptx")


def row_sums(n, scope):
    """``T[i] = sum_k 2 A[i, k]`` over a symbolic row length ``n``, one thread per row,
    ``P = 2 A`` computed in ``scope`` inside the kernel: in registers at the thread loop
    (one row of P per thread) or in shared memory at the block loop (the block's rows)."""
    A = te.placeholder((8, n), name="A")
    P = te.compute((8, n), lambda i, j: A[i, j] * 2.0, name="P")
    k = te.reduce_axis((0, n), name="k")
    T = te.compute((8,), lambda i: te.sum(P[i, k], axis=k), name="T")
    s = te.create_schedule(T.op)
    bx, tx = s[T].split(T.op.axis[0], factor=4)
    s[T].bind(bx, te.thread_axis("blockIdx.x"))
    s[T].bind(tx, te.thread_axis("threadIdx.x"))
    s[P].set_scope(scope)
    if scope == "local":
        s[P].compute_at(s[T], tx)
    else:
        s[P].compute_at(s[T], bx)
        s[P].bind(s[P].op.axis[0], te.thread_axis("threadIdx.x"))
    return s, [A, T]


@pytest.mark.parametrize("scope, words", [("local", ("buffer P (local)", "constant size", "'n'")),
                                          ("shared", ("shared buffer P", "symbolic shape", "'n'"))])
def test_a_register_or_shared_buffer_of_symbolic_size_is_refused(scope, words):
    """Registers and shared memory are sized when the kernel compiles: a buffer whose
    size depends on a symbolic extent is a BuildError naming the buffer and its shape."""
    s, args = row_sums(te.var("n"), scope)
    with pytest.raises(BuildError) as info:
        tm.build(s, args, target="cuda", name=unique("symbolic_" + scope))
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("scope", ["local", "shared"])
def test_the_same_buffer_of_constant_size_runs(emulated_gpu, scope):
    """The schedules the test above refuses, with the row length a constant (5)."""
    s, args = row_sums(5, scope)
    f = tm.build(s, args, target="cuda", name=unique("constant_" + scope))
    a = np.random.default_rng(0).standard_normal((8, 5)).astype("float32")
    dev = tm.cuda(0)
    out = tm.nd.array(np.full(8, np.nan, "float32"), device=dev)
    f(tm.nd.array(a, device=dev), out)
    np.testing.assert_allclose(out.numpy(), 2 * a.sum(1), rtol=1e-5, atol=1e-5)
