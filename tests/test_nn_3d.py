"""3-D convolution layers, BatchNorm3d and Dropout3d against PyTorch (float64, every
gradient), finite differences, a jitted 3-D training step and the emulated GPU."""
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
RNG = np.random.default_rng(3)


def _against_torch(mine, theirs, *arrays, rtol=1e-10, atol=1e-11):
    """Run ``mine`` on tvmini float64 leaves and ``theirs`` on torch ones; compare the
    outputs and, under one random head gradient, every input's gradient."""
    ours = [tm.tensor(a, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = mine(*ours), theirs(*refs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    head = RNG.normal(size=out.shape)
    out.backward(tm.tensor(head))
    ref.backward(torch.tensor(head))
    for k, (a, b) in enumerate(zip(ours, refs)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {k}")


CONV3D = [  # input shape, weight shape, keyword arguments
    ((2, 4, 5, 6, 7), (6, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2)),
    ((1, 3, 1, 4, 3), (2, 3, 1, 3, 1), dict(padding="same")),
    ((1, 1, 4, 3, 5), (3, 1, 2, 2, 3), dict(padding="same", dilation=(1, 1, 2))),
]


@pytest.mark.parametrize("xs, ws, kwargs", CONV3D, ids=["strided_grouped", "same", "same_odd"])
def test_conv3d_matches_torch(xs, ws, kwargs):
    x, w, b = RNG.normal(size=xs), RNG.normal(size=ws), RNG.normal(size=ws[0])
    _against_torch(lambda x, w, b: F.conv3d(x, w, b, **kwargs), lambda x, w, b: TF.conv3d(x, w, b, **kwargs), x, w, b)


@settings(max_examples=3, deadline=None)
@given(d=st.integers(1, 4), h=st.integers(1, 5), k=st.integers(1, 3), stride=st.integers(1, 2),
       padding=st.integers(0, 1))
def test_conv3d_unbatched_and_no_bias_on_drawn_shapes(d, h, k, stride, padding):
    """Unbatched input, no bias, "valid"-sized windows, sizes down to 1."""
    if min(d, h) + 2 * padding < k:
        return
    x, w = RNG.normal(size=(2, d, h, 3)), RNG.normal(size=(3, 2, k, k, 1))
    _against_torch(lambda x, w: F.conv3d(x, w, None, stride, padding),
                   lambda x, w: TF.conv3d(x, w, None, stride, padding), x, w)


CONV_T3D = [
    ((2, 4, 3, 4, 5), (4, 3, 3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 1),
                                            dilation=(1, 2, 1), groups=2)),
    ((1, 2, 1, 3, 3), (2, 3, 1, 1, 1), dict()),
    ((1, 3, 2, 1, 2), (3, 1, 2, 3, 2), dict(stride=3, padding=(0, 1, 0))),
]


@pytest.mark.parametrize("xs, ws, kwargs", CONV_T3D, ids=["strided_grouped", "pointwise", "stride3"])
def test_conv_transpose3d_matches_torch(xs, ws, kwargs):
    groups = kwargs.get("groups", 1)
    x, w, b = RNG.normal(size=xs), RNG.normal(size=ws), RNG.normal(size=ws[1] * groups)
    _against_torch(lambda x, w, b: F.conv_transpose3d(x, w, b, **kwargs),
                   lambda x, w, b: TF.conv_transpose3d(x, w, b, **kwargs), x, w, b)


def test_conv3d_gradients_match_finite_differences():
    """On the shapes of the "same" and "pointwise" cases above (their kernels are built)."""
    x, w, b = RNG.normal(size=(1, 3, 1, 4, 3)), RNG.normal(size=(2, 3, 1, 3, 1)), RNG.normal(size=2)
    check_grad(lambda x, w, b: F.conv3d(x, w, b, padding="same"), x, w, b)
    x, w, b = RNG.normal(size=(1, 2, 1, 3, 3)), RNG.normal(size=(2, 3, 1, 1, 1)), RNG.normal(size=3)
    check_grad(lambda x, w, b: F.conv_transpose3d(x, w, b), x, w, b)


@pytest.mark.parametrize("make, shape", [
    (lambda lib, dt: lib.nn.Conv3d(4, 6, 3, stride=2, padding=1, groups=2, dtype=dt), (2, 4, 5, 4, 3)),
    (lambda lib, dt: lib.nn.Conv3d(2, 3, (1, 2, 3), padding="same", padding_mode="reflect", bias=False, dtype=dt),
     (2, 3, 4, 5)),
    (lambda lib, dt: lib.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, dtype=dt),
     (1, 4, 2, 3, 2)),
], ids=["conv", "conv_reflect_same", "transposed"])
def test_conv_layers_match_torch_with_copied_weights(make, shape):
    torch.manual_seed(0)
    theirs, mine = make(torch, torch.float64), make(tm, "float64")
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in state.items()}
    mine.load_state_dict({k: tm.tensor(v) for k, v in state.items()})
    _against_torch(mine, theirs, RNG.normal(size=shape))
    ours = dict(mine.named_parameters())
    for name, q in theirs.named_parameters():
        np.testing.assert_allclose(ours[name].grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_conv3d_default_init_is_pytorchs():
    """kaiming_uniform(a=sqrt(5)) weight and U(-1/sqrt(fan_in), ..) bias: fan_in = 2*27."""
    layer = nn.Conv3d(2, 64, 3)
    bound = 1 / np.sqrt(2 * 27)
    for p in (layer.weight.numpy(), layer.bias.numpy()):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    theirs = torch.nn.Conv3d(2, 64, 3)
    assert (layer.kernel_size, layer.stride, layer.padding, layer.dilation) == (
        theirs.kernel_size, theirs.stride, theirs.padding, theirs.dilation)


def test_batchnorm3d_trains_and_evaluates_as_torch():
    theirs, mine = torch.nn.BatchNorm3d(3).double(), nn.BatchNorm3d(3, dtype="float64")
    for _ in range(2):
        x = RNG.normal(size=(2, 3, 2, 3, 2))
        _against_torch(mine, theirs, x)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(mine, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-10)
    assert mine.num_batches_tracked.item() == 2
    mine.eval(), theirs.eval()
    _against_torch(mine, theirs, RNG.normal(size=(1, 3, 1, 2, 2)))
    with pytest.raises(TVMiniError, match="BatchNorm3d: expects a 5-D input"):
        mine(tm.randn(2, 3, 4, 4))


def test_dropout3d_zeroes_whole_volumes():
    tm.manual_seed(0)
    x = tm.ones(8, 16, 2, 2, 3)
    out = nn.Dropout3d(0.5)(x).numpy()
    per_volume = out.reshape(8, 16, -1)
    assert set(np.unique(per_volume)) <= {0.0, 2.0}
    assert (per_volume.min(axis=2) == per_volume.max(axis=2)).all()   # each volume all kept or all dropped
    assert 0.3 < (per_volume[:, :, 0] == 0).mean() < 0.7
    assert F.dropout3d(tm.ones(3, 2, 2, 2), 0.5).shape == (3, 2, 2, 2)          # unbatched
    layer = nn.Dropout3d(0.5).eval()
    assert (layer(x).numpy() == 1).all()
    with pytest.raises(TVMiniError, match=r"dropout3d: input must be \(N, C, D, H, W\)"):
        F.dropout3d(tm.ones(2, 3), 0.5)


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 3, 3)), "conv3d: input of shape"),
    (lambda: F.conv3d(tm.randn(1, 4, 3, 3, 3), tm.randn(2, 2, 1, 1, 1), groups=3), "conv3d: input of shape"),
    (lambda: F.conv3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 4, 1, 1)), "conv3d: kernel of shape"),
    (lambda: F.conv3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 1, 1, 1), stride=2, padding="same"), "needs stride 1"),
    (lambda: F.conv3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 1, 1, 1), padding="full"), "'same' or 'valid'"),
    (lambda: F.conv3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 1, 1, 1), stride=(1, 2)), "stride must be an int or"),
    (lambda: F.conv3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 1, 1, 1), tm.randn(3)), "bias of shape"),
    (lambda: F.conv3d(tm.randn(2, 3, 3), tm.randn(2, 2, 1, 1, 1)), r"conv3d: input must be \(N, C, D, H, W\)"),
    (lambda: F.conv_transpose3d(tm.randn(1, 2, 3, 3, 3), tm.randn(2, 2, 2, 2, 2), stride=2, output_padding=2),
     "output_padding"),
    (lambda: F.conv_transpose3d(tm.randn(1, 2, 3, 3, 3), tm.randn(3, 2, 2, 2, 2)), "conv_transpose3d: input of"),
    (lambda: nn.Conv3d(3, 4, 3, groups=2), "groups=2"),
], ids=["weight_rank", "groups", "too_big", "same_strided", "bad_padding", "stride_pair", "bias", "rank",
        "output_padding", "transposed_channels", "layer_groups"])
def test_bad_arguments_raise_named_errors(call, message):
    with pytest.raises(TVMiniError, match=message):
        call()


def _model(lib):
    return lib.nn.Sequential(lib.nn.Conv3d(2, 4, 3, padding=1, bias=False), lib.nn.BatchNorm3d(4), lib.nn.ReLU(),
                             lib.nn.MaxPool3d(2), lib.nn.ConvTranspose3d(4, 2, 2, stride=2), lib.nn.AvgPool3d(2),
                             lib.nn.Flatten(), lib.nn.Linear(2 * 2 * 2 * 2, 3))


def test_jit_training_step_equals_eager():
    """A 3-D conv net trained with SGD: the traced step gives eager's losses, parameters
    and running statistics."""
    models = []
    for _ in range(2):
        tm.manual_seed(5)
        models.append(_model(tm))
    opts = [tm.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in models]

    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    eager, jitted = make_step(models[0], opts[0]), tm.jit(make_step(models[1], opts[1]))
    for _ in range(3):
        x = tm.tensor(RNG.normal(size=(2, 2, 4, 4, 4)).astype("float32"))
        y = tm.tensor(RNG.integers(0, 3, size=2))
        assert jitted(x, y).item() == pytest.approx(eager(x, y).item(), rel=1e-5)
    for (name, p), (_, q) in zip(models[0].state_dict().items(), models[1].state_dict().items()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_emulated_gpu_runs_conv3d(emulated_gpu):
    """conv3d on the emulated GPU agrees with the CPU: its forward and gradients run
    every kernel conv_transpose3d runs too (im2col, col2im, transposes, conv2d and its
    data gradient, conv2d's weight gradient)."""
    x, w = RNG.normal(size=(1, 2, 3, 3, 3)).astype("float32"), RNG.normal(size=(2, 2, 2, 2, 2)).astype("float32")
    results = []
    for device in ("cuda", "cpu"):
        leaves = [tm.tensor(v, device=device, requires_grad=True) for v in (x, w)]
        out = F.conv3d(*leaves, padding=(1, 0, 1), stride=(2, 1, 1))
        out.backward(tm.ones(*out.shape, device=device))
        assert out.device.kind == device
        results.append([out.numpy()] + [leaf.grad.numpy() for leaf in leaves])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    assert "_im2col_" in launched and "_col2im_" in launched
