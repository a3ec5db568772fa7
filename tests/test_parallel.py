"""Parallel loops: thread-private scratch buffers, nested parallel loops, parallel rfactor."""
import re

import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from tvmini.codegen.llvm import emit_module
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
    name = f"par_threads_{threads or 'default'}"
    f = tm.build(s, [A, B], name=name)
    emitted = str(emit_module([tm.lower(s, [A, B], name=name)], name=name))     # before LLVM's passes
    # the team size: the count, or 1 in a forked child (the fork flag's test)
    assert re.search(rf"= select\s+i1 %\S+, i32 1, i32 {launched}\n", emitted), emitted
    assert "call void @GOMP_parallel" in f.get_source("ll")
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


FORK_CHILD = """
import os, sys, numpy as np, tvmini as tm
from tvmini import te
os.environ["TVMINI_NUM_THREADS"] = "2"
A = te.placeholder((1000,), name="A")
B = te.compute((1000,), lambda i: A[i] * 2.0, name="B")
s = te.create_schedule(B.op)
xo, xi = s[B].split(B.op.axis[0], factor=100)
s[B].parallel(xo)
f = tm.build(s, [A, B], name="doubled")
f.export_library(sys.argv[1])
g = tm.runtime.load_module(sys.argv[1])
a, b = np.ones(1000, "float32"), np.zeros(1000, "float32")
f(a, b)                         # starts libgomp's pool in the parent
pid = os.fork()
if pid == 0:
    c = np.zeros(1000, "float32")
    f(a, c)
    g(a, c)
    os._exit(0 if (c == 2).all() else 1)
_, status = os.waitpid(pid, 0)
print("child", status)
"""


def test_a_forked_child_runs_parallel_loops_on_one_thread(tmp_path):
    """A child forked after the parent's first parallel loop has no libgomp workers:
    its first parallel loop waited for them forever. Now JIT-compiled and exported
    kernels run their parallel loops on the child's one thread."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", FORK_CHILD, str(tmp_path / "doubled.so")], capture_output=True,
                         text=True, timeout=120, env=dict(__import__("os").environ, TVMINI_CACHE_DIR=str(tmp_path)))
    assert out.returncode == 0 and out.stdout.strip() == "child 0", out.stdout + out.stderr
