"""Register transposes (tvmini/codegen/transpose.py): a serial loop around a vectorized
loop whose store is contiguous in the inner variable and whose load is contiguous in the
outer one is emitted as ``L x L`` blocks of vector loads, shuffles and vector stores.

Checked here: random extents (whole blocks take the transpose, the rows past them the
ordinary code), offsets and strides, every dtype the shuffles handle — all equal to
numpy; the emitted code has no gathers; reads and writes stay inside the buffers
(guard pages); the GEMM pack of ``x @ W^T`` and the transpose op use it.
"""
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.codegen.llvm_target import vector_bits
from tvmini.testing.guard import assert_no_fault


def lanes(dtype):
    return vector_bits() // (np.dtype(dtype).itemsize * 8)


def transposing_copy(rows, cols, dtype, row_offset=0, col_offset=0, name="rtranspose"):
    """``T[k, j] = A[j + row_offset, k + col_offset]`` with k serial and j vectorized."""
    A = te.placeholder((cols + row_offset, rows + col_offset), name="A", dtype=dtype)
    T = te.compute((rows, cols), lambda k, j: A[j + row_offset, k + col_offset], name="T")
    s = te.create_schedule(T.op)
    s[T].vectorize(T.op.axis[1])
    return tm.build(s, [A, T], name=name)


@settings(max_examples=25, deadline=None)
@given(row_blocks=st.integers(1, 5), col_blocks=st.integers(1, 5), ragged=st.booleans(),
       row_offset=st.integers(0, 3), col_offset=st.integers(0, 3),
       dtype=st.sampled_from(["float32", "float64", "int32", "int64"]))
def test_random_transposing_copies_match_numpy(row_blocks, col_blocks, ragged, row_offset, col_offset, dtype):
    L = lanes(dtype)
    rows, cols = row_blocks * L + (3 if ragged else 0), col_blocks * L
    f = transposing_copy(rows, cols, dtype, row_offset, col_offset,
                         name=f"rt_{dtype}_{rows}_{cols}_{row_offset}_{col_offset}")
    ir_text = f.get_source("ll")
    assert "shufflevector" in ir_text
    # the rows past the last whole block (ragged) run as the ordinary vector code
    assert ("llvm.masked.gather" in ir_text) == ragged
    rng = np.random.default_rng(rows * 31 + cols)
    a = (rng.standard_normal((cols + row_offset, rows + col_offset)) * 100).astype(dtype)
    t = np.zeros((rows, cols), dtype)
    f(a, t)
    np.testing.assert_array_equal(t, a[row_offset:, col_offset:].T)


def test_a_computed_value_is_not_transposed():
    """Only a plain copy is transposed in registers: a computed value keeps the gathers."""
    A = te.placeholder((16, 16), name="A")
    T = te.compute((16, 16), lambda k, j: A[j, k] * 2.0, name="T")
    s = te.create_schedule(T.op)
    s[T].vectorize(T.op.axis[1])
    f = tm.build(s, [A, T], name="rt_computed")
    assert "llvm.masked.gather" in f.get_source("ll")
    a = np.random.rand(16, 16).astype("float32")
    t = np.zeros((16, 16), "float32")
    f(a, t)
    np.testing.assert_allclose(t, a.T * 2)


def test_gemm_pack_of_w_transposed_and_transpose_op_use_it():
    x = te.placeholder((24, 64), name="x")
    w = te.placeholder((32, 64), name="w")
    out = topi.dense(x, w)
    f = tm.build(topi.default_schedule(out), [x, w, out], name="rt_dense")
    ir_text = f.get_source("ll")
    assert "shufflevector" in ir_text and "llvm.masked.gather" not in ir_text
    xs, ws = np.random.rand(24, 64).astype("float32"), np.random.rand(32, 64).astype("float32")
    y = np.zeros((24, 32), "float32")
    f(xs, ws, y)
    np.testing.assert_allclose(y, xs @ ws.T, rtol=1e-5)

    a = te.placeholder((64, 96), name="a")
    b = topi.transpose(a)
    g = tm.build(topi.default_schedule(b), [a, b], name="rt_op")
    assert "shufflevector" in g.get_source("ll")
    av = np.random.rand(64, 96).astype("float32")
    bv = np.zeros((96, 64), "float32")
    g(av, bv)
    np.testing.assert_array_equal(bv, av.T)


@pytest.mark.parametrize("shape, tile", [((128, 192), 64), ((64, 96), 32), ((96, 160), 32)])
def test_transpose_tiles_are_the_largest_dividing_both_axes(shape, tile):
    """The transpose op's tiles are 64x64 when both axes allow (256 contiguous bytes
    per row read and written), else 32x32; values equal numpy."""
    a = te.placeholder(shape, name="a")
    b = topi.transpose(a)
    sch = topi.default_schedule(b)
    assert f"vectorized for i1.inner in range({tile}):" in str(tm.lower(sch, [a, b])), tm.lower(sch, [a, b])
    av = np.random.rand(*shape).astype("float32")
    bv = np.zeros(shape[::-1], "float32")
    tm.build(sch, [a, b], name=f"rt_tile{tile}")(av, bv)
    np.testing.assert_array_equal(bv, av.T)


GUARDED = textwrap.dedent('''
    import numpy as np
    import tvmini as tm
    from tvmini import te
    from tvmini.codegen.llvm_target import vector_bits
    from tvmini.testing.guard import guarded_array

    L = vector_bits() // 32
    rows, cols = 3 * L, 2 * L
    A = te.placeholder((cols, rows), name="A")
    T = te.compute((rows, cols), lambda k, j: A[j, k], name="T")
    s = te.create_schedule(T.op)
    s[T].vectorize(T.op.axis[1])
    f = tm.build(s, [A, T], name="rt_guarded")
    assert "shufflevector" in f.get_source("ll")
    a = np.random.rand(cols, rows).astype("float32")
    for where in ("end", "start"):
        ga = guarded_array(a.shape, a.dtype, where=where)
        ga[...] = a
        t = guarded_array((rows, cols), "float32", where=where)
        f(ga, t)
        np.testing.assert_array_equal(t, a.T)
    print("ok")
''')


def test_transposes_stay_inside_buffers():
    assert_no_fault(GUARDED, timeout=120)
