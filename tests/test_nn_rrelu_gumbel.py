"""``F.rrelu``/``nn.RReLU``, ``F.gumbel_softmax`` and the in-place functional aliases
(``F.relu_ elu_ leaky_relu_ hardtanh_ selu_ celu_ threshold_ rrelu_``): values against
PyTorch (evaluation slopes, in-place results), the random parts checked by their
distribution and by seeding, gradients against PyTorch's and central differences in
float64, errors, jit and the emulated GPU."""
import numpy as np
import pytest

import tvmini as tm
import tvmini.nn as nn
import tvmini.nn.functional as F
from graph_gradcheck import check_grad

torch = pytest.importorskip("torch")
X = np.random.default_rng(0).standard_normal((3, 5))


def test_rrelu_evaluation_matches_torch():
    for lower, upper in ((1 / 8, 1 / 3), (0.1, 0.1), (0.0, 0.5)):
        got = F.rrelu(tm.tensor(X), lower, upper, training=False)
        want = torch.nn.functional.rrelu(torch.tensor(X), lower, upper, training=False)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-15)
        layer = nn.RReLU(lower, upper).eval()
        np.testing.assert_allclose(layer(tm.tensor(X)).numpy(), want.numpy(), rtol=1e-15)
    check_grad(lambda a: F.rrelu(a, 0.2, 0.4), X)


def test_rrelu_training_draws_slopes_in_range():
    tm.manual_seed(5)
    x = -np.abs(np.random.default_rng(1).standard_normal(4000)) - 0.1
    got = F.rrelu(tm.tensor(x), 0.2, 0.6, training=True).numpy()
    slopes = got / x
    assert slopes.min() >= 0.2 and slopes.max() <= 0.6
    assert abs(slopes.mean() - 0.4) < 0.01 and abs(slopes.std() - 0.4 / np.sqrt(12)) < 0.01
    positive = F.rrelu(tm.tensor(np.abs(x)), training=True).numpy()
    np.testing.assert_array_equal(positive, np.abs(x))
    tm.manual_seed(5)
    np.testing.assert_array_equal(nn.RReLU(0.2, 0.6)(tm.tensor(x)).numpy(), got)     # a module trains by default

    def seeded(a):
        tm.manual_seed(11)
        return F.rrelu(a, training=True)
    check_grad(seeded, X)
    leaf = tm.tensor(X, requires_grad=True)
    out = seeded(leaf)
    out.sum().backward()
    expected = np.where(X > 0, 1.0, out.numpy() / X)
    np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=1e-12)


def test_gumbel_softmax_samples_the_softmax_distribution():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    batch = tm.tensor(np.tile(logits, (4000, 1)))
    tm.manual_seed(2)
    hard = F.gumbel_softmax(batch, tau=0.5, hard=True)
    values = hard.numpy()
    assert set(np.unique(values)) == {0.0, 1.0} and (values.sum(1) == 1).all()
    np.testing.assert_allclose(values.mean(0), [0.1, 0.2, 0.3, 0.4], atol=0.03)
    soft = F.gumbel_softmax(batch, tau=2.0).numpy()
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-12)
    assert (soft > 0).all()
    tm.manual_seed(2)
    np.testing.assert_array_equal(F.gumbel_softmax(batch, tau=0.5, hard=True, dim=1).numpy(), values)


def test_gumbel_softmax_gradients():
    head = tm.tensor(np.random.default_rng(3).uniform(0.5, 1.5, X.shape))
    grads = []
    for hard in (False, True):
        leaf = tm.tensor(X, requires_grad=True)
        tm.manual_seed(4)
        out = F.gumbel_softmax(leaf, tau=0.7, hard=hard, dim=0)
        (out * head).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)        # straight-through: the soft sample's

    def seeded(a):
        tm.manual_seed(4)
        return F.gumbel_softmax(a, tau=0.7, dim=0)
    check_grad(seeded, X)
    # the soft sample is softmax((logits + g) / tau): PyTorch's softmax of the same shifted logits
    tm.manual_seed(4)
    sample = seeded(tm.tensor(X)).numpy()
    noise = np.log(sample) * 0.7 - X                      # g up to a per-column constant
    ref = torch.softmax((torch.tensor(X) + torch.tensor(noise)) / 0.7, 0).numpy()
    np.testing.assert_allclose(sample, ref, rtol=1e-12)


@pytest.mark.parametrize("name, args", [("relu_", ()), ("elu_", (0.7,)), ("leaky_relu_", (0.2,)),
                                        ("hardtanh_", (-0.5, 0.8)), ("selu_", ()), ("celu_", (1.3,)),
                                        ("threshold_", (0.1, -2.0))])
def test_in_place_aliases_match_torch(name, args):
    x = tm.tensor(X)
    assert getattr(F, name)(x, *args) is x
    want = torch.tensor(X)
    getattr(torch.nn.functional, name)(want, *args)
    np.testing.assert_allclose(x.numpy(), want.numpy(), rtol=1e-14)
    leaf, ref = tm.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    y = leaf * 1.5
    getattr(F, name)(y, *args)
    r = ref * 1.5
    getattr(torch.nn.functional, name)(r, *args)
    y.sum().backward()
    r.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=1e-7)      # celu's: ~4e-8 off


def test_rrelu_in_place():
    x = tm.tensor(X)
    assert F.rrelu_(x, 0.25, 0.25) is x
    np.testing.assert_allclose(x.numpy(), np.where(X > 0, X, 0.25 * X), rtol=1e-15)
    tm.manual_seed(9)
    y = tm.tensor(X)
    F.rrelu_(y, training=True)
    tm.manual_seed(9)
    np.testing.assert_array_equal(y.numpy(), F.rrelu(tm.tensor(X), training=True).numpy())


def test_errors_as_pytorch():
    with pytest.raises(tm.ArgumentError, match="rrelu: lower bound 0.5 must be less than or equal"):
        F.rrelu(tm.tensor(X), 0.5, 0.1)
    with pytest.raises(tm.DTypeError, match="rrelu"):
        F.rrelu(tm.tensor([1, 2]))
    with pytest.raises(tm.ArgumentError, match="gumbel_softmax: tau must be positive"):
        F.gumbel_softmax(tm.tensor(X), tau=0.0)
    with pytest.raises(tm.IndexingError, match="gumbel_softmax: axis 2 is out of range"):
        F.gumbel_softmax(tm.tensor(X), dim=2)
    leaf = tm.tensor(X, requires_grad=True)
    with pytest.raises(tm.TVMiniError, match="in-place elu_"):
        F.elu_(leaf)


def test_jit_step_draws_anew_and_matches_eager_in_eval():
    layer = nn.RReLU()

    def step(a):
        return layer(a).sum() + F.gumbel_softmax(a, hard=True).sum()
    jitted = tm.jit(step)
    x = tm.tensor(-np.abs(X))
    first, second = jitted(x).item(), jitted(x).item()
    assert first != second                              # new slopes at every replay
    layer.eval()
    np.testing.assert_allclose(tm.jit(lambda a: layer(a) * 2.0)(x).numpy(), (layer(x) * 2.0).numpy(), rtol=1e-15)


def test_on_the_emulated_gpu(emulated_gpu):
    x = X.astype("float32")
    got = F.rrelu(tm.tensor(x, device="cuda"), 0.1, 0.3, training=True).numpy()
    slopes = got[x < 0] / x[x < 0]
    assert got.dtype == np.float32 and (slopes >= 0.1 - 1e-6).all() and (slopes <= 0.3 + 1e-6).all()
    hard = F.gumbel_softmax(tm.tensor(x, device="cuda"), hard=True)
    assert hard.device.kind == "cuda" and (hard.numpy().sum(-1) == 1).all()
    assert emulated_gpu.launches
