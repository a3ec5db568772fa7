"""nn.init's structured initialisations: trunc_normal_, orthogonal_, eye_, dirac_ and
sparse_, against their defining properties (and PyTorch's where it is installed)."""
import math

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn
from tvmini.errors import ShapeError, TVMiniError

F = nn.functional


def test_trunc_normal_stays_inside_its_bounds_with_the_truncated_moments():
    tm.manual_seed(0)
    t = nn.init.trunc_normal_(tm.empty(200, 100), mean=0.5, std=1.0, a=-0.5, b=2.0)
    values = t.numpy()
    assert values.min() >= -0.5 and values.max() <= 2.0
    # moments of N(0.5, 1) truncated to [-1, 1.5] standard units
    alpha, beta = -1.0, 1.5
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    mass = cdf(beta) - cdf(alpha)
    mean = 0.5 + (pdf(alpha) - pdf(beta)) / mass
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - ((pdf(alpha) - pdf(beta)) / mass) ** 2
    assert abs(values.mean() - mean) < 0.02 and abs(values.var() - var) < 0.02
    with pytest.raises(TVMiniError, match="a < b"):
        nn.init.trunc_normal_(tm.empty(3), a=1.0, b=0.0)


@pytest.mark.parametrize("shape", [(6, 6), (3, 8), (8, 3), (4, 2, 3, 3), (1, 5)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    tm.manual_seed(1)
    w = nn.init.orthogonal_(tm.empty(*shape), gain=2.0).numpy().reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-5)
    with pytest.raises(ShapeError, match="orthogonal_: only tensors with 2 or more dimensions"):
        nn.init.orthogonal_(tm.empty(4))


def test_eye_is_the_identity_also_when_rectangular():
    np.testing.assert_array_equal(nn.init.eye_(tm.empty(3, 5)).numpy(), np.eye(3, 5))
    with pytest.raises(ShapeError, match="eye_"):
        nn.init.eye_(tm.empty(2, 2, 2))


@pytest.mark.parametrize("groups", [1, 2])
def test_dirac_weights_make_the_identity_convolution(groups):
    w = nn.init.dirac_(tm.empty(4, 4 // groups, 3, 3), groups=groups)
    x = tm.tensor(np.random.default_rng(2).standard_normal((2, 4, 5, 5)).astype("float32"))
    np.testing.assert_allclose(F.conv2d(x, w, padding=1, groups=groups).numpy(), x.numpy(), atol=1e-6)
    with pytest.raises(ShapeError, match="do not split into 3 groups"):
        nn.init.dirac_(tm.empty(4, 4, 3), groups=3)


def test_sparse_zeroes_the_same_count_in_every_column():
    tm.manual_seed(3)
    w = nn.init.sparse_(tm.empty(10, 7), sparsity=0.25, std=0.5).numpy()
    assert ((w == 0).sum(axis=0) == 3).all()            # ceil(0.25 * 10)
    assert 0.3 < w[w != 0].std() < 0.7


def test_the_same_properties_as_pytorch():
    torch = pytest.importorskip("torch")
    for name, kwargs in [("orthogonal_", {}), ("eye_", {}), ("dirac_", {})]:
        shape = (4, 4, 3) if name == "dirac_" else (4, 6)
        ours = getattr(nn.init, name)(tm.empty(*shape), **kwargs).numpy()
        theirs = getattr(torch.nn.init, name)(torch.empty(*shape), **kwargs).numpy()
        if name == "orthogonal_":
            np.testing.assert_allclose(ours @ ours.T, theirs @ theirs.T, atol=1e-5)
        else:
            np.testing.assert_array_equal(ours, theirs)
