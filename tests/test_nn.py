"""nn: layers and losses (gradient-checked in float64), module registration, train/eval
behaviour of BatchNorm and Dropout, state dicts and initialisation."""
import copy
import math

import numpy as np
import pytest

import tvmini as tm
import tvmini.testing
from tvmini import nn, te, topi
from tvmini.errors import DTypeError, ShapeError, TVMiniError
from tvmini.nn import functional as F
from graph_gradcheck import check_grad

RNG = np.random.default_rng(1)


def normal(*shape):
    return RNG.normal(size=shape)


# ---------------------------------------------------------------- functional gradients

def test_linear_gradients_with_and_without_bias():
    check_grad(lambda x, w, b: F.linear(x, w, b), normal(4, 3), normal(5, 3), normal(5))
    check_grad(lambda x, w: F.linear(x, w), normal(2, 3, 3), normal(2, 3))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 1, 2)])
def test_conv2d_gradients(stride, padding, dilation):
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation),
               normal(2, 2, 5, 5), normal(3, 2, 3, 3), normal(3), rtol=1e-4)


@pytest.mark.parametrize("groups,stride,padding", [(2, 1, 1), (4, 2, 0), (4, 1, 0)])
def test_grouped_conv2d_gradients(groups, stride, padding):
    """Grouped (groups=2) and depthwise (groups=4 = channels, also 1x1) convolutions."""
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride, padding, groups=groups),
               normal(2, 4, 5, 5), normal(4, 4 // groups, 3 if padding else 1, 3 if padding else 1), normal(4),
               rtol=1e-4)


def test_grouped_conv2d_is_one_convolution_per_group():
    """Each group of filters sees only its group of channels."""
    x, w = normal(2, 6, 5, 5), normal(9, 2, 3, 3)
    out = F.conv2d(tm.tensor(x), tm.tensor(w), padding=1, groups=3).numpy()
    for g in range(3):
        want = F.conv2d(tm.tensor(x[:, 2 * g:2 * g + 2]), tm.tensor(w[3 * g:3 * g + 3]), padding=1).numpy()
        np.testing.assert_allclose(out[:, 3 * g:3 * g + 3], want, rtol=1e-12)


def test_grouped_conv2d_rejects_channels_groups_do_not_divide():
    with pytest.raises(ShapeError, match="groups"):
        nn.Conv2d(6, 4, 3, groups=4)
    with pytest.raises(ShapeError, match="groups=2"):
        F.conv2d(tm.tensor(normal(1, 6, 5, 5)), tm.tensor(normal(4, 2, 3, 3)), groups=2)
    assert nn.Conv2d(6, 4, 3, groups=2).weight.shape == (4, 3, 3, 3)


@pytest.mark.parametrize("stride,padding,output_padding,groups,kernel", [
    (1, 0, 0, 1, 3), (2, 1, 1, 1, 3), (2, 0, 0, 2, 2), (3, 1, 2, 4, 3), (2, 0, 1, 1, 1)])
def test_conv_transpose2d_gradients(stride, padding, output_padding, groups, kernel):
    """Strided, padded, output-padded, grouped and depthwise, 1x1 (a scattered GEMM)."""
    check_grad(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups),
               normal(2, 4, 4, 3), normal(4, 8 // groups, kernel, kernel), normal(8), rtol=1e-4)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv_transpose2d(y, w), x> = <y, conv2d(x, w)> for every x and y: the transposed
    convolution is conv2d's gradient in its input."""
    x, y, w = normal(2, 3, 9, 8), normal(2, 6, 5, 4), normal(6, 3, 3, 3)
    forward = F.conv2d(tm.tensor(x), tm.tensor(w), stride=2, padding=1).numpy()
    transposed = F.conv_transpose2d(tm.tensor(y), tm.tensor(w), stride=2, padding=1, output_padding=(0, 1)).numpy()
    assert transposed.shape == x.shape
    np.testing.assert_allclose(np.sum(transposed * x), np.sum(y * forward), rtol=1e-10)


def test_conv_transpose2d_rejects_what_pytorch_rejects():
    x = tm.tensor(normal(1, 4, 3, 3))
    with pytest.raises(ShapeError, match="output_padding"):
        F.conv_transpose2d(x, tm.tensor(normal(4, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ShapeError, match="groups=3"):
        F.conv_transpose2d(x, tm.tensor(normal(4, 2, 3, 3)), groups=3)
    with pytest.raises(ShapeError, match="bias"):
        F.conv_transpose2d(x, tm.tensor(normal(4, 2, 3, 3)), tm.tensor(normal(4)))
    assert nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)


def test_conv2d_matches_direct_sum():
    x, w = normal(1, 2, 4, 4), normal(3, 2, 3, 3)
    out = F.conv2d(tm.tensor(x), tm.tensor(w), padding=1).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros((1, 3, 4, 4))
    for f in range(3):
        for i in range(4):
            for j in range(4):
                want[0, f, i, j] = np.sum(padded[0, :, i:i + 3, j:j + 3] * w[f])
    np.testing.assert_allclose(out, want, rtol=1e-10)


@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((2, 3), 1), ((4, 2), (1, 2)), ((1, 1), 3)])
def test_conv2d_same_and_valid_padding(kernel, dilation):
    """"same" keeps H x W at stride 1, the odd padding element after (bottom/right), as
    PyTorch; "valid" pads nothing; gradients flow through the explicit padding too."""
    x, w = normal(2, 2, 6, 5), normal(3, 2, *kernel)
    same = F.conv2d(tm.tensor(x), tm.tensor(w), padding="same", dilation=dilation)
    assert same.shape == (2, 3, 6, 5)
    dy, dx = (dilation, dilation) if isinstance(dilation, int) else dilation
    ty, tx = dy * (kernel[0] - 1), dx * (kernel[1] - 1)
    padded = np.pad(x, ((0, 0), (0, 0), (ty // 2, ty - ty // 2), (tx // 2, tx - tx // 2)))
    want = F.conv2d(tm.tensor(padded), tm.tensor(w), dilation=dilation).numpy()
    np.testing.assert_allclose(same.numpy(), want, rtol=1e-12)
    np.testing.assert_array_equal(F.conv2d(tm.tensor(x), tm.tensor(w), padding="valid", dilation=dilation).numpy(),
                                  F.conv2d(tm.tensor(x), tm.tensor(w), dilation=dilation).numpy())
    check_grad(lambda a, b: F.conv2d(a, b, padding="same", dilation=dilation), x[:1], w)
    with pytest.raises(ShapeError, match="padding='same' needs stride 1"):
        F.conv2d(tm.tensor(x), tm.tensor(w), stride=2, padding="same")
    with pytest.raises(ShapeError, match="'same' or 'valid'"):
        F.conv2d(tm.tensor(x), tm.tensor(w), padding="full")


def test_conv2d_takes_unbatched_input():
    x, w, b = normal(2, 5, 5), normal(3, 2, 3, 3), normal(3)
    layer = nn.Conv2d(2, 3, 3, padding="same")
    with tm.no_grad():
        layer.weight.copy_(w), layer.bias.copy_(b)
    out = layer(tm.tensor(x.astype("float32")))
    assert out.shape == (3, 5, 5)
    want = F.conv2d(tm.tensor(x[None]), tm.tensor(w), tm.tensor(b), padding=1).numpy()[0]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-6)


def test_conv2d_same_padding_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    x, w = normal(1, 2, 7, 6), normal(4, 2, 4, 3)
    mine = F.conv2d(tm.tensor(x), tm.tensor(w), padding="same", dilation=(2, 1)).numpy()
    theirs = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same", dilation=(2, 1)).numpy()
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def _adaptive_windows(x, out_h, out_w):
    """PyTorch's adaptive average pooling written out: window i spans
    [floor(i*H/OH), ceil((i+1)*H/OH))."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * h // out_h, -(-(i + 1) * h // out_h))
            cols = slice(j * w // out_w, -(-(j + 1) * w // out_w))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("in_hw,out_hw", [((7, 5), (3, 2)), ((6, 6), (1, 1)), ((5, 9), (5, 4)), ((4, 4), (6, 3)),
                                          ((5, 6), (None, 2))])
def test_adaptive_avg_pool2d(in_hw, out_hw):
    x = normal(2, 3, *in_hw)
    want_hw = tuple(i if o is None else o for i, o in zip(in_hw, out_hw))
    got = F.adaptive_avg_pool2d(tm.tensor(x), out_hw)
    np.testing.assert_allclose(got.numpy(), _adaptive_windows(x, *want_hw), rtol=1e-12)
    check_grad(lambda t: F.adaptive_avg_pool2d(t, out_hw), x[:1, :2])
    assert nn.AdaptiveAvgPool2d(1)(tm.tensor(x[0])).shape == (3, 1, 1)


def test_adaptive_avg_pool2d_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    x = normal(2, 3, 11, 7)
    for size in ((4, 3), 5, (1, 7)):
        t, q = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        (F.adaptive_avg_pool2d(t, size) ** 2).sum().backward()
        (torch.nn.functional.adaptive_avg_pool2d(q, size) ** 2).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1)])
def test_pool_gradients(pool, kernel, stride, padding):
    check_grad(lambda x: pool(x, kernel, stride, padding), normal(2, 2, 5, 5))


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_gradients(fn):
    check_grad(lambda x: fn(x, -1), normal(3, 4))
    check_grad(lambda x: fn(x, 0), normal(3, 4))


def test_loss_gradients():
    labels = tm.tensor(np.array([0, 2, 1, 2]))
    check_grad(lambda x: F.cross_entropy(x, labels), normal(4, 3))
    check_grad(lambda x: F.cross_entropy(x, labels, reduction="sum"), normal(4, 3))
    check_grad(lambda x: F.nll_loss(F.log_softmax(x, 1), labels), normal(4, 3))
    check_grad(lambda x, t: F.mse_loss(x, t), normal(3, 2), normal(3, 2))
    target = tm.tensor(RNG.integers(0, 2, size=(3, 2)).astype("float64"))
    check_grad(lambda x: F.binary_cross_entropy_with_logits(x, target), normal(3, 2))


def test_bce_with_logits_gradient_at_logit_zero():
    # the composed formula's kinks (relu, |x| at 0) gave -t instead of sigmoid(0) - t = 0.5 - t
    x = tm.tensor([0.0, 0.0, 0.0, 2.0, -3.0], requires_grad=True)
    t = tm.tensor([1.0, 0.0, 0.3, 1.0, 0.0])
    F.binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    xs, ts = x.numpy().astype("float64"), t.numpy().astype("float64")
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-xs)) - ts, rtol=1e-6, atol=1e-7)
    check_grad(lambda x, t: F.binary_cross_entropy_with_logits(x, t), np.zeros((2, 3)), RNG.uniform(size=(2, 3)))
    try:
        import torch
    except ImportError:
        return
    xt = torch.tensor(xs, requires_grad=True)
    torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(ts), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_cross_entropy_matches_numpy_and_is_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    labels = np.array([1, 2])
    got = F.cross_entropy(tm.tensor(logits), tm.tensor(labels)).item()
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    assert math.isclose(got, -logp[[0, 1], labels].mean(), rel_tol=1e-12)
    x = tm.tensor(np.array([[50.0, -50.0]]))
    assert math.isfinite(F.binary_cross_entropy_with_logits(x, tm.tensor(np.array([[0.0, 1.0]]))).item())


def test_loss_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"cross_entropy.*\(4, 3\).*\(3,\)"):
        F.cross_entropy(tm.zeros(4, 3), tm.tensor([0, 1, 2]))
    with pytest.raises(DTypeError, match="labels"):
        F.cross_entropy(tm.zeros(2, 3), tm.tensor([0.0, 1.0]))
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, 3\)"):
        F.cross_entropy(tm.zeros(2, 3), tm.tensor([0, 3]))
    with pytest.raises(ShapeError, match=r"linear.*\(2, 4\).*\(3, 5\)"):
        F.linear(tm.zeros(2, 4), tm.zeros(3, 5))


def test_batch_norm_training_gradients():
    check_grad(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
               normal(5, 3), normal(3), normal(3), rtol=1e-4)
    check_grad(lambda x: F.batch_norm(x, None, None, training=True), normal(2, 3, 2, 2), rtol=1e-4)


# ---------------------------------------------------------------- modules

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(4, 1), nn.Linear(4, 2)])
        self.scale = nn.Parameter(tm.ones(1))
        self.not_a_param = tm.ones(1)

    def forward(self, x):
        h = self.body(x)
        return self.heads[0](h) * self.scale, self.heads[1](h)


def test_registration_by_attribute_assignment():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "heads.0.weight", "heads.0.bias",
                     "heads.1.weight", "heads.1.bias"]
    assert all(p.requires_grad for p in net.parameters())
    assert len(list(net.modules())) == 7
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    a, b = net(tm.randn(3, 2))
    (a.sum() + b.sum()).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_assigning_a_plain_tensor_over_a_parameter_raises():
    # it used to unregister the parameter silently (dropped from parameters(), optimizers
    # and state_dict); PyTorch raises a TypeError, and None empties the slot
    layer = nn.Linear(2, 2)
    with pytest.raises(tm.ParameterError, match="cannot assign Tensor as parameter 'weight'"):
        layer.weight = tm.zeros(2, 2)
    with pytest.raises(TypeError):
        layer.weight = 3.0
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"] and layer.bias is None
    layer.bias = nn.Parameter(tm.zeros(2))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_a_deep_copy_of_a_model_is_independent_as_pytorch():
    """copy.deepcopy(model) (a best or EMA snapshot) computed with the original's live
    weights: the copies' raw pointers were the original's."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 4), nn.Linear(4, 4))
    model[3].weight = model[2].weight            # tied weights stay tied in the copy
    x = tm.randn(5, 3)
    snapshot = copy.deepcopy(model)
    before = model(x).numpy()
    with tm.no_grad():
        for p in model.parameters():
            p.fill_(0.0)
    np.testing.assert_allclose(snapshot(x).numpy(), before, rtol=1e-6)
    assert snapshot[3].weight is snapshot[2].weight
    assert [n for n, _ in snapshot.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert all(p.requires_grad and p.data_ptr() != q.data_ptr() for p, q in zip(snapshot.parameters(), model.parameters()))


def _data_writes(lib):
    """Parameter surgery through ``.data`` as PyTorch scripts write it (init, weight
    clipping, an exponential moving average), in grad mode, run with ``lib``."""
    model, ema = lib.nn.Linear(3, 2), lib.nn.Linear(3, 2)
    model.weight.data.fill_(0.5)
    model.bias.data.zero_()
    model.bias.data.add_(lib.tensor([1.0, -2.0]))
    model.weight.data.mul_(lib.tensor([[1.0], [3.0]]))
    model.weight.data.clamp_(-1.0, 1.0)
    ema.weight.data.copy_(lib.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
    ema.bias.data.zero_()
    for p, q in zip(ema.parameters(), model.parameters()):
        p.data.copy_(0.9 * p.data + 0.1 * q.data)
    data = model.weight.data
    assert not data.requires_grad and data.is_leaf and data.data_ptr() == model.weight.data_ptr()
    return [t.detach().numpy() for t in (model.weight, model.bias, ema.weight, ema.bias)]


def test_data_is_a_tensor_sharing_the_parameters_memory_as_pytorch():
    """``p.data`` was the NDArray: ``p.data.fill_(1)``, ``.zero_()``, ``.clamp_()``,
    ``.normal_()``, ``.mul_()`` and arithmetic on it raised AttributeError/TypeError."""
    got = _data_writes(tm)
    want = [[[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]], [1.0, -2.0], [[1.85, 0.05, 0.95], [1.0, 1.0, 1.0]], [0.1, -0.2]]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    try:
        import torch
    except ImportError:
        return
    for g, w in zip(got, _data_writes(torch)):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_random_fills_through_data_use_the_seeded_generator():
    layer = nn.Linear(200, 100)
    tm.manual_seed(5)
    layer.weight.data.normal_(1.0, 0.02)
    first = layer.weight.numpy()
    assert abs(first.mean() - 1.0) < 1e-3 and abs(first.std() - 0.02) < 1e-3
    tm.manual_seed(5)
    layer.weight.data.normal_(1.0, 0.02)
    np.testing.assert_array_equal(layer.weight.numpy(), first)
    layer.bias.data.uniform_(-0.1, 0.3)
    assert -0.1 <= layer.bias.numpy().min() and layer.bias.numpy().max() < 0.3 and layer.bias.numpy().std() > 0.05
    with pytest.raises(tm.AutogradError, match="leaf"):
        layer.weight.normal_()                           # as PyTorch: not on the parameter itself in grad mode
    rows = tm.zeros(2, 3)
    rows[1].data.fill_(4.0)                              # a view's data is a view of the same memory
    assert rows.numpy().tolist() == [[0.0] * 3, [4.0] * 3]

def test_assigning_a_parameters_data_and_grad_as_pytorch():
    """``p.data = tensor`` (PyTorch's way to replace a parameter's values) was accepted and
    broke the next op with a raw AttributeError; a numpy ``.grad`` failed at the
    optimizer's step with a DeviceError naming the same device twice."""
    layer = nn.Linear(3, 2)
    layer.weight.data = tm.zeros(2, 3)
    x = tm.ones(1, 3)
    np.testing.assert_array_equal(layer(x).numpy(), layer.bias.numpy()[None])
    replacement = tm.ones(4, 3)
    layer.weight.data = replacement                      # shares the tensor's data, as PyTorch
    assert layer.weight.shape == (4, 3) and layer.weight.data_ptr() == replacement.data_ptr() and layer.weight.requires_grad
    layer.weight.data = tm.nd.zeros((2, 3))              # an NDArray as before
    with pytest.raises(DTypeError, match="takes a Tensor"):
        layer.weight.data = np.zeros((2, 3), "float32")
    with pytest.raises(DTypeError, match="floating-point"):
        layer.weight.data = tm.zeros(2, 3, dtype="int64")
    with pytest.raises(DTypeError, match="takes a Tensor or None, got ndarray"):
        layer.weight.grad = np.ones((2, 3), "float32")
    assert layer.weight.grad is None and layer.weight.shape == (2, 3)
    leaf = tm.ones(2, requires_grad=True)
    opt = tm.optim.SGD([leaf], lr=0.1)
    leaf.grad = np.ones(2, "float32")                    # a plain tensor's .grad is not checked at assignment
    with pytest.raises(DTypeError, match="is a ndarray, not a Tensor"):
        opt.step()


def test_flatten_layer_start_and_end_dims():
    x = tm.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(start_dim=1, end_dim=2)(x).shape == (2, 12, 5)
    assert F.flatten(x, 0, -2).shape == (24, 5)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        assert nn.Softmax(dim=None)(tm.zeros(2, 3)).shape == (2, 3)


def test_batchnorm_momentum_none_is_the_cumulative_average():
    # PyTorch: momentum=None weighs the n-th batch 1/n, so the running mean is the plain
    # average of the batch means (and the variance of the unbiased batch variances)
    bn = nn.BatchNorm1d(3, momentum=None)
    batches = [RNG.normal(1.0, 2.0, size=(6, 3)).astype("float32") for _ in range(4)]
    for x in batches:
        bn(tm.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([x.var(0, ddof=1) for x in batches], 0), rtol=1e-5)


def test_state_dict_round_trip_and_strict_checks():
    net, other = Net(), Net()
    other.load_state_dict(net.state_dict())
    for (name, p), (_, q) in zip(net.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    state = net.state_dict()
    del state["scale"]
    with pytest.raises(TVMiniError, match="missing keys \\['scale'\\]"):
        other.load_state_dict(state)
    state = net.state_dict()
    state["extra"] = tm.zeros(1)
    with pytest.raises(TVMiniError, match="unexpected keys \\['extra'\\]"):
        other.load_state_dict(state)
    del state["scale"]
    result = other.load_state_dict(state, strict=False)      # PyTorch's named tuple (was a plain tuple)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]
    assert result == (["scale"], ["extra"]) and other.load_state_dict(net.state_dict()).missing_keys == []
    state = net.state_dict()
    state["body.0.weight"] = tm.zeros(2, 2)
    with pytest.raises(ShapeError, match="body.0.weight"):
        other.load_state_dict(state)


def _tied_model(lib):
    """A small language-model shape with the output layer tied to the embedding."""
    class Tied(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = lib.nn.Embedding(10, 4)
            self.bn = lib.nn.BatchNorm1d(4)
            self.head = lib.nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight
            self.out = lib.nn.Linear(10, 2)
    return Tied()


TIED_KEYS = ["emb.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
             "head.weight", "out.weight", "out.bias"]


def test_state_dict_keys_tied_weights_and_order_as_pytorch():
    """A key per name of a tied weight, module by module (parameters, then buffers),
    so a PyTorch checkpoint of a tied model loads strictly, and ours into PyTorch."""
    mine = _tied_model(tm)
    state = mine.state_dict()
    assert list(state) == TIED_KEYS
    assert [name for name, _ in mine.named_parameters()] == ["emb.weight", "bn.weight", "bn.bias", "out.weight",
                                                             "out.bias"]      # each parameter once, as PyTorch's
    np.testing.assert_array_equal(state["head.weight"].numpy(), state["emb.weight"].numpy())
    fresh = _tied_model(tm)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.head.weight.numpy(), mine.emb.weight.numpy())
    assert fresh.head.weight is fresh.emb.weight
    try:
        import torch
    except ImportError:
        return
    theirs = _tied_model(torch)
    assert list(theirs.state_dict()) == TIED_KEYS
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(mine.head.weight.numpy(), theirs.emb.weight.detach().numpy())
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in fresh.state_dict().items()})


def test_batchnorm_running_stats_and_eval():
    bn = nn.BatchNorm1d(3)
    x = RNG.normal(2.0, 3.0, size=(8, 3)).astype("float32")
    y = bn(tm.tensor(x))
    np.testing.assert_allclose(y.numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1 and not bn.running_mean.requires_grad
    assert "running_mean" in bn.state_dict() and "num_batches_tracked" in bn.state_dict()
    bn.eval()
    y = bn(tm.tensor(x))
    want = (x - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm2d_normalises_per_channel():
    bn = nn.BatchNorm2d(2)
    x = RNG.normal(size=(4, 2, 3, 3)).astype("float32")
    y = bn(tm.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean((0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var((0, 2, 3)), 1, rtol=1e-3)
    with pytest.raises(ShapeError, match="4-D"):
        bn(tm.zeros(2, 2))


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.25)
    x = tm.ones(200, 50, requires_grad=True)
    y = drop(x)
    values = y.numpy()
    kept = values != 0
    np.testing.assert_allclose(values[kept], 1 / 0.75, rtol=1e-6)
    assert 0.70 < kept.mean() < 0.80
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() != 0, kept)
    assert not np.array_equal(drop(x).numpy() != 0, kept)   # a new seed per call
    drop.eval()
    assert drop(x) is x


def test_dropout_of_one_gives_zeros_as_pytorch():
    x = tm.tensor([1.0, -2.0, float("inf")], requires_grad=True)
    y = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, np.nan])            # x * 0, as PyTorch's
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    with pytest.raises(ShapeError, match=r"p must be in \[0, 1\], got 1.5"):
        nn.functional.dropout(x, 1.5)


def test_functional_dropout_seeds():
    """A given seed gives the same mask on every call (the numpy reference's, from the
    element's position: no mask is stored), tm.manual_seed reproduces the drawn seeds,
    and a bad seed is refused."""
    x = tm.tensor(np.random.default_rng(0).standard_normal((37, 41)).astype("float32"))
    a = nn.functional.dropout(x, 0.4, seed=123).numpy()
    np.testing.assert_array_equal(a, nn.functional.dropout(x, 0.4, seed=123).numpy())
    seed, X = topi.random.seed_var(), te.placeholder((37, 41), name="x")
    want = tm.testing.reference(topi.random.dropout(X, 0.6, seed), {X: x.numpy(), seed: 123})
    np.testing.assert_allclose(a, want, rtol=1e-6)
    tm.manual_seed(5)
    b = nn.functional.dropout(x, 0.4).numpy()
    tm.manual_seed(5)
    np.testing.assert_array_equal(b, nn.functional.dropout(x, 0.4).numpy())
    for bad in (-1, 2**31, 1.5):
        with pytest.raises(tm.ArgumentError, match="dropout: seed must be an int"):
            nn.functional.dropout(x, 0.4, seed=bad)


def test_default_initialisation_bounds():
    tm.manual_seed(0)
    layer = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound
    conv = nn.Conv2d(4, 8, 3)
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(4 * 9)
    t = tm.zeros(200, 300)
    nn.init.xavier_uniform_(t)
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 500)
    nn.init.kaiming_normal_(t, nonlinearity="relu")
    assert math.isclose(t.numpy().std(), math.sqrt(2 / 300), rel_tol=0.05)
    nn.init.xavier_normal_(t)
    assert math.isclose(t.numpy().std(), math.sqrt(2 / 500), rel_tol=0.05)
    nn.init.ones_(t)
    assert t.numpy().min() == 1
    nn.init.zeros_(t)
    assert t.numpy().max() == 0


def test_layers_compose_like_pytorch():
    tm.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 3), nn.Tanh(), nn.Sigmoid(), nn.Cos(),
                        nn.Softmax(dim=1))
    out = net(tm.randn(2, 1, 8, 8))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.numpy().sum(1), 1, rtol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_depthwise_separable_block_matches_pytorch_when_installed():
    """A MobileNet block (depthwise 3x3 stride 2, pointwise 1x1, batch norm, ReLU):
    same initial weights, same loss and gradients as PyTorch."""
    torch = pytest.importorskip("torch")
    tm.manual_seed(3)
    mine = nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False), nn.BatchNorm2d(4),
                         nn.ReLU(), nn.Conv2d(4, 6, 1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False),
                                 torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 1), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(6 * 4 * 4, 3))
    _same_loss_and_gradients(torch, mine, theirs, RNG.normal(size=(5, 4, 8, 8)).astype("float32"),
                             np.array([0, 1, 2, 1, 0]))
    assert "groups=4" in repr(mine[0])


def test_resnet_last_stage_block_matches_pytorch_when_installed():
    """A ResNet downsampling block at its last stage's shapes (batch 1, 14x14 -> 7x7,
    128 -> 256 channels), where every convolution kernel is one of the small-map forms:
    the strided 3x3 reads its input by column phase, the 7x7 3x3 is a matrix product,
    the data and weight gradients are products (window columns and their sums). Same
    loss and gradients as PyTorch."""
    torch = pytest.importorskip("torch")
    tm.manual_seed(4)
    mine = nn.Sequential(nn.Conv2d(128, 256, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                         nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256 * 7 * 7, 3))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(128, 256, 3, stride=2, padding=1, bias=False), torch.nn.ReLU(),
                                 torch.nn.Conv2d(256, 256, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(256 * 7 * 7, 3))
    _same_loss_and_gradients(torch, mine, theirs, RNG.normal(size=(1, 128, 14, 14)).astype("float32"), np.array([2]))


def _same_loss_and_gradients(torch, mine, theirs, x, labels):
    """``theirs`` (torch) loaded with ``mine``'s parameters gives the same cross-entropy
    on (x, labels) and the same parameter gradients."""
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mine.state_dict().items()})
    loss = F.cross_entropy(mine(tm.tensor(x)), tm.tensor(labels))
    ref = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(labels))
    loss.backward()
    ref.backward()
    assert math.isclose(loss.item(), ref.item(), rel_tol=1e-5)
    for (name, p), q in zip(mine.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("cin,cout,kernel,stride,padding,output_padding,groups,dilation", [
    (4, 6, 3, 2, 1, 1, 1, 1), (4, 4, 3, 1, 1, 0, 4, 1), (6, 4, 2, 2, 0, 0, 2, 1), (3, 5, 3, 2, 1, 0, 1, 2),
    (4, 8, 1, 2, 0, 1, 1, 1)])
def test_conv_transpose2d_matches_pytorch_when_installed(cin, cout, kernel, stride, padding, output_padding, groups,
                                                         dilation):
    """nn.ConvTranspose2d with PyTorch's arguments in PyTorch's order: same output, same
    gradients in the input, the weight and the bias."""
    torch = pytest.importorskip("torch")
    tm.manual_seed(1)
    mine = nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding, groups, True, dilation)
    theirs = torch.nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding, groups, True, dilation)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mine.state_dict().items()})
    x = RNG.normal(size=(2, cin, 5, 4)).astype("float32")
    xm, xt = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = mine(xm), theirs(xt)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = RNG.normal(size=ym.shape).astype("float32")
    (ym * tm.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for (name, p), q in zip(mine.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


def test_lenet_forward_and_gradients_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    tm.manual_seed(5)
    mine = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4))
    _same_loss_and_gradients(torch, mine, theirs, RNG.normal(size=(5, 1, 8, 8)).astype("float32"),
                             np.array([0, 1, 2, 3, 1]))
    np.testing.assert_allclose(mine[1].running_var.numpy(), theirs[1].running_var.numpy(), rtol=1e-5)


def test_module_to_cuda_is_a_clear_device_error():
    from tvmini.errors import DeviceError
    layer = nn.Linear(2, 2)
    assert layer.to("cpu") is layer
    with pytest.raises(DeviceError, match="cuda"):
        layer.to("cuda")


def test_module_dict_parameter_list_and_dtype_moves():
    heads = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Linear(2, 1)})
    heads["c"] = nn.Tanh()
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert [name for name, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    scales = nn.ParameterList([tm.ones(2), nn.Parameter(tm.zeros(3))])
    assert [name for name, _ in scales.named_parameters()] == ["0", "1"] and scales[1].shape == (3,)
    with pytest.raises(TVMiniError, match="holds Modules"):
        heads["d"] = tm.ones(1)
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    model.double()
    assert {p.dtype for p in model.parameters()} == {"float64"} and model[1].running_mean.dtype == "float64"
    assert model(tm.tensor(np.ones((4, 2)))).dtype == "float64"
    model.to("float32")
    assert {p.dtype for p in model.parameters()} == {"float32"}
    assert model[1].num_batches_tracked.dtype == "int64"          # integer buffers keep their dtype


POOL_OPTIONS = [dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                dict(kernel_size=2, stride=1, divisor_override=3), dict(kernel_size=(3, 2), stride=(2, 3), ceil_mode=True)]


@pytest.mark.parametrize("options", POOL_OPTIONS)
def test_pooling_options_match_pytorch_when_installed(options):
    """ceil_mode windows, count_include_pad=False and divisor_override as PyTorch's,
    values and gradients (their kernels: explicit padding and a pooled divisor mask)."""
    torch = pytest.importorskip("torch")
    x = normal(2, 3, 7, 8)
    avg = {k: v for k, v in options.items()}
    mx = {k: v for k, v in options.items() if k not in ("count_include_pad", "divisor_override")}
    for mine, theirs, kwargs in ((F.avg_pool2d, torch.nn.functional.avg_pool2d, avg),
                                 (F.max_pool2d, torch.nn.functional.max_pool2d, mx)):
        t, q = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        a, b = mine(t, **kwargs), theirs(q, **kwargs)
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12)
        (a * a).sum().backward(), (b * b).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_pooling_options_gradients_and_modules():
    check_grad(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), normal(1, 2, 6, 5))
    check_grad(lambda t: F.max_pool2d(t, 2, 2, ceil_mode=True), normal(1, 2, 5, 5))
    assert nn.MaxPool2d(2, ceil_mode=True)(tm.tensor(normal(3, 5, 5))).shape == (3, 3, 3)
    assert nn.AvgPool2d(3, 2, 1, count_include_pad=False)(tm.tensor(normal(1, 1, 5, 5))).shape == (1, 1, 3, 3)
    assert nn.MaxPool2d(2, dilation=2)(tm.tensor(normal(1, 1, 5, 5))).shape == (1, 1, 2, 2)
    values, where = nn.MaxPool2d(2, return_indices=True)(tm.tensor(normal(1, 1, 4, 4)))
    assert values.shape == where.shape == (1, 1, 2, 2) and where.dtype == "int64"


def test_pooling_positional_arguments_in_pytorchs_order():
    """max_pool2d(x, kernel, stride, padding, dilation, ceil_mode); avg_pool2d(x, kernel,
    stride, padding, ceil_mode, count_include_pad, divisor_override)."""
    x = tm.tensor(np.arange(25, dtype="float32").reshape(1, 1, 5, 5))
    assert F.max_pool2d(x, 2, 2, 0, 1).shape == (1, 1, 2, 2)               # dilation 1, floor mode
    assert F.max_pool2d(x, 2, 2, 0, 1, True).shape == (1, 1, 3, 3)         # ceil_mode
    assert F.avg_pool2d(x, 2, 2, 0, True).shape == (1, 1, 3, 3)
    assert F.max_pool2d(x, 2, 2, 0, 2).numpy().ravel().tolist() == [12, 14, 22, 24]   # dilation 2
    values, where = F.max_pool2d(x, 2, 2, 0, 1, False, True)                         # return_indices
    assert where.numpy().ravel().tolist() == [6, 8, 16, 18] == values.numpy().ravel().tolist()


def test_container_methods_and_dtype_moves_as_pytorch():
    heads = nn.ModuleDict()
    heads.update({"a": nn.Linear(2, 2), "b": nn.Tanh()})
    assert isinstance(heads.pop("b"), nn.Tanh) and list(heads) == ["a"] and not hasattr(heads, "b")
    del heads["a"]
    assert not hasattr(heads, "a") and list(heads) == [] and not list(heads.parameters())
    with pytest.raises(KeyError):
        del heads["a"]
    scales = nn.ParameterList([tm.ones(1)]).extend([tm.zeros(2)])
    scales[0] = tm.full((3,), 2.0)
    assert [p.shape for p in scales] == [(3,), (2,)] and isinstance(scales[0], nn.Parameter)
    model = nn.Linear(2, 2)
    with pytest.raises(TVMiniError, match="floating-point dtype, not 'int64'"):
        model.to("int64")
    assert model.to("cpu") is model and model.to("llvm") is model
    x = tm.tensor(np.array([[1.0, 2.0, 4.0]]))
    assert float(x.var(1, unbiased=False)) == pytest.approx(np.var([1, 2, 4]))
    assert float(x.std(unbiased=True)) == pytest.approx(np.std([1, 2, 4], ddof=1))


def test_inplace_flags_are_accepted_as_pytorch():
    """``nn.ReLU(True)``, ``nn.ReLU(inplace=True)``, ``nn.LeakyReLU(0.1, inplace=True)``,
    ``nn.Dropout(p, inplace=True)`` and ``F.relu(x, inplace=True)`` raised TypeError; they
    compute out of place, with PyTorch's values."""
    x = np.linspace(-2, 2, 12, dtype="float32").reshape(3, 4)
    layers = {"relu": nn.ReLU(True), "relu kw": nn.ReLU(inplace=True), "leaky": nn.LeakyReLU(0.1, inplace=True),
              "elu": nn.ELU(0.5, True), "silu": nn.SiLU(inplace=True), "dropout": nn.Dropout(0.3, inplace=True).eval()}
    functions = {"F.relu": lambda t: F.relu(t, inplace=True), "F.leaky_relu": lambda t: F.leaky_relu(t, 0.2, True),
                 "F.elu": lambda t: F.elu(t, 1.0, True), "F.silu": lambda t: F.silu(t, True),
                 "F.dropout": lambda t: F.dropout(t, 0.3, False, True)}
    got = {k: f(tm.tensor(x)).numpy() for k, f in {**layers, **functions}.items()}
    assert "inplace=True" in repr(layers["relu"]) and repr(nn.ReLU()) == "ReLU()"
    try:
        import torch
    except ImportError:
        return
    tf = torch.nn.functional
    theirs = {"relu": torch.nn.ReLU(True), "relu kw": torch.nn.ReLU(inplace=True),
              "leaky": torch.nn.LeakyReLU(0.1, inplace=True), "elu": torch.nn.ELU(0.5, True),
              "silu": torch.nn.SiLU(inplace=True), "dropout": torch.nn.Dropout(0.3, inplace=True).eval(),
              "F.relu": lambda t: tf.relu(t, inplace=True), "F.leaky_relu": lambda t: tf.leaky_relu(t, 0.2, True),
              "F.elu": lambda t: tf.elu(t, 1.0, True), "F.silu": lambda t: tf.silu(t, True),
              "F.dropout": lambda t: tf.dropout(t, 0.3, False, True)}
    for name, f in theirs.items():
        np.testing.assert_allclose(got[name], f(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-7, err_msg=name)


def test_conv_geometry_attributes_are_tuples_and_integer_means_raise_as_pytorch():
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=(1, 2))
    assert (conv.kernel_size, conv.stride, conv.padding, conv.dilation) == ((3, 3), (2, 2), (1, 1), (1, 2))
    assert nn.Conv2d(2, 4, 3, padding="same").padding == "same"
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    assert (up.stride, up.padding, up.output_padding) == ((2, 2), (1, 1), (1, 1))
    x = tm.randn(1, 2, 8, 8)
    assert up(conv(x)).shape == (1, 2, 8, 6)
    for values in (tm.tensor([1, 2, 4]), tm.tensor([True, False])):
        with pytest.raises(DTypeError, match="mean.*float\\(\\)"):
            values.mean()
    assert tm.tensor([1, 2, 4]).float().mean().item() == pytest.approx(7 / 3)
    try:
        import torch
    except ImportError:
        return
    theirs = torch.nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=(1, 2))
    assert (theirs.kernel_size, theirs.stride, theirs.padding, theirs.dilation) == \
        (conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    with pytest.raises(RuntimeError, match="mean"):
        torch.tensor([1, 2, 4]).mean()
