"""Parallel loops: thread-private scratch buffers, nested parallel loops, parallel rfactor."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from tvmini.testing import reference
from strategies import matmul_compute


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_private_scratch_per_thread(monkeypatch, threads):
    monkeypatch.setenv("TVMINI_NUM_THREADS", threads)
    A, B, C = matmul_compute(61, 45, 29)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 8)
    s[CC].compute_at(s[C], jo)
    s[C].parallel(io)
    f = tm.build(s, [A, B, C], name=f"par_scratch_{threads}")
    a, b = np.random.rand(61, 29).astype("float32"), np.random.rand(29, 45).astype("float32")
    c = np.zeros((61, 45), "float32")
    for _ in range(3):
        f(a, b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_nested_parallel_runs_inner_serially():
    A = te.placeholder((23, 17), name="A")
    B = te.compute((23, 17), lambda i, j: A[i, j] * A[i, j], name="B")
    s = te.create_schedule(B.op)
    s[B].parallel(B.op.axis[0])
    s[B].parallel(B.op.axis[1])
    f = tm.build(s, [A, B], name="nested_parallel")
    a = np.random.rand(23, 17).astype("float32")
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a * a, rtol=1e-6)


def test_parallel_reduction_through_rfactor():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    k = te.reduce_axis((0, n), name="k")
    S = te.compute((1,), lambda i: te.sum(A[k], axis=k), name="S")
    s = te.create_schedule(S.op)
    ko, ki = s[S].split(S.op.reduce_axis[0], nparts=4)
    SF = s.rfactor(S, ko)
    s[SF].parallel(s[SF].op.axis[0])
    f = tm.build(s, [A, S], name="parallel_sum")
    for size in (1, 5, 1000):
        a = np.random.rand(size).astype("float64").astype("float32")
        out = np.zeros(1, "float32")
        f(a, out)
        np.testing.assert_allclose(out, reference(S, {A: a, n: size}), rtol=1e-5)
        np.testing.assert_allclose(out[0], a.sum(dtype=np.float64), rtol=1e-5)


def test_results_are_deterministic_for_a_thread_count(monkeypatch):
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    A = te.placeholder((4096,), name="A")
    k = te.reduce_axis((0, 4096), name="k")
    S = te.compute((1,), lambda i: te.sum(A[k], axis=k), name="S")
    s = te.create_schedule(S.op)
    ko, ki = s[S].split(S.op.reduce_axis[0], nparts=8)
    SF = s.rfactor(S, ko)
    s[SF].parallel(s[SF].op.axis[0])
    f = tm.build(s, [A, S], name="deterministic_sum")
    a = np.random.rand(4096).astype("float32")
    outs = set()
    for _ in range(5):
        out = np.zeros(1, "float32")
        f(a, out)
        outs.add(out.tobytes())
    assert len(outs) == 1


@pytest.mark.parametrize("threads,launched", [("3", 3), ("1", 1), ("", 0)])
def test_thread_count_comes_from_the_environment(monkeypatch, threads, launched):
    """TVMINI_NUM_THREADS (read at build) is the team size given to libgomp; unset, 0
    lets libgomp use every core (or OMP_NUM_THREADS)."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", threads)
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].parallel(B.op.axis[0])
    f = tm.build(s, [A, B], name=f"par_threads_{threads or 'default'}")
    (launch,) = [line for line in f.get_source("ll").splitlines() if "call void @GOMP_parallel" in line]
    assert f"i32 {launched}, i32 0)" in launch, launch
    a = np.random.rand(64).astype("float32")
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a + 1, rtol=1e-6)


@pytest.mark.parametrize("tvmini_threads, omp_threads, expected", [
    ("3", "5", 3), ("", "5", 5), ("", "4,2", 4), ("", "", None), ("0", "junk", None)])
def test_thread_count_is_the_team_size_libgomp_runs(monkeypatch, tvmini_threads, omp_threads, expected):
    """What schedules split work by (``parallel.thread_count``): TVMINI_NUM_THREADS, else
    OMP_NUM_THREADS's first level, else the CPUs this process may run on."""
    import os
    from tvmini.codegen.parallel import thread_count
    monkeypatch.setenv("TVMINI_NUM_THREADS", tvmini_threads)
    monkeypatch.setenv("OMP_NUM_THREADS", omp_threads)
    assert thread_count() == (expected or len(os.sched_getaffinity(0)))


def test_a_parallel_body_that_only_sizes_a_buffer_by_an_extent_captures_it():
    """A parallel loop whose body allocates a buffer of symbolic size and does nothing
    else with the extent (C has no rows: the stores were simplified away) passes the
    extent to the lifted body (it was a BuildError: "K is used outside ...")."""
    K = te.var("K")
    A, B = te.placeholder((0, K), name="A", dtype="int32"), te.placeholder((K, 2), name="B", dtype="int32")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((0, 2), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    AA = s.cache_read(A, "global", [C])
    s[C].reorder(C.op.axis[1], k, C.op.axis[0])
    ko, _ = s[C].split(k, nparts=16)
    s[C].parallel(C.op.axis[1])
    s[AA].compute_at(s[C], ko)
    f = tm.build(s, [A, B, C], name="parallel_sized_buffer")
    f(np.zeros((0, 5), "int32"), np.ones((5, 2), "int32"), np.zeros((0, 2), "int32"))
