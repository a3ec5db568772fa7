"""Shape and index functions (``graph/shape_fns.py``) and the added products
(``addbmm addmv addr vdot chain_matmul`` in ``graph/matmul_ops.py``): values against
PyTorch on drawn shapes (size-1 and odd axes, broadcasting), gradients against PyTorch's
and central differences in float64, errors, jit and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad, grads_match_torch
from strategies import examples

torch = pytest.importorskip("torch")
SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple)


@given(SHAPES, SHAPES, st.integers(0, 2 ** 16))
@examples(10)
def test_broadcast_tensors_and_shapes(a, b, seed):
    try:
        want = torch.broadcast_shapes(a, b)
    except RuntimeError:
        with pytest.raises(tm.ShapeError, match="broadcast_shapes"):
            tm.broadcast_shapes(a, b)
        return
    assert tm.broadcast_shapes(a, b) == tuple(want)
    assert tm.broadcast_shapes(3, (1,)) == tuple(torch.broadcast_shapes(3, (1,)))
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(a), rng.standard_normal(b)
    for got, ref in zip(tm.broadcast_tensors(tm.tensor(x), tm.tensor(y)),
                        torch.broadcast_tensors(torch.tensor(x), torch.tensor(y))):
        np.testing.assert_array_equal(got.numpy(), ref.numpy())
    check_grad(lambda p, q: tm.stack(tm.broadcast_tensors(p, q * 2.0)), x, y)


@given(SHAPES, st.integers(0, 2 ** 16))
@examples(10)
def test_select_ravel_narrow_copy_unflatten(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    dim = int(rng.integers(-len(shape), len(shape)))
    n = shape[dim]
    index = int(rng.integers(-n, n))
    tx, rx = tm.tensor(x), torch.tensor(x)
    np.testing.assert_array_equal(tm.select(tx, dim, index).numpy(), torch.select(rx, dim, index).numpy())
    np.testing.assert_array_equal(tx.select(dim, index).numpy(), rx.select(dim, index).numpy())
    np.testing.assert_array_equal(tm.ravel(tx).numpy(), torch.ravel(rx).numpy())
    start = int(rng.integers(0, n))
    length = int(rng.integers(0, n - start + 1))
    copy = tm.narrow_copy(tx, dim, start, length)
    np.testing.assert_array_equal(copy.numpy(), torch.narrow_copy(rx, dim, start, length).numpy())
    assert copy.data_ptr() != tx.data_ptr() or not copy.numel()
    sizes = (1, n, 1)
    np.testing.assert_array_equal(tm.unflatten(tx, dim, sizes).numpy(), torch.unflatten(rx, dim, sizes).numpy())
    check_grad(lambda a: tm.select(a, dim, index) * 3.0, x)
    check_grad(lambda a: tm.narrow_copy(a.ravel(), 0, 0, x.size), x)
    grads_match_torch(lambda a: tm.select(a, dim, index).exp(), lambda a: torch.select(a, dim, index).exp(), x)


@given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 2 ** 16))
@examples(10)
def test_column_stack_splits_and_diagflat(rows, parts, seed):
    rng = np.random.default_rng(seed)
    x3 = rng.standard_normal((rows, 2 * parts, 3 * parts))
    a, b = rng.standard_normal(rows), rng.standard_normal((rows, 2))
    got = tm.column_stack([tm.tensor(a), tm.tensor(b)])
    np.testing.assert_array_equal(got.numpy(), torch.column_stack([torch.tensor(a), torch.tensor(b)]).numpy())
    t3, r3 = tm.tensor(x3), torch.tensor(x3)
    for name, spec in (("hsplit", parts), ("vsplit", [1, rows]), ("dsplit", parts), ("hsplit", [0, 1])):
        got, want = getattr(tm, name)(t3, spec), getattr(torch, name)(r3, spec)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())
        for g, w in zip(getattr(t3, name)(spec), want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())
    flat = tm.hsplit(tm.tensor(a), 1)[0]
    np.testing.assert_array_equal(flat.numpy(), torch.hsplit(torch.tensor(a), 1)[0].numpy())
    offset = int(rng.integers(-2, 3))
    small = rng.standard_normal((rows, 2))
    np.testing.assert_array_equal(tm.diagflat(tm.tensor(small), offset).numpy(),
                                  torch.diagflat(torch.tensor(small), offset).numpy())
    check_grad(lambda p, q: tm.column_stack([p, q]), a, b)
    check_grad(lambda p: tm.diagflat(p, offset), small)
    check_grad(lambda p: tm.cat(tm.dsplit(p, parts)[::-1], 2), x3[:, :1])


@given(st.integers(0, 5), st.integers(0, 5), st.integers(-6, 6))
@examples(15)
def test_triangle_indices(row, col, offset):
    for name in ("tril_indices", "triu_indices"):
        got = getattr(tm, name)(row, col, offset)
        want = getattr(torch, name)(row, col, offset)
        assert got.dtype == "int64" and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert tm.tril_indices(3, 3, dtype="int32").dtype == "int32"


@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2 ** 16))
@examples(10)
def test_unravel_index_and_argwhere(shape, seed):
    rng = np.random.default_rng(seed)
    total = int(np.prod(shape))
    flat = rng.integers(-total, 2 * total, 7)
    got = tm.unravel_index(tm.tensor(flat), tuple(shape))
    want = torch.unravel_index(torch.tensor(flat), tuple(shape))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    inside = rng.integers(0, total, 5)
    for g, n in zip(tm.unravel_index(tm.tensor(inside), tuple(shape)), np.unravel_index(inside, shape)):
        np.testing.assert_array_equal(g.numpy(), n)
    x = rng.integers(0, 2, shape).astype("float64")
    np.testing.assert_array_equal(tm.argwhere(tm.tensor(x)).numpy(), torch.argwhere(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(tm.tensor(x).argwhere().numpy(), np.argwhere(x))


@given(st.sampled_from([1, 2, 5]), st.sampled_from([1, 3]), st.sampled_from([1, 4]), st.sampled_from([1, 2]),
       st.sampled_from([(1, 1), (0, 2), (0.5, -1.5)]), st.integers(0, 2 ** 16))
@examples(10)
def test_products_match_torch(b, n, m, p, scales, seed):
    beta, alpha = scales
    rng = np.random.default_rng(seed)
    inp, b1, b2 = rng.standard_normal((n, p)), rng.standard_normal((b, n, m)), rng.standard_normal((b, m, p))
    mat, vec, v1, v2 = rng.standard_normal((n, m)), rng.standard_normal(m), rng.standard_normal(n), \
        rng.standard_normal(p)
    cases = (("addbmm", (inp, b1, b2)), ("addbmm", (inp[:1], b1, b2)), ("addmv", (v1, mat, vec)),
             ("addr", (inp, v1, v2)), ("addr", (v2, v1, v2)))
    for name, arrays in cases:
        got = getattr(tm, name)(*map(tm.tensor, arrays), beta=beta, alpha=alpha)
        want = getattr(torch, name)(*map(torch.tensor, arrays), beta=beta, alpha=alpha)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
        method = getattr(tm.tensor(arrays[0]), name)(*map(tm.tensor, arrays[1:]), beta=beta, alpha=alpha)
        np.testing.assert_allclose(method.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
        # beta == 0 ignores input (PyTorch gives it a zero gradient, tvmini none): the factors' gradients
        first = () if beta == 0 else arrays[:1]
        fixed = (tm.tensor(arrays[0]),) if beta == 0 else ()
        check_grad(lambda *ts: getattr(tm, name)(*fixed, *ts, beta=beta, alpha=alpha), *first, *arrays[1:])
        grads_match_torch(lambda *ts: getattr(tm, name)(*fixed, *ts, beta=beta, alpha=alpha),
                          lambda *ts: getattr(torch, name)(*(torch.tensor(arrays[0]),) * (beta == 0), *ts, beta=beta,
                                                            alpha=alpha),
                           *first, *arrays[1:])
    np.testing.assert_allclose(tm.vdot(tm.tensor(vec), tm.tensor(vec)).numpy(),
                               torch.vdot(torch.tensor(vec), torch.tensor(vec)).numpy())
    chain = (rng.standard_normal((n, m)), rng.standard_normal((m, 1)), rng.standard_normal((1, p)),
             rng.standard_normal((p, 3)))
    np.testing.assert_allclose(tm.chain_matmul(*map(tm.tensor, chain)).numpy(),
                               np.linalg.multi_dot(chain), rtol=1e-12, atol=1e-12)
    check_grad(lambda *ts: tm.chain_matmul(*ts), *chain)


@pytest.mark.parametrize("name, shapes", [("addbmm_", [(3, 2), (4, 3, 5), (4, 5, 2)]), ("addmv_", [(3,), (3, 4), (4,)]),
                                          ("addr_", [(3, 2), (3,), (2,)]), ("addmm_", [(3, 2), (3, 4), (4, 2)]),
                                          ("baddbmm_", [(2, 3, 2), (2, 3, 4), (2, 4, 2)])])
def test_in_place_products_match_torch(name, shapes):
    rng = np.random.default_rng(len(name))
    arrays = [rng.standard_normal(shape) for shape in shapes]
    x = tm.tensor(arrays[0])
    assert getattr(x, name)(*map(tm.tensor, arrays[1:]), beta=0.5, alpha=2) is x
    want = torch.tensor(arrays[0])
    getattr(want, name)(*map(torch.tensor, arrays[1:]), beta=0.5, alpha=2)
    np.testing.assert_allclose(x.numpy(), want.numpy(), rtol=1e-12)

    def ours(first, *rest):
        y = first * 1.0
        return getattr(y, name)(*rest, beta=0.5, alpha=2)

    def theirs(first, *rest):
        y = first * 1.0
        return getattr(y, name)(*rest, beta=0.5, alpha=2)
    grads_match_torch(ours, theirs, *arrays)


def test_errors_as_pytorch():
    with pytest.raises(tm.ShapeError, match="broadcast_shapes: shapes"):
        tm.broadcast_shapes((2, 3), (4,))
    with pytest.raises(tm.IndexingError, match="select: index 3 out of range"):
        tm.select(tm.zeros(2, 3), 1, 3)
    with pytest.raises(tm.IndexingError, match="select: cannot be applied to a 0-d tensor"):
        tm.select(tm.zeros(()), 0, 0)
    with pytest.raises(tm.ShapeError, match="hsplit: cannot split axis 1 of extent 3 into 2 equal parts"):
        tm.hsplit(tm.zeros(5, 3), 2)
    with pytest.raises(tm.ShapeError, match="vsplit: requires a tensor with at least 2"):
        tm.vsplit(tm.zeros(4), 2)
    with pytest.raises(tm.ShapeError, match="dsplit: requires a tensor with at least 3"):
        tm.dsplit(tm.zeros(4, 2), 2)
    with pytest.raises(tm.ShapeError, match="tril_indices: row and col must be non-negative"):
        tm.tril_indices(-1, 2)
    with pytest.raises(tm.DTypeError, match="unravel_index: indices must be an int32 or int64"):
        tm.unravel_index(tm.zeros(2), (2,))
    with pytest.raises(tm.ShapeError, match="addbmm: batch1 of shape"):
        tm.addbmm(tm.zeros(2, 2), tm.zeros(3, 2, 4), tm.zeros(2, 4, 2))
    with pytest.raises(tm.ShapeError, match=r"addbmm: shapes \(3, 2\) and \(2, 2\) do not broadcast"):
        tm.addbmm(tm.zeros(3, 2), tm.zeros(1, 2, 4), tm.zeros(1, 4, 2))
    with pytest.raises(tm.ShapeError, match="vdot: expected 1-D and 1-D"):
        tm.vdot(tm.zeros(2, 2), tm.zeros(2))
    with pytest.raises(tm.ShapeError, match="chain_matmul: shapes"):
        tm.chain_matmul(tm.zeros(2, 3), tm.zeros(2, 3))
    with pytest.raises(tm.ShapeError, match="chain_matmul: argument 1 must be a 2-D tensor"):
        tm.chain_matmul(tm.zeros(2, 3), tm.zeros(3))


def test_jit_step_equals_eager():
    rng = np.random.default_rng(0)
    x, b1, b2 = rng.standard_normal((3, 4)), rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 5, 4))

    def step(a, p, q):
        out = tm.addbmm(a, p, q, beta=0.5) + tm.column_stack(tm.hsplit(a, 2)[::-1])
        return tm.select(out, 0, -1).sum() + tm.diagflat(tm.ravel(a[:1])).sum()
    eager = step(*map(tm.tensor, (x, b1, b2)))
    jitted = tm.jit(step)
    for _ in range(2):
        np.testing.assert_allclose(jitted(*map(tm.tensor, (x, b1, b2))).numpy(), eager.numpy(), rtol=1e-12)


def test_on_the_emulated_gpu(emulated_gpu):
    x = np.arange(12.0, dtype="float32").reshape(3, 4)
    b = np.ones((2, 4, 4), "float32")
    for op in (lambda t: tm.select(t, 1, 2), lambda t: tm.diagflat(t[0]), lambda t: tm.column_stack([t[0], t[1]]),
               lambda t: tm.addbmm(t, t[None].expand(2, 3, 4), tm.tensor(b, device=t.device)),
               lambda t: tm.unravel_index((t[0] * 2).int(), (2, 3))[1]):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_array_equal(got.numpy(), op(tm.tensor(x)).numpy())
    assert emulated_gpu.launches
