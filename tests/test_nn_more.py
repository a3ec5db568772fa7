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
    cases = [(t.sum(dtype="float32"), r.sum(dtype=torch.float32)),
             (t.sum(1, dtype="int32"), r.sum(1, dtype=torch.int32)),
             (tm.sum(t, dtype="float64"), torch.sum(r, dtype=torch.float64)),
             (t.mean(1, dtype="float32"), r.mean(1, dtype=torch.float32)),
             (tm.mean(t, dim=0, keepdim=True, dtype="float64"),
              torch.mean(r, dim=0, keepdim=True, dtype=torch.float64)),
             (tm.tensor(x.astype("float64")).sum(dtype="int64"),
              torch.tensor(x.astype("float64")).sum(dtype=torch.int64))]
    for got, want in cases:
        assert got.dtype == str(want.dtype).replace("torch.", "")
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(DTypeError, match="mean"):
        t.mean(dtype="int64")
    check_grad(lambda v: v.sum(0, dtype="float64") * 2 + v.mean(dtype="float64"), RNG.standard_normal((2, 3)))


# ---------------------------------------------------------------- BCE with logits, embedding max_norm

def _np_bce(x, t, pos_weight=1.0, weight=1.0):
    log_sig, log_one_minus = -np.logaddexp(0, -x), -np.logaddexp(0, x)
    return -weight * (pos_weight * t * log_sig + (1 - t) * log_one_minus)


def test_bce_with_logits_pos_weight_and_weight_formula_and_gradients():
    x, t = RNG.standard_normal((4, 3)) * 3, (RNG.random((4, 3)) > 0.5) * 1.0
    pw, w = RNG.random(3) + 0.5, RNG.random((4, 1))
    x[0, 0] = 0.0                                       # the kink of the plain formula
    got = F.binary_cross_entropy_with_logits(tm.tensor(x), tm.tensor(t), "none", pos_weight=tm.tensor(pw),
                                             weight=tm.tensor(w))
    np.testing.assert_allclose(got.numpy(), _np_bce(x, t, pw, w), rtol=1e-12)
    loss = nn.BCEWithLogitsLoss(pos_weight=tm.tensor(pw), reduction="sum")(tm.tensor(x), tm.tensor(t))
    np.testing.assert_allclose(loss.item(), _np_bce(x, t, pw).sum(), rtol=1e-12)
    check_grad(lambda a, b, p: F.binary_cross_entropy_with_logits(a, b, pos_weight=p, weight=tm.tensor(w)),
               x, RNG.random((4, 3)), pw)
    big = F.binary_cross_entropy_with_logits(tm.tensor([[-200.0, 200.0]]), tm.tensor([[1.0, 0.0]]), "none",
                                             pos_weight=tm.tensor([3.0, 2.0]))
    np.testing.assert_allclose(big.numpy(), [[600.0, 200.0]])      # stable: no inf or NaN


def test_bce_with_logits_weights_match_pytorch():
    torch = pytest.importorskip("torch")
    x, t = RNG.standard_normal((2, 5, 3)), RNG.random((2, 5, 3))
    for kw in [{"pos_weight": RNG.random(3) + 0.2}, {"weight": RNG.random((5, 1))},
               {"pos_weight": RNG.random((1, 3)), "weight": RNG.random(3)}]:
        for reduction in ("mean", "sum", "none"):
            tx, rx = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            got = F.binary_cross_entropy_with_logits(tx, tm.tensor(t), reduction,
                                                     **{k: tm.tensor(v) for k, v in kw.items()})
            want = torch.nn.functional.binary_cross_entropy_with_logits(
                rx, torch.tensor(t), reduction=reduction, **{k: torch.tensor(v) for k, v in kw.items()})
            np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
            got.sum().backward()
            want.sum().backward()
            np.testing.assert_allclose(tx.grad.numpy(), rx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_bce_with_logits_weight_errors_name_the_op():
    x = tm.zeros(4, 3)
    with pytest.raises(TVMiniError, match="binary_cross_entropy_with_logits: pos_weight of shape \\(4,\\) does not "
                                          "broadcast"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=tm.ones(4))
    with pytest.raises(TVMiniError, match="binary_cross_entropy_with_logits: weight of shape \\(2, 4, 3\\)"):
        F.binary_cross_entropy_with_logits(x, x, weight=tm.ones(2, 4, 3))
    with pytest.raises(DTypeError, match="binary_cross_entropy_with_logits: weight must be a Tensor"):
        F.binary_cross_entropy_with_logits(x, x, weight=2.0)
    with pytest.raises(DTypeError, match="binary_cross_entropy_with_logits: operands have different dtypes"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=tm.ones(3, dtype="float64"))


def test_embedding_max_norm_renormalizes_the_picked_rows_in_place():
    w = RNG.standard_normal((5, 3)) * 2
    index = np.array([[0, 2], [2, 4]])
    table = tm.tensor(w.copy(), requires_grad=True)
    out = F.embedding(tm.tensor(index), table, max_norm=1.5, norm_type=3)
    norms = (np.abs(w) ** 3).sum(1) ** (1 / 3)
    scale = np.where(np.isin(np.arange(5), index) & (norms > 1.5), 1.5 / (norms + 1e-7), 1.0)
    np.testing.assert_allclose(table.numpy(), w * scale[:, None], rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), (w * scale[:, None])[index], rtol=1e-12)
    out.sum().backward()
    np.testing.assert_array_equal(table.grad.numpy()[:, 0], np.bincount(index.ravel(), minlength=5))
    layer = nn.Embedding(6, 4, max_norm=1.0)
    layer(tm.tensor(np.array([1, 3])))
    assert np.all(np.linalg.norm(layer.weight.numpy()[[1, 3]], axis=1) <= 1.0 + 1e-6)
    with pytest.raises(TVMiniError, match="embedding: sparse=True asks for a sparse gradient"):
        F.embedding(tm.tensor(index), table, sparse=True)


def test_embedding_max_norm_matches_pytorch():
    torch = pytest.importorskip("torch")
    w, index = RNG.standard_normal((6, 4)) * 3, np.array([5, 0, 5, 2])
    table, ref = tm.tensor(w.copy(), requires_grad=True), torch.tensor(w.copy(), requires_grad=True)
    got = F.embedding(tm.tensor(index), table, padding_idx=0, max_norm=2.0)
    want = torch.nn.functional.embedding(torch.tensor(index), ref, padding_idx=0, max_norm=2.0)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(table.numpy(), ref.detach().numpy(), rtol=1e-12)
    (got * got).sum().backward()
    (want * want).sum().backward()
    np.testing.assert_allclose(table.grad.numpy(), ref.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- new activation layers

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# name -> (tvmini layer for a dtype, numpy formula, PyTorch layer name and arguments)
UNARY = {
    "SELU": (lambda d: nn.SELU(), lambda v: SELU_SCALE * np.where(v > 0, v, SELU_ALPHA * np.expm1(v)), ("SELU", ())),
    "CELU": (lambda d: nn.CELU(0.7), lambda v: np.where(v > 0, v, 0.7 * np.expm1(v / 0.7)), ("CELU", (0.7,))),
    "Threshold": (lambda d: nn.Threshold(0.1, -2.0), lambda v: np.where(v > 0.1, v, -2.0), ("Threshold", (0.1, -2.0))),
    "Tanhshrink": (lambda d: nn.Tanhshrink(), lambda v: v - np.tanh(v), ("Tanhshrink", ())),
    "Softshrink": (lambda d: nn.Softshrink(0.3), lambda v: np.where(v > 0.3, v - 0.3, np.where(v < -0.3, v + 0.3, 0)),
                   ("Softshrink", (0.3,))),
    "Hardshrink": (lambda d: nn.Hardshrink(), lambda v: np.where(np.abs(v) > 0.5, v, 0), ("Hardshrink", ())),
    "Softmin": (lambda d: nn.Softmin(1), lambda v: _np_softmax(-v, 1), ("Softmin", (1,))),
    "GLU": (lambda d: nn.GLU(1), lambda v: v[:, :v.shape[1] // 2] / (1 + np.exp(-v[:, v.shape[1] // 2:])),
            ("GLU", (1,))),
    "PReLU": (lambda d: nn.PReLU(dtype=d), lambda v: np.where(v > 0, v, 0.25 * v), ("PReLU", ())),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(3, 4), (1, 2, 1), (2, 6, 3)])
def test_activation_layers_match_formulas_and_pytorch(name, shape):
    make, formula, (torch_name, args) = UNARY[name]
    layer = make("float64")
    x = RNG.standard_normal(shape) * 2
    x.flat[0] = 0.3                         # a boundary of Softshrink (|x| == lambd: 0)
    np.testing.assert_allclose(layer(tm.tensor(x)).numpy(), formula(x), rtol=1e-12, atol=1e-15)
    got32 = make("float32")(tm.tensor(x.astype("float32")))
    assert got32.dtype == "float32"
    np.testing.assert_allclose(got32.numpy(), formula(x), rtol=2e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    want = getattr(torch.nn, torch_name)(*args).double()(torch.tensor(x))
    np.testing.assert_allclose(layer(tm.tensor(x)).numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_activation_layers_gradients(name):
    layer = UNARY[name][0]("float64")
    x = RNG.standard_normal((2, 4, 3))
    x[np.abs(np.abs(x) - 0.5) < 1e-3] += 0.01           # keep clear of the kinks
    check_grad(lambda t: layer(t), x)


def test_functional_forms_and_kinks_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, -0.5, -0.3, 0.0, 0.1, 0.3, 0.5, 2.0])
    for fn, args in [("softshrink", (0.5,)), ("hardshrink", (0.3,)), ("threshold", (0.1, 7.0)), ("celu", (2.0,)),
                     ("selu", ()), ("tanhshrink", ())]:
        t, r = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        got, want = getattr(F, fn)(t, *args), getattr(torch.nn.functional, fn)(r, *args)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12, err_msg=fn)
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-12, err_msg=fn)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        got = F.softmin(tm.tensor(x))
    np.testing.assert_allclose(got.numpy(), torch.nn.functional.softmin(torch.tensor(x), 0).numpy(), rtol=1e-12)
    assert F.softmin(tm.tensor(x.astype("float32")), 0, dtype="float64").dtype == "float64"


def test_prelu_learns_its_slopes_per_channel():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 4))
    x[0, 0, 0] = 0.0                                    # PyTorch: the slope's branch at 0
    layer, ref = nn.PReLU(3, init=0.1, dtype="float64"), torch.nn.PReLU(3).double()
    np.testing.assert_array_equal(layer.weight.numpy(), [0.1] * 3)
    ref.weight.data = torch.tensor(layer.weight.numpy())        # PyTorch's init is a float32 0.1
    t, r = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = layer(t), ref(r)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    (got * got).sum().backward()
    (want * want).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-12)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    check_grad(lambda v, w: F.prelu(v, w), RNG.standard_normal((2, 3, 2)), np.array([0.2, -0.1, 0.5]))
    check_grad(lambda v, w: F.prelu(v, w), RNG.standard_normal(5), np.array([0.3]))
    with pytest.raises(TVMiniError, match="prelu: weight of shape \\(2,\\) must hold 1 slope or one per channel"):
        F.prelu(tm.tensor(x), tm.ones(2, dtype="float64"))


def test_glu_errors_and_similarity_layers():
    with pytest.raises(TVMiniError, match="glu: halving dimension 1 of a tensor of shape \\(2, 3\\)"):
        F.glu(tm.zeros(2, 3), 1)
    with pytest.raises(TVMiniError, match="glu"):
        nn.GLU()(tm.tensor(1.0))
    with pytest.raises(TVMiniError, match="softshrink: lambd must be at least 0"):
        F.softshrink(tm.zeros(2), -1.0)
    with pytest.raises(TVMiniError, match="celu: alpha must not be 0"):
        F.celu(tm.zeros(2), 0.0)
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    cos = nn.CosineSimilarity(dim=1)(tm.tensor(a), tm.tensor(b)).numpy()
    np.testing.assert_allclose(cos, (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1), rtol=1e-12)
    dist = nn.PairwiseDistance(p=1.0, keepdim=True)(tm.tensor(a), tm.tensor(b)).numpy()
    np.testing.assert_allclose(dist, np.abs(a - b + 1e-6).sum(1, keepdims=True), rtol=1e-12)
    assert repr(nn.PairwiseDistance()) == "PairwiseDistance(p=2.0, eps=1e-06, keepdim=False)"


# ---------------------------------------------------------------- 1-D pooling and transposed convolution

def test_adaptive_avg_pool1d_and_conv_transpose1d_match_pytorch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 4, 7))
    for size in (1, 3, 7, 10):
        for inp in (x, x[0]):
            want = torch.nn.AdaptiveAvgPool1d(size)(torch.tensor(inp)).numpy()
            np.testing.assert_allclose(nn.AdaptiveAvgPool1d(size)(tm.tensor(inp)).numpy(), want, rtol=1e-12)
    check_grad(lambda t: F.adaptive_avg_pool1d(t, 3), x[:1])
    for kw in [{}, {"stride": 2, "padding": 1, "output_padding": 1}, {"groups": 2, "dilation": 2, "bias": False}]:
        layer = nn.ConvTranspose1d(4, 6, 3, dtype="float64", **kw)
        ref = torch.nn.ConvTranspose1d(4, 6, 3, **kw).double()
        ref.weight.data = torch.tensor(layer.weight.numpy())
        if layer.bias is not None:
            ref.bias.data = torch.tensor(layer.bias.numpy())
        for inp in (x, x[0]):
            np.testing.assert_allclose(layer(tm.tensor(inp)).numpy(), ref(torch.tensor(inp)).detach().numpy(),
                                       rtol=1e-10, atol=1e-12)
    assert layer.weight.shape == (4, 3, 3) and layer.kernel_size == (3,)
    check_grad(lambda t, w: F.conv_transpose1d(t, w, stride=2), x[:1, :, :3], RNG.standard_normal((4, 2, 2)))
    with pytest.raises(TVMiniError, match="conv_transpose1d: weight of shape"):
        F.conv_transpose1d(tm.tensor(x), tm.zeros(4, 2, 1, 1, dtype="float64"))
