"""searchsorted, bucketize, unique and unique_consecutive (graph/search_ops.py,
topi/search.py) against numpy formulas and PyTorch.

Hypothesis draws sequences with duplicates, infinities and NaNs (sorted with NaN last,
as ``sort`` leaves them), values equal to sequence elements (where left and right
differ), 1-D sequences for values of any shape and N-D ones sharing the values'
leading dimensions, size-1 and odd sizes; unique's inputs with many duplicates and
NaNs (each NaN distinct, as in PyTorch), bools and empty tensors.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from strategies import examples
from test_cuda import needs_nvcc

torch = pytest.importorskip("torch")

SIZES = (1, 2, 3, 5, 8, 13)


def _pool(rng, dtype, shape, nans):
    pool = np.array([-np.inf, -2.0, 0.0, 1.5, 3.0, np.inf] + ([np.nan] if nans else []))
    if not dtype.startswith("float"):
        pool = np.array([-7, -2, 0, 1, 3, 9])
    return np.asarray(pool[rng.integers(0, len(pool), shape)], dtype=dtype)


def _search_case(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32", "int64"]), label="dtype")
    nans = data.draw(st.booleans(), label="nans")
    lead = tuple(data.draw(st.lists(st.sampled_from(SIZES), max_size=2), label="lead"))
    n = data.draw(st.sampled_from(SIZES + (33,)), label="n")
    m = data.draw(st.sampled_from(SIZES), label="m")
    batched = bool(lead) and data.draw(st.booleans(), label="batched")
    seq = np.sort(_pool(rng, dtype, (lead + (n,)) if batched else (n,), nans), axis=-1)
    values = _pool(rng, dtype, lead + (m,), nans)
    return seq, values


def _numpy_searchsorted(seq, values, side):
    """numpy's searchsorted row by row (defined where neither holds a NaN)."""
    if seq.ndim == 1:
        return np.searchsorted(seq, values, side=side)
    rows_s, rows_v = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
    return np.stack([np.searchsorted(s, v, side=side) for s, v in zip(rows_s, rows_v)]).reshape(values.shape)


@examples(25)
@given(st.data())
def test_searchsorted_matches_torch_and_numpy(data):
    seq, values = _search_case(data)
    right = data.draw(st.booleans(), label="right")
    out_int32 = data.draw(st.booleans(), label="out_int32")
    got = tm.searchsorted(tm.tensor(seq), tm.tensor(values), right=right, out_int32=out_int32)
    want = torch.searchsorted(torch.from_numpy(seq), torch.from_numpy(values), right=right, out_int32=out_int32)
    assert got.dtype == ("int32" if out_int32 else "int64") and got.shape == values.shape
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    if not (np.isnan(seq).any() or np.isnan(values).any()):
        np.testing.assert_array_equal(got.numpy(), _numpy_searchsorted(seq, values, "right" if right else "left"))
    side = tm.searchsorted(tm.tensor(seq), tm.tensor(values), side="right" if right else "left")
    np.testing.assert_array_equal(side.numpy(), want.numpy())


@examples(15)
@given(st.data())
def test_searchsorted_through_a_sorter(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    n = data.draw(st.sampled_from(SIZES + (40,)), label="n")
    seq = _pool(rng, "float32", (n,), nans=False)
    values = _pool(rng, "float32", (7,), nans=False)
    sorter = np.argsort(seq, kind="stable")
    right = data.draw(st.booleans(), label="right")
    got = tm.searchsorted(tm.tensor(seq), tm.tensor(values), right=right, sorter=tm.tensor(sorter))
    np.testing.assert_array_equal(got.numpy(), np.searchsorted(seq, values, side="right" if right else "left",
                                                               sorter=sorter))
    want = torch.searchsorted(torch.from_numpy(seq), torch.from_numpy(values), right=right,
                              sorter=torch.from_numpy(sorter))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@examples(15)
@given(st.data())
def test_bucketize_matches_torch_and_numpy(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    boundaries = np.sort(_pool(rng, "float32", (data.draw(st.sampled_from(SIZES), label="n"),), nans=False))
    shape = tuple(data.draw(st.lists(st.sampled_from(SIZES), max_size=3), label="shape"))
    x = _pool(rng, "float32", shape, nans=False)
    right = data.draw(st.booleans(), label="right")
    got = tm.bucketize(tm.tensor(x), tm.tensor(boundaries), right=right)
    # right=False: boundaries[i-1] < x <= boundaries[i], the left insertion point
    np.testing.assert_array_equal(got.numpy(), np.searchsorted(boundaries, x, side="right" if right else "left"))
    want = torch.bucketize(torch.from_numpy(x), torch.from_numpy(boundaries), right=right)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.shape == shape and got.dtype == "int64"


def test_search_of_numbers_mixed_dtypes_and_nans():
    seq = tm.tensor(np.array([1.0, 2.0, np.nan], "float32"))
    for right in (False, True):     # PyTorch's answers where the sequence holds a NaN
        got = tm.searchsorted(seq, tm.tensor(np.array([1.5, np.nan, 3.0, 2.0], "float32")), right=right)
        want = torch.searchsorted(torch.tensor([1.0, 2.0, np.nan]), torch.tensor([1.5, np.nan, 3.0, 2.0]),
                                  right=right)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    number = tm.searchsorted(tm.tensor(np.array([1, 3, 5])), 3, right=True)
    assert number.shape == () and number.item() == 2
    mixed = tm.searchsorted(tm.tensor(np.array([1, 2, 3])), tm.tensor(np.array([1.5, 2.0], "float32")))
    np.testing.assert_array_equal(mixed.numpy(), [1, 1])
    assert tm.bucketize(2.5, tm.tensor(np.array([1.0, 2.0, 3.0]))).item() == 2


def test_search_errors_name_the_op_and_shapes():
    seq = tm.tensor(np.array([[1.0, 2.0]]))
    with pytest.raises(tm.ShapeError, match=r"searchsorted: .*\(1, 2\).*\(3,\)"):
        tm.searchsorted(seq, tm.tensor(np.array([1.0, 2.0, 3.0])))
    with pytest.raises(tm.TVMiniError, match="side and right can't be set to opposites"):
        tm.searchsorted(tm.tensor(np.array([1.0])), tm.tensor(np.array([1.0])), side="left", right=True)
    with pytest.raises(tm.TVMiniError, match="side must be 'left' or 'right'"):
        tm.searchsorted(tm.tensor(np.array([1.0])), tm.tensor(np.array([1.0])), side="middle")
    with pytest.raises(tm.ShapeError, match=r"bucketize: boundaries must be 1-D, got shape \(1, 2\)"):
        tm.bucketize(tm.tensor(np.array([1.0])), seq)
    with pytest.raises(tm.ShapeError, match="sorter must be an int64 tensor"):
        tm.searchsorted(tm.tensor(np.array([1.0, 2.0])), tm.tensor(np.array([1.0])), sorter=tm.tensor(np.array([0])))
    with pytest.raises(tm.DTypeError, match="searchsorted: not implemented for bool"):
        tm.searchsorted(tm.tensor(np.array([False, True])), tm.tensor(np.array([True])))


def _search_kernel():
    S, V = te.placeholder((1000,), name="S"), te.placeholder((64, 256), name="V")
    return S, V, topi.searchsorted(S, V, right=True)


def test_search_schedule_computes_the_steps_per_chunk():
    """CPU: every step (1000 elements: 10) computed inside the output's parallel loop
    over chunks of 512 values (a chunk's state in L1), not a pass over all values per
    step."""
    S, V, out = _search_kernel()
    text = str(tm.lower(topi.default_schedule(out), [S, V, out], name="searchsorted"))
    assert text.startswith("def searchsorted(S: float32[1000], V: float32[64, 256], searchsorted: int64[64, 256]):"
                           "\n  parallel for i0.i1.fused.outer in range(32):")
    assert text.count("allocate searchsorted.step") == 2 * 10
    assert "\n    allocate searchsorted.step9.v0: int32[2, 256]" in text


@needs_nvcc
def test_search_compiles_to_ptx_a_kernel_per_step():
    S, V, out = _search_kernel()
    f = tm.build(topi.default_schedule(out, "cuda"), [S, V, out], target="cuda", name="ptx_searchsorted")
    assert f.get_source("ptx").count(".entry") == 11


# ----------------------------------------------------------------------------- unique

def _unique_case(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    shape = tuple(data.draw(st.lists(st.sampled_from((0, 1, 2, 3, 5, 8)), max_size=3), label="shape"))
    dtype = data.draw(st.sampled_from(["float32", "float64", "int64", "int32", "bool"]), label="dtype")
    if dtype == "bool":
        return np.asarray(rng.integers(0, 2, shape), dtype=bool)
    return _pool(rng, dtype, shape, nans=data.draw(st.booleans(), label="nans"))


def _same(got, want):
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.dtype == str(want.numpy().dtype) and got.shape == tuple(want.shape)


@examples(25)
@given(st.data())
def test_unique_matches_torch_and_numpy(data):
    x = _unique_case(data)
    t, u = tm.tensor(x), torch.from_numpy(x)
    values, inverse, counts = tm.unique(t, return_inverse=True, return_counts=True)
    want = torch.unique(u, return_inverse=True, return_counts=True)
    for got, expected in zip((values, inverse, counts), want):
        _same(got, expected)
    # numpy's formula: every NaN distinct (equal_nan=False)
    nv, ni, nc = np.unique(x.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False)
    np.testing.assert_array_equal(values.numpy(), nv)
    np.testing.assert_array_equal(inverse.numpy().reshape(-1), ni.reshape(-1))
    np.testing.assert_array_equal(counts.numpy(), nc)
    _same(t.unique(), torch.unique(u))
    only_counts = t.unique(sorted=False, return_counts=True)
    assert isinstance(only_counts, tuple) and len(only_counts) == 2
    _same(only_counts[1], want[2])


@examples(25)
@given(st.data())
def test_unique_consecutive_matches_torch_and_numpy(data):
    x = _unique_case(data)
    t, u = tm.tensor(x), torch.from_numpy(x)
    got = tm.unique_consecutive(t, return_inverse=True, return_counts=True)
    want = torch.unique_consecutive(u, return_inverse=True, return_counts=True)
    for g, w in zip(got, want):
        _same(g, w)
    flat = x.reshape(-1)
    starts = np.ones(flat.size, bool)
    starts[1:] = flat[1:] != flat[:-1]
    np.testing.assert_array_equal(got[0].numpy(), flat[starts])
    np.testing.assert_array_equal(got[1].numpy().reshape(-1), np.cumsum(starts) - 1)
    _same(t.unique_consecutive(), torch.unique_consecutive(u))


def test_unique_of_a_0d_tensor():
    values, inverse = tm.unique(tm.tensor(np.float32(3.0)), return_inverse=True)
    assert values.shape == (1,) and inverse.shape == () and inverse.item() == 0


@examples(20)
@given(st.data())
def test_unique_slices_along_dim_match_torch_and_numpy(data):
    """Slices with many repeats (a small pool of rows), any dim, NaN-free (PyTorch
    leaves where NaN slices go unspecified); unique_consecutive the same."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    shape = tuple(data.draw(st.lists(st.sampled_from((1, 2, 3, 5)), min_size=1, max_size=3), label="shape"))
    dtype = data.draw(st.sampled_from(["float32", "int64", "bool"]), label="dtype")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = np.asarray(rng.integers(0, 2, shape), dtype=dtype)
    t, u = tm.tensor(x), torch.from_numpy(x)
    got = tm.unique(t, dim=dim, return_inverse=True, return_counts=True)
    for g, w in zip(got, torch.unique(u, dim=dim, return_inverse=True, return_counts=True)):
        _same(g, w)
    nv, ni, nc = np.unique(x, axis=dim, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(got[0].numpy(), nv)
    np.testing.assert_array_equal(got[1].numpy(), ni.reshape(-1))
    np.testing.assert_array_equal(got[2].numpy(), nc)
    _same(t.unique(dim=dim), torch.unique(u, dim=dim))
    consecutive = tm.unique_consecutive(t, dim=dim, return_inverse=True, return_counts=True)
    for g, w in zip(consecutive, torch.unique_consecutive(u, dim=dim, return_inverse=True, return_counts=True)):
        _same(g, w)


def test_unique_slices_with_nan_are_each_distinct_and_empty_slices():
    x = np.array([[1.0, 2.0], [np.nan, 1.0], [1.0, 2.0], [0.0, 5.0], [np.nan, 1.0]], "float32")
    values, inverse, counts = tm.unique(tm.tensor(x), dim=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(values.numpy(), [[0.0, 5.0], [1.0, 2.0], [np.nan, 1.0], [np.nan, 1.0]])
    np.testing.assert_array_equal(counts.numpy(), [1, 2, 1, 1])
    np.testing.assert_array_equal(values.numpy()[inverse.numpy()], x)
    empty = tm.unique(tm.tensor(np.zeros((0, 3), "float32")), dim=0, return_inverse=True, return_counts=True)
    assert [e.shape for e in empty] == [(0, 3), (0,), (0,)]
    with pytest.raises(tm.TVMiniError, match=r"0-sized dimensions in shape \(0, 3\) other than dim=1"):
        tm.unique(tm.tensor(np.zeros((0, 3), "float32")), dim=1)
    with pytest.raises(tm.TVMiniError, match="dim"):
        tm.unique_consecutive(tm.tensor(x), dim=2)


def test_search_and_unique_on_the_emulated_gpu(emulated_gpu):
    x = np.array([[3.0, np.nan, 1.0, 3.0], [2.0, 2.0, -1.0, 0.0]], "float32")
    seq = np.array([-1.0, 0.0, 2.0, 2.0, 3.0], "float32")
    results = []
    for device in ("cpu", "cuda"):
        t, s = tm.tensor(x, device=device), tm.tensor(seq, device=device)
        values, inverse, counts = t.unique(return_inverse=True, return_counts=True)
        results.append([tm.searchsorted(s, t).numpy(), tm.bucketize(t, s, right=True).numpy(), values.numpy(),
                        inverse.numpy(), counts.numpy(), t.unique_consecutive().numpy()])
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    assert "searchsorted" in launched and "consecutive_starts" in launched
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
