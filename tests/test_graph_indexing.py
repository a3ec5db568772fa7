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


def test_assigning_into_a_saved_tensor_makes_backward_raise():
    """The write is in place (the tensor's version moves on), so a gradient that would
    read the old values refuses, as PyTorch's."""
    w = tm.tensor(np.ones(3))
    x = tm.tensor(np.arange(3.0), requires_grad=True)
    y = (x * w).sum()
    w[1] = 5.0
    with pytest.raises(tm.AutogradError, match="modified by an inplace operation"):
        y.backward()


def test_assigning_a_tensor_that_requires_grad_is_refused():
    """The write would not be recorded, so its gradient would be lost silently."""
    x = tm.tensor(np.arange(3.0), requires_grad=True)
    y = tm.zeros(2, 3, dtype="float64")
    with pytest.raises(tm.AutogradError, match="tm.cat, tm.stack or tm.where"):
        y[0] = x * 2
    y[0] = (x * 2).detach()
    np.testing.assert_array_equal(y.numpy()[0], [0.0, 2.0, 4.0])
