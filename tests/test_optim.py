"""Optimizers against a numpy re-implementation of PyTorch's update formulas, over
several steps with changing gradients; schedulers; optimizer state dicts."""
import math

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn, optim
from tvmini.errors import TVMiniError
from tvmini.graph import kernel_count
from train_steps import cross_entropy_step

STEPS = 5


def reference_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf = None
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def reference_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    m, v = np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps
        p = p - lr / (1 - b1 ** t) * m / denom
    return p


def reference_adagrad(p, grads, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


def reference_rmsprop(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    sq, ga, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = alpha * ga + (1 - alpha) * g
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


CASES = [
    (optim.SGD, reference_sgd, dict(lr=0.1)),
    (optim.SGD, reference_sgd, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, reference_sgd, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, reference_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (optim.Adam, reference_adam, dict(lr=0.01)),
    (optim.Adam, reference_adam, dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    (optim.AdamW, lambda p, g, **kw: reference_adam(p, g, decoupled=True, **kw), dict(lr=0.02, weight_decay=0.1)),
    (optim.Adagrad, reference_adagrad, dict(lr=0.1)),
    (optim.Adagrad, reference_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.01,
                                            initial_accumulator_value=0.5)),
    (optim.RMSprop, reference_rmsprop, dict(lr=0.01)),
    (optim.RMSprop, reference_rmsprop, dict(lr=0.01, alpha=0.9, weight_decay=0.05, momentum=0.5)),
    (optim.RMSprop, reference_rmsprop, dict(lr=0.01, centered=True, momentum=0.9)),
]


@pytest.mark.parametrize("cls,reference,kwargs", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_matches_pytorch_formula(cls, reference, kwargs, dtype):
    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 5)).astype(dtype)
    grads = [rng.normal(size=(3, 5)).astype(dtype) for _ in range(STEPS)]
    p = nn.Parameter(tm.tensor(start))
    opt = cls([p], **kwargs)
    for g in grads:
        p.grad = tm.tensor(g)
        opt.step()
    want = reference(start.astype("float64"), [g.astype("float64") for g in grads], **kwargs)
    tol = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(p.numpy(), want, rtol=tol, atol=tol)


def test_parameters_without_gradient_are_skipped_and_zero_grad_clears():
    a, b = nn.Parameter(tm.ones(2)), nn.Parameter(tm.ones(2))
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = tm.tensor([1.0, 2.0])
    opt.step()
    assert a.numpy().tolist() == [0.5, 0.0] and b.numpy().tolist() == [1.0, 1.0]
    opt.zero_grad()
    assert a.grad is None


def test_replay_scalars_follow_each_parameters_step_and_group():
    """``replay_scalars`` (what a jit replay asks for its update calls) counts every
    parameter's step and gives each update the scalars ``kernel`` gives for its own
    group and step: parameters a step apart, or in groups with other hyper-parameters,
    get their own bias corrections and learning rates."""
    a, b, c = (nn.Parameter(tm.ones(2)) for _ in range(3))
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    for p in (a, b, c):
        p.grad = tm.ones(2)
    opt.step()
    b.grad = c.grad = None
    opt.step()                                      # a is a step ahead of b and c
    groups = opt.param_groups
    keys = [(groups[0], opt.state[id(a)]), (groups[0], opt.state[id(b)]), (groups[1], opt.state[id(c)])]
    got = opt.replay_scalars(keys)
    assert [opt.state[id(p)]["step"] for p in (a, b, c)] == [3, 2, 2]
    want = [x for group, state in keys for x in opt.kernel(group, state)[1]]
    assert got == want and got[0] != got[7] and got[7] != got[14]


def _train_with_changes(lib, make, changes, steps=6):
    """The parameter after ``steps`` steps on ``sum(p²)`` of the optimizer ``make(lib,
    params)`` whose first group is updated with ``changes[k]`` before step k."""
    p = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = make(lib, [p])
    for k in range(steps):
        opt.param_groups[0].update(changes.get(k, {}))
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    return p.detach().numpy()


GROUP_CHANGES = [
    ({"momentum": 0.9}, {1: {"momentum": 0.9}}),                              # a buffer made at step 2: buf = d
    ({"momentum": 0.9, "dampening": 0.5}, {1: {"momentum": 0.9, "dampening": 0.5}}),
    ({"momentum": 0.5}, {2: {"momentum": 0.0}, 4: {"momentum": 0.5}}),        # the kept buffer resumes
    ({"momentum": 0.5}, {2: {"nesterov": True}}),
]


@pytest.mark.parametrize("start, changes", GROUP_CHANGES)
def test_sgd_options_changed_mid_training_act_as_pytorch(start, changes):
    """SGD's momentum buffer is made when momentum is turned on (starting at the
    gradient, without dampening), kept while it is off, and nesterov takes effect."""
    def make(lib, params):
        return lib.optim.SGD(params, lr=0.1, **({"momentum": 0.0} if 1 in changes else start))
    got = _train_with_changes(tm, make, changes)
    if 1 in changes:       # by hand: plain step (p *= 0.8), then buf = d = 1.6 p, p *= 0.64 ...
        momentum, dampening = changes[1]["momentum"], changes[1].get("dampening", 0.0)
        p, buf = np.array([1.0, -2.0, 0.5]) * 0.8, None
        for _ in range(5):
            buf = 2 * p if buf is None else momentum * buf + (1 - dampening) * 2 * p
            p = p - 0.1 * buf
        np.testing.assert_allclose(got, p, rtol=1e-6)
    try:
        import torch
    except ImportError:
        return
    np.testing.assert_allclose(got, _train_with_changes(torch, make, changes), rtol=1e-6)


def test_schedulers_change_lr_without_rebuilding():
    p = nn.Parameter(tm.ones(4))
    opt = optim.SGD([p], lr=1.0, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(2):
        p.grad = tm.ones(4)
        opt.step()
        sched.step()
    built = kernel_count()
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = tm.ones(4)
        opt.step()
        sched.step()
    assert lrs == [0.5, 0.5, 0.25, 0.25]
    assert kernel_count() == built
    opt2 = optim.Adam([nn.Parameter(tm.ones(1))], lr=0.1)
    cos = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=4, eta_min=0.01)
    got = []
    for _ in range(5):
        got.append(cos.get_last_lr()[0])
        cos.step()
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    np.testing.assert_allclose(got, want)


def test_optimizer_state_dict_resumes_exactly():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=3) for _ in range(6)]
    p = nn.Parameter(tm.tensor(np.zeros(3)))
    opt = optim.Adam([p], lr=0.1, weight_decay=0.01)
    for g in grads[:3]:
        p.grad = tm.tensor(g)
        opt.step()
    saved_param, saved_state = p.numpy(), opt.state_dict()
    assert saved_state["state"][0]["step"] == 3 and saved_state["param_groups"][0]["params"] == [0]
    for g in grads[3:]:
        p.grad = tm.tensor(g)
        opt.step()
    q = nn.Parameter(tm.tensor(saved_param))
    opt2 = optim.Adam([q], lr=0.5)
    opt2.load_state_dict(saved_state)
    assert opt2.param_groups[0]["lr"] == 0.1
    for g in grads[3:]:
        q.grad = tm.tensor(g)
        opt2.step()
    np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-12)


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=0.05), lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  # the per-step scalars of bias corrections, NAdam's momentum schedule,
                                  # RAdam's rectification; Adadelta's step stage
                                  *[lambda ps, cls=cls: cls(ps, lr=0.05)
                                    for cls in (optim.Adamax, optim.NAdam, optim.RAdam, optim.Adadelta)]],
                         ids=["Adam", "SGD", "Adamax", "NAdam", "RAdam", "Adadelta"])
def test_jitted_step_follows_a_reloaded_checkpoint(make):
    # load_state_dict used to put fresh state tensors and step counters in place of the
    # ones a tm.jit step had captured, so the compiled step went on from the old state
    rng = np.random.default_rng(5)
    x, y = tm.tensor(rng.normal(size=(16, 6)).astype("float32")), tm.tensor(rng.integers(0, 3, 16))

    def run(use_jit):
        tm.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        opt = make(model.parameters())
        step = cross_entropy_step(model, opt)
        fn = tm.jit(step) if use_jit else step
        for _ in range(3):
            fn(x, y)
        model_state, opt_state = model.state_dict(), opt.state_dict()
        for _ in range(3):
            fn(x, y)
        model.load_state_dict(model_state)
        opt.load_state_dict(opt_state)
        losses = [fn(x, y).item() for _ in range(3)]
        return losses, [p.numpy() for p in model.parameters()], opt.state_dict()["state"][0]["step"]

    eager, jitted = run(False), run(True)
    np.testing.assert_allclose(jitted[0], eager[0], rtol=1e-6)
    for a, b in zip(jitted[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert jitted[2] == eager[2] == 6


def test_invalid_arguments_are_errors():
    p = nn.Parameter(tm.ones(2))
    with pytest.raises(TVMiniError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TVMiniError, match="leaf tensors .* computed by an op"):
        optim.SGD([tm.ones(2, requires_grad=True) * 2], lr=0.1)
    with pytest.raises(TVMiniError, match="leaf tensors .* got list"):
        optim.SGD([[p]], lr=0.1)
    with pytest.raises(TVMiniError, match="empty"):
        optim.Adam([])


@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.Adam(ps, lr=math.nan), "Adam: Invalid learning rate: nan"),
    (lambda ps: optim.AdamW(ps, betas=(0.9, math.nan)), "AdamW: Invalid beta parameter at index 1: nan"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "Invalid epsilon value"),
    (lambda ps: optim.SGD(ps, lr=-0.1), "SGD: Invalid learning rate: -0.1"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=math.nan), "Invalid momentum value: nan"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=math.nan), "Invalid weight_decay value: nan"),
    (lambda ps: optim.Adagrad(ps, lr_decay=math.nan), "Adagrad: Invalid lr_decay value: nan"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value"),
    (lambda ps: optim.RMSprop(ps, lr=math.nan), "RMSprop: Invalid learning rate: nan"),
    (lambda ps: optim.RMSprop(ps, alpha=math.nan), "Invalid alpha value: nan"),
])
def test_invalid_hyper_parameters_nan_included_are_refused_as_pytorch(make, message):
    """Adam(lr=nan) was accepted (NaN passes a ``lr < 0`` test) and turned every weight into
    NaN at the first step; PyTorch refuses it with these messages."""
    with pytest.raises(TVMiniError, match=message):
        make([nn.Parameter(tm.ones(2))])


def test_bases_without_their_rules_cannot_be_instantiated():
    """An optimizer without state_names/kernel, or a scheduler without get_lr, fails at
    construction (abstract methods) instead of at its first step."""
    p = nn.Parameter(tm.ones(2))

    class NoKernel(optim.Optimizer):
        def state_names(self, group):
            return []

    class NoRule(optim.lr_scheduler.LRScheduler):
        pass

    with pytest.raises(TypeError, match="kernel"):
        NoKernel([p], {"lr": 0.1})
    with pytest.raises(TypeError, match="get_lr"):
        NoRule(optim.SGD([p], lr=0.1))


TORCH_CASES = [("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
               ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
               ("Adam", dict(lr=0.01, weight_decay=0.1)), ("AdamW", dict(lr=0.01)),
               ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
               ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)), ("AdamW", dict(lr=0.05, amsgrad=True, maximize=True)),
               ("SGD", dict(lr=0.1, momentum=0.9, maximize=True)), ("Adagrad", dict(lr=0.1, maximize=True)),
               ("RMSprop", dict(lr=0.01, maximize=True))]


@pytest.mark.parametrize("name,kwargs", TORCH_CASES)
def test_matches_pytorch_when_installed(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    start = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(STEPS)]
    p = nn.Parameter(tm.tensor(start))
    q = torch.nn.Parameter(torch.tensor(start))
    mine, theirs = getattr(optim, name)([p], **kwargs), getattr(torch.optim, name)([q], **kwargs)
    for g in grads:
        p.grad, q.grad = tm.tensor(g), torch.tensor(g)
        mine.step()
        theirs.step()
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)


def _rates(scheduler, optimizer, epochs):
    """The first group's rate at each of ``epochs`` epochs (stepping after each)."""
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


SCHEDULES = [
    ("MultiStepLR", dict(milestones=[4, 2], gamma=0.5), lambda e: 0.5 ** ((e >= 2) + (e >= 4))),
    ("ExponentialLR", dict(gamma=0.9), lambda e: 0.9 ** e),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e)), lambda e: 1 / (1 + e)),
    ("LinearLR", dict(start_factor=0.25, total_iters=4), lambda e: 0.25 + 0.75 * min(e, 4) / 4),
    ("ConstantLR", dict(factor=0.5, total_iters=3), lambda e: 0.5 if e < 3 else 1.0),
]


@pytest.mark.parametrize("name,kwargs,factor", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_epoch_schedulers_follow_their_formulas(name, kwargs, factor):
    p = nn.Parameter(tm.ones(2))
    p.grad = tm.zeros(2)
    opt = optim.SGD([p], lr=0.2)
    sched = getattr(optim.lr_scheduler, name)(opt, **kwargs)
    np.testing.assert_allclose(_rates(sched, opt, 7), [0.2 * factor(e) for e in range(7)], rtol=1e-12)
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_lambda_lr_takes_one_function_per_group():
    a, b = nn.Parameter(tm.ones(1)), nn.Parameter(tm.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = optim.lr_scheduler.LambdaLR(opt, [lambda e: 2 ** e, lambda e: 1 / (e + 1)])
    sched.step(), sched.step()
    assert sched.get_last_lr() == [0.4, 1.0 / 3]
    assert "lr_lambdas" not in sched.state_dict()
    with pytest.raises(tm.TVMiniError, match="2 parameter groups"):
        optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0])


def test_reduce_lr_on_plateau_rules():
    """patience 1: the third epoch without improvement (more than ``patience`` in a row)
    cuts the rate; the cooldown then ignores one bad epoch; 3.9999 after 4.0 is no
    improvement by the default relative threshold 1e-4; the rate never goes below min_lr."""
    p = nn.Parameter(tm.ones(1))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    rates = []
    for metric in [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.9999, 4.0, 4.0, 4.0, 4.0]:
        sched.step(metric)
        rates.append(sched.get_last_lr()[0])
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    up = optim.lr_scheduler.ReduceLROnPlateau(optim.SGD([p], lr=1.0), mode="max", patience=0,
                                              threshold=0.1, threshold_mode="abs")
    up.step(1.0), up.step(1.05)
    assert up.get_last_lr() == [0.1]
    with pytest.raises(tm.TVMiniError, match="factor must be below 1"):
        optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)


@pytest.mark.parametrize("name,kwargs,factor", SCHEDULES[:2] + SCHEDULES[3:], ids=["MultiStepLR", "ExponentialLR",
                                                                                   "LinearLR", "ConstantLR"])
def test_schedulers_match_pytorch_when_installed(name, kwargs, factor):
    torch = pytest.importorskip("torch")
    p = nn.Parameter(tm.ones(2))
    p.grad = tm.zeros(2)
    q = torch.nn.Parameter(torch.ones(2))
    q.grad = torch.zeros(2)
    mine, theirs = optim.SGD([p], lr=0.2), torch.optim.SGD([q], lr=0.2)
    mine_sched = getattr(optim.lr_scheduler, name)(mine, **kwargs)
    their_sched = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    np.testing.assert_allclose(_rates(mine_sched, mine, 8), _rates(their_sched, theirs, 8), rtol=1e-12)
    p2, q2 = nn.Parameter(tm.ones(1)), torch.nn.Parameter(torch.ones(1))
    mine, theirs = optim.SGD([p2], lr=1.0), torch.optim.SGD([q2], lr=1.0)
    a = optim.lr_scheduler.ReduceLROnPlateau(mine, factor=0.5, patience=2, cooldown=1, threshold=0.01)
    b = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, factor=0.5, patience=2, cooldown=1, threshold=0.01)
    for metric in [3.0, 2.99, 2.98, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 1.0, 1.0, 1.0, 1.0, 1.0]:
        a.step(metric), b.step(metric)
        assert a.get_last_lr() == pytest.approx(b.get_last_lr())


def _lr_sequence(lib, schedules, epochs=12, manual=None):
    """The rate before each of ``epochs`` epochs of an SGD (lr 0.2) stepped by every
    scheduler of ``schedules`` ([(name, kwargs)]) in turn, in library ``lib`` (tm or
    torch); ``manual``: (epoch, lr) set by hand in ``group["lr"]`` before that epoch."""
    p = lib.nn.Parameter(lib.ones(2))
    p.grad = lib.zeros(2)
    opt = lib.optim.SGD([p], lr=0.2)
    schedulers = [getattr(lib.optim.lr_scheduler, name)(opt, **kwargs) for name, kwargs in schedules]
    rates = []
    for epoch in range(epochs):
        if manual is not None and epoch == manual[0]:
            opt.param_groups[0]["lr"] = manual[1]
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        for scheduler in schedulers:
            scheduler.step()
    return rates


CHAINS = [
    [("StepLR", dict(step_size=3, gamma=0.5))],
    [("MultiStepLR", dict(milestones=[2, 4, 4], gamma=0.5))],
    [("ExponentialLR", dict(gamma=0.9))],
    [("CosineAnnealingLR", dict(T_max=3, eta_min=0.01))],          # past T_max the rate climbs back
    [("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e)))],
    [("LinearLR", dict(start_factor=0.25, total_iters=4))],
    [("ConstantLR", dict(factor=0.5, total_iters=3))],
    [("LinearLR", dict(start_factor=0.1, total_iters=4)), ("CosineAnnealingLR", dict(T_max=10))],
    [("StepLR", dict(step_size=2, gamma=0.5)), ("ExponentialLR", dict(gamma=0.9))],
]


def test_chained_schedulers_multiply_and_a_manual_rate_carries_on():
    """Each step scales the group's current rate (PyTorch's recursive forms): two
    schedulers' factors multiply, and a rate set by hand is where the schedule goes on."""
    warm_cos = _lr_sequence(tm, CHAINS[7], epochs=6)
    want = [0.2 * (0.1 + 0.9 * min(e, 4) / 4) * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(6)]
    np.testing.assert_allclose(warm_cos, want, rtol=1e-12)
    step_exp = _lr_sequence(tm, CHAINS[8], epochs=6)
    np.testing.assert_allclose(step_exp, [0.2 * 0.5 ** (e // 2) * 0.9 ** e for e in range(6)], rtol=1e-12)
    manual = _lr_sequence(tm, [("StepLR", dict(step_size=3, gamma=0.5))], epochs=7, manual=(1, 0.1))
    np.testing.assert_allclose(manual, [0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025], rtol=1e-12)


@pytest.mark.parametrize("schedules", CHAINS, ids=["+".join(name for name, _ in c) for c in CHAINS])
@pytest.mark.parametrize("manual", [None, (5, 0.05)])
def test_scheduler_rates_match_pytorch_chained_and_after_a_manual_change(schedules, manual):
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(_lr_sequence(tm, schedules, manual=manual),
                               _lr_sequence(torch, schedules, manual=manual), rtol=1e-12)


@pytest.mark.parametrize("schedules", CHAINS[:7], ids=[c[0][0] for c in CHAINS[:7]])
def test_step_with_an_epoch_jumps_as_pytorch(schedules):
    """``step(epoch)``, PyTorch's deprecated form: the closed form where there is one."""
    torch = pytest.importorskip("torch")
    got = []
    for lib in (tm, torch):
        p = lib.nn.Parameter(lib.ones(1))
        opt = lib.optim.SGD([p], lr=0.2)
        name, kwargs = schedules[0]
        scheduler = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
        rates = []
        for epoch in (3, 7, 2, 5):
            scheduler.step(epoch)
            rates.append(opt.param_groups[0]["lr"])
        got.append(rates)
    np.testing.assert_allclose(got[0], got[1], rtol=1e-12)


def test_frozen_parameters_are_accepted_and_left_alone():
    """Fine-tuning as in PyTorch: an optimizer over all parameters of a partly frozen
    model updates only the ones that get gradients; unfreezing resumes their updates."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    opt = optim.SGD(model.parameters(), lr=0.5)
    frozen, trained = model[0].weight.numpy(), model[2].weight.numpy()
    x = tm.tensor(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"))
    for _ in range(2):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    assert model[0].weight.grad is None
    np.testing.assert_array_equal(model[0].weight.numpy(), frozen)
    assert not np.array_equal(model[2].weight.numpy(), trained)
    model.requires_grad_(True)
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    assert not np.array_equal(model[0].weight.numpy(), frozen)


def test_amsgrad_and_maximize_follow_their_formulas():
    """AMSGrad divides by the largest second moment so far (PyTorch's bias correction of
    it); ``maximize`` steps along the gradient: the same as minimizing with -g."""
    rng = np.random.default_rng(7)
    start, grads = rng.normal(size=5), [rng.normal(size=5) * (3 if k == 1 else 1) for k in range(5)]
    p = nn.Parameter(tm.tensor(start))
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.9), eps=1e-8, amsgrad=True)
    want, m, v, v_max = start.copy(), np.zeros(5), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, 1):
        p.grad = tm.tensor(g)
        opt.step()
        m, v = 0.8 * m + 0.2 * g, 0.9 * v + 0.1 * g * g
        v_max = np.maximum(v_max, v)
        want = want - 0.1 / (1 - 0.8 ** t) * m / (np.sqrt(v_max) / np.sqrt(1 - 0.9 ** t) + 1e-8)
    np.testing.assert_allclose(p.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(opt.state_dict()["state"][0]["max_exp_avg_sq"].numpy(), v_max, rtol=1e-12)
    for name, kwargs in (("SGD", dict(lr=0.1, momentum=0.5)), ("Adam", dict(lr=0.1)), ("RMSprop", dict(lr=0.01)),
                         ("Adagrad", dict(lr=0.1))):
        up, down = nn.Parameter(tm.tensor(start)), nn.Parameter(tm.tensor(start))
        ascend, descend = getattr(optim, name)([up], maximize=True, **kwargs), getattr(optim, name)([down], **kwargs)
        for g in grads:
            up.grad, down.grad = tm.tensor(g), tm.tensor(-g)
            ascend.step(), descend.step()
        np.testing.assert_allclose(up.numpy(), down.numpy(), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("kwargs", [dict(max_lr=0.1, total_steps=20), dict(max_lr=0.05, epochs=3, steps_per_epoch=4,
                                                                          anneal_strategy="linear", pct_start=0.25),
                                    dict(max_lr=0.2, total_steps=15, three_phase=True)])
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_one_cycle_matches_pytorch_when_installed(name, kwargs):
    """Rates and cycled momentum (SGD's momentum, Adam's first beta) step by step."""
    torch = pytest.importorskip("torch")
    extra = {"momentum": 0.9} if name == "SGD" else {}
    p, q = nn.Parameter(tm.ones(2, dtype="float64")), torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    p.grad, q.grad = tm.ones(2, dtype="float64"), torch.ones(2, dtype=torch.float64)
    mine, theirs = getattr(optim, name)([p], lr=0.01, **extra), getattr(torch.optim, name)([q], lr=0.01, **extra)
    a = optim.lr_scheduler.OneCycleLR(mine, **kwargs)
    b = torch.optim.lr_scheduler.OneCycleLR(theirs, **kwargs)
    key = "momentum" if name == "SGD" else "betas"
    for _ in range(a.total_steps):
        assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-12)
        assert mine.param_groups[0][key] == pytest.approx(theirs.param_groups[0][key], rel=1e-12)
        mine.step(), theirs.step(), a.step(), b.step()
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12)


def test_one_cycle_shape_and_limits():
    p = nn.Parameter(tm.ones(2))
    opt = optim.SGD([p], lr=1.0, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.5, anneal_strategy="linear",
                                          div_factor=10, final_div_factor=10)
    rates, momenta = [], []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        sched.step()
    np.testing.assert_allclose(rates[:5], [0.1 + 0.9 * k / 4 for k in range(5)])
    np.testing.assert_allclose(rates[4:], [1.0 + (0.01 - 1.0) * k / 5 for k in range(6)])
    assert momenta[0] == pytest.approx(0.95) and momenta[4] == pytest.approx(0.85)
    with pytest.raises(tm.TVMiniError, match="more than total_steps=10"):
        sched.step()
