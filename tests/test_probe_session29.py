"""Defects a PyTorch user met writing small training programs against tvmini (character
LSTM, transformer classifier, GRU on padded batches, conv autoencoder, data pipelines,
LBFGS, error paths); one test per defect, each against PyTorch where it is installed and
against the behaviour's own rule always."""
import numpy as np
import pytest

import tvmini as tm


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "AlphaDropout"])
@pytest.mark.parametrize("p", [1.5, -0.1])
def test_dropout_layers_refuse_a_probability_outside_0_1_when_built(name, p):
    with pytest.raises(tm.ShapeError, match=f"{name}.*{p}"):
        getattr(tm.nn, name)(p)
    torch = _torch()
    with pytest.raises(ValueError):
        getattr(torch.nn, name)(p)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_layers_accept_the_end_probabilities(p):
    x = tm.tensor(np.ones((2, 3), np.float32))
    out = tm.nn.Dropout(p)(x).numpy()
    np.testing.assert_array_equal(out, np.zeros((2, 3)) if p == 1.0 else np.ones((2, 3)))


def test_data_is_reachable_from_the_top_level_as_torch_utils_data_is():
    import subprocess
    import sys
    code = ("import tvmini as tm\n"
            "loader = tm.data.DataLoader(tm.data.TensorDataset(tm.arange(6)), batch_size=4)\n"
            "print([b[0].numpy().tolist() for b in loader])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[[0, 1, 2, 3], [4, 5]]"


PAIRWISE_MISFITS = [
    ("margin_ranking_loss", "MarginRankingLoss", [(3,), (4,), (3,)]),
    ("margin_ranking_loss", "MarginRankingLoss", [(3,), (3,), (2,)]),
    ("cosine_embedding_loss", "CosineEmbeddingLoss", [(3, 4), (3, 4), (2,)]),
    ("cosine_embedding_loss", "CosineEmbeddingLoss", [(3, 4), (2, 4), (3,)]),
    ("triplet_margin_loss", "TripletMarginLoss", [(2, 3), (2, 4), (2, 3)]),
    ("triplet_margin_loss", "TripletMarginLoss", [(2, 3), (2, 3), (3, 3)]),
]


@pytest.mark.parametrize("op, layer, shapes", PAIRWISE_MISFITS)
def test_pairwise_losses_name_themselves_when_shapes_do_not_broadcast(op, layer, shapes):
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    with pytest.raises(tm.ShapeError, match=rf"^{op}: shapes .*{shapes[1][0]}"):
        getattr(tm.nn, layer)()(*[tm.tensor(a) for a in args])
    torch = _torch()
    with pytest.raises(RuntimeError):
        getattr(torch.nn, layer)()(*[torch.tensor(a) for a in args])


@pytest.mark.parametrize("layer, shapes", [("MarginRankingLoss", [(3,), (1,), (3,)]),
                                           ("CosineEmbeddingLoss", [(3, 4), (1, 4), (1,)]),
                                           ("TripletMarginLoss", [(3, 4), (1, 4), (3, 4)])])
def test_pairwise_losses_still_broadcast_as_pytorch(layer, shapes):
    torch = _torch()
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    if layer != "TripletMarginLoss":
        args[2] = np.sign(args[2]) + (args[2] == 0)
    got = getattr(tm.nn, layer)()(*[tm.tensor(a) for a in args]).numpy()
    want = getattr(torch.nn, layer)()(*[torch.tensor(a) for a in args]).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_shape", [(3, 3), (2, 3, 5), (4,)])
def test_scaled_dot_product_attention_names_itself_for_a_mask_of_the_wrong_shape(mask_shape):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5, 4), (5, 4)])
    mask = np.ones(mask_shape, bool)
    with pytest.raises(tm.ShapeError, match=r"^scaled_dot_product_attention: .*\(3, 5\)"):
        tm.nn.functional.scaled_dot_product_attention(tm.tensor(q), tm.tensor(k), tm.tensor(v),
                                                      attn_mask=tm.tensor(mask))
    torch = _torch()
    with pytest.raises(RuntimeError):
        torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                         attn_mask=torch.tensor(mask))


def test_scaled_dot_product_attention_broadcasts_a_smaller_mask_as_pytorch():
    torch = _torch()
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 4)])
    mask = rng.random((1, 5)) > 0.3
    got = tm.nn.functional.scaled_dot_product_attention(tm.tensor(q), tm.tensor(k), tm.tensor(v),
                                                        attn_mask=tm.tensor(mask)).numpy()
    want = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                            attn_mask=torch.tensor(mask)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_shape", [(3,), (1, 3), (2, 1), (2, 3), (1, 1)])
def test_masked_fill_in_place_broadcasts_the_mask_as_pytorch(mask_shape):
    # masked_fill_ read the mask as a mask of the leading axes: a (3,) or (1, 3) mask of a
    # (2, 3) tensor was refused, and a (2,) mask filled whole rows where PyTorch refuses
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    mask = (np.arange(int(np.prod(mask_shape))) % 2 == 0).reshape(mask_shape)
    got = tm.tensor(x).masked_fill_(tm.tensor(mask), -1.0).numpy()
    np.testing.assert_array_equal(got, np.where(mask, np.float32(-1.0), x))
    torch = _torch()
    np.testing.assert_array_equal(got, torch.tensor(x).masked_fill_(torch.tensor(mask), -1.0).numpy())


def test_masked_fill_in_place_of_a_tracked_tensor_passes_the_gradient_outside_the_mask():
    x = tm.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    y = x * 2.0
    y.masked_fill_(tm.tensor(np.array([True, False, True])), 0.0)
    (y * y).sum().backward()
    want = np.where([True, False, True], 0.0, 8.0 * np.arange(1.0, 7.0).reshape(2, 3))
    np.testing.assert_allclose(x.grad.numpy(), want)


@pytest.mark.parametrize("mask_shape", [(2,), (1, 1, 3), (3, 2)])
def test_masked_fill_in_place_refuses_a_mask_that_does_not_fit_as_pytorch(mask_shape):
    x = np.zeros((2, 3), np.float32)
    mask = np.ones(mask_shape, bool)
    with pytest.raises(tm.ShapeError, match=r"masked_fill.*\(2, 3\)"):
        tm.tensor(x).masked_fill_(tm.tensor(mask), 1.0)
    torch = _torch()
    with pytest.raises(RuntimeError):
        torch.tensor(x).masked_fill_(torch.tensor(mask), 1.0)


def test_a_one_element_integer_tensor_is_an_index_as_in_pytorch():
    # a Subset built from a tensor of indices failed (list[Tensor]: TypeError), as did
    # range(t) and operator.index(t)
    import operator
    subset = tm.data.Subset(list(range(10, 20)), tm.tensor([4, 7, 1]))
    assert [subset[i] for i in range(len(subset))] == [14, 17, 11]
    assert list(range(tm.tensor(3))) == [0, 1, 2]
    assert operator.index(tm.tensor(np.int32(5))) == 5 and operator.index(tm.tensor(True)) == 1
    torch = _torch()
    reference = torch.utils.data.Subset(list(range(10, 20)), torch.tensor([4, 7, 1]))
    assert [reference[i] for i in range(len(reference))] == [14, 17, 11]


@pytest.mark.parametrize("value", [2.0, [1, 2]])
def test_a_float_or_larger_tensor_is_refused_as_an_index_as_in_pytorch(value):
    with pytest.raises(tm.DTypeError, match="single element can be converted to an index") as info:
        [0, 1, 2][tm.tensor(value)]
    assert isinstance(info.value, TypeError)
    torch = _torch()
    with pytest.raises(TypeError):
        [0, 1, 2][torch.tensor(value)]


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers_take_flatten_parameters_as_pytorch_models_call_it(name):
    # a PyTorch model that calls self.rnn.flatten_parameters() in forward (the usual cure
    # for cuDNN's non-contiguous weights warning) failed with AttributeError
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    layer = getattr(tm.nn, name)(3, 5)
    before = layer(tm.tensor(x))[0].numpy()
    assert layer.flatten_parameters() is None
    np.testing.assert_array_equal(layer(tm.tensor(x))[0].numpy(), before)
    torch = _torch()
    reference = getattr(torch.nn, name)(3, 5)
    assert reference.flatten_parameters() is None


def test_save_and_load_take_a_file_object_as_pytorch():
    # tm.save/tm.load took only paths: io.BytesIO (an in-memory checkpoint) raised TypeError
    import io
    model = tm.nn.Sequential(tm.nn.Linear(2, 3), tm.nn.BatchNorm1d(3))
    buffer = io.BytesIO()
    tm.save({"model": model.state_dict(), "epoch": 4, "losses": [0.5, 0.25]}, buffer)
    buffer.seek(0)
    checkpoint = tm.load(buffer)
    assert checkpoint["epoch"] == 4 and checkpoint["losses"] == [0.5, 0.25]
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(checkpoint["model"][name].numpy(), value.numpy())


def test_load_of_a_corrupt_file_object_raises_a_data_error():
    import io
    with pytest.raises(tm.DataError, match="BytesIO file object is truncated or corrupt"):
        tm.load(io.BytesIO(b"PK\x03\x04 not an archive"))


def test_jit_step_with_hard_example_mining_over_a_large_batch_equals_eager(monkeypatch):
    # topk of the per-sample losses (a sort along the batch axis) inside tm.jit: the batch
    # lanes pass read the sort network's two-output padding stage as one body and raised
    # ScheduleError ("compute argsort.pad has 2 outputs") for batches of 1000 rows
    monkeypatch.setenv("TVMINI_NUM_THREADS", "4")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 3)).astype(np.float32)
    y = rng.integers(0, 2, 1000)

    def make():
        tm.manual_seed(0)
        model = tm.nn.Linear(3, 2)
        opt = tm.optim.SGD(model.parameters(), lr=0.1)

        def step(xb, yb):
            opt.zero_grad()
            losses = tm.nn.functional.cross_entropy(model(xb), yb, reduction="none")
            hard, index = tm.topk(losses, 100)
            hard.mean().backward()
            opt.step()
            return hard.mean(), index
        return model, step
    eager_model, eager_step = make()
    jit_model, jit_step = make()
    jit_step = tm.jit(jit_step)
    for _ in range(2):
        want_loss, want_index = eager_step(tm.tensor(x), tm.tensor(y))
        got_loss, got_index = jit_step(tm.tensor(x), tm.tensor(y))
        np.testing.assert_allclose(got_loss.numpy(), want_loss.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(np.sort(got_index.numpy()), np.sort(want_index.numpy()))
    np.testing.assert_allclose(jit_model.weight.numpy(), eager_model.weight.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["triplet_margin_loss", "cosine_embedding_loss"])
def test_jit_step_of_a_siamese_net_over_a_large_batch_equals_eager(monkeypatch, loss):
    # one Linear applied to two or three inputs of 256 rows: the batch lanes pass cut the
    # fused kernel between the GEMM's accumulation and its epilogue, and the GEMM schedule
    # looked for its accumulation stage with next(): StopIteration out of tm.jit
    monkeypatch.setenv("TVMINI_NUM_THREADS", "4")
    rng = np.random.default_rng(3)
    a, p, n = (rng.standard_normal((256, 6)).astype(np.float32) for _ in range(3))
    sign = np.where(rng.random(256) < 0.5, -1.0, 1.0).astype(np.float32)
    F = tm.nn.functional

    def make():
        tm.manual_seed(0)
        net = tm.nn.Linear(6, 4)
        opt = tm.optim.Adam(net.parameters(), lr=0.01)

        def step(a, p, n, sign):
            opt.zero_grad()
            if loss == "triplet_margin_loss":
                value = F.triplet_margin_loss(net(a), net(p), net(n))
            else:
                value = F.cosine_embedding_loss(net(a), net(p), sign)
            value.backward()
            opt.step()
            return value
        return net, step
    eager_net, eager_step = make()
    jit_net, jit_step = make()
    jit_step = tm.jit(jit_step)
    for _ in range(2):
        args = [tm.tensor(v) for v in (a, p, n, sign)]
        np.testing.assert_allclose(jit_step(*args).numpy(), eager_step(*args).numpy(), rtol=1e-5)
    np.testing.assert_allclose(jit_net.weight.numpy(), eager_net.weight.numpy(), rtol=1e-5, atol=1e-6)


def _as_tvmini(tree):
    """A PyTorch state dict with every tensor converted to a tvmini tensor."""
    torch = _torch()
    if isinstance(tree, dict):
        return {k: _as_tvmini(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_as_tvmini(v) for v in tree)
    return tm.tensor(tree.numpy()) if isinstance(tree, torch.Tensor) else tree


@pytest.mark.parametrize("name, options", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                           ("ASGD", dict(lr=0.01, t0=1)), ("Rprop", dict(lr=0.01))])
def test_an_optimizer_continues_from_a_pytorch_state_dict(name, options):
    # PyTorch keeps 'step' (and ASGD's eta and mu) as 0-d tensors: loading them was refused
    # ("state 'step' has shape () but its parameter has (2, 3)"); its SGD saves no step
    # count at all, and the next step raised KeyError: 'step'
    torch = _torch()
    torch.manual_seed(0)
    reference = torch.nn.Linear(3, 2)
    model = tm.nn.Linear(3, 2)
    torch_opt = getattr(torch.optim, name)(reference.parameters(), **options)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    for _ in range(2):
        torch_opt.zero_grad()
        reference(torch.tensor(x)).pow(2).sum().backward()
        torch_opt.step()
    model.load_state_dict(_as_tvmini(reference.state_dict()))
    opt = getattr(tm.optim, name)(model.parameters(), **options)
    opt.load_state_dict(_as_tvmini(torch_opt.state_dict()))
    for _ in range(2):
        torch_opt.zero_grad()
        reference(torch.tensor(x)).pow(2).sum().backward()
        torch_opt.step()
        opt.zero_grad()
        model(tm.tensor(x)).pow(2).sum().backward()
        opt.step()
    np.testing.assert_allclose(model.weight.numpy(), reference.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.bias.numpy(), reference.bias.detach().numpy(), rtol=1e-5, atol=1e-6)


_A = np.ones((2, 4), np.float32)
_IMAGE = np.ones((1, 4, 4, 4), np.float32)
NUMPY_INPUTS = {
    "linear": lambda: tm.nn.Linear(4, 2)(_A),
    "MultiheadAttention": lambda: tm.nn.MultiheadAttention(4, 2)(_A, _A, _A),
    "rms_norm": lambda: tm.nn.RMSNorm(4)(_A),
    "InstanceNorm1d": lambda: tm.nn.InstanceNorm1d(2)(_A),
    "pixel_shuffle": lambda: tm.nn.PixelShuffle(2)(_IMAGE),
    "pixel_unshuffle": lambda: tm.nn.PixelUnshuffle(2)(_IMAGE),
    "unfold": lambda: tm.nn.Unfold(2)(_IMAGE),
    "fold": lambda: tm.nn.Fold((3, 3), 2)(np.ones((1, 4, 4), np.float32)),
    "adaptive_max_pool2d": lambda: tm.nn.AdaptiveMaxPool2d(2)(_IMAGE),
    "alpha_dropout": lambda: tm.nn.functional.alpha_dropout(_A, 0.5, True),
    "local_response_norm": lambda: tm.nn.LocalResponseNorm(2)(_IMAGE),
    "margin_ranking_loss": lambda: tm.nn.functional.margin_ranking_loss(tm.ones(2), tm.ones(2), [1.0, -1.0]),
}


@pytest.mark.parametrize("op", sorted(NUMPY_INPUTS))
def test_a_numpy_array_where_a_tensor_belongs_is_a_dtype_error_naming_the_op(op):
    # these raised AttributeError from inside the op ('numpy.ndarray' object has no
    # attribute '_data' / 'unsqueeze', or numpy's dtype has no 'startswith')
    with pytest.raises(tm.DTypeError, match=rf"^{op}: .*(list|ndarray)") as info:
        NUMPY_INPUTS[op]()
    assert isinstance(info.value, TypeError)


def test_linear_of_a_numpy_array_is_a_type_error_as_in_pytorch():
    torch = _torch()
    with pytest.raises(TypeError):
        torch.nn.Linear(4, 2)(_A)
    with pytest.raises(TypeError, match="linear: expected Tensor operands, got ndarray"):
        tm.nn.Linear(4, 2)(_A)
