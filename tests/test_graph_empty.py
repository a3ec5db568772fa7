"""Tensors with an extent of 0 in the graph layer: every op of the common surface on
empty inputs gives numpy's (and PyTorch's, when installed) shapes, dtypes and values —
the sum of nothing is 0, the mean NaN, a product with an inner extent of 0 is zeros,
an empty selection (``x[labels == c]`` with no class c) is an empty tensor — and the
gradients through them are zero-size or zero. max/min/argmax/argmin over no elements
raise a ShapeError naming the op, as PyTorch raises.

Each case is written once against a torch-shaped module ``T`` (``tvmini`` or
``torch``) and ``F`` (its functional namespace), with numpy's answer beside it.
"""
import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as tmF

try:
    import torch
    import torch.nn.functional as torchF
except ImportError:         # the cross-checks are skipped; numpy's answers are checked always
    torch = None

X43 = np.arange(12, dtype=np.float32).reshape(4, 3)
E03 = np.zeros((0, 3), np.float32)
NO_LABELS = np.zeros(0, np.int64)

# name -> (f(T, F, t) with t(array) making a tensor, numpy's result or tuple of results)
FORWARD = {
    "add_scalar": (lambda T, F, t: t(E03) + 1, E03 + 1),
    "broadcast_0x3_1x3": (lambda T, F, t: t(E03) * t(X43[:1]), E03 * X43[:1]),
    "exp_relu": (lambda T, F, t: F.relu(t(E03).exp()), E03),
    "compare_where": (lambda T, F, t: T.where(t(E03) > 0, t(E03), 0.0), E03),
    "sum_all": (lambda T, F, t: t(E03).sum(), np.float32(0)),
    "sum_empty_axis": (lambda T, F, t: t(E03).sum(0), np.zeros(3, np.float32)),
    "sum_other_axis": (lambda T, F, t: t(E03).sum(1), np.zeros(0, np.float32)),
    "sum_keepdim": (lambda T, F, t: t(E03).sum(0, keepdim=True), np.zeros((1, 3), np.float32)),
    "sum_int": (lambda T, F, t: t(NO_LABELS).sum(), np.int64(0)),
    "prod": (lambda T, F, t: t(E03).prod(0), np.ones(3, np.float32)),
    "mean_all": (lambda T, F, t: t(E03).mean(), np.float32(np.nan)),
    "mean_empty_axis": (lambda T, F, t: t(E03).mean(0), np.full(3, np.nan, np.float32)),
    "mean_other_axis": (lambda T, F, t: t(E03).mean(1), np.zeros(0, np.float32)),
    "var_empty_axis": (lambda T, F, t: t(E03).var(0), np.full(3, np.nan, np.float32)),
    "std_all": (lambda T, F, t: t(E03).std(), np.float32(np.nan)),
    "max_nonempty_axis": (lambda T, F, t: tuple(t(E03).max(1)), (np.zeros(0, np.float32), NO_LABELS)),
    "argmax_nonempty_axis": (lambda T, F, t: t(E03).argmax(1), NO_LABELS),
    "logsumexp_empty_axis": (lambda T, F, t: t(E03.T).logsumexp(1), np.full(3, -np.inf, np.float32)),
    "matmul_k0": (lambda T, F, t: t(np.ones((2, 0), np.float32)) @ t(np.ones((0, 4), np.float32)),
                  np.zeros((2, 4), np.float32)),
    "matmul_m0": (lambda T, F, t: t(E03) @ t(np.ones((3, 4), np.float32)), np.zeros((0, 4), np.float32)),
    "linear": (lambda T, F, t: F.linear(t(E03), t(np.ones((4, 3), np.float32)), t(np.ones(4, np.float32))),
               np.zeros((0, 4), np.float32)),
    "cat_rows": (lambda T, F, t: T.cat([t(X43), t(E03)]), X43),
    "cat_columns": (lambda T, F, t: T.cat([t(np.zeros((4, 0), np.float32)), t(X43)], 1), X43),
    "cat_all_empty": (lambda T, F, t: T.cat([t(E03), t(E03)]), E03),
    "stack": (lambda T, F, t: T.stack([t(E03), t(E03)]), np.zeros((2, 0, 3), np.float32)),
    "split_columns": (lambda T, F, t: t(E03).split(1, dim=1), (np.zeros((0, 1), np.float32),) * 3),
    "split_empty_axis": (lambda T, F, t: t(E03).split(2), (E03,)),
    "split_zero_size": (lambda T, F, t: t(X43).split([2, 0, 2]), (X43[:2], X43[:0], X43[2:])),
    "chunk_empty": (lambda T, F, t: t(E03).chunk(2), (E03, E03)),
    "slice_empty": (lambda T, F, t: t(X43)[2:2], X43[2:2]),
    "slice_past_end": (lambda T, F, t: t(X43)[5:9, 1:], X43[5:9, 1:]),
    "slice_columns": (lambda T, F, t: t(X43)[:, 3:], X43[:, 3:]),
    "mask_all_false": (lambda T, F, t: t(X43)[t(X43) > 100], np.zeros(0, np.float32)),
    "mask_rows_all_false": (lambda T, F, t: t(X43)[t(X43[:, 0]) > 100], E03),
    "index_empty": (lambda T, F, t: t(X43)[t(NO_LABELS)], E03),
    "reshape": (lambda T, F, t: t(E03).reshape(3, 0, 5), np.zeros((3, 0, 5), np.float32)),
    "reshape_infer": (lambda T, F, t: t(E03).reshape(-1, 3), E03),
    "transpose": (lambda T, F, t: t(E03).transpose(0, 1), E03.T),
    "softmax_no_rows": (lambda T, F, t: F.softmax(t(E03), dim=1), E03),
    "softmax_no_columns": (lambda T, F, t: F.softmax(t(E03.T), dim=1), E03.T),
    "log_softmax_no_rows": (lambda T, F, t: F.log_softmax(t(E03), dim=1), E03),
    "cross_entropy_mean": (lambda T, F, t: F.cross_entropy(t(E03), t(NO_LABELS)), np.float32(np.nan)),
    "cross_entropy_sum": (lambda T, F, t: F.cross_entropy(t(E03), t(NO_LABELS), reduction="sum"), np.float32(0)),
    "cross_entropy_none": (lambda T, F, t: F.cross_entropy(t(E03), t(NO_LABELS), reduction="none"),
                           np.zeros(0, np.float32)),
    "mse_loss": (lambda T, F, t: F.mse_loss(t(E03), t(E03)), np.float32(np.nan)),
    # an inner extent of 0 under leading axes: reshape(x, (-1, 0)) was ambiguous
    "matmul_nd_k0": (lambda T, F, t: t(np.ones((2, 2, 0), np.float32)) @ t(np.ones((0, 4), np.float32)),
                     np.zeros((2, 2, 4), np.float32)),
    "linear_nd_k0": (lambda T, F, t: F.linear(t(np.ones((2, 2, 0), np.float32)), t(np.ones((4, 0), np.float32))),
                     np.zeros((2, 2, 4), np.float32)),
    "mask_over_no_columns": (lambda T, F, t: t(np.ones((2, 3, 0), np.float32))[t(X43[:2]) > -1],
                             np.zeros((6, 0), np.float32)),
    # pad refused an empty input ("crop ... to nothing") and cropping to an extent of 0
    "pad_no_rows": (lambda T, F, t: F.pad(t(E03), (1, 1)), np.zeros((0, 5), np.float32)),
    "pad_rows_of_no_rows": (lambda T, F, t: F.pad(t(E03), (0, 0, 1, 1), value=2.0), np.full((2, 3), 2, np.float32)),
    "pad_crop_to_nothing": (lambda T, F, t: F.pad(t(X43), (-3, 0)), np.zeros((4, 0), np.float32)),
    "pad_crop_both_sides": (lambda T, F, t: F.pad(t(X43), (-1, -2)), np.zeros((4, 0), np.float32)),
    "kl_div_batchmean_no_rows": (lambda T, F, t: F.kl_div(t(E03), t(E03), reduction="batchmean"),
                                 np.float32(np.nan)),     # 0 / 0: was a ZeroDivisionError
    "index_empty_list": (lambda T, F, t: t(X43)[[]], E03),           # [] is float64 to numpy
    "cross_entropy_no_classes": (lambda T, F, t: F.cross_entropy(t(np.zeros((2, 0, 3), np.float32)),
                                                                 t(np.zeros((2, 0, 3), np.float32)), reduction="none"),
                                 np.zeros((2, 3), np.float32)),
}


def _tm(a, requires_grad=False):
    return tm.tensor(a, requires_grad=requires_grad)


def _torch(a, requires_grad=False):
    return torch.tensor(a, requires_grad=requires_grad)


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _assert_same(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_empty_tensors_match_numpy_and_torch(name):
    f, want = FORWARD[name]
    got = _as_tuple(f(tm, tmF, _tm))
    want = _as_tuple(want)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        _assert_same(g.numpy(), w, f"{name}[{k}] vs numpy")
    if torch is None:
        return
    ref = _as_tuple(f(torch, torchF, _torch))
    assert len(ref) == len(got)
    for k, (g, r) in enumerate(zip(got, ref)):
        _assert_same(g.numpy(), r.detach().numpy(), f"{name}[{k}] vs torch")


# name -> (f(T, F, *leaves) giving a 0-d loss, the leaves' numpy values)
BACKWARD = {
    "elementwise_sum": (lambda T, F, x: (x * 2).exp().sum(), [E03]),
    "mean": (lambda T, F, x: x.mean(), [E03]),
    "broadcast": (lambda T, F, x, b: (x + b).sum(), [E03, X43[:1]]),
    "slice_empty": (lambda T, F, x: x[2:2].sum(), [X43]),
    "mask_all_false": (lambda T, F, x: (x[x > 100] * 3).sum(), [X43]),
    "index_empty": (lambda T, F, x, i: x[i.long()].sum(), [X43, NO_LABELS]),
    "matmul": (lambda T, F, x, w: (x @ w).sum(), [E03, np.ones((3, 4), np.float32)]),
    "matmul_k0": (lambda T, F, a, b: (a @ b).sum(), [np.ones((2, 0), np.float32), np.ones((0, 4), np.float32)]),
    "pad_crop_to_nothing": (lambda T, F, x: (F.pad(x, (-3, 0)) * 2).sum(), [X43]),
    "matmul_nd_k0": (lambda T, F, a, b: (a @ b).sum(), [np.ones((2, 2, 0), np.float32), np.ones((0, 4), np.float32)]),
    "cat": (lambda T, F, a, b: (T.cat([a, b]) ** 2).sum(), [X43, E03]),
    "stack_split": (lambda T, F, x: sum(p.sum() for p in T.stack([x, x]).split(1, dim=2)), [E03]),
    "linear_cross_entropy": (lambda T, F, x, w, b, y: F.cross_entropy(F.linear(x, w, b), y.long(), reduction="sum"),
                             [E03, np.ones((4, 3), np.float32), np.ones(4, np.float32), NO_LABELS]),
    "log_softmax": (lambda T, F, x: F.log_softmax(x, dim=1).sum(), [E03]),
    "max_nonempty_axis": (lambda T, F, x: x.max(1)[0].sum(), [E03]),
    "batch_norm_train": (lambda T, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True).sum(),
                         [E03, np.ones(3, np.float32), np.ones(3, np.float32)]),
    "conv_pool": (lambda T, F, x, w, b: F.max_pool2d(F.conv2d(x, w, b), 2).sum(),
                  [np.zeros((0, 1, 6, 6), np.float32), np.ones((2, 1, 3, 3), np.float32), np.ones(2, np.float32)]),
}


def _backward(T, F, make, f, arrays):
    leaves = [make(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    loss = f(T, F, *leaves)
    loss.backward()
    return loss, [leaf.grad for leaf, a in zip(leaves, arrays) if a.dtype.kind == "f"]


@pytest.mark.parametrize("name", sorted(BACKWARD))
def test_gradients_through_empty_tensors(name):
    """Every gradient has its leaf's shape and is 0 where the loss does not see the
    leaf (an empty selection, an input with no elements)."""
    f, arrays = BACKWARD[name]
    loss, grads = _backward(tm, tmF, _tm, f, arrays)
    floats = [a for a in arrays if a.dtype.kind == "f"]
    for g, a in zip(grads, floats):
        assert g is not None and g.shape == a.shape, name
    if name == "cat":       # the non-empty input's gradient is 2x; the empty one's is empty
        np.testing.assert_array_equal(grads[0].numpy(), 2 * X43)
    elif name != "broadcast":
        for g in grads:
            np.testing.assert_array_equal(g.numpy(), np.zeros_like(g.numpy()))
    if torch is None:
        return
    ref_loss, ref_grads = _backward(torch, torchF, _torch, f, arrays)
    np.testing.assert_array_equal(loss.numpy(), ref_loss.detach().numpy())
    for g, r in zip(grads, ref_grads):
        _assert_same(g.numpy(), r.numpy(), f"{name} gradient vs torch")


@pytest.mark.parametrize("op,call", [
    ("max", lambda x: x.max()), ("max", lambda x: x.max(0)), ("min", lambda x: x.min(dim=0)),
    ("argmax", lambda x: x.argmax()), ("argmax", lambda x: x.argmax(0)), ("argmin", lambda x: x.argmin(0)),
])
def test_extremes_of_no_elements_raise_naming_the_op(op, call):
    with pytest.raises(tm.ShapeError, match=rf"^{op}: .*extent 0"):
        call(tm.tensor(E03))
    if torch is not None:
        with pytest.raises((IndexError, RuntimeError)):
            call(torch.tensor(E03))


def test_empty_selection_per_class_is_a_common_pattern():
    """``logits[labels == c]`` for a class no sample has: an empty (0, C) tensor whose
    loss sums to 0 and whose mean is NaN, as PyTorch's."""
    logits = tm.tensor(X43, requires_grad=True)
    labels = tm.tensor(np.array([0, 1, 1, 0]))
    picked = logits[labels == 2]
    assert picked.shape == (0, 3)
    total = tmF.cross_entropy(picked, labels[labels == 2], reduction="sum")
    total.backward()
    assert total.item() == 0.0
    np.testing.assert_array_equal(logits.grad.numpy(), np.zeros_like(X43))
    assert np.isnan(tmF.cross_entropy(picked.detach(), labels[labels == 2]).item())


def test_negative_extents_stay_errors():
    with pytest.raises(tm.ShapeError, match="at least 0"):
        tm.te.placeholder((3, -1), name="A")
    with pytest.raises(tm.ShapeError):
        tm.zeros(2, 3).reshape(-1, 0)


@pytest.mark.parametrize("name", ["sum_empty_axis", "mean_all", "matmul_k0", "matmul_m0", "cat_rows", "slice_empty",
                                  "mask_all_false", "index_empty", "softmax_no_rows", "cross_entropy_sum"])
def test_empty_tensors_on_the_emulated_gpu(emulated_gpu, name):
    """The same cases on CUDA (emulated): kernels whose grid is empty are not launched."""
    f, want = FORWARD[name]
    got = _as_tuple(f(tm, tmF, lambda a: tm.tensor(a, device="cuda")))
    for k, (g, w) in enumerate(zip(got, _as_tuple(want))):
        assert g.device.kind == "cuda"
        _assert_same(g.numpy(), w, f"{name}[{k}] on CUDA vs numpy")


def test_batch_norm_training_on_no_rows_keeps_the_running_statistics():
    """As PyTorch: an empty batch gives an empty output and leaves the running mean and
    variance as they were (a batch of one row stays an error)."""
    bn = tm.nn.BatchNorm1d(3)
    out = bn(tm.tensor(E03))
    assert out.shape == (0, 3)
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3, np.float32))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3, np.float32))
    with pytest.raises(tm.ShapeError, match="more than one value"):
        bn(tm.tensor(X43[:1]))
