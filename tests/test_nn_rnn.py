"""Recurrent layers (nn.RNNCell/LSTMCell/GRUCell, nn.RNN/LSTM/GRU): against numpy
formulas written out here, float64 finite differences through time, tm.jit, the CUDA
emulator, and the errors (PyTorch comparisons: test_nn_rnn_torch.py)."""
import importlib.util
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
from tvmini import nn
from tvmini.errors import DTypeError, ShapeError, TVMiniError
from graph_gradcheck import check_grad


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _cell_numpy(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step of ``mode`` from PyTorch's documented formulas: (h', c' or None)."""
    gi = x @ w_ih.T + (0 if b_ih is None else b_ih)
    gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c), c
    if mode == "gru":
        (xr, xz, xn), (hr, hz, hn) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
        r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
        n = np.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (np.tanh(pre) if mode == "tanh" else np.maximum(pre, 0)), None


def _layers_numpy(mode, module, x, h0, c0):
    """A stacked (bidirectional, projected) layer in numpy over x (T, B, I): (out, h_n, c_n)."""
    weights = [[p.numpy() for p in group] for group in module.all_weights]
    D = 2 if module.bidirectional else 1
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            group = list(weights[k])
            w_hr = group.pop() if getattr(module, "proj_size", 0) else None
            w_ih, w_hh, b_ih, b_hh = group + [None] * (4 - len(group))
            h, c = h0[k], None if c0 is None else c0[k]
            ys = [None] * len(x)
            for t in (reversed(range(len(x))) if d else range(len(x))):
                h, c = _cell_numpy(mode, x[t], h, c, w_ih, w_hh, b_ih, b_hh)
                h = h if w_hr is None else h @ w_hr.T        # LSTM's projection
                ys[t] = h
            h_n.append(h)
            c_n.append(c)
            outs.append(np.stack(ys))
        x = np.concatenate(outs, axis=-1)
    return x, np.stack(h_n), (np.stack(c_n) if c0 is not None else None)


def _make_cell(mode, I, H, bias):
    if mode in ("tanh", "relu"):
        return nn.RNNCell(I, H, bias=bias, nonlinearity=mode, dtype="float64")
    return {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[mode](I, H, bias=bias, dtype="float64")


@settings(max_examples=16, deadline=None)
@given(mode=st.sampled_from(["tanh", "relu", "lstm", "gru"]), B=st.integers(1, 4), I=st.integers(1, 5),
       H=st.integers(1, 5), bias=st.booleans(), batched=st.booleans(), given_state=st.booleans())
def test_cells_match_numpy(mode, B, I, H, bias, batched, given_state):
    rng = np.random.default_rng(B * 31 + I * 7 + H)
    cell = _make_cell(mode, I, H, bias)
    x = rng.normal(size=(B, I) if batched else (I,))
    state_shape = (B, H) if batched else (H,)
    h = rng.normal(size=state_shape) if given_state else np.zeros(state_shape)
    c = rng.normal(size=state_shape) if given_state else np.zeros(state_shape)
    ws = [None if p is None else p.numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    want_h, want_c = _cell_numpy(mode, x, h, c, *ws)
    hx = None
    if given_state:
        hx = (tm.tensor(h), tm.tensor(c)) if mode == "lstm" else tm.tensor(h)
    got = cell(tm.tensor(x), hx)
    if mode == "lstm":
        got, got_c = got
        np.testing.assert_allclose(got_c.numpy(), want_c, rtol=1e-12, atol=1e-12)
    assert got.shape == state_shape
    np.testing.assert_allclose(got.numpy(), want_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode, kwargs, batch", [
    ("lstm", dict(num_layers=2, bidirectional=True), 3),
    ("gru", dict(num_layers=2, batch_first=True), 2),
    ("tanh", dict(bidirectional=True, bias=False), 1),
    ("relu", dict(num_layers=3), 2),
    ("lstm", dict(), None),                 # unbatched input
    ("gru", dict(bidirectional=True), None),
    ("lstm", dict(num_layers=2, bidirectional=True, proj_size=2), 2),
])
def test_layers_match_numpy(mode, kwargs, batch):
    rng = np.random.default_rng(len(kwargs))
    T, I, H = 4, 3, 5
    if mode in ("tanh", "relu"):
        module = nn.RNN(I, H, nonlinearity=mode, dtype="float64", **kwargs)
    else:
        module = {"lstm": nn.LSTM, "gru": nn.GRU}[mode](I, H, dtype="float64", **kwargs)
    D = 2 if module.bidirectional else 1
    L = module.num_layers
    B = batch or 1
    x = rng.normal(size=(T, B, I))
    h0, c0 = rng.normal(size=(L * D, B, kwargs.get("proj_size") or H)), rng.normal(size=(L * D, B, H))
    want_out, want_h, want_c = _layers_numpy(mode, module, x, h0, c0 if mode == "lstm" else None)
    if batch is None:
        inp, h0, c0 = x[:, 0], h0[:, 0], c0[:, 0]
        want_out, want_h = want_out[:, 0], want_h[:, 0]
        want_c = None if want_c is None else want_c[:, 0]
    else:
        inp = x.transpose(1, 0, 2) if module.batch_first else x
        want_out = want_out.transpose(1, 0, 2) if module.batch_first else want_out
    hx = (tm.tensor(h0), tm.tensor(c0)) if mode == "lstm" else tm.tensor(h0)
    out, h_n = module(tm.tensor(inp), hx)
    if mode == "lstm":
        h_n, c_n = h_n
        np.testing.assert_allclose(c_n.numpy(), want_c, rtol=1e-12, atol=1e-12)
    assert out.shape == want_out.shape and h_n.shape == want_h.shape
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), want_h, rtol=1e-12, atol=1e-12)


@settings(max_examples=12, deadline=None)
@given(mode=st.sampled_from(["tanh", "relu", "lstm", "gru"]), T=st.integers(1, 6), B=st.integers(1, 3),
       I=st.integers(1, 4), H=st.integers(1, 4), layers=st.integers(1, 2), bidirectional=st.booleans(),
       bias=st.booleans(), proj=st.integers(0, 3))
def test_layers_of_random_shapes_match_numpy(mode, T, B, I, H, layers, bidirectional, bias, proj):
    rng = np.random.default_rng(T * 100 + B * 10 + H)
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, bias=bias, dtype="float64")
    proj = proj if mode == "lstm" and proj < H else 0
    if mode in ("tanh", "relu"):
        module = nn.RNN(I, H, nonlinearity=mode, **kwargs)
    else:
        module = {"lstm": nn.LSTM, "gru": nn.GRU}[mode](I, H, **kwargs, **(dict(proj_size=proj) if proj else {}))
    D = 2 if bidirectional else 1
    x, h0 = rng.normal(size=(T, B, I)), rng.normal(size=(layers * D, B, proj or H))
    c0 = rng.normal(size=(layers * D, B, H))
    want_out, want_h, want_c = _layers_numpy(mode, module, x, h0, c0 if mode == "lstm" else None)
    out, h_n = module(tm.tensor(x), (tm.tensor(h0), tm.tensor(c0)) if mode == "lstm" else tm.tensor(h0))
    if mode == "lstm":
        h_n, c_n = h_n
        np.testing.assert_allclose(c_n.numpy(), want_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), want_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_long_sequences_match_numpy_and_their_gradients_reach_every_step(mode):
    """More steps than one stacking kernel joins (64): the states are joined in groups."""
    rng = np.random.default_rng(9)
    module = (nn.LSTM if mode == "lstm" else nn.GRU)(2, 3, bidirectional=True, dtype="float64")
    x = rng.normal(size=(70, 2, 2))
    out, _ = module(tm.tensor(x))
    want, _, _ = _layers_numpy(mode, module, x, np.zeros((2, 2, 3)), np.zeros((2, 2, 3)) if mode == "lstm" else None)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    inp = tm.tensor(x, requires_grad=True)
    module(inp)[0][-1].sum().backward()        # the last output reads every step (the reverse direction)
    assert np.abs(inp.grad.numpy()).min(axis=(1, 2)).min() > 0


def test_default_state_is_zeros_and_init_is_uniform_within_the_bound():
    rng = np.random.default_rng(1)
    lstm = nn.LSTM(3, 4, num_layers=2, dtype="float64")
    x = tm.tensor(rng.normal(size=(5, 2, 3)))
    zeros = tm.zeros(2, 2, 4, dtype="float64")
    out, (h, c) = lstm(x)
    out0, (h0, c0) = lstm(x, (zeros, zeros))
    for a, b in ((out, out0), (h, h0), (c, c0)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert np.abs(values).max() <= 1 / math.sqrt(4) and values.std() > 0.2
    assert [n for n, _ in lstm.named_parameters()][:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                           "bias_hh_l0"]
    assert nn.GRUCell(2, 3).weight_hh.shape == (9, 3) and nn.LSTM(2, 3, bias=False).all_weights[0][1].shape == (12, 3)


# ------------------------------------------------------------------------ gradients

@pytest.mark.parametrize("mode", ["tanh", "relu", "lstm", "gru"])
def test_cell_gradients_match_finite_differences(mode):
    rng = np.random.default_rng(2)
    B, I, H = 2, 3, 2
    cell = _make_cell(mode, I, H, True)
    x, h, c = rng.normal(size=(B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    if mode == "lstm":
        check_grad(lambda x, h, c: (lambda hc: hc[0] * 2 + hc[1])(cell(x, (h, c))), x, h, c)
    else:
        check_grad(lambda x, h: cell(x, h), x, h)
    _check_parameter_grads(cell, lambda: _total(cell(tm.tensor(x), None)))


def _total(result):
    """A scalar that reads every output of a cell or layer (tuples nested)."""
    if isinstance(result, (tuple, list)):
        return sum((_total(r) for r in result[1:]), _total(result[0]))
    return (result * result).sum() + result.sum()


def _check_parameter_grads(module, loss, eps=1e-6):
    """Every parameter's gradient against central differences of ``loss()``."""
    module.zero_grad()
    loss().backward()
    for name, p in module.named_parameters():
        view = p._data._storage.host_view()
        numeric = np.zeros(p.shape)
        for idx in np.ndindex(*p.shape):
            original = view[idx]
            view[idx] = original + eps
            plus = float(loss())
            view[idx] = original - eps
            minus = float(loss())
            view[idx] = original
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(p.grad.numpy(), numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("cls, kwargs", [(nn.LSTM, {}), (nn.GRU, dict(bidirectional=True)), (nn.RNN, {}),
                                         (nn.LSTM, dict(proj_size=1, bidirectional=True))])
def test_two_step_two_layer_gradients_through_time(cls, kwargs):
    rng = np.random.default_rng(3)
    module = cls(2, 2, num_layers=2, dtype="float64", **kwargs)
    D = 2 if kwargs.get("bidirectional") else 1
    P = kwargs.get("proj_size") or 2
    x, h0, c0 = rng.normal(size=(2, 2, 2)), rng.normal(size=(2 * D, 2, P)), rng.normal(size=(2 * D, 2, 2))
    if cls is nn.LSTM:
        check_grad(lambda x, h, c: _total(module(x, (h, c))), x, h0, c0)
    else:
        check_grad(lambda x, h: _total(module(x, h)), x, h0)
    _check_parameter_grads(module, lambda: _total(module(tm.tensor(x))))


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_frozen_parameters_still_pass_the_gradient_to_the_input(cls):
    rng = np.random.default_rng(11)
    module = cls(2, 3, num_layers=2, dtype="float64")
    x = rng.normal(size=(4, 2, 2))
    grads = []
    for frozen in (False, True):
        module.requires_grad_(not frozen)
        module.zero_grad()
        inp = tm.tensor(x, requires_grad=True)
        _total(module(inp)).backward()
        grads.append(inp.grad.numpy())
        assert all((p.grad is None) == frozen for p in module.parameters())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


# ------------------------------------------------------------------- dropout, jit, cuda

def test_dropout_between_layers_only_in_training():
    rng = np.random.default_rng(4)
    x = tm.tensor(rng.normal(size=(3, 2, 4)))
    gru = nn.GRU(4, 3, num_layers=2, dropout=1.0, dtype="float64")
    out_eval, h_eval = gru.eval()(x)
    want, want_h, _ = _layers_numpy("gru", gru, x.numpy(), np.zeros((2, 2, 3)), None)
    np.testing.assert_allclose(out_eval.numpy(), want, rtol=1e-12)
    out_train, h_train = gru.train()(x)     # p=1: layer 2 sees zeros
    np.testing.assert_allclose(h_train.numpy()[0], want_h[0], rtol=1e-12)
    second = nn.GRU(3, 3, dtype="float64")
    second.load_state_dict({k[:-1] + "0": v for k, v in gru.state_dict().items() if k.endswith("l1")})
    np.testing.assert_allclose(out_train.numpy(), second(tm.zeros(3, 2, 3, dtype="float64"))[0].numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(2, 2, dropout=0.5)


def _lstm_classifier(seed):
    tm.manual_seed(seed)
    lstm, head = nn.LSTM(3, 8, num_layers=2, batch_first=True), nn.Linear(8, 4)
    model = nn.ModuleList([lstm, head])

    def forward(x):
        out, (h, c) = lstm(x)
        return head(out[:, -1] + c[-1])
    return model, forward


def test_jitted_lstm_training_step_equals_eager():
    rng = np.random.default_rng(5)
    data = [(tm.tensor(rng.normal(size=(4, 6, 3)).astype("float32")), tm.tensor(rng.integers(0, 4, size=4)))
            for _ in range(3)]
    results = []
    for jit in (False, True):
        model, forward = _lstm_classifier(0)
        opt = tm.optim.Adam(model.parameters(), lr=1e-2)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(forward(x), y)
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if jit else step
        losses = [float(run(x, y)) for x, y in data + data]
        results.append((losses, [p.numpy() for p in model.parameters()]))
    (eager, eager_params), (jitted, jit_params) = results
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    for a, b in zip(jit_params, eager_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert eager[-1] < eager[0]


def test_the_benchmarks_chain_of_ops_lstm_computes_the_layer(monkeypatch):
    """benchmarks/rnn.py times nn.LSTM against the same LSTM as a chain of small graph
    ops per step: both must compute one thing, output and gradients."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    monkeypatch.syspath_prepend(folder)         # the script imports its neighbour common.py
    spec = importlib.util.spec_from_file_location("rnn_benchmark", os.path.join(folder, "rnn.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tm.manual_seed(2)
    lstm = nn.LSTM(3, 4)
    x = tm.tensor(np.random.default_rng(12).normal(size=(5, 2, 3)).astype("float32"))
    results = []
    for forward in (lambda x: (lambda out, fin: (out, fin[0][0]))(*lstm(x)), bench.chained_lstm(lstm)):
        lstm.zero_grad()
        out, h = forward(x)
        (out.sum() + h.sum()).backward()
        results.append([out.numpy(), h.numpy()] + [p.grad.numpy() for p in lstm.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lstm_and_gru_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 2, 4)).astype("float32")
    for cls in (nn.LSTM, nn.GRU):
        tm.manual_seed(1)
        grads = []
        for device in ("cuda", "cpu"):
            tm.manual_seed(1)
            module = cls(4, 3, bidirectional=True).to(device)
            inp = tm.tensor(x, device=device, requires_grad=True)
            out, _ = module(inp)
            (out * out).sum().backward()
            assert out.device.kind == device
            grads.append([out.numpy(), inp.grad.numpy()] + [p.grad.numpy() for p in module.parameters()])
        for got, want in zip(*grads):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches


# ------------------------------------------------------------------------------ errors

def test_bad_arguments_and_inputs_raise_errors_naming_the_layer():
    lstm = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ShapeError, match="LSTM: Expected input to be 2D or 3D, got 4D"):
        lstm(tm.zeros(1, 2, 3, 3))
    with pytest.raises(ShapeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        lstm(tm.zeros(2, 2, 5))
    with pytest.raises(ShapeError, match=r"Expected hidden size \(2, 2, 4\), got \(1, 2, 4\)"):
        lstm(tm.zeros(2, 2, 3), (tm.zeros(1, 2, 4), tm.zeros(2, 2, 4)))
    with pytest.raises(ShapeError, match="hx must be a tuple"):
        lstm(tm.zeros(2, 2, 3), tm.zeros(2, 2, 4))
    with pytest.raises(ShapeError, match="for unbatched 2-D input, h_0 should also be 2-D"):
        nn.GRU(3, 4)(tm.zeros(5, 3), tm.zeros(1, 1, 4))
    with pytest.raises(ShapeError, match="GRUCell: Expected input to be 1D or 2D, got 3D"):
        nn.GRUCell(3, 4)(tm.zeros(1, 2, 3))
    with pytest.raises(ShapeError, match="RNNCell: input has inconsistent input_size: got 2, expected 3"):
        nn.RNNCell(3, 4)(tm.zeros(5, 2))
    with pytest.raises(ShapeError, match="LSTMCell: hx must be a tuple"):
        nn.LSTMCell(3, 4)(tm.zeros(2, 3), tm.zeros(2, 4))
    with pytest.raises(ShapeError, match="LSTMCell: hx of shape \\(3, 4\\) does not fit"):
        nn.LSTMCell(3, 4)(tm.zeros(2, 3), (tm.zeros(3, 4), tm.zeros(2, 4)))
    with pytest.raises(DTypeError, match="LSTM: input must have the parameters' dtype float32, got float64"):
        lstm(tm.zeros(2, 2, 3, dtype="float64"))
    with pytest.raises(DTypeError, match="GRU: h_0 must be a Tensor, got tuple"):
        nn.GRU(3, 4)(tm.zeros(2, 2, 3), (tm.zeros(1, 2, 4),))
    with pytest.raises(DTypeError, match="LSTMCell: input must have the parameters' dtype float64, got int64"):
        nn.LSTMCell(3, 4, dtype="float64")(tm.tensor(np.zeros((2, 3), dtype="int64")))
    with pytest.raises(ShapeError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ShapeError, match=r"Expected hidden size \(1, 2, 2\), got \(1, 2, 4\) \(h_0\)"):
        nn.LSTM(3, 4, proj_size=2)(tm.zeros(5, 2, 3), (tm.zeros(1, 2, 4), tm.zeros(1, 2, 4)))
    with pytest.raises(TVMiniError, match="unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ShapeError, match="dropout should be a number in range"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ShapeError, match="hidden_size must be an integer greater than zero"):
        nn.LSTMCell(3, 0)
    with pytest.raises(ShapeError, match="needs at least one time step"):
        nn.RNN(3, 4)(tm.zeros(0, 2, 3))


def test_pad_sequence_feeds_an_lstm_and_refuses_mismatched_sequences():
    rng = np.random.default_rng(10)
    arrays = [rng.normal(size=(n, 3)) for n in (2, 4, 1)]
    got = nn.utils.rnn.pad_sequence([tm.tensor(a) for a in arrays], batch_first=True, padding_value=7.0)
    want = np.full((3, 4, 3), 7.0)
    for k, a in enumerate(arrays):
        want[k, :len(a)] = a
    np.testing.assert_array_equal(got.numpy(), want)
    left = nn.utils.rnn.pad_sequence([tm.tensor(a) for a in arrays], padding_side="left")
    np.testing.assert_array_equal(left.numpy()[:, 0], np.concatenate([np.zeros((2, 3)), arrays[0]]))
    seqs = [tm.ones(n, 3) for n in (2, 5)]
    out, (h, c) = nn.LSTM(3, 4)(nn.utils.rnn.pad_sequence(seqs))
    assert out.shape == (5, 2, 4) and h.shape == c.shape == (1, 2, 4)
    with pytest.raises(ShapeError, match="pad_sequence: every sequence must be \\(L, \\*\\)"):
        nn.utils.rnn.pad_sequence([tm.ones(2, 3), tm.ones(2, 4)])
    with pytest.raises(ShapeError, match="padding_side must be 'left' or 'right'"):
        nn.utils.rnn.pad_sequence(seqs, padding_side="middle")
    with pytest.raises(ShapeError, match="needs a non-empty sequence"):
        nn.utils.rnn.pad_sequence([])
