"""tm.jit: a traced step replays exactly what eager execution computes, keeps state,
gradients and scalars right across calls, and its graph passes do what they say."""
import concurrent.futures
import copy
import threading

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn
from tvmini.errors import TVMiniError
from tvmini.graph.jit import JitFunction
from tvmini.graph.jit.ir import TEMP
from train_steps import cross_entropy_step


def _mlp(batchnorm=False, dropout=0.0):
    tm.manual_seed(0)
    layers = [nn.Linear(2, 16)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(16))
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3))


def _data(n=5, batch=32):
    rng = np.random.default_rng(1)
    return [(tm.tensor(rng.standard_normal((batch, 2)).astype("float32")), tm.tensor(rng.integers(0, 3, batch)))
            for _ in range(n)]


def _trainer(optimizer, zero_grad=True, make_model=_mlp, **model_kwargs):
    """(model, optimizer, step(x, y) -> loss): one cross-entropy training step of the
    model ``make_model(**model_kwargs)`` builds (seeded there)."""
    model = make_model(**model_kwargs)
    opt = optimizer(model.parameters())

    def step(x, y):
        if zero_grad:
            opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


def _assert_same_models(a, b):
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    for (name, p), (_, q) in zip(a.named_buffers(), b.named_buffers()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("optimizer, kwargs", [
    (lambda ps: tm.optim.Adam(ps, lr=1e-2), {}),
    (lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), {"batchnorm": True}),
    (lambda ps: tm.optim.RMSprop(ps, lr=1e-2, centered=True, momentum=0.5), {"dropout": 0.3}),
    (lambda ps: tm.optim.AdamW(ps, lr=1e-2), {"zero_grad": False}),
])
@pytest.mark.parametrize("batch", [32, 512])
def test_training_steps_equal_eager(monkeypatch, optimizer, kwargs, batch):
    """Parameters, gradients (also accumulated without zero_grad), running statistics,
    dropout masks and losses match eager execution step by step; on two threads a
    batch of 512 runs in batch lanes wherever the kernels allow (batch norm cut at its
    mean and variance)."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    eager_model, _, eager_step = _trainer(optimizer, **kwargs)
    jit_model, _, step = _trainer(optimizer, **kwargs)
    jitted = tm.jit(step)
    for x, y in _data(batch=batch):
        tm.manual_seed(7)
        want = eager_step(x, y).item()
        tm.manual_seed(7)
        got = jitted(x, y).item()
        assert got == pytest.approx(want, rel=1e-6)
    _assert_same_models(eager_model, jit_model)
    assert jitted.variants <= 2      # zero_grad=False: a second variant once .grad exists
    assert ("lanes of 512 rows" in str(jitted.graph)) == (batch == 512), str(jitted.graph)


class _Trainer:
    """A training loop object with a jitted method, as ``@torch.compile`` decorates one."""

    def __init__(self):
        self.model = _mlp()
        self.opt = tm.optim.SGD(self.model.parameters(), lr=0.1)

    @tm.jit
    def step(self, x, y):
        self.opt.zero_grad()
        loss = nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss


def test_jit_on_a_method_binds_self_per_instance():
    """``@tm.jit`` on ``def step(self, x, y)`` was called without ``self`` (a TypeError):
    each instance gets its own jitted method (its own variants), equal to eager steps;
    a deep copy of the instance gets one bound to the copy."""
    eager_model, _, eager_step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1))
    a, b = _Trainer(), _Trainer()
    for x, y in _data(3):
        want = eager_step(x, y).item()
        assert a.step(x, y).item() == pytest.approx(want, rel=1e-6)
    _assert_same_models(eager_model, a.model)
    assert a.step is a.step and a.step is not b.step and a.step.variants == 1 and b.step.variants == 0
    assert isinstance(_Trainer.step, JitFunction)
    x, y = _data(1)[0]
    copied = copy.deepcopy(a)
    assert copied.step.variants == 0
    np.testing.assert_allclose(copied.step(x, y).numpy(), a.step(x, y).numpy(), rtol=1e-6)
    _assert_same_models(a.model, copied.model)

def test_dropout_fuses_and_draws_a_new_seed_per_replay():
    """Dropout's kernel fuses with its neighbours (its seed still drawn per replay, from
    tvmini's generator like an eager call's): replays differ from one another and equal
    eager calls made from the same generator state."""
    tm.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 3))
    jitted = tm.jit(lambda x: model(x))
    x = tm.tensor(np.random.default_rng(0).standard_normal((32, 6)).astype("float32"))
    outs = []
    for seed in (1, 2, 1):
        tm.manual_seed(seed)
        want = model(x).numpy()
        tm.manual_seed(seed)
        outs.append(jitted(x).numpy())
        np.testing.assert_allclose(outs[-1], want, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    fused = [call.members for call in jitted.graph.calls() if "dropout" in call.members]
    assert fused and all(len(members) > 1 for members in fused), fused


def test_learning_rate_changes_reach_the_replay():
    eager_model, eager_opt, eager_step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1))
    jit_model, jit_opt, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1))
    jitted = tm.jit(step)
    schedulers = [tm.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in (eager_opt, jit_opt)]
    for x, y in _data():
        eager_step(x, y), jitted(x, y)
        for s in schedulers:
            s.step()
    _assert_same_models(eager_model, jit_model)
    assert jitted.variants == 1


def test_optimizer_option_changes_and_new_groups_retrace():
    """The traced update depends on SGD's momentum being on, nesterov and the groups'
    parameters: changing them retraces (the earlier variant serves again when they are
    back), and every step equals eager's."""
    models = [_mlp(), _mlp()]
    extras = [nn.Parameter(tm.ones(3)), nn.Parameter(tm.ones(3))]
    opts = [tm.optim.SGD(m.parameters(), lr=0.1, momentum=0.5) for m in models]

    def make_step(model, opt, extra):
        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x) * extra, y)
            loss.backward()
            opt.step()
            return loss
        return step
    eager = make_step(models[0], opts[0], extras[0])
    jitted = tm.jit(make_step(models[1], opts[1], extras[1]))
    changes = {1: {"momentum": 0.0}, 2: {"momentum": 0.5}, 3: {"nesterov": True}, 4: "group", 5: {"momentum": 0.9}}
    for k, (x, y) in enumerate(_data(n=7)):
        for opt, extra in zip(opts, extras):
            extra.grad = None                # (zeroed by the optimizer once in a group)
            if changes.get(k) == "group":
                opt.add_param_group({"params": [extra], "lr": 0.2})
            elif k in changes:
                opt.param_groups[0].update(changes[k])
        np.testing.assert_allclose(jitted(x, y).numpy(), eager(x, y).numpy(), rtol=1e-5)
    _assert_same_models(models[0], models[1])
    np.testing.assert_allclose(extras[1].numpy(), extras[0].numpy(), rtol=1e-5)
    assert jitted.variants == 4             # momentum 0.5 (again at step 2), 0, nesterov, the new group


def test_new_shapes_and_modes_make_new_variants():
    model = _mlp(batchnorm=True)
    infer = tm.jit(lambda x: model(x))
    x = tm.tensor(np.ones((8, 2), "float32"))
    with tm.no_grad():
        infer(x)
        infer(x)
        assert infer.variants == 1
        infer(tm.tensor(np.ones((4, 2), "float32")))
        assert infer.variants == 2
        model.eval()
        got = infer(x)
        assert infer.variants == 3
        np.testing.assert_allclose(got.numpy(), model(x).numpy(), rtol=1e-6)


def test_outputs_are_fresh_and_detached():
    model = _mlp()
    infer = tm.jit(lambda x: model(x) * 2.0)
    x1, x2 = tm.tensor(np.ones((4, 2), "float32")), tm.tensor(np.zeros((4, 2), "float32"))
    infer(x1)
    a = infer(x1)
    before = a.numpy()
    b = infer(x2)
    np.testing.assert_array_equal(a.numpy(), before)
    assert a._data is not b._data and not a.requires_grad


def test_reading_values_inside_a_trace_is_an_error():
    model = _mlp()

    def step(x):
        y = model(x)
        if y.sum().item() > 0:
            return y
        return -y

    with pytest.raises(TVMiniError, match="freeze"):
        tm.jit(step)(tm.tensor(np.ones((4, 2), "float32")))


def test_python_arguments_are_part_of_the_signature():
    x = tm.tensor(np.arange(6, dtype="float32").reshape(2, 3))
    scale = tm.jit(lambda t, k: t * k)
    np.testing.assert_allclose(scale(x, 2.0).numpy(), x.numpy() * 2)
    np.testing.assert_allclose(scale(x, 3.0).numpy(), x.numpy() * 3)
    assert scale.variants == 2


def test_numpy_and_other_python_arguments_are_keyed_by_value():
    """A numpy array argument was keyed by its id(), without a reference: an array of new
    values at a freed array's address, or the same array changed in place, replayed the
    values frozen by an older trace. Floats are keyed by their bits (0.0 replayed for
    -0.0; each NaN traced anew), slices by their parts."""
    x = tm.tensor(np.zeros(3, "float32"))
    offset = tm.jit(lambda x, values: x + tm.tensor(values))
    for i in range(6):
        values = np.full(3, i, "float32")
        np.testing.assert_array_equal(offset(x, values).numpy(), values)
        del values
    values = np.array([1.0, 2.0, 3.0], "float32")
    offset(x, values)
    values[0] = 50.0
    np.testing.assert_array_equal(offset(x, values).numpy(), [50, 2, 3])
    np.testing.assert_array_equal(offset(x, values[::-1]).numpy(), [3, 2, 50])
    assert offset(x, values.astype("float64")).dtype == "float64"
    scale = tm.jit(lambda t, k: t * k)
    ones = tm.ones(2)
    assert not np.signbit(scale(ones, 0.0).numpy()).any() and np.signbit(scale(ones, -0.0).numpy()).all()
    scale(ones, float("nan")), scale(ones, float("nan"))
    assert scale.variants == 3
    window = tm.jit(lambda t, s: t[s])
    row = tm.tensor(np.arange(5, dtype="float32"))
    assert window(row, slice(1, 3)).numpy().tolist() == [1, 2]
    assert window(row, slice(2, 5)).numpy().tolist() == [2, 3, 4]
    with pytest.raises(TVMiniError, match="set is neither a tensor nor hashable"):
        window(row, {1, 2})
    with pytest.raises(TVMiniError, match="Python objects"):
        offset(x, np.array([1, None, 2]))


def test_tensors_inside_list_tuple_and_dict_arguments_are_inputs():
    """A reused batch container refilled with new tensors replays with them, a new tuple
    of same-shaped tensors reuses the variant, and the structure is part of the key."""
    model = _mlp()
    step = tm.jit(lambda batch, pair: model(batch["x"]) + batch["extra"][0] * pair[1])
    batch = {"x": None, "extra": [None]}
    rng = np.random.default_rng(3)
    for _ in range(3):
        batch["x"] = tm.tensor(rng.standard_normal((4, 2)).astype("float32"))
        batch["extra"][0] = tm.tensor(rng.standard_normal(3).astype("float32"))
        pair = (None, tm.tensor(rng.standard_normal((4, 1)).astype("float32")))
        with tm.no_grad():
            want = (model(batch["x"]) + batch["extra"][0] * pair[1]).numpy()
        np.testing.assert_allclose(step(batch, pair).numpy(), want, rtol=1e-6)
    assert step.variants == 1
    batch["extra"].append(1.0)           # another structure: another variant
    step(batch, pair)
    assert step.variants == 2


@pytest.mark.parametrize("loss, ignored", [
    (lambda s, y: nn.functional.cross_entropy(s, y), -100),
    (lambda s, y: nn.functional.nll_loss(nn.functional.log_softmax(s, 1), y, ignore_index=1), 1),
])
def test_ignored_labels_in_a_later_batch_equal_eager(loss, ignored):
    """Whether the labels hold ignore_index picks the loss's kernel; the jitted step
    guards that choice, so batches with and without ignored labels train as eagerly."""
    models = [_mlp(), _mlp()]
    opts = [tm.optim.SGD(m.parameters(), lr=0.5) for m in models]

    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            value = loss(model(x), y)
            value.backward()
            opt.step()
            return value
        return step
    eager, jitted = make_step(models[0], opts[0]), tm.jit(make_step(models[1], opts[1]))
    rng = np.random.default_rng(2)
    for labels in ([0, 2, 2, 0], [0, ignored, 2, ignored], [2, 2, 0, 0], [ignored] * 4, [0, 0, 2, 2]):
        x, y = tm.tensor(rng.standard_normal((4, 2)).astype("float32")), tm.tensor(np.array(labels))
        np.testing.assert_allclose(jitted(x, y).numpy(), eager(x, y).numpy(), rtol=1e-6, equal_nan=True)
    _assert_same_models(models[0], models[1])
    assert jitted.variants == 2


def test_gradients_of_tensors_inside_a_list_argument():
    square_sum = tm.jit(lambda xs: ((xs[0] * xs[1]) ** 2).sum().backward())
    for k in range(3):
        xs = [tm.tensor([1.0 + k, 2.0], requires_grad=True), tm.tensor([3.0, 4.0 * k])]
        square_sum(xs)
        a, b = xs[0].numpy(), xs[1].numpy()
        np.testing.assert_allclose(xs[0].grad.numpy(), 2 * a * b * b)
    assert square_sum.variants == 1


def test_fusion_cse_fold_and_dce():
    """An elementwise chain fuses into one kernel; a repeated expression runs once; a
    chain on constants is folded away; an unused result is not computed."""
    def fn(x):
        unused = x.exp()                                    # dead
        c = tm.tensor(np.full((4, 5), 2.0, "float32")) * 3.0  # constant chain
        a = (x * 2.0 + 1.0).relu()
        b = (x * 2.0 + 1.0).relu()                            # same as a
        return (a + b) * c
    x = tm.tensor(np.linspace(-1, 1, 20, dtype="float32").reshape(4, 5))
    want = fn(x).numpy()
    jitted = tm.jit(fn)
    jitted(x)
    got = jitted(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    graph = str(jitted.graph)
    notes = dict(line.split(": ", 1) for line in graph.splitlines() if line.startswith("pass "))
    assert notes["pass fold"].startswith("folded 1")
    assert notes["pass cse"].startswith("merged 3")
    assert notes["pass dce"].startswith("removed 1")
    program = jitted.graph
    assert len(program.nodes) == 1 and program.nodes[0].op == "fused"
    assert "mul_scalar+add_scalar+relu" in graph

    unfused = tm.jit(fn, skip_passes=("fuse",))
    unfused(x)
    np.testing.assert_allclose(unfused(x).numpy(), want, rtol=1e-6)
    assert len(unfused.graph.nodes) == 5


def test_matrix_products_take_elementwise_epilogues():
    """Forward ``relu(x @ W.T + b)`` and backward ``relu_grad(g @ W, y)`` each become one
    GEMM kernel whose epilogue applies the elementwise op; the step still equals eager."""
    eager_model, _, eager_step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1))
    jit_model, _, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1))
    jitted = tm.jit(step)
    for x, y in _data(3):
        assert jitted(x, y).item() == pytest.approx(eager_step(x, y).item(), rel=1e-6)
    _assert_same_models(eager_model, jit_model)
    fused = {"+".join(node.members): node.tag for node in jitted.graph.nodes if node.op == "fused"}
    assert fused == {"dense+relu": "gemm", "matmul+relu_grad": "gemm", "matmul+sgd_update": "gemm"}
    assert "2 kernels are products with fused epilogues" in str(jitted.graph)


@pytest.mark.parametrize("optimizer", [lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9),
                                       lambda ps: tm.optim.Adam(ps, lr=1e-2)])
def test_optimizer_updates_fuse_into_weight_gradients(optimizer):
    """Each Linear weight's update runs inside the kernel of its gradient product (which
    still stores the gradient); the first layer's dX is not computed, the others read the
    weight before its update, and the merged call follows right after that read (while
    the layer's dY is in cache), not after the whole backward pass. Parameters, gradients
    and optimizer state equal eager."""
    eager_model, eager_opt, eager_step = _trainer(optimizer)
    jit_model, jit_opt, step = _trainer(optimizer)
    jitted = tm.jit(step)
    for x, y in _data(3):
        assert jitted(x, y).item() == pytest.approx(eager_step(x, y).item(), rel=1e-6)
    _assert_same_models(eager_model, jit_model)
    for p, q in zip(eager_model.parameters(), jit_model.parameters()):
        for name, value in eager_opt.state[id(p)].items():
            mine = jit_opt.state[id(q)][name]
            if name != "step":
                np.testing.assert_allclose(mine.numpy(), value.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    weights = sum(p.ndim == 2 for p in jit_model.parameters())
    merged = [node for node in jitted.graph.nodes if node.members[-1].endswith("_update") and len(node.members) > 1]
    assert len(merged) == weights and all(node.members[0] == "matmul" for node in merged)
    nodes = jitted.graph.nodes
    for node in merged:
        at, weight = nodes.index(node), node.outputs[1]
        readers = [k for k, other in enumerate(nodes) if other is not node and weight in other.inputs]
        dy = node.inputs[0]
        assert max(readers) < at, "the update must follow every read of the old weight"
        if at > 0 and readers and max(readers) > nodes.index(next(n for n in nodes if dy in n.outputs)):
            assert max(readers) == at - 1, f"{node} waits after the read of {weight}"
    assert f"update: fused {weights} optimizer updates" in str(jitted.graph)


def test_weight_gradients_over_a_large_batch_split_by_rows(monkeypatch):
    """With two threads, a Linear's weight gradient over a batch of 1024 is a product
    split by batch rows (one part per thread, summed by the output) and the jit, its
    batch lanes left out, fuses the Adam update into that sum; gradients equal numpy's,
    the step equals eager."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((1024, 2)).astype("float32")
    y = tm.tensor(rng.integers(0, 3, 1024))
    eager_model, _, eager_step = _trainer(lambda ps: tm.optim.Adam(ps, lr=1e-2))
    jit_model, _, step = _trainer(lambda ps: tm.optim.Adam(ps, lr=1e-2))
    x = tm.tensor(x_np, requires_grad=True)
    hidden = nn.functional.relu(eager_model[0](x))
    g = tm.tensor(rng.standard_normal(hidden.shape).astype("float32"))
    (hidden * g).sum().backward()
    mask = (x_np @ eager_model[0].weight.numpy().T + eager_model[0].bias.numpy()) > 0
    np.testing.assert_allclose(eager_model[0].weight.grad.numpy(), (g.numpy() * mask).T @ x_np, rtol=1e-4, atol=1e-4)
    eager_model.zero_grad()
    jitted = tm.jit(step, skip_passes=("lanes",))
    for _ in range(3):
        assert jitted(tm.tensor(x_np), y).item() == pytest.approx(eager_step(tm.tensor(x_np), y).item(), rel=1e-6)
    _assert_same_models(eager_model, jit_model)
    split = [node for node in jitted.graph.nodes if node.module is not None and "matmul.parts" in node.module.get_source("tir")]
    assert split and all(node.members[-1] == "adam_update" for node in split)


def _cnn_steps_equal_eager(optimizer, make_model, shape):
    """Three classification steps (3 classes) of ``make_model``'s CNN on random batches
    of ``shape``, jitted and eager, equal in loss and in the models after; the jitted step."""
    eager_model, _, eager_step = _trainer(optimizer, make_model=make_model)
    jit_model, _, step = _trainer(optimizer, make_model=make_model)
    jitted = tm.jit(step)
    rng = np.random.default_rng(2)
    for _ in range(3):
        x = tm.tensor(rng.standard_normal(shape).astype("float32"))
        y = tm.tensor(rng.integers(0, 3, shape[0]))
        assert jitted(x, y).item() == pytest.approx(eager_step(x, y).item(), rel=1e-6)
    _assert_same_models(eager_model, jit_model)
    return jitted


def test_convolutions_take_elementwise_epilogues():
    """``relu(conv2d(x, w) + b)`` is one kernel; a small CNN step still equals eager."""
    def cnn():
        tm.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 3))

    def sgd(ps):
        return tm.optim.SGD(ps, lr=0.1, momentum=0.9)
    jitted = _cnn_steps_equal_eager(sgd, cnn, (4, 1, 8, 8))
    assert any(node.members == ["conv2d", "relu"] and node.tag == "conv2d" for node in jitted.graph.nodes)


def test_pointwise_and_depthwise_convolutions_in_a_step(monkeypatch):
    """A MobileNet-style CNN: 1x1 convolutions (one strided) around a depthwise 3x3 one.
    Each 1x1 forward is a GEMM over pixels that takes its ReLU as an epilogue, each 1x1
    weight gradient a GEMM that takes its Adam update, the depthwise convolution takes its
    ReLU too, and on two threads the batch runs in lanes; every step equals eager."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")

    def cnn():
        tm.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU(),
                             nn.Conv2d(8, 6, 1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3))

    def adam(ps):
        return tm.optim.Adam(ps, lr=1e-2)
    jitted = _cnn_steps_equal_eager(adam, cnn, (64, 3, 7, 7))
    nodes = jitted.graph.nodes
    calls = jitted.graph.calls()
    assert "2 lanes of 64 rows" in str(jitted.graph)
    fused = [call for call in calls if call.members == ["conv2d", "relu"]]
    products = [call for call in fused if "conv2d.packed_b" in call.module.get_source("tir")]
    assert len(fused) == 6 and len(products) == 4           # per lane: two pointwise and the depthwise one
    assert sum(node.members == ["conv2d_grad_weight", "adam_update"] for node in nodes) == 2


def test_an_autoencoder_with_a_transposed_convolution_equals_eager(monkeypatch):
    """Conv2d down, ConvTranspose2d (strided, output-padded) back up, MSE to the input:
    the jit's steps (batch lanes on two threads) equal eager ones."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")

    def trainer():
        tm.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                              nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1))
        opt = tm.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), x)
            loss.backward()
            opt.step()
            return loss
        return model, step
    eager_model, eager_step = trainer()
    jit_model, step = trainer()
    jitted = tm.jit(step)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = tm.tensor(rng.standard_normal((64, 1, 8, 8)).astype("float32"))
        assert jitted(x).item() == pytest.approx(eager_step(x).item(), rel=1e-6)
    _assert_same_models(eager_model, jit_model)
    assert "conv_transpose2d" in {op for call in jitted.graph.calls() for op in call.members}
    assert "2 lanes of 64 rows" in str(jitted.graph)


def test_memory_plan_never_overlaps_live_temporaries():
    _, _, step = _trainer(lambda ps: tm.optim.Adam(ps, lr=1e-2), batchnorm=True)
    jitted = tm.jit(step)
    x, y = _data(1)[0]
    jitted(x, y)
    program = jitted.graph
    life = {}
    for k, node in enumerate(program.nodes):
        for v in node.inputs + node.outputs:
            if v.kind == TEMP:
                life[v.id] = (life.get(v.id, (k, k))[0], k, v)
    temps = list(life.values())
    for i, (lo1, hi1, v1) in enumerate(temps):
        assert v1.offset % 64 == 0 and v1.offset + v1.nbytes <= program.arena_bytes
        for lo2, hi2, v2 in temps[i + 1:]:
            if lo1 <= hi2 and lo2 <= hi1:
                assert v1.offset + v1.nbytes <= v2.offset or v2.offset + v2.nbytes <= v1.offset
    before, after = program.memory
    assert after < before
    assert "arena" in str(program)


def test_returned_results_do_not_share_memory_with_the_gradients():
    """A step's gradients share one allocation; a returned loss has its own, so keeping
    losses (``history.append(step(x, y))``) does not keep every step's gradients alive."""
    model, _, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1))
    jitted = tm.jit(step)
    data = _data(2)
    jitted(*data[0])
    loss = jitted(*data[1])

    def allocation(tensor):
        array = tensor._data._storage.array
        while array.base is not None:
            array = array.base
        return array
    grads = {id(allocation(p.grad)) for p in model.parameters()}
    assert len(grads) == 1 and id(allocation(loss)) not in grads


def _replayed_twice(batches):
    """(first weight, jitted SGD-momentum step, ``batches`` batches) after the step ran
    on the first two (traced, then replayed): the gradients are a replay's."""
    model, _, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9))
    jitted = tm.jit(step)
    data = _data(batches)
    jitted(*data[0])
    jitted(*data[1])
    return next(model.parameters()), jitted, data


def test_gradients_reuse_the_last_steps_memory_unless_someone_keeps_it():
    """A replay writes its gradients where the previous replay wrote them when nothing
    refers to those any more; a gradient kept by the caller — as a tensor or as a numpy
    view — keeps its values and its memory is not written again."""
    weight, jitted, data = _replayed_twice(5)
    first = weight.grad._data.data_ptr
    jitted(*data[2])
    assert weight.grad._data.data_ptr == first                 # recycled: nothing held the last gradients

    kept_tensor = weight.grad
    kept_values = kept_tensor.numpy()
    jitted(*data[3])
    assert weight.grad._data.data_ptr != kept_tensor._data.data_ptr
    np.testing.assert_array_equal(kept_tensor.numpy(), kept_values)

    kept_view = weight.grad._data._storage.array           # a numpy view is a reference too
    view_values = kept_view.copy()
    del kept_tensor
    jitted(*data[4])
    np.testing.assert_array_equal(kept_view, view_values)


def test_gradient_tensors_nobody_else_holds_stay_in_place():
    """A replay whose gradient memory is free keeps the gradient tensors it set last
    time (the same objects over the same, rewritten memory); a gradient whose tensor or
    array the caller holds, or whose tensor the caller changed, gets a fresh tensor and
    keeps its values."""
    weight, jitted, data = _replayed_twice(6)
    tensor_id, before = id(weight.grad), weight.grad.numpy()
    jitted(*data[2])
    assert id(weight.grad) == tensor_id and not np.array_equal(weight.grad.numpy(), before)

    held_array = weight.grad._data
    values = held_array.numpy()
    jitted(*data[3])
    assert weight.grad._data is not held_array and weight.grad._data.data_ptr != held_array.data_ptr
    np.testing.assert_array_equal(held_array.numpy(), values)
    del held_array

    weight.grad.requires_grad_()                  # a changed tensor is not handed out again
    jitted(*data[4])
    assert not weight.grad.requires_grad
    tensor_id = id(weight.grad)
    jitted(*data[5])
    assert id(weight.grad) == tensor_id


def test_recycled_gradients_equal_eager_ones():
    """Reusing the gradients' memory changes nothing computed: five steps with and
    without jit agree (momentum states and gradients included)."""
    eager_model, _, eager_step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9))
    jit_model, _, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9))
    jitted = tm.jit(step)
    for x, y in _data(5):
        eager_step(x, y)
        jitted(x, y)
    _assert_same_models(eager_model, jit_model)


def test_freezing_or_moving_parameters_after_tracing_retraces():
    """A replay reads parameters by reference: freezing one (``requires_grad_``) or
    giving the model new arrays (``double().float()``) after tracing must not replay the
    old trace (it kept updating a frozen bias, and trained the old arrays)."""
    x = tm.tensor(np.random.default_rng(0).normal(size=(4, 3)).astype("float32"))
    y = tm.tensor(np.array([0, 1, 0, 1]))
    results = {}
    for mode in ("eager", "jit"):
        tm.manual_seed(0)
        model = nn.Linear(3, 2)
        step = cross_entropy_step(model, tm.optim.SGD(model.parameters(), lr=0.5))
        run = tm.jit(step) if mode == "jit" else step
        run(x, y)
        model.bias.requires_grad_(False)
        frozen = model.bias.numpy()
        run(x, y)
        np.testing.assert_array_equal(model.bias.numpy(), frozen)
        model.bias.requires_grad_(True)
        model.double().float()
        run(x, y)
        results[mode] = (model.weight.numpy(), model.bias.numpy())
    for a, b in zip(results["jit"], results["eager"]):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_replacing_a_parameter_after_tracing_retraces():
    """``model.weight = nn.Parameter(...)`` after tracing: the replay kept reading the
    old parameter object (the guard looked only at the objects found when tracing)."""
    model = nn.Linear(3, 2)
    forward = tm.jit(lambda x: model(x))
    x = tm.ones(2, 3)
    forward(x)
    model.weight = nn.Parameter(tm.zeros(2, 3))
    np.testing.assert_allclose(forward(x).numpy(), model(x).numpy())
    np.testing.assert_allclose(forward(x).numpy(), np.broadcast_to(model.bias.numpy(), (2, 2)))


def test_concurrent_calls_of_one_jitted_function_return_their_own_results():
    """Threads calling one jitted inference function at once: every call returned the
    outputs of some other call (the variant's arena and output block were shared, and
    the native step runs without the GIL); calls now run one at a time."""
    tm.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    predict = tm.jit(lambda x: model(x))
    rng = np.random.default_rng(0)
    xs = [tm.tensor(rng.standard_normal((256, 64)).astype("float32")) for _ in range(4)]
    with tm.no_grad():
        expected = [model(x).numpy() for x in xs]
        predict(xs[0])

    def work(k):
        with tm.no_grad():
            return [np.allclose(predict(xs[(k + i) % 4]).numpy(), expected[(k + i) % 4], atol=1e-5)
                    for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(work, range(4)) for r in rs]
    assert all(results)


def test_a_trace_records_only_the_calling_threads_ops():
    """Another thread's eager ops while a step is traced were recorded into the step, and
    its reading a value was refused as if it were inside the trace."""
    started, finished = threading.Event(), threading.Event()

    def step(x):
        y = x * 2.0
        started.set()
        assert finished.wait(30)
        return y + 1.0

    jitted = tm.jit(step)
    seen = []

    def other():
        assert started.wait(30)
        try:
            seen.append((tm.ones(3) * 5.0).numpy())
        finally:
            finished.set()
    thread = threading.Thread(target=other)
    thread.start()
    x = tm.tensor(np.arange(3, dtype="float32"))
    np.testing.assert_array_equal(jitted(x).numpy(), [1, 3, 5])
    thread.join()
    np.testing.assert_array_equal(seen[0], [5, 5, 5])
    np.testing.assert_array_equal(jitted(x).numpy(), [1, 3, 5])
