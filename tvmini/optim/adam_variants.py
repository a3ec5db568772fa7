"""Adamax, NAdam and RAdam: Adam's moments with another step (PyTorch's formulas), and
Adadelta. Each update is one fused kernel (``tvmini.topi.optim``); every step-dependent
factor (bias corrections, NAdam's momentum schedule, RAdam's rectification) is a runtime
scalar computed here from the step count, so no step rebuilds a kernel."""
import math

from ..topi import optim as kernels
from .optimizer import Optimizer, check_options


def _adam_options(owner, lr, betas, eps, weight_decay):
    """PyTorch's argument checks shared by the Adam family."""
    check_options(owner, [("learning rate", lr, 0 <= lr), ("epsilon value", eps, 0 <= eps),
                          *[(f"beta parameter at index {k}", b, 0 <= b < 1) for k, b in enumerate(betas)],
                          ("weight_decay value", weight_decay, 0 <= weight_decay)])


def _decay(group):
    """(coupled weight decay added to the gradient, factor the parameter is multiplied
    by): ``decoupled_weight_decay`` moves the decay from the one to the other, as AdamW."""
    lr, wd = group["lr"], group["weight_decay"]
    return (0.0, 1.0 - lr * wd) if group.get("decoupled_weight_decay") else (wd, 1.0)


class _AdamFamily(Optimizer):
    """The moment states every member keeps, under PyTorch's state names."""

    def state_names(self, group):
        return ("exp_avg", "exp_avg_sq")


class Adamax(_AdamFamily):
    """Adam with the infinity norm: ``u = max(b2*u, |d| + eps)`` and
    ``p -= lr/(1-b1^t) * m / u`` (state ``exp_inf``)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, maximize=False):
        _adam_options("Adamax", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def state_names(self, group):
        return ("exp_avg", "exp_inf")

    def kernel(self, group, state):
        beta1, beta2 = group["betas"]
        clr = group["lr"] / (1 - beta1 ** state["step"])
        return kernels.adamax_update, (clr, beta1, beta2, group["eps"], group["weight_decay"]), ()


class NAdam(_AdamFamily):
    """Adam with Nesterov momentum (Dozat) and PyTorch's momentum schedule
    ``mu_t = b1 * (1 - 0.5 * 0.96^(t*momentum_decay))``:
    ``p -= lr*(1-mu_t)/(1-prod mu_1..t) * d/den + lr*mu_{t+1}/(1-prod mu_1..t+1) * m/den``
    with ``den = sqrt(v/(1-b2^t)) + eps``. PyTorch keeps ``prod mu`` as per-parameter
    state (``mu_product``); here it is a function of the step count (memoised per
    ``(b1, momentum_decay)``), the same value while those stay fixed."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, maximize=False):
        _adam_options("NAdam", lr, betas, eps, weight_decay)
        check_options("NAdam", [("momentum_decay value", momentum_decay, 0 <= momentum_decay)])
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))
        self._mu_products = {}

    def _mu_product(self, beta1, momentum_decay, t):
        """``prod_{s=1..t} mu_s``, extending the memoised prefix products as far as ``t``."""
        products = self._mu_products.setdefault((beta1, momentum_decay), [1.0])
        while len(products) <= t:
            s = len(products)
            products.append(products[-1] * beta1 * (1 - 0.5 * 0.96 ** (s * momentum_decay)))
        return products[t]

    def kernel(self, group, state):
        lr, (beta1, beta2), t, md = group["lr"], group["betas"], state["step"], group["momentum_decay"]
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * md))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * md))
        grad_step = lr * (1 - mu) / (1 - self._mu_product(beta1, md, t))
        momentum_step = lr * mu_next / (1 - self._mu_product(beta1, md, t + 1))
        coupled, decay = _decay(group)
        return kernels.nadam_update, (grad_step, momentum_step, beta1, beta2, group["eps"], 1 - beta2 ** t, coupled,
                                      decay), ()


class RAdam(_AdamFamily):
    """Rectified Adam (Liu et al.): while the variance of the adaptive learning rate is
    intractable (``rho_t <= 5``) the step is SGD with momentum, ``p -= lr/(1-b1^t) * m``;
    after, ``p -= lr/(1-b1^t) * m * rect_t * sqrt(1-b2^t) / (sqrt(v) + eps)`` with
    ``rho_inf = 2/(1-b2) - 1``, ``rho_t = rho_inf - 2t b2^t/(1-b2^t)`` and
    ``rect_t = sqrt((rho_t-4)(rho_t-2)rho_inf / ((rho_inf-4)(rho_inf-2)rho_t))``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 *, maximize=False):
        _adam_options("RAdam", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def kernel(self, group, state):
        lr, (beta1, beta2), t = group["lr"], group["betas"], state["step"]
        bias_correction2 = 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
        rectified = rho_t > 5
        scale = 0.0
        if rectified:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            scale = rect * math.sqrt(bias_correction2)
        coupled, decay = _decay(group)
        return kernels.radam_update, (lr / (1 - beta1 ** t), float(rectified), scale, beta1, beta2, group["eps"],
                                      coupled, decay), ()


class Adadelta(Optimizer):
    """``sq = rho*sq + (1-rho)*d²``; ``delta = sqrt(acc + eps)/sqrt(sq + eps) * d``;
    ``acc = rho*acc + (1-rho)*delta²``; ``p -= lr*delta`` (states ``square_avg``,
    ``acc_delta``)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
        check_options("Adadelta", [("learning rate", lr, 0 <= lr), ("rho value", rho, 0 <= rho <= 1),
                                   ("epsilon value", eps, 0 <= eps),
                                   ("weight_decay value", weight_decay, 0 <= weight_decay)])
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def state_names(self, group):
        return ("square_avg", "acc_delta")

    def kernel(self, group, state):
        return kernels.adadelta_update, (group["lr"], group["rho"], group["eps"], group["weight_decay"]), ()
