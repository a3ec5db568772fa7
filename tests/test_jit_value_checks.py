"""A jitted step refuses the values its eager run refuses: out-of-range indices and class
labels, probabilities outside [0, 1]. The checks are guards of the traced step
(``dispatch.host_check``), so each replay tests its own arguments; before they were,
a replay clamped a bad index to the nearest row and gave a silent wrong answer (a NaN
loss, the first row for ``x[-1]``)."""
import numpy as np
import pytest

import tvmini as tm
from tvmini import nn
from tvmini.errors import IndexingError, ShapeError, TVMiniError

F = nn.functional


def _ints(*values, shape=None):
    return tm.tensor(np.array(values, dtype="int64").reshape(shape or len(values)))


def _scores(rows=4, classes=3):
    return tm.tensor(np.random.default_rng(0).standard_normal((rows, classes)).astype("float32"))


def test_cross_entropy_replay_checks_each_batch_of_labels():
    loss = tm.jit(lambda scores, labels: F.cross_entropy(scores, labels))
    x = _scores()
    good = _ints(0, 1, 2, 1)
    assert np.isclose(loss(x, good).item(), F.cross_entropy(x, good).item())
    assert np.isclose(loss(x, good).item(), F.cross_entropy(x, good).item())     # a replay
    with pytest.raises(ShapeError, match=r"cross_entropy: labels must lie in \[0, 3\), got values in \[0, 5\]"):
        loss(x, _ints(0, 1, 2, 5))
    with pytest.raises(ShapeError, match="got values in"):
        loss(x, _ints(-1, 1, 2, 0))
    other = _ints(2, 2, 0, 1)
    assert np.isclose(loss(x, other).item(), F.cross_entropy(x, other).item()), "good labels run on after a refusal"


def test_nll_loss_and_ignore_index_replays_check_labels():
    loss = tm.jit(lambda scores, labels: F.nll_loss(F.log_softmax(scores, 1), labels, ignore_index=1))
    x = _scores()
    assert np.isfinite(loss(x, _ints(0, 1, 2, 1)).item())
    with pytest.raises(TVMiniError, match="labels must lie in"):
        loss(x, _ints(0, 3, 2, 1))


def test_negative_tensor_index_counts_from_the_end_in_a_replay():
    x = _scores(5, 3)
    pick = tm.jit(lambda a, i: a[i])
    for idx in [(0, 1), (-1, 1), (-5, 4), (2, -2)]:
        i = _ints(*idx)
        np.testing.assert_array_equal(pick(x, i).numpy(), x.numpy()[list(idx)])
        np.testing.assert_array_equal(pick(x, i).numpy(), x[i].numpy())
    with pytest.raises(IndexingError, match="index 5 is out of range for an axis of extent 5"):
        pick(x, _ints(0, 5))
    with pytest.raises(IndexingError, match="index -6 is out of range"):
        pick(x, _ints(-6, 0))


@pytest.mark.parametrize("op, bad, shape", [
    (lambda a, i: a.index_select(0, i), 4, None),
    (lambda a, i: tm.take(a, i), 12, None),
    (lambda a, i: a.gather(1, i), 3, (2, 1)),
    (lambda a, i: tm.take_along_dim(a, i, 1), 3, (1, 2)),
    (lambda a, i: F.embedding(i, a), 4, None),
    (lambda a, i: F.one_hot(i, 3), 3, None),
])
def test_gathers_refuse_out_of_range_indices_in_a_replay(op, bad, shape):
    """(Indices the step computes itself, e.g. ``i.reshape(...)`` inside it, are not
    arguments a replay can read: those the kernels clamp.)"""
    x = tm.tensor(np.arange(12, dtype="float32").reshape(4, 3))
    step = tm.jit(op)
    good = _ints(0, 2, shape=shape)
    np.testing.assert_array_equal(step(x, good).numpy(), op(x, good).numpy())
    with pytest.raises(IndexingError, match=f"index {bad} is out of range"):
        op(x, _ints(0, bad, shape=shape))                 # eagerly
    with pytest.raises(IndexingError, match=f"index {bad} is out of range"):
        step(x, _ints(0, bad, shape=shape))               # and replayed
    np.testing.assert_array_equal(step(x, good).numpy(), op(x, good).numpy())


def test_take_counts_negatives_from_the_end_in_a_replay():
    x = tm.tensor(np.arange(12, dtype="float32").reshape(4, 3))
    step = tm.jit(lambda a, i: tm.take(a, i))
    np.testing.assert_array_equal(step(x, _ints(0, 1)).numpy(), [0, 1])
    np.testing.assert_array_equal(step(x, _ints(-1, -12)).numpy(), [11, 0])


def test_binary_cross_entropy_replay_checks_probabilities():
    loss = tm.jit(lambda p, t: F.binary_cross_entropy(p, t))
    target = tm.tensor(np.array([0.0, 1.0, 1.0], "float32"))
    p = tm.tensor(np.array([0.2, 0.7, 0.9], "float32"))
    assert np.isclose(loss(p, target).item(), F.binary_cross_entropy(p, target).item())
    with pytest.raises(TVMiniError, match="between 0 and 1, found 1.5"):
        loss(tm.tensor(np.array([0.2, 1.5, 0.9], "float32")), target)


def test_a_training_step_with_bad_labels_changes_nothing():
    """The refusal comes before any kernel of the step runs: parameters and gradients
    stay as they were."""
    tm.manual_seed(0)
    model = nn.Linear(3, 4)
    opt = tm.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    jitted = tm.jit(step)
    x = _scores(4, 3)
    jitted(x, _ints(0, 1, 2, 3))
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(ShapeError, match="labels must lie in"):
        jitted(x, _ints(0, 1, 2, 4))
    for p, was in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), was)


def test_margin_and_likelihood_losses_replays_check_targets_and_variances():
    x = _scores()
    margin = tm.jit(lambda scores, labels: F.multi_margin_loss(scores, labels))
    assert np.isclose(margin(x, _ints(0, 1, 2, 1)).item(), F.multi_margin_loss(x, _ints(0, 1, 2, 1)).item())
    with pytest.raises(ShapeError, match=r"multi_margin_loss: target out of range: values in \[0, 3\]"):
        margin(x, _ints(0, 1, 2, 3))
    gaussian = tm.jit(lambda mean, target, var: F.gaussian_nll_loss(mean, target, var))
    mean, target = x, x * 0.5
    var = tm.tensor(np.full((4, 3), 0.5, "float32"))
    assert np.isclose(gaussian(mean, target, var).item(), F.gaussian_nll_loss(mean, target, var).item())
    with pytest.raises(ShapeError, match="var has negative entries"):
        gaussian(mean, target, tm.tensor(np.full((4, 3), -0.5, "float32")))
