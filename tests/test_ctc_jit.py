"""``F.ctc_loss`` under ``tm.jit``: a traced training step equals the eager one (loss,
gradients, updated weights) across replays with other input and target lengths and
labels of the same padded shapes, without retracing; bad lengths and labels raise in a
replay as eagerly; concatenated targets retrace only for a new longest length."""
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


def test_concatenated_targets_in_a_jitted_step_retrace_only_for_a_new_longest_length():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, N, C))

    def loss(a, targets, lengths, counts):
        out = F.ctc_loss(a.log_softmax(2), targets, lengths, counts, reduction="none")
        out.sum().backward()
        return out, a.grad
    jitted = tm.jit(loss)
    for counts in ([2, 0, 3], [3, 1, 1], [1, 1, 2]):       # longest 3, 3, then 2: a second trace
        counts = np.array(counts)
        flat = rng.integers(1, C, int(counts.sum()))
        args = (tm.tensor(flat), tm.tensor(np.full(N, T)), tm.tensor(counts))
        got = jitted(tm.tensor(x, requires_grad=True), *args)
        want = loss(tm.tensor(x, requires_grad=True), *args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12)
        ref = torch.tensor(x, requires_grad=True)
        torch.nn.functional.ctc_loss(ref.log_softmax(2), torch.tensor(flat), torch.tensor(np.full(N, T)),
                                     torch.tensor(counts), reduction="none").sum().backward()
        np.testing.assert_allclose(got[1].numpy(), ref.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert jitted.variants == 2
    with pytest.raises(tm.ShapeError, match="concatenated targets of shape \\(4,\\) hold fewer"):
        jitted(tm.tensor(x, requires_grad=True), tm.tensor(np.ones(4, "int64")), tm.tensor(np.full(N, T)),
               tm.tensor(np.array([2, 1, 2])))


def test_int32_lengths_are_checked_in_replays():
    """Lengths of another integer type are converted for the kernels after the check, so
    a replay checks the step's own int32 argument."""
    _, targets, lengths, counts = _batch(2)
    x = tm.tensor(np.random.default_rng(1).standard_normal((T, N, C)))
    loss = tm.jit(lambda a, t, i, c: F.ctc_loss(a.log_softmax(2), t, i, c))
    as32 = [tm.tensor(v.numpy().astype("int32")) for v in (targets, lengths, counts)]
    np.testing.assert_allclose(loss(x, *as32).numpy(), F.ctc_loss(x.log_softmax(2), targets, lengths, counts).numpy(),
                               rtol=1e-12)
    with pytest.raises(tm.ShapeError, match="input_lengths"):
        loss(x, as32[0], tm.tensor(np.array([T + 3, 1, 1], "int32")), as32[2])
