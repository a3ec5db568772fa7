"""Losses beyond the classic four (L1, smooth L1, Huber, BCE on probabilities, KL
divergence) and gradient clipping: values against their formulas in numpy, gradients
against central finite differences, PyTorch (when installed) as a cross-check, and
clipping inside a jitted step."""
import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from graph_gradcheck import check_grad

RNG = np.random.default_rng(0)
A, B = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
P, T = RNG.uniform(0.05, 0.95, (4, 3)), RNG.uniform(0, 1, (4, 3))
D = A - B


def _smooth(d, beta):
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


def _huber(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def test_losses_match_their_formulas():
    a, b = tm.tensor(A), tm.tensor(B)
    np.testing.assert_allclose(F.l1_loss(a, b).numpy(), np.abs(D).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.l1_loss(a, b, reduction="sum").numpy(), np.abs(D).sum(), rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(a, b, beta=0.5).numpy(), _smooth(D, 0.5).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.smooth_l1_loss(a, b, beta=0.0).numpy(), np.abs(D).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.huber_loss(a, b, "none", 0.7).numpy(), _huber(D, 0.7), rtol=1e-12)
    bce = -(T * np.log(P) + (1 - T) * np.log(1 - P))
    np.testing.assert_allclose(F.binary_cross_entropy(tm.tensor(P), tm.tensor(T)).numpy(), bce.mean(), rtol=1e-12)
    edge = F.binary_cross_entropy(tm.tensor(np.array([0.0, 1.0])), tm.tensor(np.array([1.0, 0.0])), reduction="none")
    np.testing.assert_array_equal(edge.numpy(), [100.0, 100.0])          # logs clamped at -100
    logp = np.log(P / P.sum(1, keepdims=True))
    target = np.where(T > 0.3, T, 0.0)
    kl = np.where(target > 0, target * (np.log(np.where(target > 0, target, 1)) - logp), 0)
    np.testing.assert_allclose(F.kl_div(tm.tensor(logp), tm.tensor(target), reduction="batchmean").numpy(),
                               kl.sum() / 4, rtol=1e-12)
    np.testing.assert_allclose(F.kl_div(tm.tensor(logp), tm.tensor(np.log(P)), reduction="sum", log_target=True)
                               .numpy(), (P * (np.log(P) - logp)).sum(), rtol=1e-12)
    for module, fn in ((nn.L1Loss(), F.l1_loss), (nn.SmoothL1Loss(beta=0.3), lambda x, y: F.smooth_l1_loss(x, y, beta=0.3)),
                       (nn.HuberLoss(delta=2.0), lambda x, y: F.huber_loss(x, y, delta=2.0))):
        assert float(module(a, b)) == float(fn(a, b))
    with pytest.raises(tm.ShapeError, match=r"l1_loss: input of shape \(4, 3\) and target of shape \(3,\)"):
        F.l1_loss(a, tm.tensor(B[0]))


def test_loss_gradients_match_finite_differences():
    check_grad(lambda x, y: F.l1_loss(x, y, reduction="none"), A, B)
    check_grad(lambda x, y: F.smooth_l1_loss(x, y, reduction="sum", beta=0.8), A, B)
    check_grad(lambda x, y: F.huber_loss(x, y, delta=0.6), A, B)
    check_grad(lambda p, t: F.binary_cross_entropy(p, t), P, T)
    check_grad(lambda p: F.kl_div(F.log_softmax(p, 1), tm.tensor(T / T.sum(1, keepdims=True)), reduction="batchmean"),
               A)


@pytest.mark.parametrize("name,kwargs", [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.4}), ("huber_loss", {"delta": 0.9}),
                                         ("binary_cross_entropy", {}), ("kl_div", {"reduction": "batchmean"})])
def test_losses_match_pytorch_when_installed(name, kwargs):
    torch = pytest.importorskip("torch")
    x, y = (P, T) if name == "binary_cross_entropy" else (np.log(P), T) if name == "kl_div" else (A, B)
    t, q = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mine, theirs = getattr(F, name)(t, tm.tensor(y), **kwargs), getattr(torch.nn.functional, name)(q, torch.tensor(y), **kwargs)
    mine.backward(), theirs.backward()
    np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("loss, want", [(lambda a, b: F.smooth_l1_loss(a, b, "sum", beta=0.5), [1, -1, -1, 0.5, 1]),
                                        (lambda a, b: F.huber_loss(a, b, "sum", delta=2.0), [2, -2, -2, 0.25, 2])])
def test_smooth_l1_and_huber_gradients_at_infinite_differences(loss, want):
    """Where input - target is +-inf the loss is inf and the gradient PyTorch's sign(d)
    (times delta); it was NaN (0 * inf from the quadratic branch not taken)."""
    x = tm.tensor(np.array([np.inf, 1.0, -np.inf, 0.25, 3.0], "float32"), requires_grad=True)
    y = tm.tensor(np.array([0.0, np.inf, 0.0, 0.0, 0.0], "float32"))
    out = loss(x, y)
    out.backward()
    assert float(out) == np.inf
    np.testing.assert_allclose(x.grad.numpy(), want)


def test_clip_grad_norm_and_value():
    grads = [RNG.normal(size=(3, 2)), RNG.normal(size=4)]
    params = [nn.Parameter(tm.zeros(*g.shape, dtype="float64")) for g in grads]
    for p, g in zip(params, grads):
        p.grad = tm.tensor(g)
    total = np.sqrt(sum((g * g).sum() for g in grads))
    got = nn.utils.clip_grad_norm_(params, max_norm=1.0)
    np.testing.assert_allclose(float(got), total, rtol=1e-12)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * min(1.0, 1.0 / (total + 1e-6)), rtol=1e-12)
    for p, g in zip(params, grads):
        p.grad = tm.tensor(g)
    inf_norm = nn.utils.clip_grad_norm_(params, max_norm=100.0, norm_type=float("inf"))
    np.testing.assert_allclose(float(inf_norm), max(np.abs(g).max() for g in grads))
    np.testing.assert_array_equal(params[0].grad.numpy(), grads[0])     # under the limit: unchanged
    nn.utils.clip_grad_value_(params, 0.5)
    np.testing.assert_array_equal(params[1].grad.numpy(), np.clip(grads[1], -0.5, 0.5))
    params[0].grad = tm.tensor(np.full((3, 2), np.inf))
    with pytest.raises(tm.TVMiniError, match="total norm of the gradients is inf"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


def test_clipping_inside_a_jitted_step_matches_eager():
    x = tm.tensor(RNG.normal(size=(16, 5)).astype("float32"))
    y = tm.tensor(RNG.integers(0, 3, 16))
    losses = {}
    for mode in ("eager", "jit"):
        tm.manual_seed(1)
        model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 3))
        opt = tm.optim.SGD(model.parameters(), lr=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            return loss
        run = tm.jit(step) if mode == "jit" else step
        losses[mode] = [float(run(x, y)) for _ in range(4)]
    np.testing.assert_allclose(losses["jit"], losses["eager"], rtol=1e-5)


def _class_losses_numpy(logits, labels, weight, ignore_index, eps, reduction):
    """PyTorch's cross entropy with options, written out in numpy."""
    n, c = logits.shape
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    w = np.ones(c) if weight is None else weight
    kept = labels != ignore_index
    safe = np.where(kept, labels, 0)
    scale = w[safe] * kept
    nll = -logp[np.arange(n), safe] * scale
    smooth = -(logp * w).sum(1) * kept
    loss = (1 - eps) * nll + eps / c * smooth
    return {"none": loss, "sum": loss.sum(), "mean": loss.sum() / scale.sum()}[reduction]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_options(weighted, eps, reduction):
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(6, 4))
    labels = np.array([0, 3, -100, 2, 1, 3])
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    got = F.cross_entropy(tm.tensor(logits), tm.tensor(labels), reduction, label_smoothing=eps,
                          weight=None if weight is None else tm.tensor(weight))
    want = _class_losses_numpy(logits, labels, weight, -100, eps, reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    w = None if weight is None else tm.tensor(weight)
    check_grad(lambda t: F.cross_entropy(t, tm.tensor(labels), reduction, weight=w, label_smoothing=eps), logits)


def test_class_loss_options_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    logits, labels, weight = rng.normal(size=(7, 5)), np.array([4, 0, 2, 2, 9, 1, 9]), rng.uniform(0.2, 3, 5)
    for kwargs in ({"weight": weight}, {"ignore_index": 9}, {"weight": weight, "ignore_index": 9, "label_smoothing": 0.1}):
        mine = {k: tm.tensor(v) if k == "weight" else v for k, v in kwargs.items()}
        theirs = {k: torch.tensor(v) if k == "weight" else v for k, v in kwargs.items()}
        safe = labels if "ignore_index" in kwargs else np.where(labels == 9, 3, labels)
        t, q = tm.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        a = F.cross_entropy(t, tm.tensor(safe), **mine)
        b = torch.nn.functional.cross_entropy(q, torch.tensor(safe), **theirs)
        a.backward(), b.backward()
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14)
    logp = torch.log_softmax(torch.tensor(logits), 1).numpy()
    a = F.nll_loss(tm.tensor(logp), tm.tensor(labels), "sum", ignore_index=9)
    b = torch.nn.functional.nll_loss(torch.tensor(logp), torch.tensor(labels), ignore_index=9, reduction="sum")
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    loss = nn.CrossEntropyLoss(tm.tensor(weight), label_smoothing=0.05)(tm.tensor(logits), tm.tensor(labels % 5))
    ref = torch.nn.CrossEntropyLoss(torch.tensor(weight), label_smoothing=0.05)(torch.tensor(logits),
                                                                                torch.tensor(labels % 5))
    np.testing.assert_allclose(loss.numpy(), ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(tm.tensor(logits), tm.tensor(labels % 5), tm.tensor(weight)).numpy(),
                               torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels % 5),
                                                                 torch.tensor(weight)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"weight": [1.0, 2.0, 0.5]}, {"label_smoothing": 0.1}, {"nll": True}])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ignored_samples_with_non_finite_scores_add_nothing(kwargs, reduction):
    """An ignored sample (padding) whose scores are inf or NaN made the loss NaN (its loss
    was multiplied by 0), and with it the other samples' gradients; PyTorch leaves it out.
    The loss and the kept rows' gradients are those of finite scores, eagerly and jitted."""
    bad = np.array([[1.0, 2.0, 3.0], [np.inf, np.nan, -np.inf], [0.5, 0.1, 0.2], [0.3, -1.0, 2.0]], "float32")
    finite = np.where(np.isfinite(bad), bad, 0.0).astype("float32")
    labels = tm.tensor(np.array([2, -100, 0, 1]))
    options = {k: tm.tensor(np.array(v, "float32")) if k == "weight" else v for k, v in kwargs.items() if k != "nll"}
    loss = F.nll_loss if kwargs.get("nll") else F.cross_entropy

    def step(x):
        out = loss(x, labels, reduction, **options)
        (out.sum() if reduction == "none" else out).backward()
        return out

    def run(scores, fn):
        x = tm.tensor(scores, requires_grad=True)
        return fn(x).numpy(), x.grad.numpy()
    want_loss, want_grad = run(finite, step)
    jitted = tm.jit(step)
    for fn in (step, jitted, jitted):
        got_loss, got_grad = run(bad, fn)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-6)
        np.testing.assert_allclose(got_grad[[0, 2, 3]], want_grad[[0, 2, 3]], rtol=1e-6)


def test_binary_cross_entropy_gradient_at_saturated_probabilities():
    """p exactly 0 or 1 (float32 sigmoid of a large logit) gives a finite loss and
    PyTorch's gradient (p - t) / max(p (1 - p), 1e-12): 0 at p = t, huge but finite at
    p = 1, t = 0 (it was NaN: 0 * log'(0); then -1/p at p = t = 1 and 0 at p = 1, t = 0)."""
    p = tm.tensor(np.array([1.0, 0.0, 0.5, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, tm.tensor(np.array([1.0, 0.0, 1.0, 0.0])))
    loss.backward()
    np.testing.assert_allclose(float(loss), (np.log(2) + 100) / 4)
    np.testing.assert_allclose(p.grad.numpy(), [0.0, 0.0, -0.5, 1e12 / 4])
    torch = pytest.importorskip("torch")
    tp = torch.tensor([1.0, 0.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(tp, torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)).backward()
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy())


def test_binary_cross_entropy_refuses_probabilities_outside_0_1_or_gives_nan():
    """A NaN probability gave a finite loss (~50: the log clamped at -100) and p = 1.5 gave
    100. As PyTorch, CPU tensors outside tm.jit are checked and refused; inside a trace,
    where values cannot be read, such a p gives a NaN loss, never a plausible one."""
    target = tm.tensor(np.zeros(3, "float32"))
    for bad in (np.nan, 1.5, -0.25):
        p = tm.tensor(np.array([0.5, bad, 0.25], "float32"))
        with pytest.raises(tm.TVMiniError, match="between 0 and 1, found"):
            F.binary_cross_entropy(p, target)
    jitted = tm.jit(lambda p: F.binary_cross_entropy(p * 1.0, target, reduction="none"))
    for _ in range(2):
        loss = jitted(tm.tensor(np.array([0.5, np.nan, 1.5], "float32"))).numpy()
        np.testing.assert_allclose(loss[0], np.log(2), rtol=1e-6)
        assert np.isnan(loss[1:]).all()
    edges = F.binary_cross_entropy(tm.tensor(np.array([0.0, 1.0])), tm.tensor(np.array([0.0, 0.0])), reduction="none")
    np.testing.assert_array_equal(np.abs(edges.numpy()), [0.0, 100.0])


def test_kl_div_follows_pytorchs_formula_at_zero_negative_and_nan_targets():
    """``t log t - t x`` with 0 log 0 = 0: a NaN or negative target gave 0 (PyTorch: NaN)."""
    x = np.array([-1.0, -1.0, -1.0, 2.0, -1.0])
    t = np.array([0.5, np.nan, -0.5, 0.0, 0.0])
    got = F.kl_div(tm.tensor(x), tm.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(got, [0.5 * np.log(0.5) + 0.5, np.nan, np.nan, 0.0, 0.0], rtol=1e-12)


def test_cross_entropy_layouts_and_probability_targets():
    """(N, C, H, W) logits with (N, H, W) labels are the (rows, C) loss of every position;
    (C,) logits take a 0-d label; float targets of the logits' shape are class
    probabilities: -sum p log softmax (smoothed toward uniform by label_smoothing)."""
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(2, 4, 3, 5)), rng.integers(0, 4, (2, 3, 5))
    rows = tm.tensor(x.transpose(0, 2, 3, 1).reshape(-1, 4))
    per_position = F.cross_entropy(tm.tensor(x), tm.tensor(y), "none")
    assert per_position.shape == (2, 3, 5)
    np.testing.assert_allclose(per_position.numpy().reshape(-1),
                               F.cross_entropy(rows, tm.tensor(y.reshape(-1)), "none").numpy(), rtol=1e-12)
    check_grad(lambda t: F.cross_entropy(t, tm.tensor(y[:1, :2, :2])), x[:1, :, :2, :2])
    probs = rng.dirichlet(np.ones(4), 6)
    logits = rng.normal(size=(6, 4))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    smoothed = probs * 0.9 + 0.1 / 4
    np.testing.assert_allclose(F.cross_entropy(tm.tensor(logits), tm.tensor(probs), label_smoothing=0.1).numpy(),
                               -(smoothed * logp).sum(1).mean(), rtol=1e-12)
    check_grad(lambda t: F.cross_entropy(t, tm.tensor(probs)), logits)
    v = rng.normal(size=4)
    np.testing.assert_allclose(F.cross_entropy(tm.tensor(v), tm.tensor(np.int64(2))).numpy(),
                               np.log(np.exp(v).sum()) - v[2], rtol=1e-12)
    with pytest.raises(tm.ShapeError, match="do not match"):
        F.cross_entropy(tm.tensor(x), tm.tensor(y[:, :2]))


def test_cross_entropy_layouts_match_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(2, 4, 3)), rng.integers(0, 4, (2, 3))
    p = rng.dirichlet(np.ones(4), (2, 3)).transpose(0, 2, 1)
    for target, theirs in ((tm.tensor(y), torch.tensor(y)), (tm.tensor(p), torch.tensor(p))):
        t, q = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        a = F.cross_entropy(t, target, label_smoothing=0.05)
        b = torch.nn.functional.cross_entropy(q, theirs, label_smoothing=0.05)
        a.backward(), b.backward()
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14)
