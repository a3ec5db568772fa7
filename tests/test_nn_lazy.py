"""The Lazy modules (``nn/lazy.py``) and ``nn.Buffer`` (``nn/module.py``): the inferred
sizes, shapes and class after the first call against PyTorch's Lazy modules, outputs
against PyTorch with the same weights, PyTorch's initialisation bounds, optimizers and
state dicts across the materialisation, errors, and jit after a dry run."""
import math

import numpy as np
import pytest

import tvmini as tm
import tvmini.nn as nn

torch = pytest.importorskip("torch")

#: (tvmini module, PyTorch module, input shape)
CASES = [
    (lambda: nn.LazyLinear(3), lambda: torch.nn.LazyLinear(3), (4, 5)),
    (lambda: nn.LazyLinear(2, bias=False), lambda: torch.nn.LazyLinear(2, bias=False), (2, 3, 1)),
    (lambda: nn.LazyConv1d(4, 3, padding=1), lambda: torch.nn.LazyConv1d(4, 3, padding=1), (2, 3, 7)),
    (lambda: nn.LazyConv2d(4, 3, groups=2), lambda: torch.nn.LazyConv2d(4, 3, groups=2), (1, 6, 5, 5)),
    (lambda: nn.LazyConv2d(2, 1), lambda: torch.nn.LazyConv2d(2, 1), (3, 4, 4)),
    (lambda: nn.LazyConvTranspose1d(2, 3, stride=2), lambda: torch.nn.LazyConvTranspose1d(2, 3, stride=2), (2, 5, 4)),
    (lambda: nn.LazyConvTranspose2d(3, 2), lambda: torch.nn.LazyConvTranspose2d(3, 2), (1, 4, 3, 3)),
    (lambda: nn.LazyBatchNorm1d(), lambda: torch.nn.LazyBatchNorm1d(), (6, 3)),
    (lambda: nn.LazyBatchNorm2d(momentum=0.3), lambda: torch.nn.LazyBatchNorm2d(momentum=0.3), (2, 3, 2, 2)),
    (lambda: nn.LazyInstanceNorm1d(), lambda: torch.nn.LazyInstanceNorm1d(), (2, 3, 5)),
    (lambda: nn.LazyInstanceNorm2d(affine=False, track_running_stats=False),
     lambda: torch.nn.LazyInstanceNorm2d(affine=False, track_running_stats=False), (1, 3, 4, 4)),
]


def _copy_into_torch(ours, theirs):
    with torch.no_grad():
        for name, t in ours.state_dict().items():
            getattr(theirs, name).copy_(torch.tensor(t.numpy()))


@pytest.mark.parametrize("k", range(len(CASES)))
def test_first_call_infers_the_size_as_pytorch(k):
    make, make_torch, shape = CASES[k]
    x = np.random.default_rng(k).standard_normal(shape).astype("float32")
    ours, theirs = make(), make_torch()
    assert ours.has_uninitialized_params() == theirs.has_uninitialized_params()
    out = ours(tm.tensor(x))
    theirs(torch.tensor(x))
    assert type(ours).__name__ == type(theirs).__name__          # Linear, Conv2d, BatchNorm1d ...
    for attr in ("in_features", "in_channels", "num_features"):
        if hasattr(theirs, attr) and getattr(theirs, attr):      # PyTorch's stays 0 with nothing to create
            assert getattr(ours, attr) == getattr(theirs, attr)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, t in ours.state_dict().items():
        assert t.shape == tuple(theirs.state_dict()[name].shape), name
    assert all(type(p) is nn.Parameter for p in ours.parameters())
    fresh = make_torch()
    fresh(torch.tensor(x))
    _copy_into_torch(ours, fresh)
    ours.eval(), fresh.eval()
    np.testing.assert_allclose(ours(tm.tensor(x)).numpy(), fresh(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-5)
    assert out.shape == tuple(fresh(torch.tensor(x)).shape)


def test_unbatched_instance_norm_reads_its_channels_from_axis_0():
    norm = nn.LazyInstanceNorm2d()
    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype("float32")
    out = norm(tm.tensor(x))
    assert norm.num_features == 3 and norm.weight.shape == (3,)
    ref = torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_initialisation_follows_pytorch():
    tm.manual_seed(0)
    layer = nn.LazyLinear(200)
    layer(tm.zeros(2, 50))
    bound = 1 / math.sqrt(50)
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
        assert abs(values.std() - bound / math.sqrt(3)) < 0.1 * bound
    conv = nn.LazyConv2d(64, 3, groups=2)
    conv(tm.zeros(1, 8, 3, 3))
    fan_in = 4 * 9
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(fan_in)
    norm = nn.LazyBatchNorm1d()
    norm.eval()
    norm(tm.zeros(2, 3))
    np.testing.assert_array_equal(norm.weight.numpy(), np.ones(3))
    np.testing.assert_array_equal(norm.bias.numpy(), np.zeros(3))
    np.testing.assert_array_equal(norm.running_var.numpy(), np.ones(3))


def test_optimizer_built_before_the_first_call_trains():
    tm.manual_seed(1)
    model = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(1))
    params = list(model.parameters())
    opt = tm.optim.Adam(model.parameters(), lr=0.05)
    x = tm.tensor(np.random.default_rng(0).standard_normal((32, 3)).astype("float32"))
    y = x.sum(1, keepdim=True)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert losses[-1] < 0.2 * losses[0]


def test_load_state_dict_materialises_from_the_shapes():
    source = nn.Sequential(nn.Linear(5, 3), nn.Conv1d(3, 2, 3), nn.BatchNorm1d(2))
    target = nn.Sequential(nn.LazyLinear(3), nn.LazyConv1d(2, 3), nn.LazyBatchNorm1d())
    before = target.state_dict()
    assert all(t.shape == (0,) for name, t in before.items() if "num_batches" not in name)
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert [type(m).__name__ for m in target] == ["Linear", "Conv1d", "BatchNorm1d"]
    assert (target[0].in_features, target[1].in_channels, target[2].num_features) == (5, 3, 2)
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_jit_after_a_dry_run():
    model = nn.Sequential(nn.LazyConv1d(2, 3), nn.Flatten(), nn.LazyLinear(1))
    x = tm.tensor(np.random.default_rng(2).standard_normal((2, 3, 6)).astype("float32"))
    with pytest.raises(tm.TVMiniError, match="a lazy module must be called once eagerly"):
        tm.jit(lambda a: model(a))(x)
    model(x)
    jitted = tm.jit(lambda a: model(a).sum())
    np.testing.assert_allclose(jitted(x).numpy(), model(x).sum().numpy(), rtol=1e-6)


def test_errors():
    with pytest.raises(tm.ShapeError, match="LazyLinear: expected an input with at least 1 dimension"):
        nn.LazyLinear(2)(tm.zeros(()))
    with pytest.raises(tm.TVMiniError, match=r"LazyConv2d: in_channels \(3\) must be divisible by groups \(2\)"):
        nn.LazyConv2d(4, 3, groups=2)(tm.zeros(1, 3, 4, 4))
    with pytest.raises(tm.ShapeError, match="groups=2"):
        nn.LazyConv2d(3, 3, groups=2)
    with pytest.raises(tm.ShapeError, match="LazyBatchNorm1d: expected an input with a channel axis"):
        nn.LazyBatchNorm1d()(tm.zeros(3))
    with pytest.raises(tm.ShapeError, match="LazyInstanceNorm2d: expected a 3-D"):
        nn.LazyInstanceNorm2d()(tm.zeros(3, 4))
    with pytest.raises(tm.DTypeError, match="LazyLinear: expected a Tensor input"):
        nn.LazyLinear(2)(np.zeros(3))


def test_buffer_registers_on_assignment():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = nn.Buffer(tm.zeros(()))
            self.cache = nn.Buffer(tm.ones(3), persistent=False)
            self.scale = nn.Parameter(tm.ones(1))

        def forward(self, x):
            return x * self.scale + self.cache

    ours = Counter()
    assert type(ours.steps) is tm.Tensor and not ours.steps.requires_grad
    assert [n for n, _ in ours.named_buffers()] == ["steps", "cache"]
    assert list(ours.state_dict()) == ["scale", "steps"]

    class TorchCounter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.steps = torch.nn.Buffer(torch.zeros(()))
            self.cache = torch.nn.Buffer(torch.ones(3), persistent=False)
            self.scale = torch.nn.Parameter(torch.ones(1))
    assert list(ours.state_dict()) == list(TorchCounter().state_dict())
    data = tm.tensor([1.0, 2.0])
    shared = nn.Buffer(data)
    ours.shared = shared
    assert ours.shared.data_ptr() == data.data_ptr()
    ours.load_state_dict({"scale": np.array([2.0], "float32"), "steps": np.array(5.0, "float32"),
                          "shared": np.array([3.0, 4.0], "float32")})
    assert ours.steps.item() == 5.0 and data.numpy().tolist() == [3.0, 4.0]
    np.testing.assert_array_equal(ours(tm.ones(3)).numpy(), [3.0, 3.0, 3.0])
    assert nn.Buffer().shape == (0,)
