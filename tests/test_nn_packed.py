"""Packed sequences (``tm.nn.utils.rnn``) against PyTorch: the packing functions (the
layout of ``data``, ``batch_sizes`` and the indices, and their gradients), the recurrent
layers on a packed batch (outputs, ``h_n``/``c_n`` and every gradient in float64), finite
differences, a ``tm.jit`` training step, the CUDA emulator and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import nn, te
from tvmini.topi import rnn as kernels
from tvmini.errors import DeviceError, ShapeError, TVMiniError
from tvmini.nn.utils import rnn

from graph_gradcheck import check_grad
from strategies import examples
from test_cuda import needs_nvcc
from test_topi_cuda import compile_together, cuda_source

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn

TOL = dict(rtol=1e-10, atol=1e-12)


def _pair(x):
    """(torch leaf, tvmini leaf) of the float64 array ``x``."""
    return torch.tensor(x, requires_grad=True), tm.tensor(x, requires_grad=True)


def _same_packed(ours, theirs):
    np.testing.assert_allclose(ours.data.numpy(), theirs.data.detach().numpy(), **TOL)
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    assert ours.batch_sizes.dtype == "int64" and ours.batch_sizes.device.kind == "cpu"
    for a, b in ((ours.sorted_indices, theirs.sorted_indices), (ours.unsorted_indices, theirs.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# -------------------------------------------------------------------------- packing

@examples(8)
@given(st.data())
def test_pack_and_pad_match_torch_with_gradients(data):
    B = data.draw(st.integers(1, 4), "B")
    lengths = data.draw(st.lists(st.integers(1, 4), min_size=B, max_size=B), "lengths")
    T = max(lengths) + data.draw(st.integers(0, 1), "extra steps")
    batch_first = data.draw(st.booleans(), "batch_first")
    sort = data.draw(st.booleans(), "enforce_sorted")
    trailing = data.draw(st.sampled_from([(), (3,), (2, 1)]), "trailing")
    if sort:
        lengths = sorted(lengths, reverse=True)
    x = np.random.default_rng(B * 7 + T).normal(size=((B, T) if batch_first else (T, B)) + trailing)
    tx, ox = _pair(x)
    theirs = trnn.pack_padded_sequence(tx, lengths, batch_first=batch_first, enforce_sorted=sort)
    ours = rnn.pack_padded_sequence(ox, tm.tensor(lengths), batch_first=batch_first, enforce_sorted=sort)
    _same_packed(ours, theirs)
    total = data.draw(st.sampled_from([None, T + 1]), "total_length")
    t_pad, t_len = trnn.pad_packed_sequence(theirs, batch_first, padding_value=-2.0, total_length=total)
    o_pad, o_len = rnn.pad_packed_sequence(ours, batch_first, padding_value=-2.0, total_length=total)
    np.testing.assert_array_equal(o_pad.numpy(), t_pad.detach().numpy())
    np.testing.assert_array_equal(o_len.numpy(), t_len.numpy())
    head = np.random.default_rng(1).normal(size=t_pad.shape)
    (t_pad * torch.tensor(head)).sum().backward()
    (o_pad * tm.tensor(head)).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **TOL)


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_unpack_and_unpad_match_torch(enforce_sorted):
    rng = np.random.default_rng(2)
    sizes = (4, 2, 2, 1) if enforce_sorted else (2, 4, 1, 2)        # ties keep their order
    arrays = [rng.normal(size=(n, 3)) for n in sizes]
    pairs = [_pair(a) for a in arrays]
    theirs = trnn.pack_sequence([t for t, _ in pairs], enforce_sorted=enforce_sorted)
    ours = rnn.pack_sequence([o for _, o in pairs], enforce_sorted=enforce_sorted)
    _same_packed(ours, theirs)
    for got, want in zip(rnn.unpack_sequence(ours), trnn.unpack_sequence(theirs)):
        np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
    head = rng.normal(size=theirs.data.shape)
    (theirs.data * torch.tensor(head)).sum().backward()
    (ours.data * tm.tensor(head)).sum().backward()
    for t, o in pairs:
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), **TOL)
    padded = rng.normal(size=(3, 4, 2))
    for got, want in zip(rnn.unpad_sequence(tm.tensor(padded), tm.tensor([3, 1, 2, 3]), batch_first=False),
                         trnn.unpad_sequence(torch.tensor(padded), torch.tensor([3, 1, 2, 3]))):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_packing_gradients_match_finite_differences():
    x = np.random.default_rng(3).normal(size=(3, 2, 2))

    def pack_then_pad(x):
        packed = rnn.pack_padded_sequence(x, [2, 3], enforce_sorted=False)
        return rnn.pad_packed_sequence(packed, batch_first=True, padding_value=5.0)[0] * packed.data.sum()
    check_grad(pack_then_pad, x)


# ----------------------------------------------------------------- recurrent layers

CONFIGS = [dict(), dict(bidirectional=True), dict(num_layers=2, bidirectional=True, batch_first=True)]


def _layers(name, **kwargs):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(**kwargs).double()
    ours = getattr(nn, name)(**kwargs, dtype="float64")
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


@pytest.mark.parametrize("name, config", [(name, config) for name in ("LSTM", "GRU", "RNN") for config in CONFIGS] +
                         [("LSTM", dict(proj_size=2, bidirectional=True, num_layers=2))],
                         ids=lambda c: c if isinstance(c, str) else ",".join(c) or "plain")
def test_layers_on_packed_batches_match_torch(name, config):
    """Unsorted lengths (one sequence as long as the batch, one of a single step), given
    initial states: the packed output, the final states at each sequence's own last step
    and every gradient (input, initial states, parameters) as PyTorch's."""
    rng = np.random.default_rng(4)
    I, H, T, B = 3, 4, 4, 3
    lengths = [2, 4, 1]
    theirs, ours = _layers(name, input_size=I, hidden_size=H, **config)
    D = 2 if config.get("bidirectional") else 1
    L = config.get("num_layers", 1)
    x = rng.normal(size=(T, B, I))
    widths = [config.get("proj_size") or H, H][:2 if name == "LSTM" else 1]         # h_0 (projected), c_0
    states = [_pair(rng.normal(size=(L * D, B, w))) for w in widths]
    tx, ox = _pair(x)
    t_in = trnn.pack_padded_sequence(tx, lengths, enforce_sorted=False)
    o_in = rnn.pack_padded_sequence(ox, lengths, enforce_sorted=False)
    hx = [[s[k] for s in states] for k in range(2)]
    t_out, t_fin = theirs(t_in, tuple(hx[0]) if name == "LSTM" else hx[0][0])
    o_out, o_fin = ours(o_in, tuple(hx[1]) if name == "LSTM" else hx[1][0])
    assert isinstance(o_out, rnn.PackedSequence)
    _same_packed(o_out, t_out)
    t_fin, o_fin = (t_fin, o_fin) if name == "LSTM" else ((t_fin,), (o_fin,))
    for a, b in zip(o_fin, t_fin):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), **TOL)
    head = rng.normal(size=t_out.data.shape)
    for lib, out, fin in ((torch, t_out, t_fin), (tm, o_out, o_fin)):
        loss = (out.data * lib.tensor(head)).sum()
        for k, s in enumerate(fin):
            loss = loss + ((s * (k + 2.0)) ** 2).sum()
        loss.backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **TOL)
    for t, o in states:
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), **TOL)
    params = dict(ours.named_parameters())
    for key, p in theirs.named_parameters():
        np.testing.assert_allclose(params[key].grad.numpy(), p.grad.numpy(), err_msg=key, **TOL)


def test_packed_batch_equals_each_sequence_run_alone():
    """The state frozen past a sequence's end: a sorted packed batch without initial
    states gives, per sequence, what the layer gives on that sequence alone."""
    rng = np.random.default_rng(5)
    gru = nn.GRU(2, 3, bidirectional=True, dtype="float64")
    arrays = [rng.normal(size=(n, 2)) for n in (3, 3, 1)]
    out, h_n = gru(rnn.pack_sequence([tm.tensor(a) for a in arrays]))
    for b, (got, a) in enumerate(zip(rnn.unpack_sequence(out), arrays)):
        alone, h_alone = gru(tm.tensor(a))
        np.testing.assert_allclose(got.numpy(), alone.numpy(), rtol=1e-12)
        np.testing.assert_allclose(h_n[:, b].numpy(), h_alone.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["LSTM", "RNN"])
def test_packed_layer_gradients_match_finite_differences(name):
    rng = np.random.default_rng(6)
    layer = getattr(nn, name)(2, 2, bidirectional=True, dtype="float64")
    x, h0 = rng.normal(size=(3, 2, 2)), rng.normal(size=(2, 2, 2))

    def run(x, h0):
        packed = rnn.pack_padded_sequence(x, [1, 3], enforce_sorted=False)
        out, fin = layer(packed, (h0, h0 * 0.5) if name == "LSTM" else h0)
        last = fin[0] + fin[1] if name == "LSTM" else fin
        return tm.cat([out.data.reshape(-1), last.reshape(-1)])
    check_grad(run, x, h0, rtol=1e-5, atol=1e-8)


def _packed_classifier(seed):
    tm.manual_seed(seed)
    lstm, head = nn.LSTM(3, 5, bidirectional=True), nn.Linear(10, 2)
    return nn.ModuleList([lstm, head]), lstm, head


def test_jitted_packed_lstm_training_step_equals_eager():
    rng = np.random.default_rng(7)
    batches = [(tm.tensor(rng.normal(size=(4, 3, 3)).astype("float32")), tm.tensor(rng.integers(0, 2, size=3)))
               for _ in range(2)]
    results = []
    for jit in (False, True):
        model, lstm, head = _packed_classifier(0)
        opt = tm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            _, (h, _) = lstm(rnn.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False))
            loss = nn.functional.cross_entropy(head(tm.cat([h[0], h[1]], 1)), y)
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if jit else step
        losses = [float(run(x, y)) for x, y in batches + batches]
        results.append((losses, [p.numpy() for p in model.parameters()]))
    (eager, eager_params), (jitted, jit_params) = results
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    for a, b in zip(jit_params, eager_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_jitted_forward_traces_again_for_other_lengths():
    """Lengths passed as a CPU tensor guard the jitted step: other lengths (other
    row gathers and masks) trace another variant instead of replaying the first."""
    tm.manual_seed(2)
    gru = nn.GRU(2, 3, bidirectional=True)

    def forward(x, lengths):
        out, h = gru(rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))
        return rnn.pad_packed_sequence(out, batch_first=True)[0].sum(1), h
    jitted = tm.jit(forward)
    x = tm.tensor(np.random.default_rng(9).normal(size=(4, 3, 2)).astype("float32"))
    for lengths in ([2, 4, 1], [4, 4, 4], [2, 4, 1], [1, 1, 3]):
        for got, want in zip(jitted(x, tm.tensor(lengths)), forward(x, tm.tensor(lengths))):
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_packed_lstm_on_the_emulated_gpu(emulated_gpu):
    """The masked LSTM kernels, forward and backward, and the row gathers on CUDA (the
    GRU's and RNN's masked kernels share their structure; each emulated kernel costs a
    g++ build, so one layer type keeps the test fast)."""
    x = np.random.default_rng(8).normal(size=(3, 2, 2)).astype("float32")
    results = []
    for device in ("cuda", "cpu"):
        tm.manual_seed(1)
        module = nn.LSTM(2, 3, bidirectional=True).to(device)
        inp = tm.tensor(x, device=device, requires_grad=True)
        out, (h_n, _) = module(rnn.pack_padded_sequence(inp, [3, 1]))
        ((out.data * out.data).sum() + h_n.sum()).backward()
        assert out.data.device.kind == device
        results.append([out.data.numpy(), h_n.numpy(), inp.grad.numpy()] +
                       [p.grad.numpy() for p in module.parameters()])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches
    moved = rnn.pack_padded_sequence(tm.tensor(x), [1, 3], enforce_sorted=False).to("cuda")
    assert moved.is_cuda and moved.sorted_indices.device.kind == "cuda" and moved.batch_sizes.device.kind == "cpu"
    assert not moved.cpu().is_cuda
    with pytest.raises(DeviceError, match="'lengths' argument should be a 1D CPU int64 tensor"):
        rnn.pack_padded_sequence(tm.zeros(2, 1, 1), tm.tensor([2], device="cuda"))


class _Case:
    """A step kernel on placeholders and the step scalar ``t``, as
    ``test_topi_cuda.cuda_source`` takes it."""

    def __init__(self, define, shapes, step=True, **attrs):
        self.args = [te.placeholder(shape, name=f"a{k}", dtype=dtype) for k, (shape, dtype) in enumerate(shapes)]
        scalars = [te.var("t")] if step else []
        outs = define(*self.args, *scalars, **attrs)
        self.args += scalars
        self.outs = outs if isinstance(outs, list) else [outs]


@needs_nvcc
def test_every_masked_step_kernel_compiles_to_ptx():
    """The masked kernels the emulator does not run here (RNN's, GRU's, the projection's),
    lowered with the default CUDA schedule and compiled by nvcc."""
    B, H, T, f, i = 2, 3, 4, "float32", "int32"
    seq, state, lens = ((T * B, 4 * H), f), ((B, H), f), ((B,), i)
    gates3, gates4 = ((B, 3 * H), f), ((B, 4 * H), f)
    cases = {
        "rnn": _Case(kernels.rnn_step_masked, [((T * B, H), f), state, state, lens], nonlinearity="relu"),
        "rnn_grad": _Case(kernels.rnn_step_grad_masked, [((T * B, H), f), state, state, state, lens]),
        "lstm": _Case(kernels.lstm_step_masked, [seq, gates4, state, state, lens]),
        "lstm_grad": _Case(kernels.lstm_step_grad_masked, [state, state, state, state, gates4, state, state, lens],
                           own_rows=True),
        "gru": _Case(kernels.gru_step_masked, [((T * B, 3 * H), f), gates3, state, lens]),
        "gru_grad": _Case(kernels.gru_step_grad_masked, [((T * B, H), f), state, state, gates3, gates3, state, lens]),
        "keep": _Case(kernels.keep_rows, [state, state, lens]),
        "split": _Case(kernels.split_rows, [((T * B, H), f), state, state, lens]),
        "take_rows": _Case(kernels.take_rows, [((5, 3), f), ((7,), i)], step=False, fill=-1.0),
    }
    sources = {name: cuda_source(case, f"packed_{name}") for name, case in cases.items()}
    ptx = compile_together([source for source, _ in sources.values()], "packed_kernels")
    for _, names in sources.values():
        assert all(f".entry {name}" in ptx for name in names)


# ------------------------------------------------------------------------------ errors

def test_bad_packing_arguments_raise_errors_as_torch():
    x = tm.zeros(3, 2, 1)
    with pytest.raises(ShapeError, match="must be sorted in decreasing order when `enforce_sorted` is True"):
        rnn.pack_padded_sequence(x, [1, 3])
    with pytest.raises(ShapeError, match="Length of all samples has to be greater than 0"):
        rnn.pack_padded_sequence(x, [3, 0])
    with pytest.raises(ShapeError, match=r"Expected `len\(lengths\)` to be equal to batch_size, but got 3"):
        rnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ShapeError, match="exceed the 3 steps"):
        rnn.pack_padded_sequence(x, [4, 2])
    with pytest.raises(ShapeError, match="should be a 1D CPU int64 tensor, but got 2D"):
        rnn.pack_padded_sequence(x, [[3, 2]])
    with pytest.raises(TVMiniError, match="'lengths' must hold numbers"):
        rnn.pack_padded_sequence(x, ["3", "2"])
    packed = rnn.pack_padded_sequence(x, tm.tensor([3.0, 2.0]))        # as torch: float lengths convert
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), [2, 2, 1])
    with pytest.raises(ShapeError, match="Expected total_length to be at least the length of the longest"):
        rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(TVMiniError, match="expects a PackedSequence"):
        rnn.pad_packed_sequence(x)
    with pytest.raises(ShapeError, match="do not describe a packed batch"):
        rnn.pad_packed_sequence(rnn.PackedSequence(packed.data, tm.tensor([1, 2, 2])))
    with pytest.raises(ShapeError, match=r"GRU: the packed data must be \(steps, input_size=2\)"):
        nn.GRU(2, 3)(packed)
    with pytest.raises(ShapeError, match=r"GRU: Expected hidden size \(1, 2, 3\), got \(1, 3, 3\)"):
        nn.GRU(1, 3)(packed, tm.zeros(1, 3, 3))
