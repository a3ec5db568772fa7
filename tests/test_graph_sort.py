"""Scans and sorting of the graph layer (graph/sort_ops.py, topi/scan.py, topi/sort.py):
cumsum, cumprod, sort, argsort, topk, kthvalue, median and randperm.

Forward results are checked on hypothesis cases (shapes with size-1 axes, every dim,
small integers with many duplicates and NaNs, so ties decide the order) against a
numpy reference of PyTorch's stable order, and against PyTorch itself when it is
installed; gradients against central finite differences (cumprod with zeros in the
rows) and PyTorch's.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from graph_gradcheck import check_grad
from strategies import examples

try:
    import torch
except ImportError:         # the numpy references still check everything
    torch = None

DTYPES = ("float32", "float64", "int32", "int64")


def _array(data, dtype, shape):
    """Integers in [-3, 3] (many duplicates), as ``dtype``; floats get a few NaNs and
    a -0.0 (equal to 0.0: a tie kept in index order)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.integers(-3, 4, shape).astype(dtype)
    if dtype.startswith("float") and x.size and data.draw(st.booleans(), label="nans"):
        flat = x.reshape(-1)
        flat[rng.integers(0, x.size, max(1, x.size // 5))] = np.nan
        flat[rng.integers(0, x.size)] = -0.0
    return x


def _case(data, dtypes=DTYPES, min_dims=1, sizes=(1, 1, 2, 3, 5, 8, 17)):
    shape = tuple(data.draw(st.lists(st.sampled_from(sizes), min_size=min_dims, max_size=3),
                            label="shape"))
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1), label="dim")
    dtype = data.draw(st.sampled_from(dtypes), label="dtype")
    return _array(data, dtype, shape), dim


# ------------------------------------------------------------------------ references

def ref_argsort(x, axis, descending=False):
    """PyTorch's stable order along ``axis``: NaN above every number, equal elements
    in index order (descending too)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # the stable ascending order of the reversed row, read backwards: largest first,
    # and among equal elements the smallest index first
    n = x.shape[axis]
    backwards = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - backwards, axis)


def _same(got, want):
    """Equal, NaN equal to NaN, dtype included."""
    got = got.numpy() if isinstance(got, tm.Tensor) else got
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def _torch(x):
    return torch.tensor(x)


# ------------------------------------------------------------------------------- sort

@examples(30)
@given(st.data())
def test_sort_and_argsort_match_the_stable_order(data):
    x, dim = _case(data)
    descending = data.draw(st.booleans(), label="descending")
    t = tm.tensor(x)
    out = t.sort(dim, descending, stable=True)
    values, indices = out                       # unpacks, as torch.return_types.sort
    assert out.values is values and out.indices is indices
    want = ref_argsort(x, dim, descending)
    _same(indices, want.astype("int64"))
    _same(values, np.take_along_axis(x, want, dim))
    _same(tm.argsort(t, dim, descending), want.astype("int64"))
    _same(tm.sort(t, dim=dim, descending=descending).indices, want.astype("int64"))
    if torch is not None:
        tv, ti = torch.sort(_torch(x), dim=dim, descending=descending, stable=True)
        _same(values, tv.numpy())
        _same(indices, ti.numpy())


def test_sort_orders_nan_greatest_and_keeps_ties_in_index_order():
    nan = math.nan
    x = tm.tensor(np.array([3.0, nan, 1.0, 2.0, nan, 1.0, -0.0, 0.0], "float32"))
    v, i = x.sort()
    np.testing.assert_array_equal(i.numpy(), [6, 7, 2, 5, 3, 0, 1, 4])
    np.testing.assert_array_equal(v.numpy(), [0, 0, 1, 1, 2, 3, nan, nan])
    assert np.signbit(v.numpy()[0]) and not np.signbit(v.numpy()[1])
    v, i = x.sort(descending=True)
    np.testing.assert_array_equal(i.numpy(), [1, 4, 0, 3, 2, 5, 6, 7])
    ints = tm.tensor(np.array([2, 1, 2, 1, 2, 1]))
    np.testing.assert_array_equal(ints.sort(descending=True).indices.numpy(), [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(ints.argsort().numpy(), [1, 3, 5, 0, 2, 4])


def test_sort_of_bools_and_of_0d_and_empty_tensors():
    b = tm.tensor(np.array([True, False, True, False]))
    v, i = b.sort()
    assert v.dtype == "bool" and i.dtype == "int64"
    np.testing.assert_array_equal(v.numpy(), [False, False, True, True])
    np.testing.assert_array_equal(i.numpy(), [1, 3, 0, 2])
    s = tm.tensor(np.float32(5.0), requires_grad=True)
    for v, i in (s.sort(), s.sort(0), s.sort(-1, True), s.topk(1), s.kthvalue(1), s.median(0)):
        assert v.shape == () and i.shape == () and v.item() == 5.0 and i.item() == 0 and i.dtype == "int64"
    v.backward()
    assert s.grad.item() == 1.0
    assert s.argsort().shape == () and s.median().item() == 5.0
    with pytest.raises(tm.IndexingError):
        s.sort(1)
    e = tm.zeros(2, 0)
    v, i = e.sort(1)
    assert v.shape == (2, 0) and i.shape == (2, 0) and i.dtype == "int64"
    v, i = tm.zeros(0, 3).sort(0)
    assert v.shape == (0, 3)
    v, i = tm.tensor(np.arange(4.0)).topk(0)
    assert v.shape == (0,) and i.shape == (0,)


# ------------------------------------------------------------------------- topk, kthvalue

@examples(30)
@given(st.data())
def test_topk_is_the_head_of_the_stable_sort(data):
    x, dim = _case(data)
    n = x.shape[dim]
    k = data.draw(st.integers(0, n), label="k")
    largest = data.draw(st.booleans(), label="largest")
    values, indices = tm.tensor(x).topk(k, dim, largest=largest, sorted=data.draw(st.booleans(), label="sorted"))
    want = np.take(ref_argsort(x, dim, descending=largest), np.arange(k), axis=dim)
    _same(indices, want.astype("int64"))
    _same(values, np.take_along_axis(x, want, dim))
    if torch is not None:
        tv, ti = torch.topk(_torch(x), k, dim, largest=largest)
        _same(values, tv.numpy())
        # PyTorch's choice among equal elements is its own: its indices name the same values
        _same(np.take_along_axis(x, ti.numpy(), dim), tv.numpy())


@examples(30)
@given(st.data())
def test_kthvalue_and_median_along_a_dim(data):
    x, dim = _case(data)
    n = x.shape[dim]
    keepdim = data.draw(st.booleans(), label="keepdim")
    k = data.draw(st.integers(1, n), label="k")
    order = ref_argsort(x, dim)
    values, indices = tm.tensor(x).kthvalue(k, dim, keepdim)
    want = np.take(order, [k - 1], axis=dim)
    squeeze = (lambda a: a) if keepdim else (lambda a: np.squeeze(a, dim))
    _same(indices, squeeze(want).astype("int64"))
    _same(values, squeeze(np.take_along_axis(x, want, dim)))
    # the lower median; a row with a NaN has the median NaN, at its first NaN
    values, indices = tm.median(tm.tensor(x), dim, keepdim=keepdim)
    position = np.take(order, [(n - 1) // 2], axis=dim)
    if x.dtype.kind == "f":
        nans = np.isnan(x)
        first_nan = np.argmax(nans, axis=dim, keepdims=True)
        position = np.where(nans.any(axis=dim, keepdims=True), first_nan, position)
    _same(indices, squeeze(position).astype("int64"))
    _same(values, squeeze(np.take_along_axis(x, position, dim)))
    if torch is not None:
        tv, ti = torch.kthvalue(_torch(x), k, dim, keepdim)
        _same(tm.tensor(x).kthvalue(k, dim, keepdim).values, tv.numpy())
        tv, ti = torch.median(_torch(x), dim, keepdim)
        _same(values, tv.numpy())


@examples(20)
@given(st.data())
def test_median_of_all_elements(data):
    x, _ = _case(data)
    got = tm.tensor(x).median()
    flat = np.sort(x.reshape(-1), kind="stable")
    want = flat[(flat.size - 1) // 2] if not np.isnan(flat).any() else np.nan    # a NaN makes it NaN
    assert got.shape == () and got.dtype == str(x.dtype)
    _same(got, np.asarray(want, x.dtype))
    if torch is not None:
        _same(got, torch.median(_torch(x)).numpy())


def test_argument_errors_name_the_op():
    x = tm.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(tm.IndexingError, match="topk: k=4"):
        x.topk(4)
    with pytest.raises(tm.IndexingError, match="kthvalue: k=0"):
        x.kthvalue(0)
    with pytest.raises(tm.IndexingError, match="sort: axis 2"):
        x.sort(2)
    with pytest.raises(tm.IndexingError, match="cumsum: axis -3"):
        x.cumsum(-3)
    with pytest.raises(tm.DTypeError, match="median: not implemented for bool"):
        tm.tensor(np.array([True])).median()
    with pytest.raises(tm.ShapeError, match="median"):
        tm.zeros(0, 2).median(0)
    assert math.isnan(tm.zeros(0).median().item())


# ------------------------------------------------------------------------------- gradients

def _distinct(shape, seed=0):
    """Values far apart (a permutation, scaled): finite differences keep the order."""
    rng = np.random.default_rng(seed)
    return rng.permutation(math.prod(shape)).reshape(shape) * 0.5 + rng.uniform(-0.1, 0.1, shape)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_sort_topk_kthvalue_median_gradients_go_to_the_source_positions(dim):
    x = _distinct((3, 4))
    check_grad(lambda t: t.sort(dim).values, x)
    check_grad(lambda t: t.sort(dim, descending=True).values * 2.0, x)
    check_grad(lambda t: t.topk(2, dim).values, x)
    check_grad(lambda t: t.topk(2, dim, largest=False).values, x)
    check_grad(lambda t: t.kthvalue(2, dim).values, x)
    check_grad(lambda t: t.kthvalue(3, dim, keepdim=True).values, x)
    check_grad(lambda t: t.median(dim).values, x)
    check_grad(lambda t: t.median(), x)
    t = tm.tensor(x, requires_grad=True)
    for indices in (t.sort(dim).indices, t.argsort(dim), t.topk(2, dim).indices, t.kthvalue(1, dim).indices):
        assert not indices.requires_grad and indices.grad_fn is None


def test_gradients_match_pytorch_with_ties():
    """Ties: each value's gradient goes to the one index returned with it; median()
    shares its gradient evenly among the elements equal to it, as PyTorch's."""
    x = np.array([[1.0, 2.0, 2.0, 3.0, 2.0], [0.0, 0.0, 1.0, -1.0, 0.0]])
    head = np.arange(1.0, 6.0)
    t = tm.tensor(x, requires_grad=True)
    v, i = t.sort(1, stable=True)
    (v * tm.tensor(head)).sum().backward()
    want = np.zeros_like(x)
    np.put_along_axis(want, i.numpy(), np.broadcast_to(head, x.shape), 1)
    np.testing.assert_array_equal(t.grad.numpy(), want)
    t = tm.tensor(x[0], requires_grad=True)
    t.median().backward()
    np.testing.assert_allclose(t.grad.numpy(), [0, 1 / 3, 1 / 3, 0, 1 / 3])
    if torch is not None:
        u = torch.tensor(x, requires_grad=True)
        tv, _ = torch.sort(u, dim=1, stable=True)
        (tv * torch.tensor(head)).sum().backward()
        t = tm.tensor(x, requires_grad=True)
        (t.sort(1, stable=True).values * tm.tensor(head)).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), u.grad.numpy())
        u = torch.tensor(x, requires_grad=True)
        u.median().backward()
        t = tm.tensor(x, requires_grad=True)
        t.median().backward()
        np.testing.assert_allclose(t.grad.numpy(), u.grad.numpy())


# ----------------------------------------------------------------------------------- scans

@examples(30)
@given(st.data())
def test_cumsum_and_cumprod_match_numpy(data):
    x, dim = _case(data, DTYPES + ("bool",), min_dims=0, sizes=(1, 1, 2, 3, 5, 17, 70))   # 70: in blocks
    if x.dtype == bool:
        x = x > 0
    t = tm.tensor(x)
    integer = x.dtype.kind in "biu"
    axis = dim % max(x.ndim, 1)
    for op in ("cumsum", "cumprod"):
        want = getattr(np, op)(x.reshape(x.shape or (1,)), axis=axis,
                               dtype="int64" if integer else None).reshape(x.shape)
        got = getattr(t, op)(dim)
        assert got.shape == x.shape and got.dtype == str(want.dtype), (op, got.dtype, want.dtype)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5 if x.dtype == np.float32 else 1e-12)
        if torch is not None:
            tw = getattr(torch, op)(_torch(x), dim)
            assert str(tw.dtype) == f"torch.{got.dtype}"
            np.testing.assert_allclose(got.numpy(), tw.numpy(), rtol=1e-5)
    got = tm.cumsum(t, dim, dtype="float64")
    assert got.dtype == "float64"
    np.testing.assert_allclose(got.numpy(), np.cumsum(x.reshape(x.shape or (1,)).astype("float64"), axis=axis)
                               .reshape(x.shape))


@pytest.mark.parametrize("n", [1, 2, 7, 63, 64, 65, 100, 130, 515])
def test_scans_are_right_for_every_row_length(n):
    """Rows of 1 (each element its own prefix), short ones, ones that split into
    vector lanes, and long ones scanned in blocks of 8 (65 = 8 blocks and one of 1,
    130 = 16 and one of 2; 515 = 64 blocks and one of 3, whose 65 totals are scanned
    in blocks again), along the innermost and an outer axis, forward, and reversed
    through the gradients."""
    rng = np.random.default_rng(n)
    for shape, dim in (((3, n), 1), ((n, 3), 0), ((n,), 0)):
        x = rng.uniform(0.9, 1.1, shape)
        np.testing.assert_allclose(tm.tensor(x).cumsum(dim).numpy(), np.cumsum(x, dim), rtol=1e-12)
        np.testing.assert_allclose(tm.tensor(x).cumprod(dim).numpy(), np.cumprod(x, dim), rtol=1e-12)
        ints = rng.integers(-9, 10, shape).astype("int32")
        np.testing.assert_array_equal(tm.tensor(ints).cumsum(dim).numpy(), np.cumsum(ints, dim, dtype="int64"))
        g = rng.normal(size=shape)
        x.reshape(-1)[n // 2] = 0.0 if n > 1 else x.reshape(-1)[0]
        t = tm.tensor(x, requires_grad=True)
        (t.cumsum(dim) * tm.tensor(g)).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), np.flip(np.cumsum(np.flip(g, dim), dim), dim), rtol=1e-12,
                                   atol=1e-12)        # another summation order: cancellation near 0
        t.grad = None
        (t.cumprod(dim) * tm.tensor(g)).sum().backward()
        want = np.zeros(shape)               # the product of the other prefix elements, element by element
        for idx in np.ndindex(*shape):
            others = x.copy()
            others[idx] = 1.0
            rows = np.cumprod(others, dim) * g
            mask = np.arange(shape[dim]).reshape([-1 if a == dim else 1 for a in range(len(shape))]) >= idx[dim]
            keep = [slice(None) if a == dim else slice(idx[a], idx[a] + 1) for a in range(len(shape))]
            want[idx] = (rows * mask)[tuple(keep)].sum()
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-10, atol=1e-12)


def test_float16_scans_accumulate_in_float32():
    x = np.ones(3000, "float16")
    got = tm.tensor(x).cumsum(0)
    assert got.dtype == "float16" and got.numpy()[-1] == np.float16(3000)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_gradient_is_the_reversed_cumsum(dim):
    x = np.random.default_rng(0).normal(size=(3, 4))
    check_grad(lambda t: t.cumsum(dim), x)
    t = tm.tensor(x, requires_grad=True)
    g = np.random.default_rng(1).normal(size=(3, 4))
    t.cumsum(dim).backward(tm.tensor(g))
    np.testing.assert_allclose(t.grad.numpy(), np.flip(np.cumsum(np.flip(g, dim), dim), dim), rtol=1e-12)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_cumprod_gradient_with_zeros(dim, zeros):
    """No zero: PyTorch's formula (a reversed cumsum of g * out over x); one zero in a
    row: finite differences (cumprod is multilinear, exact up to rounding); two: the
    same, every position past the first zero gets 0."""
    rng = np.random.default_rng(zeros)
    x = rng.uniform(0.5, 1.5, (3, 4)) * rng.choice([-1, 1], (3, 4))
    x[1, 1] = 0 if zeros else x[1, 1]
    if zeros == 2:
        x[1, 3] = x[2, 1] = 0
    check_grad(lambda t: t.cumprod(dim), x)
    g = rng.normal(size=(3, 4))
    t = tm.tensor(x, requires_grad=True)
    t.cumprod(dim).backward(tm.tensor(g))
    if not zeros:
        out = np.cumprod(x, dim)
        want = np.flip(np.cumsum(np.flip(g * out, dim), dim), dim) / x
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12)
    if torch is not None:
        u = torch.tensor(x, requires_grad=True)
        torch.cumprod(u, dim).backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), u.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_integer_scans_record_no_gradient_and_float_ones_compose():
    t = tm.tensor(np.arange(4.0), requires_grad=True)
    assert not tm.cumsum(t, 0, dtype="int64").requires_grad
    check_grad(lambda u: (u.cumsum(0) * u).cumprod(0).sum(), np.array([0.5, -1.0, 2.0]))


def test_default_cpu_schedules_of_scans_and_sorts():
    """A short outer scan: the ``where=k <= i`` mask becomes the loop bound (half the
    steps of the full axis), the innermost axis stays the contiguous loop. A long one
    is cut into blocks of 8 (each element sums at most a block), its block totals
    scanned the same way while they are many. A short row's ranks (sorted by
    counting) are computed once, as a whole stage, before the reduction that reads
    them by row (not again inside it for every output element)."""
    X = te.placeholder((32, 16), name="X")
    Y = topi.cumsum(X, 0)
    text = str(tm.lower(topi.default_schedule(Y, "llvm"), [X, Y], name="cumsum"))
    assert "range(i0 + 1)" in text, text
    X = te.placeholder((1000, 16), name="X")
    Y = topi.cumsum(X, 0)
    text = str(tm.lower(topi.default_schedule(Y, "llvm"), [X, Y], name="cumsum"))
    assert "cumsum.blocks: float32[125, 16]" in text and "range(min(8, " in text, text      # blocks of 8
    assert "cumsum.totals.blocks: float32[16, 16]" in text, text        # the 125 totals scanned in blocks too
    X = te.placeholder((8, 32), name="X")
    Y = topi.argsort(X, 1)
    text = str(tm.lower(topi.default_schedule(Y, "llvm"), [X, Y], name="argsort"))
    assert "\n  allocate sort_rank: int32[8, 32] in global" in text, text


def test_innermost_scans_run_rows_in_parallel_with_block_lanes():
    """A long scan along the contiguous axis: one parallel loop over rows, each row's
    stages inside it; the in-block scans add one element per step to a block's vector
    lanes (masked by a select, no guard). Same terms in the same order as the
    definition: equal bit for bit to the definition run as plain loops, reversed too."""
    for reverse in (False, True):
        X = te.placeholder((64, 1000), name="X")
        Y = topi.cumsum(X, 1, reverse=reverse)
        sch = topi.default_schedule(Y, "llvm")
        text = str(tm.lower(sch, [X, Y], name="cumsum"))
        assert text.startswith("def cumsum(X: float32[64, 1000], cumsum: float32[64, 1000]):\n  parallel for i0")
        assert text.count("parallel for") == 1 and "\n    allocate cumsum.within: float32[1, 1000]" in text
        assert "for u in range(8):\n        vectorized for i1.inner in range(8):" in text
        x = np.random.default_rng(0).standard_normal((64, 1000)).astype("float32")
        got = np.empty_like(x)
        tm.build(sch, [X, Y], name=f"cumsum_rows_{reverse}")(x, got)
        plain = np.empty_like(x)
        tm.build(te.create_schedule(Y.op), [X, Y], name=f"cumsum_plain_{reverse}")(x, plain)
        np.testing.assert_array_equal(got, plain)
        want = np.flip(np.cumsum(np.flip(x, 1), 1), 1) if reverse else np.cumsum(x, 1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------- randperm

def test_randperm_is_a_reproducible_permutation():
    tm.manual_seed(123)
    a = tm.randperm(50)
    tm.manual_seed(123)
    b = tm.randperm(50)
    c = tm.randperm(50)
    assert a.dtype == "int64" and a.shape == (50,)
    np.testing.assert_array_equal(np.sort(a.numpy()), np.arange(50))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(tm.randperm(20, generator=g1).numpy(), tm.randperm(20, generator=g2).numpy())
    f = tm.randperm(5, dtype="float32")
    assert f.dtype == "float32" and sorted(f.numpy().tolist()) == [0, 1, 2, 3, 4]
    assert tm.randperm(0).shape == (0,) and tm.randperm(1).numpy().tolist() == [0]
    with pytest.raises(tm.ShapeError):
        tm.randperm(-1)


def test_randperm_spreads_every_element_over_every_position():
    """Over many draws of a permutation of 4, each element lands at each position
    about a quarter of the time (a chi-square check, loose)."""
    tm.manual_seed(0)
    counts = np.zeros((4, 4))
    for _ in range(400):
        p = tm.randperm(4).numpy()
        counts[p, np.arange(4)] += 1
    chi2 = ((counts - 100) ** 2 / 100).sum()
    assert chi2 < 40, counts


def test_randperm_is_refused_inside_jit():
    @tm.jit
    def step(x):
        return x[tm.randperm(3)]
    with pytest.raises(tm.TVMiniError, match="randperm"):
        step(tm.tensor(np.arange(3.0)))


# ------------------------------------------------------------------------------- jit, cuda

def test_sort_and_scans_trace_under_jit():
    @tm.jit
    def step(x):
        v, i = x.sort(1, descending=True)
        return v + x.cumsum(1) + x.topk(1, 1).values, i

    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=(2, 5)).astype("float32")
        v, i = step(tm.tensor(x))
        order = ref_argsort(x, 1, descending=True)
        want = np.take_along_axis(x, order, 1) + np.cumsum(x, 1) + x.max(1, keepdims=True)
        np.testing.assert_allclose(v.numpy(), want, rtol=1e-6)
        np.testing.assert_array_equal(i.numpy(), order)


def test_scans_and_sorts_in_a_jit_training_step_equal_eager(monkeypatch):
    """A step whose loss sorts rows and scans along the batch and along the rows: the
    row-wise kernels may run in batch lanes (``graph.jit.rows`` proves which: a scan
    or sort along the batch is not split), and the step equals the eager one."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")

    def make():
        tm.manual_seed(0)
        return tm.nn.Linear(8, 8)

    def step(model, opt, x):
        opt.zero_grad()
        y = model(x).tanh()
        loss = (y.sort(1, descending=True).values[:, :3].sum() + (y.cumsum(0) ** 2).mean()
                + y.cumprod(1).sum() + y.topk(2, 1).values.sum() + y.median(1).values.sum())
        loss.backward()
        opt.step()
        return loss

    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    results = []
    for jit in (False, True):
        model = make()
        opt = tm.optim.SGD(model.parameters(), lr=0.01)
        run = tm.jit(lambda t: step(model, opt, t)) if jit else (lambda t: step(model, opt, t))
        losses = [run(tm.tensor(x)).item() for _ in range(3)]
        results.append((losses, model.weight.numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5, atol=1e-6)


def test_sort_and_scans_on_the_emulated_gpu(emulated_gpu):
    """The kernels with their default CUDA schedules (run by the emulator) give the
    CPU's results, gradients included; randperm gives the CPU's permutation."""
    x = np.random.default_rng(0).integers(-3, 4, (3, 9)).astype("float32")
    x[0, 2] = np.nan
    results = []
    for device in ("cpu", "cuda"):
        t = tm.tensor(x, device=device, requires_grad=True)
        v, i = t.sort(1, descending=True)
        c = t.cumprod(0)
        loss = tm.where(v == v, v, 0.0).sum() + tm.where(c == c, c, 0.0).sum() + t.cumsum(1).sum()
        loss.backward()
        tm.manual_seed(5)
        results.append([v.numpy(), i.numpy(), c.numpy(), t.topk(2, 0).indices.numpy(), t.median(1).indices.numpy(),
                        t.kthvalue(3, 1).values.numpy(), t.grad.numpy(), tm.randperm(7, device=device).numpy()])
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    for op in ("argsort", "gather_grad", "cumsum", "cumprod_grad", "median_index", "randperm_keys"):
        assert op in launched, (op, launched)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)
