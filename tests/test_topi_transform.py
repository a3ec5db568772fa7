"""topi layout transforms against numpy, built with the default CPU schedules.

Random shapes (size-1 and odd extents), random permutations / new shapes / slices with
negative steps / pads / concatenations; large shapes take the tiled and parallel paths.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.testing import reference
from strategies import examples, run_default
from test_topi_nn import numeric_grad

EXT = st.sampled_from([1, 2, 3, 4, 5, 8, 9])


def rand(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@examples(15)
@given(st.data())
def test_transpose(data):
    shape = data.draw(st.lists(EXT, min_size=1, max_size=4), label="shape")
    axes = data.draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)), label="axes")
    x = rand(shape)
    X = te.placeholder(shape, name="X")
    np.testing.assert_array_equal(run_default(topi.transpose(X, axes), [X], [x]), np.transpose(x, axes))


@examples(15)
@given(st.data())
def test_reshape(data):
    shape = data.draw(st.lists(EXT, min_size=1, max_size=3), label="shape")
    size = int(np.prod(shape))
    factors = [d for d in range(1, size + 1) if size % d == 0]
    a = data.draw(st.sampled_from(factors), label="first")
    b = data.draw(st.sampled_from([d for d in factors if (size // a) % d == 0]), label="second")
    newshape = [a, b, size // (a * b)]
    if data.draw(st.booleans(), label="use -1"):
        newshape[data.draw(st.integers(0, 2), label="-1 at")] = -1
    x = rand(shape)
    X = te.placeholder(shape, name="X")
    np.testing.assert_array_equal(run_default(topi.reshape(X, newshape), [X], [x]), x.reshape(newshape))


def test_reshape_symbolic_batch():
    n = te.var("n")
    X = te.placeholder((n, 4, 7), name="X")
    out = topi.reshape(X, (-1, 28))
    x = rand((5, 4, 7))
    assert out.shape[0] is n
    np.testing.assert_array_equal(run_default(out, [X], [x], {n: 5}), x.reshape(-1, 28))


@examples(15)
@given(st.data())
def test_strided_slice_and_its_gradient(data):
    shape = data.draw(st.lists(st.sampled_from([1, 2, 5, 8, 9]), min_size=1, max_size=3), label="shape")
    ncut = data.draw(st.integers(1, len(shape)), label="cut axes")
    begin, end, strides = [], [], []
    for k in range(ncut):
        n = shape[k]
        step = data.draw(st.sampled_from([1, 1, 2, 3, -1, -2]), label=f"step {k}")
        b = data.draw(st.one_of(st.none(), st.integers(-n, n - 1)), label=f"begin {k}")
        e = data.draw(st.one_of(st.none(), st.integers(-n - 1, n)), label=f"end {k}")
        if len(range(*slice(b, e, step).indices(n))) == 0:
            b, e = None, None
        begin.append(b)
        end.append(e)
        strides.append(step)
    x = rand(shape, dtype="float64")
    key = tuple(slice(b, e, s) for b, e, s in zip(begin, end, strides))
    X = te.placeholder(shape, name="X", dtype="float64")
    np.testing.assert_array_equal(run_default(topi.strided_slice(X, begin, end, strides), [X], [x]), x[key])
    g = rand(x[key].shape, 1, "float64")
    G = te.placeholder(g.shape, name="G", dtype="float64")
    want = np.zeros(shape)
    want[key] = g
    np.testing.assert_array_equal(run_default(topi.strided_slice_grad(G, shape, begin, end, strides), [G], [g]), want)


@examples(15)
@given(st.data())
def test_window_at_run_time_starts_and_its_gradient(data):
    """One build of ``window`` serves every start: each drawn start (in range) gives
    numpy's slice; a start out of range is clamped, never read outside the tensor."""
    shape = data.draw(st.lists(st.sampled_from([1, 2, 5, 8, 9]), min_size=1, max_size=3), label="shape")
    steps = [data.draw(st.sampled_from([1, 1, 2, 3]), label="step") for _ in shape]
    lengths = [data.draw(st.integers(1, (n - 1) // t + 1), label="length") for n, t in zip(shape, steps)]
    starts = [te.var(f"s{k}") for k in range(len(shape))]
    X = te.placeholder(shape, name="X", dtype="float64")
    G = te.placeholder(lengths, name="G", dtype="float64")
    W = topi.window(X, starts, lengths, steps)
    forward = tm.build(topi.default_schedule(W, "llvm"), [X, *starts, W])
    Y = topi.window_grad(G, shape, starts, steps)
    backward = tm.build(topi.default_schedule(Y, "llvm"), [G, *starts, Y])
    x, g = rand(shape, dtype="float64"), rand(lengths, 1, "float64")
    for _ in range(3):
        at = [data.draw(st.integers(-2, n + 2), label="start") for n in shape]
        clamped = [min(max(a, 0), n - 1 - (m - 1) * t) for a, n, m, t in zip(at, shape, lengths, steps)]
        key = tuple(slice(c, c + (m - 1) * t + 1, t) for c, m, t in zip(clamped, lengths, steps))
        out = np.full(lengths, np.nan)
        forward(x, *at, out)
        np.testing.assert_array_equal(out, x[key])
        want = np.zeros(shape)
        want[key] = g
        grad = np.full(shape, np.nan)
        backward(g, *at, grad)
        np.testing.assert_array_equal(grad, want)


@examples(10)
@given(st.data())
def test_concatenate_pad_broadcast_to(data):
    shape = data.draw(st.lists(EXT, min_size=1, max_size=3), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    parts = data.draw(st.lists(EXT, min_size=1, max_size=3), label="extents along axis")
    arrays, tensors = [], []
    for k, m in enumerate(parts):
        s = list(shape)
        s[axis] = m
        arrays.append(rand(s, k))
        tensors.append(te.placeholder(s, name=f"X{k}"))
    np.testing.assert_array_equal(run_default(topi.concatenate(tensors, axis), tensors, arrays),
                                  np.concatenate(arrays, axis))
    before = data.draw(st.lists(st.integers(0, 2), min_size=len(shape), max_size=len(shape)), label="before")
    after = data.draw(st.lists(st.integers(0, 2), min_size=len(shape), max_size=len(shape)), label="after")
    x, X = arrays[0], tensors[0]
    np.testing.assert_array_equal(run_default(topi.pad(X, before, after, value=-3.0), [X], [x]),
                                  np.pad(x, list(zip(before, after)), constant_values=-3.0))
    target = [data.draw(st.sampled_from([2, 3]), label="new lead")] + [
        data.draw(st.sampled_from([1, 4]), label=f"stretch {k}") if n == 1 else n for k, n in enumerate(x.shape)]
    np.testing.assert_array_equal(run_default(topi.broadcast_to(X, target), [X], [x]), np.broadcast_to(x, target))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_one_hot_and_take(dtype):
    idx = np.array([[0, 3, 9], [2, 2, 1]], dtype)
    I = te.placeholder(idx.shape, name="I", dtype=dtype)
    np.testing.assert_array_equal(run_default(topi.one_hot(I, 10), [I], [idx]), np.eye(10, dtype="float32")[idx])
    table = rand((10, 4))
    T = te.placeholder(table.shape, name="T")
    np.testing.assert_array_equal(run_default(topi.take(T, I), [T, I], [table, idx]), table[idx])
    wild = np.array([-3, 0, 12, 9], dtype)
    W = te.placeholder(wild.shape, name="W", dtype=dtype)
    np.testing.assert_array_equal(run_default(topi.take(T, W), [T, W], [table, wild]), np.take(table, wild, 0, mode="clip"))
    np.testing.assert_array_equal(run_default(topi.take(T, W, mode="wrap"), [T, W], [table, wild]),
                                  np.take(table, wild, 0, mode="wrap"))
    np.testing.assert_array_equal(run_default(topi.take(T, W, axis=1, mode="wrap"), [T, W], [table, wild]),
                                  np.take(table, wild, 1, mode="wrap"))


def np_take_grad(g, idx, x_shape, axis, mode):
    """numpy reference: ``np.add.at`` of ``g`` into zeros at the clipped/wrapped indices."""
    n = x_shape[axis]
    pos = np.clip(idx, 0, n - 1) if mode == "clip" else idx % n
    out = np.zeros(x_shape, g.dtype)
    k = idx.ndim
    np.add.at(np.moveaxis(out, axis, 0), pos, np.moveaxis(g, list(range(axis, axis + k)), list(range(k))))
    return out


@examples(20)
@given(st.data())
def test_take_grad_scatter_adds(data):
    x_shape = tuple(data.draw(st.lists(EXT, min_size=1, max_size=3), label="x shape"))
    idx_shape = tuple(data.draw(st.lists(EXT, min_size=0, max_size=2), label="indices shape"))
    axis = data.draw(st.integers(-len(x_shape), len(x_shape) - 1), label="axis")
    mode = data.draw(st.sampled_from(["clip", "wrap"]), label="mode")
    dtype = data.draw(st.sampled_from(["int32", "int64"]), label="index dtype")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    n = x_shape[axis]
    idx = rng.integers(-n - 2, n + 2, idx_shape).astype(dtype)        # repeats and out-of-range ones
    a = axis % len(x_shape)
    g = rand(x_shape[:a] + idx_shape + x_shape[a + 1:], seed=1)
    G, I = te.placeholder(g.shape, name="g"), te.placeholder(idx_shape, name="i", dtype=dtype)
    got = run_default(topi.take_grad(G, I, x_shape, axis, mode), [G, I], [g, idx])
    np.testing.assert_allclose(got, np_take_grad(g, idx, x_shape, a, mode), rtol=1e-5, atol=1e-5)


def test_take_grad_matches_finite_differences():
    """d/dx sum(g * take(x, idx)) in float64, with repeated and clipped indices."""
    rng = np.random.default_rng(4)
    x, idx = rng.standard_normal((5, 3)), np.array([[4, 0, 4], [7, 1, -2]], "int32")
    g = rng.standard_normal((5, 2, 3))
    X, I, G = (te.placeholder(a.shape, name=n, dtype=str(a.dtype)) for a, n in ((x, "x"), (idx, "i"), (g, "g")))
    take = topi.take(X, I, axis=1)
    forward = tm.build(topi.default_schedule(take), [X, I, take])

    def loss(xv):
        out = np.empty(g.shape)
        forward(xv, idx, out)
        return float((out * g).sum())
    want = numeric_grad(loss, x)
    got = run_default(topi.take_grad(G, I, x.shape, axis=1), [G, I], [g, idx])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8)


def test_take_grad_errors():
    G, I = te.placeholder((4, 3), name="g"), te.placeholder((4,), name="i", dtype="int32")
    with pytest.raises(tm.errors.ShapeError, match=r"take_grad.*g \(4, 3\).*\(5, 3\)"):
        topi.take_grad(G, te.placeholder((5,), name="i", dtype="int32"), (10, 3))
    with pytest.raises(tm.errors.ShapeError, match="axis 2"):
        topi.take_grad(G, I, (10, 3), axis=2)
    with pytest.raises(tm.errors.DTypeError, match="integers"):
        topi.take_grad(G, te.placeholder((4,), name="f"), (10, 3))
    with pytest.raises(tm.TVMiniError, match="mode"):
        topi.take_grad(G, I, (10, 3), mode="raise")


@pytest.mark.parametrize("shape, axes", [((256, 320), None), ((3, 64, 96), (0, 2, 1)), ((301, 257), (1, 0))])
def test_large_transposes(shape, axes):
    x = rand(shape)
    X = te.placeholder(shape, name="X")
    np.testing.assert_array_equal(run_default(topi.transpose(X, axes), [X], [x]), np.transpose(x, axes))


def test_transform_errors():
    X = te.placeholder((3, 4), name="X")
    with pytest.raises(tm.errors.ShapeError, match=r"reshape.*X.*\(3, 4\)"):
        topi.reshape(X, (5, -1))
    with pytest.raises(tm.errors.ShapeError, match="transpose"):
        topi.transpose(X, (0, 0))
    assert [n.value for n in topi.strided_slice(X, [2], [1]).shape] == [0, 4]    # empty, as numpy's
    with pytest.raises(tm.errors.ShapeError, match="concatenate"):
        topi.concatenate([X, te.placeholder((3, 5), name="Y")], 0)
    with pytest.raises(tm.errors.DTypeError, match="take"):
        topi.take(X, X)
    with pytest.raises(tm.errors.ShapeError, match="broadcast_to"):
        topi.broadcast_to(X, (3, 5))


def test_the_reference_reads_an_empty_tensor_only_in_an_untaken_branch():
    """Padding an empty input: the kernel never reads it, the reference evaluated both
    branches and indexed it (IndexError)."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    P = te.compute((n + 2,), lambda i: te.if_then_else(te.all(i >= 1, i <= n), A[i - 1], 1.0), name="P")
    np.testing.assert_array_equal(reference([P], {A: np.zeros(0, "float32"), n: 0})[0], [1.0, 1.0])
    np.testing.assert_array_equal(reference([P], {A: np.full(1, 5.0, "float32"), n: 1})[0], [1.0, 5.0, 1.0])
