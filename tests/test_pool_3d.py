"""3-D pooling, max pooling with indices and dilation (1-D to 3-D), unpooling and LP
pooling against PyTorch (float64, indices exactly, every gradient), finite differences,
errors and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import TVMiniError
from graph_gradcheck import check_grad

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(7)
X5 = RNG.normal(size=(2, 3, 5, 6, 7))


def _against_torch(mine, theirs, x, indices=False):
    """Outputs (and indices, exactly) and the input gradient under one head, float64."""
    ours, ref_in = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = mine(ours), theirs(ref_in)
    if indices:
        (out, where), (ref, ref_where) = out, ref
        assert where.dtype == "int64"
        np.testing.assert_array_equal(where.numpy(), ref_where.numpy())
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    head = RNG.normal(size=out.shape)
    out.backward(tm.tensor(head))
    ref.backward(torch.tensor(head))
    np.testing.assert_allclose(ours.grad.numpy(), ref_in.grad.numpy(), rtol=1e-10, atol=1e-12)


MAX_POOLS = [  # name, input, positional arguments after the input (kernel, stride, padding, dilation, ceil_mode)
    ("max_pool3d", X5, ((2, 3, 2), (1, 2, 2), (1, 1, 0), (2, 1, 1), True)),
    ("max_pool3d", X5[0], (3, 2, 1, 1, False)),                             # unbatched
    ("max_pool2d", X5[0], (3, 2, 1, 2, True)),                              # dilated
    ("max_pool2d", X5[:, :, 0], ((2, 1), None, 0, 1, False)),
    ("max_pool1d", X5[0, 0], (3, 2, 1, 1, True)),
    ("max_pool1d", X5[:, 0, 0], (2, 1, 0, 3, False)),
]


@pytest.mark.parametrize("name, x, args", MAX_POOLS, ids=["3d", "3d_unbatched", "2d_dilated", "2d", "1d_ceil",
                                                          "1d_dilated"])
def test_max_pool_with_indices_matches_torch(name, x, args):
    _against_torch(lambda t: getattr(F, name)(t, *args, return_indices=True),
                   lambda t: getattr(TF, name)(t, *args, return_indices=True), x, indices=True)
    _against_torch(lambda t: getattr(F, name + "_with_indices")(t, *args),
                   lambda t: getattr(TF, name + "_with_indices")(t, *args), x, indices=True)


def test_max_pool3d_without_indices_and_ties_and_nan():
    _against_torch(lambda t: F.max_pool3d(t, 2), lambda t: TF.max_pool3d(t, 2), X5)
    ties = np.zeros((1, 1, 3, 3, 3))            # every window all ties: the first position wins, as PyTorch
    _, where = F.max_pool3d(tm.tensor(ties), 2, 1, return_indices=True)
    np.testing.assert_array_equal(where.numpy(), TF.max_pool3d(torch.tensor(ties), 2, 1, return_indices=True)[1])
    nan = X5[:1, :1].copy()
    nan[0, 0, 1, 1, 1] = np.nan
    values, where = F.max_pool3d(tm.tensor(nan), 2, return_indices=True)
    assert np.isnan(values.numpy()[0, 0, 0, 0, 0]) and where.numpy()[0, 0, 0, 0, 0] == (1 * 6 + 1) * 7 + 1


@settings(max_examples=3, deadline=None)
@given(d=st.integers(1, 4), w=st.integers(1, 5), k=st.integers(1, 3), ceil=st.booleans())
def test_max_pool3d_on_drawn_shapes(d, w, k, ceil):
    x = RNG.normal(size=(1, 2, d, 3, w))
    kernel = (min(k, d), 1, min(k, w))
    _against_torch(lambda t: F.max_pool3d(t, kernel, 1, 0, 1, ceil, True),
                   lambda t: TF.max_pool3d(t, kernel, 1, 0, 1, ceil, True), x, indices=True)


@pytest.mark.parametrize("output_size", [(3, 4, None), 1, (5, 2, 7)])
def test_adaptive_max_pool3d_matches_torch(output_size):
    _against_torch(lambda t: F.adaptive_max_pool3d(t, output_size, True),
                   lambda t: TF.adaptive_max_pool3d(t, output_size, True), X5, indices=True)


def test_adaptive_max_aliases():
    for name, x in (("adaptive_max_pool1d", X5[0, 0]), ("adaptive_max_pool2d", X5[0]),
                    ("adaptive_max_pool3d", X5[0])):
        _against_torch(lambda t: getattr(F, name + "_with_indices")(t, 2),
                       lambda t: getattr(TF, name + "_with_indices")(t, 2), x, indices=True)


AVG_POOLS = [  # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    ((2, 3, 2), (1, 2, 3), (1, 1, 0), True, False, None),
    (3, 2, 1, True, True, None),
    (3, 2, 1, False, False, 5),
    (2, None, 0, False, True, None),
]


@pytest.mark.parametrize("args", AVG_POOLS, ids=["ceil_no_pad_count", "ceil", "divisor", "plain"])
def test_avg_pool3d_matches_torch(args):
    _against_torch(lambda t: F.avg_pool3d(t, *args), lambda t: TF.avg_pool3d(t, *args), X5)


def test_adaptive_avg_pool3d_matches_torch():
    for size in ((3, 4, None), (5, 1, 7)):
        _against_torch(lambda t: F.adaptive_avg_pool3d(t, size), lambda t: TF.adaptive_avg_pool3d(t, size), X5)
    _against_torch(lambda t: F.adaptive_avg_pool3d(t, 2), lambda t: TF.adaptive_avg_pool3d(t, 2), X5[0])


@pytest.mark.parametrize("name, x, args", [
    ("lp_pool3d", np.abs(X5) + 0.1, (2, 2, None, True)),
    ("lp_pool2d", np.abs(X5[0]) + 0.1, (3, (2, 3), 1)),
    ("lp_pool1d", np.abs(X5[0, 0]) + 0.1, (1.5, 3, 2, True)),
], ids=["3d", "2d", "1d"])
def test_lp_pool_matches_torch(name, x, args):
    _against_torch(lambda t: getattr(F, name)(t, *args), lambda t: getattr(TF, name)(t, *args), x)


@pytest.mark.parametrize("dims, x, kernel, stride, padding, sizes", [
    (3, X5, 2, None, 0, [X5.shape[2:]]),
    (2, X5[0, 0], (3, 2), (2, 2), (1, 0), [(6, 7)]),
    (1, X5[0, 0], 3, 2, 1, [None, (8,)]),
], ids=["3d", "2d_unbatched", "1d_overlapping"])
def test_max_unpool_inverts_max_pool_as_torch(dims, x, kernel, stride, padding, sizes):
    """Values at their indices, the default output size or a given one; the gradient
    gathered at every index, duplicates (overlapping windows) included, as PyTorch."""
    pool, unpool = f"max_pool{dims}d", f"max_unpool{dims}d"
    values, where = getattr(F, pool)(tm.tensor(x), kernel, stride, padding, return_indices=True)
    t_values, t_where = getattr(TF, pool)(torch.tensor(x), kernel, stride, padding, return_indices=True)
    for size in sizes:
        _against_torch(lambda t: getattr(F, unpool)(t, where, kernel, stride, padding, size),
                       lambda t: getattr(TF, unpool)(t, t_where, kernel, stride, padding, size),
                       t_values.numpy())


def test_gradients_match_finite_differences():
    x = RNG.normal(size=(1, 1, 3, 4, 3))
    check_grad(lambda t: F.max_pool3d(t, 2, 1, 1, 1, True), x)
    check_grad(lambda t: F.avg_pool3d(t, 2, 1, 1, True, False), x)
    check_grad(lambda t: F.adaptive_max_pool3d(t, (2, 3, 2)), x)
    check_grad(lambda t: F.lp_pool3d(t, 2, 2, 1), np.abs(x) + 0.5)
    # distinct indices (windows not overlapping): PyTorch's gradient is then the derivative
    _, where = F.max_pool3d(tm.tensor(x), 2, return_indices=True)
    check_grad(lambda t: F.max_unpool3d(t, where, 2, output_size=x.shape[2:]), RNG.normal(size=where.shape))


@pytest.mark.parametrize("make, shape, indices", [
    (lambda lib: lib.nn.MaxPool3d(3, 2, 1, return_indices=True, ceil_mode=True), (2, 3, 5, 6, 7), True),
    (lambda lib: lib.nn.MaxPool2d(2, dilation=2), (3, 5, 6), False),
    (lambda lib: lib.nn.AvgPool3d(2, count_include_pad=False, padding=1), (1, 2, 3, 4, 5), False),
    (lambda lib: lib.nn.AdaptiveAvgPool3d((2, None, 1)), (2, 3, 4, 5), False),
    (lambda lib: lib.nn.AdaptiveMaxPool3d(2, return_indices=True), (1, 2, 3, 4, 5), True),
    (lambda lib: lib.nn.LPPool3d(2, 2), (1, 2, 4, 4, 4), False),
    (lambda lib: lib.nn.LPPool1d(3, 2, stride=1), (2, 5), False),
], ids=["maxpool3d", "maxpool2d_dilated", "avgpool3d", "adaptive_avg3d", "adaptive_max3d", "lppool3d", "lppool1d"])
def test_layers_match_torch(make, shape, indices):
    x = RNG.normal(size=shape) + (3.0 if "LP" in repr(make(tm)) else 0.0)
    _against_torch(make(tm), make(torch), x, indices)


def test_max_unpool_layers():
    pool, t_pool = nn.MaxPool3d(2, return_indices=True), torch.nn.MaxPool3d(2, return_indices=True)
    values, where = pool(tm.tensor(X5))
    t_values, t_where = t_pool(torch.tensor(X5))
    unpool, t_unpool = nn.MaxUnpool3d(2), torch.nn.MaxUnpool3d(2)
    assert (unpool.kernel_size, unpool.stride, unpool.padding) == (t_unpool.kernel_size, t_unpool.stride,
                                                                   t_unpool.padding)
    got = unpool(values, where, output_size=X5.shape)
    np.testing.assert_array_equal(got.numpy(), t_unpool(t_values, t_where, output_size=X5.shape).numpy())
    assert nn.MaxUnpool1d(2)(tm.tensor(X5[0, 0, 0, :, :3]), tm.tensor(np.array([[0, 3, 5]] * 6))).shape == (6, 6)


@pytest.mark.parametrize("call, message", [
    (lambda: F.max_pool3d(tm.randn(4, 4), 2), r"max_pool3d: input must be \(N, C, D, H, W\)"),
    (lambda: F.max_pool3d(tm.randn(1, 1, 4, 4, 4), 2, padding=2), "padding .* at most half"),
    (lambda: F.max_pool3d(tm.randn(1, 1, 4, 4, 4), (2, 2)), "kernel_size must be an int or a 3-tuple"),
    (lambda: F.max_pool3d(tm.randn(1, 1, 1, 4, 4), 2), "does not fit"),
    (lambda: F.max_pool2d(tm.randn(1, 4, 4), 2, dilation=0), "dilation must be at least 1"),
    (lambda: F.max_pool3d(tm.tensor(np.ones((1, 1, 2, 2, 2), "int64")), 2), "floating-point"),
    (lambda: F.avg_pool3d(tm.randn(1, 1, 4, 4, 4), 2, divisor_override=0), "divisor_override"),
    (lambda: F.adaptive_avg_pool3d(tm.randn(1, 1, 4, 4, 4), (2, 2)), "output_size must be an int or a 3-tuple"),
    (lambda: F.adaptive_max_pool3d(tm.randn(1, 1, 4, 4, 4), 0), "positive"),
    (lambda: F.lp_pool2d(tm.randn(1, 4, 4), 0, 2), "norm_type"),
    (lambda: F.max_unpool2d(tm.randn(1, 2, 2), tm.tensor(np.zeros((1, 2, 2), "int64")), 2, output_size=(7, 4)),
     "within one stride"),
    (lambda: F.max_unpool2d(tm.randn(1, 2, 2), tm.tensor(np.full((1, 2, 2), 16)), 2), "out of range|index"),
    (lambda: F.max_unpool2d(tm.randn(1, 2, 2), tm.randn(1, 2, 2), 2), "indices must be an integer tensor"),
], ids=["rank", "padding", "kernel", "fit", "dilation", "dtype", "divisor", "adaptive_size", "adaptive_zero",
        "norm_type", "unpool_size", "unpool_range", "unpool_dtype"])
def test_bad_arguments_raise_named_errors(call, message):
    with pytest.raises(TVMiniError, match=message):
        call()


def test_emulated_gpu_runs_the_window_max_kernels(emulated_gpu):
    """max_pool_nd and its gradient on the emulated GPU agree with the CPU."""
    x = RNG.normal(size=(1, 2, 3, 4, 3)).astype("float32")
    results = []
    for device in ("cuda", "cpu"):
        leaf = tm.tensor(x, device=device, requires_grad=True)
        values, where = F.max_pool3d(leaf, 2, 1, 1, return_indices=True)
        values.backward(tm.ones(*values.shape, device=device))
        results.append((values.numpy(), where.numpy(), leaf.grad.numpy()))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    assert "_max_pool_nd_" in launched and "_max_pool_nd_grad_" in launched
