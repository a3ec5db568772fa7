"""Adam and AdamW (decoupled weight decay), with PyTorch's bias-corrected formulas."""
import math

from ..topi import optim as kernels
from .optimizer import Optimizer, check_options


def _adam(p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt, weight_decay, decay):
    return kernels.adam_update(p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt, weight_decay, decay)


def _amsgrad(p, g, m, v, v_max, step_size, beta1, beta2, eps, bias_correction2_sqrt, weight_decay, decay):
    return kernels.adam_update(p, g, m, v, step_size, beta1, beta2, eps, bias_correction2_sqrt, weight_decay, decay,
                               v_max)


class Adam(Optimizer):
    """``m = b1*m + (1-b1)*d``, ``v = b2*v + (1-b2)*d²`` with ``d = g + weight_decay*p``;
    ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``; ``amsgrad``: the largest
    ``v`` so far in place of ``v`` (state ``max_exp_avg_sq``)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 maximize=False):
        check_options(type(self).__name__, [
            ("learning rate", lr, 0 <= lr), ("epsilon value", eps, 0 <= eps),
            *[(f"beta parameter at index {k}", b, 0 <= b < 1) for k, b in enumerate(betas)],
            ("weight_decay value", weight_decay, 0 <= weight_decay)])
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def state_names(self, group):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def kernel(self, group, state):
        lr, (beta1, beta2), wd, t = group["lr"], group["betas"], group["weight_decay"], state["step"]
        step_size = lr / (1 - beta1 ** t)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** t)
        coupled, decay = (0.0, 1.0 - lr * wd) if self.decoupled else (wd, 1.0)
        define = _amsgrad if group["amsgrad"] else _adam
        return define, (step_size, beta1, beta2, group["eps"], bias_correction2_sqrt, coupled, decay), ()


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr*weight_decay`` before the Adam step
    (weight_decay defaults to 0.01, as PyTorch)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
