"""Static FLOP counts of lowered kernels (tir.analysis.count_flops, Module.flops)."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import codegen, te
from tvmini.tir.analysis import count_flops
from tvmini.topi.nn import gemm_block
from strategies import matmul_compute


def _check_matmul(s, A, B, C, M, N, K, name):
    f = tm.build(s, [A, B, C], name=name)
    a, b = np.random.rand(M, K).astype("float32"), np.random.rand(K, N).astype("float32")
    c = np.zeros((M, N), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4)
    assert f.flops == 2 * M * N * K
    assert count_flops(tm.lower(s, [A, B, C])) == 2 * M * N * K


def test_naive_matmul_counts_2mnk():
    M, N, K = 12, 10, 7
    A, B, C = matmul_compute(M, N, K)
    _check_matmul(te.create_schedule(C.op), A, B, C, M, N, K, "flops_mm_naive")


def test_guarded_vectorized_unrolled_matmul_counts_2mnk():
    """Non-divisible splits (guards), vector and unrolled loops, a cached accumulator
    with its zero init: the count is still the computation's 2*M*N*K."""
    M, N, K = 37, 29, 13
    A, B, C = matmul_compute(M, N, K)
    s = te.create_schedule(C.op)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 8, 8)
    s[CC].compute_at(s[C], jo)
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=4)
    s[CC].reorder(ko, ki, *s[CC].op.axis)
    s[CC].vectorize(s[CC].op.axis[1])
    s[CC].unroll(ki)
    s[C].vectorize(ji)
    s[C].parallel(io)
    assert "if " in str(tm.lower(s, [A, B, C]))   # the splits really are guarded
    _check_matmul(s, A, B, C, M, N, K, "flops_mm_tiled")


def test_elementwise_ops_intrinsics_and_selects():
    n = 50
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: te.exp(A[i] * 2.0 + 1.0), name="B")        # mul, add, exp
    C = te.compute((n,), lambda i: te.max(A[i], 0.0), name="C")                 # max
    D = te.compute((n,), lambda i: te.if_then_else(A[i] > 0.0, A[i] * 3.0, A[i]), name="D")   # >, then *
    E = te.compute((n,), lambda i: A[i].astype("int32").astype("float32"), name="E")   # casts only
    for T, per_point in [(B, 3), (C, 1), (D, 2), (E, 0)]:
        assert tm.build(te.create_schedule(T.op), [A, T], name=f"flops_ew_{T.name}").flops == per_point * n


def test_symbolic_extent_is_unknown_unless_the_loop_does_no_float_work():
    n = te.var("n")
    A = te.placeholder((n, 4), name="A")
    B = te.compute((n, 4), lambda i, j: A[i, j] + 1.0, name="B")
    assert tm.build(te.create_schedule(B.op), [A, B], name="flops_sym").flops is None
    copy = te.compute((n, 4), lambda i, j: A[i, j], name="copy")
    assert tm.build(te.create_schedule(copy.op), [A, copy], name="flops_sym_copy").flops == 0


def test_graph_kernels_carry_their_flops():
    x = tm.randn(6, 5)
    n = gemm_block("float32") // 2    # one whole vector of outputs: no zero-padded columns
    layer = tm.nn.Linear(5, n)
    with tm.profiler() as prof:
        layer(x).relu()
    flops = {e.op: e.flops for e in prof.events}
    assert flops["dense"] == 2 * 6 * 5 * n + 6 * n    # matmul and the bias add
    assert flops["relu"] == 6 * n


def test_kernels_loaded_from_the_disk_cache_carry_flops(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TVMINI_CACHE", "1")
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_compiled", {})
    M, N, K = 9, 4, 3
    A, B, C = matmul_compute(M, N, K)
    s = te.create_schedule(C.op)
    tm.build(s, [A, B, C], name="flops_disk")
    monkeypatch.setattr(codegen, "_compiled", {})     # forget the in-process copy
    old = tm.set_debug(1)
    try:
        f = tm.build(s, [A, B, C], name="flops_disk")
    finally:
        tm.set_debug(old)
    assert any("flops_disk" in r.getMessage() and "disk cache hit" in r.getMessage() for r in caplog.records)
    assert f.flops == 2 * M * N * K


@pytest.mark.parametrize("factor", [3, 5, 16])
def test_a_guard_counts_only_the_iterations_where_it_holds(factor):
    n = 23
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * A[i], name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=factor)
    assert count_flops(tm.lower(s, [A, B])) == n
