"""SGD with PyTorch's momentum, dampening, Nesterov and weight-decay options."""
from ..errors import TVMiniError
from ..topi import optim as kernels
from .optimizer import Optimizer, check_options


def _plain(p, g, lr, weight_decay):
    return kernels.sgd_update(p, g, lr, weight_decay)


def _momentum(p, g, buf, lr, weight_decay, keep, grad_scale, momentum, nesterov):
    return kernels.sgd_momentum_update(p, g, buf, lr, weight_decay, keep, grad_scale, momentum, nesterov)


class SGD(Optimizer):
    """``d = g + weight_decay*p``; with momentum ``buf = momentum*buf + (1-dampening)*d``
    (``buf = d`` on the first step) and ``d = d + momentum*buf`` (Nesterov) or ``d = buf``;
    then ``p -= lr * d``."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False):
        check_options("SGD", [("learning rate", lr, 0 <= lr), ("momentum value", momentum, 0 <= momentum),
                              ("weight_decay value", weight_decay, 0 <= weight_decay)])
        if nesterov and (momentum <= 0 or dampening != 0):
            raise TVMiniError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def state_names(self, group):
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _new_state(self, p, group, state, name):
        """The momentum buffer; made after the first step (momentum turned on mid-training),
        its first update is at ``momentum_start``: ``buf = d`` then, as PyTorch's new buffer."""
        if state["step"]:
            state["momentum_start"] = state["step"] + 1
        return super()._new_state(p, group, state, name)

    def _load_state(self, p, state, saved):
        """As the base class's; a state without a step count (PyTorch's SGD saves only the
        momentum buffer) holds a buffer already in use, so the next step continues it."""
        if "step" not in saved and "momentum_buffer" in saved:
            saved = {**saved, "step": 1}
        super()._load_state(p, state, saved)

    def kernel(self, group, state):
        lr, wd, momentum = group["lr"], group["weight_decay"], group["momentum"]
        if momentum == 0:
            return _plain, (lr, wd), ()
        first = state["step"] == state.get("momentum_start", 1)
        keep, grad_scale = (0.0, 1.0) if first else (momentum, 1.0 - group["dampening"])
        return _momentum, (lr, wd, keep, grad_scale, momentum), (("nesterov", bool(group["nesterov"])),)
