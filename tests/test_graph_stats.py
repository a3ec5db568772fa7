"""Statistics, norms and lookups of the graph layer (tvmini.graph.stat_ops and
index_ops): var/std/logsumexp/norm/argmin/any/all against numpy on hypothesis shapes and
dims, gradients against central finite differences, LayerNorm and Embedding against
their formulas (and PyTorch when installed), and index checks."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from graph_gradcheck import check_grad
from strategies import examples


def _case(data):
    shape = tuple(data.draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3), label="shape"))
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    x = np.random.default_rng(len(shape)).normal(0, 3, shape)
    return x, dim, keepdim


@examples(20)
@given(st.data())
def test_statistics_match_numpy(data):
    x, dim, keepdim = _case(data)
    t = tm.tensor(x)
    n = x.size if dim is None else x.shape[dim]
    for correction in (0, 1):
        want = np.var(x, axis=dim, keepdims=keepdim, ddof=correction) if n > correction else np.full(
            np.var(x, axis=dim, keepdims=keepdim).shape, np.nan)
        np.testing.assert_allclose(t.var(dim, correction, keepdim).numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.std(dim, 0, keepdim).numpy(), np.std(x, axis=dim, keepdims=keepdim), rtol=1e-12)
    for p, ord_ in ((2, 2), (1, 1), (math.inf, np.inf), (3, 3)):
        want = np.linalg.norm(x.reshape(-1) if dim is None else x, ord=ord_, axis=None if dim is None else dim)
        got = t.norm(p, dim, keepdim).numpy()
        np.testing.assert_allclose(got.reshape(np.shape(want)), want, rtol=1e-12)
    if dim is not None:
        want = np.log(np.sum(np.exp(x), axis=dim, keepdims=keepdim))
        np.testing.assert_allclose(t.logsumexp(dim, keepdim).numpy(), want, rtol=1e-12)
        np.testing.assert_array_equal(t.argmin(dim, keepdim).numpy(), np.argmin(x, axis=dim, keepdims=keepdim))
    else:
        assert int(t.argmin()) == np.argmin(x)
    b = x > 0.5
    np.testing.assert_array_equal(tm.tensor(b).any(dim, keepdim).numpy(), np.any(b, axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(tm.tensor(b).all(dim, keepdim).numpy(), np.all(b, axis=dim, keepdims=keepdim))
    ints = np.round(x).astype("int64")
    np.testing.assert_array_equal(tm.tensor(ints).all(dim, keepdim).numpy(), np.all(ints, axis=dim, keepdims=keepdim))


def test_statistic_gradients_match_finite_differences():
    x = np.random.default_rng(0).normal(0, 1, (3, 4))
    check_grad(lambda t: t.var(1), x)
    check_grad(lambda t: t.std(0, correction=0), x)
    check_grad(lambda t: t.logsumexp(-1, keepdim=True), x)
    check_grad(lambda t: t.norm(), x)
    check_grad(lambda t: t.norm(3, dim=0), x)
    check_grad(lambda t: F.layer_norm(t, (4,)), x)


def test_logsumexp_is_stable():
    x = tm.tensor(np.array([[1000.0, 1000.0], [-1000.0, -1001.0]], "float32"))
    np.testing.assert_allclose(x.logsumexp(1).numpy(), [1000 + math.log(2), -1000 + math.log1p(math.exp(-1))],
                               rtol=1e-6)


def test_layer_norm_formula_module_and_gradients():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * w + b
    got = F.layer_norm(tm.tensor(x), (3, 4), tm.tensor(w), tm.tensor(b))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    check_grad(lambda t, u, v: F.layer_norm(t, (3, 4), u, v), x, w, b)
    layer = nn.LayerNorm(4)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert not list(nn.LayerNorm(4, elementwise_affine=False).parameters())
    with pytest.raises(tm.ShapeError, match="trailing shape"):
        F.layer_norm(tm.tensor(x), (4, 3))


def test_embedding_lookup_gradient_and_padding():
    weight = np.random.default_rng(2).normal(size=(5, 3))
    index = np.array([[0, 4, 4], [2, 0, 1]])
    got = F.embedding(tm.tensor(index), tm.tensor(weight))
    np.testing.assert_array_equal(got.numpy(), weight[index])
    check_grad(lambda w: F.embedding(tm.tensor(index), w), weight)       # repeated rows accumulate
    w = tm.tensor(weight, requires_grad=True)
    F.embedding(tm.tensor(index), w, padding_idx=4).sum().backward()
    counts = np.bincount(index.reshape(-1), minlength=5).astype(float)
    counts[4] = 0
    np.testing.assert_array_equal(w.grad.numpy(), np.repeat(counts[:, None], 3, axis=1))
    layer = nn.Embedding(10, 4, padding_idx=-1)
    assert layer.padding_idx == 9 and not layer.weight.numpy()[9].any() and layer.weight.numpy()[:9].std() > 0.3
    assert layer(tm.tensor(np.array([1, 9]))).shape == (2, 4)


def test_index_select_and_out_of_range_indices():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(tm.tensor(x).index_select(1, tm.tensor(np.array([3, 0, 3]))).numpy(),
                                  x[:, [3, 0, 3]])
    np.testing.assert_array_equal(tm.index_select(tm.tensor(x), 0, [2, 1]).numpy(), x[[2, 1]])
    with pytest.raises(IndexError, match="index 3 is out of range for an axis of extent 3"):
        tm.tensor(x).index_select(0, tm.tensor(np.array([0, 3])))
    with pytest.raises(tm.ShapeError, match="index -1 is out of range"):
        F.embedding(tm.tensor(np.array([-1])), tm.tensor(x))
    with pytest.raises(tm.DTypeError, match="int32 or int64"):
        tm.tensor(x).index_select(0, tm.tensor(np.array([0.0])))


def test_embedding_trains_under_jit():
    """An embedding bag classifier's jitted step gives the eager losses."""
    tokens = tm.tensor(np.random.default_rng(3).integers(0, 20, (8, 5)))
    labels = tm.tensor(np.arange(8) % 3)
    losses = {}
    for mode in ("eager", "jit"):
        tm.manual_seed(0)
        emb, head = nn.Embedding(20, 6), nn.Linear(6, 3)
        opt = tm.optim.SGD(list(emb.parameters()) + list(head.parameters()), lr=0.5)

        def step(t, y):
            opt.zero_grad()
            loss = F.cross_entropy(head(emb(t).mean(1)), y)
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if mode == "jit" else step
        losses[mode] = [float(run(tokens, labels)) for _ in range(4)]
    np.testing.assert_allclose(losses["jit"], losses["eager"], rtol=1e-5)
    assert losses["eager"][-1] < losses["eager"][0]


def test_layer_norm_and_embedding_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).normal(size=(4, 6))
    t, q = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    w = np.random.default_rng(5).normal(size=6)
    (F.layer_norm(t, (6,), tm.tensor(w)) ** 2).sum().backward()
    (torch.nn.functional.layer_norm(q, (6,), torch.tensor(w)) ** 2).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.var(0).numpy(), q.var(0).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.logsumexp(1).numpy(), torch.logsumexp(q, 1).detach().numpy(), rtol=1e-12)


def test_infinite_rows_and_zero_gradients_as_pytorch():
    """logsumexp of an all -inf row is -inf and of a row holding +inf is +inf (they were
    NaN: the shift subtracted an infinite maximum); norm and std at 0 have gradient 0
    (it was 0 * inf = NaN)."""
    x = tm.tensor(np.array([[0.0, 1.0], [-np.inf, -np.inf], [np.inf, 1.0]]))
    np.testing.assert_array_equal(x.logsumexp(1).numpy()[1:], [-np.inf, np.inf])
    for fn in (lambda t: t.norm(dim=1), lambda t: t.std(1), lambda t: t.std(1, correction=0), lambda t: t.norm()):
        t = tm.tensor(np.zeros((2, 3)), requires_grad=True)
        fn(t).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), np.zeros((2, 3)))
    check_grad(lambda t: t.norm(dim=1), np.array([[0.5, -1.0], [2.0, 0.1]]))
