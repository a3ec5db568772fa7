"""The margin, embedding and likelihood losses (graph/margin_losses.py,
graph/likelihood_losses.py, nn/margin_loss.py): values and gradients against PyTorch for
every reduction, values against numpy formulas, gradients against float64 finite
differences, PyTorch's shape rules (unbatched inputs, the Gaussian variance's shapes,
legacy size_average/reduce), errors naming the op, and a run on the emulated GPU."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import DTypeError, ShapeError
from graph_gradcheck import check_grad

RNG = np.random.default_rng(0)
REDUCTIONS = ("none", "mean", "sum")


def _signs(shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def _cases():
    """(name, call, differentiated arrays, fixed arrays): ``call(F, *differentiated,
    *fixed, reduction)`` works with tvmini's functional module and torch's alike; the
    fixed ones are those PyTorch does not differentiate (labels, signs, weights)."""
    x1, x2, x3 = (RNG.standard_normal((5, 4)) for _ in range(3))
    w4 = RNG.uniform(0.5, 2.0, 4)
    labels = np.array([0, 3, 1, 1, 2])
    listed = np.array([[3, 0, -1, 1], [1, 1, 2, -1], [-1, 0, 1, 2], [0, 1, 2, 3], [2, -1, 3, 3]])
    counts = RNG.integers(0, 5, (5, 4)).astype("float64")
    return [
        ("margin_ranking", lambda f, a, b, y, red: f.margin_ranking_loss(a, b, y, 0.3, reduction=red),
         [x1, x2], [_signs((5, 4))]),
        ("margin_ranking_broadcast", lambda f, a, b, y, red: f.margin_ranking_loss(a, b, y, reduction=red),
         [x1[:, :1], x2], [_signs((1, 4))]),
        ("hinge_embedding", lambda f, a, y, red: f.hinge_embedding_loss(a, y, 0.7, reduction=red),
         [x1], [_signs((5, 4))]),
        ("soft_margin", lambda f, a, y, red: f.soft_margin_loss(a, y, reduction=red), [x1 * 3], [_signs((5, 4))]),
        ("multilabel_soft_margin", lambda f, a, w, y, red: f.multilabel_soft_margin_loss(a, y, w, reduction=red),
         [x1, w4], [(RNG.random((5, 4)) < 0.5).astype("float64")]),
        ("multi_margin_p1", lambda f, a, w, t, red: f.multi_margin_loss(a, t, 1, 0.8, w, reduction=red),
         [x1], [w4, labels]),
        ("multi_margin_p2", lambda f, a, t, red: f.multi_margin_loss(a, t, p=2, reduction=red), [x1], [labels]),
        ("multi_margin_unbatched", lambda f, a, t, red: f.multi_margin_loss(a, t, reduction=red),
         [x1[0]], [np.int64(2)]),
        ("multilabel_margin", lambda f, a, t, red: f.multilabel_margin_loss(a, t, reduction=red), [x1], [listed]),
        ("multilabel_margin_unbatched", lambda f, a, t, red: f.multilabel_margin_loss(a, t, reduction=red),
         [x1[1]], [listed[1]]),
        ("cosine_embedding", lambda f, a, b, y, red: f.cosine_embedding_loss(a, b, y, 0.1, reduction=red),
         [x1, x2], [_signs(5)]),
        ("cosine_embedding_unbatched", lambda f, a, b, y, red: f.cosine_embedding_loss(a, b, y, reduction=red),
         [x1[0], x2[0]], [np.float64(-1.0)]),
        ("triplet_p3", lambda f, a, p, n, red: f.triplet_margin_loss(a, p, n, 2.0, 3, reduction=red), [x1, x2, x3], []),
        ("triplet_swap", lambda f, a, p, n, red: f.triplet_margin_loss(a, p, n, 2.0, swap=True, reduction=red),
         [x1, x2, x3], []),
        ("triplet_distance", lambda f, a, p, n, red: f.triplet_margin_with_distance_loss(
            a, p, n, distance_function=lambda u, v: 1.0 - f.cosine_similarity(u, v), margin=0.5, swap=True,
            reduction=red), [x1, x2, x3], []),
        ("poisson_log", lambda f, a, y, red: f.poisson_nll_loss(a, y, reduction=red), [x1, counts], []),
        ("poisson_full", lambda f, a, y, red: f.poisson_nll_loss(a, y, False, True, eps=1e-6, reduction=red),
         [np.abs(x1) + 0.1, counts + 0.5], []),
        ("gaussian_same_shape", lambda f, a, y, v, red: f.gaussian_nll_loss(a, y, v, reduction=red),
         [x1, x2, np.abs(x3) + 0.1], []),
        ("gaussian_per_sample", lambda f, a, y, v, red: f.gaussian_nll_loss(a, y, v, True, reduction=red),
         [x1, x2, np.abs(x3[:, 0]) + 0.1], []),
        ("gaussian_one_axis", lambda f, a, y, v, red: f.gaussian_nll_loss(a, y, v, reduction=red),
         [x1, x2, np.abs(x3[:1]) + 0.1], []),
    ]


CASES = _cases()


def _leaves(make, floats, fixed):
    return [make(a, True) for a in floats] + [make(a, False) for a in fixed]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_pytorch(case):
    torch = pytest.importorskip("torch")
    _, call, floats, ints = case
    for red in REDUCTIONS:
        ours = _leaves(lambda a, g: tm.tensor(np.asarray(a), requires_grad=g), floats, ints)
        theirs = _leaves(lambda a, g: torch.tensor(np.asarray(a), requires_grad=g), floats, ints)
        got, want = call(F, *ours, red), call(torch.nn.functional, *theirs, red)
        assert got.shape == tuple(want.shape), (red, got.shape, want.shape)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=red)
        head = RNG.uniform(0.5, 1.5, got.shape)
        got.backward(tm.tensor(head))
        want.backward(torch.tensor(head))
        for k, (o, t) in enumerate(zip(ours, theirs)):
            if t.grad is not None:
                np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12,
                                           err_msg=f"{red}: gradient of input {k}")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(case):
    _, call, floats, ints = case
    fixed = [tm.tensor(np.asarray(a)) for a in ints]
    check_grad(lambda *xs: call(F, *xs, *fixed, "none"), *floats)


def test_values_match_numpy_formulas():
    x, y, t = RNG.standard_normal((3, 6)), RNG.standard_normal((3, 6)), _signs((3, 6))
    np.testing.assert_allclose(F.margin_ranking_loss(tm.tensor(x), tm.tensor(y), tm.tensor(t), 0.2).numpy(),
                               np.maximum(0, -t * (x - y) + 0.2).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.hinge_embedding_loss(tm.tensor(x), tm.tensor(t), reduction="sum").numpy(),
                               np.where(t == 1, x, np.maximum(0, 1 - x)).sum(), rtol=1e-12)
    np.testing.assert_allclose(F.soft_margin_loss(tm.tensor(x), tm.tensor(t), reduction="none").numpy(),
                               np.log1p(np.exp(-t * x)), rtol=1e-12)
    labels = np.array([2, 0, 5])
    margins = np.maximum(0, 1 - x[np.arange(3), labels][:, None] + x) ** 2
    margins[np.arange(3), labels] = 0
    np.testing.assert_allclose(F.multi_margin_loss(tm.tensor(x), tm.tensor(labels), 2, reduction="none").numpy(),
                               margins.sum(1) / 6, rtol=1e-12)
    cos = (x * y).sum(1) / np.sqrt(((x * x).sum(1) + 1e-12) * ((y * y).sum(1) + 1e-12))
    sign = np.array([1.0, -1.0, -1.0])
    np.testing.assert_allclose(F.cosine_embedding_loss(tm.tensor(x), tm.tensor(y), tm.tensor(sign), -0.5,
                                                       reduction="none").numpy(),
                               np.where(sign == 1, 1 - cos, np.maximum(0, cos + 0.5)), rtol=1e-12)
    var = np.abs(t) * 0.5
    np.testing.assert_allclose(F.gaussian_nll_loss(tm.tensor(x), tm.tensor(y), tm.tensor(var), full=True).numpy(),
                               (0.5 * (np.log(var) + (x - y) ** 2 / var) + 0.5 * math.log(2 * math.pi)).mean(),
                               rtol=1e-12)
    counts = np.array([0.0, 1.0, 2.0, 7.0])
    stirling = np.where(counts > 1, counts * np.log(np.maximum(counts, 1)) - counts
                        + 0.5 * np.log(2 * math.pi * np.maximum(counts, 1)), 0)
    np.testing.assert_allclose(F.poisson_nll_loss(tm.tensor(x[0, :4]), tm.tensor(counts), full=True,
                                                  reduction="none").numpy(),
                               np.exp(x[0, :4]) - counts * x[0, :4] + stirling, rtol=1e-12)


def test_multilabel_margin_reads_targets_up_to_the_first_minus_one():
    x = tm.tensor(np.array([[0.1, 0.2, 0.4, 0.8]]))
    # PyTorch's documented example: classes 3 and 0 are the targets; the 1 after -1 is padding
    loss = F.multilabel_margin_loss(x, tm.tensor(np.array([[3, 0, -1, 1]])))
    assert abs(loss.item() - 0.85) < 1e-12
    # nothing listed: no pairs, a zero loss
    assert F.multilabel_margin_loss(x, tm.tensor(np.array([[-1, 0, 1, 2]]))).item() == 0.0


def test_legacy_size_average_and_reduce_pick_the_reduction():
    x, y = tm.tensor(RNG.standard_normal(4)), tm.tensor(_signs(4))
    each = F.soft_margin_loss(x, y, reduction="none").numpy()
    np.testing.assert_allclose(F.soft_margin_loss(x, y, False).numpy(), each.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.soft_margin_loss(x, y, None, False).numpy(), each, rtol=1e-12)
    np.testing.assert_allclose(F.soft_margin_loss(x, y, True, True, "sum").numpy(), each.mean(), rtol=1e-12)
    assert nn.SoftMarginLoss(reduce=False).reduction == "none"
    assert nn.PoissonNLLLoss(size_average=False).reduction == "sum"
    assert nn.TripletMarginLoss(reduction="sum").reduction == "sum"


def test_modules_match_their_functions():
    torch = pytest.importorskip("torch")
    x1, x2, x3 = (RNG.standard_normal((4, 3)) for _ in range(3))
    y, lab, w = _signs(4), np.array([2, 0, 1, 1]), np.array([0.5, 1.0, 2.0])
    listed = np.array([[1, -1, 0], [0, 2, -1], [2, 1, 0], [-1, 0, 0]])
    pairs = [
        (lambda m: m.MarginRankingLoss(0.5), (x1[:, 0], x2[:, 0], y)),
        (lambda m: m.HingeEmbeddingLoss(2.0, reduction="sum"), (x1, _signs((4, 3)))),
        (lambda m: m.SoftMarginLoss(), (x1, _signs((4, 3)))),
        (lambda m: m.MultiLabelSoftMarginLoss(reduction="none"), (x1, (x2 > 0).astype("float64"))),
        (lambda m: m.MultiMarginLoss(2, 0.5, weight=None), (x1, lab)),
        (lambda m: m.MultiLabelMarginLoss(), (x1, listed)),
        (lambda m: m.CosineEmbeddingLoss(0.2), (x1, x2, y)),
        (lambda m: m.TripletMarginLoss(0.5, 1.0, swap=True), (x1, x2, x3)),
        (lambda m: m.TripletMarginWithDistanceLoss(margin=2.0), (x1, x2, x3)),
        (lambda m: m.PoissonNLLLoss(full=True), (x1, np.abs(x2) * 3)),
        (lambda m: m.GaussianNLLLoss(full=True, eps=0.5), (x1, x2, np.abs(x3))),
    ]
    for make, arrays in pairs:
        got = make(nn)(*(tm.tensor(a) for a in arrays))
        want = make(torch.nn)(*(torch.tensor(a) for a in arrays))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14, err_msg=repr(make(nn)))
    mm = nn.MultiMarginLoss(weight=tm.tensor(w))
    np.testing.assert_allclose(mm(tm.tensor(x1), tm.tensor(lab)).numpy(),
                               torch.nn.MultiMarginLoss(weight=torch.tensor(w))(torch.tensor(x1),
                                                                                torch.tensor(lab)).numpy(), rtol=1e-12)


def test_gaussian_clamps_var_straight_through_and_takes_a_number():
    torch = pytest.importorskip("torch")
    x, y = RNG.standard_normal(5), RNG.standard_normal(5)
    var = np.array([0.0, 1e-9, 0.3, 2.0, 1e-3])
    ours = tm.tensor(var, requires_grad=True)
    theirs = torch.tensor(var, requires_grad=True)
    F.gaussian_nll_loss(tm.tensor(x), tm.tensor(y), ours, eps=1e-2).backward()
    torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), theirs, eps=1e-2).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
    got = F.gaussian_nll_loss(tm.tensor(x), tm.tensor(y), 0.25, reduction="sum")
    want = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), 0.25, reduction="sum")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_bad_arguments_raise_errors_naming_the_op():
    x, y = tm.tensor(RNG.standard_normal((3, 4))), tm.tensor(RNG.standard_normal((3, 4)))
    with pytest.raises(ShapeError, match="margin_ranking_loss: .*same number of dimensions"):
        F.margin_ranking_loss(x, y, tm.tensor(np.ones(4)))
    with pytest.raises(ShapeError, match="soft_margin_loss: input of shape \\(3, 4\\) and target of shape \\(4,\\)"):
        F.soft_margin_loss(x, tm.tensor(np.ones(4)))
    with pytest.raises(ShapeError, match="multi_margin_loss: only p == 1 and p == 2"):
        F.multi_margin_loss(x, tm.tensor(np.array([0, 1, 2])), p=3)
    with pytest.raises(ShapeError, match="multi_margin_loss: target out of range"):
        F.multi_margin_loss(x, tm.tensor(np.array([0, 4, 2])))
    with pytest.raises(DTypeError, match="multi_margin_loss: target must be int32/int64"):
        F.multi_margin_loss(x, tm.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ShapeError, match="multi_margin_loss: weight of shape \\(3,\\) does not match 4 classes"):
        F.multi_margin_loss(x, tm.tensor(np.array([0, 1, 2])), weight=tm.tensor(np.ones(3)))
    with pytest.raises(ShapeError, match="multilabel_margin_loss: target of shape \\(3,\\)"):
        F.multilabel_margin_loss(x, tm.tensor(np.array([0, 1, 2])))
    with pytest.raises(ShapeError, match="cosine_embedding_loss: need \\(N, D\\) inputs"):
        F.cosine_embedding_loss(x, y, tm.tensor(np.ones((3, 1))))
    with pytest.raises(ShapeError, match="triplet_margin_loss: anchor, positive and negative"):
        F.triplet_margin_loss(x, y, tm.tensor(np.ones(4)))
    with pytest.raises(ShapeError, match="triplet_margin_with_distance_loss: margin must be greater than 0"):
        F.triplet_margin_with_distance_loss(x, y, y, margin=0.0)
    with pytest.raises(ShapeError, match="gaussian_nll_loss: var of shape \\(3, 2\\) does not fit"):
        F.gaussian_nll_loss(x, y, tm.tensor(np.ones((3, 2))))
    with pytest.raises(ShapeError, match="gaussian_nll_loss: var has negative entries"):
        F.gaussian_nll_loss(x, y, tm.tensor(-np.ones((3, 4))))
    with pytest.raises(ShapeError, match="hinge_embedding_loss: reduction must be"):
        F.hinge_embedding_loss(x, y, reduction="avg")
    with pytest.raises(DTypeError, match="poisson_nll_loss: expected a floating-point input"):
        F.poisson_nll_loss(tm.tensor(np.array([1, 2])), tm.tensor(np.array([1.0, 2.0])))


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.sampled_from(REDUCTIONS))
def test_class_losses_on_random_shapes_match_pytorch(rows, classes, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(rows * 10 + classes)
    x = rng.standard_normal((rows, classes))
    labels = rng.integers(0, classes, rows)
    listed = np.where(rng.random((rows, classes)) < 0.3, -1, rng.integers(0, classes, (rows, classes)))
    flags = (rng.random((rows, classes)) < 0.5).astype("float64")
    for name, args in [("multi_margin_loss", (x, labels)), ("multilabel_margin_loss", (x, listed)),
                       ("multilabel_soft_margin_loss", (x, flags))]:
        got = getattr(F, name)(*(tm.tensor(a) for a in args), reduction=reduction)
        want = getattr(torch.nn.functional, name)(*(torch.tensor(a) for a in args), reduction=reduction)
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.sampled_from(REDUCTIONS), st.booleans())
def test_pair_losses_on_random_shapes_match_pytorch(rows, width, reduction, batched):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(rows * 10 + width)
    shape = (rows, width) if batched else (width,)
    a, b, c = (rng.standard_normal(shape) for _ in range(3))
    signs = np.where(rng.random(shape[:-1]) < 0.5, -1.0, 1.0)
    calls = [
        ("margin_ranking_loss", (a, b, np.where(a > b, -1.0, 1.0)), {"margin": 0.1}),
        ("hinge_embedding_loss", (a, np.where(b > 0, 1.0, -1.0)), {}),
        ("soft_margin_loss", (a, np.where(b > 0, 1.0, -1.0)), {}),
        ("cosine_embedding_loss", (a, b, signs), {"margin": 0.2}),
        ("triplet_margin_loss", (a, b, c), {"swap": True}),
        ("poisson_nll_loss", (a, np.abs(b) * 2), {"full": True}),
        ("gaussian_nll_loss", (a, b, np.abs(c) + 0.01), {}),
    ]
    for name, args, kwargs in calls:
        got = getattr(F, name)(*(tm.tensor(v) for v in args), reduction=reduction, **kwargs)
        want = getattr(torch.nn.functional, name)(*(torch.tensor(v) for v in args), reduction=reduction, **kwargs)
        assert got.shape == tuple(want.shape), name
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_losses_on_the_emulated_gpu(emulated_gpu):
    x1, x2, x3 = (RNG.standard_normal((4, 3)).astype("float32") for _ in range(3))
    labels = np.array([2, 0, 1, 1])
    for device in ("cuda", "cpu"):
        a, p, n = (tm.tensor(v, device=device, requires_grad=True) for v in (x1, x2, x3))
        t = tm.tensor(labels, device=device)
        loss = (F.triplet_margin_loss(a, p, n, swap=True) + F.multi_margin_loss(a, t)
                + F.gaussian_nll_loss(a, p, n.abs() + 0.1) + F.soft_margin_loss(p, n.sign()))
        loss.backward()
        if device == "cuda":
            on_gpu = [loss.numpy()] + [v.grad.numpy() for v in (a, p, n)]
        else:
            for got, want in zip(on_gpu, [loss.numpy()] + [v.grad.numpy() for v in (a, p, n)]):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert emulated_gpu.launches


# ---------------------------------------------------------------------------- CTC
def _collapse(path, blank):
    """The label sequence an alignment stands for: repeats merged, then blanks dropped."""
    merged = [c for k, c in enumerate(path) if k == 0 or c != path[k - 1]]
    return [c for c in merged if c != blank]


def _brute_force_ctc(log_probs, target, blank):
    """-log of the summed probability of every path of length T collapsing to ``target``."""
    import itertools
    steps, classes = log_probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        if _collapse(path, blank) == list(target):
            total += math.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -math.log(total) if total else math.inf


def _log_softmax(x):
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_loss_is_the_sum_over_alignments(blank):
    rng = np.random.default_rng(blank)
    log_probs = _log_softmax(rng.standard_normal((5, 2, 3)))
    others = [c for c in range(3) if c != blank]
    targets = np.array([[others[0], others[0]], [others[1], others[0]]])
    lengths_in, lengths_target = np.array([5, 4]), np.array([2, 1])
    got = F.ctc_loss(tm.tensor(log_probs), tm.tensor(targets), tm.tensor(lengths_in), tm.tensor(lengths_target),
                     blank=blank, reduction="none").numpy()
    want = [_brute_force_ctc(log_probs[:lengths_in[n], n], targets[n, :lengths_target[n]], blank) for n in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


CTC_CASES = [
    # (T, N, C, targets (padded), input lengths, target lengths, blank)
    (7, 3, 5, [[1, 2, 2], [3, 1, 1], [4, 1, 3]], [7, 5, 6], [3, 1, 0], 0),
    (6, 2, 4, [[0, 1, 0], [2, 2, 0]], [6, 6], [3, 2], 3),
    (3, 2, 4, [[1, 1, 2], [2, 3, 1]], [3, 2], [3, 2], 0),         # too short for the first: an infinite loss
]


@pytest.mark.parametrize("case", CTC_CASES, ids=["lengths", "blank3", "impossible"])
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_loss_matches_pytorch(case, concatenated):
    torch = pytest.importorskip("torch")
    steps, batch, classes, targets, lengths_in, lengths_target, blank = case
    targets, lengths_target = np.array(targets), np.array(lengths_target)
    if concatenated:
        targets = np.concatenate([targets[n, :lengths_target[n]] for n in range(batch)])
    x = np.random.default_rng(steps).standard_normal((steps, batch, classes))
    for reduction in REDUCTIONS:
        for zero_infinity in (False, True):
            ours, theirs = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            got = F.ctc_loss(ours.log_softmax(2), tm.tensor(targets), lengths_in, tm.tensor(lengths_target), blank,
                             reduction, zero_infinity)
            want = torch.nn.functional.ctc_loss(theirs.log_softmax(2), torch.tensor(targets),
                                                torch.tensor(lengths_in), torch.tensor(lengths_target), blank,
                                                reduction, zero_infinity)
            assert got.shape == tuple(want.shape)
            np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-12)
            if np.isfinite(want.detach().numpy()).all():
                head = np.ones(got.shape)
                got.backward(tm.tensor(head))
                want.backward(torch.tensor(head))
                np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_ctc_gradient_matches_finite_differences_and_unbatched_input():
    rng = np.random.default_rng(4)
    log_probs = rng.standard_normal((5, 2, 3))           # not normalised: the true gradient all the same
    targets = tm.tensor(np.array([[1, 2], [2, 2]]))
    check_grad(lambda lp: F.ctc_loss(lp, targets, [5, 4], [2, 2], reduction="none"), log_probs)
    single = log_probs[:, 0]
    got = nn.CTCLoss(reduction="none")(tm.tensor(single), tm.tensor(np.array([1, 2])), 5, 2)
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), _brute_force_ctc(single, [1, 2], 0), rtol=1e-12)


def test_ctc_errors_name_the_op():
    lp = tm.tensor(np.zeros((4, 2, 3)))
    with pytest.raises(ShapeError, match="ctc_loss: blank must be in the label range \\[0, 3\\)"):
        F.ctc_loss(lp, tm.tensor(np.array([[1], [1]])), [4, 4], [1, 1], blank=3)
    with pytest.raises(ShapeError, match="ctc_loss: input_lengths \\[5, 4\\]"):
        F.ctc_loss(lp, tm.tensor(np.array([[1], [1]])), [5, 4], [1, 1])
    with pytest.raises(ShapeError, match="ctc_loss: target labels must lie in \\[0, 3\\) and differ from blank"):
        F.ctc_loss(lp, tm.tensor(np.array([[0], [1]])), [4, 4], [1, 1])
    with pytest.raises(ShapeError, match="ctc_loss: targets of shape \\(2, 1\\) do not hold target_lengths"):
        F.ctc_loss(lp, tm.tensor(np.array([[1], [1]])), [4, 4], [2, 1])
    with pytest.raises(ShapeError, match="ctc_loss: log_probs tensor must not be empty"):
        F.ctc_loss(tm.tensor(np.zeros((0, 2, 3))), tm.tensor(np.array([[1], [1]])), [0, 0], [1, 0])
    with pytest.raises(DTypeError, match="ctc_loss: targets must be integers"):
        F.ctc_loss(lp, tm.tensor(np.array([[1.0], [1.0]])), [4, 4], [1, 1])


def test_losses_inside_a_jit_training_step_match_the_eager_step():
    rng = np.random.default_rng(6)
    x = tm.tensor(rng.standard_normal((5, 4)).astype("float32"))
    labels = tm.tensor(rng.integers(0, 3, 5))
    listed = tm.tensor(np.array([[0, -1, 1], [2, 1, -1], [1, -1, -1], [0, 1, 2], [-1, 0, 0]]))
    signs = tm.tensor(np.array([1.0, -1.0, 1.0, -1.0, 1.0], dtype="float32"))
    runs = []
    for compiled in (False, True):
        tm.manual_seed(0)
        model = nn.Linear(4, 3)
        opt = tm.optim.SGD(model.parameters(), lr=0.1)

        def step(xb, lab, lst, y):
            opt.zero_grad()
            out = model(xb)
            loss = (F.multi_margin_loss(out, lab, p=2) + F.multilabel_margin_loss(out, lst)
                    + F.cosine_embedding_loss(out, xb[:, :3], y) + F.triplet_margin_loss(out, xb[:, 1:], xb[:, :3])
                    + F.poisson_nll_loss(out, xb[:, :3].abs()) + F.gaussian_nll_loss(out, xb[:, :3], xb[:, 3].abs()))
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if compiled else step
        runs.append([float(run(x, labels, listed, signs)) for _ in range(3)])
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-6)
    assert runs[0][2] < runs[0][0]
