"""Learning-rate schedulers with PyTorch's names, arguments and values.

A scheduler rewrites ``group["lr"]`` of its optimizer; the update kernels take the
learning rate as a runtime scalar, so a new rate never rebuilds anything (and a
``tm.jit`` step replays with the new rate). The epoch-driven schedulers compute each
rate in closed form from the group's ``initial_lr`` (the values of PyTorch's recursive
forms); :class:`ReduceLROnPlateau` follows a metric instead.
"""
import abc
import bisect
import math

from ..errors import TVMiniError


class _SchedulerState:
    """What every scheduler shares: the last rates set, and its state (all but the
    optimizer) for checkpoints."""

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)


class LRScheduler(_SchedulerState, abc.ABC):
    """Base: remembers each group's ``initial_lr`` and sets ``lr`` from the epoch count
    through ``lr_at``, which every subclass implements."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise TVMiniError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs 'initial_lr' "
                              "in every parameter group")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    @abc.abstractmethod
    def lr_at(self, base_lr, epoch, group=0):
        """The learning rate at ``epoch`` of parameter group number ``group``, whose
        initial rate is ``base_lr``."""

    def step(self):
        """Advance one epoch and set every group's learning rate."""
        self.last_epoch += 1
        for k, (group, base) in enumerate(zip(self.optimizer.param_groups, self.base_lrs)):
            group["lr"] = self.lr_at(base, self.last_epoch, k)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise TVMiniError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise TVMiniError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class MultiStepLR(LRScheduler):
    """``lr = initial_lr * gamma ** (number of milestones <= epoch)``."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        return base_lr * self.gamma ** epoch


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``; ``lr_lambda`` is one function or a list
    with one per parameter group. (Its functions are not part of ``state_dict``.)"""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(self.lr_lambdas) != groups:
            raise TVMiniError(f"LambdaLR: {len(self.lr_lambdas)} lr_lambdas for {groups} parameter groups")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        return base_lr * self.lr_lambdas[group](epoch)

    def state_dict(self):
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}


class LinearLR(LRScheduler):
    """The rate's factor goes linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then stays (a warm-up)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise TVMiniError(f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], got "
                              f"{start_factor} and {end_factor}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        done = min(epoch, self.total_iters) / self.total_iters if self.total_iters else 1.0
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class ConstantLR(LRScheduler):
    """``lr = initial_lr * factor`` for the first ``total_iters`` epochs, then ``initial_lr``."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise TVMiniError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch, group=0):
        return base_lr * (self.factor if epoch < self.total_iters else 1.0)


class ReduceLROnPlateau(_SchedulerState):
    """Multiply every group's rate by ``factor`` when ``step(metric)`` has not improved
    on the best value for more than ``patience`` calls (PyTorch's rule: improvement by
    ``threshold`` relative or absolute, ``cooldown`` calls of rest after a cut, rates
    never below ``min_lr`` and changes smaller than ``eps`` skipped)."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise TVMiniError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode 'rel' or "
                              f"'abs', got {mode!r} and {threshold_mode!r}")
        if factor >= 1.0:
            raise TVMiniError(f"ReduceLROnPlateau: factor must be below 1, got {factor}")
        groups = len(optimizer.param_groups)
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(self.min_lrs) != groups:
            raise TVMiniError(f"ReduceLROnPlateau: {len(self.min_lrs)} min_lr values for {groups} parameter groups")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown, self.eps = threshold, threshold_mode, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _improves(self, value):
        relative = 1 - self.threshold if self.mode == "min" else 1 + self.threshold
        scale = relative if self.threshold_mode == "rel" else 1
        shift = 0 if self.threshold_mode == "rel" else (-self.threshold if self.mode == "min" else self.threshold)
        bound = self.best * scale + shift
        return value < bound if self.mode == "min" else value > bound

    def step(self, metrics):
        """Record this epoch's ``metrics`` (a number) and cut the rates if it is time."""
        value = float(metrics)
        self.last_epoch += 1
        if self._improves(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, floor)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch: the rate rises from ``max_lr /
    div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps``, then falls
    to ``initial / final_div_factor`` (cosine or linear); with ``cycle_momentum`` the
    momentum (SGD's ``momentum``, Adam's first beta) moves the opposite way between
    ``max_momentum`` and ``base_momentum``. ``three_phase``: up, down to the initial rate,
    then down to the final one. PyTorch's values; momentum is a run-time scalar of the
    update kernels too, so cycling it rebuilds nothing."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if total_steps is None:
            if not epochs or not steps_per_epoch:
                raise TVMiniError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps <= 0 or not 0 <= pct_start <= 1 or anneal_strategy not in ("cos", "linear"):
            raise TVMiniError(f"OneCycleLR: needs total_steps > 0, pct_start in [0, 1] and anneal_strategy 'cos' or "
                              f"'linear', got {total_steps}, {pct_start}, {anneal_strategy!r}")
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        self.total_steps, self.anneal_strategy, self.cycle_momentum = total_steps, anneal_strategy, cycle_momentum
        self.use_beta1 = "betas" in groups[0]
        if cycle_momentum and not self.use_beta1 and "momentum" not in groups[0]:
            raise TVMiniError("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas")
        up = float(pct_start * total_steps) - 1
        self.phases = ([(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                         "max_momentum"),
                        (total_steps - 1.0, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
                       if three_phase else
                       [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                        (total_steps - 1.0, "max_lr", "min_lr", "base_momentum", "max_momentum")])
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"], group["min_lr"] = top, top / div_factor / final_div_factor
                if cycle_momentum:
                    group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
                    self._set_momentum(group, max_momentum)
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value,) + tuple(group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, group, step, names):
        """The value at ``step`` of the lr (``names`` 0) or momentum (2) keys of the phase
        ``step`` falls in (the last one past its end)."""
        start_step = 0.0
        for end_step, *keys in self.phases:
            if step <= end_step or end_step == self.phases[-1][0]:
                break
            start_step = end_step
        pct = (step - start_step) / (end_step - start_step) if end_step != start_step else 1.0
        return self._anneal(group[keys[names]], group[keys[names + 1]], pct)

    def lr_at(self, base_lr, epoch, group=0):
        if epoch > self.total_steps:
            raise TVMiniError(f"OneCycleLR: stepped {epoch} times, more than total_steps={self.total_steps}")
        group = self.optimizer.param_groups[group]
        if self.cycle_momentum:
            self._set_momentum(group, self._at(group, epoch, 2))
        return self._at(group, epoch, 0)
