"""The bitonic sorting network (topi/sort_network.py) behind topi.sort's long rows.

The network's result must be exactly the stable sort (values and indices) whatever
the rows hold: NaNs, infinities, -0.0 next to 0.0, many duplicates, integer extremes
(the padding's sentinels), ascending and descending, along any axis, for rows of any
length (padded to a power of two). Kernels are built at topi level with the network
threshold lowered (``network_everywhere``) so that short rows, cheap to build, go
through it too; the graph ops are checked at the default threshold on one long row
against numpy and PyTorch. Then the CPU schedule (passes per row, vector lanes,
parallel rows), the CUDA schedule (PTX where nvcc is installed, the emulator).
"""
import contextlib
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.topi import sort_network
from strategies import examples
from test_cuda import needs_nvcc
from test_graph_sort import ref_argsort

SORT = sys.modules["tvmini.topi.sort"]
DTYPES = ("float32", "float64", "int32", "int64", "int8", "uint8", "bool")


@contextlib.contextmanager
def network_everywhere(block=None):
    """Every row of two or more elements sorted by the network (inside the block);
    rows longer than ``block`` held as blocks of it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SORT, "NETWORK_MIN", 2)
        if block is not None:
            patch.setattr(sort_network, "BLOCK", block)
        yield


def _values(rng, dtype, shape):
    """Few distinct values (ties everywhere); floats with NaN, +-inf and -0.0, integers
    with their dtype's extremes (equal to the padding's sentinel)."""
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.startswith("float"):
        pool = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.0, 3.0], dtype)
    else:
        info = np.iinfo(dtype)
        pool = np.array([info.min, info.max, 0, 1, 2, info.max - 1], dtype)
    return pool[rng.integers(0, len(pool), shape)]


def _build(outs, inputs, name):
    return tm.build(topi.default_schedule(outs), inputs + list(outs), name=name)


def _sorted_by_network(x, axis, descending, block=None):
    X = te.placeholder(x.shape, name="X", dtype=str(x.dtype))
    with network_everywhere(block):
        values, indices = topi.sort(X, axis, descending)
        assert values.op.tag == sort_network.SELECT_TAG or x.shape[axis] == 1
        f = _build([values, indices], [X], f"network_sort_{x.dtype}_{len(x.shape)}")
    got_values, got_indices = np.empty(x.shape, x.dtype), np.empty(x.shape, "int64")
    f(x, got_values, got_indices)
    return got_values, got_indices


@examples(20)
@given(st.data())
def test_network_sort_is_the_stable_sort(data):
    shape = tuple(data.draw(st.lists(st.sampled_from([1, 2, 3, 5, 8, 13, 33]), min_size=1, max_size=3)))
    axis = data.draw(st.integers(0, len(shape) - 1))
    dtype = data.draw(st.sampled_from(DTYPES))
    descending = data.draw(st.booleans())
    x = _values(np.random.default_rng(data.draw(st.integers(0, 2**16))), dtype, shape)
    block = data.draw(st.sampled_from([None, 4, 8]))       # long rows as blocks of 4 or 8
    values, indices = _sorted_by_network(x, axis, descending, block)
    want = ref_argsort(x, axis, descending)
    np.testing.assert_array_equal(indices, want)
    np.testing.assert_array_equal(values, np.take_along_axis(x, want, axis))
    if dtype.startswith("float"):        # -0.0 and 0.0 keep their own signs
        np.testing.assert_array_equal(np.signbit(values), np.signbit(np.take_along_axis(x, want, axis)))
    torch = pytest.importorskip("torch")
    tv, ti = torch.sort(torch.from_numpy(x), dim=axis, descending=descending, stable=True)
    np.testing.assert_array_equal(indices, ti.numpy())
    np.testing.assert_array_equal(values, tv.numpy())


@examples(10)
@given(n=st.sampled_from([2, 3, 7, 16, 21]), k=st.integers(0, 21), descending=st.booleans())
def test_network_positions_topk_kthvalue_and_median(n, k, descending):
    """argsort's positions ``start .. start + k`` and the median's index, by the network."""
    k = min(k, n)
    rng = np.random.default_rng(n * 100 + k)
    x = _values(rng, "float32", (4, n))
    x[1] = np.arange(n)                 # a row without NaN: the median is its middle element
    start = (n - k) // 2
    X = te.placeholder(x.shape, name="X")
    with network_everywhere():
        head = topi.argsort(X, 1, descending, k=k, start=start, dtype="int32")
        median = topi.median_index(X, 1)
    f = _build([head, median], [X], "network_positions")
    got_head, got_median = np.empty((4, k), "int32"), np.empty((4, 1), "int64")
    f(x, got_head, got_median)
    order = ref_argsort(x, 1, descending)
    np.testing.assert_array_equal(got_head, order[:, start:start + k])
    ascending = ref_argsort(x, 1)
    nans = np.isnan(x).sum(1)
    want = np.where(nans > 0, ascending[np.arange(4), np.minimum(n - nans, n - 1)], ascending[:, (n - 1) // 2])
    np.testing.assert_array_equal(got_median[:, 0], want)


def test_graph_ops_on_long_rows_match_numpy_and_torch():
    """At the default threshold: rows of 333 elements (padded to 512) by the network."""
    torch = pytest.importorskip("torch")
    n = 333
    assert n >= sort_network.NETWORK_MIN
    rng = np.random.default_rng(1)
    x = rng.integers(-20, 20, (3, n)).astype("float32")
    x[0, rng.integers(0, n, 9)] = np.nan
    x[2, 5] = -np.inf
    t, u = tm.tensor(x), torch.from_numpy(x)
    for descending in (False, True):
        v, i = t.sort(1, descending)
        tv, ti = torch.sort(u, stable=True, dim=1, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(t.argsort(1, descending).numpy(), ref_argsort(x, 1, descending))
    order = ref_argsort(x, 1, True)
    np.testing.assert_array_equal(t.topk(10, 1).indices.numpy(), order[:, :10])
    np.testing.assert_array_equal(t.kthvalue(100, 1).indices.numpy(), ref_argsort(x, 1)[:, 99])
    np.testing.assert_array_equal(t.median(1).values.numpy(), torch.median(u, 1).values.numpy())
    cols = tm.tensor(np.ascontiguousarray(x.T))
    np.testing.assert_array_equal(cols.argsort(0).numpy(), ref_argsort(x.T, 0))
    perm = tm.randperm(700).numpy()
    np.testing.assert_array_equal(np.sort(perm), np.arange(700))


def test_cpu_schedule_runs_the_passes_per_row_in_parallel_with_vector_lanes():
    X = te.placeholder((64, 512), name="X")
    Y = topi.argsort(X, 1)
    text = str(tm.lower(topi.default_schedule(Y), [X, Y], name="argsort"))
    assert text.startswith("def argsort(X: float32[64, 512], argsort: int64[64, 512]):\n  parallel for i0 in range(64)")
    assert text.count("parallel for") == 1
    # one row's buffers per pass, allocated inside the parallel row loop
    assert "\n    allocate argsort.s512.256.v0: float32[1, 512]" in text
    passes = [op for op in sort_network._passes(Y) if op.attrs["stride"]]
    assert len(passes) == 9 * 10 // 2          # p (p + 1) / 2 passes for 2^9 elements
    # strides from NARROW: affine partner loads, lanes vectorized (scalar below)
    assert text.count("vectorized for") == len([op for op in passes if op.attrs["stride"] >= sort_network.NARROW])


def test_cpu_schedule_of_one_long_row_works_a_block_at_a_time():
    """A row of 2^13: runs of passes inside blocks of 2^11 computed a block at a time
    inside the loop of the copy ending each run (parallel over the blocks); the passes
    pairing blocks at the top level, each parallel: 3 copies (the first 11 merge stages,
    then the in-block tail of stages 12 and 13) and 1 + 2 such passes, against 91
    parallel passes over the whole row."""
    X = te.placeholder((1 << 13,), name="X")
    Y = topi.argsort(X)
    text = str(tm.lower(topi.default_schedule(Y), [X, Y], name="argsort"))
    assert sort_network.BLOCK == 1 << 11
    assert text.count("parallel for") == 3 + 3
    assert "\n    allocate argsort.s2048.1.v0: float32[1, 2048]" in text
    x = np.random.default_rng(0).integers(-50, 50, 1 << 13).astype("float32")
    x[::977] = np.nan
    got = np.empty(x.shape, "int64")
    tm.build(topi.default_schedule(Y), [X, Y], name="argsort_long_row")(x, got)
    np.testing.assert_array_equal(got, np.argsort(x, kind="stable"))


@needs_nvcc
def test_network_compiles_to_ptx():
    X = te.placeholder((4, 37), name="X")
    with network_everywhere():
        values, indices = topi.sort(X, 1, descending=True)
    f = tm.build(topi.default_schedule([values, indices], "cuda"), [X, values, indices], target="cuda",
                 name="ptx_sort_network")
    ptx = f.get_source("ptx")
    assert ".entry" in ptx and ptx.count(".entry") > 20


def test_network_on_the_emulated_gpu(emulated_gpu):
    """Rows of 21 as blocks of 8 (passes inside and across blocks, copies inlined)."""
    x = _values(np.random.default_rng(3), "float32", (3, 21))
    X = te.placeholder(x.shape, name="X")
    with network_everywhere(block=8):
        values, indices = topi.sort(X, 1)
        f = tm.build(topi.default_schedule([values, indices], "cuda"), [X, values, indices], target="cuda",
                     name="emulated_sort_network")
    out_v = tm.nd.empty(x.shape, "float32", device=tm.cuda(0))
    out_i = tm.nd.empty(x.shape, "int64", device=tm.cuda(0))
    f(tm.nd.array(x, device=tm.cuda(0)), out_v, out_i)
    want = ref_argsort(x, 1)
    np.testing.assert_array_equal(out_i.numpy(), want)
    np.testing.assert_array_equal(out_v.numpy(), np.take_along_axis(x, want, 1))
