"""F.interpolate (modes nearest, linear, bilinear; align_corners; size or scale_factor)
and nn.Upsample: values and gradients against PyTorch and numpy formulas, gradients
against finite differences in float64, errors, and the kernels on the emulated GPU."""
import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import DTypeError, ShapeError
from graph_gradcheck import check_grad

RNG = np.random.default_rng(0)
# (input shape, size/scale arguments): up, down, mixed, size-1 axes, big factors
CASES = [((2, 3, 4, 5), {"size": (7, 3)}), ((1, 2, 3, 4), {"scale_factor": 2}),
         ((1, 2, 5, 3), {"scale_factor": (1.5, 0.7)}), ((1, 1, 1, 4), {"size": (3, 1)}),
         ((1, 1, 2, 9), {"scale_factor": (4, 1 / 3)}),
         ((1, 2, 5, 7), {"scale_factor": 2.3, "recompute_scale_factor": True}),
         ((2, 3, 6), {"size": 11}), ((2, 1, 6), {"scale_factor": 0.5}), ((1, 2, 1), {"size": 5})]


def _modes(ndim):
    linear = "linear" if ndim == 3 else "bilinear"
    return [("nearest", None), (linear, False), (linear, True)]


def test_nearest_and_linear_match_numpy_formulas():
    x = RNG.standard_normal((1, 1, 3, 4))
    np.testing.assert_array_equal(F.interpolate(tm.tensor(x), scale_factor=2).numpy(),
                                  x.repeat(2, axis=2).repeat(2, axis=3))
    line = np.array([[[0.0, 1.0, 4.0]]])
    # align_corners=False, 3 -> 6: sources (o + 0.5) / 2 - 0.5 clamped at 0
    src = np.maximum((np.arange(6) + 0.5) / 2 - 0.5, 0)
    np.testing.assert_allclose(F.interpolate(tm.tensor(line), size=6, mode="linear").numpy()[0, 0],
                               np.interp(src, [0, 1, 2], line[0, 0]), rtol=1e-12)
    np.testing.assert_allclose(F.interpolate(tm.tensor(line), size=5, mode="linear", align_corners=True).numpy()[0, 0],
                               np.interp(np.arange(5) / 2, [0, 1, 2], line[0, 0]), rtol=1e-12)


@pytest.mark.parametrize("shape,kw", CASES)
def test_values_and_gradients_match_pytorch(shape, kw):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal(shape)
    for mode, align in _modes(len(shape)):
        for dtype, tol in (("float64", 1e-12), ("float32", 2e-6)):
            t, r = tm.tensor(x.astype(dtype), requires_grad=True), torch.tensor(x.astype(dtype), requires_grad=True)
            got = F.interpolate(t, mode=mode, align_corners=align, **kw)
            want = torch.nn.functional.interpolate(r, mode=mode, align_corners=align, **kw)
            assert got.shape == tuple(want.shape) and got.dtype == dtype
            np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=tol, atol=tol, err_msg=mode)
            head = RNG.standard_normal(got.shape).astype(dtype)
            got.backward(tm.tensor(head))
            want.backward(torch.tensor(head))
            np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=tol, atol=4 * tol, err_msg=mode)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_gradients_match_finite_differences(mode, align):
    check_grad(lambda t: F.interpolate(t, size=(5, 2), mode=mode, align_corners=align),
               RNG.standard_normal((1, 2, 3, 4)))
    check_grad(lambda t: F.interpolate(t, scale_factor=3, mode="linear" if align is not None else mode,
                                       align_corners=align), RNG.standard_normal((1, 1, 3)))


def test_upsample_layers():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((1, 2, 3, 3))
    for layer, ref in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                       (nn.Upsample(size=(4, 5), mode="bilinear"), torch.nn.Upsample(size=(4, 5), mode="bilinear")),
                       (nn.UpsamplingNearest2d(size=5), torch.nn.UpsamplingNearest2d(size=5)),
                       (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2))]:
        np.testing.assert_allclose(layer(tm.tensor(x)).numpy(), ref(torch.tensor(x)).numpy(), rtol=1e-12)
        assert repr(layer) == repr(ref)


def test_errors_name_interpolate():
    x = tm.zeros(1, 1, 2, 2)
    for kwargs, message in [({}, "give exactly one of size and scale_factor"),
                            ({"size": 3, "scale_factor": 2}, "give exactly one of size and scale_factor"),
                            ({"size": 3, "mode": "bicubic"}, "mode 'bicubic' is not supported"),
                            ({"size": 3, "mode": "linear"}, "mode 'linear' takes a 3-D input"),
                            ({"size": 3, "align_corners": True}, "align_corners can only be set with the linear"),
                            ({"size": (3, 3, 3)}, "size \\(3, 3, 3\\) must have 2 entries"),
                            ({"scale_factor": 0.1}, "the output size \\(0, 0\\)"),
                            ({"scale_factor": -2}, "scale_factor -2 must be positive"),
                            ({"size": 3, "antialias": True}, "antialias=True is not supported")]:
        with pytest.raises(ShapeError, match="interpolate: " + message):
            F.interpolate(x, **kwargs)
    with pytest.raises(ShapeError, match="mode 'nearest' takes a 3 or 4-D input"):
        F.interpolate(tm.zeros(2, 2), size=3)
    with pytest.raises(DTypeError, match="interpolate: expects a floating-point tensor"):
        F.interpolate(tm.zeros(1, 1, 2, dtype="int64"), size=3)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_on_the_emulated_gpu(emulated_gpu, mode):
    """The kernels with their default CUDA schedules give the CPU's values and gradients."""
    x = RNG.standard_normal((2, 3, 4, 5)).astype("float32")
    results = []
    for device in ("cpu", "cuda"):
        t = tm.tensor(x, device=device, requires_grad=True)
        out = F.interpolate(t, size=(7, 3), mode=mode)
        (out * out).sum().backward()
        results.append((out.numpy(), t.grad.numpy()))
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    assert "resize_grad" in launched, launched
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
