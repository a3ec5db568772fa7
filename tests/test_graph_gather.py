"""gather / scatter / scatter_add / index_add / take (``graph/gather_ops.py``): values
against a numpy loop and PyTorch on drawn shapes (size-1 axes, negative dims, an index
smaller than the tensor), gradients against central differences, the in-place forms,
the errors PyTorch raises, and the CUDA kernels on the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples


@st.composite
def lines(draw, distinct=False):
    """(x, dim, index, src): ``index`` of ``x``'s rank, no larger off ``dim`` (its extent
    along ``dim`` up to x's), values in range (``distinct``: no repeats along a line)."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    axis = dim % len(shape)
    ishape = tuple(draw(st.integers(1, n)) for n in shape)
    if distinct:
        order = np.argsort(rng.random(ishape[:axis] + (shape[axis],) + ishape[axis + 1:]), axis=axis)
        index = np.take(order, np.arange(ishape[axis]), axis=axis)
    else:
        ishape = ishape[:axis] + (draw(st.integers(1, 4)),) + ishape[axis + 1:]
        index = rng.integers(0, shape[axis], ishape)
    src_shape = tuple(m + draw(st.integers(0, 1)) for m in ishape)
    return rng.standard_normal(shape).astype("float32"), dim, index.astype("int64"), \
        rng.standard_normal(src_shape).astype("float32")


def _positions(index, axis):
    """Each (position in ``index``, the element of the output it names), in C order:
    along one line of ``axis``, later entries come later."""
    for pos in np.ndindex(*index.shape):
        yield pos, pos[:axis] + (index[pos],) + pos[axis + 1:]


def _scatter_ref(x, dim, index, src, add):
    out, axis = x.copy(), dim % x.ndim
    for pos, at in _positions(index, axis):
        out[at] = out[at] + src[pos] if add else src[pos]
    return out


@given(lines())
@examples(12)
def test_gather_and_scatter_add_match_numpy_and_torch(case):
    torch = pytest.importorskip("torch")
    x, dim, index, src = case
    axis = dim % x.ndim
    got = tm.gather(tm.tensor(x), dim, tm.tensor(index)).numpy()
    want = np.empty(index.shape, x.dtype)
    for pos, at in _positions(index, axis):
        want[pos] = x[at]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, torch.gather(torch.tensor(x), dim, torch.tensor(index)).numpy())
    added = tm.tensor(x).scatter_add(dim, tm.tensor(index), tm.tensor(src)).numpy()
    np.testing.assert_allclose(added, _scatter_ref(x, dim, index, src, add=True), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(added, torch.tensor(x).scatter_add(dim, torch.tensor(index), torch.tensor(src)).numpy(),
                               rtol=1e-6, atol=1e-6)


@given(lines())
@examples(12)
def test_scatter_last_index_wins(case):
    """Repeats: the last along ``dim`` wins (PyTorch: unspecified); with one value for
    every entry, PyTorch's result is determined and must agree."""
    torch = pytest.importorskip("torch")
    x, dim, index, src = case
    got = tm.scatter(tm.tensor(x), dim, tm.tensor(index), tm.tensor(src)).numpy()
    np.testing.assert_array_equal(got, _scatter_ref(x, dim, index, src, add=False))
    filled = tm.tensor(x).scatter(dim, tm.tensor(index), value=2.5).numpy()
    np.testing.assert_array_equal(filled, _scatter_ref(x, dim, index, np.full(index.shape, 2.5, x.dtype), add=False))
    np.testing.assert_array_equal(filled, torch.tensor(x).scatter(dim, torch.tensor(index), 2.5).numpy())


@given(lines(distinct=True))
@examples(8)
def test_scatter_without_repeats_matches_torch(case):
    """Without repeated indices along a line, PyTorch's ``scatter`` is specified."""
    torch = pytest.importorskip("torch")
    x, dim, index, src = case
    got = tm.scatter(tm.tensor(x), dim, tm.tensor(index), tm.tensor(src)).numpy()
    np.testing.assert_array_equal(got, torch.tensor(x).scatter(dim, torch.tensor(index), torch.tensor(src)).numpy())


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    index = tm.tensor(np.array([[0, 2, 2, 1], [2, 2, 0, 1]]))      # repeats: accumulate / last wins
    check_grad(lambda a: tm.gather(a, 0, index), x)
    check_grad(lambda a: a.gather(-1, tm.tensor(np.array([[3, 3], [0, 1], [2, 2]]))), x)
    check_grad(lambda a, s: tm.scatter(a, 0, index, s), x, src)
    check_grad(lambda a, s: tm.scatter_add(a, 0, index, s), x, src)
    check_grad(lambda a: a.scatter(1, index[:, :2], value=-1.0), x)
    check_grad(lambda a, s: tm.index_add(a, 1, tm.tensor(np.array([3, 0, 3])), s, alpha=-2), x, rng.standard_normal((3, 3)))
    check_grad(lambda a: tm.take(a, tm.tensor(np.array([[-1, 0], [5, 5]]))), x)
    # src larger than index: the entries past it get no gradient
    check_grad(lambda a, s: tm.scatter(a, 1, index, s), x, rng.standard_normal((3, 5)))


def test_index_add_and_take_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, source = rng.standard_normal((4, 5)).astype("float32"), rng.standard_normal((4, 3)).astype("float32")
    index = np.array([4, 0, 4])
    got = tm.tensor(x).index_add(-1, tm.tensor(index), tm.tensor(source), alpha=3).numpy()
    want = torch.tensor(x).index_add(-1, torch.tensor(index), torch.tensor(source), alpha=3).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    positions = np.array([[-20, 19], [0, -1]])
    np.testing.assert_array_equal(tm.take(tm.tensor(x), tm.tensor(positions)).numpy(),
                                  torch.take(torch.tensor(x), torch.tensor(positions)).numpy())
    ints = np.arange(6).reshape(2, 3)       # integer tensors too, and 0-d ones
    np.testing.assert_array_equal(tm.tensor(ints).gather(1, tm.tensor(np.array([[2], [0]]))).numpy(), [[2], [3]])
    assert tm.gather(tm.tensor(np.array(7.0)), 0, tm.tensor(np.array(0))).item() == 7.0


def test_in_place_forms_write_into_the_tensor_and_record_history():
    x = tm.tensor(np.zeros((2, 3), "float32"))
    same = x.scatter_(1, tm.tensor(np.array([[2], [0]])), value=5.0)
    assert same is x
    np.testing.assert_array_equal(x.numpy(), [[0, 0, 5], [5, 0, 0]])
    x.scatter_add_(0, tm.tensor(np.array([[1, 1, 1]])), tm.tensor(np.ones((1, 3), "float32")))
    x.index_add_(1, tm.tensor(np.array([1])), tm.tensor(np.full((2, 1), 2.0, "float32")))
    np.testing.assert_array_equal(x.numpy(), [[0, 2, 5], [6, 3, 1]])
    leaf = tm.tensor(np.ones((2, 3)), requires_grad=True)
    src = tm.tensor(np.full((1, 3), 4.0), requires_grad=True)
    rows, weights = np.array([[1, 0, 1]]), np.arange(6.0).reshape(2, 3)
    y = leaf * 2
    y.scatter_(0, tm.tensor(rows), src)
    (y * tm.tensor(weights)).sum().backward()
    written = np.zeros((2, 3), bool)
    written[rows[0], np.arange(3)] = True
    np.testing.assert_array_equal(leaf.grad.numpy(), np.where(written, 0, 2 * weights))
    np.testing.assert_array_equal(src.grad.numpy(), weights[rows[0], np.arange(3)][None])
    with pytest.raises(tm.AutogradError):
        leaf.scatter_(0, tm.tensor(np.array([[0]])), value=1.0)


def test_errors_name_the_op():
    x = tm.tensor(np.zeros((3, 4), "float32"))
    good = tm.tensor(np.array([[0, 1]]))
    with pytest.raises(tm.IndexingError, match="gather: index -1 is out of range"):
        x.gather(0, tm.tensor(np.array([[-1]])))        # PyTorch refuses negative indices here
    with pytest.raises(tm.IndexingError, match="scatter: index 3 is out of range"):
        x.scatter(0, tm.tensor(np.array([[3]])), value=1.0)
    with pytest.raises(tm.IndexingError, match="gather: axis 2 is out of range"):
        x.gather(2, good)
    with pytest.raises(tm.ShapeError, match="gather: index of shape"):
        x.gather(0, tm.tensor(np.zeros((1, 5), "int64")))
    with pytest.raises(tm.ShapeError, match="gather: index of shape"):
        x.gather(0, tm.tensor(np.zeros(2, "int64")))
    with pytest.raises(tm.DTypeError, match="gather: indices must be an int32 or int64"):
        x.gather(0, tm.tensor(np.zeros((1, 1), "float32")))
    with pytest.raises(tm.DTypeError, match="scatter: src is float64"):
        x.scatter(0, good, tm.tensor(np.zeros((1, 2))))
    with pytest.raises(tm.ShapeError, match="scatter_add: index of shape .* no larger than src"):
        x.scatter_add(1, good, tm.tensor(np.zeros((1, 1), "float32")))
    with pytest.raises(tm.ShapeError, match="exactly one of src and value"):
        x.scatter(0, good)
    with pytest.raises(tm.ShapeError, match="index_add: index must be a 1-D"):
        x.index_add(0, good, x)
    with pytest.raises(tm.ShapeError, match="index_add: source of shape"):
        x.index_add(0, tm.tensor(np.array([0])), x)
    with pytest.raises(tm.IndexingError, match="index_add: index 3 is out of range"):
        x.index_add(0, tm.tensor(np.array([3])), tm.tensor(np.zeros((1, 4), "float32")))
    with pytest.raises(tm.DTypeError, match="index_add: a fractional factor"):
        tm.tensor(np.zeros(2, "int64")).index_add(0, tm.tensor(np.array([0])), tm.tensor(np.ones(1, "int64")),
                                                  alpha=0.5)
    with pytest.raises(tm.IndexingError, match="take: index 12 is out of range"):
        tm.take(x, tm.tensor(np.array([12])))
    with pytest.raises(tm.IndexingError, match="take: index -13 is out of range"):
        tm.take(x, tm.tensor(np.array([-13])))


def test_cuda_kernels_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(3)
    x, src = rng.standard_normal((3, 5)).astype("float32"), rng.standard_normal((2, 5)).astype("float32")
    index = np.array([[0, 2, 2, 1, 0], [2, 2, 0, 1, 1]])
    on = [tm.tensor(a, device="cuda") for a in (x, index, src)]
    for op in (lambda a, i, s: a.gather(0, i), lambda a, i, s: a.scatter(0, i, s),
               lambda a, i, s: a.scatter_add(0, i, s), lambda a, i, s: a.index_add(1, i[0], a),
               lambda a, i, s: tm.take(a, i)):
        got = op(*on)
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(*(tm.tensor(a) for a in (x, index, src))).numpy(), rtol=1e-6)
    grads = []
    for device in ("cuda", "cpu"):        # the gradient kernels: gather_grad, scatter_src_grad (and its reduction)
        a, s = (tm.tensor(v, device=device, requires_grad=True) for v in (x, src))
        (a.scatter(0, on[1].to(device), s).sum() + a.gather(1, on[1].to(device)).sum()).backward()
        grads.append([a.grad.numpy(), s.grad.numpy()])
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert emulated_gpu.launches
