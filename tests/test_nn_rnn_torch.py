"""Recurrent layers against PyTorch: a torch model's state_dict (as numpy) loads into the
tvmini layer of the same arguments, and then the outputs, the final states and the
gradients of the input, the initial states and every parameter after one backward
agree (float64 to rounding, float32 to ~1e-5)."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import nn

torch = pytest.importorskip("torch")

CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(batch_first=True, bias=False),
]

TOLERANCES = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-5)}


def _pair(name, dtype, **kwargs):
    """(torch module, tvmini module with the torch one's parameters)."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(**kwargs).to(getattr(torch, dtype))
    ours = getattr(nn, name)(**kwargs, dtype=dtype)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict())       # the same names, in the same order
    ours.load_state_dict(state)
    return theirs, ours


def _loss(lib, out, states):
    """A loss reading the output and every final state with different weights."""
    total = (out * out).sum() + out.sum()
    for k, s in enumerate(states):
        total = total + (s * (k + 2.0)).sum() + (s * s).sum()
    return total


def _compare(theirs, ours, x, states, lstm, dtype):
    tol = TOLERANCES[dtype]
    tx = torch.tensor(x, requires_grad=True)
    ox = tm.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    os_ = [tm.tensor(s, requires_grad=True) for s in states]
    if lstm:
        t_out, t_fin = theirs(tx, tuple(ts)) if ts else theirs(tx)
        o_out, o_fin = ours(ox, tuple(os_)) if os_ else ours(ox)
    else:
        t_out, t_fin = theirs(tx, *ts)
        o_out, o_fin = ours(ox, *os_)
        t_fin, o_fin = [t_fin], [o_fin]
    np.testing.assert_allclose(o_out.numpy(), t_out.detach().numpy(), **tol)
    for a, b in zip(o_fin, t_fin):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), **tol)
    _loss(torch, t_out, t_fin).backward()
    _loss(tm, o_out, o_fin).backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **tol)
    for a, b in zip(os_, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)
    params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), err_msg=name, **tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_layers_match_torch(name, config, dtype):
    rng = np.random.default_rng(len(config))
    I, H, T, B = 3, 5, 4, 2
    theirs, ours = _pair(name, dtype, input_size=I, hidden_size=H, **config)
    L, D = config.get("num_layers", 1), 2 if config.get("bidirectional") else 1
    x = rng.normal(size=(B, T, I) if config.get("batch_first") else (T, B, I)).astype(dtype)
    widths = [config.get("proj_size") or H, H][:2 if name == "LSTM" else 1]        # h_0 (projected), c_0
    states = [rng.normal(size=(L * D, B, w)).astype(dtype) for w in widths]
    _compare(theirs, ours, x, states, name == "LSTM", dtype)


PROJECTED = [dict(proj_size=2), dict(proj_size=3, num_layers=2, bidirectional=True, batch_first=True)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", PROJECTED, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_lstm_with_projections_matches_torch(config, dtype):
    test_layers_match_torch("LSTM", config, dtype)


@pytest.mark.parametrize("name, kwargs", [("LSTM", dict(num_layers=2, bidirectional=True)), ("GRU", dict()),
                                          ("RNN", dict(nonlinearity="relu", num_layers=2))])
def test_unbatched_input_and_default_states_match_torch(name, kwargs):
    rng = np.random.default_rng(7)
    theirs, ours = _pair(name, "float64", input_size=3, hidden_size=4, **kwargs)
    x = rng.normal(size=(5, 3))
    _compare(theirs, ours, x, [], name == "LSTM", "float64")
    L, D = kwargs.get("num_layers", 1), 2 if kwargs.get("bidirectional") else 1
    states = [rng.normal(size=(L * D, 4)) for _ in range(2 if name == "LSTM" else 1)]
    theirs.zero_grad()
    ours.zero_grad()
    _compare(theirs, ours, x, states, name == "LSTM", "float64")


@pytest.mark.parametrize("name, kwargs", [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}),
                                          ("RNNCell", dict(nonlinearity="relu")), ("GRUCell", dict(bias=False))])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(name, kwargs, batched):
    rng = np.random.default_rng(8)
    theirs, ours = _pair(name, "float64", input_size=3, hidden_size=4, **kwargs)
    x = rng.normal(size=(2, 3) if batched else (3,))
    states = [rng.normal(size=(2, 4) if batched else (4,)) for _ in range(2 if name == "LSTMCell" else 1)]
    tx, ox = torch.tensor(x, requires_grad=True), tm.tensor(x, requires_grad=True)
    ts, os_ = [torch.tensor(s, requires_grad=True) for s in states], [tm.tensor(s, requires_grad=True) for s in states]
    t_out = theirs(tx, tuple(ts) if name == "LSTMCell" else ts[0])
    o_out = ours(ox, tuple(os_) if name == "LSTMCell" else os_[0])
    t_out, o_out = (t_out, o_out) if name == "LSTMCell" else ((t_out,), (o_out,))
    for a, b in zip(o_out, t_out):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    _loss(torch, t_out[0], t_out[1:]).backward()
    _loss(tm, o_out[0], o_out[1:]).backward()
    for a, b in zip([ox] + os_, [tx] + ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    params = dict(ours.named_parameters())
    for pname, p in theirs.named_parameters():
        np.testing.assert_allclose(params[pname].grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=pname)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch_with_its_gradient(batch_first, padding_side):
    rng = np.random.default_rng(9)
    arrays = [rng.normal(size=(n, 2, 3)) for n in (3, 1, 4)]
    ours = [tm.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    got = nn.utils.rnn.pad_sequence(ours, batch_first=batch_first, padding_value=-1.5, padding_side=padding_side)
    want = torch.nn.utils.rnn.pad_sequence(theirs, batch_first=batch_first, padding_value=-1.5,
                                           padding_side=padding_side)
    np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
    weights = rng.normal(size=tuple(want.shape))
    (got * tm.tensor(weights)).sum().backward()
    (want * torch.tensor(weights)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())

