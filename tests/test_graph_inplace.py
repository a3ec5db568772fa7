"""In-place arithmetic on graph Tensors (``x += y``, ``add_``, ``mul_`` ...) and writes
into tensors PyTorch would alias.

``x -= lr * x.grad`` under ``no_grad`` is the hand-written SGD step of every tutorial:
it must update the tensor itself (Python's fallback ``x = x - ...`` rebound the loop
variable and left a module's parameters unchanged, silently). Results of indexing and
view ops (``x[0]``, ``x.reshape``, ``x.T`` ...) are copies in tvmini but views in PyTorch:
a write into a basic-indexing result also goes to its source, as PyTorch's; into the
others it would not reach the source, so it is an error naming the fix.
"""
import numpy as np
import pytest

import tvmini as tm
from tvmini import nn
from graph_gradcheck import check_grad

try:
    import torch            # an optional cross-check
except ImportError:
    torch = None


def test_the_hand_written_sgd_step_updates_the_module():
    model = nn.Linear(3, 2)
    before = [p.numpy().copy() for p in model.parameters()]
    model(tm.randn(8, 3)).sum().backward()
    with tm.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for p, old in zip(model.parameters(), before):
        np.testing.assert_allclose(p.numpy(), old - 0.1 * p.grad.numpy(), rtol=1e-6)


def _updated(a, row):
    """``a`` after a run of in-place updates with ``row`` (a tensor of either library:
    tvmini's and torch's spellings agree); returns the same object."""
    a += 1
    a *= row
    a.add_(row, alpha=2)
    a.sub_(0.5)
    a /= 3
    a.div_(row)
    a **= 2
    return a


def test_in_place_operators_change_the_tensor_every_reference_sees():
    rng = np.random.default_rng(0)
    a0, row = rng.uniform(1, 2, (2, 3)).astype("float32"), rng.uniform(1, 2, 3).astype("float32")
    alias = tm.tensor(a0.copy())
    assert _updated(alias, tm.tensor(row)) is alias
    want = ((((a0 + 1) * row + 2 * row - 0.5) / 3) / row) ** 2
    np.testing.assert_allclose(alias.numpy(), want, rtol=1e-5)
    if torch is not None:
        t = _updated(torch.tensor(a0.copy()), torch.tensor(row))
        np.testing.assert_allclose(alias.numpy(), t.numpy(), rtol=1e-5)
    i = tm.tensor(np.arange(5))
    i //= 2
    i %= 2
    i.fill_(3)
    np.testing.assert_array_equal(i.numpy(), np.full(5, 3))
    f = tm.ones(3)
    f += tm.ones(3, dtype="float64")          # float64 stored into float32, as PyTorch
    assert f.dtype == "float32"


def test_in_place_refusals():
    with pytest.raises(tm.DTypeError, match="in-place \\+=: the result is float32.* int64"):
        i = tm.tensor(np.arange(3))
        i += 0.5
    with pytest.raises(tm.ShapeError, match="in-place \\*=: the result's shape \\(2, 3\\)"):
        v = tm.ones(3)
        v *= tm.ones(2, 3)
    w = tm.ones(3, requires_grad=True)
    with pytest.raises(tm.AutogradError, match="in-place -= into a tensor of shape \\(3,\\) that requires grad"):
        w -= 1
    h = w * 2                               # a mask write is not recorded: refused, naming the rewrite
    with pytest.raises(tm.AutogradError, match="autodiff tracks.*tm.where\\(mask, v, x\\)"):
        h[tm.tensor([True, False, True])] = 1.0
    with pytest.raises(tm.AutogradError, match="requires grad \\(a leaf, or a view of one\\)"):
        w[0] += 1                           # as PyTorch: a view of a leaf that requires grad


def _in_place_cases(lib):
    """{name: gradient of x} for in-place arithmetic on tensors autodiff tracks, run with
    ``lib`` (tm or torch): each rebases the tensor's history, as PyTorch's."""
    def fresh():
        return lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    grads = {}
    x = fresh()
    out = x * 3.0
    out += x * 1.0                          # a residual block's out += identity
    out.relu().sum().backward()
    grads["residual"] = x.grad
    x, w = fresh(), lib.tensor([2.0, 3.0, 4.0], requires_grad=True)
    a = x * 1.0
    a.mul_(w)                               # the gradient of w reads a's value before the write
    a.sum().backward()
    grads["mul_ by a tensor"], grads["w"] = x.grad, w.grad
    x = fresh()
    h = x * 2.0
    z = h + 1.0                             # used before the write: its gradient goes to the old h
    h *= 3.0
    (z.sum() + h.sum()).backward()
    grads["used before"] = x.grad
    x, plain = fresh(), lib.ones(3)
    plain.add_(x * x)                       # a plain tensor takes the history of what it adds
    plain.sum().backward()
    grads["into a plain tensor"] = x.grad
    x = fresh()
    p = x * 1.0
    p **= 2
    p /= 2.0
    p.sum().backward()
    grads["pow and div"] = x.grad
    return {k: g.detach().numpy() if hasattr(g, "detach") else g.numpy() for k, g in grads.items()}


def test_in_place_arithmetic_on_tracked_tensors_is_recorded_as_pytorch():
    x = np.array([1.0, -2.0, 3.0])
    _assert_as_formula_and_torch(_in_place_cases, {
        "residual": np.where(4 * x > 0, 4.0, 0.0), "mul_ by a tensor": [2.0, 3.0, 4.0], "w": x,
        "used before": [8.0, 8.0, 8.0], "into a plain tensor": 2 * x, "pow and div": x})


def _assert_as_formula_and_torch(cases, want):
    """``cases(tm)`` gives ``want`` (name -> values), and what ``cases(torch)`` gives when
    PyTorch is installed."""
    got = cases(tm)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)
    if torch is not None:
        theirs = cases(torch)
        for name in got:
            np.testing.assert_allclose(got[name], theirs[name], rtol=1e-6, err_msg=name)


def test_a_use_before_an_in_place_op_gets_its_gradient_whatever_the_order():
    """``u = h.sum(); h += 1; (h.sum() + u).backward()``: the op that rebased ``h`` was
    freed by its backward before ``u``'s op looked up the ``h`` it had taken, so that
    gradient went to the new ``h`` and was lost (w.grad 2 instead of PyTorch's 4)."""
    for first in (True, False):
        w = tm.ones(3, requires_grad=True)
        h = w * 2.0
        u = h.sum()
        h += 1.0
        ((h.sum() + u) if first else (u + h.sum())).backward()
        np.testing.assert_array_equal(w.grad.numpy(), [4.0, 4.0, 4.0])

def test_in_place_arithmetic_over_a_value_saved_for_backward_raises():
    for lib, error in [(tm, tm.AutogradError)] + ([(torch, RuntimeError)] if torch is not None else []):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 2.0
        z = h * h                           # saved h's values for its gradient
        h += 1.0
        with pytest.raises(error, match="modified by an inplace operation"):
            z.sum().backward()
        e = x.exp()                         # exp's gradient reads its output
        e += 1.0
        with pytest.raises(error, match="modified by an inplace operation"):
            e.sum().backward()


def test_in_place_residual_in_a_jitted_step_equals_eager():
    w = tm.nn.Parameter(tm.tensor([0.5, -1.0, 2.0]))

    def step(x):
        out = x * w
        out += x
        out.relu().sum().backward()
    jitted = tm.jit(step)
    for k in range(3):
        x = tm.tensor([1.0, 2.0, -3.0]) * (k + 1)
        w.grad = None
        step(x)
        want = w.grad.numpy()
        w.grad = None
        jitted(x)
        np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-6)


def test_an_in_place_write_makes_a_saved_tensor_stale():
    x = tm.ones(3, requires_grad=True)
    y = tm.ones(3)
    out = (x * y).sum()
    y += 1                                  # y was saved for x's gradient
    with pytest.raises(tm.AutogradError, match="version"):
        out.backward()


@pytest.mark.parametrize("make", [
    lambda x: x.reshape(6), lambda x: x.view(3, 2), lambda x: x.T, lambda x: x.unsqueeze(0),
    lambda x: x.expand(4, 2, 3), lambda x: x[None, 0],
])
def test_writing_into_what_pytorch_would_alias_is_an_error(make):
    x = tm.zeros(2, 3)
    part = make(x)
    with pytest.raises(tm.IndexingError, match="copy where PyTorch returns a view"):
        part[...] = 7.0
    with pytest.raises(tm.IndexingError, match="in-place add_"):
        part.add_(1)
    np.testing.assert_array_equal(x.numpy(), np.zeros((2, 3)))
    mine = part.clone()                      # a copy of one's own is writable
    mine += 1
    np.testing.assert_array_equal(mine.numpy(), np.ones(part.shape))


def _writes_through_indexing(lib):
    """Writes into basic-indexing results, which are views in PyTorch (copies in tvmini
    that write through to their source), run with ``lib`` (tm or torch)."""
    x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    counts = lib.zeros(3, dtype=lib.int64)
    x[0] += 1                               # Python: t = x[0]; t += 1; x[0] = t
    x[:, 1] *= 2
    counts[2] += 1
    counts[lib.tensor(1)] += 1              # a 0-d integer tensor indexes as an int
    row = x[1]
    row -= 10                               # a view written in place changes x
    x[0][1] = 7.0
    x[1][0] += 0.5
    x[1:][0][2:].fill_(9.0)
    x[0, :2].zero_()
    x[:, 2].copy_(lib.tensor([8.0, -8.0]))
    next(iter(x)).mul_(2.0)
    x[0].detach().add_(1.0)
    return x.numpy(), counts.numpy()


def test_writes_into_indexing_results_reach_the_source_as_in_pytorch():
    """``x[0] += 1`` raised an IndexingError (Python writes into ``x[0]``, a copy here,
    before assigning it back); every write into a basic-indexing result now also goes
    to the tensor it came from, as into PyTorch's view."""
    got = _writes_through_indexing(tm)
    np.testing.assert_array_equal(got[0], [[1.0, 1.0, 17.0], [-5.5, 0.0, -8.0]])
    np.testing.assert_array_equal(got[1], [0, 1, 1])
    if torch is not None:
        want = _writes_through_indexing(torch)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def _recorded_assignments(lib):
    """{name: gradient} of assignments into tensors autodiff tracks (PyTorch records them:
    CopySlices), run with ``lib``."""
    weights = lib.tensor([1.0, 2.0, 3.0])
    grads = {}
    w, v = lib.tensor([1.0, 2.0, 3.0], requires_grad=True), lib.tensor(0.5, requires_grad=True)
    h = w * 2
    h[0] = v * 3                            # the old h[0] gets no gradient, v gets 3 * weights[0]
    (h * weights).sum().backward()
    grads["assign"], grads["value"] = w.grad, v.grad
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 2
    h[0] += 1
    h[1:] *= w[:2]                          # reads h[1:] and w before the write
    (h * weights).sum().backward()
    grads["augmented"] = w.grad
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = w * 2
    used = h.sum()                          # recorded before the writes: takes the old h
    row = h[1:]
    row += w[1:] * w[1:]
    ((h * weights).sum() + used).backward()
    grads["view +="] = w.grad
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    plain = lib.zeros(2, 3)
    plain[1] = w.exp()                      # a plain tensor takes the history of what it holds
    (plain * 2).sum().backward()
    grads["into a plain tensor"] = w.grad
    return {k: g.detach().numpy() if hasattr(g, "detach") else g.numpy() for k, g in grads.items()}


def _assign_window(x, v):
    h = x * 1.5
    h[1:, ::2] = v.exp()
    h[0] *= v[0, 0]
    return h


def test_recorded_assignment_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    check_grad(_assign_window, rng.standard_normal((3, 4)), rng.standard_normal((2, 2)))

def test_assignments_into_tracked_tensors_are_recorded_as_pytorch():
    w = np.array([1.0, 2.0, 3.0])
    _assert_as_formula_and_torch(_recorded_assignments, {
        "assign": [0.0, 4.0, 6.0], "value": 3.0, "augmented": [2 + 4 * w[1], 4 * w[0] + 6 * w[2], 6 * w[1]],
        "view +=": [4.0, 6 + 4 * w[1], 8 + 6 * w[2]], "into a plain tensor": 2 * np.exp(w)})


def test_the_source_itself_and_leaf_gradients_stay_writable():
    x = tm.zeros(2, 3)
    x[0, 1] = 7.0                            # instead of x[0][1] = 7
    same = x[:]                              # the whole tensor: x itself, as PyTorch's alias
    same[1, 2] = 5.0
    np.testing.assert_array_equal(x.numpy(), [[0, 7, 0], [0, 0, 5]])
    w = tm.randn(3, 2, requires_grad=True)
    (w.reshape(6) * 2).sum().backward()      # the gradient arrives through a reshape
    w.grad.mul_(0.5)
    np.testing.assert_array_equal(w.grad.numpy(), np.ones((3, 2)))
