"""End to end: small models train (loss drops) and the graph does not leak across steps."""
import gc

import numpy as np

import tvmini as tm
from tvmini import nn, optim
from tvmini.graph import Function


def live(cls):
    gc.collect()
    return sum(isinstance(o, cls) for o in gc.get_objects())


def test_linear_regression_recovers_slope_and_intercept():
    tm.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 1)).astype("float32")
    y = 3 * x + 1
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.3, momentum=0.5)
    tx, ty = tm.tensor(x), tm.tensor(y)
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(tx), ty)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-4
    assert abs(model.weight.item() - 3) < 1e-2 and abs(model.bias.item() - 1) < 1e-2


def test_xor_mlp_with_batchnorm_and_dropout_learns():
    tm.manual_seed(1)
    x = tm.tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, dtype="float32"))
    y = tm.tensor(np.array([0, 1, 1, 0] * 8))
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    model.eval()
    with tm.no_grad():
        assert (model(x).argmax(1).numpy() == y.numpy()).all()


def test_live_graph_nodes_do_not_grow_over_training_steps():
    tm.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = tm.randn(16, 4), tm.tensor(np.arange(16) % 3)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step()
    functions, tensors = live(Function), live(tm.Tensor)
    for _ in range(20):
        step()
    assert live(Function) <= functions
    assert live(tm.Tensor) <= tensors
