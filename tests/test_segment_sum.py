"""``topi.segment_sum`` (lookup gradients as a device-side sort, a segmented scan and a
binary search) against numpy, and ``F.embedding``'s backward by it against PyTorch
(duplicates, padding_idx, max_norm, size 1, finite differences in float64), a ``tm.jit``
step replayed with other indices, the CUDA emulator, nvcc's PTX and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import nn, te
from tvmini.errors import ShapeError
from tvmini.graph import index_ops
from tvmini.topi import segment_sum

from graph_gradcheck import check_grad
from strategies import examples, run_default
from test_cuda import needs_nvcc
from test_topi_cuda import compile_together, cuda_source

torch = pytest.importorskip("torch")
F = nn.functional


def _np_take_rows_grad(g, idx, rows):
    want = np.zeros((rows, g.shape[-1]), g.dtype)
    np.add.at(want, np.clip(idx.ravel(), 0, rows - 1), g.reshape(-1, g.shape[-1]))
    return want


@examples(8)
@given(st.data())
def test_take_rows_grad_adds_each_gradient_row_into_its_table_row(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 99), "seed"))
    rows, dim = data.draw(st.sampled_from([1, 2, 7]), "rows"), data.draw(st.sampled_from([1, 3]), "dim")
    shape = data.draw(st.sampled_from([(1,), (5,), (2, 3), (9,)]), "indices shape")
    idx = rng.integers(0, rows, size=shape)         # few rows: runs of duplicates
    g = rng.normal(size=shape + (dim,)).astype("float32")
    G, I = te.placeholder(g.shape, name="g"), te.placeholder(shape, name="i", dtype="int64")
    got = run_default(segment_sum.take_rows_grad(G, I, rows), [G, I], [g, idx])
    np.testing.assert_allclose(got, _np_take_rows_grad(g, idx, rows), rtol=1e-5, atol=1e-6)


def test_take_rows_grad_of_indices_the_network_sorts():
    """100 indices and more are sorted by the bitonic network (not by counting)."""
    rng = np.random.default_rng(1)
    idx, g = rng.integers(0, 13, size=100), rng.normal(size=(100, 2))
    G, I = te.placeholder(g.shape, name="g", dtype="float64"), te.placeholder((100,), name="i", dtype="int32")
    got = run_default(segment_sum.take_rows_grad(G, I, 13), [G, I], [g, idx.astype("int32")])
    np.testing.assert_allclose(got, _np_take_rows_grad(g, idx, 13), rtol=1e-12, atol=1e-12)


def test_entries_that_count_nowhere_and_once_per_group():
    """The key ``rows`` is left out; with ``once_per`` a row's second entry in a group
    adds nothing (a "max" bag's row picked twice)."""
    rows, dim = 5, 2
    keys = np.array([0, 4, 4, 5, 0, 2, 4], dtype="int32")
    group = np.array([0, 0, 0, 1, 1, 1, 1], dtype="int32")
    values = np.random.default_rng(2).normal(size=(keys.size, dim)).astype("float32")
    K, V = te.placeholder(keys.shape, name="k", dtype="int32"), te.placeholder(values.shape, name="v")
    P = te.placeholder(group.shape, name="p", dtype="int32")
    for once in (False, True):
        out = segment_sum.segment_rows(K, lambda p, j: V[p, j], rows, dim, "float32",
                                       once_per=(lambda p: P[p]) if once else None)
        got = run_default(out, [K, V, P], [keys, values, group])
        want, seen = np.zeros((rows, dim), "float32"), set()
        for p, key in enumerate(keys):
            if key < rows and not (once and (key, group[p]) in seen):
                want[key] += values[p]
                seen.add((key, group[p]))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ F.embedding's backward

@pytest.fixture
def segmented(monkeypatch):
    """Every table gradient along axis 0 by the segment sum, however small."""
    monkeypatch.setattr(index_ops, "SEGMENTED_MIN", 0)


def _torch_embedding_grads(weight, index, head, **kwargs):
    tw = torch.tensor(weight, requires_grad=True)
    out = torch.nn.functional.embedding(torch.tensor(index), tw, **kwargs)
    (out * torch.tensor(head)).sum().backward()
    return out.detach().numpy(), tw.grad.numpy(), tw.detach().numpy()


@pytest.mark.parametrize("shape, rows, kwargs", [((1,), 1, {}), ((4, 3), 5, {"padding_idx": 2}),
                                                 ((7,), 6, {"padding_idx": -1, "max_norm": 1.0}),
                                                 ((2, 1, 3), 3, {})])
def test_embedding_backward_matches_torch(segmented, shape, rows, kwargs):
    rng = np.random.default_rng(3)
    weight, index = rng.normal(size=(rows, 4)) * 2, rng.integers(0, rows, size=shape)
    head = rng.normal(size=shape + (4,))
    out_t, grad_t, weight_t = _torch_embedding_grads(weight, index, head, **kwargs)
    table = tm.tensor(weight, requires_grad=True)
    out = F.embedding(tm.tensor(index), table, **kwargs)
    (out * tm.tensor(head)).sum().backward()
    np.testing.assert_allclose(out.numpy(), out_t, rtol=1e-12)
    np.testing.assert_allclose(table.numpy(), weight_t, rtol=1e-12)
    np.testing.assert_allclose(table.grad.numpy(), grad_t, rtol=1e-12, atol=1e-12)


def test_embedding_backward_matches_finite_differences(segmented):
    index = tm.tensor([[3, 0, 3], [1, 3, 2]])
    check_grad(lambda w: F.embedding(index, w) * 1.5, np.random.default_rng(4).normal(size=(5, 2)))


def test_a_large_table_takes_the_segmented_path_by_itself():
    """rows * indices past ``SEGMENTED_MIN`` (no patching): PyTorch's gradient."""
    rng = np.random.default_rng(5)
    rows = index_ops.SEGMENTED_MIN // 32 + 3
    weight, index = rng.normal(size=(rows, 2)), rng.integers(0, 40, size=(4, 8))     # 40 rows hit, repeats
    head = rng.normal(size=(4, 8, 2))
    _, grad_t, _ = _torch_embedding_grads(weight, index, head)
    table = tm.tensor(weight, requires_grad=True)
    (F.embedding(tm.tensor(index), table) * tm.tensor(head)).sum().backward()
    np.testing.assert_allclose(table.grad.numpy(), grad_t, rtol=1e-12, atol=1e-12)


def test_a_jitted_step_replayed_with_other_indices_matches_torch(segmented):
    """The step's kernels read no index on the host: each replay sorts its own."""
    rng = np.random.default_rng(6)
    weight = rng.normal(size=(9, 3))
    table = tm.tensor(weight, requires_grad=True)

    def step(index, head):
        table.grad = None
        loss = (F.embedding(index, table, padding_idx=4) * head).sum()
        loss.backward()
        return loss
    jitted = tm.jit(step)
    for _ in range(3):
        index, head = rng.integers(0, 9, size=(2, 5)), rng.normal(size=(2, 5, 3))
        jitted(tm.tensor(index), tm.tensor(head))
        _, grad_t, _ = _torch_embedding_grads(weight, index, head, padding_idx=4)
        np.testing.assert_allclose(table.grad.numpy(), grad_t, rtol=1e-12, atol=1e-12)


def test_embedding_backward_on_the_emulated_gpu(segmented, emulated_gpu):
    rng = np.random.default_rng(7)
    weight, index = rng.normal(size=(6, 3)).astype("float32"), rng.integers(0, 6, size=(3, 4))
    grads = []
    for device in ("cuda", "cpu"):
        table = tm.tensor(weight, device=device, requires_grad=True)
        out = F.embedding(tm.tensor(index, device=device), table, padding_idx=1)
        (out * out).sum().backward()
        grads.append(table.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)
    assert any("take_rows_grad" in str(launch[0]) for launch in emulated_gpu.launches)


class _Case:
    def __init__(self, args, outs):
        self.args, self.outs = args, [outs]


@needs_nvcc
def test_segment_sum_kernels_compile_to_ptx():
    """Counting and network sorts, with and without ``once_per``, under the default
    CUDA schedule, compiled by nvcc."""
    cases = {}
    for n in (6, 100):
        G, I = te.placeholder((n, 4), name="g"), te.placeholder((n,), name="i", dtype="int64")
        cases[f"take_{n}"] = _Case([G, I], segment_sum.take_rows_grad(G, I, 9))
    K, V = te.placeholder((5,), name="k", dtype="int32"), te.placeholder((5, 3), name="v")
    cases["once"] = _Case([K, V], segment_sum.segment_rows(K, lambda p, j: V[p, j], 4, 3, "float32",
                                                           once_per=lambda p: p // 2))
    sources = {name: cuda_source(case, f"segment_{name}") for name, case in cases.items()}
    ptx = compile_together([source for source, _ in sources.values()], "segment_sum_kernels")
    for _, names in sources.values():
        assert all(f".entry {name}" in ptx for name in names)


def test_bad_shapes_raise_shape_errors():
    G, I = te.placeholder((4, 3), name="g"), te.placeholder((2, 2), name="i", dtype="int32")
    with pytest.raises(ShapeError, match="take_rows_grad: gradient g of 2 axes does not match indices i of 2 axes"):
        segment_sum.take_rows_grad(G, I, 5)
    K = te.placeholder((2, 4), name="k", dtype="int32")
    with pytest.raises(ShapeError, match=r"segment_rows: keys must be 1-D \(one per entry\), got k of shape"):
        segment_sum.segment_rows(K, lambda p, j: G[p, j], 5, 3, "float32")
