"""``vectorize`` emits LLVM vector code of the host's SIMD width (tvmini/codegen/vectorize.py).

Checked here: the vector width comes from the target, a vectorized multiply-add becomes
vector FMA instructions, non-divisible extents run a masked tail, strided and computed
indices become gathers/scatters (lane strides 2-4: contiguous loads and a shuffle), lane-dependent guards and ``if_then_else`` padding
become masks (unless the loop ranges prove the guarded read inside its buffer) — all equal to numpy, and (in a child process, on arrays placed against
guard pages) never touching memory outside the buffers.
"""
import textwrap

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from tvmini.codegen.llvm_target import vector_bits
from tvmini.testing.guard import assert_no_fault


def lanes(dtype):
    return vector_bits() // np.dtype(dtype).itemsize // 8


def fma_kernel(n, factor, dtype="float32", name="vfma"):
    A, B, C = (te.placeholder((n,), name=x, dtype=dtype) for x in "ABC")
    D = te.compute((n,), lambda i: A[i] * B[i] + C[i], name="D")
    s = te.create_schedule(D.op)
    _, xi = s[D].split(D.op.axis[0], factor=factor)
    s[D].vectorize(xi)
    return tm.build(s, [A, B, C, D], name=name)


def test_width_is_the_targets():
    f = fma_kernel(64, 64, name="vfma_width")
    ir_text = f.get_source("ll")
    assert f"<{lanes('float32')} x float>" in ir_text
    g = fma_kernel(64, 64, dtype="float64", name="vfma_width64")
    assert f"<{lanes('float64')} x double>" in g.get_source("ll")


def test_multiply_add_becomes_vector_fma():
    asm = fma_kernel(256, 32, name="vfma_asm").get_source("asm")
    register = {512: "zmm", 256: "ymm", 128: "xmm"}[vector_bits()]
    assert any("vfmadd" in line and register in line for line in asm.splitlines()), asm[:2000]


def test_tail_runs_narrower_vectors_and_guards_are_masks():
    n = 8 * 3 + 5
    f = fma_kernel(n, 13, name="vfma_tail")   # 13 = 8 + a tail of 4 + 1; the last block's guard is a mask
    ir_text = f.get_source("ll")
    if lanes("float32") == 8:
        assert "<4 x float>" in ir_text
    assert "llvm.masked.load" in ir_text or "llvm.masked.store" in ir_text
    a, b, c = (np.random.rand(n).astype("float32") for _ in range(3))
    d = np.zeros(n, "float32")
    f(a, b, c, d)
    np.testing.assert_allclose(d, a * b + c, rtol=1e-6)


def test_strided_reads_gather():
    A = te.placeholder((37, 29), name="A")
    T = te.compute((29, 37), lambda i, j: A[j, i] * 2.0, name="T")
    s = te.create_schedule(T.op)
    _, ji = s[T].split(T.op.axis[1], factor=8)
    s[T].vectorize(ji)
    f = tm.build(s, [A, T], name="vtranspose")
    assert "llvm.masked.gather" in f.get_source("ll")
    a = np.random.rand(37, 29).astype("float32")
    t = np.zeros((29, 37), "float32")
    f(a, t)
    np.testing.assert_allclose(t, a.T * 2)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), step=st.integers(2, 6), offset=st.integers(0, 3),
       dtype=st.sampled_from(["float32", "float64", "int32"]))
def test_strided_reads_match_numpy(n, step, offset, dtype):
    """Lane strides 2-4 are contiguous loads and shuffles (wider ones stay gathers)."""
    size = step * (n - 1) + 1 + offset
    A = te.placeholder((size,), name="A", dtype=dtype)
    B = te.compute((n,), lambda i: A[i * step + offset] - A[i * step], name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(B.op.axis[0])
    f = tm.build(s, [A, B], name=f"vstride_{dtype}_{n}_{step}_{offset}")
    if n >= lanes(dtype) and step <= 4:
        assert "llvm.masked.gather" not in f.get_source("ll")
    a = (np.random.default_rng(n).standard_normal(size) * 100).astype(dtype)
    b = np.zeros(n, dtype)
    f(a, b)
    np.testing.assert_array_equal(b, a[offset::step][:n] - a[::step][:n])


def test_guarded_reads_proven_inside_are_not_masked():
    """A read under a lane-dependent guard is masked unless the enclosing loops' ranges
    prove it inside its buffer; then it is a plain vector load (or an unmasked gather)."""
    n = 64

    def kernel(shift, name):
        A = te.placeholder((n,), name="A")
        B = te.placeholder((n,), name="B")
        C = te.compute((n,), lambda i: te.if_then_else(A[i] > 0, B[i + shift], 0.0), name="C")
        s = te.create_schedule(C.op)
        _, xi = s[C].split(C.op.axis[0], factor=8)
        s[C].vectorize(xi)
        return tm.build(s, [A, B, C], name=name)
    inside = kernel(0, "vguard_inside").get_source("ll")
    assert "llvm.masked" not in inside, inside
    # B[i - 1] reaches index -1 at i = 0: it must stay masked (the guard says A[i] > 0 only)
    assert "llvm.masked.load" in kernel(-1, "vguard_edge").get_source("ll")


def test_libm_calls_run_lane_by_lane():
    A = te.placeholder((21,), name="A")
    B = te.compute((21,), lambda i: te.tanh(A[i]) + te.exp(A[i]), name="B")
    s = te.create_schedule(B.op)
    _, xi = s[B].split(B.op.axis[0], factor=16)
    s[B].vectorize(xi)
    f = tm.build(s, [A, B], name="vtanh")
    a = np.random.randn(21).astype("float32")
    b = np.zeros(21, "float32")
    f(a, b)
    np.testing.assert_allclose(b, np.tanh(a) + np.exp(a), rtol=1e-5, atol=1e-6)


def test_integer_division_by_constants_vectorizes():
    A = te.placeholder((50,), name="A", dtype="int32")
    B = te.compute((50,), lambda i: A[i] // 3 + A[i] % 7 + i // 4, name="B")
    s = te.create_schedule(B.op)
    _, xi = s[B].split(B.op.axis[0], factor=16)
    s[B].vectorize(xi)
    f = tm.build(s, [A, B], name="vdiv")
    assert "<8 x i32>" in f.get_source("ll") or lanes("int32") != 8
    a = np.random.randint(-100, 100, 50).astype("int32")
    b = np.zeros(50, "int32")
    f(a, b)
    np.testing.assert_array_equal(b, a // 3 + a % 7 + np.arange(50) // 4)


GUARDED = textwrap.dedent('''
    import numpy as np
    import tvmini as tm
    from tvmini import te
    from tvmini.testing.guard import guarded_array

    def guarded(a, where):
        g = guarded_array(a.shape, a.dtype, where=where)
        g[...] = a
        return g

    rng = np.random.default_rng(1)
    # padded 1-D stencil: if_then_else guards depend on the lane
    n, pad = 45, 2
    A = te.placeholder((n,), name="A")
    P = te.compute((n + 2 * pad,), lambda i: te.if_then_else(te.all(i >= pad, i < n + pad), A[i - pad], 0.0), name="P")
    B = te.compute((n,), lambda i: P[i] + P[i + 1] * 2.0 + P[i + 4], name="B")
    s = te.create_schedule(B.op)
    s[P].compute_inline()
    _, xi = s[B].split(B.op.axis[0], factor=16)
    s[B].vectorize(xi)
    f = tm.build(s, [A, B], name="vstencil")
    a = rng.random(n).astype("float32")
    p = np.pad(a, pad)
    want = p[:n] + p[1:n + 1] * 2 + p[4:n + 4]
    # scatter: a strided write, vectorized over the source's contiguous axis
    X = te.placeholder((13, 11), name="X")
    Y = te.compute((11, 13), lambda i, j: X[j, i] + 1.0, name="Y")
    sy = te.create_schedule(Y.op)
    i, j = Y.op.axis
    sy[Y].reorder(j, i)
    _, ii = sy[Y].split(i, factor=8)
    sy[Y].vectorize(ii)
    g = tm.build(sy, [X, Y], name="vscatter")
    assert "llvm.masked.scatter" in g.get_source("ll")
    x = rng.random((13, 11)).astype("float32")
    # strided reads as contiguous loads and shuffles: the last lane reads the last element
    strided = {}
    for step in (2, 3, 4):
        S = te.placeholder((step * 20 + 1,), name="S")
        R = te.compute((21,), lambda i: S[i * step] * 2.0, name="R")
        sr = te.create_schedule(R.op)
        sr[R].vectorize(R.op.axis[0])
        h = tm.build(sr, [S, R], name=f"vstrided{step}")
        assert "llvm.masked.gather" not in h.get_source("ll")
        strided[step] = (h, rng.random(step * 20 + 1).astype("float32"))
    for where in ("end", "start"):
        for step, (h, sv) in strided.items():
            r = guarded(np.zeros(21, "float32"), where)
            h(guarded(sv, where), r)
            np.testing.assert_allclose(r, sv[::step] * 2)
        b = guarded(np.zeros(n, "float32"), where)
        f(guarded(a, where), b)
        np.testing.assert_allclose(b, want, rtol=1e-6)
        y = guarded(np.zeros((11, 13), "float32"), where)
        g(guarded(x, where), y)
        np.testing.assert_allclose(y, x.T + 1)
    print("ok")
''')


def test_masked_lanes_stay_inside_buffers():
    assert_no_fault(GUARDED, timeout=120)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 9), factor=st.integers(1, 20),
       dtype=st.sampled_from(["float32", "float64", "int32"]), broadcast_row=st.booleans())
def test_random_vectorized_elementwise_matches_numpy(n, m, factor, dtype, broadcast_row):
    A = te.placeholder((m, n), name="A", dtype=dtype)
    B = te.placeholder((n,) if broadcast_row else (m, n), name="B", dtype=dtype)
    C = te.compute((m, n), lambda i, j: te.max(A[i, j] * 3 - (B[j] if broadcast_row else B[i, j]), A[i, j]), name="C")
    s = te.create_schedule(C.op)
    _, ji = s[C].split(C.op.axis[1], factor=factor)
    s[C].vectorize(ji)
    f = tm.build(s, [A, B, C], name=f"vrand_{dtype}_{broadcast_row}")
    rng = np.random.default_rng(n * 100 + m)
    a = (rng.standard_normal((m, n)) * 10).astype(dtype)
    b = (rng.standard_normal((n,) if broadcast_row else (m, n)) * 10).astype(dtype)
    c = np.zeros((m, n), dtype)
    f(a, b, c)
    np.testing.assert_allclose(c, np.maximum(a * 3 - b, a), rtol=1e-5, atol=1e-4)   # FMA rounding


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), rows=st.integers(1, 6), d=st.integers(1, 19), factor=st.integers(1, 20),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 99))
def test_a_gathered_row_under_a_lane_guard_is_the_row_of_every_lane(n, rows, d, factor, dtype, seed):
    """``select(M[r, j] == key[k], G[r, j], 0)`` with ``r = row[order[k]]``: ``r`` is one
    value for the whole vector, read at a data-dependent index (so only where the
    select's guard holds, as the scalar loop does); the vector loads at ``r`` serve
    every lane, also when the first lane's guard is off (the "max" embedding bag's
    gradient rows were another row's)."""
    order = te.placeholder((n,), name="order", dtype="int32")
    row = te.placeholder((n,), name="row", dtype="int32")
    key = te.placeholder((n,), name="key", dtype="int32")
    M = te.placeholder((rows, d), name="M", dtype="int32")
    G = te.placeholder((rows, d), name="G", dtype=dtype)

    def value(k, j):
        r = row[order[k]]
        return te.if_then_else(M[r, j] == key[k], G[r, j] * 2, te.const(0, dtype))
    Y = te.compute((n, d), value, name="Y")
    s = te.create_schedule(Y.op)
    _, ji = s[Y].split(Y.op.axis[1], factor=factor)
    s[Y].vectorize(ji)
    f = tm.build(s, [order, row, key, M, G, Y], name=f"vgather_row_{dtype}")
    rng = np.random.default_rng(seed)
    o, r = rng.permutation(n).astype("int32"), rng.integers(0, rows, n).astype("int32")
    k, m = rng.integers(0, 3, n).astype("int32"), rng.integers(0, 3, (rows, d)).astype("int32")
    g = rng.standard_normal((rows, d)).astype(dtype)
    y = np.full((n, d), np.nan, dtype)
    f(o, r, k, m, g, y)
    picked = r[o]
    np.testing.assert_array_equal(y, np.where(m[picked] == k[:, None], g[picked] * 2, 0))
