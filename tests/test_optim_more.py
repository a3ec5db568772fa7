"""Rprop and ASGD against numpy re-implementations of PyTorch's formulas and against
PyTorch over 10 steps in float64 (state dicts round-tripped mid-run, under tm.jit too),
the schedulers MultiplicativeLR, PolynomialLR, CyclicLR, SequentialLR and
ChainedScheduler against PyTorch's rates over many steps, and
nn.utils.parameters_to_vector / vector_to_parameters."""
import warnings

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn, optim
from tvmini.errors import DeviceError, DTypeError, ShapeError, TVMiniError
from tvmini.nn.utils import parameters_to_vector, vector_to_parameters

STEPS = 10


def _gradient(p):
    """A gradient that depends on the parameter (its sign flips now and then, which
    Rprop reacts to)."""
    return np.cos(3 * p) + 0.5 * p


def reference_rprop(p, steps, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    prev, size = np.zeros_like(p), np.full_like(p, lr)
    for _ in range(steps):
        g = -_gradient(p) if maximize else _gradient(p)
        product = g * prev
        size = np.clip(size * np.where(product > 0, etas[1], np.where(product < 0, etas[0], 1.0)), *step_sizes)
        g = np.where(product < 0, 0.0, g)
        p = p - np.sign(g) * size
        prev = g
    return p


def reference_asgd(p, steps, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
    ax, eta, mu = np.zeros_like(p), lr, 1.0
    for t in range(1, steps + 1):
        g = -_gradient(p) if maximize else _gradient(p)
        g = g + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = p.copy() if mu == 1 else ax + (p - ax) * mu
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
    return p, ax


CASES = [
    (optim.Rprop, dict()),
    (optim.Rprop, dict(lr=0.3, etas=(0.3, 1.5), step_sizes=(0.01, 0.4))),
    (optim.Rprop, dict(lr=0.05, maximize=True)),
    (optim.ASGD, dict()),
    (optim.ASGD, dict(lr=0.1, lambd=0.1, alpha=0.5, t0=3, weight_decay=0.2)),
    (optim.ASGD, dict(lr=0.05, t0=0, maximize=True)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CASES)]


def _run(make_optimizer, lib, start, steps, checkpoint_at=None):
    """``steps`` updates with :func:`_gradient`; with ``checkpoint_at`` the optimizer is
    rebuilt there from its state dict (a fresh optimizer continues the run)."""
    p = nn.Parameter(tm.tensor(start)) if lib is tm else lib.nn.Parameter(lib.tensor(start))
    opt = make_optimizer([p])
    for step in range(steps):
        if step == checkpoint_at:
            saved = opt.state_dict()
            opt = make_optimizer([p])
            opt.load_state_dict(saved)
        p.grad = lib.tensor(_gradient(p.detach().numpy()))
        opt.step()
    return p.detach().numpy(), opt


@pytest.mark.parametrize("cls,kwargs", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_matches_the_formula(cls, kwargs, dtype):
    start = np.random.default_rng(0).normal(size=(3, 5)).astype(dtype)
    got, opt = _run(lambda ps: cls(ps, **kwargs), tm, start, STEPS)
    tol = 1e-11 if dtype == "float64" else 2e-5
    if cls is optim.Rprop:
        want = reference_rprop(start.astype("float64"), STEPS, **kwargs)
    else:
        want, ax = reference_asgd(start.astype("float64"), STEPS, **kwargs)
        np.testing.assert_allclose(next(iter(opt.state.values()))["ax"].numpy(), ax, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.fixture
def torch64():
    """PyTorch with float64 as its default dtype: ASGD keeps ``eta`` and ``mu`` as tensors
    of that dtype (float32 otherwise, which rounds them)."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)


@pytest.mark.parametrize("cls,kwargs", CASES, ids=IDS)
def test_matches_pytorch_through_a_state_dict(cls, kwargs, torch64):
    start = np.random.default_rng(3).normal(size=(4, 3))
    theirs, their_opt = _run(lambda ps: getattr(torch64.optim, cls.__name__)(ps, **kwargs), torch64, start, STEPS)
    for checkpoint in (None, 4):
        mine, opt = _run(lambda ps: cls(ps, **kwargs), tm, start, STEPS, checkpoint_at=checkpoint)
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-13)
    ours, their_state = opt.state_dict()["state"][0], their_opt.state_dict()["state"][0]
    assert int(ours["step"]) == int(their_state["step"]) == STEPS
    for name in opt.state_names(opt.param_groups[0]):
        np.testing.assert_allclose(ours[name].numpy(), their_state[name].numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cls,kwargs", [CASES[1], CASES[4]], ids=[IDS[1], IDS[4]])
def test_a_jit_step_matches_the_eager_step(cls, kwargs):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")
    results = []
    for compiled in (False, True):
        tm.manual_seed(0)
        model = nn.Linear(4, 2)
        opt = cls(model.parameters(), **kwargs)

        def step(xb, yb):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
            return loss
        run = tm.jit(step) if compiled else step
        losses = [run(tm.tensor(x), tm.tensor(y)).item() for _ in range(4)]
        results.append((losses, [p.numpy() for p in model.parameters()]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    for got, want in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_rprop_step_sizes_start_at_lr_and_stay_in_bounds():
    p = nn.Parameter(tm.tensor(np.array([1.0, -2.0, 0.5])))
    opt = optim.Rprop([p], lr=0.2, etas=(0.5, 3.0), step_sizes=(0.15, 0.5))
    for _ in range(5):
        p.grad = tm.tensor(np.array([1.0, -1.0, 0.0]))
        opt.step()
    sizes = opt.state[id(p)]["step_size"].numpy()
    assert sizes.tolist() == [0.5, 0.5, 0.2]        # kept growing to the bound; no gradient: unchanged
    # a state dict without the parameter's state restarts it: step sizes back at lr
    opt.load_state_dict({"state": {}, "param_groups": opt.state_dict()["param_groups"]})
    assert opt.state[id(p)]["step_size"].numpy().tolist() == [0.2, 0.2, 0.2]


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.Rprop(p, lr=-1), "Rprop: Invalid learning rate"),
    (lambda p: optim.Rprop(p, etas=(1.2, 0.5)), "Rprop: Invalid eta values"),
    (lambda p: optim.ASGD(p, lr=float("nan")), "ASGD: Invalid learning rate"),
    (lambda p: optim.ASGD(p, weight_decay=-1), "ASGD: Invalid weight_decay"),
])
def test_invalid_hyper_parameters_are_refused_as_pytorch(make, message):
    with pytest.raises(TVMiniError, match=message):
        make([nn.Parameter(tm.ones(2))])


# ---------------------------------------------------------------------------- schedulers
def _sgd(lib, p):
    return lib.optim.SGD([p], lr=0.1, momentum=0.9)


def _adam(lib, p):
    return lib.optim.Adam([p], lr=0.1)


def _rates(lib, make_optimizer, make_scheduler, steps):
    """Each step's (lr, momentum or beta1) and ``get_last_lr()``."""
    torch_like = lib is not tm
    p = lib.nn.Parameter(lib.zeros(2)) if torch_like else nn.Parameter(tm.zeros(2))
    opt = make_optimizer(lib, p)
    scheduler = make_scheduler(lib.optim.lr_scheduler, opt)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # PyTorch's "scheduler.step() before optimizer.step()"
        for _ in range(steps):
            group = opt.param_groups[0]
            momentum = group["betas"][0] if "betas" in group else group["momentum"]
            seen.append((group["lr"], momentum, scheduler.get_last_lr()[0]))
            opt.step()
            scheduler.step()
    return np.array(seen), scheduler


SCHEDULES = {
    "multiplicative": (_sgd, lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95 ** (e % 3))),
    "polynomial": (_sgd, lambda L, o: L.PolynomialLR(o, total_iters=17, power=2.5)),
    "cyclic_triangular": (_sgd, lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5, step_size_down=3)),
    "cyclic_triangular2": (_sgd, lambda L, o: L.CyclicLR(o, 0.01, 0.1, 4, mode="triangular2")),
    "cyclic_exp_range_adam": (_adam, lambda L, o: L.CyclicLR(o, 0.01, 0.1, 3, 6, "exp_range", gamma=0.97,
                                                            base_momentum=0.7, max_momentum=0.95)),
    "cyclic_scale_fn": (_sgd, lambda L, o: L.CyclicLR(o, 0.01, 0.1, 3, scale_fn=lambda x: 1 / (1 + x),
                                                      scale_mode="iterations", cycle_momentum=False)),
    "sequential": (_sgd, lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=5),
                                                         L.CosineAnnealingLR(o, 10), L.ExponentialLR(o, 0.9)],
                                                     milestones=[5, 20])),
    "chained": (_sgd, lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.5, 4), L.ExponentialLR(o, 0.95),
                                                       L.PolynomialLR(o, 30, 1.5)])),
    "sequential_of_chained": (_sgd, lambda L, o: L.SequentialLR(
        o, [L.ChainedScheduler([L.StepLR(o, 3, 0.5), L.LinearLR(o, 0.5, total_iters=4)]),
            L.MultiplicativeLR(o, lambda e: 0.9)], [7])),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules_match_pytorch_over_many_steps(name):
    torch = pytest.importorskip("torch")
    make_optimizer, make_scheduler = SCHEDULES[name]
    mine, _ = _rates(tm, make_optimizer, make_scheduler, 60)
    theirs, _ = _rates(torch, make_optimizer, make_scheduler, 60)
    np.testing.assert_allclose(mine, theirs, rtol=1e-13, atol=0)


def test_polynomial_and_cyclic_follow_their_formulas():
    rates, _ = _rates(tm, _sgd, lambda L, o: L.PolynomialLR(o, total_iters=8, power=2.0), 12)
    epochs = np.arange(12)
    np.testing.assert_allclose(rates[:, 0], 0.1 * (1 - np.minimum(epochs, 8) / 8) ** 2, rtol=1e-12, atol=1e-15)
    rates, _ = _rates(tm, _sgd, lambda L, o: L.CyclicLR(o, 0.0, 1.0, 4, mode="triangular2"), 24)
    tri = 1 - np.abs((epochs_ := np.arange(24)) % 8 - 4) / 4
    np.testing.assert_allclose(rates[:, 0], tri / 2.0 ** (epochs_ // 8), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rates[:, 1], 0.9 - 0.1 * tri / 2.0 ** (epochs_ // 8), rtol=1e-12)


def test_combined_schedulers_round_trip_their_state():
    def make(L, o):
        return L.SequentialLR(o, [L.ChainedScheduler([L.ExponentialLR(o, 0.9), L.PolynomialLR(o, 20)]),
                                  L.ConstantLR(o, 0.5, 3)], [4])
    p = nn.Parameter(tm.zeros(2))
    opt = optim.SGD([p], lr=0.1)
    scheduler = make(optim.lr_scheduler, opt)
    for _ in range(6):
        scheduler.step()
    saved, lr = scheduler.state_dict(), opt.param_groups[0]["lr"]
    assert len(saved["_schedulers"]) == 2 and len(saved["_schedulers"][0]["_schedulers"]) == 2
    following = []
    for _ in range(5):
        scheduler.step()
        following.append(opt.param_groups[0]["lr"])
    q = nn.Parameter(tm.zeros(2))
    other = optim.SGD([q], lr=0.1)
    restored = make(optim.lr_scheduler, other)
    restored.load_state_dict(saved)
    other.param_groups[0]["lr"] = lr
    again = []
    for _ in range(5):
        restored.step()
        again.append(other.param_groups[0]["lr"])
    assert again == following


def test_scheduler_arguments_are_checked():
    p = nn.Parameter(tm.zeros(2))
    opt, other = optim.SGD([p], lr=0.1), optim.SGD([nn.Parameter(tm.zeros(1))], lr=0.1)
    L = optim.lr_scheduler
    with pytest.raises(TVMiniError, match="SequentialLR expects number of schedulers provided to be one more"):
        L.SequentialLR(opt, [L.ExponentialLR(opt, 0.9)], [3])
    with pytest.raises(TVMiniError, match="SequentialLR: the scheduler at index 1 \\(ChainedScheduler\\) cannot be "
                                          "restarted"):
        L.SequentialLR(opt, [L.ExponentialLR(opt, 0.9), L.ChainedScheduler([L.ExponentialLR(opt, 0.9)])], [3])
    with pytest.raises(TVMiniError, match="expects all schedulers to belong to the same optimizer"):
        L.ChainedScheduler([L.ExponentialLR(opt, 0.9), L.ExponentialLR(other, 0.9)])
    with pytest.raises(TVMiniError, match="does not support `ReduceLROnPlateau`"):
        L.ChainedScheduler([L.ReduceLROnPlateau(opt)])
    with pytest.raises(TVMiniError, match="at least one scheduler"):
        L.SequentialLR(opt, [], [])
    with pytest.raises(TVMiniError, match="CyclicLR: mode is invalid and scale_fn is None"):
        L.CyclicLR(opt, 0.01, 0.1, mode="square")
    with pytest.raises(TVMiniError, match="optimizer must support momentum or beta1"):
        L.CyclicLR(optim.Adagrad([nn.Parameter(tm.zeros(1))]), 0.01, 0.1)
    with pytest.raises(TVMiniError, match="CyclicLR: expected 1 values for max_lr, got 2"):
        L.CyclicLR(opt, 0.01, [0.1, 0.2])
    with pytest.raises(TVMiniError, match="MultiplicativeLR: expected 1 lr_lambdas, but got 2"):
        L.MultiplicativeLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(TVMiniError, match="PolynomialLR: total_iters must be positive"):
        L.PolynomialLR(opt, total_iters=0)


# ---------------------------------------------------------------------------- nn.utils
def test_parameters_to_vector_and_back():
    torch = pytest.importorskip("torch")
    shapes = [(2, 3), (4,), (1, 1, 2), ()]
    rng = np.random.default_rng(7)
    values = [rng.normal(size=s) for s in shapes]
    ours = [nn.Parameter(tm.tensor(v)) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    vec = parameters_to_vector(ours)
    want = torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(vec.numpy(), want.detach().numpy())
    head = rng.normal(size=vec.shape)
    (vec * tm.tensor(head)).sum().backward()
    (want * torch.tensor(head)).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())
    new = rng.normal(size=vec.shape)
    vector_to_parameters(tm.tensor(new), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs)
    for o, t in zip(ours, theirs):
        assert o.shape == tuple(t.shape)
        np.testing.assert_array_equal(o.numpy(), t.detach().numpy())
    assert ours[0].grad is not None and ours[0].requires_grad      # gradients and flags stay


def test_vector_to_parameters_refuses_bad_input():
    ps = [nn.Parameter(tm.zeros(2, 2)), nn.Parameter(tm.zeros(3))]
    with pytest.raises(DTypeError, match="vector_to_parameters: expected a Tensor"):
        vector_to_parameters(np.zeros(7), ps)
    with pytest.raises(ShapeError, match="vector_to_parameters: vec of shape \\(6,\\) does not hold the 7"):
        vector_to_parameters(tm.zeros(6), ps)


def test_parameters_on_two_devices_are_refused(emulated_gpu):
    ps = [nn.Parameter(tm.zeros(2)), nn.Parameter(tm.zeros(2, device="cuda"))]
    with pytest.raises(DeviceError, match="parameters_to_vector: found tensors on different devices"):
        parameters_to_vector(ps)


# ---------------------------------------------------------------------------- LBFGS
def _rosenbrock(lib, a, b):
    x = lib.cat([a.reshape(-1), b.reshape(-1)])
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _lbfgs_run(lib, make, calls=3, checkpoint_after=None):
    """``calls`` LBFGS steps on the Rosenbrock function of two parameters; the losses
    each returned, the final parameters and the evaluation and iteration counts."""
    rng = np.random.default_rng(0)
    a0, b0 = rng.normal(size=(2, 2)), rng.normal(size=3)
    wrap = (lambda v: nn.Parameter(tm.tensor(v))) if lib is tm else (lambda v: lib.nn.Parameter(lib.tensor(v)))
    a, b = wrap(a0), wrap(b0)
    opt = make(lib, [a, b])

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(lib, a, b)
        loss.backward()
        return loss
    losses = []
    for k in range(calls):
        losses.append(float(opt.step(closure).detach()))
        if k == checkpoint_after:
            saved = opt.state_dict()
            opt = make(lib, [a, b])
            opt.load_state_dict(saved)
    state = opt.state[id(a)] if lib is tm else opt.state[a]
    params = np.concatenate([a.detach().numpy().ravel(), b.detach().numpy().ravel()])
    return np.array(losses), params, (state["func_evals"], state["n_iter"])


LBFGS_CASES = [dict(), dict(lr=0.5, history_size=3), dict(line_search_fn="strong_wolfe"),
               dict(line_search_fn="strong_wolfe", history_size=2, max_iter=7)]


@pytest.mark.parametrize("kwargs", LBFGS_CASES, ids=[str(i) for i in range(len(LBFGS_CASES))])
def test_lbfgs_matches_pytorch(kwargs, torch64):
    theirs = _lbfgs_run(torch64, lambda L, ps: L.optim.LBFGS(ps, **kwargs))
    for checkpoint in (None, 0):
        mine = _lbfgs_run(tm, lambda L, ps: optim.LBFGS(ps, **kwargs), checkpoint_after=checkpoint)
        np.testing.assert_allclose(mine[0], theirs[0], rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(mine[1], theirs[1], rtol=1e-7, atol=1e-8)
        assert mine[2] == theirs[2]            # the same closure calls and iterations


def test_lbfgs_minimises_a_quadratic_to_the_solution():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 5))
    a, target = m @ m.T + 5 * np.eye(5), rng.normal(size=5)
    x = nn.Parameter(tm.zeros(5, dtype="float64"))
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)
    A, t = tm.tensor(a), tm.tensor(target)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * tm.matmul(A, x)).sum() - (t * x).sum()
        loss.backward()
        return loss
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, target), rtol=0, atol=1e-8)   # PyTorch: 1e-9 off


def test_lbfgs_refuses_what_pytorch_refuses():
    p = [nn.Parameter(tm.zeros(2))]
    with pytest.raises(TVMiniError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": p}, {"params": [nn.Parameter(tm.zeros(1))]}])
    with pytest.raises(TVMiniError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS(p, line_search_fn="backtracking")
    with pytest.raises(TVMiniError, match="LBFGS.step needs a closure"):
        optim.LBFGS(p).step(None)
    with pytest.raises(TVMiniError, match="LBFGS: Invalid learning rate"):
        optim.LBFGS(p, lr=-1)
