"""topi.random: counter-based uniform / normal / bernoulli / dropout kernels.

Determinism (same seed -> same numbers, any schedule, numpy reference), the seed and
offset as runtime arguments, and statistics of a 10^6 draw: moments, chi-square over
bins and over consecutive pairs, correlation of neighbours and of neighbouring seeds.
"""
import numpy as np
import pytest

import tvmini as tm
import tvmini.testing
from tvmini import te, topi
from tvmini.tir import counter_hash
from tvmini.topi import random as R

N = 1_000_000


@pytest.fixture(scope="module")
def uniform_kernel():
    seed, offset = R.seed_var("seed"), R.seed_var("offset")
    U = R.uniform((N,), seed, offset=offset)
    f = tm.build(topi.default_schedule(U), [seed, offset, U], name="test_uniform")

    def draw(s, k=0):
        out = np.empty(N, "float32")
        f(s, k, out)
        return out
    return draw


def test_same_seed_same_numbers_and_reference(uniform_kernel):
    a, b = uniform_kernel(7), uniform_kernel(7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, uniform_kernel(8))
    seed = R.seed_var()
    U = R.uniform((13, 77), seed)
    ref = tm.testing.reference(U, {seed: 7})
    np.testing.assert_array_equal(ref.reshape(-1), a[:13 * 77])      # shape-independent stream


def test_offset_shifts_the_stream(uniform_kernel):
    a = uniform_kernel(3)
    np.testing.assert_array_equal(uniform_kernel(3, 1000)[:-1000], a[1000:])
    big = uniform_kernel(3, 2**40)                                     # counters past 2^32 still mix
    assert abs(np.corrcoef(big, a)[0, 1]) < 0.005 and 0.49 < big.mean() < 0.51


@pytest.mark.parametrize("seed", [0, 1, -5, 2**40 + 3])
def test_uniform_statistics(uniform_kernel, seed):
    u = uniform_kernel(seed)
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.002 and abs(u.var() - 1 / 12) < 0.001
    counts, _ = np.histogram(u, bins=100, range=(0, 1))
    chi2 = ((counts - N / 100) ** 2 / (N / 100)).sum()
    assert 50 < chi2 < 160                                   # 99 degrees of freedom
    pairs, _, _ = np.histogram2d(u[0::2], u[1::2], bins=20, range=[[0, 1], [0, 1]])
    expected = N / 2 / 400
    chi2_pairs = ((pairs - expected) ** 2 / expected).sum()
    assert 280 < chi2_pairs < 530                            # 399 degrees of freedom
    assert abs(np.corrcoef(u[1:], u[:-1])[0, 1]) < 0.005
    assert abs(np.corrcoef(u, uniform_kernel(seed + 1))[0, 1]) < 0.005


def test_normal_and_float64():
    seed = R.seed_var()
    Z = R.normal((N,), seed, mean=1.0, std=2.0)
    f = tm.build(topi.default_schedule(Z), [seed, Z], name="test_normal")
    z = np.empty(N, "float32")
    f(11, z)
    assert abs(z.mean() - 1) < 0.01 and abs(z.std() - 2) < 0.01
    w = (z - 1) / 2
    assert abs((w ** 3).mean()) < 0.02 and abs((w ** 4).mean() - 3) < 0.05
    U64 = R.uniform((1000,), seed, dtype="float64", low=-1.0, high=3.0)
    u = tm.testing.reference(U64, {seed: 4})
    assert u.dtype == np.float64 and -1 < u.min() and u.max() < 3 and len(np.unique(u)) == 1000


def test_bernoulli_mask_and_dropout_share_the_mask():
    seed = R.seed_var()
    p = te.var("p", "float32")
    shape = (300, 301)
    M = R.bernoulli_mask(shape, p, seed)
    X = te.placeholder(shape, name="X")
    D = R.dropout(X, p, seed)
    fm = tm.build(topi.default_schedule(M), [seed, p, M], name="test_mask")
    fd = tm.build(topi.default_schedule(D), [X, seed, p, D], name="test_dropout")
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    mask, out = np.empty(shape, "float32"), np.empty(shape, "float32")
    for s, keep in ((1, 0.8), (2, 0.5), (2, 0.1)):
        fm(s, keep, mask)
        fd(x, s, keep, out)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert abs(mask.mean() - keep) < 0.01
        np.testing.assert_allclose(out, x * mask / np.float32(keep), rtol=1e-6)
    first = np.empty(shape, "float32")
    fm(1, 0.5, first)
    fm(1, 0.5, mask)
    np.testing.assert_array_equal(first, mask)
    fm(3, 0.5, mask)
    assert (first != mask).mean() > 0.4


def test_random_errors():
    with pytest.raises(tm.errors.DTypeError, match="seed"):
        R.uniform((3,), te.var("s", "float32"))
    with pytest.raises(tm.errors.DTypeError, match="uniform"):
        R.uniform((3,), 1, dtype="int32")
    with pytest.raises(tm.TVMiniError, match="p_keep"):
        R.bernoulli_mask((3,), 1.5, 1)
    with pytest.raises(tm.errors.DTypeError, match="counter_hash takes two integers"):
        tm.tir.expr.call("counter_hash", te.var("c", "float32"), 1)


def test_counter_hash_is_pinned_and_the_same_in_scalar_code():
    """Every seeded result (dropout masks, topi.random draws) depends on the hash, so a
    few values are pinned; the scalar loop (no vectorization) computes the same bits as
    the vector code and the numpy rendering, for counters and seeds past 32 bits and
    negative ones."""
    assert counter_hash.numpy_hash(np.array([0, 1, 2**32, -1]), 7).tolist() == \
        [2956260802, 360832722, 1835954619, 2246277753]
    assert counter_hash.numpy_hash(0, -5) == 3683372878
    seed, offset = R.seed_var("seed"), R.seed_var("offset")
    bits = R.random_bits((1000,), seed, offset=offset)
    scalar = tm.build(te.create_schedule(bits.op), [seed, offset, bits], name="test_bits_scalar")
    vector = tm.build(topi.default_schedule(bits), [seed, offset, bits], name="test_bits_vector")
    for s, k in ((0, 0), (-5, 2**33 - 500), (2**40 + 3, -2000)):
        want = counter_hash.numpy_hash(np.arange(1000, dtype=np.int64) + k, s)
        for f in (scalar, vector):
            got = np.empty(1000, np.int64)
            f(s, k, got)
            np.testing.assert_array_equal(got, want)


def test_counter_hash_avalanche():
    """Flipping any one of the 64 bits of the counter or of the seed flips each of the 32
    output bits with probability 1/2 (4000 random inputs: within 0.045, about 5.7 sigma)."""
    rng = np.random.default_rng(0)
    counter, seed = rng.integers(-2**62, 2**62, 4000), rng.integers(-2**62, 2**62, 4000)

    def out_bits(c, s):
        return (counter_hash.numpy_hash(c, s)[:, None] >> np.arange(32)) & 1
    base = out_bits(counter, seed)
    for bit in range(64):
        flip = np.int64(-2**63) if bit == 63 else np.int64(1 << bit)
        for c, s in ((counter ^ flip, seed), (counter, seed ^ flip)):
            p = (out_bits(c, s) != base).mean(axis=0)
            assert np.abs(p - 0.5).max() < 0.045, (bit, p)
