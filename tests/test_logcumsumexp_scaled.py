"""``topi.cumulative.logcumsumexp_scaled``, logcumsumexp as one shift and a plain scan,
with its count of lines where that is not exact (the graph op then uses the stable
log-add-exp reduction): values against numpy and PyTorch on random shapes and axes in
both scan directions, which lines count as bad (wide ranges, inf, NaN, all -inf, a
leading -inf that is fine), gradients, tm.jit and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
from tvmini.graph import dispatch
from tvmini.graph.cumulative_ops import _scaled_kernel
from graph_gradcheck import check_grad

RNG = np.random.default_rng(11)


def _scaled(x, axis, reverse=False):
    """(values, bad-line count) of the scaled kernel on numpy ``x``."""
    out, bad = dispatch.run("logcumsumexp_scaled", _scaled_kernel, [tm.tensor(x)._data],
                            attrs=(("axis", axis), ("reverse", reverse)))
    return out.numpy(), int(bad.numpy()[0])


def _np_lcse(x, axis, reverse=False):
    if reverse:
        return np.flip(np.logaddexp.accumulate(np.flip(x, axis), axis=axis), axis)
    return np.logaddexp.accumulate(x, axis=axis)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=3), long=st.sampled_from([1, 70, 130]),
       data=st.data(), dtype=st.sampled_from(["float32", "float64"]), reverse=st.booleans(),
       scale=st.sampled_from([1.0, 10.0]))
def test_matches_numpy_and_pytorch_on_random_shapes(shape, long, data, dtype, reverse, scale):
    torch = pytest.importorskip("torch")
    axis = data.draw(st.integers(0, len(shape) - 1))
    shape[axis] *= long                                    # short lines and blocked-scan lines
    x = (RNG.standard_normal(shape) * scale).astype(dtype)
    got, bad = _scaled(x, axis, reverse)
    assert bad == 0
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, _np_lcse(x.astype("float64"), axis, reverse), rtol=rtol, atol=rtol)
    if not reverse:
        out = tm.logcumsumexp(tm.tensor(x), axis).numpy()
        np.testing.assert_allclose(out, torch.logcumsumexp(torch.tensor(x), axis).numpy(), rtol=rtol, atol=rtol)


def test_lines_it_cannot_take_are_counted_and_left_to_the_stable_kernel():
    torch = pytest.importorskip("torch")
    inf, nan = np.inf, np.nan
    lines = np.array([[0.0, 1.0, 2.0, 3.0],
                      [-1000.0, 0.0, 1.0, 2.0],            # first value 1002 below the maximum (float32)
                      [-inf, -inf, -50.0, 1.0],           # leading -inf: exact on the fast path
                      [-inf, -inf, -inf, -inf],           # all -inf: -inf, on the fast path
                      [0.0, inf, 1.0, 2.0],               # maximum inf
                      [nan, 1.0, 2.0, 2.0]], "float32")   # maximum NaN (or not: the first value is)
    out, bad = _scaled(lines[[0, 2, 3]], 1)
    assert bad == 0
    np.testing.assert_array_equal(out[2], [-inf] * 4)
    np.testing.assert_allclose(out[1], _np_lcse(lines[2].astype("float64"), 0), rtol=1e-6)
    for row in (1, 4, 5):
        assert _scaled(lines[[0, row]], 1)[1] == 1
    _, bad = _scaled(lines, 1)
    assert bad == 3
    got = tm.logcumsumexp(tm.tensor(lines), 1).numpy()
    np.testing.assert_allclose(got, torch.logcumsumexp(torch.tensor(lines), 1).numpy(), rtol=1e-6)
    wide = np.array([1e-3, -60.0, 0.0, -700.0, 600.0])     # float64: within range, on the fast path
    out, bad = _scaled(wide, 0)
    assert bad == 0
    # relative to each prefix's maximum (1e-3 stays 1e-3 beside the 600 to come), up to
    # exp's error on a 600 wide line (600 float64 epsilons); log(1 + 1e-26) is 0 in a
    # float64 sum, where the stable kernel's log1p(exp(-60)) is not
    np.testing.assert_allclose(out, _np_lcse(wide, 0), rtol=1e-13, atol=1e-25)
    single = (RNG.standard_normal((4, 300)) * 5).astype("float32")   # float32 computed in float64
    out, bad = _scaled(single, 1)
    assert bad == 0
    np.testing.assert_allclose(out, _np_lcse(single.astype("float64"), 1).astype("float32"), rtol=2e-7, atol=1e-7)
    with_nan = np.array([[0.0, nan, 1.0]], "float32")
    np.testing.assert_array_equal(np.isnan(tm.logcumsumexp(tm.tensor(with_nan), 1).numpy()),
                                  [[False, True, True]])


def test_reversed_range_looks_from_the_end():
    x = np.array([5.0, 0.0, -1000.0])
    assert _scaled(x, 0)[1] == 0 and _scaled(x, 0, reverse=True)[1] == 1
    assert _scaled(x[::-1].copy(), 0, reverse=True)[1] == 0


def test_one_signed_gradients_stay_on_the_fast_path(monkeypatch):
    """A head of ones makes the backward's log of the negative part all -inf: the
    scaled kernel still serves it (the stable kernel never runs)."""
    from tvmini.graph import cumulative_ops
    names = []
    real = cumulative_ops.run
    monkeypatch.setattr(cumulative_ops, "run", lambda name, *a, **k: names.append(name) or real(name, *a, **k))
    x = RNG.standard_normal((3, 37))
    a = tm.tensor(x, requires_grad=True)
    tm.logcumsumexp(a, 1).sum().backward()
    assert names == ["logcumsumexp_scaled"] * 3
    want = np.exp(x) * np.flip(np.cumsum(np.flip(np.exp(-_np_lcse(x, 1)), 1), 1), 1)
    np.testing.assert_allclose(a.grad.numpy(), want, rtol=1e-12)


def test_gradients_match_finite_differences_and_pytorch():
    torch = pytest.importorskip("torch")
    check_grad(lambda a: tm.logcumsumexp(a, 1), RNG.standard_normal((3, 70)))
    check_grad(lambda a: tm.logcumsumexp(a, 0), RNG.standard_normal((5, 2)) * 30)
    x = RNG.standard_normal((4, 80))
    head = RNG.standard_normal((4, 80))
    a, b = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (tm.logcumsumexp(a, 1) * tm.tensor(head)).sum().backward()
    (torch.logcumsumexp(b, 1) * torch.tensor(head)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_jit_traces_the_stable_kernel_forward_and_backward():
    x = RNG.standard_normal((3, 40))

    def step(t):
        leaf = t.detach().requires_grad_()
        out = tm.logcumsumexp(leaf, 1)
        out.sum().backward()
        return out * 2.0, leaf.grad
    traced = tm.jit(step)
    for scale in (1.0, 1e3):                               # the second is beyond the fast path's range
        data = tm.tensor(x * scale)
        (got, grad), (want, want_grad) = traced(data), step(data)
        np.testing.assert_allclose(got.numpy(), 2.0 * _np_lcse(x * scale, 1), rtol=1e-12)
        np.testing.assert_allclose(grad.numpy(), want_grad.numpy(), rtol=1e-12, atol=1e-300)


def test_emulated_gpu_runs_the_scaled_kernel(emulated_gpu):
    x = RNG.standard_normal((3, 70)).astype("float32")
    got = tm.logcumsumexp(tm.tensor(x, device="cuda"), 1)
    np.testing.assert_allclose(got.numpy(), _np_lcse(x.astype("float64"), 1), rtol=1e-5, atol=1e-5)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    assert "logcumsumexp_scaled_" in launched
