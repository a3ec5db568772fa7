"""Gaps a PyTorch user found in nn: softmax's implicit dim and ``dtype=`` (and sum/mean's
``dtype=``), BCE-with-logits' ``pos_weight``/``weight``, and new layers (PReLU, SELU,
CELU, GLU, Softmin, Threshold, Tanhshrink, Softshrink, Hardshrink, CosineSimilarity,
PairwiseDistance, AdaptiveAvgPool1d, ConvTranspose1d): values against formulas and
PyTorch, gradients against finite differences in float64, errors naming the op."""
import warnings

import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import DTypeError, TVMiniError
from graph_gradcheck import check_grad

RNG = np.random.default_rng(0)


def _implicit(ndim):
    return 0 if ndim in (0, 1, 3) else 1


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("shape", [(), (1,), (4,), (2, 3), (3, 1), (2, 3, 4), (2, 1, 3, 2)])
def test_softmax_without_dim_uses_pytorchs_implicit_dim_and_warns(shape):
    x = np.asarray(RNG.standard_normal(shape), dtype="float32")
    want = _np_softmax(x, _implicit(len(shape)) if shape else None)
    for fn, log in [(F.softmax, False), (F.log_softmax, True), (nn.Softmax(), False), (nn.LogSoftmax(), True),
                    (nn.Softmax(dim=None), False)]:
        with pytest.warns(UserWarning, match="Implicit dimension choice for (log_)?softmax has been deprecated"):
            got = fn(tm.tensor(x)).numpy()
        np.testing.assert_allclose(got, np.log(want) if log else want, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # an explicit dim warns nothing
        F.softmax(tm.tensor(x), -1 if shape else 0)


def test_softmax_implicit_dim_matches_pytorch():
    torch = pytest.importorskip("torch")
    for shape in [(), (5,), (2, 3), (2, 3, 4), (2, 3, 4, 2)]:
        x = np.asarray(RNG.standard_normal(shape))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = torch.nn.functional.log_softmax(torch.tensor(x)).numpy()
            got = F.log_softmax(tm.tensor(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_softmax_dtype_casts_the_input_first():
    x = tm.tensor(np.arange(6).reshape(2, 3))               # int64: softmax needs dtype=
    for out in (F.softmax(x, 1, dtype="float64"), F.softmax(x, dim=1, dtype=tm.float64), x.softmax(1, dtype="float64"),
                tm.softmax(x, 1, dtype="float64")):
        assert out.dtype == "float64"
        np.testing.assert_allclose(out.numpy(), _np_softmax(np.arange(6.0).reshape(2, 3), 1), rtol=1e-12)
    assert F.log_softmax(x.float(), 0, dtype="float64").dtype == "float64"
    assert x.float().log_softmax(0, dtype="float64").dtype == "float64"
    assert F.softmax(x.float(), 1, 3, "float64").dtype == "float64"       # PyTorch's positional order
    with pytest.raises(DTypeError, match="softmax: expects floating-point"):
        F.softmax(x, 1)
    with pytest.raises(TVMiniError, match="log_softmax: give axis= or dim="):
        F.log_softmax(x.float(), 0, dim=1)
    check_grad(lambda t: F.softmax(t, 0, dtype="float64") * t, RNG.standard_normal((3, 2)))


def test_sum_and_mean_dtype_cast_the_input_first():
    torch = pytest.importorskip("torch")
    x = np.array([[1, 2, 3], [4, 5, 250]], dtype="int32")
    t, r = tm.tensor(x), torch.tensor(x)
    cases = [(t.sum(dtype="float32"), r.sum(dtype=torch.float32)), (t.sum(1, dtype="int32"), r.sum(1, dtype=torch.int32)),
             (tm.sum(t, dtype="float64"), torch.sum(r, dtype=torch.float64)),
             (t.mean(1, dtype="float32"), r.mean(1, dtype=torch.float32)),
             (tm.mean(t, dim=0, keepdim=True, dtype="float64"), torch.mean(r, dim=0, keepdim=True, dtype=torch.float64)),
             (tm.tensor(x.astype("float64")).sum(dtype="int64"), torch.tensor(x.astype("float64")).sum(dtype=torch.int64))]
    for got, want in cases:
        assert got.dtype == str(want.dtype).replace("torch.", "")
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(DTypeError, match="mean"):
        t.mean(dtype="int64")
    check_grad(lambda v: v.sum(0, dtype="float64") * 2 + v.mean(dtype="float64"), RNG.standard_normal((2, 3)))
