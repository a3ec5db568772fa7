"""gcd and lcm as one loop nest (``topi/number_theory.py``: Euclid's steps as an ordered
two-value fold): every int8 and uint8 pair against PyTorch, drawn int32/int64 shapes
(size-1 and odd axes, broadcasting) with the dtype's extremes and Fibonacci pairs
(Euclid's worst case), the step bound, the te oracle, ``tm.jit`` and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from strategies import examples
from tvmini import te, topi
from tvmini.testing import reference
from tvmini.topi import number_theory

SHAPES = st.lists(st.sampled_from([1, 2, 3, 7]), min_size=1, max_size=2).map(tuple)


def _torch():
    return pytest.importorskip("torch")


def _fibonacci(limit):
    fib = [1, 1]
    while fib[-1] + fib[-2] <= limit:
        fib.append(fib[-1] + fib[-2])
    return fib


def _extremes(dtype):
    """The values Euclid's loop finds hardest or strangest in ``dtype``."""
    info = np.iinfo(dtype)
    fib = _fibonacci(info.max)
    return np.array([0, 1, -1, 6, -4, info.min, info.min + 1, info.max, info.max - 1, fib[-1], fib[-2], -fib[-3],
                     2 ** (info.bits - 2)], dtype=dtype)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_every_pair_of_a_byte_dtype_matches_torch(dtype):
    torch = _torch()
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1).astype(dtype)
    a, b = np.repeat(values, values.size), np.tile(values, values.size)
    for ours, theirs in ((tm.gcd, torch.gcd), (tm.lcm, torch.lcm)):
        np.testing.assert_array_equal(ours(tm.tensor(a), tm.tensor(b)).numpy(),
                                      theirs(torch.tensor(a), torch.tensor(b)).numpy(), err_msg=ours.__name__)


@given(st.sampled_from(["int32", "int64"]), SHAPES, st.booleans(), st.integers(0, 2 ** 16))
@examples(8)
def test_wide_dtypes_match_torch_with_extremes(dtype, shape, broadcast, seed):
    """PyTorch's results everywhere, also at the dtype's minimum (where its gcd may be
    negative); its lcm traps where the gcd is -1 (minimum / -1), so those pairs are
    compared with the wrapped value tvmini defines instead."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    b = rng.integers(-1000, 1000, shape[-1:] if broadcast else shape).astype(dtype)
    extremes = _extremes(dtype)
    a.flat[: extremes.size] = extremes[: a.size]
    b.flat[::2] = rng.choice(extremes, b.flat[::2].shape)
    g = tm.gcd(tm.tensor(a), tm.tensor(b)).numpy()
    a, b = np.broadcast_arrays(a, b)
    np.testing.assert_array_equal(g, torch.gcd(torch.tensor(a), torch.tensor(b)).numpy())
    pairs = (np.repeat(extremes, extremes.size), np.tile(extremes, extremes.size))
    every = tm.gcd(tm.tensor(pairs[0]), tm.tensor(pairs[1])).numpy()
    np.testing.assert_array_equal(every, torch.gcd(*(torch.tensor(p) for p in pairs)).numpy())
    traps = every == -1
    lcm = tm.lcm(tm.tensor(pairs[0]), tm.tensor(pairs[1])).numpy()
    np.testing.assert_array_equal(lcm[~traps], torch.lcm(*(torch.tensor(p[~traps]) for p in pairs)).numpy())
    np.testing.assert_array_equal(lcm[traps], np.abs(pairs[0][traps] * pairs[1][traps]))     # min / -1 = min


def test_the_step_bound_is_lames():
    """One step loads the pair, one may swap it, and the largest Fibonacci pair below
    the dtype's largest magnitude needs all the rest: the bound is tight."""
    assert [number_theory.gcd_steps(d) for d in ("int8", "uint8", "int32", "int64")] == [11, 13, 46, 92]
    fib = _fibonacci(2 ** 31)
    x, y, steps = fib[-1], fib[-2], 0              # Euclid on the largest Fibonacci pair that fits
    while y:
        x, y, steps = y, x % y, steps + 1
    assert steps + 2 == number_theory.gcd_steps("int32") and fib[-1] <= 2 ** 31 < fib[-1] + fib[-2]


def test_the_fold_is_evaluated_in_order_by_the_te_oracle():
    torch = _torch()
    A = te.placeholder((5,), name="A", dtype="int64")
    B = te.placeholder((5,), name="B", dtype="int64")
    G, L = number_theory.gcd(A, B), number_theory.lcm(A, B)
    a = np.array([12, -18, 0, 2 ** 62, np.iinfo("int64").min], "int64")
    b = np.array([8, 0, 0, 6, 6], "int64")
    got = reference([G, L], {A: a, B: b})
    np.testing.assert_array_equal(got[0], torch.gcd(torch.tensor(a), torch.tensor(b)).numpy())
    np.testing.assert_array_equal(got[1], torch.lcm(torch.tensor(a), torch.tensor(b)).numpy())
    s = topi.default_schedule([G, L])
    out = [np.empty(5, "int64"), np.empty(5, "int64")]
    tm.build(s, [A, B, G, L], name="gcd_lcm")(a, b, *out)
    np.testing.assert_array_equal(out, got)


def test_jit_fuses_around_the_fold_and_equals_eager():
    a = tm.tensor(np.array([12, -18, 0, 7, 1071, 5, -2 ** 31], "int32"))
    b = tm.tensor(np.array([8, 24, 5, 0, 462, 3, 6], "int32"))
    step = tm.jit(lambda x, y: (tm.gcd(x * 2, y) + 1, tm.lcm(x, y) * 3))
    for _ in range(2):
        got = step(a, b)
        np.testing.assert_array_equal(got[0].numpy(), (tm.gcd(a * 2, b) + 1).numpy())
        np.testing.assert_array_equal(got[1].numpy(), (tm.lcm(a, b) * 3).numpy())


def test_scalars_and_empty_tensors():
    assert tm.gcd(tm.tensor(np.array(12)), tm.tensor(np.array(-18))).numpy() == 6
    assert tm.lcm(tm.tensor(np.array(4, "int32")), tm.tensor(np.array(-6, "int32"))).numpy() == 12
    assert tm.gcd(tm.tensor(np.zeros((0, 3), "int64")), tm.tensor(np.zeros((3,), "int64"))).shape == (0, 3)


def test_errors():
    with pytest.raises(tm.DTypeError, match="gcd: needs integer tensors"):
        tm.gcd(tm.tensor(np.arange(3)), tm.zeros(3))
    with pytest.raises(tm.DTypeError, match="lcm: needs integer tensors"):
        tm.lcm(tm.tensor(np.array([True])), tm.tensor(np.array([True])))
    with pytest.raises(tm.ShapeError):
        tm.gcd(tm.tensor(np.arange(3)), tm.tensor(np.arange(4)))


def test_on_the_emulated_gpu(emulated_gpu):
    torch = _torch()
    a, b = _extremes("int64"), np.roll(_extremes("int64"), 3)
    got = tm.gcd(tm.tensor(a, device="cuda"), tm.tensor(b, device="cuda"))
    np.testing.assert_array_equal(got.numpy(), torch.gcd(torch.tensor(a), torch.tensor(b)).numpy())
    small = a % 1000
    np.testing.assert_array_equal(tm.lcm(tm.tensor(small, device="cuda"), tm.tensor(b, device="cuda")).numpy(),
                                  tm.lcm(tm.tensor(small), tm.tensor(b)).numpy())
    assert emulated_gpu.launches
