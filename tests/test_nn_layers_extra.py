"""More layers: RMSNorm, InstanceNorm, LocalResponseNorm, Bilinear, pixel and channel
shuffles, the padding layers, adaptive max pooling, Softmax2d, AlphaDropout, Unfold and
Fold. Values against numpy formulas and PyTorch, gradients against float64 finite
differences (and PyTorch's), parameter names and default init as PyTorch's, errors
naming the op."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import ShapeError
from graph_gradcheck import check_grad

RNG = np.random.default_rng(0)


def _torch():
    return pytest.importorskip("torch")


def _both(fn_ours, fn_theirs, *arrays, rtol=1e-10, atol=1e-12):
    """Values and gradients (for a fixed head) of ``fn_ours`` on tvmini tensors and
    ``fn_theirs`` on torch tensors, float64, compared."""
    torch = _torch()
    ours = [tm.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, want = fn_ours(*ours), fn_theirs(*theirs)
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=rtol, atol=atol)
    head = RNG.uniform(0.5, 1.5, size=out.shape)
    out.backward(tm.tensor(head))
    want.backward(torch.tensor(head))
    for k, (o, t) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {k}")
    return out


# ------------------------------------------------------------------------------ RMSNorm

def test_rms_norm_formula_pytorch_and_gradient():
    torch = _torch()
    x, w = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((3, 4))
    want = x / np.sqrt((x * x).mean((1, 2), keepdims=True) + 1e-6) * w
    np.testing.assert_allclose(F.rms_norm(tm.tensor(x), (3, 4), tm.tensor(w), 1e-6).numpy(), want, rtol=1e-12)
    _both(lambda a, b: F.rms_norm(a, (4,), b), lambda a, b: torch.nn.functional.rms_norm(a, (4,), b),
          x, RNG.standard_normal(4))
    _both(lambda a: F.rms_norm(a, 4, eps=0.1), lambda a: torch.nn.functional.rms_norm(a, (4,), eps=0.1), x)
    check_grad(lambda a, b: F.rms_norm(a, (4,), b), RNG.standard_normal((3, 4)), RNG.standard_normal(4))
    eps32 = F.rms_norm(tm.tensor(np.zeros((1, 2), "float32")), 2)        # eps = finfo(float32).eps: 0/sqrt(eps)
    assert eps32.dtype == "float32" and not eps32.numpy().any()


def test_rms_norm_layer():
    torch = _torch()
    layer, ref = nn.RMSNorm([2, 3], eps=1e-5), torch.nn.RMSNorm([2, 3], eps=1e-5)
    assert [n for n, _ in layer.named_parameters()] == ["weight"] and layer.weight.numpy().tolist() == [[1.0] * 3] * 2
    x = RNG.standard_normal((4, 2, 3)).astype("float32")
    np.testing.assert_allclose(layer(tm.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    assert nn.RMSNorm(3, elementwise_affine=False).weight is None
    with pytest.raises(ShapeError, match=r"rms_norm: normalized_shape \(5,\)"):
        F.rms_norm(tm.tensor(x), 5)


# ----------------------------------------------------------------------------- Bilinear

def test_bilinear_formula_pytorch_and_gradient():
    torch = _torch()
    x1, x2 = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 5))
    w, b = RNG.standard_normal((6, 4, 5)), RNG.standard_normal(6)
    want = np.einsum("...i,oij,...j->...o", x1, w, x2) + b
    np.testing.assert_allclose(F.bilinear(*(tm.tensor(a) for a in (x1, x2, w, b))).numpy(), want, rtol=1e-10)
    _both(F.bilinear, torch.nn.functional.bilinear, x1, x2, w, b)
    _both(F.bilinear, torch.nn.functional.bilinear, x1[0, 0], x2[0, 0], w)          # 1-D inputs, no bias
    check_grad(F.bilinear, RNG.standard_normal((2, 3)), RNG.standard_normal((2, 2)), RNG.standard_normal((2, 3, 2)),
               RNG.standard_normal(2))


def test_bilinear_layer_names_init_and_errors():
    torch = _torch()
    layer = nn.Bilinear(20, 3, 40)
    assert list(layer.state_dict()) == list(torch.nn.Bilinear(20, 3, 40).state_dict()) == ["weight", "bias"]
    bound = 1 / np.sqrt(20)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.8 * bound
    assert layer.weight.shape == (40, 20, 3) and nn.Bilinear(2, 3, 4, bias=False).bias is None
    with pytest.raises(ShapeError, match="bilinear: input1"):
        layer(tm.randn(2, 3), tm.randn(2, 3))
    with pytest.raises(ShapeError, match="leading shape"):
        layer(tm.randn(2, 20), tm.randn(3, 3))


# ------------------------------------------------------------------------- InstanceNorm

def test_instance_norm_formula_and_gradient():
    x = RNG.standard_normal((2, 3, 5))
    mean, var = x.mean(2, keepdims=True), x.var(2, keepdims=True)
    np.testing.assert_allclose(F.instance_norm(tm.tensor(x)).numpy(), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    check_grad(lambda a, w, b: F.instance_norm(a, weight=w, bias=b), RNG.standard_normal((2, 2, 3)),
               RNG.standard_normal(2), RNG.standard_normal(2), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls, shape", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm2d", (2, 3, 4, 3)),
                                        ("InstanceNorm2d", (3, 4, 3)), ("InstanceNorm3d", (1, 3, 2, 3, 2))])
@pytest.mark.parametrize("affine, track", [(False, False), (True, True)])
def test_instance_norm_layers_match_pytorch(cls, shape, affine, track):
    torch = _torch()
    ref = getattr(torch.nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.3).double()
    layer = getattr(nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.3, dtype="float64")
    assert list(layer.state_dict()) == list(ref.state_dict())
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1, 1)
        layer.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    for _ in range(2):                               # training: running statistics move as PyTorch's
        x = RNG.standard_normal(shape) * 2 + 1
        _both(layer, ref, x)
    if track:
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(layer, name).numpy(), getattr(ref, name).numpy(), rtol=1e-10)
    layer.eval(), ref.eval()
    _both(layer, ref, RNG.standard_normal(shape))


def test_instance_norm_errors():
    with pytest.raises(ShapeError, match="InstanceNorm2d: expected a 3-D"):
        nn.InstanceNorm2d(3)(tm.randn(2, 3))
    with pytest.raises(ShapeError, match="has 4 channels, num_features is 3"):
        nn.InstanceNorm1d(3, affine=True)(tm.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="has 4 channels"):
        nn.InstanceNorm1d(3)(tm.randn(2, 4, 5))
    with pytest.raises(ShapeError, match="more than 1 spatial element"):
        F.instance_norm(tm.randn(2, 3, 1))


# -------------------------------------------------------------------- LocalResponseNorm

@pytest.mark.parametrize("shape, size", [((2, 5, 4), 3), ((1, 4, 3, 2), 2), ((2, 3, 2, 2), 5)])
def test_local_response_norm_formula_pytorch_and_gradient(shape, size):
    torch = _torch()
    x = RNG.standard_normal(shape)
    c = shape[1]
    squares = np.pad(x * x, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (len(shape) - 2))
    window = sum(squares[:, j:j + c] for j in range(size))
    want = x / (1.0 + 0.1 / size * window) ** 0.6
    np.testing.assert_allclose(F.local_response_norm(tm.tensor(x), size, 0.1, 0.6).numpy(), want, rtol=1e-10)
    layer = nn.LocalResponseNorm(size, alpha=0.1, beta=0.6, k=2.0)
    _both(layer, torch.nn.LocalResponseNorm(size, alpha=0.1, beta=0.6, k=2.0), x)
    if len(shape) == 3:
        check_grad(layer, x)


# ---------------------------------------------------------------------- shuffles

@settings(max_examples=10, deadline=None)
@given(lead=st.lists(st.integers(1, 2), max_size=2), c=st.integers(1, 3), r=st.integers(1, 3),
       h=st.integers(1, 3), w=st.integers(1, 3))
def test_pixel_shuffle_and_unshuffle_match_pytorch(lead, c, r, h, w):
    torch = _torch()
    x = RNG.standard_normal((*lead, c * r * r, h, w))
    out = nn.PixelShuffle(r)(tm.tensor(x))
    np.testing.assert_array_equal(out.numpy(), torch.nn.functional.pixel_shuffle(torch.tensor(x), r).numpy())
    back = nn.PixelUnshuffle(r)(out)
    np.testing.assert_array_equal(back.numpy(), x)
    np.testing.assert_array_equal(back.numpy(), torch.nn.functional.pixel_unshuffle(torch.tensor(out.numpy()),
                                                                                    r).numpy())


def test_shuffles_by_formula_gradient_and_errors():
    x = np.arange(2 * 8 * 3).reshape(2, 8, 3).astype("float64")
    # pixel (i, j) of channel k after a factor-2 shuffle is input channel 4k + 2(i % 2) + j % 2 at (i // 2, j // 2)
    y = RNG.standard_normal((1, 8, 2, 3))
    out = F.pixel_shuffle(tm.tensor(y), 2).numpy()
    for k, i, j in np.ndindex(2, 4, 6):
        assert out[0, k, i, j] == y[0, 4 * k + 2 * (i % 2) + j % 2, i // 2, j // 2]
    shuffled = F.channel_shuffle(tm.tensor(x), 2).numpy()
    np.testing.assert_array_equal(shuffled, x[:, [0, 4, 1, 5, 2, 6, 3, 7]])
    check_grad(lambda a: F.pixel_shuffle(a, 2), RNG.standard_normal((4, 1, 2)))
    check_grad(lambda a: F.channel_shuffle(a, 3), RNG.standard_normal((1, 6, 2)))
    with pytest.raises(ShapeError, match=r"pixel_shuffle: input must be \(\*, C \* 4, H, W\)"):
        F.pixel_shuffle(tm.randn(1, 3, 2, 2), 2)
    with pytest.raises(ShapeError, match="pixel_unshuffle: .* divisible by downscale_factor 2"):
        F.pixel_unshuffle(tm.randn(1, 3, 3, 2), 2)
    with pytest.raises(ShapeError, match="channel_shuffle: .* divisible by groups 3"):
        nn.ChannelShuffle(3)(tm.randn(1, 4, 2))


def test_channel_shuffle_matches_pytorch():
    torch = _torch()
    for shape, groups in [((2, 6, 3), 3), ((1, 4, 2, 2), 2), ((2, 5, 1), 5)]:
        x = RNG.standard_normal(shape)
        np.testing.assert_array_equal(nn.ChannelShuffle(groups)(tm.tensor(x)).numpy(),
                                      torch.nn.ChannelShuffle(groups)(torch.tensor(x)).numpy())


# ---------------------------------------------------------------------- padding layers

@pytest.mark.parametrize("name, args, shape", [
    ("ZeroPad1d", (2,), (2, 3)), ("ZeroPad2d", ((1, 0, 2, 1),), (1, 2, 3)), ("ZeroPad3d", (1,), (1, 2, 2, 2)),
    ("ConstantPad1d", ((0, 2), 1.5), (1, 2, 3)), ("ConstantPad2d", (1, -2.0), (2, 3, 3)),
    ("ConstantPad3d", ((1, 0, 0, 1, 1, 0), 3.0), (1, 1, 2, 2, 2)),
    ("ReflectionPad1d", ((2, 1),), (2, 4)), ("ReflectionPad2d", (2,), (1, 1, 3, 4)),
    ("ReflectionPad3d", (1,), (1, 1, 2, 3, 2)),
    ("ReplicationPad1d", (3,), (1, 2, 2)), ("ReplicationPad2d", ((0, 1, 2, 3),), (2, 2, 3)),
    ("ReplicationPad3d", ((1, 0, 2, 0, 0, 1),), (1, 2, 2, 2)),
    ("CircularPad1d", ((1, 2),), (2, 3)), ("CircularPad2d", (1,), (1, 1, 2, 3)),
    ("CircularPad3d", ((1, 1, 0, 1, 1, 0),), (1, 1, 2, 2, 2)),
])
def test_padding_layers_match_pytorch(name, args, shape):
    torch = _torch()
    layer, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert layer.padding == tuple(ref.padding)
    assert repr(layer) == repr(ref)
    _both(layer, ref, RNG.standard_normal(shape))


def test_padding_layer_errors():
    with pytest.raises(ShapeError, match="ZeroPad2d: padding must be an int or 4 ints"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ShapeError, match="reflect padding"):
        nn.ReflectionPad1d(3)(tm.randn(1, 2, 3))
    check_grad(nn.ReflectionPad2d((1, 2, 0, 1)), RNG.standard_normal((1, 2, 3)))


# --------------------------------------------------------------- adaptive max pooling

def _np_adaptive_max(x, size):
    """Values and flat positions by PyTorch's window rule, looping in numpy."""
    h, w = x.shape[-2:]
    values, where = np.zeros(x.shape[:-2] + size), np.zeros(x.shape[:-2] + size, "int64")
    for i, j in np.ndindex(*size):
        r0, r1 = i * h // size[0], -(-(i + 1) * h // size[0])
        c0, c1 = j * w // size[1], -(-(j + 1) * w // size[1])
        win = x[..., r0:r1, c0:c1].reshape(x.shape[:-2] + (-1,))
        k = win.argmax(-1)
        values[..., i, j] = win.max(-1)
        where[..., i, j] = (r0 + k // (c1 - c0)) * w + c0 + k % (c1 - c0)
    return values, where


@settings(max_examples=12, deadline=None)
@given(h=st.integers(1, 7), w=st.integers(1, 7), oh=st.integers(1, 4), ow=st.integers(1, 4),
       batched=st.booleans())
def test_adaptive_max_pool2d_matches_numpy_and_pytorch(h, w, oh, ow, batched):
    torch = _torch()
    x = RNG.standard_normal((2, 2, h, w) if batched else (2, h, w))
    values, where = F.adaptive_max_pool2d(tm.tensor(x), (oh, ow), return_indices=True)
    want_v, want_i = _np_adaptive_max(x, (oh, ow))
    np.testing.assert_array_equal(values.numpy(), want_v)
    np.testing.assert_array_equal(where.numpy(), want_i)
    assert where.dtype == "int64"
    t_v, t_i = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), (oh, ow), return_indices=True)
    np.testing.assert_array_equal(values.numpy(), t_v.numpy())
    np.testing.assert_array_equal(where.numpy(), t_i.numpy())
    # gradients too: windows overlap, and with more outputs than inputs a pixel is in several
    _both(lambda a: F.adaptive_max_pool2d(a, (oh, ow)),
          lambda a: torch.nn.functional.adaptive_max_pool2d(a, (oh, ow)), x)


def test_adaptive_max_pool_layers_gradients_and_ties():
    torch = _torch()
    x = RNG.standard_normal((2, 3, 5, 7))
    _both(nn.AdaptiveMaxPool2d((3, None)), torch.nn.AdaptiveMaxPool2d((3, None)), x)
    _both(nn.AdaptiveMaxPool1d(4), torch.nn.AdaptiveMaxPool1d(4), x[0])
    _both(nn.AdaptiveMaxPool1d(3), torch.nn.AdaptiveMaxPool1d(3), x[0, 0])
    v, i = nn.AdaptiveMaxPool1d(2, return_indices=True)(tm.tensor(x[0]))
    tv, ti = torch.nn.AdaptiveMaxPool1d(2, return_indices=True)(torch.tensor(x[0]))
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    ties = np.ones((1, 1, 3, 3))                                  # ties: the first maximum, as PyTorch
    _, where = F.adaptive_max_pool2d(tm.tensor(ties), 2, return_indices=True)
    np.testing.assert_array_equal(where.numpy(), [[[[0, 1], [3, 4]]]])
    check_grad(lambda a: F.adaptive_max_pool2d(a, (2, 3)), RNG.standard_normal((1, 2, 3, 5)))
    check_grad(lambda a: F.adaptive_max_pool1d(a, 2), RNG.standard_normal((2, 5)))
    with pytest.raises(ShapeError, match="adaptive_max_pool2d: expects"):
        F.adaptive_max_pool2d(tm.randn(3, 3), 2)


# ------------------------------------------------------------------ Softmax2d, AlphaDropout

def test_softmax2d():
    torch = _torch()
    x = RNG.standard_normal((2, 3, 2, 2))
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(nn.Softmax2d()(tm.tensor(x)).numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)
    _both(nn.Softmax2d(), torch.nn.Softmax2d(), x[0])
    with pytest.raises(ShapeError, match="Softmax2d: expected a 3-D or 4-D input"):
        nn.Softmax2d()(tm.randn(2, 3))


SATURATION = -1.7580993408473766          # SELU's -scale * alpha


def test_alpha_dropout_values_statistics_and_gradient():
    torch = _torch()
    p = 0.3
    x = RNG.standard_normal((200, 100))
    leaf = tm.tensor(x, requires_grad=True)
    out = F.alpha_dropout(leaf, p, training=True)
    ref = torch.nn.functional.alpha_dropout(torch.tensor(x), p, training=True).numpy()
    # both: a kept element is a*x + b, a dropped one the same constant a*alpha' + b
    a = ((1 - p) * (1 + p * SATURATION ** 2)) ** -0.5
    b = -a * SATURATION * p
    for got in (out.numpy(), ref):
        dropped = ~np.isclose(got, a * x + b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got[dropped], a * SATURATION + b, rtol=1e-12)
        assert abs(dropped.mean() - p) < 0.02
    out.backward(tm.ones(*x.shape, dtype="float64"))          # d/dx: a where kept, 0 where dropped
    kept = np.isclose(out.numpy(), a * x + b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(leaf.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-12)
    normal = F.alpha_dropout(tm.tensor(x), p, training=True).numpy()         # zero mean, unit variance kept
    assert abs(normal.mean()) < 0.03 and abs(normal.std() - 1) < 0.03


def test_alpha_dropout_layer_modes():
    x = RNG.standard_normal((3, 4))
    layer = nn.AlphaDropout(0.5)
    assert layer.training and not np.array_equal(layer(tm.tensor(x)).numpy(), x)
    np.testing.assert_array_equal(layer.eval()(tm.tensor(x)).numpy(), x)
    np.testing.assert_array_equal(F.alpha_dropout(tm.tensor(x), 0.5).numpy(), x)       # training=False by default
    assert not F.alpha_dropout(tm.tensor(x), 1.0, training=True).numpy().any()
    with pytest.raises(ShapeError, match=r"alpha_dropout: p must be in \[0, 1\]"):
        F.alpha_dropout(tm.tensor(x), 1.5, training=True)


# --------------------------------------------------------------------------- Unfold/Fold

def _np_unfold(x, k, d, p, s):
    """im2col by loops: column (c, ki, kj) row-major, windows row-major."""
    n, c, h, w = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    oh, ow = ((h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1, (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1)
    out = np.zeros((n, c * k[0] * k[1], oh * ow))
    for ci, ki, kj, i, j in np.ndindex(c, k[0], k[1], oh, ow):
        out[:, (ci * k[0] + ki) * k[1] + kj, i * ow + j] = xp[:, ci, i * s[0] + ki * d[0], j * s[1] + kj * d[1]]
    return out


GEOMETRIES = [dict(kernel_size=2), dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
              dict(kernel_size=3, padding=(0, 2), stride=2), dict(kernel_size=1, dilation=2)]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_unfold_and_fold_match_numpy_and_pytorch(geometry):
    torch = _torch()
    x = RNG.standard_normal((2, 3, 5, 6))
    pair = lambda key, default: (lambda v: (v, v) if isinstance(v, int) else v)(geometry.get(key, default))
    want = _np_unfold(x, pair("kernel_size", 1), pair("dilation", 1), pair("padding", 0), pair("stride", 1))
    np.testing.assert_allclose(F.unfold(tm.tensor(x), **geometry).numpy(), want)
    cols = _both(nn.Unfold(**geometry), torch.nn.Unfold(**geometry), x)
    _both(nn.Fold((5, 6), **geometry), torch.nn.Fold((5, 6), **geometry), RNG.standard_normal(cols.shape))
    _both(nn.Fold((5, 6), **geometry), torch.nn.Fold((5, 6), **geometry), RNG.standard_normal(cols.shape[1:]))
    _both(nn.Unfold(**geometry), torch.nn.Unfold(**geometry), x[0])


def test_fold_is_the_adjoint_of_unfold_and_their_gradients_are_each_other():
    geometry = dict(kernel_size=(2, 2), dilation=1, padding=1, stride=(1, 2))
    x = RNG.standard_normal((1, 2, 3, 4))
    cols = F.unfold(tm.tensor(x), **geometry)
    y = RNG.standard_normal(cols.shape)
    folded = F.fold(tm.tensor(y), (3, 4), **geometry)
    np.testing.assert_allclose(np.sum(cols.numpy() * y), np.sum(x * folded.numpy()), rtol=1e-12)
    leaf = tm.tensor(x, requires_grad=True)
    F.unfold(leaf, **geometry).backward(tm.tensor(y))
    np.testing.assert_allclose(leaf.grad.numpy(), folded.numpy(), rtol=1e-12)
    leaf = tm.tensor(y, requires_grad=True)
    F.fold(leaf, (3, 4), **geometry).backward(tm.tensor(x))
    np.testing.assert_allclose(leaf.grad.numpy(), cols.numpy(), rtol=1e-12)
    check_grad(lambda a: F.unfold(a, **geometry), x)
    check_grad(lambda a: F.fold(a, (3, 4), **geometry), y)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 6), k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 1),
       d=st.integers(1, 2))
def test_unfold_fold_random_geometry_match_pytorch(h, w, k, s, p, d):
    torch = _torch()
    if (h + 2 * p - d * (k - 1) - 1) < 0 or (w + 2 * p - d * (k - 1) - 1) < 0:
        with pytest.raises(ShapeError, match="unfold: a"):
            F.unfold(tm.randn(1, 1, h, w), k, d, p, s)
        return
    x = RNG.standard_normal((1, 2, h, w))
    geometry = dict(kernel_size=k, dilation=d, padding=p, stride=s)
    cols = F.unfold(tm.tensor(x), **geometry)
    np.testing.assert_allclose(cols.numpy(), torch.nn.functional.unfold(torch.tensor(x), **geometry).numpy())
    np.testing.assert_allclose(F.fold(cols, (h, w), **geometry).numpy(),
                               torch.nn.functional.fold(torch.tensor(cols.numpy()), (h, w), **geometry).numpy(),
                               rtol=1e-12)


def test_unfold_fold_errors():
    with pytest.raises(ShapeError, match="unfold: input must be"):
        F.unfold(tm.randn(2, 3), 2)
    with pytest.raises(ShapeError, match=r"fold: input of shape \(1, 5, 4\) must be \(N, C \* 4, 4\)"):
        F.fold(tm.randn(1, 5, 4), (3, 3), 2)
    with pytest.raises(ShapeError, match="fold: kernel_size"):
        nn.Fold(3, 0)(tm.randn(1, 4, 4))


def test_emulated_gpu_runs_the_window_ops(emulated_gpu):
    """Forward and gradient kernels (im2col, col2im, the adaptive max pair, ...) on the
    emulated GPU agree with the CPU's."""
    x = RNG.standard_normal((1, 2, 4, 5)).astype("float32")
    for fn in (lambda a: F.unfold(a, 2, padding=1), lambda a: F.adaptive_max_pool2d(a, (3, 2)),
               lambda a: F.fold(F.unfold(a, 3, stride=2), (4, 5), 3, stride=2),
               lambda a: F.pixel_unshuffle(a[..., :4], 2), lambda a: F.local_response_norm(a, 3),
               lambda a: F.rms_norm(a, 5)):
        results = []
        for device in ("cuda", "cpu"):
            leaf = tm.tensor(x, device=device, requires_grad=True)
            out = fn(leaf)
            out.backward(tm.ones(*out.shape, device=device))
            assert out.device.kind == device and leaf.grad.device.kind == device
            results.append((out.numpy(), leaf.grad.numpy()))
        for got, want in zip(*results):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    for kernel in ("im2col", "col2im", "adaptive_max", "adaptive_max_grad"):
        assert f"_{kernel}_" in launched


def test_jit_traces_the_new_layers_forward_and_backward():
    """A traced step through instance norm (running statistics), RMSNorm,
    LocalResponseNorm, unfold, fold, adaptive max pooling, the shuffles and Bilinear
    gives eager's losses, gradients and running statistics."""
    def make():
        tm.manual_seed(1)
        return nn.ModuleList([nn.InstanceNorm2d(2, affine=True, track_running_stats=True), nn.RMSNorm(5),
                              nn.LocalResponseNorm(2), nn.Bilinear(3, 3, 2)])

    def step(layers, x):
        norm, rms, lrn, bilinear = layers
        y = lrn(rms(norm(x)))
        cols = F.unfold(y, 2, padding=1)
        pooled = F.adaptive_max_pool2d(F.fold(cols, (4, 5), 2, padding=1), (3, 3))
        mixed = F.pixel_unshuffle(F.pixel_shuffle(F.channel_shuffle(pooled.repeat(1, 4, 1, 1), 2), 2), 2)[:, 1:3]
        loss = bilinear(pooled, mixed).sum()
        loss.backward()
        return loss

    eager, traced = make(), make()
    jitted = tm.jit(lambda x: step(traced, x))
    for _ in range(2):
        x = tm.tensor(RNG.standard_normal((2, 2, 4, 5)).astype("float32"))
        want = step(eager, x).item()
        assert jitted(x).item() == pytest.approx(want, rel=1e-5)
    for (name, p), (_, q) in zip(eager.named_parameters(), traced.named_parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(traced[0].running_var.numpy(), eager[0].running_var.numpy(), rtol=1e-5)
