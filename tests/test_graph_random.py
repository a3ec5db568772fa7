"""Sampling (``graph/random_ops.py``, ``topi/sampling.py``): moments of large draws
within bounds of the distribution's own spread, frequencies of ``bernoulli`` and
``multinomial``, no repeats without replacement, determinism from ``tm.manual_seed``,
fresh numbers on every ``tm.jit`` replay, the errors PyTorch raises, PyTorch's
shapes/dtypes, and the kernels on the emulated GPU."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from strategies import examples

N = 40000


def _draw(fill, dtype="float32", n=N):
    x = tm.zeros(n, dtype=dtype)
    assert fill(x) is x
    return x.numpy().astype("float64")


def _near(value, want, spread, n=N, z=5.0):
    """|value - want| within ``z`` standard errors of a mean of ``n`` draws of std ``spread``."""
    assert abs(value - want) <= z * spread / math.sqrt(n), (value, want)


def test_continuous_fills_have_their_moments():
    tm.manual_seed(1)
    u = _draw(lambda x: x.uniform_(-2.0, 3.0))
    assert -2 <= u.min() and u.max() <= 3
    _near(u.mean(), 0.5, 5 / math.sqrt(12))
    _near(u.var(), 25 / 12, 25 / 12 * 0.9)       # the spread of (u - mean)^2 for U(a, b) is 4/sqrt(45) var
    g = _draw(lambda x: x.normal_(1.5, 2.0), "float64")
    _near(g.mean(), 1.5, 2.0)
    _near(g.std(), 2.0, 2.0 / math.sqrt(2))
    _near(((g - 1.5) ** 3).mean() / 8, 0.0, math.sqrt(15))   # no skew
    e = _draw(lambda x: x.exponential_(4.0))
    assert e.min() > 0
    _near(e.mean(), 0.25, 0.25)
    _near(np.mean(e > 0.25), math.exp(-1), 0.5)
    ln = _draw(lambda x: x.log_normal_(0.5, 0.25))
    _near(np.log(ln).mean(), 0.5, 0.25)
    _near(np.log(ln).std(), 0.25, 0.25 / math.sqrt(2))
    c = _draw(lambda x: x.cauchy_(2.0, 0.5))
    _near(np.mean(c < 2.0), 0.5, 0.5)                       # median
    _near(np.mean(np.abs(c - 2.0) < 0.5), 0.5, 0.5)         # quartiles at median -+ sigma


def test_discrete_fills_have_their_frequencies():
    tm.manual_seed(2)
    geo = _draw(lambda x: x.geometric_(0.3))
    assert geo.min() == 1 and np.all(geo == np.round(geo))
    _near(geo.mean(), 1 / 0.3, math.sqrt(0.7) / 0.3)
    _near(np.mean(geo == 1), 0.3, math.sqrt(0.21))
    _near(np.mean(geo == 2), 0.21, math.sqrt(0.21 * 0.79))
    ints = _draw(lambda x: x.random_(-3, 4), "int64")
    assert set(np.unique(ints)) == set(range(-3, 4))
    for k in range(-3, 4):
        _near(np.mean(ints == k), 1 / 7, math.sqrt(6) / 7)
    to = _draw(lambda x: x.random_(5), "int32")
    assert set(np.unique(to)) == set(range(5))
    whole = tm.zeros(N, dtype="int64").random_().numpy()
    assert whole.min() >= 0 and whole.max() > 2 ** 62          # 63 random bits
    full = _draw(lambda x: x.random_())
    assert full.min() >= 0 and full.max() <= 2 ** 24 and np.all(full == np.round(full))
    b = _draw(lambda x: x.bernoulli_(0.2), "int64")
    assert set(np.unique(b)) == {0, 1}
    _near(b.mean(), 0.2, 0.4)


@given(st.lists(st.sampled_from([1, 2, 3, 5, 7]), min_size=0, max_size=3), st.sampled_from(["float32", "float64"]))
@examples(10)
def test_bernoulli_of_probabilities_keeps_shape_dtype_and_extremes(shape, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape))
    p = rng.choice([0.0, 1.0, 0.5], size=shape).astype(dtype)
    got = tm.bernoulli(tm.tensor(p))
    want = torch.bernoulli(torch.tensor(p))
    assert got.shape == tuple(want.shape) and got.dtype == str(want.dtype).replace("torch.", "")
    values = got.numpy()
    assert np.all(values[p == 0] == 0) and np.all(values[p == 1] == 1) and set(np.unique(values)) <= {0, 1}
    assert tm.tensor(p).bernoulli(0.0).numpy().sum() == 0 and tm.bernoulli(tm.tensor(p), 1.0).numpy().size == p.size


def test_bernoulli_frequency_follows_each_probability():
    tm.manual_seed(3)
    p = np.array([0.1, 0.5, 0.9], "float32")
    draws = tm.bernoulli(tm.tensor(np.tile(p, (N // 3, 1)))).numpy()
    for k, q in enumerate(p):
        _near(draws[:, k].mean(), q, math.sqrt(q * (1 - q)), n=N // 3)
    x = tm.zeros(N // 3, 3)
    x.bernoulli_(tm.tensor(p))                   # probabilities broadcast to the tensor
    for k, q in enumerate(p):
        _near(x.numpy()[:, k].mean(), q, math.sqrt(q * (1 - q)), n=N // 3)


def test_normal_overloads():
    torch = pytest.importorskip("torch")
    tm.manual_seed(4)
    mean = tm.tensor(np.linspace(-3, 3, 6).astype("float32"))
    std = tm.tensor(np.full((N // 6, 1), 0.5, "float32"))
    both = tm.normal(mean, std).numpy()
    assert both.shape == tuple(torch.normal(torch.zeros(6), torch.full((N // 6, 1), 0.5)).shape)
    _near(both.mean(axis=0)[0], -3.0, 0.5, n=N // 6)
    _near(both.std(), np.sqrt(0.25 + np.var(np.linspace(-3, 3, 6))), 3.0, n=N)
    one = tm.normal(mean, 2.0)
    assert one.shape == (6,) and one.dtype == "float32"
    _near(tm.normal(1.0, std).numpy().mean(), 1.0, 0.5, n=N // 6)
    sized = tm.normal(2.0, 3.0, (N,), dtype="float64")
    assert sized.dtype == "float64" and sized.shape == (N,)
    _near(sized.numpy().mean(), 2.0, 3.0)
    _near(sized.numpy().std(), 3.0, 3.0 / math.sqrt(2))


def test_multinomial_frequencies_and_no_repeats():
    torch = pytest.importorskip("torch")
    tm.manual_seed(5)
    w = np.array([1.0, 0.0, 2.0, 5.0, 2.0], "float32")
    draws = tm.multinomial(tm.tensor(w), N, replacement=True).numpy()
    assert draws.dtype == np.int64 and draws.shape == (N,)
    p = w / w.sum()
    for k, q in enumerate(p):
        _near(np.mean(draws == k), q, math.sqrt(q * (1 - q)))
    rows = np.tile(w, (N // 10, 1))
    picked = tm.tensor(rows).multinomial(3).numpy()
    assert picked.shape == tuple(torch.multinomial(torch.tensor(rows), 3).shape)
    assert all(len(set(r)) == 3 for r in picked) and not np.any(picked == 1)
    # the first draw is by weight; the second among the rest (PyTorch's sequential draws)
    for k, q in enumerate(p):
        _near(np.mean(picked[:, 0] == k), q, math.sqrt(q * (1 - q)), n=len(picked))
    second = sum(p[i] * p[3] / (1 - p[i]) for i in (0, 2, 4))
    _near(np.mean(picked[:, 1] == 3), second, math.sqrt(second * (1 - second)), n=len(picked))
    all4 = tm.multinomial(tm.tensor(w), 4).numpy()
    assert sorted(all4) == [0, 2, 3, 4]


def test_manual_seed_reproduces_and_jit_redraws():
    def draws():
        x = tm.zeros(64)
        return [x.normal_().numpy().copy(), tm.bernoulli(tm.full((64,), 0.5)).numpy(),
                tm.multinomial(tm.ones(8), 4).numpy(), tm.zeros(64, dtype="int64").random_(9).numpy()]
    tm.manual_seed(7)
    first = draws()
    tm.manual_seed(7)
    for a, b in zip(first, draws()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], draws()[0])

    @tm.jit
    def step(p, w):
        x = tm.zeros(64)
        return tm.bernoulli(p) + x.uniform_(0, 1) + x.exponential_(), tm.multinomial(w, 4)
    p, w = tm.full((64,), 0.5), tm.ones(2, 8)
    outs = [step(p, w) for _ in range(3)]        # the trace, then two replays
    values = [o[0].numpy() for o in outs]
    picks = [o[1].numpy() for o in outs]
    assert not np.array_equal(values[0], values[1]) and not np.array_equal(values[1], values[2])
    assert not (np.array_equal(picks[0], picks[1]) and np.array_equal(picks[1], picks[2]))
    for pick in picks:
        assert all(len(set(r)) == 4 for r in pick)
    with pytest.raises(tm.ArgumentError, match="generator= inside tm.jit"):
        tm.jit(lambda t: t.clone().uniform_(generator=np.random.default_rng(0)))(p)
    tm.manual_seed(11)
    again = [step(p, w)[0].numpy() for _ in range(2)]
    tm.manual_seed(11)
    np.testing.assert_array_equal([step(p, w)[0].numpy() for _ in range(2)], again)


def test_draws_from_tracked_parameters_have_zero_gradients_as_torch():
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (tm, torch):
        mean = lib.tensor(np.zeros(3), requires_grad=True)
        std = lib.tensor(np.ones(3), requires_grad=True)
        p = lib.tensor(np.full(3, 0.5), requires_grad=True)
        drawn = lib.normal(mean, std) + lib.normal(mean, 2.0) + lib.bernoulli(p)
        assert drawn.requires_grad
        drawn.sum().backward()
        grads.append([t.grad.numpy() for t in (mean, std, p)])
    for got, want in zip(*grads):
        np.testing.assert_array_equal(got, want)


def test_fills_follow_the_in_place_rules():
    leaf = tm.zeros(3, requires_grad=True)
    with pytest.raises(tm.AutogradError, match="leaf"):
        leaf.uniform_()
    with tm.no_grad():
        leaf.uniform_(2.0, 3.0)
    assert leaf.numpy().min() >= 2.0
    y = leaf * 2
    y.normal_()                                  # a tracked result: still tracked, no gradient to leaf
    (y.sum() + (leaf * 1).sum()).backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), np.ones(3))
    rows = tm.zeros(2, 3)
    rows[1].uniform_(5.0, 6.0)                   # writes through to the tensor it was indexed from
    assert np.all(rows.numpy()[0] == 0) and rows.numpy()[1].min() >= 5.0


def test_errors_as_pytorch():
    x = tm.zeros(4)
    for call, match in ((lambda: x.uniform_(2, 1), "uniform_: expects a <= b"),
                        (lambda: x.normal_(0, -1), "normal_: expects std >= 0.0"),
                        (lambda: x.exponential_(0), "exponential_: expects lambd > 0.0"),
                        (lambda: x.geometric_(1.5), "geometric_: expects p in"),
                        (lambda: x.log_normal_(0, 0), "log_normal_: expects std > 0.0"),
                        (lambda: x.cauchy_(0, -1), "cauchy_: expects sigma > 0.0"),
                        (lambda: x.random_(3, 3), "random_: expects from < to"),
                        (lambda: tm.zeros(2, dtype="int32").random_(0, 2 ** 40), "does not fit"),
                        (lambda: x.bernoulli_(1.5), "bernoulli_: expects p in"),
                        (lambda: tm.bernoulli(tm.tensor(np.array([0.5, 2.0], "float32"))), "probabilities in"),
                        (lambda: tm.multinomial(tm.tensor(np.array([1.0, -1.0], "float32")), 1), "non-negative"),
                        (lambda: tm.multinomial(tm.zeros(3), 1), "sums to 0"),
                        (lambda: tm.multinomial(tm.tensor(np.array([1.0, 0.0], "float32")), 2),
                         "1 categories of non-zero weight"),
                        (lambda: tm.multinomial(tm.ones(3), 4), "without replacement from 3"),
                        (lambda: tm.normal(0.0, 1.0), "give size")):
        with pytest.raises(tm.ArgumentError, match=match):
            call()
    with pytest.raises(tm.DTypeError, match="uniform_: draws floating-point"):
        tm.zeros(2, dtype="int64").uniform_()
    with pytest.raises(tm.ShapeError, match="multinomial: input must be 1-D or 2-D"):
        tm.multinomial(tm.ones(2, 2, 2), 1)


def test_sampling_kernels_on_the_emulated_gpu(emulated_gpu):
    tm.manual_seed(9)
    x = tm.zeros(4096, device="cuda")
    u = x.uniform_(1.0, 2.0).numpy()
    assert 1 <= u.min() and u.max() <= 2 and abs(u.mean() - 1.5) < 0.05
    assert abs(x.normal_().numpy().std() - 1.0) < 0.1
    b = tm.bernoulli(tm.full((4096,), 0.25, device="cuda"))
    assert b.device.kind == "cuda" and abs(b.numpy().mean() - 0.25) < 0.05
    picks = tm.multinomial(tm.ones(3, 6, device="cuda"), 6).numpy()
    assert all(sorted(r) == list(range(6)) for r in picks)
    tm.manual_seed(9)                           # the same seed gives the same numbers on the host
    np.testing.assert_array_equal(tm.zeros(4096).uniform_(1.0, 2.0).numpy(), u)
    assert emulated_gpu.launches
