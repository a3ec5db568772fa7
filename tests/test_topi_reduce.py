"""topi reductions: sum/prod/mean/max/min/argmax/argmin over random axes, sum_to, and
prod's gradient (exact with zeros).

Built with ``topi.default_schedule`` on random shapes (size-1 and odd extents, some
symbolic), every axis subset, keepdims on and off; large shapes exercise the rfactor,
few-rows and outer-axis branches of the CPU rule.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from strategies import assert_matches, examples, run_default

NUMPY = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}


@st.composite
def reduce_case(draw):
    shape = draw(st.lists(st.sampled_from([1, 2, 3, 7, 8, 16, 17, 33, 64]), min_size=1, max_size=3), label="shape")
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                          st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple)), label="axis")
    return shape, axis


@examples(25)
@given(st.data())
def test_reductions_match_numpy(data):
    shape, axis = data.draw(reduce_case())
    name = data.draw(st.sampled_from(sorted(NUMPY)), label="op")
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32"]), label="dtype")
    keepdims = data.draw(st.booleans(), label="keepdims")
    sym = data.draw(st.booleans(), label="first extent symbolic")
    n = te.var("n")
    X = te.placeholder([n if sym else shape[0]] + shape[1:], name="X", dtype=dtype)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.integers(-9, 10, shape).astype(dtype) if dtype == "int32" else rng.standard_normal(shape).astype(dtype)
    out = getattr(topi, name)(X, axis, keepdims=keepdims)
    want = np.asarray(NUMPY[name](x, axis=axis, keepdims=keepdims))
    assert out.dtype == ("float32" if name == "mean" and dtype == "int32" else dtype)  # int sums stay int32
    want = want.astype(out.dtype)
    assert_matches(run_default(out, [X], [x], {n: shape[0]}), want, out.dtype, scale=float(np.sqrt(x.size)), what=name)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (0, True), ((0, 1), False), (1, False)])
def test_mean_over_a_symbolic_extent_bound_to_zero_is_nan(dtype, axis, keepdims):
    """The mean of no elements is NaN (numpy, PyTorch) when the extent is only known at
    call time too, not the 0 the sum of no terms gives; bound to 3 it is the mean (and a
    mean over the other axis of 0 rows is empty)."""
    n = te.var("n")
    X = te.placeholder((n, 4), name="X", dtype=dtype)
    out = topi.mean(X, axis, keepdims=keepdims)
    for rows in (0, 3):
        x = np.arange(rows * 4).reshape(rows, 4).astype(dtype)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)          # numpy: "Mean of empty slice"
            want = np.asarray(np.mean(x, axis=axis, keepdims=keepdims), dtype=out.dtype)
        got = run_default(out, [X], [x], {n: rows})
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{rows} rows")
        if rows == 0 and axis != 1:
            assert got.size and np.isnan(got).all()


@examples(15)
@given(st.data())
def test_argmax_argmin_first_index_on_ties(data):
    shape = data.draw(st.lists(st.sampled_from([1, 2, 5, 8, 13]), min_size=1, max_size=3), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    name = data.draw(st.sampled_from(["argmax", "argmin"]), label="op")
    dtype = data.draw(st.sampled_from(["int32", "int64"]), label="index dtype")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.integers(-2, 3, shape).astype("float32")          # many ties
    X = te.placeholder(shape, name="X")
    out = getattr(topi, name)(X, axis, keepdims=keepdims, dtype=dtype)
    want = getattr(np, name)(x, axis=axis, keepdims=keepdims).astype(dtype)
    np.testing.assert_array_equal(run_default(out, [X], [x]), want)


@examples(15)
@given(st.data())
def test_nan_is_the_extreme_as_in_numpy(data):
    """max/min of a run holding a NaN are NaN, and argmax/argmin give its first NaN (all
    NaN included): numpy's answers, on rows long enough for the vector partials."""
    shape = data.draw(st.lists(st.sampled_from([1, 3, 8, 17, 64, 130]), min_size=1, max_size=2), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < data.draw(st.sampled_from([0.02, 0.3, 1.0]), label="NaN share")] = np.nan
    X = te.placeholder(shape, name="X", dtype=dtype)
    for name in ("max", "min"):
        got = run_default(getattr(topi, name)(X, axis), [X], [x])
        np.testing.assert_array_equal(got, getattr(np, name)(x, axis=axis), err_msg=name)
    for name in ("argmax", "argmin"):
        got = run_default(getattr(topi, name)(X, axis), [X], [x])
        np.testing.assert_array_equal(got, getattr(np, name)(x, axis=axis), err_msg=name)


def prod_input(rng, shape, dtype):
    """Values whose products stay representable: mostly +-1 (floats: +-[0.9, 1.1]) with
    at most four 2s and, half the time, one 0."""
    if dtype == "int32":
        x = rng.choice(np.array([-1, 1], dtype), shape)
    else:
        x = (rng.choice([-1.0, 1.0], shape) * rng.uniform(0.9, 1.1, shape)).astype(dtype)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, min(4, flat.size), replace=False)] = 2
    if rng.random() < 0.5:
        flat[rng.integers(flat.size)] = 0
    return x


@examples(20)
@given(st.data())
def test_prod_matches_numpy(data):
    shape, axis = data.draw(reduce_case())
    dtype = data.draw(st.sampled_from(["float32", "float64", "int32"]), label="dtype")
    keepdims = data.draw(st.booleans(), label="keepdims")
    sym = data.draw(st.booleans(), label="first extent symbolic")
    n = te.var("n")
    X = te.placeholder([n if sym else shape[0]] + shape[1:], name="X", dtype=dtype)
    x = prod_input(np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed")), shape, dtype)
    out = topi.prod(X, axis, keepdims=keepdims)
    assert out.dtype == dtype
    want = np.asarray(np.prod(x, axis=axis, keepdims=keepdims)).astype(dtype)
    assert_matches(run_default(out, [X], [x], {n: shape[0]}), want, dtype, scale=float(np.sqrt(x.size)), what="prod")


@pytest.mark.parametrize("shape, axis", [((512, 256), 1), ((256, 512), 0), ((3, 40000), 1), ((70000,), 0)])
def test_large_prods(shape, axis):
    """The rfactor / few-rows / outer-axis branches of the reduce rule with a product."""
    x = prod_input(np.random.default_rng(5), shape, "float32")
    X = te.placeholder(shape, name="X")
    want = np.prod(x.astype("float64"), axis=axis)
    np.testing.assert_allclose(run_default(topi.prod(X, axis), [X], [x]), want, rtol=1e-4 * np.sqrt(x.size), atol=1e-6)


def test_prod_of_bool_counts_in_int32_and_te_prod_needs_an_axis():
    x = np.array([[True, True, False], [True, True, True]])
    X = te.placeholder(x.shape, name="X", dtype="bool")
    out = topi.prod(X, 1)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(run_default(out, [X], [x]), [0, 1])
    with pytest.raises(tm.TVMiniError, match="te.prod needs axis"):
        te.prod(X[0, 0])
    with pytest.raises(tm.TVMiniError, match="te.prod needs axis"):
        te.prod(X[0, 0].astype("int32"), X[0, 1].astype("int32"))


def others_product(x, axis):
    """numpy oracle of prod's gradient: per element, the product of the other elements of
    its group (exclusive cumulative products from both ends; no division)."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(sorted(a % x.ndim for a in np.atleast_1d(axis)))
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, kept + list(axes))
    flat = moved.reshape(int(np.prod([x.shape[a] for a in kept])), -1)
    ones = np.ones((flat.shape[0], 1), x.dtype)
    before = np.cumprod(np.concatenate([ones, flat[:, :-1]], axis=1), axis=1)
    after = np.cumprod(np.concatenate([ones, flat[:, :0:-1]], axis=1), axis=1)[:, ::-1]
    return np.transpose((before * after).reshape(moved.shape), np.argsort(kept + list(axes)))


def with_zeros(rng, x, axis, zeros):
    """``x`` with ``zeros`` zeros placed in the first reduced group (all of it when smaller)."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in np.atleast_1d(axis))
    group = [i for i in np.ndindex(*x.shape) if all(i[a] == 0 for a in range(x.ndim) if a not in axes)]
    for k in rng.choice(len(group), min(zeros, len(group)), replace=False):
        x[group[k]] = 0
    return x


@examples(20)
@given(st.data())
def test_prod_grad_is_the_product_of_the_others(data):
    """prod_grad on random shapes/axes, with 0, 1 or several zeros in a group, against the
    exclusive-cumprod oracle: a zero gets the product of the rest, everything else in a
    group with a zero gets 0."""
    shape = data.draw(st.lists(st.sampled_from([1, 2, 3, 5, 8, 17]), min_size=1, max_size=3), label="shape")
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                               st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple)),
                     label="axis")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    keepdims = data.draw(st.booleans(), label="keepdims")
    zeros = data.draw(st.sampled_from([0, 1, 2, 3]), label="zeros")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = with_zeros(rng, (rng.choice([-1.0, 1.0], shape) * rng.uniform(0.8, 1.25, shape)).astype(dtype), axis, zeros)
    g = np.asarray(rng.uniform(-1, 1, np.prod(x, axis=axis, keepdims=keepdims).shape)).astype(dtype)
    X = te.placeholder(shape, name="X", dtype=dtype)
    G = te.placeholder(g.shape, name="G", dtype=dtype)
    out = topi.prod_grad(X, G, axis, keepdims=keepdims)
    want = others_product(x.astype("float64"), axis) * np.reshape(g, np.prod(x, axis=axis, keepdims=True).shape)
    assert_matches(run_default(out, [X, G], [x, g]), want.astype(dtype), dtype, scale=4.0, what="prod_grad")


def test_prod_grad_zeros_exactly():
    """One zero: only it gets a gradient, the product of the rest; two zeros: all 0."""
    X = te.placeholder((2, 6), name="X", dtype="float64")
    G = te.placeholder((2,), name="G", dtype="float64")
    x = np.array([[2.0, 0.0, 3.0, 0.5, 4.0, 1.5], [0.0, 2.0, 0.0, 1.0, 3.0, 5.0]])
    got = run_default(topi.prod_grad(X, G, 1), [X, G], [x, np.array([1.0, 1.0])])
    np.testing.assert_array_equal(got, [[0, 18.0, 0, 0, 0, 0], [0] * 6])


def test_long_prod_grad():
    """A group of 5000 (blocks of 18 elements): against the oracle, and a zero inside."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0.999, 1.001, (3, 5000))
    x[1, 4321] = 0
    X, G = te.placeholder(x.shape, name="X", dtype="float64"), te.placeholder((3,), name="G", dtype="float64")
    got = run_default(topi.prod_grad(X, G, 1), [X, G], [x, np.array([1.0, 2.0, -1.0])])
    want = others_product(x, 1) * np.array([1.0, 2.0, -1.0])[:, None]
    np.testing.assert_allclose(got, want, rtol=1e-11)
    assert np.count_nonzero(got[1]) == 1


def test_prod_grad_errors():
    X = te.placeholder((3, 4), name="X")
    with pytest.raises(tm.errors.ShapeError, match=r"prod_grad: grad G has shape \(4,\); prod of X"):
        topi.prod_grad(X, te.placeholder((4,), name="G"), 1)
    with pytest.raises(tm.errors.ShapeError, match="constant extents"):
        topi.prod_grad(te.placeholder((te.var("n"), 4), name="X"), te.placeholder((4,), name="G"), 0)
    with pytest.raises(tm.errors.DTypeError, match="prod_grad"):
        topi.prod_grad(te.placeholder((3,), name="X", dtype="int32"), te.placeholder((), name="G", dtype="int32"))


@pytest.mark.parametrize("shape, axis", [
    ((512, 256), 1), ((512, 256), 0), ((256, 257), 1), ((300, 5, 64), (0, 2)),
    ((3, 40000), 1), ((2, 40000), 0), ((70000,), 0), ((128, 128, 8), None),
    ((16, 8, 14, 14), (0, 2, 3)), ((4, 3, 28, 28), (0, 2, 3)), ((8, 6, 7, 7), (0, 2, 3)),
])
def test_large_reductions(shape, axis):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype("float32")
    X = te.placeholder(shape, name="X")
    for name in ("sum", "max"):
        got = run_default(getattr(topi, name)(X, axis), [X], [x])
        np.testing.assert_allclose(got, NUMPY[name](x.astype("float64"), axis=axis), rtol=1e-4, atol=1e-3)
    got = run_default(topi.argmax(X, -1), [X], [x])
    np.testing.assert_array_equal(got, x.argmax(-1))


@examples(20)
@given(st.data())
def test_sum_to_undoes_broadcasting(data):
    target = data.draw(st.lists(st.sampled_from([1, 1, 2, 3, 5]), min_size=0, max_size=3), label="target")
    lead = data.draw(st.lists(st.sampled_from([1, 2, 4]), max_size=2), label="leading axes")
    full = lead + [n if n != 1 else data.draw(st.sampled_from([1, 3, 6]), label=f"stretch {k}")
                   for k, n in enumerate(target)]
    if not full:
        full = [4]
    x = np.random.default_rng(len(full)).standard_normal(full)
    X = te.placeholder(full, name="X", dtype="float64")
    out = topi.sum_to(X, target)
    want = x
    want = want.sum(axis=tuple(range(len(full) - len(target)))) if len(full) > len(target) else want
    keep = tuple(k for k, n in enumerate(target) if n == 1 and want.shape[k] != 1)
    want = want.sum(axis=keep, keepdims=True) if keep else want
    assert want.shape == tuple(target)
    np.testing.assert_allclose(run_default(out, [X], [x]), want, rtol=1e-12, atol=1e-12)


def test_reduce_errors():
    X = te.placeholder((3, 4), name="X")
    with pytest.raises(tm.errors.ShapeError, match="sum.*axis 2.*X"):
        topi.sum(X, 2)
    with pytest.raises(tm.errors.ShapeError, match="sum_to.*\\(5,\\).*X"):
        topi.sum_to(X, (5,))
    with pytest.raises(tm.errors.ShapeError, match="argmax"):
        topi.argmax(X, None)


@pytest.mark.parametrize("image, lanes", [((28, 28), 16), ((14, 14), 4)])
def test_channel_sums_of_images_run_on_vector_lanes_in_parallel(image, lanes):
    """Per-channel sums of NCHW images (conv bias gradients, batch-norm statistics):
    channels in parallel, each image row accumulated as vector partials (whole vectors
    where the image has them, half vectors otherwise) rather than one scalar chain."""
    X = te.placeholder((64, 8, *image), name="X")
    sums = topi.sum(X, (0, 2, 3))
    text = str(tm.lower(topi.default_schedule(sums), [X, sums]))
    assert "parallel for" in text
    assert f"vectorized for k2.k3.fused.inner.rf in range({lanes}):" in text


@pytest.mark.parametrize("threads, shape, split", [
    (2, (1024, 256), True), (3, (1200, 64), True), (2, (1000, 7 * 13), True),
    (2, (1024, 2), False), (2, (300, 256), False), (1, (4096, 64), False),
])
def test_column_sums_of_tall_matrices_split_rows_between_threads(monkeypatch, threads, shape, split):
    """A bias gradient's column sums: with enough rows and work, thread t sums its own
    block of rows into partial row t (``sum.rf``, parallel over the threads) and the
    output adds the partials; max over rows too. Too few rows per thread, too little
    work or one thread keep the column-strip schedule. A thread's partial row is updated
    in tiles of up to 256 columns (``PARTIAL_ROW_TILE``: long runs of each row). Both
    equal numpy."""
    from tvmini.topi.schedule_cpu import PARTIAL_ROW_TILE
    monkeypatch.setenv("TVMINI_NUM_THREADS", str(threads))
    tile = next((t for t in PARTIAL_ROW_TILE if shape[1] % t == 0), None)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype("float32")
    X = te.placeholder(shape, name="X")
    for name in ("sum", "max"):
        out = getattr(topi, name)(X, 0)
        text = str(tm.lower(topi.default_schedule(out), [X, out]))
        assert (f"parallel for k0.outer.rf in range({threads}):" in text) == split, text
        if split and tile is not None:
            assert f"vectorized for i0.inner in range({tile}):" in text, text
        got = run_default(out, [X], [x])
        np.testing.assert_allclose(got, NUMPY[name](x.astype("float64"), axis=0), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", ["max", "min", "argmax"])
def test_float_max_min_over_rows_interleave_row_chains(name):
    """NaN-propagating float max/min combine in a long dependency chain, so rows run
    ``INTERLEAVED_ROWS`` at a time: each step of the partials updates every row's vector
    (an unrolled row loop inside every reduce loop: argmax's max pass and index pass),
    as does each final combine; a NaN in any row still gives NaN (argmax: its index)."""
    from tvmini.topi.schedule_cpu import INTERLEAVED_ROWS
    X = te.placeholder((64, 256), name="X")
    out = getattr(topi, name)(X, 1)
    lines = str(tm.lower(topi.default_schedule(out), [X, out], name=f"rows_{name}")).splitlines()
    reduce_loops = [k for k, line in enumerate(lines) if re.match(r"\s*for k1\.(outer|inner\.v)", line)]
    assert len(reduce_loops) == (4 if name == "argmax" else 2), lines
    for k in reduce_loops:
        assert re.fullmatch(rf"\s*unrolled for i0\.inner\w* in range\({INTERLEAVED_ROWS}\):", lines[k + 1]), lines
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 256)).astype("float32")
    x[5, 17] = x[62, 255] = np.nan
    np.testing.assert_array_equal(run_default(out, [X], [x]), getattr(np, name)(x, axis=1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["max", "min"])
def test_float_max_min_of_everything_keep_several_vector_chains(name, dtype):
    """A float max/min to one value splits the input between threads, and each chunk
    accumulates ``INTERLEAVED_ROWS`` vectors of partials (independent chains of the slow
    NaN-propagating combine); a NaN anywhere, in any lane of any chain, gives NaN."""
    from tvmini.topi.schedule_cpu import INTERLEAVED_ROWS, lane_factor
    shape = (256, 384)
    X = te.placeholder(shape, name="X", dtype=dtype)
    out = getattr(topi, name)(X)
    text = str(tm.lower(topi.default_schedule(out), [X, out], name=f"all_{name}"))
    lanes = INTERLEAVED_ROWS * lane_factor(shape[0] * shape[1])
    assert re.search(rf"vectorized for \S+ in range\({lanes}\):", text), text
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(run_default(out, [X], [x]), getattr(np, name)(x))
    for flat in (0, 63, 12345, x.size - 1):
        y = x.copy()
        y.flat[flat] = np.nan
        assert np.isnan(run_default(out, [X], [y])), flat
