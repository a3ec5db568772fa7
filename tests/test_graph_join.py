"""Joining, splitting, padding and clamping tensors (tvmini.graph.join_ops): results
against numpy on hypothesis-drawn shapes and dims (size-1 extents, negative dims, uneven
splits), gradients against central finite differences in float64, and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from graph_gradcheck import check_grad
from strategies import examples

EXTENTS = st.sampled_from([1, 2, 3, 5])


def _shape(data, min_size=1, max_size=3):
    return tuple(data.draw(st.lists(EXTENTS, min_size=min_size, max_size=max_size), label="shape"))


@examples(15)
@given(st.data())
def test_cat_matches_numpy_on_every_dim(data):
    shape = _shape(data)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    extents = data.draw(st.lists(EXTENTS, min_size=1, max_size=4), label="extents")
    rng = np.random.default_rng(len(extents))
    parts = []
    for n in extents:
        s = list(shape)
        s[dim] = n
        parts.append(rng.standard_normal(s).astype("float32"))
    got = tm.cat([tm.tensor(p) for p in parts], dim=dim)
    np.testing.assert_array_equal(got.numpy(), np.concatenate(parts, axis=dim))


def test_cat_and_stack_gradients_slice_back_to_each_input():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 1)), rng.standard_normal((2, 4))
    check_grad(lambda x, y, z: tm.cat([x, y * y, z], dim=-1), a, b, c)
    check_grad(lambda x, y: tm.stack([x, y.exp()], dim=1), a, rng.standard_normal((2, 3)))


@examples(10)
@given(st.data())
def test_stack_unsqueeze_squeeze_match_numpy(data):
    shape = _shape(data)
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    xs = [np.full(shape, k, "float32") + np.arange(np.prod(shape), dtype="float32").reshape(shape) for k in range(3)]
    np.testing.assert_array_equal(tm.stack([tm.tensor(x) for x in xs], dim).numpy(), np.stack(xs, dim))
    x = tm.tensor(xs[0])
    assert x.unsqueeze(dim).shape == np.expand_dims(xs[0], dim).shape
    assert x.squeeze().shape == tuple(n for n in shape if n != 1)
    keep = dim % len(shape)
    assert x.squeeze(keep).shape == (np.squeeze(xs[0], keep) if shape[keep] == 1 else xs[0]).shape


@examples(15)
@given(st.data())
def test_split_and_chunk_follow_pytorch_sizes(data):
    shape = _shape(data)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    n = shape[dim]
    x = np.arange(np.prod(shape), dtype="float32").reshape(shape)
    size = data.draw(st.integers(1, n + 1), label="size")
    pieces = tm.tensor(x).split(size, dim)
    bounds = list(range(0, n, size))
    assert len(pieces) == len(bounds)
    for piece, start in zip(pieces, bounds):
        want = np.take(x, range(start, min(start + size, n)), axis=dim)
        np.testing.assert_array_equal(piece.numpy(), want)
    chunks = data.draw(st.integers(1, 6), label="chunks")
    got = tm.tensor(x).chunk(chunks, dim)
    each = -(-n // chunks)
    assert [p.shape[dim] for p in got] == [min(each, n - s) for s in range(0, n, each)]
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in got], axis=dim), x)


def test_split_by_sections_and_its_gradient():
    x = np.random.default_rng(1).standard_normal((3, 6))
    a, b, c = tm.tensor(x).split([1, 3, 2], dim=1)
    assert (a.shape, b.shape, c.shape) == ((3, 1), (3, 3), (3, 2))
    check_grad(lambda t: tm.cat([u * k for k, u in enumerate(t.split([1, 3, 2], 1), 2)], 1), x)
    with pytest.raises(tm.ShapeError, match="sum to 6"):
        tm.tensor(x).split([1, 2], dim=1)


@examples(15)
@given(st.data())
def test_pad_matches_numpy_with_crops(data):
    shape = _shape(data, 1, 3)
    pairs = data.draw(st.integers(1, len(shape)), label="pairs")
    widths = []
    for k in range(pairs):
        n = shape[len(shape) - 1 - k]
        lo = data.draw(st.integers(-n, 2), label="before")             # down to an extent of 0
        hi = data.draw(st.integers(-(n + min(lo, 0)), 2), label="after")
        widths += [lo, hi]
    value = data.draw(st.sampled_from([0.0, -1.5]), label="value")
    x = np.random.default_rng(pairs).standard_normal(shape).astype("float32")
    want = x
    for k in range(pairs):
        axis = len(shape) - 1 - k
        lo, hi = widths[2 * k], widths[2 * k + 1]
        want = np.take(want, range(max(-lo, 0), want.shape[axis] - max(-hi, 0)), axis=axis)
        spec = [(0, 0)] * len(shape)
        spec[axis] = (max(lo, 0), max(hi, 0))
        want = np.pad(want, spec, constant_values=value)
    np.testing.assert_array_equal(F.pad(tm.tensor(x), widths, value=value).numpy(), want)


def test_pad_gradient_and_errors():
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    check_grad(lambda t: F.pad(t, (1, 2, 0, 1)), x)
    check_grad(lambda t: F.pad(t, (-1, 1)), x)
    with pytest.raises(tm.ShapeError, match="mode must be one of .*'symmetric'"):
        F.pad(tm.tensor(x), (1, 1), mode="symmetric")       # reflect/replicate/circular: test_pad_modes.py
    with pytest.raises(tm.ShapeError, match="pair up"):
        F.pad(tm.tensor(x), (1, 1, 1))
    with pytest.raises(tm.ShapeError, match="crop more than a tensor of shape \\(2, 3, 4\\) holds"):
        F.pad(tm.tensor(x), (-3, -2))
    with pytest.raises(tm.ShapeError, match="crop more"):
        F.pad(tm.tensor(x), (-5, 6))            # PyTorch refuses it too (narrowing past the axis)


def test_pad_values_key_the_kernel_cache_by_what_they_are():
    # the cache keyed attrs by ==: a NaN pad value built a new kernel on every call (never
    # equal to itself) and -0.0 was served the 0.0 kernel (its sign lost)
    from tvmini.graph import dispatch
    x = tm.tensor(np.ones((2, 2), np.float32))
    F.pad(x, (1, 0), value=float("nan"))
    built = tm.graph.kernel_count()
    for _ in range(3):
        out = F.pad(x, (1, 0), value=float("nan"))
    assert tm.graph.kernel_count() == built
    np.testing.assert_array_equal(out.numpy(), np.pad(np.ones((2, 2), np.float32), ((0, 0), (1, 0)),
                                                      constant_values=np.nan))
    assert not np.signbit(F.pad(x, (1, 0), value=0.0).numpy()[0, 0])
    assert np.signbit(F.pad(x, (1, 0), value=-0.0).numpy()[0, 0])
    assert dispatch.attrs_key((("value", -0.0),)) != dispatch.attrs_key((("value", 0.0),))
    assert dispatch.attrs_key((("value", float("nan")),)) == dispatch.attrs_key((("value", float("nan")),))
    assert dispatch.kernel_name("pad", ("pad", dispatch.attrs_key((("value", -0.0),)))) != \
        dispatch.kernel_name("pad", ("pad", dispatch.attrs_key((("value", 0.0),))))
    try:
        import torch
    except ImportError:
        return
    assert torch.signbit(torch.nn.functional.pad(torch.ones(2, 2), (1, 0), value=-0.0)[0, 0])


def test_clamp_values_and_gradient_at_the_bounds():
    """PyTorch's rule: the gradient flows where ``min <= x <= max``, bounds included."""
    x = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    t = tm.tensor(x, requires_grad=True)
    y = t.clamp(-1.0, 1.0)
    np.testing.assert_array_equal(y.numpy(), np.clip(x, -1, 1))
    y.backward(tm.tensor(np.arange(1.0, 7.0)))
    np.testing.assert_array_equal(t.grad.numpy(), [0, 2, 3, 4, 5, 0])
    np.testing.assert_array_equal(tm.clamp(tm.tensor(x), min=0.0).numpy(), np.maximum(x, 0))
    np.testing.assert_array_equal(tm.tensor(x).clip(max=0.5).numpy(), np.minimum(x, 0.5))
    ints = tm.tensor(np.array([-5, 0, 7]))
    assert ints.clamp(-1, 3).dtype == "int64"
    np.testing.assert_array_equal(ints.clamp(-1, 3).numpy(), [-1, 0, 3])
    check_grad(lambda u: (u * u).clamp(0.3, 2.0), np.random.default_rng(3).uniform(0.1, 1.6, (3, 4)))
    with pytest.raises(tm.ShapeError, match="at least one"):
        tm.tensor(x).clamp()
    with pytest.raises(tm.DTypeError, match="float bounds"):
        ints.clamp(0.5)


def test_clamp_bounds_that_do_not_fit_the_dtype_are_refused_as_pytorch():
    """A bound past the dtype (10**400 for a float tensor failed inside ctypes with a raw
    ArgumentError; 2**40 for int32 in the kernel's checks) is a ValueOverflowError, as
    PyTorch refuses it; -1 into uint8 is 255, as stored values convert."""
    floats, small = tm.tensor(np.array([1.0, 5.0], "float32")), tm.tensor(np.array([1, 5], "int32"))
    for make, message in ((lambda: floats.clamp(min=10**400), "clamp: an int of 1329 bits does not fit in float32"),
                          (lambda: floats.clamp(max=1e300), "clamp: 1e\\+300 does not fit in float32"),
                          (lambda: small.clamp(-2**40, 3), "clamp: -1099511627776 does not fit in int32"),
                          (lambda: floats.clamp_(max=-10**400), "does not fit")):
        with pytest.raises(tm.ValueOverflowError, match=message):
            make()
    assert floats.clamp(max=float("inf")).numpy().tolist() == [1.0, 5.0]
    assert tm.tensor(np.array([1, 5], "uint8")).clamp(min=-1).numpy().tolist() == [255, 255]


def test_one_hot_as_pytorch():
    labels = tm.tensor(np.array([[0, 2], [1, 4]]))
    got = F.one_hot(labels)
    assert got.dtype == "int64" and got.shape == (2, 2, 5)
    np.testing.assert_array_equal(got.numpy(), np.eye(5, dtype="int64")[labels.numpy()])
    assert F.one_hot(labels, num_classes=7).shape == (2, 2, 7)
    with pytest.raises(tm.DTypeError, match="integer"):
        F.one_hot(tm.tensor([0.0, 1.0]))


def test_join_errors_name_the_op_and_shapes():
    a, b = tm.zeros(2, 3), tm.zeros(3, 3)
    with pytest.raises(tm.ShapeError, match=r"cat: tensors of shapes \(2, 3\) and \(3, 3\)"):
        tm.cat([a, b], dim=1)
    with pytest.raises(IndexError, match=r"cat: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        tm.cat([a, a], dim=2)
    assert tm.cat([a, tm.zeros(2, 3, dtype="float64")]).dtype == "float64"     # promotes, as PyTorch
    with pytest.raises(tm.ShapeError, match="one shape"):
        tm.stack([a, b])
    with pytest.raises(tm.ShapeError, match="non-empty"):
        tm.cat([])


def test_cat_skips_legacy_empty_tensors_as_pytorch():
    """A 1-d tensor of shape (0,) (``tm.tensor([])``, the accumulator of a ``x = cat([x,
    row])`` loop) next to tensors of other shapes is skipped, as PyTorch (it raised
    "differ on a dimension"); it still counts for the dtype, and gets an empty gradient."""
    rng = np.random.default_rng(3)
    b = rng.standard_normal((2, 3))
    cases = [([(0,), b], 0), ([b, (0,), b], 1), ([(0,), (0,)], 0), ([(0,), b[0]], 0), ([b, (0,)], -1)]
    for parts, dim in cases:
        arrays = [np.zeros(p) if isinstance(p, tuple) else p for p in parts]
        got = tm.cat([tm.tensor(a) for a in arrays], dim=dim)
        want = np.concatenate([a for a in arrays if a.shape != (0,)] or arrays, axis=dim)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)
    assert tm.cat([tm.zeros(0, dtype="float64"), tm.ones(2, 3)]).dtype == "float64"
    with pytest.raises(IndexError, match="axis 2"):
        tm.cat([tm.zeros(0), tm.ones(2, 3)], dim=2)
    empty = tm.zeros(0, requires_grad=True)
    check_grad(lambda x: tm.cat([tm.zeros(0, dtype="float64"), x * x, tm.zeros(0, dtype="float64")]), b)
    tm.cat([empty, tm.ones(2, 3)]).sum().backward()
    assert empty.grad.shape == (0,) and empty.grad.dtype == "float32"
    acc = tm.tensor([])
    for k in range(3):
        acc = tm.cat([acc, tm.full((1, 2), k)])
    assert acc.dtype == "float32" and acc.numpy().tolist() == [[0, 0], [1, 1], [2, 2]]
    try:
        import torch
    except ImportError:
        return
    for parts, dim in cases:
        pieces = [np.zeros(p) if isinstance(p, tuple) else p for p in parts]
        want = torch.cat([torch.tensor(a) for a in pieces], dim=dim)
        np.testing.assert_array_equal(tm.cat([tm.tensor(a) for a in pieces], dim=dim).numpy(), want.numpy())
    t = torch.zeros(0, requires_grad=True)
    torch.cat([t, torch.ones(2, 3)]).sum().backward()
    assert tuple(t.grad.shape) == empty.grad.shape
    assert torch.cat([torch.zeros(0, dtype=torch.float64), torch.ones(2, 3)]).dtype == torch.float64


def test_join_ops_trace_under_jit():
    """cat, split and pad inside a jitted step give the eager results."""
    def step(x):
        left, right = x.split([1, 2], dim=1)
        return tm.cat([F.pad(right, (1, 0)), left.clamp(min=0.0)], dim=1).sum(1)
    x = tm.tensor(np.random.default_rng(4).standard_normal((4, 3)).astype("float32"))
    np.testing.assert_allclose(tm.jit(step)(x).numpy(), step(x).numpy(), rtol=1e-6)
