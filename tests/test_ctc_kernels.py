"""``topi.ctc``, the CTC loss's kernels (chunks of ``CHUNK`` steps): the loss and its
gradient against a numpy alpha/beta recursion (float64), against PyTorch on random
shapes (size-1 batches and targets, empty targets, repeated labels, short inputs,
impossible targets, padded and concatenated targets, one chunk and two with the last
one past T), float64 finite differences, and the emulated GPU. The shapes are drawn
from a few values, so that the examples share their kernels (the builds dominate)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from graph_gradcheck import check_grad

NEG_INF = -np.inf


def _logsumexp(*xs):
    top = np.max(xs, axis=0)
    safe = np.where(np.isneginf(top), 0.0, top)
    with np.errstate(divide="ignore"):
        return np.where(np.isneginf(top), NEG_INF, safe + np.log(sum(np.exp(x - safe) for x in xs)))


def _np_ctc(log_probs, target, length):
    """(-log p, gradient of -log p with respect to log_probs[:length]) of one sample by
    the textbook alpha/beta recursions in numpy."""
    ext = np.zeros(2 * len(target) + 1, "int64")
    ext[1::2] = target
    width = len(ext)
    allowed = np.array([s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2] for s in range(width)])
    emit = log_probs[:length][:, ext]
    alpha = np.full((length, width), NEG_INF)
    beta = np.full((length, width), NEG_INF)
    if length == 0:
        return (0.0 if not len(target) else np.inf), np.zeros((0, log_probs.shape[1]))
    alpha[0, :min(2, width)] = emit[0, :min(2, width)]
    for t in range(1, length):
        for s in range(width):
            terms = [alpha[t - 1, s]] + ([alpha[t - 1, s - 1]] if s >= 1 else []) + \
                    ([alpha[t - 1, s - 2]] if allowed[s] else [])
            alpha[t, s] = _logsumexp(*terms) + emit[t, s]
    finals = [width - 1] + ([width - 2] if width > 1 else [])
    beta[length - 1, finals] = 0.0
    for t in range(length - 2, -1, -1):
        for s in range(width):
            terms = [beta[t + 1, s] + emit[t + 1, s]]
            if s + 1 < width:
                terms.append(beta[t + 1, s + 1] + emit[t + 1, s + 1])
            if s + 2 < width and allowed[s + 2]:
                terms.append(beta[t + 1, s + 2] + emit[t + 1, s + 2])
            beta[t, s] = _logsumexp(*terms)
    log_p = float(_logsumexp(*alpha[length - 1, finals]))
    grad = np.zeros((length, log_probs.shape[1]))
    if np.isfinite(log_p):
        for s in range(width):
            grad[:, ext[s]] -= np.exp(alpha[:, s] + beta[:, s] - log_p)
    return -log_p, grad


def _case(seed, steps, batch, classes, longest):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, classes))
    counts = rng.integers(0, longest + 1, batch)
    targets = rng.integers(1, classes, (batch, longest)) if classes > 1 else np.zeros((batch, longest), "int64")
    if classes == 1:
        counts[:] = 0
    lengths = rng.integers(0, steps + 1, batch)
    return x, targets, lengths, counts


# (T, N, C): one chunk of steps and two (the second past T), a batch of one, one class
# (the blank only); lengths and labels, device data, vary within each
SHAPES = st.sampled_from([(3, 1, 1), (3, 3, 2), (11, 1, 5), (11, 3, 5)])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10 ** 6), shape=SHAPES, longest=st.integers(0, 3))
def test_loss_and_gradient_match_the_numpy_recursions(seed, shape, longest):
    steps, batch, classes = shape
    x, targets, lengths, counts = _case(seed, steps, batch, classes, longest)
    leaf = tm.tensor(x, requires_grad=True)
    loss = F.ctc_loss(leaf, tm.tensor(targets), lengths, counts, reduction="none")
    head = np.random.default_rng(seed + 1).uniform(0.5, 1.5, batch)
    loss.backward(tm.tensor(head))
    want_grad = np.zeros_like(x)
    for n in range(batch):
        want, grad = _np_ctc(x[:, n], targets[n, :counts[n]], lengths[n])
        np.testing.assert_allclose(loss.numpy()[n], want, rtol=1e-12)
        if np.isfinite(want):
            want_grad[:lengths[n], n] = head[n] * grad
    np.testing.assert_allclose(leaf.grad.numpy(), want_grad, rtol=1e-10, atol=1e-12)
    assert np.isfinite(leaf.grad.numpy()).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10 ** 6), shape=SHAPES.filter(lambda shape: shape[2] > 1),
       longest=st.integers(0, 3), concatenated=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), zero_infinity=st.booleans())
def test_matches_pytorch(seed, shape, longest, concatenated, reduction, zero_infinity):
    torch = pytest.importorskip("torch")
    steps, batch, classes = shape
    x, targets, lengths, counts = _case(seed, steps, batch, classes, longest)
    lengths = np.maximum(lengths, 1)
    if concatenated:
        targets = np.concatenate([targets[n, :counts[n]] for n in range(batch)]).astype("int64")
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got = F.ctc_loss(ours.log_softmax(2), tm.tensor(targets), tm.tensor(lengths), tm.tensor(counts),
                     reduction=reduction, zero_infinity=zero_infinity)
    want = torch.nn.functional.ctc_loss(theirs.log_softmax(2), torch.tensor(targets), torch.tensor(lengths),
                                        torch.tensor(counts), reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    if np.isfinite(want.detach().numpy()).all():
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    targets = tm.tensor(np.array([[1, 1, 2], [3, 2, 0], [4, 4, 4]]))
    check_grad(lambda lp: F.ctc_loss(lp, targets, [11, 5, 10], [3, 2, 3], reduction="sum"),
               rng.standard_normal((11, 3, 5)))
    check_grad(lambda lp: F.ctc_loss(lp, targets, [4, 11, 0], [0, 2, 0], reduction="mean"),
               rng.standard_normal((11, 3, 5)))


def test_float32_long_sequence_stays_finite_and_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((120, 2, 6)).astype("float32") * 4
    targets = rng.integers(1, 6, (2, 20))
    ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got = F.ctc_loss(ours.log_softmax(2), tm.tensor(targets), [120, 90], [20, 15])
    want = torch.nn.functional.ctc_loss(theirs.log_softmax(2), torch.tensor(targets), torch.tensor([120, 90]),
                                        torch.tensor([20, 15]))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-4)
    got.backward()
    want.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_emulated_gpu_runs_the_step_kernels(emulated_gpu):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 2, 4)).astype("float32")
    targets = np.array([1, 2, 3, 3])                  # concatenated: padded by a kernel too
    results = []
    for device in ("cuda", "cpu"):
        leaf = tm.tensor(x, device=device, requires_grad=True)
        loss = F.ctc_loss(leaf.log_softmax(2), tm.tensor(targets, device=device), [5, 4], [2, 2])
        loss.backward()
        results.append((loss.numpy(), leaf.grad.numpy()))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    for kernel in ("ctc_unpack", "ctc_extend", "ctc_alpha_steps", "ctc_beta_grad_steps", "ctc_nll"):
        assert f"{kernel}_" in launched
