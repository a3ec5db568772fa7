"""``histogram`` (``graph/histogram_ops.py``), ``index_reduce`` (``graph/index_update_ops.py``)
and ``pdist``/``F.pdist`` (``graph/norm_ops.py``): values against PyTorch on drawn shapes
(size-1, odd, values on the edges, NaN), gradients against PyTorch's and central
differences in float64, errors, jit and the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from graph_gradcheck import check_grad, grads_match_torch
from strategies import examples

torch = pytest.importorskip("torch")


@given(st.lists(st.sampled_from([1, 2, 3, 7]), min_size=1, max_size=2).map(tuple), st.integers(1, 6),
       st.sampled_from(["data", "range", "edges"]), st.booleans(), st.booleans(), st.integers(0, 2 ** 16))
@examples(15)
def test_histogram_matches_torch(shape, bins, kind, weighted, density, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, shape).astype("float64") * 0.5           # many values exactly on edges
    w = rng.uniform(0.1, 2, shape) if weighted else None
    kwargs = {"density": density}
    if kind == "range":
        kwargs["range"] = (-1.0, 1.5)
    spec = bins
    if kind == "edges":
        edges = np.unique(np.concatenate([[-1.0, 1.5], rng.integers(-3, 4, bins) * 0.5]))
        spec = edges
    ours = tm.histogram(tm.tensor(x), tm.tensor(spec) if kind == "edges" else spec,
                        weight=None if w is None else tm.tensor(w), **kwargs)
    theirs = torch.histogram(torch.tensor(x), torch.tensor(spec) if kind == "edges" else spec,
                             weight=None if w is None else torch.tensor(w), **kwargs)
    np.testing.assert_allclose(ours.bin_edges.numpy(), theirs.bin_edges.numpy(), rtol=1e-15, atol=1e-15)
    if kind != "edges":     # the edges may differ in the last place: bin against the same edges
        theirs = torch.histogram(torch.tensor(x), torch.tensor(ours.bin_edges.numpy()),
                                 weight=None if w is None else torch.tensor(w), density=density)
    np.testing.assert_allclose(ours.hist.numpy(), theirs.hist.numpy(), rtol=1e-12, atol=1e-15)
    hist, edges = tm.tensor(x).histogram(tm.tensor(spec) if kind == "edges" else spec,
                                         weight=None if w is None else tm.tensor(w), **kwargs)
    np.testing.assert_allclose(hist.numpy(), theirs.hist.numpy(), rtol=1e-12, atol=1e-15)
    if weighted and not density:
        check_grad(lambda v: tm.histogram(tm.tensor(x), spec if kind != "edges" else tm.tensor(spec), weight=v,
                                          range=kwargs.get("range")).hist, w)


def test_histogram_float32_nan_and_empty():
    x = np.array([0.1, 0.7, np.nan, 0.7, 1.0, -2.0], "float32")
    ours, theirs = tm.histogram(tm.tensor(x), 4, range=(0.0, 1.0)), torch.histogram(torch.tensor(x), 4,
                                                                                    range=(0.0, 1.0))
    assert ours.hist.dtype == "float32"
    np.testing.assert_array_equal(ours.hist.numpy(), theirs.hist.numpy())
    np.testing.assert_allclose(ours.bin_edges.numpy(), theirs.bin_edges.numpy(), rtol=1e-7)
    empty = tm.histogram(tm.zeros(0), 3)
    np.testing.assert_array_equal(empty.hist.numpy(), torch.histogram(torch.zeros(0), 3).hist.numpy())
    np.testing.assert_allclose(empty.bin_edges.numpy(), torch.histogram(torch.zeros(0), 3).bin_edges.numpy())


@given(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple),
       st.sampled_from(["prod", "mean", "amax", "amin"]), st.booleans(), st.integers(0, 2 ** 16))
@examples(12)
def test_index_reduce_matches_torch(shape, reduce, include_self, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 2, shape)
    dim = int(rng.integers(-len(shape), len(shape)))
    index = rng.integers(0, shape[dim], int(rng.integers(1, 6)))
    src_shape = list(shape)
    src_shape[dim] = index.size
    src = rng.uniform(0.5, 2, src_shape)
    got = tm.index_reduce(tm.tensor(x), dim, tm.tensor(index), tm.tensor(src), reduce, include_self=include_self)
    want = torch.index_reduce(torch.tensor(x), dim, torch.tensor(index), torch.tensor(src), reduce,
                              include_self=include_self)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    method = tm.tensor(x).index_reduce(dim, tm.tensor(index), tm.tensor(src), reduce, include_self=include_self)
    np.testing.assert_allclose(method.numpy(), want.numpy(), rtol=1e-12)
    inplace = tm.tensor(x)
    assert inplace.index_reduce_(dim, tm.tensor(index), tm.tensor(src), reduce, include_self=include_self) is inplace
    np.testing.assert_allclose(inplace.numpy(), want.numpy(), rtol=1e-12)

    def ours(a, b):
        return tm.index_reduce(a, dim, tm.tensor(index), b, reduce, include_self=include_self)

    def theirs(a, b):
        return torch.index_reduce(a, dim, torch.tensor(index), b, reduce, include_self=include_self)
    check_grad(ours, x, src)
    grads_match_torch(ours, theirs, x, src)
    ints = rng.integers(-5, 6, shape)
    isrc = rng.integers(-5, 6, src_shape)
    np.testing.assert_array_equal(
        tm.index_reduce(tm.tensor(ints), dim, tm.tensor(index), tm.tensor(isrc), reduce).numpy(),
        torch.index_reduce(torch.tensor(ints), dim, torch.tensor(index), torch.tensor(isrc), reduce).numpy())


@given(st.sampled_from([(4, 17), (3, 5, 16), (9,), (2, 1, 33)]), st.sampled_from(["prod", "mean", "amax", "amin"]),
       st.booleans(), st.integers(0, 2 ** 16))
@examples(10)
def test_index_reduce_exact_on_wide_slices(shape, reduce, include_self, seed):
    """float32 slices wide enough for the kernel's vector lanes (and odd remainders),
    many entries per slice, NaN, signed zeros and ties: equal to PyTorch's, NaN where
    PyTorch's is, and zeros of PyTorch's sign but for amax/amin ties of 0.0 and -0.0,
    whose sign in PyTorch depends on its vector width (its scalar loop keeps the earlier
    value, its vector loop the later; tvmini keeps the later)."""
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(0, len(shape)))
    index = rng.integers(0, shape[dim], int(rng.integers(1, 3 * shape[dim] + 2)))
    src_shape = list(shape)
    src_shape[dim] = index.size
    x, src = (rng.choice([0.0, -0.0, 1.0, -1.5, 2.0, 0.5, np.nan], s, p=[.1, .1, .2, .2, .2, .18, .02])
              .astype("float32") for s in (shape, src_shape))
    got = tm.index_reduce(tm.tensor(x), dim, tm.tensor(index), tm.tensor(src), reduce, include_self=include_self)
    want = torch.index_reduce(torch.tensor(x), dim, torch.tensor(index), torch.tensor(src), reduce,
                              include_self=include_self).numpy()
    np.testing.assert_array_equal(got.numpy(), want)
    if reduce in ("prod", "mean"):
        np.testing.assert_array_equal(np.signbit(got.numpy()), np.signbit(want))


@given(st.integers(1, 5), st.integers(1, 4), st.sampled_from([0.0, 1.0, 1.5, 2.0, 3.0, np.inf]),
       st.integers(0, 2 ** 16))
@examples(12)
def test_pdist_matches_torch(n, m, p, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, m))
    got = tm.pdist(tm.tensor(x), p)
    want = torch.pdist(torch.tensor(x), p)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.pdist(tm.tensor(x), p).numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    if got.numel():
        check_grad(lambda a: tm.pdist(a, p), x)
        grads_match_torch(lambda a: tm.pdist(a, p), lambda a: torch.pdist(a, p), x)


@pytest.mark.parametrize("n", [2, 6, 97, 300])
def test_pdist_finds_each_pairs_rows(n):
    """Each output finds its pair ``i < j`` from its position (a float root, corrected
    exactly): integer rows make every distance exact, so one wrong pair shows."""
    x = np.random.default_rng(n).integers(-40, 41, (n, 3)).astype("float64")
    for p in (1.0, np.inf):
        np.testing.assert_array_equal(tm.pdist(tm.tensor(x), p).numpy(), torch.pdist(torch.tensor(x), p).numpy())
    got = tm.pdist(tm.tensor(x.astype("float32"))).numpy()
    np.testing.assert_allclose(got, torch.pdist(torch.tensor(x.astype("float32"))).numpy(), rtol=1e-6)


def test_pdist_zero_distance_has_zero_gradient():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0]])
    for p in (1.0, 2.0, 3.0):
        grads_match_torch(lambda a: tm.pdist(a, p), lambda a: torch.pdist(a, p), x)


def test_errors_as_pytorch():
    with pytest.raises(tm.DTypeError, match="histogram: input must be a float32 or float64"):
        tm.histogram(tm.tensor([1, 2]), 2)
    with pytest.raises(tm.ArgumentError, match="histogram: min should not exceed max"):
        tm.histogram(tm.zeros(3), 2, range=(3.0, 1.0))
    with pytest.raises(tm.ArgumentError, match="histogram: bins must be a positive int"):
        tm.histogram(tm.zeros(3), 0)
    with pytest.raises(tm.ShapeError, match="histogram: bin edges must be non-decreasing"):
        tm.histogram(tm.zeros(3), tm.tensor([1.0, 0.0], dtype="float32"))
    with pytest.raises(tm.ShapeError, match="histogram: weight of shape"):
        tm.histogram(tm.zeros(3), 2, weight=tm.zeros(2))
    with pytest.raises(tm.ArgumentError, match="index_reduce: reduce must be one of prod, mean, amax, amin"):
        tm.index_reduce(tm.zeros(3), 0, tm.tensor([0]), tm.zeros(1), "sum")
    with pytest.raises(tm.ShapeError, match="index_reduce: source of shape"):
        tm.index_reduce(tm.zeros(3, 2), 0, tm.tensor([0]), tm.zeros(2, 2), "prod")
    with pytest.raises(tm.IndexingError, match="index_reduce"):
        tm.index_reduce(tm.zeros(3), 0, tm.tensor([3]), tm.zeros(1), "prod")
    with pytest.raises(tm.ShapeError, match="pdist: only supports 2-D tensors"):
        tm.pdist(tm.zeros(3))
    with pytest.raises(tm.ArgumentError, match="pdist: only supports non-negative p values"):
        tm.pdist(tm.zeros(3, 2), -1.0)


def test_jit_step_equals_eager():
    rng = np.random.default_rng(0)
    x, s = rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 2, (2, 3))
    index = tm.tensor([3, 0])

    def step(a, b):
        return tm.pdist(tm.index_reduce(a, 0, index, b, "amax")).sum() + tm.index_reduce(a, 0, index, b, "mean").sum()
    eager = step(tm.tensor(x), tm.tensor(s))
    jitted = tm.jit(step)
    for _ in range(2):
        np.testing.assert_allclose(jitted(tm.tensor(x), tm.tensor(s)).numpy(), eager.numpy(), rtol=1e-12)


def test_on_the_emulated_gpu(emulated_gpu):
    x = np.array([[1.0, 0.5, 3.0], [4.0, 2.0, 0.25], [0.0, 1.0, 1.0]], "float32")
    for op in (lambda t: tm.histogram(t, 3, range=(0.0, 3.0)).hist,
               lambda t: tm.index_reduce(t, 1, tm.tensor([2, 2], device=t.device), t[:, :2], "prod"),
               lambda t: tm.index_reduce(t, 0, tm.tensor([1, 1, 0, 1], device=t.device), tm.cat([t, t[:1]]) * 2.0,
                                         "amax", include_self=False),
               lambda t: tm.pdist(t), lambda t: tm.pdist(t, 1.0)):
        got = op(tm.tensor(x, device="cuda"))
        assert got.device.kind == "cuda"
        np.testing.assert_allclose(got.numpy(), op(tm.tensor(x)).numpy(), rtol=1e-6)
    assert emulated_gpu.launches
