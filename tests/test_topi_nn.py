"""topi.nn against numpy: matrix products (every transpose variant, batch broadcasting,
bias), softmax / log_softmax / losses and batch norm, with their gradients, built with
``topi.default_schedule`` on shapes drawn by hypothesis (size 1 and odd sizes included).
Gradient kernels are also checked against central finite differences in float64.
"""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.codegen.llvm_target import fast_masked_vectors
from tvmini.testing import reference
from strategies import examples

DIM = st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 3, 16, 17, 33, 64]))
FLOAT = st.sampled_from(["float32", "float64"])
_built = {}


def run(outs, inputs, binds=None, name="k", scale=1):
    """Build ``outs`` with the default schedule, run on ``inputs`` ({placeholder: array}),
    check against ``tvmini.testing.reference`` (tolerance ``tol(dtype, scale)``, scale
    being about the length of the longest sum) and return the outputs as arrays."""
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    placeholders = list(inputs)
    sch = topi.default_schedule(outs)
    f = tm.build(sch, placeholders + outs, name=name)
    sizes = dict(binds or {})
    results = []
    for t in outs:
        shape = tuple(int(e.value) if isinstance(e, tm.tir.Const) else sizes[e] for e in t.shape)
        results.append(np.full(shape, np.nan, dtype=t.dtype))
    f(*[inputs[p] for p in placeholders], *results)
    expected = reference(outs, {**inputs, **sizes})
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, **tol(got.dtype, scale))
    return results


def tol(dtype, scale):
    if np.dtype(dtype) == np.float32:
        return dict(rtol=2e-4, atol=1e-5 * max(1, scale))
    return dict(rtol=1e-10, atol=1e-12 * max(1, scale))


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def rng_of(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


# --------------------------------------------------------------------------- matrix products

@examples(20)
@given(st.data())
def test_matmul_all_transposes(data):
    """Every transpose, odd and size-1 extents; the reduction whole or split into 2-4
    equal parts (``parts``: chunks of k computed apart and summed by the output)."""
    M, N, K = (data.draw(DIM, label=n) for n in "MNK")
    parts = data.draw(st.sampled_from([1, 1, 2, 3, 4]), label="parts")
    K = parts * max(1, K // parts)
    ta, tb = data.draw(st.booleans(), label="transpose_a"), data.draw(st.booleans(), label="transpose_b")
    dtype = data.draw(FLOAT, label="dtype")
    rng = rng_of(data)
    a_np = rand(rng, (K, M) if ta else (M, K), dtype)
    b_np = rand(rng, (N, K) if tb else (K, N), dtype)
    a = te.placeholder(a_np.shape, name="a", dtype=dtype)
    b = te.placeholder(b_np.shape, name="b", dtype=dtype)
    out = topi.matmul(a, b, ta, tb, parts=parts)
    assert out.op.tag == ("gemm" if parts == 1 else "gemm_parts")
    (c,) = run(out, {a: a_np, b: b_np})
    want = (a_np.T if ta else a_np) @ (b_np.T if tb else b_np)
    np.testing.assert_allclose(c, want, **tol(dtype, K))


def test_split_products_give_each_thread_its_part():
    """The parts' tile loop is parallel, its part index outermost: static chunks hand
    thread t part t, which reads only rows [t K/n, (t+1) K/n) of both operands."""
    g, x = te.placeholder((1024, 64), name="g"), te.placeholder((1024, 256), name="x")
    out = topi.matmul(g, x, transpose_a=True, parts=2)
    f = tm.build(topi.default_schedule(out), [g, x, out], name="gw")
    tir = f.get_source("tir")
    assert re.search(r"parallel for i0\.\S*fused in range\((\d+)\)", tir), tir
    assert "allocate matmul.parts: float32[2, 64, 256]" in tir


def test_reduction_parts_split_long_reductions_of_small_products():
    """Weight gradients over a large batch split by rows between the threads; short
    reductions, single threads, uneven splits and outputs too big for L2 do not."""
    assert topi.nn.reduction_parts(64, 256, 1024, "float32", threads=2) == 2
    assert topi.nn.reduction_parts(64, 2, 1024, "float32", threads=4) == 4
    assert topi.nn.reduction_parts(64, 256, 1024, "float32", threads=1) == 1
    assert topi.nn.reduction_parts(256, 784, 128, "float32", threads=2) == 1      # MNIST: batch 128
    assert topi.nn.reduction_parts(64, 256, 1000, "float32", threads=3) == 1      # uneven
    assert topi.nn.reduction_parts(4096, 4096, 1 << 16, "float32", threads=2) == 1


@examples(8)
@given(st.data())
def test_matmul_symbolic_rows(data):
    M, N, K = data.draw(DIM, label="M"), data.draw(DIM, label="N"), data.draw(DIM, label="K")
    rng = rng_of(data)
    m = te.var("m")
    a = te.placeholder((m, K), name="a")
    b = te.placeholder((K, N), name="b")
    a_np, b_np = rand(rng, (M, K), "float32"), rand(rng, (K, N), "float32")
    (c,) = run(topi.matmul(a, b), {a: a_np, b: b_np}, binds={m: M})
    np.testing.assert_allclose(c, a_np @ b_np, **tol("float32", K))


@examples(10)
@given(st.data())
def test_batch_matmul_broadcast(data):
    B = data.draw(st.integers(1, 4), label="batch")
    M, N, K = (data.draw(st.integers(1, 20), label=n) for n in "MNK")
    ta, tb = data.draw(st.booleans(), label="transpose_a"), data.draw(st.booleans(), label="transpose_b")
    Ba, Bb = data.draw(st.sampled_from([(B, B), (1, B), (B, 1)]), label="batch extents")
    dtype = data.draw(FLOAT, label="dtype")
    rng = rng_of(data)
    a_np = rand(rng, (Ba, K, M) if ta else (Ba, M, K), dtype)
    b_np = rand(rng, (Bb, N, K) if tb else (Bb, K, N), dtype)
    a = te.placeholder(a_np.shape, name="a", dtype=dtype)
    b = te.placeholder(b_np.shape, name="b", dtype=dtype)
    (c,) = run(topi.batch_matmul(a, b, ta, tb), {a: a_np, b: b_np})
    want = np.matmul(a_np.transpose(0, 2, 1) if ta else a_np, b_np.transpose(0, 2, 1) if tb else b_np)
    np.testing.assert_allclose(c, want, **tol(dtype, K))


@examples(12)
@given(st.data())
def test_integer_products_wrap_in_their_dtype(data):
    """matmul (any transpose, whole or split into parts) and batch_matmul of integers over
    their full range: exact modulo 2**bits, as PyTorch's (the packed GEMM schedule, its
    blocks as wide as two SIMD vectors of the dtype)."""
    dtype = data.draw(st.sampled_from(["int8", "uint8", "int32", "int64"]), label="dtype")
    M, N, K = (data.draw(DIM, label=n) for n in "MNK")
    parts = data.draw(st.sampled_from([1, 2]), label="parts")
    K = parts * max(1, K // parts)
    ta, tb = data.draw(st.booleans(), label="transpose_a"), data.draw(st.booleans(), label="transpose_b")
    batch = data.draw(st.sampled_from([None, 1, 3]), label="batch")
    rng, info = rng_of(data), np.iinfo(dtype)
    lead = () if batch is None else (batch,)
    a_np = rng.integers(info.min, info.max, lead + ((K, M) if ta else (M, K)), endpoint=True).astype(dtype)
    b_np = rng.integers(info.min, info.max, lead + ((N, K) if tb else (K, N)), endpoint=True).astype(dtype)
    a = te.placeholder(a_np.shape, name="a", dtype=dtype)
    b = te.placeholder(b_np.shape, name="b", dtype=dtype)
    out = topi.matmul(a, b, ta, tb, parts=parts) if batch is None else topi.batch_matmul(a, b, ta, tb)
    assert out.dtype == dtype
    f = tm.build(topi.default_schedule(out), [a, b, out], name="int_product")
    got = np.zeros(tuple(int(e.value) for e in out.shape), dtype)
    f(a_np, b_np, got)
    wide = [np.swapaxes(x, -1, -2) if t else x for x, t in ((a_np, ta), (b_np, tb))]
    with np.errstate(over="ignore"):
        want = np.matmul(wide[0].astype(np.uint64), wide[1].astype(np.uint64)).astype(dtype)
    np.testing.assert_array_equal(got, want)


def test_a_product_of_bools_or_mixed_integers_is_refused():
    p, q = te.placeholder((2, 2), name="p", dtype="bool"), te.placeholder((2, 2), name="q", dtype="bool")
    with pytest.raises(tm.errors.DTypeError, match="p is bool; matmul needs float32, float64 or an integer"):
        topi.matmul(p, q)
    i, j = te.placeholder((2, 2), name="i", dtype="int32"), te.placeholder((2, 2), name="j", dtype="int64")
    with pytest.raises(tm.errors.DTypeError, match="different dtypes i: int32, j: int64"):
        topi.matmul(i, j)


@examples(10)
@given(st.data())
def test_dense_with_and_without_bias(data):
    M, N, K = (data.draw(DIM, label=n) for n in "MNK")
    dtype = data.draw(FLOAT, label="dtype")
    with_bias = data.draw(st.booleans(), label="bias")
    rng = rng_of(data)
    x_np, w_np, b_np = rand(rng, (M, K), dtype), rand(rng, (N, K), dtype), rand(rng, (N,), dtype)
    x = te.placeholder((M, K), name="x", dtype=dtype)
    w = te.placeholder((N, K), name="w", dtype=dtype)
    bias = te.placeholder((N,), name="bias", dtype=dtype)
    inputs = {x: x_np, w: w_np, **({bias: b_np} if with_bias else {})}
    (y,) = run(topi.dense(x, w, bias if with_bias else None), inputs)
    np.testing.assert_allclose(y, x_np @ w_np.T + (b_np if with_bias else 0), **tol(dtype, K))


def test_dense_gradients_match_finite_differences():
    """grad_x = g @ w and grad_w = g.T @ x (the graph layer's rules) against central differences."""
    rng = np.random.default_rng(0)
    M, N, K = 3, 4, 5
    x_np, w_np, g_np = rand(rng, (M, K), "float64"), rand(rng, (N, K), "float64"), rand(rng, (M, N), "float64")
    g = te.placeholder((M, N), name="g", dtype="float64")
    w = te.placeholder((N, K), name="w", dtype="float64")
    x = te.placeholder((M, K), name="x", dtype="float64")
    (gx,) = run(topi.matmul(g, w), {g: g_np, w: w_np})
    (gw,) = run(topi.matmul(g, x, transpose_a=True), {g: g_np, x: x_np})
    loss = lambda xv, wv: float(np.sum(g_np * (xv @ wv.T)))  # noqa: E731
    np.testing.assert_allclose(gx, numeric_grad(lambda v: loss(v, w_np), x_np), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, numeric_grad(lambda v: loss(x_np, v), w_np), rtol=1e-6, atol=1e-8)


def numeric_grad(f, x, eps=1e-6):
    """Central finite differences of scalar ``f`` at ``x`` (float64)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grad[idx] = (f(plus) - f(minus)) / (2 * eps)
    return grad


def test_matmul_errors_name_shapes():
    a = te.placeholder((3, 4), name="a")
    b = te.placeholder((5, 6), name="b")
    with pytest.raises(tm.errors.ShapeError, match=r"a \[3, 4\].*b \[5, 6\]"):
        topi.matmul(a, b)
    with pytest.raises(tm.errors.DTypeError, match="different dtypes"):
        topi.matmul(a, te.placeholder((4, 2), name="c", dtype="float64"))
    with pytest.raises(tm.errors.ShapeError, match=r"a \[3, 4\] has 4 features but weight w \[2, 5\] expects 5"):
        topi.dense(a, te.placeholder((2, 5), name="w"))
    with pytest.raises(tm.errors.ShapeError, match=r"dense: b has shape \[5, 6\]; expected 1 dimensions"):
        topi.dense(a, te.placeholder((2, 4), name="w"), b)
    with pytest.raises(tm.errors.ShapeError, match=r"bias c \[3\] does not match the 2 outputs of weight w \[2, 4\]"):
        topi.dense(a, te.placeholder((2, 4), name="w"), te.placeholder((3,), name="c"))
    with pytest.raises(tm.errors.ShapeError, match="do not broadcast"):
        topi.batch_matmul(te.placeholder((2, 3, 4), name="p"), te.placeholder((3, 4, 5), name="q"))
    with pytest.raises(tm.errors.ShapeError, match="reduction of 4 steps does not split into 3 equal parts"):
        topi.matmul(a, te.placeholder((4, 2), name="c"), parts=3)


# --------------------------------------------------------------------------- softmax family

def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# Rows of 16 and more (multiples of 8) take the vector-partials reductions.
ROW = st.one_of(st.integers(1, 12), st.sampled_from([16, 24, 32, 48, 80]))
SHAPES = st.tuples(st.lists(st.integers(1, 6), max_size=2), ROW).map(lambda p: (*p[0], p[1]))


@examples(14)
@given(st.data())
def test_softmax_and_log_softmax_forward_and_grad(data):
    shape = tuple(data.draw(SHAPES, label="shape"))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    dtype = data.draw(FLOAT, label="dtype")
    log = data.draw(st.booleans(), label="log_softmax")
    rng = rng_of(data)
    x_np = (rand(rng, shape, dtype) * 30).astype(dtype)      # large logits: stability matters
    g_np = rand(rng, shape, dtype)
    x = te.placeholder(shape, name="x", dtype=dtype)
    y = te.placeholder(shape, name="y", dtype=dtype)
    g = te.placeholder(shape, name="g", dtype=dtype)
    forward, backward = (topi.log_softmax, topi.log_softmax_grad) if log else (topi.softmax, topi.softmax_grad)
    ref = np_log_softmax if log else np_softmax
    (out,) = run(forward(x, axis), {x: x_np})
    np.testing.assert_allclose(out, ref(x_np, axis), **tol(dtype, 30))
    y_np = ref(x_np, axis).astype(dtype)
    (grad,) = run(backward(y, g, axis), {y: y_np, g: g_np})
    if log:
        want = g_np - np.exp(y_np) * g_np.sum(axis=axis, keepdims=True)
    else:
        want = y_np * (g_np - (y_np * g_np).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(grad, want, **tol(dtype, 10))


@pytest.mark.parametrize("log", [False, True])
def test_softmax_grads_match_finite_differences(log):
    rng = np.random.default_rng(1)
    x_np, g_np = rand(rng, (3, 4), "float64"), rand(rng, (3, 4), "float64")
    ref = np_log_softmax if log else np_softmax
    y = te.placeholder((3, 4), name="y", dtype="float64")
    g = te.placeholder((3, 4), name="g", dtype="float64")
    backward = topi.log_softmax_grad if log else topi.softmax_grad
    (grad,) = run(backward(y, g, 0), {y: ref(x_np, 0), g: g_np})
    numeric = numeric_grad(lambda v: float(np.sum(g_np * ref(v, 0))), x_np)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def np_cross_entropy(x, labels):
    return -np_log_softmax(x, 1)[np.arange(len(labels)), labels]


@examples(12)
@given(st.data())
def test_cross_entropy_and_nll(data):
    N, C = data.draw(st.integers(1, 40), label="N"), data.draw(st.one_of(st.integers(1, 20), ROW), label="C")
    dtype = data.draw(FLOAT, label="dtype")
    ldtype = data.draw(st.sampled_from(["int32", "int64"]), label="label dtype")
    rng = rng_of(data)
    x_np = (rand(rng, (N, C), dtype) * 20).astype(dtype)
    l_np = rng.integers(0, C, N).astype(ldtype)
    g_np = rand(rng, (N,), dtype)
    x = te.placeholder((N, C), name="x", dtype=dtype)
    labels = te.placeholder((N,), name="labels", dtype=ldtype)
    g = te.placeholder((N,), name="g", dtype=dtype)
    loss, grad = run([topi.cross_entropy(x, labels), topi.cross_entropy_grad(x, labels, g)],
                     {x: x_np, labels: l_np, g: g_np})
    np.testing.assert_allclose(loss, np_cross_entropy(x_np, l_np), **tol(dtype, 20))
    one_hot = np.eye(C, dtype=dtype)[l_np]
    np.testing.assert_allclose(grad, (np_softmax(x_np, 1) - one_hot) * g_np[:, None], **tol(dtype, 1))
    nll, nll_grad = run([topi.nll_loss(x, labels), topi.nll_loss_grad(x, labels, g)],
                        {x: x_np, labels: l_np, g: g_np})
    np.testing.assert_array_equal(nll, -x_np[np.arange(N), l_np])
    np.testing.assert_array_equal(nll_grad, -one_hot * g_np[:, None])


@pytest.mark.parametrize("log", [False, True])
def test_softmax_row_max_interleaves_rows(log):
    """The row max of a softmax over long rows is a pass of its own (its sum reads it)
    whose float max chains run 4 rows at a time (``schedule_cpu.interleave_rows``); a NaN
    row stays NaN, the others match numpy."""
    from tvmini.topi.schedule_cpu import INTERLEAVED_ROWS
    X = te.placeholder((64, 256), name="X")
    out = (topi.log_softmax if log else topi.softmax)(X, 1)
    ir = str(tm.lower(topi.default_schedule(out), [X, out], name="softmax_rows"))
    assert re.search(rf"for k\w*\.outer in range\(\d+\):\n\s*unrolled for i0\.inner\w* in range\({INTERLEAVED_ROWS}\)",
                     ir), ir
    x = (np.random.default_rng(6).standard_normal((64, 256)) * 10).astype("float32")
    x[9, 100] = np.nan
    (got,) = run(out, {X: x})
    want = (np_log_softmax if log else np_softmax)(x.astype("float64"), 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.isnan(got[9]).all()


@pytest.mark.parametrize("op", ["softmax", "cross_entropy_grad"])
def test_softmax_takes_each_exponential_once(op):
    """A softmax (and the cross-entropy gradient, softmax minus one-hot) over long rows
    computes its exponentials per row into a row buffer that its row sum and its output
    both read (one ``exp`` in the kernel, not one in each), and matches numpy."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((64, 256)) * 10).astype("float32")
    labels, g = rng.integers(0, 256, 64).astype("int32"), rng.standard_normal(64).astype("float32")
    X, L, G = (te.placeholder(a.shape, name=n, dtype=str(a.dtype)) for n, a in (("X", x), ("L", labels), ("G", g)))
    if op == "softmax":
        out, inputs, want = topi.softmax(X, 1), {X: x}, np_softmax(x.astype("float64"), 1)
    else:
        out, inputs = topi.cross_entropy_grad(X, L, G), {X: x, L: labels, G: g}
        want = np_softmax(x.astype("float64"), 1)
        want[np.arange(64), labels] -= 1
        want *= g[:, None]
    ir = str(tm.lower(topi.default_schedule(out), [*inputs, out], name=op))
    assert ir.count("exp(") == 1, ir
    assert f"allocate {op}.exp: float32[1, 256]" in ir, ir
    (got,) = run(out, inputs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


SHORT_ROW = st.sampled_from([1, 2, 3, 5, 7, 10, 11, 15])      # no vector partials


@examples(8)
@given(st.data())
def test_short_rows_run_rows_as_lanes(data):
    """Many rows of a few columns (a classifier's logits): the losses, their gradient and
    softmax run rows as vector lanes where gathers and scatters are native (AVX-512),
    and agree with numpy for any number of rows (partial last vector) and for invalid
    labels (a NaN loss)."""
    N, C = data.draw(st.integers(32, 300), label="N"), data.draw(SHORT_ROW, label="C")
    rng = rng_of(data)
    x_np = (rand(rng, (N, C), "float32") * 20).astype("float32")
    l_np = rng.integers(0, C, N).astype("int64")
    l_np[rng.random(N) < 0.05] = C                                  # out of range: NaN
    g_np = rand(rng, (N,), "float32")
    x = te.placeholder((N, C), name="x")
    labels = te.placeholder((N,), name="labels", dtype="int64")
    g = te.placeholder((N,), name="g")
    outs = [topi.cross_entropy(x, labels), topi.cross_entropy_grad(x, labels, g), topi.softmax(x, 1),
            topi.log_softmax(x, 1)]
    loss, grad, soft, log_soft = run(outs, {x: x_np, labels: l_np, g: g_np})
    valid = l_np < C
    np.testing.assert_allclose(loss[valid], np_cross_entropy(x_np[valid], l_np[valid]), **tol("float32", 20))
    assert np.isnan(loss[~valid]).all()
    one_hot = np.eye(C + 1, dtype="float32")[l_np][:, :C]
    np.testing.assert_allclose(grad, (np_softmax(x_np, 1) - one_hot) * g_np[:, None], **tol("float32", 1))
    np.testing.assert_allclose(soft, np_softmax(x_np, 1), **tol("float32", 1))
    np.testing.assert_allclose(log_soft, np_log_softmax(x_np, 1), **tol("float32", 20))
    if fast_masked_vectors():
        for out in outs:
            ir = str(tm.lower(topi.default_schedule(out), [x, labels, g, out], name="short_rows"))
            assert re.search(r"vectorized for (n|i0)\.inner", ir), ir


def test_cross_entropy_grad_matches_finite_differences():
    rng = np.random.default_rng(2)
    x_np, g_np = rand(rng, (4, 5), "float64"), rand(rng, (4,), "float64")
    l_np = np.array([0, 4, 2, 2], dtype="int64")
    x = te.placeholder((4, 5), name="x", dtype="float64")
    labels = te.placeholder((4,), name="labels", dtype="int64")
    g = te.placeholder((4,), name="g", dtype="float64")
    (grad,) = run(topi.cross_entropy_grad(x, labels, g), {x: x_np, labels: l_np, g: g_np})
    numeric = numeric_grad(lambda v: float(np.sum(g_np * np_cross_entropy(v, l_np))), x_np)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_cross_entropy_out_of_range_label_gives_nan_without_reading_outside():
    x = te.placeholder((3, 4), name="x")
    labels = te.placeholder((3,), name="labels", dtype="int32")
    loss = topi.cross_entropy(x, labels)
    f = tm.build(topi.default_schedule(loss), [x, labels, loss])
    out = np.zeros(3, "float32")
    f(np.zeros((3, 4), "float32"), np.array([1, 4, -1000000], "int32"), out)
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


def test_loss_errors_name_shapes_and_dtypes():
    x = te.placeholder((3, 4), name="logits")
    with pytest.raises(tm.errors.DTypeError, match="labels lab are float32"):
        topi.cross_entropy(x, te.placeholder((3,), name="lab"))
    with pytest.raises(tm.errors.ShapeError, match=r"logits \[3, 4\] has 3 rows but labels lab \[5\]"):
        topi.cross_entropy(x, te.placeholder((5,), name="lab", dtype="int64"))
    with pytest.raises(tm.errors.ShapeError, match="axis 2 is out of range"):
        topi.softmax(x, axis=2)


# --------------------------------------------------------------------------- batch norm

def np_batch_norm(x, gamma, beta, eps, axes):
    keep = [a for a in range(x.ndim) if a not in axes]
    bshape = [x.shape[a] if a in keep else 1 for a in range(x.ndim)]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + eps) * gamma.reshape(bshape) + beta.reshape(bshape)
    return y, mean, var


@examples(10)
@given(st.data())
def test_batch_norm_forward_and_backward(data):
    layout = data.draw(st.sampled_from(["NC", "NCHW"]), label="layout")
    N, C = data.draw(st.integers(1, 33), label="N"), data.draw(st.integers(1, 17), label="C")
    shape, axes = ((N, C), (0,)) if layout == "NC" else \
        ((N, C, data.draw(st.integers(1, 6), label="H"), data.draw(st.integers(1, 6), label="W")), (0, 2, 3))
    dtype = data.draw(FLOAT, label="dtype")
    rng = rng_of(data)
    x_np = (rand(rng, shape, dtype) * 3 + 1).astype(dtype)
    gamma_np, beta_np, gy_np = rand(rng, (C,), dtype), rand(rng, (C,), dtype), rand(rng, shape, dtype)
    x, gy = (te.placeholder(shape, name=n, dtype=dtype) for n in ("x", "gy"))
    gamma, beta = (te.placeholder((C,), name=n, dtype=dtype) for n in ("gamma", "beta"))
    mean, var = (te.placeholder((C,), name=n, dtype=dtype) for n in ("mean", "var"))
    eps = 1e-5
    y, m, v = run(topi.batch_norm_forward(x, gamma, beta, eps, axes), {x: x_np, gamma: gamma_np, beta: beta_np})
    want_y, want_m, want_v = np_batch_norm(x_np, gamma_np, beta_np, eps, axes)
    for got, want in ((y, want_y), (m, want_m), (v, want_v)):
        np.testing.assert_allclose(got, want, **tol(dtype, 100))
    gx, ggamma, gbeta = run(topi.batch_norm_backward(gy, x, mean, var, gamma, eps, axes),
                            {gy: gy_np, x: x_np, mean: m, var: v, gamma: gamma_np}, scale=100)
    bshape = [C if a not in axes else 1 for a in range(len(shape))]
    xhat = (x_np - m.reshape(bshape)) / np.sqrt(v.reshape(bshape) + eps)
    count = x_np.size // C
    want_gbeta, want_ggamma = gy_np.sum(axis=axes), (gy_np * xhat).sum(axis=axes)
    want_gx = (gamma_np.reshape(bshape) / np.sqrt(v.reshape(bshape) + eps)
               * (gy_np - want_gbeta.reshape(bshape) / count - xhat * want_ggamma.reshape(bshape) / count))
    np.testing.assert_allclose(gbeta, want_gbeta, **tol(dtype, 100))
    np.testing.assert_allclose(ggamma, want_ggamma, **tol(dtype, 100))
    np.testing.assert_allclose(gx, want_gx, **tol(dtype, 1000))


@pytest.mark.parametrize("image", [(28, 28), (14, 14), (7, 7)])
def test_batch_norm_on_images_with_whole_half_and_no_vectors_per_image(image):
    """The NCHW elementwise pass fuses each image into one loop: 784 pixels are whole
    vectors, 196 half vectors, 49 neither; all match numpy."""
    rng = np.random.default_rng(7)
    shape, axes, eps = (2, 3, *image), (0, 2, 3), 1e-5
    x_np, gamma_np, beta_np = rand(rng, shape, "float32") * 3 + 1, rand(rng, (3,), "float32"), rand(rng, (3,), "float32")
    x = te.placeholder(shape, name="x")
    gamma, beta = (te.placeholder((3,), name=n) for n in ("gamma", "beta"))
    got = run(topi.batch_norm_forward(x, gamma, beta, eps, axes), {x: x_np, gamma: gamma_np, beta: beta_np})
    for g, want in zip(got, np_batch_norm(x_np, gamma_np, beta_np, eps, axes)):
        np.testing.assert_allclose(g, want, **tol("float32", 100))


def test_batch_norm_backward_matches_finite_differences():
    rng = np.random.default_rng(6)
    shape, axes, eps = (4, 3, 2, 2), (0, 2, 3), 1e-3
    x_np, gy_np = rand(rng, shape, "float64"), rand(rng, shape, "float64")
    gamma_np, beta_np = rand(rng, (3,), "float64"), rand(rng, (3,), "float64")
    x, gy = (te.placeholder(shape, name=n, dtype="float64") for n in ("x", "gy"))
    gamma, mean, var = (te.placeholder((3,), name=n, dtype="float64") for n in ("gamma", "mean", "var"))
    _, m, v = np_batch_norm(x_np, gamma_np, beta_np, eps, axes)
    gx, ggamma, gbeta = run(topi.batch_norm_backward(gy, x, mean, var, gamma, eps, axes),
                            {gy: gy_np, x: x_np, mean: m, var: v, gamma: gamma_np})

    def loss(xv, gv, bv):
        return float(np.sum(gy_np * np_batch_norm(xv, gv, bv, eps, axes)[0]))
    np.testing.assert_allclose(gx, numeric_grad(lambda t: loss(t, gamma_np, beta_np), x_np), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ggamma, numeric_grad(lambda t: loss(x_np, t, beta_np), gamma_np), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gbeta, numeric_grad(lambda t: loss(x_np, gamma_np, t), beta_np), rtol=1e-6, atol=1e-8)


def test_batch_norm_errors():
    x = te.placeholder((4, 3), name="x")
    with pytest.raises(tm.errors.ShapeError, match=r"gamma has shape \[4\].*must be \[3\]"):
        topi.batch_norm_forward(x, te.placeholder((4,), name="gamma"), te.placeholder((3,), name="beta"), 1e-5, (0,))
    with pytest.raises(tm.errors.ShapeError, match="must leave at least one axis"):
        topi.batch_norm_stats(x, (0, 1))


@pytest.mark.parametrize("shape", [(), (7,), (5, 33), (2, 3, 17)])
def test_add_parts_sums_its_parts(shape):
    """``add_parts`` (a jit step's lane partials added up): numpy's sum of the parts for
    any rank; matrices and up carry the ``gemm_parts`` tag an optimizer update can join."""
    parts = [te.placeholder(shape, name=f"p{k}") for k in range(3)]
    out = topi.add_parts(*parts)
    assert out.op.tag == ("gemm_parts" if len(shape) >= 2 else "elemwise")
    f = tm.build(topi.default_schedule(out), parts + [out], name=f"add_parts_{len(shape)}")
    arrays = [np.asarray(np.random.rand(*shape), "float32") for _ in parts]
    result = np.zeros(shape, "float32")
    f(*arrays, result)
    np.testing.assert_allclose(result, arrays[0] + arrays[1] + arrays[2], rtol=1e-6)
