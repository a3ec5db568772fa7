"""tm.jit's fused optimizer updates (``graph/jit/passes/update.py``): an update run
inside the kernel of the weight-gradient product it reads leaves every parameter,
gradient and optimizer state exactly as the eager step does, whatever the layer's
shape. A convolution over a small map takes its weight gradient as a product whose
columns are the weight's (C, KH, KW) axes; its column tiles are no boxes of the weight
(a 3x3 kernel's 9 taps against 8- to 32-column tiles), and the update computed with each
tile was computed over the whole weight, once per tile: most weights moved twice, the
rest by gradients not computed yet (NaN with Adam)."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import nn
from train_steps import cross_entropy_step


def _sgd(ps):
    return tm.optim.SGD(ps, lr=0.1)


def _momentum(ps):
    return tm.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3)


def _adam(ps):
    return tm.optim.Adam(ps, lr=1e-2)


def _trainer(make_model, optimizer):
    model = make_model()
    opt = optimizer(model.parameters())
    return model, opt, cross_entropy_step(model, opt)


def _same_as_eager(make_model, optimizer, shape, steps=3, **jit_kwargs):
    """``steps`` jitted and eager steps of ``make_model``'s classifier (3 classes) on
    random batches of ``shape``: equal losses, parameters, gradients, buffers and
    optimizer states after each step (a fused update applied twice doubles the step; one
    that reads a gradient block before it is computed reads garbage). Returns the
    jitted step."""
    eager_model, eager_opt, eager_step = _trainer(make_model, optimizer)
    jit_model, jit_opt, step = _trainer(make_model, optimizer)
    jitted = tm.jit(step, **jit_kwargs)
    rng = np.random.default_rng(5)
    for k in range(steps):
        x = tm.tensor(rng.standard_normal(shape).astype("float32"))
        y = tm.tensor(rng.integers(0, 3, shape[0]))
        assert jitted(x, y).item() == pytest.approx(eager_step(x, y).item(), rel=1e-6), f"step {k}"
        for (name, p), (_, q) in zip(eager_model.named_parameters(), jit_model.named_parameters()):
            where = f"{name} after step {k}"
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-6, atol=1e-7, err_msg=where)
            np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-6, atol=1e-7, err_msg=where)
            for state, value in eager_opt.state[id(p)].items():
                if state != "step":
                    np.testing.assert_allclose(jit_opt.state[id(q)][state].numpy(), value.numpy(), rtol=1e-6,
                                               atol=1e-7, err_msg=f"{where}: {state}")
        for (name, p), (_, q) in zip(eager_model.named_buffers(), jit_model.named_buffers()):
            np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    return jitted


def _fused_conv_updates(jitted):
    return [node for node in jitted.graph.nodes if node.members[:1] == ["conv2d_grad_weight"]
            and node.members[-1].endswith("_update")]


def _conv_net(cin, cout, size, kernel, stride=1, padding=0, batchnorm=False):
    def make():
        tm.manual_seed(0)
        out = (size + 2 * padding - kernel) // stride + 1
        layers = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=not batchnorm)]
        layers += [nn.BatchNorm2d(cout)] if batchnorm else []
        return nn.Sequential(*layers, nn.ReLU(), nn.Flatten(), nn.Linear(cout * out * out, 3))
    return make


# (Cin, Cout, map, kernel, stride, padding): output rows under 8 pixels, so that the weight
# gradient is a product; 3x3 and 5x5 taps (tiles no boxes: updated by row blocks), 2x2
# and 1x1 taps (tiles that are boxes: updated tile by tile), odd sizes, several row
# blocks and column tiles (16 -> 32 channels: 144 columns).
SMALL_MAPS = [(4, 8, 8, 3, 1, 0), (16, 32, 6, 3, 1, 0), (3, 5, 7, 3, 1, 0), (5, 7, 9, 3, 1, 0),
              (5, 6, 7, 3, 2, 1), (3, 4, 9, 5, 1, 0), (4, 8, 5, 2, 1, 0), (6, 40, 5, 1, 1, 0)]


@pytest.mark.parametrize("cin, cout, size, kernel, stride, padding", SMALL_MAPS)
@pytest.mark.parametrize("optimizer", [_sgd, _adam], ids=["sgd", "adam"])
def test_small_map_convolution_steps_equal_eager(cin, cout, size, kernel, stride, padding, optimizer):
    jitted = _same_as_eager(_conv_net(cin, cout, size, kernel, stride, padding), optimizer, (4, cin, size, size))
    assert len(_fused_conv_updates(jitted)) == 1, str(jitted.graph)


def test_a_parallel_weight_gradient_with_momentum_and_batch_norm(monkeypatch):
    """A weight gradient large enough for both cores (its row blocks in parallel) with
    an SGD-momentum update fused, a batch norm after the convolution; no batch lanes, so
    the product is the whole batch's."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    jitted = _same_as_eager(_conv_net(16, 32, 6, 3, batchnorm=True), _momentum, (32, 16, 6, 6),
                            skip_passes=("lanes",))
    (update,) = _fused_conv_updates(jitted)
    assert "parallel" in update.module.get_source("tir")


def test_convolution_steps_in_batch_lanes(monkeypatch):
    """On two threads the batch runs in lanes: the Linear's weight gradient is the
    lanes' partials added up, with its update fused into that sum (row by row); the
    convolution's, a product over all images after the batch norm's cut, with its own."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    jitted = _same_as_eager(_conv_net(4, 8, 8, 3, batchnorm=True), _adam, (64, 4, 8, 8))
    assert "2 lanes of 64 rows" in str(jitted.graph)
    assert any(node.members == ["add_parts", "adam_update"] for node in jitted.graph.nodes)
    assert len(_fused_conv_updates(jitted)) == 1


@pytest.mark.parametrize("optimizer", [_momentum, _adam], ids=["momentum", "adam"])
def test_linear_and_batch_norm_steps_equal_eager(optimizer):
    """Linear weight gradients (one column axis: every tile is a box) with their updates
    fused, batch-norm parameters (updated by their own kernels) between them."""
    def make():
        tm.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(30, 20), nn.BatchNorm1d(20), nn.ReLU(), nn.Linear(20, 13),
                             nn.ReLU(), nn.Linear(13, 3))
    jitted = _same_as_eager(make, optimizer, (9, 5, 6))
    fused = [node.members for node in jitted.graph.nodes if node.members[-1].endswith("_update")]
    assert sum(members[0] == "matmul" for members in fused) == 3, fused
