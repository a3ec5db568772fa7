"""Reordering, repeating and triangular ops (``graph/reorder_ops.py``) and the strict
matrix products (``graph/matmul_ops.py``): values against numpy and PyTorch on drawn
shapes (size-1 axes, negative dims, odd sizes), gradients against central differences,
the errors PyTorch raises, and the new kernels on the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples

SHAPES = st.lists(st.sampled_from([1, 2, 3, 5]), min_size=2, max_size=4).map(tuple)


def _same(got, want):
    """``got`` (a Tensor) equal to numpy's/PyTorch's ``want`` in shape and values."""
    want = want.numpy() if hasattr(want, "numpy") else want
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want)


@given(SHAPES, st.integers(-3, 3), st.data())
@examples(12)
def test_reorderings_match_numpy_and_torch(shape, k, data):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(len(shape) * 10 + k + 3).standard_normal(shape).astype("float32")
    t, T = tm.tensor(x), torch.tensor(x)
    ndim = len(shape)
    _same(tm.tril(t, k), np.tril(x, k))
    _same(t.triu(k), torch.triu(T, k))
    dims = tuple(data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                                    unique_by=lambda d: d % ndim)))
    _same(tm.flip(t, dims), np.flip(x, dims))
    shifts = tuple(data.draw(st.integers(-7, 7)) for _ in dims)
    _same(tm.roll(t, shifts, dims), np.roll(x, shifts, dims))
    _same(t.roll(shifts[0]), torch.roll(T, shifts[0]))
    reps = tuple(data.draw(st.integers(0, 2)) for _ in range(ndim + data.draw(st.integers(0, 1))))
    _same(t.repeat(*reps), T.repeat(*reps))
    _same(tm.tile(t, reps[-2:]), np.tile(x, reps[-2:]))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    _same(tm.repeat_interleave(t, abs(k), dim), np.repeat(x, abs(k), dim))
    _same(t.repeat_interleave(2), torch.repeat_interleave(T, 2))
    n = shape[dim]
    start = data.draw(st.integers(-n, n))
    length = data.draw(st.integers(0, n - (start % n if start < 0 else start)))
    _same(t.narrow(dim, start, length), T.narrow(dim, start, length))
    for got, want in zip(tm.unbind(t, dim), T.unbind(dim)):
        _same(got, want)
    _same(tm.movedim(t, 0, dim), np.moveaxis(x, 0, dim))
    _same(t.swapaxes(0, dim), np.swapaxes(x, 0, dim))
    _same(t.view_as(tm.zeros(x.size)), x.ravel())
    _same(t[:1].expand_as(t), np.broadcast_to(x[:1], shape))
    mask = x > 0
    _same(tm.masked_fill(t, tm.tensor(mask), -1.5), T.masked_fill(torch.tensor(mask), -1.5))
    _same(tm.diag(tm.tensor(x.reshape(shape[0], -1)), k), np.diag(x.reshape(shape[0], -1), k))
    _same(tm.diag(tm.tensor(x.ravel()), k), np.diag(x.ravel(), k))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x, m, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 5)), rng.standard_normal(4)
    check_grad(lambda a: tm.tril(a, 1), x)
    check_grad(lambda a: a.triu(-1), x)
    check_grad(lambda a: tm.diag(a, 2), m)
    check_grad(lambda a: tm.diag(a, -1), m)
    check_grad(lambda a: tm.diag(a, -1), v)
    check_grad(lambda a: tm.flip(a, (0, -1)), x)
    check_grad(lambda a: tm.roll(a, (1, -5), (0, 2)), x)
    check_grad(lambda a: a.roll(7), x)
    check_grad(lambda a: a.repeat(2, 1, 1, 3), x)
    check_grad(lambda a: a.repeat_interleave(2, dim=1), x)
    check_grad(lambda a: a.narrow(-1, 1, 2), x)
    check_grad(lambda a: tm.stack([u * (i + 1) for i, u in enumerate(a.unbind(1))]), x)
    check_grad(lambda a: tm.movedim(a, (0, 1), (2, 0)), x)
    check_grad(lambda a: a.expand_as(tm.zeros(3, 2, 3, 4)), x)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 3), st.integers(1, 4))
@examples(8)
def test_products_match_torch(b, n, k, p):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(b * 100 + n * 10 + k)
    a, c = rng.standard_normal((b, n, k)).astype("float32"), rng.standard_normal((b, k, p)).astype("float32")
    bias, vec = rng.standard_normal(p).astype("float32"), rng.standard_normal(k).astype("float32")
    A, C = torch.tensor(a), torch.tensor(c)
    close = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tm.mm(tm.tensor(a[0]), tm.tensor(c[0])).numpy(), torch.mm(A[0], C[0]).numpy(), **close)
    np.testing.assert_allclose(tm.bmm(tm.tensor(a), tm.tensor(c)).numpy(), torch.bmm(A, C).numpy(), **close)
    np.testing.assert_allclose(tm.mv(tm.tensor(a[0]), tm.tensor(vec)).numpy(), a[0] @ vec, **close)
    np.testing.assert_allclose(tm.dot(tm.tensor(vec), tm.tensor(vec)).numpy(), vec @ vec, **close)
    _same(tm.outer(tm.tensor(vec), tm.tensor(bias)), torch.outer(torch.tensor(vec), torch.tensor(bias)))
    got = tm.addmm(tm.tensor(bias), tm.tensor(a[0]), tm.tensor(c[0]), beta=0.5, alpha=-2)
    np.testing.assert_allclose(got.numpy(), torch.addmm(torch.tensor(bias), A[0], C[0], beta=0.5, alpha=-2).numpy(),
                               **close)
    got = tm.tensor(bias).baddbmm(tm.tensor(a), tm.tensor(c), beta=0, alpha=3)
    np.testing.assert_allclose(got.numpy(), torch.baddbmm(torch.tensor(bias), A, C, beta=0, alpha=3).numpy(), **close)


def test_product_gradients_and_beta_zero_ignores_nan():
    rng = np.random.default_rng(1)
    m1, m2, bias = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 1))
    check_grad(lambda i, a, b: tm.addmm(i, a, b, beta=0.5, alpha=2), bias, m1, m2)
    check_grad(lambda i, a, b: tm.baddbmm(i, a, b, alpha=-1), bias, m1[None], m2[None])
    check_grad(lambda a, b: tm.dot(a, b), m1[0], m2[:, 0])
    check_grad(lambda a, b: tm.outer(a, b), m1[0], m2[0])
    check_grad(lambda a, b: a.mv(b), m1, m2[:, 0])
    nan = tm.tensor(np.full((2, 4), np.nan, "float32"))
    got = tm.addmm(nan, tm.tensor(m1.astype("float32")), tm.tensor(m2.astype("float32")), beta=0)
    np.testing.assert_allclose(got.numpy(), m1 @ m2, rtol=1e-5)


def test_errors_name_the_op():
    x, m = tm.zeros(2, 3), tm.zeros(3)
    with pytest.raises(tm.ShapeError, match="tril: the tensor must have at least 2 dimensions"):
        tm.tril(m)
    with pytest.raises(tm.ShapeError, match="diag: expected a matrix or a vector"):
        tm.diag(tm.zeros(2, 2, 2))
    with pytest.raises(tm.ShapeError, match="flip: repeated axis"):
        x.flip(0, -2)
    with pytest.raises(tm.IndexingError, match="roll: axis 2 is out of range"):
        x.roll(1, 2)
    with pytest.raises(tm.ShapeError, match="roll: shifts"):
        x.roll((1, 2), 0)
    with pytest.raises(tm.ShapeError, match="repeat: the number of repeat sizes"):
        x.repeat(2)
    with pytest.raises(tm.TVMiniError, match="repeat_interleave: repeats must be a non-negative int"):
        x.repeat_interleave(-1)
    with pytest.raises(tm.ShapeError, match=r"repeat_interleave: repeats of shape \(2,\) must be 1-D with one count"):
        x.repeat_interleave(tm.tensor([1, 2]), dim=1)
    with pytest.raises(tm.ShapeError, match="output_size 4 differs from the counts' sum 3"):
        tm.repeat_interleave(tm.tensor([1, 2]), output_size=4)
    with pytest.raises(tm.ShapeError, match=r"narrow: start \(2\) \+ length \(2\) exceeds"):
        x.narrow(1, 2, 2)
    with pytest.raises(tm.IndexingError, match="narrow: start -4 is out of range"):
        x.narrow(1, -4, 1)
    with pytest.raises(tm.IndexingError, match="unbind: a 0-d tensor"):
        tm.tensor(1.0).unbind()
    with pytest.raises(tm.ShapeError, match="movedim: repeated axis"):
        tm.movedim(x, (0, 1), (0, 0))
    with pytest.raises(tm.ShapeError, match="mm: expected 2-D and 2-D tensors"):
        tm.mm(m, x)
    with pytest.raises(tm.ShapeError, match=r"mm: mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"):
        tm.mm(x, x)
    with pytest.raises(tm.ShapeError, match="bmm: expected the first two dimensions of batch2"):
        tm.bmm(tm.zeros(2, 2, 3), tm.zeros(3, 3, 4))
    with pytest.raises(tm.ShapeError, match="dot: inconsistent sizes"):
        tm.dot(m, tm.zeros(2))
    with pytest.raises(tm.ShapeError, match="mv: size mismatch"):
        tm.mv(x, tm.zeros(2))
    with pytest.raises(tm.DTypeError, match="mm: operands have different dtypes"):
        tm.mm(x, tm.zeros(3, 2, dtype="float64"))
    with pytest.raises(tm.ShapeError, match=r"addmm: shapes \(3,\) and \(2, 4\) do not broadcast"):
        tm.addmm(tm.zeros(3), x, tm.zeros(3, 4))
    with pytest.raises(tm.ShapeError, match="addmm: input of shape"):
        tm.addmm(tm.zeros(5, 2, 4), x, tm.zeros(3, 4))
    with pytest.raises(tm.DTypeError, match="addmm: a fractional factor"):
        ints = tm.zeros(2, 2, dtype="int64")
        tm.addmm(ints, ints, ints, alpha=0.5)


def test_kernels_on_the_emulated_gpu(emulated_gpu):
    x = np.random.default_rng(2).standard_normal((3, 4)).astype("float32")
    for op in (lambda a: tm.tril(a, -1), lambda a: a.triu(1), lambda a: tm.diag(a, 1), lambda a: tm.diag(a[0]),
               lambda a: tm.flip(a, -1), lambda a: tm.roll(a, (1, 2), (0, 1)), lambda a: a.repeat(2, 1),
               lambda a: tm.mm(a, a.T)):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(tm.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches


def test_repeat_interleave_with_per_element_counts_and_pytorchs_call_forms():
    """Counts as a tensor (one per element, or one for all; the length depends on their
    values), the one-argument form, output_size; the gradient adds the copies back."""
    x = np.arange(12.0).reshape(3, 4)
    counts = np.array([2, 0, 1, 3])
    t = tm.tensor(x)
    _same(t.repeat_interleave(tm.tensor(counts), dim=1), np.repeat(x, counts, 1))
    _same(t.repeat_interleave(tm.tensor([2]), dim=0, output_size=6), np.repeat(x, 2, 0))
    _same(tm.repeat_interleave(tm.tensor(counts)), np.repeat(np.arange(4), counts))
    _same(t.repeat_interleave(tm.tensor(np.array([1, 2, 0] * 4))), np.repeat(x.reshape(-1), [1, 2, 0] * 4))
    check_grad(lambda a: a.repeat_interleave(tm.tensor(counts), dim=1), x)
    torch = pytest.importorskip("torch")
    _same(t.repeat_interleave(tm.tensor(counts), dim=1),
          torch.repeat_interleave(torch.tensor(x), torch.tensor(counts), dim=1))
    _same(tm.repeat_interleave(tm.tensor(counts)), torch.repeat_interleave(torch.tensor(counts)))


def test_pytorchs_keyword_spellings():
    x = tm.tensor(np.arange(6.0).reshape(2, 3))
    assert x.transpose(dim0=0, dim1=1).shape == (3, 2)
    assert tm.matmul(x, other=x.T).shape == (2, 2) and tm.matmul(input=x, other=x.T).shape == (2, 2)
    _same(x.gather(1, tm.tensor([[2], [0]]), sparse_grad=False), np.array([[2.0], [3.0]]))
