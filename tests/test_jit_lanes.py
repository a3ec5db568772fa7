"""Batch lanes: kernels proved row-independent (``graph.jit.rows``) restricted to ranges
of rows give exactly the whole kernel's rows and sums; the ``lanes`` pass runs them in
parallel and the step still equals eager, kernel by kernel (observed) or natively."""
import contextlib

import numpy as np
import pytest
from hypothesis import event, given, settings, strategies as st

import tvmini as tm
from tvmini import nn, te, topi
from tvmini.codegen.parallel import serial_builds
from tvmini.graph.dispatch import define_outputs
from tvmini.graph.jit import rows
from tvmini.graph.jit.ir import TEMP
from tvmini.graph.jit.passes.memory import _lifetimes
from train_steps import cross_entropy_step

F32 = "float32"


def _dense_relu(x, w, b):
    return topi.relu(topi.dense(x, w, b))


def _by_row(x, w):
    """Positional: the row number in the arithmetic and in an index of an array read whole."""
    return te.compute(x.shape, lambda i, j: x[i, j] * i + w[i % 3, j], name="by_row")


# name -> (define, attrs, input shapes by batch n (dtype), batch axis per input or "free")
KERNELS = {
    "dense+relu": (_dense_relu, (), lambda n: [((n, 5), F32), ((7, 5), F32), ((7,), F32)], [0, None, None]),
    "grad_w": ("matmul", (("transpose_a", True),), lambda n: [((n, 6), F32), ((n, 7), F32)], [0, 0]),
    "grad_x": ("matmul", (), lambda n: [((n, 6), F32), ((6, 9), F32)], [0, None]),
    "mean": ("mean", (), lambda n: [((n,), F32)], [0]),
    "bias_grad": ("sum", (("axis", 0),), lambda n: [((n, 4), F32)], [0]),
    "softmax": ("softmax", (), lambda n: [((n, 4), F32)], [0]),
    "cross_entropy": ("cross_entropy", (), lambda n: [((n, 4), F32), ((n,), "int64")], [0, 0]),
    "cross_entropy_grad": ("cross_entropy_grad", (), lambda n: [((n, 4), F32), ((n,), "int64"), ((n,), F32)],
                           [0, 0, "free"]),
    "by_row": (_by_row, (), lambda n: [((n, 5), F32), ((3, 5), F32)], [0, None]),
    "dropout": (lambda x: topi.random.dropout(x, 0.6, 12345), (), lambda n: [((n, 7), F32)], [0]),
}


def _random(spec, rng):
    shape, dtype = spec
    return rng.integers(0, 4, shape) if dtype == "int64" else rng.standard_normal(shape).astype(dtype)


def _run(outs, placeholders, arrays):
    f = tm.build(topi.default_schedule(outs), placeholders + outs)
    results = [np.zeros([int(d.value) for d in o.shape], o.dtype) for o in outs]
    f(*arrays, *results)
    return results


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(KERNELS)), batch=st.integers(2, 60), cut=st.floats(0.05, 0.95),
       serial=st.booleans())
def test_kernels_restricted_to_rows_give_the_whole_kernels_rows_and_sums(name, batch, cut, serial):
    """For each kernel and any split of a batch (sizes not multiples of anything, a
    single row), the lanes' rows concatenate to the whole kernel's rows and their
    partials add up to its sums; built for one thread or not."""
    _check_lanes(name, batch, cut, serial)


@pytest.mark.parametrize("name", ["by_row", "dropout"])
def test_positional_kernels_see_their_lanes_first_row(name):
    """A kernel that uses the row number itself (dropout hashes each element's position)
    is built for each lane's first row and gives the whole kernel's rows."""
    _check_lanes(name, 37, 0.4, False)


def _check_lanes(name, batch, cut, serial):
    define, attrs, specs_of, axes = KERNELS[name]
    specs = specs_of(batch)
    placeholders, _, outs = define_outputs(define, specs, (), attrs)
    cls = rows.classify(outs, dict(zip(placeholders, axes)), batch)
    axes = [cls.get(p) for p in placeholders]
    rng = np.random.default_rng(batch)
    arrays = [_random(s, rng) for s in specs]
    whole = _run(outs, placeholders, arrays)
    split = max(1, min(batch - 1, round(batch * cut)))
    pieces = []
    for start, count in ((0, split), (split, batch - split)):
        lane_specs = [(tuple(count if k == a else d for k, d in enumerate(shape)), dtype)
                      for (shape, dtype), a in zip(specs, axes)]
        lane_ph = [te.placeholder(s, dtype=d, name=f"lane{k}") for k, (s, d) in enumerate(lane_specs)]
        lane_outs = rows.lane_define(define, attrs, specs, axes, batch, count, start)(*lane_ph)
        lane_arrays = [np.ascontiguousarray(np.take(a, np.arange(start, start + count), axis=ax))
                       if isinstance(ax, int) else a for a, ax in zip(arrays, axes)]
        with serial_builds() if serial else contextlib.nullcontext():
            pieces.append(_run(lane_outs, lane_ph, lane_arrays))
    for k, out in enumerate(outs):
        if cls.get(out) == rows.PARTIAL:
            got = pieces[0][k] + pieces[1][k]
        else:
            got = np.concatenate([pieces[0][k], pieces[1][k]], axis=cls[out])
        np.testing.assert_allclose(got, whole[k], rtol=2e-5, atol=2e-5, err_msg=f"{name} output {k}")


def _sum_by_row(x):
    k = te.reduce_axis((0, x.shape[0]), name="k")
    return te.compute((x.shape[1],), lambda j: te.sum(x[k, j] * k, axis=k), name="sum_by_row")


def _plus_one(t):
    return te.compute(t.shape, lambda j: t[j] + 1.0, name="plus_one")


@pytest.mark.parametrize("make, reason", [
    (lambda x: topi.max(x, axis=0), "neither its own rows nor a sum"),             # a max over rows
    (lambda x: te.compute(x.shape, lambda i, j: x[x.shape[0] - 1 - i, j], name="flip"), "reads batch rows at"),
    (_sum_by_row, "outside the rows' own index"),                       # a sum over rows weighted by the row
    (lambda x: _plus_one(topi.sum(x, axis=0)), "not linear"),                            # affine in a sum
])
def test_kernels_that_combine_rows_otherwise_are_not_split(make, reason):
    x = te.placeholder((12, 3), name="x")
    out = make(x)
    with pytest.raises(rows.NotSplittable, match=reason):
        rows.classify([out], {x: 0}, 12)


def test_serial_builds_make_no_parallel_launch():
    A = te.placeholder((4096,), name="A")
    B = te.compute((4096,), lambda i: A[i] * 2.0, name="B")

    def build(name):
        s = te.create_schedule(B.op)
        s[B].parallel(B.op.axis[0])
        return tm.build(s, [A, B], name=name)
    with serial_builds():
        serial = build("serial_double")
    parallel = build("parallel_double")
    assert "GOMP_parallel" not in serial.get_source("ll")
    assert "GOMP_parallel" in parallel.get_source("ll")
    a = np.random.rand(4096).astype(F32)
    for f in (serial, parallel):
        b = np.zeros_like(a)
        f(a, b)
        np.testing.assert_allclose(b, 2 * a)


def _wide_mlp():
    tm.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 3))


def _steps(batch, jit_kwargs, observe=False, steps=3):
    """Losses and the model after ``steps`` Adam steps, eagerly or by tm.jit."""
    model = _wide_mlp()
    step = cross_entropy_step(model, tm.optim.Adam(model.parameters(), lr=1e-2))
    run = tm.jit(step, **jit_kwargs) if jit_kwargs is not None else step
    rng = np.random.default_rng(batch)
    losses, observed = [], []
    for _ in range(steps):
        x = tm.tensor(rng.standard_normal((batch, 2)).astype(F32))
        y = tm.tensor(rng.integers(0, 3, batch))
        if observe:
            with tm.profiler() as prof:
                losses.append(run(x, y).item())
            observed += [e.op for e in prof.events]
        else:
            losses.append(run(x, y).item())
    assert not observe or any(op.startswith("lane_") for op in observed), observed
    return losses, model, run


@pytest.mark.parametrize("batch, threads, observe", [(1024, 2, False), (333, 2, False), (256, 2, True),
                                                     (1000, 3, False)])
def test_a_step_in_batch_lanes_equals_eager(monkeypatch, batch, threads, observe):
    """The forward and backward run in a lane per thread (uneven ones for 333 and 1000
    rows), the weight and bias gradients are the lanes' partials added up, and losses,
    parameters and gradients equal eager's — natively or kernel by kernel (profiled)."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", str(threads))
    eager_losses, eager_model, _ = _steps(batch, None)
    losses, model, jitted = _steps(batch, {}, observe)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    for (name, p), (_, q) in zip(eager_model.named_parameters(), model.named_parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    program = jitted.graph
    (lanes,) = [node for node in program.nodes if node.lanes is not None]
    starts = [start for start, _ in lanes.rows]
    assert sum(count for _, count in lanes.rows) == batch and starts[0] == 0 and len(starts) == threads
    assert f"lanes x{threads}" in str(program) and "add_parts" in str(program)
    assert all(call.module.get_source("ll").count("GOMP_parallel") == 0 for call in lanes.calls())


def test_lane_temporaries_never_share_memory_across_lanes(monkeypatch):
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    _, _, jitted = _steps(512, {}, steps=1)
    program = jitted.graph
    life, lane_life = _lifetimes(program)
    temps = {v.id: v for node in program.nodes for call in [node] + node.calls()
             for v in call.inputs + call.outputs if v.kind == TEMP}
    assert any(v in lane_life for v in temps)
    for a in temps.values():
        for b in temps.values():
            if a.id >= b.id or a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset:
                continue
            assert life[a.id][1] < life[b.id][0] or life[b.id][1] < life[a.id][0] or (
                a.id in lane_life and b.id in lane_life and lane_life[a.id][:2] == lane_life[b.id][:2]
                and (lane_life[a.id][3] < lane_life[b.id][2] or lane_life[b.id][3] < lane_life[a.id][2])), \
                f"{a.describe()} and {b.describe()} share memory while both live"


@pytest.mark.parametrize("batch, threads, why", [(1024, "1", "not split (batch 1024, 1 threads)"),
                                                 (48, "2", "not split (batch 48, 2 threads)")])
def test_small_batches_and_one_thread_are_not_split(monkeypatch, batch, threads, why):
    monkeypatch.setenv("TVMINI_NUM_THREADS", threads)
    _, _, jitted = _steps(batch, {}, steps=1)
    assert f"lanes: {why}" in str(jitted.graph)
    assert all(node.lanes is None for node in jitted.graph.nodes)


def test_weights_that_outweigh_the_rows_are_not_split(monkeypatch):
    """A 784 -> 256 layer on 128 rows: every lane would read all the weights and write
    a whole weight-gradient partial, more bytes than its rows, so the step is left whole."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    tm.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    step = tm.jit(cross_entropy_step(model, tm.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)))
    rng = np.random.default_rng(0)
    step(tm.tensor(rng.standard_normal((128, 784)).astype(F32)), tm.tensor(rng.integers(0, 10, 128)))
    assert "none weighs enough rows to pay" in str(step.graph)


def test_the_batch_is_the_leading_extent_most_arguments_share(monkeypatch):
    """A step whose first argument is not batched (a per-class weight) still splits the
    batch its images and labels share, and equals eager."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    model = _wide_mlp()

    def loss_of(class_weight, x, y):
        logits = model(x) * class_weight
        return nn.functional.cross_entropy(logits, y)
    rng = np.random.default_rng(5)
    w = tm.tensor(np.array([1.0, 0.5, 2.0], F32))
    x, y = tm.tensor(rng.standard_normal((512, 2)).astype(F32)), tm.tensor(rng.integers(0, 3, 512))
    with tm.no_grad():
        want = loss_of(w, x, y).item()
        jitted = tm.jit(loss_of)
        assert jitted(w, x, y).item() == pytest.approx(want, rel=1e-5)
    assert "lanes of 512 rows" in str(jitted.graph)


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
OPTIMIZERS = {"adam": lambda ps: tm.optim.Adam(ps, lr=1e-2),
              "sgd": lambda ps: tm.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
              "rmsprop": lambda ps: tm.optim.RMSprop(ps, lr=1e-2)}


@settings(max_examples=6, deadline=None)
@given(batch=st.integers(128, 700), widths=st.lists(st.integers(1, 48), min_size=1, max_size=3),
       activation=st.sampled_from(sorted(ACTIVATIONS)), loss=st.sampled_from(["cross_entropy", "mse", "bce"]),
       reduction=st.sampled_from(["mean", "sum"]), optimizer=st.sampled_from(sorted(OPTIMIZERS)))
def test_random_mlp_steps_in_lanes_equal_eager(batch, widths, activation, loss, reduction, optimizer):
    """Any MLP, activation, loss (mean or sum over the batch) and optimizer: the jit
    step (in lanes wherever its kernels and sizes allow) equals the eager step."""
    classes = 3
    sizes = [4] + widths

    def make():
        tm.manual_seed(1)
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), ACTIVATIONS[activation]())]
        model = nn.Sequential(*layers, nn.Linear(sizes[-1], classes))
        opt = OPTIMIZERS[optimizer](model.parameters())

        def step(x, y, target):
            opt.zero_grad()
            out = model(x)
            if loss == "cross_entropy":
                value = nn.functional.cross_entropy(out, y, reduction)
            elif loss == "mse":
                value = nn.functional.mse_loss(out, target, reduction)
            else:
                value = nn.functional.binary_cross_entropy_with_logits(out, target, reduction)
            value.backward()
            opt.step()
            return value
        return model, step
    rng = np.random.default_rng(batch)
    data = [(tm.tensor(rng.standard_normal((batch, 4)).astype(F32)), tm.tensor(rng.integers(0, classes, batch)),
             tm.tensor(rng.random((batch, classes)).astype(F32))) for _ in range(2)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TVMINI_NUM_THREADS", "2")
        eager_model, eager_step = make()
        jit_model, step = make()
        jitted = tm.jit(step)
        for x, y, target in data:
            want, got = eager_step(x, y, target).item(), jitted(x, y, target).item()
            assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
        event("split in lanes" if "lanes of" in str(jitted.graph) else "left whole")
    for (name, p), (_, q) in zip(eager_model.named_parameters(), jit_model.named_parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


def _jit_equals_eager(make, data, grads=False, buffers=False):
    """Train ``make()``'s (model, step) eagerly and by tm.jit on ``data``: losses equal,
    then parameters (and gradients, buffers when asked); returns the JitFunction."""
    eager_model, eager_step = make()
    jit_model, step = make()
    jitted = tm.jit(step)
    for x, y in data:
        assert jitted(x, y).item() == pytest.approx(eager_step(x, y).item(), rel=1e-5)
    for (name, p), (_, q) in zip(eager_model.named_parameters(), jit_model.named_parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
        if grads:
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    if buffers:
        for (name, p), (_, q) in zip(eager_model.named_buffers(), jit_model.named_buffers()):
            np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    return jitted


def test_a_convnet_step_in_lanes_equals_eager(monkeypatch):
    """Convolutions, pooling and a flatten (its row index ``(n * 64 + j) // 64 % batch``
    is the row once simplified over ``j < 64``) run in lanes too; the step equals eager."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")

    def make():
        tm.manual_seed(2)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
        return model, cross_entropy_step(model, tm.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    rng = np.random.default_rng(6)
    data = [(tm.tensor(rng.standard_normal((64, 1, 10, 10)).astype(F32)), tm.tensor(rng.integers(0, 5, 64)))
            for _ in range(3)]
    jitted = _jit_equals_eager(make, data, grads=True)
    (lanes,) = [node for node in jitted.graph.nodes if node.lanes is not None]
    ops = {op for call in lanes.calls() for op in call.members}
    assert {"conv2d", "max_pool2d", "reshape", "conv2d_grad_weight"} <= ops, ops


def test_an_array_found_split_late_is_split_for_every_stage():
    """``e`` from outside the step is revealed as split by rows only by the second stage
    (read at the row there); the first stage sums over its rows, so the output needs the
    whole sum: not splittable (taking ``e`` whole in the first stage would read past a
    lane's rows)."""
    x, e = te.placeholder((16, 3), name="x"), te.placeholder((16,), name="e")
    k = te.reduce_axis((0, 16), name="k")
    total = te.compute((1,), lambda _: te.sum(e[k], axis=k), name="total")
    out = te.compute((16, 3), lambda i, j: x[i, j] * e[i] + total[0], name="out")
    with pytest.raises(rows.NotSplittable, match="mixes batch rows and sums"):
        rows.classify([out], {x: 0, e: "free"}, 16)
    scaled = te.compute((16, 3), lambda i, j: x[i, j] * e[i], name="scaled")
    cls = rows.classify([scaled, total], {x: 0, e: "free"}, 16)
    assert cls[e] == 0 and cls[scaled] == 0 and cls[total] == rows.PARTIAL


BN = (("eps", 1e-5), ("axes", (0,)))


@pytest.mark.parametrize("define, specs, axes, cut_names", [
    ("batch_norm_forward", [((48, 5), F32), ((5,), F32), ((5,), F32)], [0, None, None],
     {"batch_norm.mean", "batch_norm.var"}),
    ("batch_norm_backward", [((48, 5), F32), ((48, 5), F32), ((5,), F32), ((5,), F32), ((5,), F32)],
     [0, 0, None, None, None], {"batch_norm_grad_x.offset", "batch_norm_grad_x.slope"}),
])
def test_kernels_cut_at_their_sums_over_rows_give_the_whole_kernel(define, specs, axes, cut_names):
    """A batch norm reads its sums over rows with the rows: cut after those sums, its
    pieces (each splittable) run one after another give the whole kernel's outputs."""
    placeholders, _, outs = define_outputs(define, specs, (), BN)
    with pytest.raises(rows.NotSplittable):
        rows.classify(outs, dict(zip(placeholders, axes)), 48)
    cut, _ = rows.cut_points(outs, dict(zip(placeholders, axes)), 48)
    assert {t.name for t in cut} == cut_names
    pieces = rows.pieces(outs, placeholders, cut)
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(shape).astype(dtype) + 1 for shape, dtype in specs]
    whole = _run(outs, placeholders, arrays)
    order = rows.ops_in_order(outs)
    values = {("in", k): a for k, a in enumerate(arrays)}
    for n, piece in enumerate(pieces):
        inputs = [values[ref] for ref in piece[1]]
        piece_ph = [te.placeholder(a.shape, dtype=str(a.dtype), name=f"in{k}") for k, a in enumerate(inputs)]
        piece_outs = rows.piece_define(define, specs, (), BN, piece)(*piece_ph)
        rows.classify(piece_outs, {p: (0 if a.shape[0] == 48 else None) for p, a in zip(piece_ph, inputs)}, 48)
        values.update(zip(piece[2], _run(piece_outs, piece_ph, inputs)))
    for out, want in zip(outs, whole):
        np.testing.assert_allclose(values[("op", order.index(out.op))], want, rtol=1e-5, atol=1e-5)


def test_a_batchnorm_step_in_lanes_equals_eager(monkeypatch):
    """Linear + BatchNorm1d + ReLU layers: the batch norms are cut at their sums, the
    step runs in several parallel regions (one per sum), and equals eager."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")

    def make():
        tm.manual_seed(3)
        model = nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
        return model, cross_entropy_step(model, tm.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    rng = np.random.default_rng(8)
    data = [(tm.tensor(rng.standard_normal((256, 2)).astype(F32)), tm.tensor(rng.integers(0, 3, 256)))
            for _ in range(3)]
    jitted = _jit_equals_eager(make, data, buffers=True)
    graph = str(jitted.graph)
    assert "batch_norm_forward[0]" in graph and "batch_norm_backward[1]" in graph
    assert sum(node.lanes is not None for node in jitted.graph.nodes) >= 3, graph
