"""Adamax, NAdam, RAdam and Adadelta against numpy re-implementations of PyTorch's
formulas (enough steps for RAdam to pass from its un-rectified to its rectified step),
against PyTorch itself when installed (under ``tm.jit`` and through a state dict: in
test_optim.py's checkpoint test), and CosineAnnealingWarmRestarts."""
import math

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn, optim
from tvmini.errors import TVMiniError

STEPS = 10


def _moments(m, v, g, b1, b2):
    return b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g


def reference_adamax(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    m, u = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        u = np.maximum(betas[1] * u, np.abs(g) + eps)
        p = p - lr / (1 - betas[0] ** t) * m / u
    return p


def reference_nadam(p, grads, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                    decoupled_weight_decay=False):
    (b1, b2), m, v, mu_product = betas, np.zeros_like(p), np.zeros_like(p), 1.0
    for t, g in enumerate(grads, 1):
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product *= mu
        m, v = _moments(m, v, g, b1, b2)
        denom = np.sqrt(v / (1 - b2 ** t)) + eps
        p = p - lr * (1 - mu) / (1 - mu_product) * g / denom - lr * mu_next / (1 - mu_product * mu_next) * m / denom
    return p


def reference_radam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False):
    (b1, b2), m, v = betas, np.zeros_like(p), np.zeros_like(p)
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, 1):
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m, v = _moments(m, v, g, b1, b2)
        corrected = m / (1 - b1 ** t)
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p = p - lr * corrected * rect * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)
        else:
            p = p - lr * corrected
    return p


def reference_adadelta(p, grads, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    sq, acc = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        sq = rho * sq + (1 - rho) * g * g
        delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        acc = rho * acc + (1 - rho) * delta * delta
        p = p - lr * delta
    return p


CASES = [
    (optim.Adamax, reference_adamax, dict()),
    (optim.Adamax, reference_adamax, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1)),
    (optim.NAdam, reference_nadam, dict()),
    (optim.NAdam, reference_nadam, dict(lr=0.01, momentum_decay=0.1, weight_decay=0.1)),
    (optim.NAdam, reference_nadam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (optim.RAdam, reference_radam, dict()),
    (optim.RAdam, reference_radam, dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)),
    (optim.RAdam, reference_radam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (optim.Adadelta, reference_adadelta, dict()),
    (optim.Adadelta, reference_adadelta, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.05)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)]


def _run(make_optimizer, lib, start, grads):
    p = (nn.Parameter(tm.tensor(start)) if lib is tm else lib.nn.Parameter(lib.tensor(start)))
    opt = make_optimizer([p])
    for g in grads:
        p.grad = lib.tensor(g)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("cls,reference,kwargs", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_matches_the_formula(cls, reference, kwargs, dtype):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 5)).astype(dtype)
    grads = [rng.normal(size=(3, 5)).astype(dtype) for _ in range(STEPS)]
    got = _run(lambda ps: cls(ps, **kwargs), tm, start, grads)
    want = reference(start.astype("float64"), [g.astype("float64") for g in grads], **kwargs)
    tol = 1e-11 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_radam_switches_to_the_rectified_step_within_the_tested_steps():
    """The formula test above covers both of RAdam's branches: rho_t passes 5 at step 6."""
    rho_inf = 2 / (1 - 0.999) - 1
    rho = [rho_inf - 2 * t * 0.999 ** t / (1 - 0.999 ** t) for t in range(1, STEPS + 1)]
    assert rho[0] <= 5 < rho[-1]


@pytest.mark.parametrize("cls,reference,kwargs", CASES, ids=IDS)
def test_matches_pytorch_when_installed(cls, reference, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    start = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(STEPS)]
    mine = _run(lambda ps: cls(ps, **kwargs), tm, start, grads)
    theirs = _run(lambda ps: getattr(torch.optim, cls.__name__)(ps, **kwargs), torch, start, grads)
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.Adamax(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.NAdam(p, betas=(0.9, 1.0)), "beta parameter at index 1"),
    (lambda p: optim.NAdam(p, momentum_decay=-0.1), "momentum_decay"),
    (lambda p: optim.RAdam(p, eps=float("nan")), "epsilon"),
    (lambda p: optim.Adadelta(p, rho=1.5), "rho"),
    (lambda p: optim.Adadelta(p, weight_decay=-1), "weight_decay"),
])
def test_invalid_hyper_parameters_are_refused_as_pytorch(make, message):
    with pytest.raises(TVMiniError, match=message):
        make([nn.Parameter(tm.ones(2))])


def test_maximize_ascends():
    p = nn.Parameter(tm.tensor([1.0, -1.0]))
    opt = optim.RAdam([p], lr=0.1, maximize=True)
    p.grad = tm.tensor([1.0, -1.0])
    opt.step()
    assert p.numpy().tolist() == pytest.approx([1.1, -1.1])


def _warm_restart_rates(lib, epochs, **kwargs):
    p = (nn.Parameter(tm.ones(1)) if lib is tm else lib.nn.Parameter(lib.ones(1)))
    opt = lib.optim.SGD([p], lr=0.5)
    sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, **kwargs)
    rates = [opt.param_groups[0]["lr"]]
    for epoch in epochs:
        sched.step() if epoch is None else sched.step(epoch)
        rates.append(opt.param_groups[0]["lr"])
    return rates, sched


@pytest.mark.parametrize("T_0,T_mult", [(3, 1), (3, 2), (1, 3)])
def test_cosine_warm_restarts_follow_sgdr(T_0, T_mult):
    """Cycles of T_0, T_0*T_mult, ... epochs, each annealing from the initial rate."""
    got, _ = _warm_restart_rates(tm, [None] * 20, T_0=T_0, T_mult=T_mult, eta_min=0.01)
    want, start, length = [], 0, T_0
    for epoch in range(21):
        if epoch - start >= length:
            start, length = start + length, length * T_mult
        want.append(0.01 + (0.5 - 0.01) * (1 + math.cos(math.pi * (epoch - start) / length)) / 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cosine_warm_restarts_match_pytorch_with_fractional_epochs_when_installed():
    torch = pytest.importorskip("torch")
    epochs = [None, 0.5, 1.25, 2.0, 2.9, 3.0, None, None, 7.5, 21.0, None, 4]
    for kwargs in (dict(T_0=2), dict(T_0=2, T_mult=2, eta_min=0.05), dict(T_0=3, T_mult=3)):
        mine, sched = _warm_restart_rates(tm, epochs, **kwargs)
        theirs, their_sched = _warm_restart_rates(torch, epochs, **kwargs)
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
        assert (sched.last_epoch, sched.T_i, sched.T_cur) == pytest.approx(
            (their_sched.last_epoch, their_sched.T_i, their_sched.T_cur))


def test_cosine_warm_restarts_refuses_bad_cycles_and_resumes_from_its_state():
    opt = optim.SGD([nn.Parameter(tm.ones(1))], lr=0.5)
    for bad in (dict(T_0=0), dict(T_0=2.5), dict(T_0=2, T_mult=0)):
        with pytest.raises(TVMiniError, match="CosineAnnealingWarmRestarts: T_"):
            optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, **bad)
    rates, sched = _warm_restart_rates(tm, [None] * 4, T_0=3, T_mult=2)
    opt2 = optim.SGD([nn.Parameter(tm.ones(1))], lr=0.5)
    resumed = optim.lr_scheduler.CosineAnnealingWarmRestarts(opt2, T_0=3, T_mult=2)
    resumed.load_state_dict(sched.state_dict())
    for s in (sched, resumed):
        s.step()
    assert opt2.param_groups[0]["lr"] == sched.optimizer.param_groups[0]["lr"]
