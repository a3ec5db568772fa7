"""Adagrad and RMSprop: adaptive per-element step sizes (PyTorch's formulas)."""
import numpy as np

from ..graph import Tensor
from ..runtime import ndarray as nd
from ..topi import optim as kernels
from .optimizer import Optimizer, check_options


def _adagrad(p, g, s, clr, eps, weight_decay):
    return kernels.adagrad_update(p, g, s, clr, eps, weight_decay)


class Adagrad(Optimizer):
    """``d = g + wd*p``; ``sum += d²``; ``p -= clr * d / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (t-1)*lr_decay)``; ``sum`` starts at ``initial_accumulator_value``."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, *,
                 maximize=False):
        check_options("Adagrad", [("learning rate", lr, 0 <= lr), ("lr_decay value", lr_decay, 0 <= lr_decay),
                                  ("weight_decay value", weight_decay, 0 <= weight_decay),
                                  ("initial_accumulator_value value", initial_accumulator_value,
                                   0 <= initial_accumulator_value), ("epsilon value", eps, 0 <= eps)])
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def state_names(self, group):
        return ("sum",)

    def _new_state(self, p, group, state, name):
        """The sum of squares, starting at ``initial_accumulator_value``."""
        start = np.full(p.shape, group["initial_accumulator_value"], dtype=p.dtype)
        return Tensor._wrap(nd.array(start, device=p.device))

    def kernel(self, group, state):
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        return _adagrad, (clr, group["eps"], group["weight_decay"]), ()


def _rmsprop(p, g, *rest, centered, use_momentum):
    """The dispatcher passes the state placeholders, then the five scalar vars."""
    *states, lr, alpha, eps, weight_decay, momentum = rest
    return kernels.rmsprop_update(p, g, *states, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                  momentum=momentum, centered=centered, use_momentum=use_momentum)


class RMSprop(Optimizer):
    """``sq = alpha*sq + (1-alpha)*d²``; centered: ``ga = alpha*ga + (1-alpha)*d`` and
    ``avg = sqrt(sq - ga²) + eps``, else ``avg = sqrt(sq) + eps``; with momentum
    ``buf = momentum*buf + d/avg; p -= lr*buf``, else ``p -= lr*d/avg``."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *,
                 maximize=False):
        check_options("RMSprop", [("learning rate", lr, 0 <= lr), ("epsilon value", eps, 0 <= eps),
                                  ("momentum value", momentum, 0 <= momentum),
                                  ("weight_decay value", weight_decay, 0 <= weight_decay),
                                  ("alpha value", alpha, 0 <= alpha <= 1)])
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def state_names(self, group):
        return (("square_avg",) + (("grad_avg",) if group["centered"] else ())
                + (("momentum_buffer",) if group["momentum"] > 0 else ()))

    def kernel(self, group, state):
        return (_rmsprop, (group["lr"], group["alpha"], group["eps"], group["weight_decay"],
                                   group["momentum"]),
                (("centered", bool(group["centered"])), ("use_momentum", group["momentum"] > 0)))

