"""``topi.windows.adaptive_max``, adaptive max pooling's single forward kernel (values and
first-maximum positions together): against a numpy loop over PyTorch's windows and
against PyTorch itself on random shapes (size 1, odd sizes, more outputs than inputs),
NaN windows and ties, float64 finite-difference gradients, and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from graph_gradcheck import check_grad

RNG = np.random.default_rng(3)


def _np_adaptive_max(x, size):
    """Values and flat positions of the first maximum (the last NaN) per window, in numpy."""
    h, w = x.shape[-2:]
    values, where = np.zeros(x.shape[:-2] + size, x.dtype), np.zeros(x.shape[:-2] + size, "int64")
    for i, j in np.ndindex(*size):
        r0, r1 = i * h // size[0], -(-(i + 1) * h // size[0])
        c0, c1 = j * w // size[1], -(-(j + 1) * w // size[1])
        win = x[..., r0:r1, c0:c1].reshape(x.shape[:-2] + (-1,))
        last_nan = win.shape[-1] - 1 - np.isnan(win)[..., ::-1].argmax(-1)
        k = np.where(np.isnan(win).any(-1), last_nan, win.argmax(-1))
        where[..., i, j] = (r0 + k // (c1 - c0)) * w + c0 + k % (c1 - c0)
        values[..., i, j] = np.take_along_axis(win, k[..., None], -1)[..., 0]
    return values, where


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 11), w=st.integers(1, 11),
       oh=st.integers(1, 6), ow=st.integers(1, 6), dtype=st.sampled_from(["float32", "float64"]))
def test_values_and_indices_match_numpy_and_pytorch(n, c, h, w, oh, ow, dtype):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((n, c, h, w)).astype(dtype)
    x[RNG.random(x.shape) < 0.2] = 0.5                      # ties inside windows
    values, where = F.adaptive_max_pool2d(tm.tensor(x), (oh, ow), return_indices=True)
    want_v, want_i = _np_adaptive_max(x, (oh, ow))
    assert values.dtype == dtype and where.dtype == "int64"
    np.testing.assert_array_equal(values.numpy(), want_v)
    np.testing.assert_array_equal(where.numpy(), want_i)
    t_v, t_i = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), (oh, ow), return_indices=True)
    np.testing.assert_array_equal(values.numpy(), t_v.numpy())
    np.testing.assert_array_equal(where.numpy(), t_i.numpy())


def test_nan_windows_take_the_last_nan_like_pytorch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((1, 2, 6, 9)).astype("float32")
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = x[0, 1, 5, 8] = np.nan
    values, where = F.adaptive_max_pool2d(tm.tensor(x), (2, 3), return_indices=True)
    t_v, t_i = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), (2, 3), return_indices=True)
    np.testing.assert_array_equal(where.numpy(), t_i.numpy())
    np.testing.assert_array_equal(where.numpy(), _np_adaptive_max(x, (2, 3))[1])
    np.testing.assert_array_equal(values.numpy(), t_v.numpy())       # NaN == NaN for assert_array_equal
    assert np.isnan(values.numpy()[0, 0, 0, 0]) and where.numpy()[0, 0, 0, 0] == 2 * 9 + 1


def test_gradients_match_finite_differences_and_pytorch():
    torch = pytest.importorskip("torch")
    check_grad(lambda a: F.adaptive_max_pool2d(a, (3, 4)), RNG.standard_normal((2, 1, 5, 7)))
    check_grad(lambda a: F.adaptive_max_pool2d(a, (6, 2)), RNG.standard_normal((1, 2, 4, 3)))   # overlaps
    check_grad(lambda a: F.adaptive_max_pool1d(a, 3), RNG.standard_normal((2, 2, 8)))
    x = RNG.standard_normal((2, 3, 9, 8))
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    head = RNG.standard_normal((2, 3, 4, 5))
    F.adaptive_max_pool2d(ours, (4, 5)).backward(tm.tensor(head))
    torch.nn.functional.adaptive_max_pool2d(theirs, (4, 5)).backward(torch.tensor(head))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_indices_are_not_differentiable_and_no_grad_records_nothing():
    x = tm.tensor(RNG.standard_normal((1, 1, 4, 4)), requires_grad=True)
    values, where = F.adaptive_max_pool2d(x, 2, return_indices=True)
    assert values.requires_grad and not where.requires_grad
    with tm.no_grad():
        assert not F.adaptive_max_pool2d(x, 2).requires_grad


def test_emulated_gpu_runs_the_single_forward_kernel(emulated_gpu):
    x = RNG.standard_normal((2, 3, 7, 10)).astype("float32")
    got = F.adaptive_max_pool2d(tm.tensor(x, device="cuda"), (3, 4), return_indices=True)
    want_v, want_i = _np_adaptive_max(x, (3, 4))
    np.testing.assert_array_equal(got[0].numpy(), want_v)
    np.testing.assert_array_equal(got[1].numpy(), want_i)
    launched = [name for name, _, _ in emulated_gpu.launches]
    assert sum("adaptive_max_" in name and "grad" not in name for name in launched) >= 1
    assert not any("index_select" in name or "argmax" in name for name in launched)
