"""``F.ctc_loss`` under ``tm.jit``: a traced training step equals the eager one (loss,
gradients, updated weights) across replays with other input and target lengths and
labels of the same padded shapes, without retracing; bad lengths and labels raise in a
replay as eagerly; concatenated targets are refused with a clear message."""
import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn

T, N, C, S = 11, 3, 5, 3       # two chunks of steps, the second one past T


def _batch(seed, longest=S):
    """(features, padded targets, input lengths, target lengths) of one batch."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, longest + 1, N)
    targets = rng.integers(1, C, (N, S))
    targets[np.arange(S)[None, :] >= counts[:, None]] = 0        # PyTorch's usual padding: the blank
    return (tm.tensor(rng.standard_normal((T, N, 4))), tm.tensor(targets), tm.tensor(rng.integers(2 * S, T + 1, N)),
            tm.tensor(counts))


def _run(compiled, batches):
    tm.manual_seed(0)
    model = nn.Linear(4, C).to(dtype="float64")
    opt = tm.optim.SGD(model.parameters(), lr=0.1)

    def step(x, targets, lengths, counts):
        opt.zero_grad()
        loss = F.ctc_loss(model(x).log_softmax(2), targets, lengths, counts)
        loss.backward()
        grad = model.weight.grad.clone()
        opt.step()
        return loss, grad
    run = tm.jit(step) if compiled else step
    out = [[t.numpy() for t in run(*batch)] for batch in batches]
    return out, model.weight.numpy(), run


def test_jitted_training_step_equals_eager_across_lengths():
    batches = [_batch(seed) for seed in range(4)]
    assert len({tuple(b[3].numpy()) for b in batches}) > 1
    eager, weight, _ = _run(False, batches)
    jitted, jit_weight, run = _run(True, batches)
    for (loss, grad), (want_loss, want_grad) in zip(jitted, eager):
        np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(jit_weight, weight, rtol=1e-12)
    assert run.variants == 1            # lengths and labels are data of the one trace


def test_replays_refuse_bad_lengths_and_labels_as_eagerly():
    _, targets, lengths, counts = _batch(0)
    x = tm.tensor(np.random.default_rng(0).standard_normal((T, N, C)))

    @tm.jit
    def loss(x, targets, lengths, counts):
        return F.ctc_loss(x.log_softmax(2), targets, lengths, counts, reduction="sum")
    loss(x, targets, lengths, counts)
    too_long = tm.tensor(np.array([T + 1, T, T]))
    more_labels = tm.tensor(np.array([S + 1, 0, 0]))
    bad_label = tm.tensor(np.array([[C, 1, 1], [1, 1, 1], [1, 1, 1]]))
    for args, message in (((x, targets, too_long, counts), r"input_lengths \[12, 11, 11\]"),
                          ((x, targets, lengths, more_labels), "do not hold target_lengths"),
                          ((x, bad_label, lengths, tm.tensor(np.array([1, 1, 1]))), "target labels must lie")):
        with pytest.raises(tm.ShapeError, match=message):
            loss(*args)
        with pytest.raises(tm.ShapeError, match=message):
            loss.fn(*args)
    loss(x, targets, lengths, counts)


def test_concatenated_targets_are_refused_inside_jit():
    x, _, lengths, counts = _batch(1)
    flat = tm.tensor(np.ones(int(counts.numpy().sum()), "int64"))
    with pytest.raises(tm.TVMiniError, match="inside tm.jit, pass padded"):
        tm.jit(lambda a, t, i, c: F.ctc_loss(a.log_softmax(2), t, i, c))(x[:, :, :2], flat, lengths, counts)
