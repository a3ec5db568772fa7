"""Scalar arguments: a ``te.var`` listed among ``build``'s arguments is passed by value.

Optimizers pass their learning rate this way so that a scheduler never recompiles.
"""
import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from tvmini.errors import BuildError, DTypeError, ShapeError
from tvmini.testing import reference


def axpy(parallel):
    n = te.var("n")
    lr = te.var("lr", dtype="float32")
    seed = te.var("seed", dtype="int64")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * lr + seed.astype("float32"), name="B")
    s = te.create_schedule(B.op)
    if parallel:
        xo, _ = s[B].split(B.op.axis[0], factor=4)
        s[B].parallel(xo)
    return s, [A, lr, B, seed]


@pytest.mark.parametrize("parallel", [False, True])
def test_scalars_reach_the_kernel_in_argument_order(parallel):
    s, args = axpy(parallel)
    f = tm.build(s, args, name=f"axpy_{parallel}")
    a = np.arange(13, dtype="float32")
    b = np.zeros(13, "float32")
    for lr, seed in [(0.5, 3), (-2.25, -7), (1e-4, 2**40)]:
        f(a, lr, b, seed)
        np.testing.assert_allclose(b, a * np.float32(lr) + np.float32(seed), rtol=1e-6)
    A, lr_var, B, seed_var = args
    want = reference([B], {A: a, A.shape[0]: 13, lr_var: 0.5, seed_var: 3})[0]
    f(a, 0.5, b, 3)
    np.testing.assert_allclose(b, want, rtol=1e-6)


def test_signature_lists_scalars_where_they_were_given():
    s, args = axpy(False)
    f = tm.build(s, args, name="axpy_sig")
    assert [spec.name for spec in f.arg_specs] == ["A", "lr", "B", "seed"]
    assert [spec.scalar for spec in f.arg_specs] == [False, True, False, True]
    assert "lr: float32" in repr(f)


def test_scalar_argument_errors_name_the_argument():
    s, args = axpy(False)
    f = tm.build(s, args, name="axpy_err")
    a, b = np.ones(4, "float32"), np.zeros(4, "float32")
    with pytest.raises(DTypeError, match="lr is a float32 scalar, got str"):
        f(a, "0.1", b, 1)
    with pytest.raises(DTypeError, match="seed is a int64 scalar, got float"):
        f(a, 0.1, b, 1.5)
    with pytest.raises(DTypeError, match="lr"):
        f(a, True, b, 1)
    with pytest.raises(ShapeError, match="seed = .* does not fit in int64"):
        f(a, 0.1, b, 2**70)
    with pytest.raises(tm.ValueOverflowError, match="scalar lr, an int of 1329 bits, is past the range of float32"):
        f(a, 10**400, b, 1)        # passed on, it failed inside ctypes ("argument 2: wrong type")
    assert not b.any()
    f(a, 2**100, b, 0)                  # an int a float holds is passed as that float
    np.testing.assert_array_equal(b, np.float32(2.0**100))


def test_shape_extent_cannot_also_be_a_scalar_argument():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    with pytest.raises(BuildError, match="n is an extent"):
        tm.build(te.create_schedule(B.op), [A, B, n])


def test_unlisted_scalar_is_a_build_error():
    lr = te.var("lr", dtype="float32")
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] * lr, name="B")
    with pytest.raises(BuildError, match="lr"):
        tm.build(te.create_schedule(B.op), [A, B])


def test_exported_library_keeps_scalar_arguments(tmp_path):
    s, args = axpy(True)
    f = tm.build(s, args, name="axpy_export")
    path = f.export_library(str(tmp_path / "axpy.so"))
    g = tm.runtime.load_module(path)
    a, b = np.arange(9, dtype="float32"), np.zeros(9, "float32")
    g(a, 2.0, b, 1)
    np.testing.assert_allclose(b, a * 2 + 1)
