"""Rprop and ASGD with PyTorch's formulas, argument names and state names. Each update
is one fused kernel (``tvmini.topi.optim_more``) with runtime scalars; ASGD's
step-dependent ``eta`` and ``mu`` are computed here from the step count (PyTorch keeps
them as state tensors, updated at the end of each step, so step ``t`` uses the values
of step ``t - 1``: the same numbers while ``lr`` is constant)."""
import numpy as np

from ..graph import Tensor
from ..runtime import ndarray as nd
from ..topi import optim_more as kernels
from .optimizer import Optimizer, check_options


class Rprop(Optimizer):
    """Resilient backpropagation: each weight has its own step size (state ``step_size``,
    starting at ``lr``), multiplied by ``etas[1]`` while its gradient keeps its sign and
    by ``etas[0]`` when it flips (that gradient is then skipped: ``prev`` is 0), kept in
    ``step_sizes``; the weight moves by its step size against the gradient's sign."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, maximize=False):
        etaminus, etaplus = etas
        check_options("Rprop", [("learning rate", lr, 0.0 <= lr),
                                ("eta values", f"{etaminus}, {etaplus}", 0.0 < etaminus < 1.0 < etaplus)])
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize))

    def state_names(self, group):
        return ("prev", "step_size")

    def _new_state(self, p, group, state, name):
        if name == "step_size":
            return Tensor._wrap(nd.array(np.full(p.shape, group["lr"], dtype=p.dtype), device=p.device))
        return super()._new_state(p, group, state, name)

    def _reset_state(self, state):
        """A fresh optimizer's state: the step sizes back to the group's ``lr``, not 0."""
        super()._reset_state(state)
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(id(p)) is state:
                    state["step_size"]._data.copyfrom(np.full(p.shape, group["lr"], dtype=p.dtype))

    def kernel(self, group, state):
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return kernels.rprop_update, (etaminus, etaplus, low, high), ()


class ASGD(Optimizer):
    """Averaged SGD (Polyak and Juditsky): ``p = p (1 - lambd eta) - eta (g + wd p)`` with
    ``eta_t = lr / (1 + lambd lr (t - 1))^alpha``, and the running average ``ax`` of the
    iterates, kept from step ``t0`` on (``mu_t = 1 / max(1, t - 1 - t0)``; before, ``ax``
    is the iterate itself). States: ``ax`` (and the step count; ``eta`` and ``mu`` follow
    from it)."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, *, maximize=False):
        check_options("ASGD", [("learning rate", lr, 0.0 <= lr),
                               ("weight_decay value", weight_decay, 0.0 <= weight_decay)])
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))

    def state_names(self, group):
        return ("ax",)

    @staticmethod
    def schedule(group, step):
        """``(eta, mu)`` used by update number ``step`` (1-based)."""
        lr, lambd = group["lr"], group["lambd"]
        eta = lr / (1 + lambd * lr * (step - 1)) ** group["alpha"]
        mu = 1.0 if step == 1 else 1.0 / max(1.0, step - 1 - group["t0"])
        return eta, mu

    def kernel(self, group, state):
        eta, mu = self.schedule(group, state["step"])
        return kernels.asgd_update, (eta, group["lambd"], mu, group["weight_decay"]), ()
