"""scatter_reduce / index_copy / index_fill / masked_scatter / index_put / put
(``graph/index_update_ops.py``): values against a numpy loop and PyTorch on drawn shapes
(size-1 axes, negative dims, an index smaller than the tensor, repeats), gradients
against central differences, the in-place forms, errors, and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples


@st.composite
def lines(draw):
    """(x, dim, index, src): ``index`` of ``x``'s rank, no larger than ``x`` off ``dim``,
    values in range (repeats likely); ``src`` no smaller than ``index``."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    axis = dim % len(shape)
    ishape = tuple(draw(st.integers(1, n)) for n in shape)
    ishape = ishape[:axis] + (draw(st.integers(1, 4)),) + ishape[axis + 1:]
    index = rng.integers(0, shape[axis], ishape)
    src_shape = tuple(m + draw(st.integers(0, 1)) for m in ishape)
    # distinct values: amax/amin have no ties, so the gradient is smooth where it is checked
    x = rng.permutation(int(np.prod(shape)) + int(np.prod(src_shape)))[:int(np.prod(shape))]
    src = rng.permutation(int(np.prod(src_shape)))
    return ((x.reshape(shape) * 0.25 - 1).astype("float64"), dim, index.astype("int64"),
            (src.reshape(src_shape) * 0.37 - 2).astype("float64"))


def _reduce_ref(x, dim, index, src, reduce, include_self):
    axis = dim % x.ndim
    gathered = {}
    for pos in np.ndindex(*index.shape):
        at = pos[:axis] + (index[pos],) + pos[axis + 1:]
        gathered.setdefault(at, []).append(src[pos])
    out = x.copy()
    for at, values in gathered.items():
        values = ([x[at]] if include_self else []) + values
        out[at] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce](values)
    return out


@given(lines(), st.sampled_from(["sum", "prod", "mean", "amax", "amin"]), st.booleans())
@examples(20)
def test_scatter_reduce_matches_numpy_and_torch(case, reduce, include_self):
    torch = pytest.importorskip("torch")
    x, dim, index, src = case
    got = tm.tensor(x).scatter_reduce(dim, tm.tensor(index), tm.tensor(src), reduce, include_self=include_self)
    np.testing.assert_allclose(got.numpy(), _reduce_ref(x, dim, index, src, reduce, include_self), rtol=1e-12)
    want = torch.tensor(x).scatter_reduce(dim, torch.tensor(index), torch.tensor(src), reduce,
                                          include_self=include_self)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_scatter_reduce_integer_mean_rounds_down_as_torch():
    torch = pytest.importorskip("torch")
    x, index, src = np.array([1, 0, 7]), np.array([0, 0, 1, 1, 1]), np.array([-3, -4, 5, 6, 2])
    for include_self in (True, False):
        got = tm.scatter_reduce(tm.tensor(x), 0, tm.tensor(index), tm.tensor(src), "mean", include_self=include_self)
        want = torch.scatter_reduce(torch.tensor(x), 0, torch.tensor(index), torch.tensor(src), "mean",
                                    include_self=include_self)
        assert got.dtype == "int64"
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@given(lines(), st.sampled_from(["sum", "prod", "mean", "amax", "amin"]), st.booleans())
@examples(15)
def test_scatter_reduce_gradients(case, reduce, include_self):
    x, dim, index, src = case
    ind = tm.tensor(index)
    check_grad(lambda a, s: a.scatter_reduce(dim, ind, s, reduce, include_self=include_self), x, src)


def test_scatter_reduce_gradient_shares_ties_as_torch():
    torch = pytest.importorskip("torch")
    x, index, src = np.array([2.0, 1.0, 0.0]), np.array([0, 0, 1, 2]), np.array([2.0, 1.0, 3.0, -1.0])
    grads = []
    for lib in (tm, torch):
        a, s = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        (a.scatter_reduce(0, lib.tensor(index), s, "amax") * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append((a.grad.numpy(), s.grad.numpy()))
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want)



@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_gradient_with_zeros_as_torch(include_self):
    """Zeros in a product: a lone zero's gradient is the product of the others, two
    zeros give every factor there 0, a zero in the tensor itself divides out."""
    torch = pytest.importorskip("torch")
    x = np.array([2.0, 0.0, 3.0, 0.0, 1.5])
    index = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4])
    src = np.array([0.0, 4.0, 0.0, 0.0, 2.0, 5.0, 0.0, -1.0, 3.0])
    head = np.arange(1.0, 6.0)
    grads = []
    for lib in (tm, torch):
        a, s = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        out = a.scatter_reduce(0, lib.tensor(index), s, "prod", include_self=include_self)
        (out * lib.tensor(head)).sum().backward()
        grads.append((out.detach().numpy(), a.grad.numpy(), s.grad.numpy()))
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want)


@st.composite
def slices(draw):
    """(x, dim, index, source): a 1-D ``index`` of distinct positions along ``dim`` and
    ``source`` with that many slices."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    axis = dim % len(shape)
    index = rng.permutation(shape[axis])[:draw(st.integers(1, shape[axis]))]
    source_shape = shape[:axis] + (len(index),) + shape[axis + 1:]
    return rng.standard_normal(shape), dim, index.astype("int64"), rng.standard_normal(source_shape)


@given(slices())
@examples(15)
def test_index_copy_and_index_fill_match_numpy_and_torch(case):
    torch = pytest.importorskip("torch")
    x, dim, index, source = case
    axis = dim % x.ndim
    want = x.copy()
    want[(slice(None),) * axis + (index,)] = source
    got = tm.tensor(x).index_copy(dim, tm.tensor(index), tm.tensor(source)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, torch.tensor(x).index_copy(dim, torch.tensor(index), torch.tensor(source)))
    filled = x.copy()
    filled[(slice(None),) * axis + (index,)] = -2.5
    index = np.where(index % 2, index - x.shape[axis], index)      # negatives count from the end
    got = tm.index_fill(tm.tensor(x), dim, tm.tensor(index), -2.5).numpy()
    np.testing.assert_array_equal(got, filled)
    np.testing.assert_array_equal(got, torch.index_fill(torch.tensor(x), dim, torch.tensor(index), -2.5))
    ind = tm.tensor(index % x.shape[axis])
    check_grad(lambda a, s: a.index_copy(dim, ind, s), x, source)
    check_grad(lambda a, v: a.index_fill(dim, tm.tensor(index), v), x, np.array(1.5))


@given(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=3), st.integers(0, 2 ** 16), st.booleans())
@examples(15)
def test_masked_scatter_matches_numpy_and_torch(shape, seed, broadcast_mask):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mask = rng.random(shape[1:] if broadcast_mask and len(shape) > 1 else shape) < 0.5
    source = rng.standard_normal(int(np.prod(shape)) + 2)
    full = np.broadcast_to(mask, x.shape)
    want = x.copy()
    want[full] = source[:full.sum()]
    got = tm.tensor(x).masked_scatter(tm.tensor(mask), tm.tensor(source)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, torch.tensor(x).masked_scatter(torch.tensor(mask), torch.tensor(source)))
    m = tm.tensor(mask)
    check_grad(lambda a, s: a.masked_scatter(m, s), x, source)


@given(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3), st.integers(0, 2 ** 16), st.booleans())
@examples(15)
def test_index_put_matches_numpy_and_torch(shape, seed, accumulate):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    k = int(rng.integers(1, len(shape) + 1))
    count = int(rng.integers(1, 6))
    indices = [rng.integers(-n, n, count) for n in shape[:k]]
    if not accumulate:           # distinct positions: the result is determined
        flat = np.unique(np.ravel_multi_index([i % n for i, n in zip(indices, shape)], shape[:k]))
        indices = [i.astype("int64") for i in np.unravel_index(flat, shape[:k])]
    values = rng.standard_normal((len(indices[0]),) + tuple(shape[k:]))
    want = x.copy()
    if accumulate:
        np.add.at(want, tuple(indices), values)
    else:
        want[tuple(indices)] = values
    got = tm.tensor(x).index_put(tuple(tm.tensor(i) for i in indices), tm.tensor(values), accumulate=accumulate)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    torch_got = torch.tensor(x).index_put(tuple(torch.tensor(i) for i in indices), torch.tensor(values),
                                          accumulate=accumulate)
    np.testing.assert_allclose(got.numpy(), torch_got.numpy(), rtol=1e-12)
    ind = tuple(tm.tensor(i) for i in indices)
    check_grad(lambda a, v: a.index_put(ind, v, accumulate=accumulate), x, values)


def test_index_put_bool_mask_broadcast_values_and_put():
    torch = pytest.importorskip("torch")
    x = np.arange(12.0).reshape(3, 4)
    mask = x[:, 0] > 3
    row = np.array([-1.0, -2, -3, -4])
    got = tm.tensor(x).index_put((tm.tensor(mask),), tm.tensor(row)).numpy()
    np.testing.assert_array_equal(got, torch.tensor(x).index_put((torch.tensor(mask),), torch.tensor(row)).numpy())
    index, source = np.array([[0, -1], [5, 5]]), np.array([[1.0, 2.0], [3.0, 4.0]])
    for accumulate in (False, True):
        if not accumulate:
            index = np.array([[0, -1], [5, 6]])
        got = tm.put(tm.tensor(x), tm.tensor(index), tm.tensor(source), accumulate=accumulate).numpy()
        want = torch.tensor(x).put(torch.tensor(index), torch.tensor(source), accumulate=accumulate).numpy()
        np.testing.assert_array_equal(got, want)
    ind = tm.tensor(index)
    check_grad(lambda a, s: a.put(ind, s, accumulate=True), x, source)


def test_in_place_forms_write_and_record():
    x = tm.zeros(3, 4)
    assert x.index_fill_(1, tm.tensor(np.array([1])), 2.0) is x
    x.index_copy_(0, tm.tensor(np.array([2])), tm.ones(1, 4))
    x.index_put_((tm.tensor(np.array([0, 0])), tm.tensor(np.array([3, 3]))), tm.tensor(1.0), accumulate=True)
    x.put_(tm.tensor(np.array([4])), tm.tensor(np.array([9.0], "float32")))
    x.masked_scatter_(x == 0, tm.full((12,), 7.0))
    x.scatter_reduce_(1, tm.tensor(np.array([[0, 0]] * 3)), tm.ones(3, 2), "sum")
    np.testing.assert_array_equal(x.numpy(), [[9, 2, 7, 2], [11, 2, 7, 7], [3, 1, 1, 1]])
    leaf = tm.tensor(np.ones(3), requires_grad=True)
    src = tm.tensor(np.array([5.0, 6.0]), requires_grad=True)
    y = leaf * 2
    y.index_copy_(0, tm.tensor(np.array([2, 0])), src)      # the source's gradient flows through the in-place op
    (y * tm.tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [3.0, 1.0])
    np.testing.assert_array_equal(leaf.grad.numpy(), [0.0, 4.0, 0.0])


def test_errors_as_pytorch():
    x = tm.zeros(3, 4)
    i = tm.tensor(np.array([[0, 1]]))
    with pytest.raises(tm.ArgumentError, match="reduce must be one of"):
        x.scatter_reduce(0, i, tm.ones(1, 2), "max")
    with pytest.raises(tm.DTypeError, match="scatter_reduce: src is float64"):
        x.scatter_reduce(0, i, tm.tensor(np.ones((1, 2))), "sum")
    with pytest.raises(tm.IndexingError, match="scatter_reduce: index 3 is out of range"):
        x.scatter_reduce(0, tm.tensor(np.array([[3]])), tm.ones(1, 1), "sum")
    with pytest.raises(tm.ShapeError, match=r"index_copy: source of shape \(3, 1\) must be \(3, 2\)"):
        x.index_copy(1, tm.tensor(np.array([0, 1])), tm.ones(3, 1))
    with pytest.raises(tm.IndexingError, match="index_fill: value must be a number or a 0-d tensor"):
        x.index_fill(0, tm.tensor(np.array([0])), tm.ones(2))
    with pytest.raises(tm.ShapeError, match="masked_scatter: the mask of shape .* has 12 Trues"):
        x.masked_scatter(x == 0, tm.ones(5))
    with pytest.raises(tm.IndexingError, match="index_put: index 4 is out of range for axis 1"):
        x.index_put((tm.tensor(np.array([0])), tm.tensor(np.array([4]))), tm.tensor(1.0))
    with pytest.raises(tm.ShapeError, match="index_put: values of shape"):
        x.index_put((tm.tensor(np.array([0, 1])),), tm.ones(3, 4))
    with pytest.raises(tm.ShapeError, match="put: index .* and source .* must have as many"):
        x.put(tm.tensor(np.array([0, 1])), tm.ones(3))


def test_cuda_kernels_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(3)
    x, src = rng.standard_normal((3, 5)).astype("float32"), rng.standard_normal((2, 5)).astype("float32")
    index = np.array([[0, 2, 2, 1, 0], [2, 2, 0, 1, 1]])
    ops = (lambda a, i, s: a.scatter_reduce(0, i, s, "amax", include_self=False),
           lambda a, i, s: a.scatter_reduce(0, i, s, "mean"),
           lambda a, i, s: a.index_put((i[0, :3], i[1, :3]), s[0, :3], accumulate=True),
           lambda a, i, s: a.masked_scatter(a > 0, s))
    for op in ops:
        got = op(*(tm.tensor(v, device="cuda") for v in (x, index, src)))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(*(tm.tensor(v) for v in (x, index, src))).numpy(), rtol=1e-6)
    grads = []
    for device in ("cuda", "cpu"):
        a, s = (tm.tensor(v, device=device, requires_grad=True) for v in (x, src))
        a.scatter_reduce(0, tm.tensor(index, device=device), s, "amin").sum().backward()
        grads.append([a.grad.numpy(), s.grad.numpy()])
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert emulated_gpu.launches


def test_new_ops_replay_under_jit_with_new_inputs():
    """A traced step through scatter_reduce, index_put, masked_scatter and, from the
    other new modules, logcumsumexp, quantile and cdist (forward and gradients) replays
    with new inputs as the eager step computes them."""
    w = tm.tensor(np.array([[0.3, -1.2, 2.5], [1.0, 0.5, -0.7]]), requires_grad=True)
    index = tm.tensor(np.array([[0, 1, 1], [1, 0, 0]]))
    rows = (tm.tensor(np.array([0, 1, 1])), tm.tensor(np.array([2, 0, 2])))

    def step(x):
        y = w.scatter_reduce(0, index, x, "amax", include_self=False) + w.index_put(rows, x[0], accumulate=True)
        y = y.masked_scatter(x > 0, x * 2) + tm.logcumsumexp(y, 1) + tm.quantile(y, 0.3, 1, keepdim=True)
        out = (y + tm.cdist(y, x)[:, :1]).sum()
        out.backward()
        return out
    jitted = tm.jit(step)
    for k in range(1, 4):
        x = tm.tensor(np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]) * k)
        w.grad = None
        got, got_grad = jitted(x).item(), w.grad.numpy()
        w.grad = None
        np.testing.assert_allclose(got, step(x).item(), rtol=1e-12)
        np.testing.assert_allclose(got_grad, w.grad.numpy(), rtol=1e-12)
