"""``F.embedding_bag`` and ``nn.EmbeddingBag`` (and ``F.embedding``'s
``scale_grad_by_freq``) against PyTorch (outputs and the gradients
of the weight and of ``per_sample_weights`` in float64), finite differences, a ``tm.jit``
training step, the CUDA emulator and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import nn, te
from tvmini.topi import embedding_bag as kernels
from tvmini.errors import ShapeError, TVMiniError

from graph_gradcheck import check_grad
from strategies import examples
from test_cuda import needs_nvcc
from test_topi_cuda import compile_together, cuda_source

torch = pytest.importorskip("torch")
F, TF = nn.functional, torch.nn.functional

TOL = dict(rtol=1e-10, atol=1e-12)


def _compare(weight, indices, offsets=None, mode="mean", psw=None, **kwargs):
    """Run both libraries on the same arrays; compare the output and every gradient."""
    tw, ow = torch.tensor(weight, requires_grad=True), tm.tensor(weight, requires_grad=True)
    tp, op = (None, None) if psw is None else (torch.tensor(psw, requires_grad=True), tm.tensor(psw, requires_grad=True))
    t_off, o_off = (None, None) if offsets is None else (torch.tensor(offsets), tm.tensor(offsets))
    theirs = TF.embedding_bag(torch.tensor(indices), tw, t_off, mode=mode, per_sample_weights=tp, **kwargs)
    ours = F.embedding_bag(tm.tensor(indices), ow, o_off, mode=mode, per_sample_weights=op, **kwargs)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **TOL)
    head = np.random.default_rng(0).normal(size=theirs.shape)
    (theirs * torch.tensor(head)).sum().backward()
    (ours * tm.tensor(head)).sum().backward()
    np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), **TOL)
    if psw is not None:
        np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), **TOL)


@examples(10)
@given(st.data())
def test_embedding_bag_matches_torch(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 99), "seed"))
    V, D = data.draw(st.integers(1, 6), "V"), data.draw(st.sampled_from([1, 3, 8]), "D")
    mode = data.draw(st.sampled_from(["sum", "mean", "max"]), "mode")
    weight = rng.normal(size=(V, D))
    padding_idx = data.draw(st.sampled_from([None, 0, -1]), "padding_idx")
    if data.draw(st.booleans(), "2-D input"):
        indices = rng.integers(0, V, size=(data.draw(st.integers(1, 3), "B"), data.draw(st.integers(1, 4), "n")))
        offsets, last = None, False
    else:
        indices = rng.integers(0, V, size=data.draw(st.integers(1, 7), "N"))
        cuts = sorted(data.draw(st.lists(st.integers(0, indices.size), min_size=0, max_size=3), "cuts"))
        last = data.draw(st.booleans(), "include_last_offset")
        offsets = np.array([0] + cuts + ([indices.size] if last else []))      # repeated cuts: empty bags
    psw = rng.normal(size=indices.shape) if mode == "sum" and data.draw(st.booleans(), "psw") else None
    _compare(weight, indices, offsets, mode, psw, include_last_offset=last, padding_idx=padding_idx)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_bags_with_repeats_padding_and_empty_bags_match_torch(mode):
    """One row picked several times in a bag (the max's gradient goes to it once),
    padding entries left out of the count, a bag of padding only, an empty bag."""
    weight = np.random.default_rng(1).normal(size=(5, 4))
    indices = np.array([2, 2, 3, 1, 1, 4, 0, 2])
    _compare(weight, indices, np.array([0, 3, 3, 5, 6]), mode, padding_idx=1)
    _compare(weight, indices.astype("int32"), np.array([0, 3, 3, 8], dtype="int32"), mode, include_last_offset=True)
    _compare(weight[:1, :1], np.array([[0]]), None, mode)                       # size 1 everywhere


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_the_device_backward_of_a_jitted_step_matches_torch(mode):
    """Eagerly the CPU backward groups the positions by row on the host; a ``tm.jit``
    step sorts them on the device (``topi.segment_sum``): both as PyTorch's."""
    rng = np.random.default_rng(6)
    weight, head = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    indices, offsets = np.array([5, 1, 1, 0, 3, 5, 2]), np.array([0, 2, 2, 6])
    psw = rng.normal(size=7) if mode == "sum" else None
    tw = torch.tensor(weight, requires_grad=True)
    tp = None if psw is None else torch.tensor(psw, requires_grad=True)
    (TF.embedding_bag(torch.tensor(indices), tw, torch.tensor(offsets), mode=mode, per_sample_weights=tp,
                      padding_idx=1) * torch.tensor(head)).sum().backward()

    def step(w, *p):
        loss = (F.embedding_bag(tm.tensor(indices), w, tm.tensor(offsets), mode=mode,
                                per_sample_weights=p[0] if p else None, padding_idx=1) * tm.tensor(head)).sum()
        loss.backward()
        return loss
    ow = tm.tensor(weight, requires_grad=True)
    op = [] if psw is None else [tm.tensor(psw, requires_grad=True)]
    tm.jit(step)(ow, *op)
    np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), **TOL)
    if op:
        np.testing.assert_allclose(op[0].grad.numpy(), tp.grad.numpy(), **TOL)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_a_jitted_step_replayed_with_other_bags_matches_torch(mode):
    """The device backward reads no index on the host: one trace, replayed with other
    indices and offsets (repeats in a bag, padding, empty bags), gives PyTorch's
    gradients every time."""
    rng = np.random.default_rng(8)
    weight = rng.normal(size=(7, 3))
    ow = tm.tensor(weight, requires_grad=True)

    def step(indices, offsets, head, *p):
        ow.grad = None
        loss = (F.embedding_bag(indices, ow, offsets, mode=mode, per_sample_weights=p[0] if p else None,
                                padding_idx=2) * head).sum()
        loss.backward()
        return loss
    jitted = tm.jit(step)
    for offsets in ([0, 3, 3, 6], [0, 0, 1, 9], [0, 2, 4, 8]):
        indices, head = rng.integers(0, 7, size=9), rng.normal(size=(4, 3))
        indices[:3] = indices[0]                       # one row picked three times
        psw = [rng.normal(size=9)] if mode == "sum" else []
        tw = torch.tensor(weight, requires_grad=True)
        (TF.embedding_bag(torch.tensor(indices), tw, torch.tensor(offsets), mode=mode, padding_idx=2,
                          per_sample_weights=torch.tensor(psw[0]) if psw else None) * torch.tensor(head)).sum().backward()
        jitted(tm.tensor(indices), tm.tensor(offsets), tm.tensor(head), *[tm.tensor(p) for p in psw])
        np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), **TOL)


def test_embedding_bag_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    indices, offsets = tm.tensor([3, 0, 3, 1, 2]), tm.tensor([0, 2, 2])
    weight, psw = rng.normal(size=(4, 3)), rng.normal(size=5)
    check_grad(lambda w, p: F.embedding_bag(indices, w, offsets, mode="sum", per_sample_weights=p), weight, psw)
    for mode in ("mean", "max"):
        check_grad(lambda w: F.embedding_bag(indices, w, offsets, mode=mode, padding_idx=0), weight)


def test_max_norm_renormalizes_the_picked_rows_as_torch():
    weight = np.random.default_rng(3).normal(size=(6, 3)) * 3
    indices, offsets = np.array([1, 4, 4, 0]), np.array([0, 1])
    theirs, ours = torch.tensor(weight), tm.tensor(weight)
    t_out = TF.embedding_bag(torch.tensor(indices), theirs, torch.tensor(offsets), max_norm=1.5, mode="sum")
    o_out = F.embedding_bag(tm.tensor(indices), ours, tm.tensor(offsets), max_norm=1.5, mode="sum")
    np.testing.assert_allclose(o_out.numpy(), t_out.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------- module

def test_module_loads_torch_state_and_from_pretrained_freezes():
    torch.manual_seed(0)
    theirs = torch.nn.EmbeddingBag(6, 3, mode="max", padding_idx=2).double()
    ours = nn.EmbeddingBag(6, 3, mode="max", padding_idx=2, dtype="float64")
    assert np.all(ours.weight.numpy()[2] == 0) and np.std(ours.weight.numpy()) > 0.3        # N(0, 1), row zeroed
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.array([[1, 2, 5], [2, 2, 2]])
    np.testing.assert_allclose(ours(tm.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), **TOL)
    assert repr(ours) == "EmbeddingBag(6, 3, mode='max', padding_idx=2)"
    table = tm.tensor(np.arange(6.0).reshape(3, 2))
    frozen = nn.EmbeddingBag.from_pretrained(table, mode="sum")
    trained = nn.EmbeddingBag.from_pretrained(table, freeze=False, include_last_offset=True)
    assert not frozen.weight.requires_grad and trained.weight.requires_grad
    np.testing.assert_array_equal(frozen(tm.tensor([0, 2, 1]), tm.tensor([0, 1])).numpy(), [[0, 1], [6, 8]])
    np.testing.assert_array_equal(trained(tm.tensor([0, 2, 1]), tm.tensor([0, 1, 3])).numpy(), [[0, 1], [3, 4]])
    trained.weight.numpy()[0] = 9          # a copy: the table is untouched
    assert table.numpy()[0, 0] == 0


def _bag_classifier(seed):
    tm.manual_seed(seed)
    return nn.ModuleList([nn.EmbeddingBag(10, 4, mode="mean"), nn.Linear(4, 3)])


def test_jitted_embedding_bag_training_step_equals_eager():
    rng = np.random.default_rng(4)
    batches = [(tm.tensor(rng.integers(0, 10, size=9)), tm.tensor([0, 4, 4, 7]), tm.tensor(rng.integers(0, 3, size=4)))
               for _ in range(2)]
    results = []
    for jit in (False, True):
        model = _bag_classifier(0)
        bag, head = model
        opt = tm.optim.Adam(model.parameters(), lr=0.05)

        def step(x, offsets, y):
            opt.zero_grad()
            loss = F.cross_entropy(head(bag(x, offsets)), y)
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if jit else step
        losses = [float(run(*batch)) for batch in batches + batches]
        results.append((losses, [p.numpy() for p in model.parameters()]))
    (eager, eager_params), (jitted, jit_params) = results
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    for a, b in zip(jit_params, eager_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_embedding_bag_kernels_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(5)
    weight, psw = rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=6).astype("float32")
    indices, offsets = np.array([4, 1, 1, 0, 3, 4]), np.array([0, 3, 3, 5])      # row 1 twice in a bag
    for mode, scaled in (("sum", False), ("max", False), ("sum", True)):
        results = []
        for device in ("cuda", "cpu"):
            w = tm.tensor(weight, device=device, requires_grad=True)
            p = tm.tensor(psw, device=device, requires_grad=True) if mode == "sum" else None
            out = F.embedding_bag(tm.tensor(indices, device=device), w, tm.tensor(offsets, device=device), mode=mode,
                                  per_sample_weights=p, padding_idx=3, scale_grad_by_freq=scaled)
            (out * out).sum().backward()
            assert out.device.kind == device
            results.append([out.numpy(), w.grad.numpy()] + ([p.grad.numpy()] if p is not None else []))
        for got, want in zip(*results):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches


class _Case:
    """A kernel definition on placeholders, as ``test_topi_cuda.cuda_source`` takes it."""

    def __init__(self, define, shapes, **attrs):
        self.args = [te.placeholder(shape, name=f"a{k}", dtype=dtype) for k, (shape, dtype) in enumerate(shapes)]
        outs = define(*self.args, **attrs)
        self.outs = outs if isinstance(outs, list) else [outs]


@needs_nvcc
def test_every_embedding_bag_kernel_compiles_to_ptx():
    """The kernels (forward, the host-grouped and the device-sorted backward, the
    per-sample weights' gradient), lowered with the default CUDA schedule and compiled
    by nvcc."""
    f, i, i32 = "float32", "int64", "int32"
    cases = {
        "forward_max": _Case(kernels.embedding_bag, [((7, 3), f), ((9,), i), ((4,), i)], mode="max", length=5,
                             padding_idx=1, last_offset=False),
        "forward_psw": _Case(kernels.embedding_bag, [((7, 3), f), ((9,), i), ((4,), i), ((9,), f)], mode="sum",
                             length=5, last_offset=True),
        "grad_mean": _Case(kernels.embedding_bag_grad, [((4, 3), f), ((9,), i), ((4,), i), ((4,), i32)], rows=7,
                           mode="mean", padding_idx=1),
        "grad_sorted": _Case(kernels.embedding_bag_grad_sorted, [((4, 3), f), ((9,), i32), ((9,), i32),
                                                                ((8,), i32), ((4,), i32)], mode="mean", most=3),
        "max_grad": _Case(kernels.embedding_bag_max_grad, [((4, 3), f), ((9,), i), ((5,), i), ((4, 3), i32)], rows=7,
                          padding_idx=2, last_offset=True),
        "psw_grad": _Case(kernels.per_sample_weights_grad, [((4, 3), f), ((7, 3), f), ((9,), i), ((5,), i)],
                          padding_idx=0, last_offset=True),
    }
    sources = {name: cuda_source(case, f"bag_{name}") for name, case in cases.items()}
    ptx = compile_together([source for source, _ in sources.values()], "embedding_bag_kernels")
    for _, names in sources.values():
        assert all(f".entry {name}" in ptx for name in names)


# ---------------------------------------------------------------------------- errors

def test_bad_arguments_raise_errors_as_torch():
    w = tm.zeros(5, 2)
    with pytest.raises(ShapeError, match="if input is 2D, then offsets has to be None"):
        F.embedding_bag(tm.tensor([[1, 2]]), w, tm.tensor([0]))
    with pytest.raises(ShapeError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(tm.tensor([1, 2]), w)
    with pytest.raises(ShapeError, match="input has to be 1D or 2D Tensor, but got Tensor of dimension 3"):
        F.embedding_bag(tm.tensor([[[1]]]), w)
    with pytest.raises(ShapeError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(tm.tensor([1, 2]), w, tm.tensor([1]))
    with pytest.raises(ShapeError, match="offsets\\[-1\\] can not be greater than input's length 2, but got 3"):
        F.embedding_bag(tm.tensor([1, 2]), w, tm.tensor([0, 3]))
    with pytest.raises(ShapeError, match="offsets must be non-decreasing"):
        F.embedding_bag(tm.tensor([1, 2, 3]), w, tm.tensor([0, 2, 1]))
    with pytest.raises(ShapeError, match="per_sample_weights is only supported for mode='sum' \\(got mode='max'\\)"):
        F.embedding_bag(tm.tensor([[1, 2]]), w, mode="max", per_sample_weights=tm.ones(1, 2))
    with pytest.raises(ShapeError, match="then it must have the same shape as the input"):
        F.embedding_bag(tm.tensor([[1, 2]]), w, mode="sum", per_sample_weights=tm.ones(2))
    with pytest.raises(ShapeError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(tm.tensor([[1, 2]]), w, mode="min")
    with pytest.raises(TVMiniError, match="index 5 is out of range"):
        F.embedding_bag(tm.tensor([[1, 5]]), w)
    with pytest.raises(TVMiniError, match="input must be an int32 or int64 tensor"):
        F.embedding_bag(tm.tensor([[1.0, 2.0]]), w)
    with pytest.raises(ShapeError, match="padding_idx must be within num_embeddings"):
        nn.EmbeddingBag(5, 2, padding_idx=5)
    with pytest.raises(TVMiniError, match="sparse=True asks for a sparse gradient, but tvmini has no sparse tensors"):
        F.embedding_bag(tm.tensor([[1, 2]]), w, sparse=True)
    with pytest.raises(TVMiniError, match="EmbeddingBag: sparse=True .* no sparse tensors"):
        nn.EmbeddingBag(5, 2, sparse=True)
    with pytest.raises(TVMiniError, match="max mode does not support scaling the gradient by the frequency"):
        F.embedding_bag(tm.tensor([[1, 2]]), w, mode="max", scale_grad_by_freq=True)
    with pytest.raises(TVMiniError, match="EmbeddingBag: max mode does not support scaling"):
        nn.EmbeddingBag(5, 2, mode="max", scale_grad_by_freq=True)


# ------------------------------------------------------------------- scale_grad_by_freq

@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("layout", ["2d", "offsets", "last_offset"])
def test_scale_grad_by_freq_matches_torch(mode, layout):
    rng = np.random.default_rng(3)
    weight = rng.normal(size=(5, 3))
    if layout == "2d":
        indices, offsets, last = rng.integers(0, 5, size=(3, 4)), None, False
    else:
        indices = np.array([1, 2, 1, 4, 1, 0, 2, 2, 3])
        last = layout == "last_offset"
        offsets = np.array([0, 3, 3, 5] + ([9] if last else []))      # an empty bag
    for padding_idx in (None, 1):
        _compare(weight, indices, offsets, mode, include_last_offset=last, padding_idx=padding_idx,
                 scale_grad_by_freq=True)


def test_scale_grad_by_freq_on_single_entries_and_per_sample_weights_matches_torch():
    rng = np.random.default_rng(4)
    _compare(rng.normal(size=(1, 1)), np.array([[0]]), mode="sum", scale_grad_by_freq=True)
    _compare(rng.normal(size=(4, 2)), np.array([3, 3, 0, 3, 1]), np.array([0, 2]), "sum",
             psw=rng.normal(size=5), scale_grad_by_freq=True)


def test_scale_grad_by_freq_gradients_match_finite_differences():
    """The scaled gradient times each row's count is the derivative (central differences
    in float64), and equals torch's scaled gradient."""
    index, starts = np.array([0, 2, 2, 1, 2]), np.array([0, 1, 4])
    w = np.random.default_rng(5).normal(size=(3, 2))

    def loss(array):
        return F.embedding_bag(tm.tensor(index), tm.tensor(array), tm.tensor(starts), mode="mean").pow(2).sum().item()
    numeric, eps = np.zeros_like(w), 1e-6
    for at in np.ndindex(*w.shape):
        step = np.zeros_like(w)
        step[at] = eps
        numeric[at] = (loss(w + step) - loss(w - step)) / (2 * eps)
    ow = tm.tensor(w, requires_grad=True)
    F.embedding_bag(tm.tensor(index), ow, tm.tensor(starts), mode="mean", scale_grad_by_freq=True).pow(2).sum() \
        .backward()
    counts = np.bincount(index, minlength=3)[:, None]
    np.testing.assert_allclose(ow.grad.numpy() * counts, numeric, rtol=1e-6, atol=1e-8)
    tw = torch.tensor(w, requires_grad=True)
    TF.embedding_bag(torch.tensor(index), tw, torch.tensor(starts), mode="mean",
                     scale_grad_by_freq=True).pow(2).sum().backward()
    np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), **TOL)


def test_jitted_step_with_scale_grad_by_freq_equals_eager_and_counts_each_replay():
    results = []
    offsets = tm.tensor(np.array([0, 2, 5]))
    batches = [tm.tensor(np.array(b)) for b in ([1, 1, 2, 1, 5, 0, 0], [3, 4, 4, 4, 4, 2, 1])]
    for jit in (False, True):
        tm.manual_seed(0)
        bag = nn.EmbeddingBag(6, 4, mode="sum", scale_grad_by_freq=True, dtype="float64")
        opt = tm.optim.SGD(bag.parameters(), lr=0.1)

        def step(indices):
            opt.zero_grad()
            loss = bag(indices, offsets).pow(2).sum()
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if jit else step
        losses = [float(run(b)) for b in batches + batches]          # replays see other counts
        results.append((losses, bag.weight.numpy()))
    (eager, eager_w), (jitted, jit_w) = results
    np.testing.assert_allclose(jitted, eager, rtol=1e-12)
    np.testing.assert_allclose(jit_w, eager_w, rtol=1e-12)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4)])
def test_embedding_scale_grad_by_freq_matches_torch(shape):
    rng = np.random.default_rng(len(shape) + shape[0])
    weight, index = rng.normal(size=(5, 3)), rng.integers(0, 5, size=shape)
    head = rng.normal(size=shape + (3,))
    for padding_idx in (None, int(index.flat[0])):
        ow, tw = tm.tensor(weight, requires_grad=True), torch.tensor(weight, requires_grad=True)
        (F.embedding(tm.tensor(index), ow, padding_idx, scale_grad_by_freq=True) * tm.tensor(head)).sum().backward()
        (TF.embedding(torch.tensor(index), tw, padding_idx, scale_grad_by_freq=True) * torch.tensor(head)).sum() \
            .backward()
        np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), **TOL)
        unscaled = tm.tensor(weight, requires_grad=True)
        (F.embedding(tm.tensor(index), unscaled, padding_idx) * tm.tensor(head)).sum().backward()
        counts = np.bincount(index.ravel(), minlength=5)[:, None]
        np.testing.assert_allclose(ow.grad.numpy() * counts, unscaled.grad.numpy(), **TOL)


def test_embedding_scale_grad_by_freq_in_a_jitted_step_and_on_the_emulated_gpu(emulated_gpu):
    results = []
    batches = [np.array([[1, 1, 4], [0, 1, 2]]), np.array([[3, 3, 3], [3, 0, 2]])]
    for jit in (False, True):
        tm.manual_seed(0)
        layer = nn.Embedding(5, 2, scale_grad_by_freq=True, dtype="float64")
        opt = tm.optim.SGD(layer.parameters(), lr=0.5)

        def step(index):
            opt.zero_grad()
            loss = layer(index).pow(2).sum()
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if jit else step
        losses = [float(run(tm.tensor(b))) for b in batches + batches]      # replays see other counts
        results.append((losses, layer.weight.numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12)
    weight = np.random.default_rng(8).normal(size=(4, 3)).astype("float32")
    grads = []
    for device in ("cuda", "cpu"):
        w = tm.tensor(weight, device=device, requires_grad=True)
        F.embedding(tm.tensor(np.array([2, 2, 0, 2]), device=device), w, scale_grad_by_freq=True).sum().backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
    np.testing.assert_allclose(grads[1][:, 0], [1, 0, 1, 0])
    assert emulated_gpu.launches
