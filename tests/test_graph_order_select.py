"""Radix selection (``topi/select.py``) and the quantiles that use it (long lines, few
ranks: ``graph/order_ops._selects``): the keys order as the sort does (±0 equal, NaN
last, subnormals, infinities), the selected positions are a stable sort's, and quantile
/ nanquantile over long lines match PyTorch in values and gradients (float64), central
differences, a jitted step, and the emulated GPU."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from tvmini.graph import order_ops
from tvmini.topi import default_schedule
from tvmini.topi.select import KEY_DTYPE, ordered_keys, select_positions
from graph_gradcheck import check_grad

SPECIAL = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 1e-310, -1e-310, 5e-324, 1e-40, -1e-45, 2.0 ** -1022,
           1e308, -1e308, 3.4e38, 1.5, -1.5, 1.0, 0.1]
VALUES = st.lists(st.one_of(st.sampled_from(SPECIAL), st.floats(-1e6, 1e6), st.integers(-3, 3).map(float)),
                  min_size=37, max_size=37)
_KERNELS = {}


def _stable_order(row):
    """A stable ascending order with NaNs last and -0 == 0 (the sort's)."""
    return sorted(range(len(row)), key=lambda j: (bool(np.isnan(row[j])), 0.0 if np.isnan(row[j]) else row[j], j))


def _kernel(which, dtype):
    """The built key (1, 37) or selection (3, 37) x (3, 4) -> (3, 8) kernel, once per dtype."""
    if (which, dtype) not in _KERNELS:
        rows = 1 if which == "keys" else 3
        x = te.placeholder((rows, 37), name="x", dtype=dtype)
        args = [x]
        if which == "keys":
            out = ordered_keys(x)
        else:
            args.append(te.placeholder((3, 4), name="ranks", dtype="int64"))
            out = select_positions(x, args[1], following=True)
        _KERNELS[which, dtype] = tm.build(default_schedule([out], "llvm"), args + [out], target="llvm", name=which)
    return _KERNELS[which, dtype]


@settings(max_examples=8, deadline=None)
@given(VALUES, st.sampled_from(["float32", "float64"]))
def test_keys_order_as_the_sort_does(values, dtype):
    with np.errstate(over="ignore"):
        row = np.array(values).astype(dtype)
    keys = np.zeros((1, 37), KEY_DTYPE[dtype])
    _kernel("keys", dtype)(row[None], keys)
    order = _stable_order(row)
    assert list(np.argsort(keys[0], kind="stable")) == order
    ranked = keys[0][order]
    for a, b, u, v in zip(ranked, ranked[1:], row[order], row[order][1:]):
        assert (a == b) == (u == v or np.isnan(u) and np.isnan(v))     # equal keys: equal values (±0, NaNs)


@settings(max_examples=6, deadline=None)
@given(st.lists(VALUES, min_size=3, max_size=3), st.sampled_from(["float32", "float64"]), st.integers(0, 2 ** 16))
def test_selected_positions_and_the_following_are_the_stable_sorts(rows, dtype, seed):
    with np.errstate(over="ignore"):
        x = np.array(rows).astype(dtype)
    ranks = np.random.default_rng(seed).integers(0, 37, (3, 4)).astype("int64")
    ranks[0, :2] = (0, 36)
    got = np.zeros((3, 8), "int64")
    _kernel("select", dtype)(x, ranks, got)
    following = np.minimum(ranks + 1, 36)               # and the positions at the ranks after
    want = np.stack([np.array(_stable_order(r))[np.concatenate([k, f])] for r, k, f in zip(x, ranks, following)])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dim, interpolation", [(None, "lower"), (-1, "linear")])
def test_quantiles_of_long_lines_match_torch_and_the_sort(dim, interpolation, monkeypatch):
    """Lines of 256 (2 x 256, or 512 over all elements), one holding a NaN (quantile
    reads it, nanquantile skips it), a scalar q: the selection path. Values and
    gradients against PyTorch without ties; with many ties against the argsort path
    (among equal elements PyTorch's sort of a long line is not stable, so which one gets
    the gradient is its own choice; both tvmini paths follow the stable order)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    distinct = rng.standard_normal((2, 256))
    distinct[1, 7] = np.nan
    tied = np.round(distinct, 1)
    assert order_ops._selects(tied.size if dim is None else 256, 2 if interpolation == "linear" else 1, "float64")

    def run(name, x, q, head):
        leaf = tm.tensor(x, requires_grad=True)
        out = getattr(tm, name)(leaf, q, dim, interpolation=interpolation)
        out.backward(tm.tensor(head))
        return out.numpy(), leaf.grad.numpy()
    for name in ("quantile", "nanquantile"):
        for q in (0.0, 0.37, 1.0):
            ref = torch.tensor(distinct, requires_grad=True)
            want = getattr(torch, name)(ref, q, dim, interpolation=interpolation)
            head = rng.uniform(0.5, 1.5, tuple(want.shape))
            want.backward(torch.tensor(head))
            value, grad = run(name, distinct, q, head)
            np.testing.assert_allclose(value, want.detach().numpy(), rtol=1e-12, equal_nan=True)
            np.testing.assert_allclose(grad, ref.grad.numpy(), rtol=1e-12, atol=1e-12)
            selected = run(name, tied, q, head)
            with monkeypatch.context() as patch:
                patch.setattr(order_ops, "SELECT_MIN", 1 << 30)
                sorted_ = run(name, tied, q, head)
            for a, b in zip(selected, sorted_):
                np.testing.assert_array_equal(a, b)


def test_which_lines_select():
    """Long lines and few ranks select; many ranks of a shorter line, short lines and
    float16 (no keys) sort."""
    assert order_ops._selects(1 << 16, 10, "float32") and order_ops._selects(1024, 1, "float64")
    assert not order_ops._selects(1024, 10, "float32") and not order_ops._selects(100, 1, "float32")
    assert not order_ops._selects(1 << 16, 1, "float16")


def test_gradient_of_a_selected_quantile_matches_finite_differences():
    x = np.random.default_rng(3).standard_normal((2, 256))
    check_grad(lambda a: tm.quantile(a, 0.42, -1), x)


def test_jitted_quantile_step_equals_eager():
    def step(a):
        return tm.quantile(a * 2.0, 0.6, -1) + tm.nanquantile(a, 0.25, -1)
    jitted = tm.jit(step)
    rng = np.random.default_rng(9)
    for _ in range(3):
        x = tm.tensor(rng.standard_normal((2, 256)))
        np.testing.assert_allclose(jitted(x).numpy(), step(x).numpy(), rtol=1e-15)


def test_selection_on_the_emulated_gpu(emulated_gpu, monkeypatch):
    """The selection kernel (on a short line: the emulator runs every thread in Python)
    on the emulated GPU agrees with the CPU."""
    monkeypatch.setattr(order_ops, "_selects", lambda n, reads, dtype: True)
    x = np.random.default_rng(1).standard_normal(9).astype("float32")
    x[4] = x[2]
    got = tm.quantile(tm.tensor(x, device="cuda"), 0.3)
    assert got.device.kind == "cuda"
    np.testing.assert_allclose(got.numpy(), tm.quantile(tm.tensor(x), 0.3).numpy(), rtol=1e-6)
    assert any("select" in name for name, _, _ in emulated_gpu.launches)
