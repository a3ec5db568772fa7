"""Indexing graph Tensors (tvmini.graph.indexing): basic indices on hypothesis-drawn
shapes against numpy (values and the gradient placed back), one build per window shape
whatever the offsets, integer-array and mask indices, and the refusals."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from graph_gradcheck import check_grad
from strategies import examples


@st.composite
def basic_index(draw, shape):
    index = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            index.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.one_of(st.none(), st.integers(-n, n - 1)))
            stop = draw(st.one_of(st.none(), st.integers(-n, n)))
            step = draw(st.sampled_from([None, 1, 2, 3]))
            if len(range(*slice(start, stop, step).indices(n))) == 0:
                start, stop = None, None
            index.append(slice(start, stop, step))
        else:
            index.append(slice(None))
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)
    return tuple(index)


@examples(25)
@given(st.data())
def test_basic_indexing_matches_numpy_and_places_the_gradient_back(data):
    shape = tuple(data.draw(st.lists(st.sampled_from([1, 2, 3, 5, 7]), min_size=1, max_size=3), label="shape"))
    index = data.draw(basic_index(shape), label="index")
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    t = tm.tensor(x, requires_grad=True)
    got = t[index]
    np.testing.assert_array_equal(got.numpy(), x[index])
    head = np.random.default_rng(1).standard_normal(x[index].shape)
    got.backward(tm.tensor(head))
    want = np.zeros(shape)
    want[index] += head
    np.testing.assert_array_equal(t.grad.numpy(), want)


def test_one_kernel_serves_every_offset():
    """Rows x[i] and batches x[i:i+8] pass their offsets at run time: walking a tensor
    builds one kernel per window shape, not one per offset (it built one per offset)."""
    x = tm.tensor(np.arange(64 * 5, dtype="float32").reshape(64, 5))
    x[0], x[0:8]
    built = tm.graph.kernel_count()
    rows = [x[i] for i in range(64)]
    batches = [x[i:i + 8] for i in range(0, 64, 8)]
    assert tm.graph.kernel_count() == built
    np.testing.assert_array_equal(np.stack([r.numpy() for r in rows]), x.numpy())
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches]), x.numpy())
    assert [r.numpy()[0] for r in x][:3] == [0, 5, 10]          # iteration too


def test_integer_array_and_mask_indices():
    x = np.arange(24.0).reshape(4, 6)
    t = tm.tensor(x)
    np.testing.assert_array_equal(t[[3, -1, 0]].numpy(), x[[3, -1, 0]])
    np.testing.assert_array_equal(t[:, np.array([5, 0, 5])].numpy(), x[:, [5, 0, 5]])
    np.testing.assert_array_equal(t[..., tm.tensor(np.array([[1, 2], [0, 0]]))].numpy(), x[..., [[1, 2], [0, 0]]])
    mask = x % 5 == 0
    np.testing.assert_array_equal(t[tm.tensor(mask)].numpy(), x[mask])
    rows = np.array([True, False, True, True])
    np.testing.assert_array_equal(t[rows].numpy(), x[rows])
    check_grad(lambda u: u[[0, 2, 0]] * u[tm.tensor(rows)][:3], x[:, :2])


def test_integer_tensor_index_traces_under_jit():
    table = tm.tensor(np.random.default_rng(0).standard_normal((10, 3)).astype("float32"))
    step = tm.jit(lambda idx: table[idx].sum(0))
    for picks in ([1, 2, 2], [9, 0, 4]):
        idx = tm.tensor(np.array(picks))
        np.testing.assert_allclose(step(idx).numpy(), table.numpy()[picks].sum(0), rtol=1e-6)


def test_indexing_refusals_name_the_index_and_shape():
    t = tm.tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=r"index 3 is out of range for axis 0 with extent 3"):
        t[[0, 3]]
    with pytest.raises(IndexError, match="only one integer-array or mask index"):
        t[[0], [1]]
    with pytest.raises(IndexError, match="only be combined with full slices"):
        t[1, [0, 1]]
    with pytest.raises(IndexError, match=r"mask of shape \(4,\) does not match"):
        t[np.ones(4, bool)]
    with pytest.raises(IndexError, match="must hold integers or bools"):
        t[np.array([0.0])]
    with pytest.raises(IndexError, match="None cannot be combined"):
        t[None, [0]]


@examples(20)
@given(st.data())
def test_assignment_through_basic_indices_matches_numpy(data):
    shape = tuple(data.draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3), label="shape"))
    index = tuple(i for i in data.draw(basic_index(shape), label="index") if i is not None)
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype("float32")
    selected = x[index].shape
    kind = data.draw(st.sampled_from(["number", "full", "broadcast"]), label="value")
    value = {"number": 2.5, "full": np.arange(np.prod(selected), dtype="float32").reshape(selected),
             "broadcast": np.arange(selected[-1], dtype="float32") if selected else np.array(3.0, "float32")}[kind]
    t = tm.tensor(x)
    t[index] = value if kind == "number" else tm.tensor(value)
    want = x.copy()
    want[index] = value
    np.testing.assert_array_equal(t.numpy(), want)


def test_mask_assignment_masked_fill_and_refusals():
    x = np.arange(12.0).reshape(3, 4)
    t = tm.tensor(x)
    t[tm.tensor(x % 3 == 0)] = -1.0
    t[np.array([False, True, False])] = tm.tensor(7.0)
    want = x.copy()
    want[x % 3 == 0] = -1
    want[1] = 7
    np.testing.assert_array_equal(t.numpy(), want)
    np.testing.assert_array_equal(tm.tensor(x).masked_fill_(tm.tensor(x > 5), 0.0).numpy(), np.where(x > 5, 0, x))
    check_grad(lambda u: u.masked_fill(u > 0.2, 3.0) * u, np.random.default_rng(0).uniform(-1, 1, (3, 4)))
    with pytest.raises(IndexError, match="no integer-array assignment"):
        t[[0, 1]] = 1.0
    with pytest.raises(IndexError, match="number or a 0-d tensor"):
        t[tm.tensor(x > 3)] = tm.tensor(np.ones(4))
    with pytest.raises(tm.ShapeError, match="setitem"):
        t[0] = tm.tensor(np.ones(3))
    leaf = tm.tensor(x, requires_grad=True)
    with pytest.raises(tm.AutogradError, match="requires grad"):
        leaf[0] = 1.0
    with tm.no_grad():
        leaf[0] = 1.0
    assert leaf.numpy()[0].tolist() == [1.0] * 4


def _torch_or_none():
    try:
        import torch
        return torch
    except ImportError:
        return None


EMPTY_ASSIGNMENTS = [   # (shape, index, value): an integer index with no positions writes nothing
    ((3,), [], 1.0),
    ((2, 3), [], np.ones(3)),
    ((2, 3), [], np.ones((1, 3))),
    ((2, 3), (slice(None), []), 2.0),
    ((3,), np.zeros(0, np.int64), 1.0),
    ((3,), "empty int64 tensor", 1.0),
    ((2, 3), np.zeros((2, 3), bool), 1.0),          # an all-False mask: nothing either
]


@pytest.mark.parametrize("case", range(len(EMPTY_ASSIGNMENTS)))
def test_assignment_through_an_empty_index_is_a_no_op_as_pytorch(case):
    """``x[[]] = v`` raised "no integer-array assignment"; PyTorch writes nothing, after
    checking that the value broadcasts to the empty selection."""
    shape, index, value = EMPTY_ASSIGNMENTS[case]
    x = np.arange(np.prod(shape), dtype="float32").reshape(shape)

    def assign(T):
        t = T.tensor(x.copy())
        i = T.tensor(np.zeros(0, np.int64)) if isinstance(index, str) else index
        t[i] = T.tensor(value.astype("float32")) if isinstance(value, np.ndarray) else value
        return t
    np.testing.assert_array_equal(assign(tm).numpy(), x)
    torch = _torch_or_none()
    if torch is not None:
        np.testing.assert_array_equal(assign(torch).numpy(), x)


def test_assignment_through_an_empty_index_still_checks_the_value():
    t = tm.zeros(2, 3)
    with pytest.raises(tm.ShapeError, match=r"\(2,\).*\(0, 3\)|\(0, 3\).*\(2,\)"):
        t[[]] = tm.ones(2)
    with pytest.raises(tm.ShapeError, match=r"\(5, 1, 3\).*\(0, 3\)"):
        t[[]] = tm.ones(5, 1, 3)
    with pytest.raises(tm.ValueOverflowError, match="does not fit in int64"):
        tm.zeros(3, dtype="int64")[[]] = 2 ** 70
    with pytest.raises(tm.AutogradError, match="requires grad"):
        tm.zeros(3, requires_grad=True)[[]] = 1.0
    torch = _torch_or_none()
    if torch is not None:
        for value in (torch.ones(2), torch.ones(5, 1, 3)):
            with pytest.raises(RuntimeError, match="shape mismatch"):
                torch.zeros(2, 3)[[]] = value


FILL_CASES = [      # (array, value, numpy's answer for the elements the mask selects)
    (np.array([1, 2, 3]), 2.7, 2),                       # truncated into int64
    (np.array([1, 2, 3]), -2.7, -2),
    (np.array([1.0, 2.0, 3.0], np.float32), True, 1.0),
    (np.array([True, False, True]), 5, True),
    (np.array([1, 2, 3], np.uint8), -1, 255),             # wraps, as PyTorch
    (np.array([1, 2, 3], np.uint8), 255, 255),
    (np.array([1, 2, 3], np.int8), -128, -128),
]


@pytest.mark.parametrize("how", ["masked_fill", "masked_fill_", "setitem_mask", "setitem_basic"])
@pytest.mark.parametrize("case", range(len(FILL_CASES)))
def test_fills_keep_the_dtype_and_convert_the_value_as_pytorch(how, case):
    # masked_fill promoted (int64 filled with 2.7 became float32, bool with 5 int64); the
    # in-place mask fills leaked a kernel DTypeError for a float into an int tensor
    array, value, want_value = FILL_CASES[case]
    mask = np.array([False, True, True])

    def fill(T, x, m):
        if how == "masked_fill":
            return x.masked_fill(m, value)
        if how == "masked_fill_":
            return x.masked_fill_(m, value)
        if how == "setitem_mask":
            x[m] = value
        else:
            x[1:] = value
        return x
    got = fill(tm, tm.tensor(array.copy()), tm.tensor(mask))
    want = array.copy()
    want[mask] = want_value
    assert got.dtype == str(array.dtype)
    np.testing.assert_array_equal(got.numpy(), want)
    torch = _torch_or_none()
    if torch is not None:
        ref = fill(torch, torch.tensor(array.copy()), torch.tensor(mask))
        np.testing.assert_array_equal(got.numpy(), ref.numpy())


@pytest.mark.parametrize("array,value", [(np.array([1, 2, 3], np.uint8), 300), (np.array([1, 2, 3], np.uint8), -300),
                                         (np.array([1, 2, 3], np.int8), 128), (np.array([1, 2, 3]), 2 ** 63),
                                         (np.array([1, 2, 3]), float("nan")),
                                         (np.array([1.0, 2.0, 3.0], np.float32), 1e300)])
def test_fills_refuse_a_value_the_dtype_cannot_hold(array, value):
    # uint8[mask] = 300 wrapped silently to 44; PyTorch raises, as the basic path did
    mask = np.array([False, True, True])
    for fill in (lambda x, m: x.masked_fill(m, value), lambda x, m: x.masked_fill_(m, value),
                 lambda x, m: x.__setitem__(m, value), lambda x, m: x.__setitem__(slice(1, None), value)):
        x = tm.tensor(array.copy())
        with pytest.raises(tm.ValueOverflowError, match=f"does not fit in {array.dtype}") as info:
            fill(x, tm.tensor(mask))
        assert isinstance(info.value, OverflowError)
        np.testing.assert_array_equal(x.numpy(), array)
        torch = _torch_or_none()
        if torch is not None:
            with pytest.raises((RuntimeError, OverflowError, ValueError)):      # whichever it names
                fill(torch.tensor(array.copy()), torch.tensor(mask))


def test_masked_fill_with_a_0d_tensor_value_and_its_refusals():
    x = tm.tensor(np.array([1, 2, 3]))
    mask = tm.tensor(np.array([False, True, True]))
    got = x.masked_fill(mask, tm.tensor(np.float64(2.5)))
    assert got.dtype == "int64" and got.numpy().tolist() == [1, 2, 2]
    f = tm.tensor(np.array([1.0, 2.0, 3.0], np.float32))
    value = tm.tensor(np.float32(4.0), requires_grad=True)
    f.masked_fill(mask, value).sum().backward()           # the value's gradient counts its places
    assert value.grad.numpy() == 2.0
    with pytest.raises(tm.IndexingError, match="masked_fill: the value must be a number or a 0-d tensor"):
        f.masked_fill(mask, tm.tensor([7.0, 8.0, 9.0]))
    with pytest.raises(tm.DTypeError, match="mask must be a bool tensor, got int64"):
        f.masked_fill(tm.tensor([1, 0, 1]), 0.0)


def test_assigning_into_a_saved_tensor_makes_backward_raise():
    """The write is in place (the tensor's version moves on), so a gradient that would
    read the old values refuses, as PyTorch's."""
    w = tm.tensor(np.ones(3))
    x = tm.tensor(np.arange(3.0), requires_grad=True)
    y = (x * w).sum()
    w[1] = 5.0
    with pytest.raises(tm.AutogradError, match="modified by an inplace operation"):
        y.backward()


def test_assigning_a_tensor_that_requires_grad_is_recorded():
    """Through basic indices the write is recorded (PyTorch's CopySlices), so the gradient
    reaches the value; through a mask it is refused (it would be lost silently)."""
    x = tm.tensor(np.arange(3.0), requires_grad=True)
    y = tm.zeros(2, 3, dtype="float64")
    y[0] = x * 2
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0, 6.0])
    z = tm.zeros(2, 3, dtype="float64")
    with pytest.raises(tm.AutogradError, match="tm.cat, tm.stack or tm.where"):
        z[tm.tensor([True, False])] = (x * 2).sum()
    y = tm.zeros(2, 3, dtype="float64")
    y[0] = (x * 2).detach()
    np.testing.assert_array_equal(y.numpy()[0], [0.0, 2.0, 4.0])
