"""nn.MultiheadAttention and the transformer layers against PyTorch: a torch module's state
dict copied into tvmini's, then outputs, attention weights and the gradients of every
input and parameter compared (float64, eval mode so dropout is off); input gradients
against finite differences too; parameter names, default init, masks and errors."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
from tvmini import nn
from tvmini.errors import ArgumentError, DTypeError, ShapeError
from graph_gradcheck import check_grad

torch = pytest.importorskip("torch")
RNG = np.random.default_rng(0)


def _copy(theirs, ours):
    """tvmini module ``ours`` with ``theirs``' state dict (same keys, same shapes)."""
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict({k: v.detach().numpy() for k, v in state.items()})
    return ours


def _compare(theirs, ours, inputs, call, rtol=1e-9, atol=1e-10):
    """Run ``call(module, *inputs)`` on both (inputs: numpy arrays, float ones need a
    gradient, masks are passed as they are), backpropagate the same head gradient through
    every float output, and compare outputs and all gradients."""
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in inputs]
    o_in = [tm.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # torch warns about mixed bool/float masks and its fast path
        t_out = call(theirs, *t_in)
    o_out = call(ours, *o_in)
    t_out = t_out if isinstance(t_out, tuple) else (t_out,)
    o_out = o_out if isinstance(o_out, tuple) else (o_out,)
    total_t, total_o = 0, 0
    for t, o in zip(t_out, o_out):
        assert (t is None) == (o is None)
        if t is None:
            continue
        assert o.shape == tuple(t.shape)
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        head = RNG.uniform(0.5, 1.5, size=o.shape)
        total_t = total_t + (t * torch.tensor(head)).sum()
        total_o = total_o + (o * tm.tensor(head)).sum()
    total_t.backward()
    total_o.backward()
    for (name, tp), (oname, op) in zip(theirs.named_parameters(), ours.named_parameters()):
        assert name == oname
        np.testing.assert_allclose(op.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)
    for k, (t, o) in enumerate(zip(t_in, o_in)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {k}")


def _wrap(module):
    """The tensor constructor of ``module``'s library (masks go in as its tensors)."""
    return torch.tensor if isinstance(module, torch.nn.Module) else tm.tensor


def _mha_pair(*args, **kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(*args, **kwargs).double().eval()
    return theirs, _copy(theirs, nn.MultiheadAttention(*args, dtype="float64", **kwargs).eval())


def _mha_call(**options):
    def call(module, q, k, v, *masks):
        names = [n for n in ("key_padding_mask", "attn_mask") if n in options]
        extra = {n: _wrap(module)(options[n]) for n in names}
        rest = {n: val for n, val in options.items() if n not in names}
        return module(q, k, v, **extra, **rest)
    return call


E, H, L, S, N = 8, 2, 3, 4, 2
PAD = np.array([[False, False, True, False], [False, False, False, True]])
CAUSAL_BOOL = ~np.tril(np.ones((L, S), bool))


@pytest.mark.parametrize("case", [
    dict(module={}, options={}),
    dict(module=dict(batch_first=True), options=dict(key_padding_mask=PAD,
                                                     attn_mask=RNG.standard_normal((L, S)))),
    dict(module=dict(kdim=6, vdim=5), options=dict(attn_mask=RNG.random((N * H, L, S)) < 0.3,
                                                   average_attn_weights=False)),
    dict(module=dict(bias=False), options=dict(need_weights=False, attn_mask=CAUSAL_BOOL,
                                               key_padding_mask=np.where(PAD, -1e9, 0.0))),
    dict(module={}, options=dict(need_weights=False, attn_mask=CAUSAL_BOOL, is_causal=True)),
    dict(module=dict(num_heads=4), options=dict(key_padding_mask=PAD, average_attn_weights=False)),
], ids=["plain", "batch_first_masks", "kdim_vdim_3d_mask", "no_weights_no_bias", "causal_hint", "four_heads"])
def test_multihead_attention_matches_pytorch(case):
    module, options = dict(case["module"]), dict(case["options"])
    heads = module.pop("num_heads", H)
    theirs, ours = _mha_pair(E, heads, **module)
    kdim, vdim = module.get("kdim", E), module.get("vdim", E)

    def shape(length, features):
        return (N, length, features) if module.get("batch_first") else (length, N, features)
    mask = options.get("attn_mask")
    if mask is not None and mask.ndim == 3:
        options["attn_mask"] = np.resize(mask, (N * heads, L, S))
    q, k, v = (RNG.standard_normal(shape(*dims)) for dims in ((L, E), (S, kdim), (S, vdim)))
    _compare(theirs, ours, [q, k, v], _mha_call(**options))


@settings(max_examples=8, deadline=None)
@given(length=st.integers(1, 4), source=st.integers(1, 5), batch=st.integers(1, 3), heads=st.sampled_from([1, 3]),
       batch_first=st.booleans(), need_weights=st.booleans())
def test_multihead_attention_random_shapes_match_pytorch(length, source, batch, heads, batch_first, need_weights):
    theirs, ours = _mha_pair(6, heads, batch_first=batch_first, kdim=5)
    order = (lambda *d: d) if batch_first else (lambda n, t, e: (t, n, e))
    pad = RNG.random((batch, source)) < 0.3
    pad[:, 0] = False                                   # every query sees a key
    q, k, v = (RNG.standard_normal(order(batch, t, e)) for t, e in ((length, 6), (source, 5), (source, 6)))
    _compare(theirs, ours, [q, k, v], _mha_call(key_padding_mask=pad, need_weights=need_weights))


def test_multihead_attention_unbatched_matches_pytorch():
    theirs, ours = _mha_pair(E, H)
    q, k, v = RNG.standard_normal((L, E)), RNG.standard_normal((S, E)), RNG.standard_normal((S, E))
    _compare(theirs, ours, [q, k, v], _mha_call(key_padding_mask=PAD[0], attn_mask=CAUSAL_BOOL))
    _compare(theirs, ours, [q, k, v], _mha_call(average_attn_weights=False))


def test_multihead_attention_weights_by_formula():
    """Weights = softmax(q k^T / sqrt(d)) per head from the projections written in numpy."""
    mha = nn.MultiheadAttention(E, H, dtype="float64", batch_first=True)
    q, k = RNG.standard_normal((1, L, E)), RNG.standard_normal((1, S, E))
    w, b = mha.in_proj_weight.numpy(), mha.in_proj_bias.numpy()
    qp, kp = (q @ w[:E].T + b[:E])[0], (k @ w[E:2 * E].T + b[E:2 * E])[0]
    want = []
    for h in range(H):
        cols = slice(h * E // H, (h + 1) * E // H)
        scores = qp[:, cols] @ kp[:, cols].T / np.sqrt(E // H)
        e = np.exp(scores - scores.max(-1, keepdims=True))
        want.append(e / e.sum(-1, keepdims=True))
    _, got = mha(tm.tensor(q), tm.tensor(k), tm.tensor(k), average_attn_weights=False)
    np.testing.assert_allclose(got.numpy()[0], np.stack(want), rtol=1e-10)


def test_multihead_attention_input_gradients_by_finite_differences():
    mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=2, dtype="float64").eval()
    mask = tm.tensor(np.array([[False, True, False]]))
    check_grad(lambda q, k, v: mha(q, k, v, key_padding_mask=mask)[0], RNG.standard_normal((2, 1, 4)),
               RNG.standard_normal((3, 1, 3)), RNG.standard_normal((3, 1, 2)))
    check_grad(lambda q: mha(q, q[:, :, :3], q[:, :, :2], need_weights=False)[0], RNG.standard_normal((3, 1, 4)))


def test_multihead_attention_parameters_and_init():
    mha = nn.MultiheadAttention(16, 4)
    assert [n for n, _ in mha.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                      "out_proj.bias"]
    bound = np.sqrt(6.0 / (16 + 48))
    w = mha.in_proj_weight.numpy()
    assert w.shape == (48, 16) and np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert not mha.in_proj_bias.numpy().any() and not mha.out_proj.bias.numpy().any()
    separate = nn.MultiheadAttention(16, 4, kdim=8, vdim=4, bias=False)
    assert {n: p.shape for n, p in separate.named_parameters()} == {
        "q_proj_weight": (16, 16), "k_proj_weight": (16, 8), "v_proj_weight": (16, 4), "out_proj.weight": (16, 16)}
    assert separate.in_proj_weight is None and separate.in_proj_bias is None
    ref = torch.nn.MultiheadAttention(16, 4, kdim=8, vdim=4, bias=False)
    assert list(ref.state_dict()) == list(separate.state_dict())


def test_multihead_attention_dropout_only_in_training():
    mha = nn.MultiheadAttention(E, H, dropout=0.5, dtype="float64")
    q = tm.tensor(RNG.standard_normal((L, N, E)))
    mha.eval()
    first, second = mha(q, q, q)[1].numpy(), mha(q, q, q)[1].numpy()
    np.testing.assert_array_equal(first, second)
    mha.train()
    _, w = mha(q, q, q, average_attn_weights=False)
    kept = w.numpy() != 0
    assert 0 < kept.mean() < 1            # some weights dropped, the kept ones scaled by 2
    np.testing.assert_allclose(w.numpy()[kept], 2 * mha.eval()(q, q, q, average_attn_weights=False)[1].numpy()[kept])


def test_multihead_attention_errors():
    with pytest.raises(ShapeError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ArgumentError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)
    mha = nn.MultiheadAttention(8, 2)
    x = tm.randn(3, 2, 8)
    with pytest.raises(ShapeError, match=r"features, got shapes \(3, 2, 6\)"):
        mha(tm.randn(3, 2, 6), x, x)
    with pytest.raises(ShapeError, match="all 3-D"):
        mha(x, x[0], x)
    with pytest.raises(ShapeError, match=r"attn_mask must be \(3, 3\)"):
        mha(x, x, x, attn_mask=tm.zeros(3, 4))
    with pytest.raises(ShapeError, match="key_padding_mask must be"):
        mha(x, x, x, key_padding_mask=tm.zeros(3, 2))
    with pytest.raises(DTypeError, match="attn_mask must be bool or float"):
        mha(x, x, x, attn_mask=tm.tensor(np.zeros((3, 3), "int64")))
    with pytest.raises(ArgumentError, match="is_causal"):
        mha(x, x, x, is_causal=True)


# ------------------------------------------------------------------------------ layers

D, FF = 8, 16


def _layer_pair(cls, **kwargs):
    """(torch layer, tvmini layer with its weights); a callable activation is torch's
    function on the torch side and tvmini's of the same name on the other."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, cls)(D, H, FF, **kwargs).double().eval()
    if callable(kwargs.get("activation")):
        kwargs["activation"] = getattr(tm.nn.functional, kwargs["activation"].__name__)
    ours = _copy(theirs, getattr(nn, cls)(D, H, FF, dtype="float64", **kwargs).eval())
    return theirs, ours


@pytest.mark.parametrize("kwargs", [{}, dict(norm_first=True, activation="gelu"), dict(batch_first=True, bias=False),
                                    dict(activation=torch.nn.functional.silu)], ids=["post", "pre_gelu", "bf_nobias",
                                                                                    "callable"])
def test_encoder_layer_matches_pytorch(kwargs):
    theirs, ours = _layer_pair("TransformerEncoderLayer", **kwargs)
    src = RNG.standard_normal((N, S, D) if kwargs.get("batch_first") else (S, N, D))
    mask = np.triu(np.full((S, S), -np.inf), 1)
    _compare(theirs, ours, [src], lambda m, x: m(x, src_mask=_wrap(m)(mask), src_key_padding_mask=_wrap(m)(PAD)))


@pytest.mark.parametrize("kwargs", [{}, dict(norm_first=True, batch_first=True)], ids=["post", "pre_bf"])
def test_decoder_layer_matches_pytorch(kwargs):
    theirs, ours = _layer_pair("TransformerDecoderLayer", **kwargs)
    bf = kwargs.get("batch_first")
    tgt = RNG.standard_normal((N, L, D) if bf else (L, N, D))
    memory = RNG.standard_normal((N, S, D) if bf else (S, N, D))
    causal = np.triu(np.ones((L, L), bool), 1)

    def call(m, t, mem):
        wrap = _wrap(m)
        return m(t, mem, tgt_mask=wrap(causal), memory_key_padding_mask=wrap(PAD), tgt_is_causal=True)
    _compare(theirs, ours, [tgt, memory], call)


def test_unbatched_layers_and_module_activation_match_pytorch():
    theirs, ours = _layer_pair("TransformerEncoderLayer", norm_first=True)
    _compare(theirs, ours, [RNG.standard_normal((S, D))], lambda m, x: m(x, src_key_padding_mask=_wrap(m)(PAD[0])))
    torch.manual_seed(0)
    theirs = torch.nn.TransformerDecoderLayer(D, H, FF, activation=torch.nn.GELU()).double().eval()
    ours = _copy(theirs, nn.TransformerDecoderLayer(D, H, FF, activation=nn.GELU(), dtype="float64").eval())
    _compare(theirs, ours, [RNG.standard_normal((L, D)), RNG.standard_normal((S, D))], lambda m, t, mem: m(t, mem))


def test_transformer_matches_pytorch_and_generates_the_causal_mask():
    torch.manual_seed(0)
    kwargs = dict(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=FF)
    theirs = torch.nn.Transformer(**kwargs).double().eval()
    ours = _copy(theirs, nn.Transformer(dtype="float64", **kwargs).eval())
    mask = nn.Transformer.generate_square_subsequent_mask(L)
    np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(L).numpy())
    assert mask.dtype == "float32"

    def call(m, src, tgt):
        wrap = _wrap(m)
        return m(src, tgt, tgt_mask=wrap(mask.numpy().astype("float64")), src_key_padding_mask=wrap(PAD),
                 memory_key_padding_mask=wrap(PAD))
    _compare(theirs, ours, [RNG.standard_normal((S, N, D)), RNG.standard_normal((L, N, D))], call)


def test_stacks_copy_their_layer_and_apply_the_norm():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D, H, FF, batch_first=True)
    theirs = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(D), enable_nested_tensor=False)
    theirs = theirs.double().eval()
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, batch_first=True, dtype="float64"), 2,
                                 norm=nn.LayerNorm(D, dtype="float64"))
    _copy(theirs, ours.eval())
    assert ours.layers[0].linear1.weight is not ours.layers[1].linear1.weight
    _compare(theirs, ours, [RNG.standard_normal((N, S, D))],
             lambda m, x: m(x, src_key_padding_mask=_wrap(m)(PAD)))
    decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, FF), 3)
    assert len(decoder.layers) == 3 and decoder.norm is None


def test_transformer_init_and_names():
    model = nn.Transformer(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF)
    ref = torch.nn.Transformer(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF)
    assert list(model.state_dict()) == list(ref.state_dict())
    w = model.encoder.layers[0].linear1.weight.numpy()            # re-drawn Glorot-uniform, not Linear's default
    bound = np.sqrt(6.0 / (D + FF))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_transformer_errors_and_training_mode_runs():
    model = nn.Transformer(d_model=D, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=FF)
    with pytest.raises(ShapeError, match="same batch size"):
        model(tm.randn(S, 2, D), tm.randn(L, 3, D))
    with pytest.raises(ShapeError, match="d_model=8"):
        model(tm.randn(S, 2, 6), tm.randn(L, 2, 6))
    with pytest.raises(ArgumentError, match="activation"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    out = model(tm.randn(S, N, D), tm.randn(L, N, D))      # training: dropout on, gradients flow
    out.sum().backward()
    assert out.shape == (L, N, D) and model.encoder.layers[0].self_attn.in_proj_weight.grad is not None


def test_fully_masked_query_matches_pytorch():
    """A query whose attn_mask row excludes every key: NaN with the weights (PyTorch's
    softmax of -inf everywhere), zeros through scaled_dot_product_attention without."""
    theirs, ours = _mha_pair(E, H)
    q = RNG.standard_normal((2, 1, E))
    mask = np.array([[True, True], [False, True]])
    for need_weights in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = theirs(*(torch.tensor(q),) * 3, attn_mask=torch.tensor(mask), need_weights=need_weights)[0]
        got = ours(*(tm.tensor(q),) * 3, attn_mask=tm.tensor(mask), need_weights=need_weights)[0]
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-14)
        assert np.isnan(got.numpy()[0]).all() == need_weights


def _encoder_trainer():
    tm.manual_seed(3)
    model = nn.Sequential(nn.TransformerEncoderLayer(D, H, FF, dropout=0.2, batch_first=True), nn.Flatten(),
                          nn.Linear(S * D, 3))
    # SGD: the key bias's gradient is zero up to rounding (softmax ignores a per-row
    # shift), which Adam would blow up to full steps of either sign
    opt = tm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mask = nn.Transformer.generate_square_subsequent_mask(S)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model[2](model[1](model[0](x, src_mask=mask, is_causal=True))), y)
        loss.backward()
        opt.step()
        return loss
    return model, step


def test_jit_training_step_equals_eager():
    """A traced training step of an encoder layer (dropout on, causal mask) replays the
    eager losses and parameters."""
    eager_model, eager_step = _encoder_trainer()
    jit_model, step = _encoder_trainer()
    jitted = tm.jit(step)
    for k in range(3):
        x = tm.tensor(RNG.standard_normal((N, S, D)).astype("float32"))
        y = tm.tensor(RNG.integers(0, 3, N))
        tm.manual_seed(10 + k)
        want = eager_step(x, y).item()
        tm.manual_seed(10 + k)
        assert jitted(x, y).item() == pytest.approx(want, rel=1e-5)
    for (name, p), (_, q) in zip(eager_model.named_parameters(), jit_model.named_parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_multihead_attention_on_the_emulated_gpu(emulated_gpu):
    """Forward, weights and gradients on the emulated GPU agree with the CPU's."""
    mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=3)
    q, kv = RNG.standard_normal((3, 1, 4)).astype("float32"), RNG.standard_normal((2, 1, 3)).astype("float32")
    mask = np.array([[False, True]])
    results = []
    for device in ("cuda", "cpu"):
        mha.to(device)
        mha.zero_grad()
        query = tm.tensor(q, device=device, requires_grad=True)
        out, weights = mha(query, tm.tensor(kv, device=device), tm.tensor(kv, device=device),
                           key_padding_mask=tm.tensor(mask, device=device))
        (out.sum() + weights.sum()).backward()
        assert out.device.kind == device
        results.append([out.numpy(), weights.numpy(), query.grad.numpy(), mha.in_proj_bias.grad.numpy(),
                        mha.k_proj_weight.grad.numpy()])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches
