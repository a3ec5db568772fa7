"""Epilogue fusion (``topi.epilogue.fuse_epilogue``): an elementwise chain after a matrix
product is computed on the product's register tiles, with the same results as numpy;
chains that do not read the product at their own index are left alone."""
import numpy as np
from hypothesis import given, strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.topi.epilogue import fuse_epilogue
from tvmini.topi.nn import gemm_block
from tvmini.topi.schedule_nn import UPDATE_ROWS_MIN_BYTES

from strategies import EXTENT, examples, run_default, unique
from test_topi_conv import np_conv2d

RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def _reads_accumulator(out):
    return out.op.tag == "gemm" and any(getattr(t.op, "tag", None) == "gemm_accum" for t in out.op.input_tensors)


@examples(12)
@given(m=EXTENT, n=EXTENT, k=EXTENT)
def test_dense_bias_relu_runs_on_the_tile(m, n, k):
    x, w, b = te.placeholder((m, k), name="x"), te.placeholder((n, k), name="w"), te.placeholder((n,), name="b")
    out = fuse_epilogue(topi.relu(topi.dense(x, w, b)))
    assert _reads_accumulator(out)
    X, W, B = _rand(m, k), _rand(n, k), _rand(n)
    np.testing.assert_allclose(run_default(out, [x, w, b], [X, W, B]), np.maximum(X @ W.T + B, 0),
                               rtol=1e-4, atol=1e-4)


@examples(12)
@given(m=EXTENT, n=EXTENT, k=EXTENT, transpose_a=st.booleans(), transpose_b=st.booleans())
def test_matmul_with_a_chain_reading_other_tensors(m, n, k, transpose_a, transpose_b):
    """``relu_grad(a @ b, y) * 2 + c[j]``: several computes and extra operands, one of
    them broadcast, all inlined into the product's output."""
    a = te.placeholder((k, m) if transpose_a else (m, k), name="a")
    b = te.placeholder((n, k) if transpose_b else (k, n), name="b")
    y, c = te.placeholder((m, n), name="y"), te.placeholder((n,), name="c")
    chain = topi.add(topi.multiply(topi.relu_grad(y, topi.matmul(a, b, transpose_a, transpose_b)), 2.0), c)
    out = fuse_epilogue(chain)
    assert _reads_accumulator(out)
    Y, C = _rand(m, n), _rand(n)
    A = _rand(*((k, m) if transpose_a else (m, k)))
    B = _rand(*((n, k) if transpose_b else (k, n)))
    product = (A.T if transpose_a else A) @ (B.T if transpose_b else B)
    want = np.where(Y > 0, product, 0) * 2 + C
    np.testing.assert_allclose(run_default(out, [a, b, y, c], [A, B, Y, C]), want, rtol=1e-4, atol=1e-4)


@examples(8)
@given(batch=st.integers(1, 3), m=EXTENT, n=EXTENT, k=st.integers(1, 20))
def test_batch_matmul_epilogue(batch, m, n, k):
    a, b = te.placeholder((batch, m, k), name="a"), te.placeholder((batch, k, n), name="b")
    out = fuse_epilogue(topi.tanh(topi.batch_matmul(a, b)))
    assert _reads_accumulator(out)
    A, B = _rand(batch, m, k), _rand(batch, k, n)
    np.testing.assert_allclose(run_default(out, [a, b], [A, B]), np.tanh(A @ B), rtol=1e-4, atol=1e-5)


def test_chains_that_cannot_be_epilogues_are_unchanged():
    a, b = te.placeholder((8, 8), name="a"), te.placeholder((8, 8), name="b")
    product = topi.matmul(a, b)
    transposed = topi.transpose(product)                        # reads the product at (j, i)
    two_products = topi.add(product, topi.matmul(b, a))
    reduced = topi.sum(product, axis=1)
    for chain in (transposed, two_products, reduced, product, a):
        assert fuse_epilogue(chain) is chain


@examples(8)
@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 9), size=st.integers(3, 12),
       kernel=st.integers(1, 3), stride=st.integers(1, 2), padding=st.integers(0, 1))
def test_conv2d_bias_relu_runs_on_the_accumulator_block(n, c, f, size, kernel, stride, padding):
    """Also for a pointwise convolution, a GEMM whose columns are the output's pixels
    (the accumulator is read at the pixel's row-major position, not at the output's own index)."""
    x, w, b = te.placeholder((n, c, size, size), name="x"), te.placeholder((f, c, kernel, kernel), name="w"), \
        te.placeholder((f,), name="b")
    out = fuse_epilogue(topi.relu(topi.conv2d(x, w, stride, padding, bias=b)))
    product = "gemm" if (kernel, padding) == (1, 0) else "conv2d"
    assert out.op.tag == product and any(getattr(t.op, "tag", None) == product + "_accum"
                                         for t in out.op.input_tensors)
    X, W, B = _rand(n, c, size, size), _rand(f, c, kernel, kernel), _rand(f)
    want = np.maximum(np_conv2d(X, W, (stride, stride), (padding, padding), (1, 1)) + B[:, None, None], 0)
    np.testing.assert_allclose(run_default(out, [x, w, b], [X, W, B]), want, rtol=1e-4, atol=1e-4)



@examples(10)
@given(m=EXTENT, n=st.integers(gemm_block("float32") + 1, 2 * gemm_block("float32") + 38), k=st.sampled_from([130, 192, 256]), transpose_a=st.booleans(),
       tiles=st.sampled_from(["ij", "ji", "jki"]), mi=st.sampled_from([1, 3, 6]), parallel=st.booleans())
def test_sibling_outputs_are_computed_with_every_tile_order(m, n, k, transpose_a, tiles, mi, parallel):
    """A weight-gradient product and an SGD-momentum update reading it at its own element
    (the jit's fused optimizer step) are built as one kernel: the update is computed with
    each tile of the product, whatever the tile order, k blocks ("jki") included (n spans
    two packed column blocks or more, where "jki" is offered)."""
    a = te.placeholder((k, m) if transpose_a else (m, k), name="a")
    b, p, buf = te.placeholder((k, n), name="b"), te.placeholder((m, n), name="p"), te.placeholder((m, n), name="buf")
    g = topi.matmul(a, b, transpose_a=transpose_a)
    mi = max(block for block in (1, 2, 3, 6) if block <= min(mi, m))       # row blocks cannot exceed the rows
    new_buf = te.compute((m, n), lambda i, j: buf[i, j] * 0.9 + g[i, j], name="new_buf", tag="elemwise")
    new_p = te.compute((m, n), lambda i, j: p[i, j] - new_buf[i, j] * 0.1, name="new_p", tag="elemwise")
    sch = topi.default_schedule([g, new_buf, new_p], configs={g: {"mi": mi, "bn": gemm_block("float32"), "order": "kij",
                                                                   "tiles": tiles, "parallel": parallel}})
    assert sch[new_p].attach_type == "with" and sch[new_buf].attach_type == "with"
    A, B, P, BUF = _rand(*((k, m) if transpose_a else (m, k))), _rand(k, n), _rand(m, n), _rand(m, n)
    f = tm.build(sch, [a, b, p, buf, g, new_buf, new_p], name=unique("sgd_with"))
    got = [np.full((m, n), np.nan, "float32") for _ in range(3)]
    f(A, B, P, BUF, *got)
    want_g = (A.T if transpose_a else A) @ B
    want_buf = BUF * 0.9 + want_g
    for result, want in zip(got, (want_g, want_buf, P - want_buf * 0.1)):
        np.testing.assert_allclose(result, want, rtol=1e-4, atol=1e-4)


def test_updates_larger_than_l2_take_row_blocks_outside():
    """The default tile order of a weight gradient with a fused update: rows outside
    ("ij") from ``UPDATE_ROWS_MIN_BYTES`` on, so each thread updates the rows the next
    forward product packs on it; column blocks outside ("ji") below that, and for a
    product without siblings whatever its size."""
    def default_tiles(m, n, with_update):
        a, b = te.placeholder((128, m), name="a"), te.placeholder((128, n), name="b")
        g = topi.matmul(a, b, transpose_a=True)
        outs = [g]
        if with_update:
            p = te.placeholder((m, n), name="p")
            outs.append(te.compute((m, n), lambda i, j: p[i, j] - g[i, j] * 0.1, name="new_p", tag="elemwise"))
        (tensor, knobs), = [(t, k) for t, k in topi.schedule.tunable(outs) if t.op is g.op]
        return knobs.default["tiles"]
    columns = UPDATE_ROWS_MIN_BYTES // (256 * 4)                     # of 256 float32 rows
    assert default_tiles(256, columns, with_update=True) == "ij"
    assert default_tiles(256, columns - 16, with_update=True) == "ji"
    assert default_tiles(256, columns + 272, with_update=False) == "ji"
