"""F.pad's "reflect", "replicate" and "circular" modes (topi.pad_edge and its gradient)
and the convolution layers' ``padding_mode``: values and gradients against PyTorch and
numpy's np.pad, gradients against finite differences, PyTorch's width rules, errors, and
the kernels on the emulated GPU."""
import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import ShapeError
from graph_gradcheck import check_grad

MODES = ("reflect", "replicate", "circular")
NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
# (input shape, widths) covering 1-, 2- and 3-D padding, batched or not, size-1 axes
CASES = [((2, 3), (1, 2)), ((1, 2, 4), (3, 0)), ((2, 1, 3, 4), (1, 2, 2, 0)), ((1, 3, 1), (0, 1)),
         ((3, 4, 3), (2, 1, 0, 3)), ((1, 2, 3, 4, 3), (1, 2, 2, 1, 1, 0)), ((2, 3, 2, 2), (1, 1, 1, 1, 1, 1))]


def _numpy_pad(x, widths, mode):
    pairs = [(0, 0)] * x.ndim
    for k in range(len(widths) // 2):
        pairs[x.ndim - 1 - k] = (widths[2 * k], widths[2 * k + 1])
    return np.pad(x, pairs, mode=NUMPY_MODE[mode])


def _fits(shape, widths, mode):
    """Whether PyTorch accepts these widths for this mode (reflect: below the extent)."""
    return mode != "reflect" or all(max(widths[2 * k], widths[2 * k + 1]) < shape[-1 - k]
                                    for k in range(len(widths) // 2))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,widths", CASES)
def test_values_match_numpy_and_gradients_sum_back(mode, shape, widths):
    if not _fits(shape, widths, mode):
        pytest.skip("reflect widths must be below the extent")
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    t = tm.tensor(x, requires_grad=True)
    out = F.pad(t, widths, mode=mode)
    np.testing.assert_array_equal(out.numpy(), _numpy_pad(x, widths, mode))
    out.sum().backward()
    # each input element gets the count of output elements that read it
    index = np.arange(x.size, dtype="float64").reshape(shape)
    counts = np.bincount(_numpy_pad(index, widths, mode).astype(int).ravel(), minlength=x.size).reshape(shape)
    np.testing.assert_array_equal(t.grad.numpy(), counts)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,widths", [((2, 3), (2, 1)), ((1, 3, 3), (1, 2, 0, 2)),
                                          ((1, 1, 2, 3, 2), (1, 1, 0, 1, 1, 0))])
def test_gradients_match_finite_differences(mode, shape, widths):
    if not _fits(shape, widths, mode):
        pytest.skip("reflect widths must be below the extent")
    check_grad(lambda x: F.pad(x, widths, mode=mode) ** 2, np.random.default_rng(1).standard_normal(shape))


@pytest.mark.parametrize("mode", MODES)
def test_matches_pytorch_with_negative_widths_and_gradients(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    negative = [((1, 2, 3), (-1, 2)), ((2, 4, 5), (2, -1, -2, 1))]
    if mode != "circular":      # PyTorch's circular mode fails on these
        negative += [((1, 1, 3), (-2, 2)), ((1, 1, 3), (1, -3))]
    for shape, widths in CASES + negative:
        if not _fits(shape, widths, mode):
            continue
        x = rng.standard_normal(shape)
        head = rng.standard_normal(torch.nn.functional.pad(torch.tensor(x), widths, mode=mode).shape)
        want_x = torch.tensor(x, requires_grad=True)
        want = torch.nn.functional.pad(want_x, widths, mode=mode)
        want.backward(torch.tensor(head))
        t = tm.tensor(x, requires_grad=True)
        got = F.pad(t, widths, mode=mode)
        got.backward(tm.tensor(head))
        np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
        np.testing.assert_allclose(t.grad.numpy(), want_x.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_pytorch_width_and_rank_rules():
    x = tm.zeros(1, 2, 3)
    with pytest.raises(ShapeError, match="reflect padding \\(3, 0\\) does not fit axis 2 of extent 3"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ShapeError, match="reflect padding \\(-3, 3\\) does not fit axis 2"):
        F.pad(x, (-3, 3), mode="reflect")
    with pytest.raises(ShapeError, match="replicate padding \\(-3, 0\\) does not fit .* one element out"):
        F.pad(x, (-3, 0), mode="replicate")
    with pytest.raises(ShapeError, match="circular padding \\(0, 4\\) does not fit axis 2 of extent 3"):
        F.pad(x, (0, 4), mode="circular")
    assert F.pad(x, (3, 3), mode="circular").shape == (1, 2, 9)
    assert F.pad(x, (5, 5), mode="replicate").shape == (1, 2, 13)
    for bad_x, widths in [(tm.zeros(3), (1, 1)), (tm.zeros(2, 3), (1, 1, 1, 1)), (tm.zeros(1, 1, 2, 3), (1, 1))]:
        with pytest.raises(ShapeError, match="pad: mode 'replicate' pads the last 1, 2 or 3 axes"):
            F.pad(bad_x, widths, mode="replicate")
    with pytest.raises(ShapeError, match="pad: mode must be one of"):
        F.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(ShapeError, match="takes no fill value"):
        F.pad(x, (1, 1), mode="reflect", value=2.0)
    assert F.pad(x, (1, 1), mode="reflect", value=0.0).shape == (1, 2, 5)      # as PyTorch


@pytest.mark.parametrize("mode", ("zeros",) + MODES)
def test_conv_padding_modes_match_pytorch(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for cls, shape, kernel, kw in [("Conv2d", (2, 3, 5, 6), 3, {"padding": (1, 2)}),
                                   ("Conv2d", (3, 5, 4), 4, {"padding": "same", "dilation": (1, 2)}),
                                   ("Conv1d", (2, 3, 7), 3, {"padding": 2, "stride": 2}),
                                   ("Conv1d", (3, 1), 1, {"padding": "valid"})]:
        layer = getattr(nn, cls)(3, 2, kernel, padding_mode=mode, **kw)
        ref = getattr(torch.nn, cls)(3, 2, kernel, padding_mode=mode, **kw).double()
        ref.weight.data, ref.bias.data = (torch.tensor(p.numpy(), dtype=torch.float64)
                                          for p in (layer.weight, layer.bias))
        x = rng.standard_normal(shape)
        xt = tm.tensor(x.astype("float32"), requires_grad=True)
        xr = torch.tensor(x, requires_grad=True)
        out, want = layer(xt), ref(xr)
        np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
        out.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        assert (f"padding_mode={mode}" in repr(layer)) == (mode != "zeros")


def test_conv_padding_mode_errors_name_the_layer():
    with pytest.raises(ShapeError, match="Conv1d: padding_mode must be one of"):
        nn.Conv1d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ShapeError, match="ConvTranspose2d: padding_mode must be one of \\('zeros',\\)"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ShapeError, match="pad: reflect padding \\(3, 3\\) does not fit axis 2 of extent 3"):
        nn.Conv2d(1, 1, 5, padding=3, padding_mode="reflect")(tm.zeros(1, 1, 3, 3))


def test_max_pool1d_and_2d_take_dilation_and_indices():
    """Once refused (naming the class), now PyTorch's: dilation and return_indices."""
    values, indices = nn.MaxPool1d(2, return_indices=True)(tm.tensor(np.arange(16, dtype="float32").reshape(1, 1, 16)))
    np.testing.assert_array_equal(values.numpy().ravel(), np.arange(1, 16, 2))
    np.testing.assert_array_equal(indices.numpy().ravel(), np.arange(1, 16, 2))
    image = tm.tensor(np.arange(36, dtype="float32").reshape(1, 1, 6, 6))
    np.testing.assert_array_equal(nn.MaxPool2d(2, dilation=2)(image).numpy()[0, 0], [[14, 16], [26, 28]])
    with pytest.raises(ShapeError, match="dilation must be at least 1"):
        nn.MaxPool2d(2, dilation=0)(image)