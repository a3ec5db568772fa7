"""Conv1d and 1-D pooling, GroupNorm, channel dropout (Dropout1d/Dropout2d), Unflatten and
ParameterDict: against numpy formulas, finite differences and PyTorch when installed."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import ShapeError, TVMiniError
from graph_gradcheck import check_grad


def _conv1d_numpy(x, w, b, stride, padding, dilation):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    n, c, length = x.shape
    f, _, k = w.shape
    out_len = (length - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, f, out_len))
    for o in range(out_len):
        window = x[:, :, o * stride: o * stride + dilation * (k - 1) + 1: dilation]
        out[:, :, o] = np.einsum("nck,fck->nf", window, w)
    return out + (0 if b is None else b[None, :, None])


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), f=st.integers(1, 4), length=st.integers(1, 12),
       k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       bias=st.booleans())
def test_conv1d_matches_numpy(n, c, f, length, k, stride, padding, dilation, bias):
    if length + 2 * padding < dilation * (k - 1) + 1:
        return
    rng = np.random.default_rng(length * 7 + k)
    x, w = rng.normal(size=(n, c, length)), rng.normal(size=(f, c, k))
    b = rng.normal(size=f) if bias else None
    got = F.conv1d(tm.tensor(x), tm.tensor(w), None if b is None else tm.tensor(b), stride, padding, dilation)
    np.testing.assert_allclose(got.numpy(), _conv1d_numpy(x, w, b, stride, padding, dilation), rtol=1e-10, atol=1e-12)


def test_conv1d_and_pool1d_gradients():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 4, 7)), rng.normal(size=(6, 2, 3)), rng.normal(size=6)
    check_grad(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, groups=2), x, w, b)
    check_grad(lambda x: F.max_pool1d(x, 3, 2, padding=1), x + np.arange(7) * 1e-3)
    check_grad(lambda x: F.avg_pool1d(x, 2, ceil_mode=True, count_include_pad=False), x)


@pytest.mark.parametrize("make, args", [
    (lambda lib: lib.nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 9)),
    (lambda lib: lib.nn.Conv1d(3, 5, 4, padding="same", dilation=2, bias=False), (3, 11)),
    (lambda lib: lib.nn.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 10)),
    (lambda lib: lib.nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 10)),
    (lambda lib: lib.nn.GroupNorm(2, 6), (3, 6, 5)),
    (lambda lib: lib.nn.GroupNorm(3, 6, affine=False), (2, 6, 3, 4)),
    (lambda lib: lib.nn.Unflatten(1, (2, -1)), (3, 8)),
], ids=["conv1d", "conv1d_same", "maxpool1d", "avgpool1d", "groupnorm", "groupnorm_2d", "unflatten"])
def test_layers_match_pytorch_when_installed(make, args):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs, mine = make(torch), make(tm)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).normal(size=args).astype("float32")
    mine_x, their_x = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = mine(mine_x), theirs(their_x)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    head = np.random.default_rng(2).normal(size=want.shape)
    got.backward(tm.tensor(head.astype("float32")))
    want.backward(torch.tensor(head.astype("float32")))
    np.testing.assert_allclose(mine_x.grad.numpy(), their_x.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert [k for k, _ in mine.named_parameters()] == [k for k, _ in theirs.named_parameters()]


def test_group_norm_formula_and_gradient():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 6, 3)), rng.normal(size=6), rng.normal(size=6)
    grouped = x.reshape(2, 3, -1)
    want = ((grouped - grouped.mean(-1, keepdims=True)) / np.sqrt(grouped.var(-1, keepdims=True) + 1e-5)).reshape(
        x.shape) * w[:, None] + b[:, None]
    got = F.group_norm(tm.tensor(x), 3, tm.tensor(w), tm.tensor(b))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    check_grad(lambda x, w, b: F.group_norm(x, 3, w, b), x, w, b, rtol=1e-4)


@pytest.mark.parametrize("fn, shape", [(F.dropout2d, (6, 40, 3, 3)), (F.dropout1d, (6, 40, 5)),
                                       (F.dropout2d, (6, 40, 5)), (F.dropout1d, (40, 5))])
def test_channel_dropout_zeroes_whole_channels(fn, shape):
    tm.manual_seed(0)
    x = tm.tensor(np.random.default_rng(4).uniform(1, 2, size=shape), requires_grad=True)
    out = fn(x, p=0.25)
    values = out.numpy().reshape(-1, shape[-1] * (shape[-2] if len(shape) == 4 else 1))
    kept = (values != 0).all(axis=1)
    assert ((values == 0).all(axis=1) | kept).all()          # each channel all kept or all dropped
    assert 0.1 < 1 - kept.mean() < 0.4
    np.testing.assert_allclose(values[kept], x.numpy().reshape(values.shape)[kept] / 0.75, rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().reshape(values.shape), np.where(kept[:, None], 1 / 0.75, 0.0) * np.ones_like(values))
    assert fn(x, p=0.25, training=False) is x


def test_channel_dropout_layers_follow_train_and_eval():
    x = tm.ones(4, 3, 2, 2)
    layer = nn.Dropout2d(0.5)
    assert layer(x).numpy().max() == 2.0
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ShapeError, match=r"dropout2d: input must be \(N, C, H, W\)"):
        F.dropout2d(tm.ones(3, 2), 0.5)
    with pytest.raises(ShapeError, match="p must be in"):
        F.dropout1d(tm.ones(3, 2), 1.5)


def test_errors_name_the_layer():
    with pytest.raises(ShapeError, match="conv1d: input must be"):
        F.conv1d(tm.ones(1, 2, 3, 4), tm.ones(1, 2, 1))
    with pytest.raises(ShapeError, match="conv1d: weight"):
        F.conv1d(tm.ones(1, 2, 3), tm.ones(1, 2, 1, 1))
    with pytest.raises(ShapeError, match="group_norm: num_groups=4"):
        F.group_norm(tm.ones(2, 6, 3), 4)
    with pytest.raises(ShapeError, match="GroupNorm: num_groups"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ShapeError, match="Unflatten: dim 3"):
        nn.Unflatten(3, (2, 2))(tm.ones(2, 4))


def test_parameter_dict_registers_by_name():
    d = nn.ParameterDict({"a": tm.ones(2), "b": nn.Parameter(tm.zeros(3))})
    d["c"] = tm.ones(1)
    assert list(d) == ["a", "b", "c"] and len(d) == 3 and "b" in d
    assert all(isinstance(p, nn.Parameter) for p in d.values())
    assert [name for name, _ in d.named_parameters()] == ["a", "b", "c"]
    assert d.pop("a").shape == (2,) and "a" not in d and not hasattr(d, "a")
    del d["b"]
    assert list(d.keys()) == ["c"] and list(d.state_dict()) == ["c"]
    with pytest.raises(TVMiniError, match="ParameterDict holds tensors"):
        d["x"] = 3.0
    with pytest.raises(KeyError):
        del d["missing"]


def test_a_jitted_step_with_the_new_layers_matches_eager():
    """Conv1d, Dropout1d (a new mask each replay, drawn as eager draws it) and GroupNorm
    under tm.jit, trained with NAdam: the same losses as eager from the same seed."""
    rng = np.random.default_rng(0)
    x, y = tm.tensor(rng.normal(size=(8, 2, 8)).astype("float32")), tm.tensor(np.arange(8) % 3)

    def losses(use_jit):
        tm.manual_seed(0)
        model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Dropout1d(0.5), nn.GroupNorm(2, 4), nn.Flatten(),
                              nn.Linear(4 * 6, 3))
        opt = tm.optim.NAdam(model.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        fn = tm.jit(step) if use_jit else step
        return [fn(x, y).item() for _ in range(4)]

    eager = losses(False)
    np.testing.assert_allclose(losses(True), eager, rtol=1e-5)
    assert len(set(eager)) == 4
