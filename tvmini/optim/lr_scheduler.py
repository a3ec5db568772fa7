"""Learning-rate schedulers with PyTorch's names, arguments and values.

A scheduler rewrites ``group["lr"]`` of its optimizer; the update kernels take the
learning rate as a runtime scalar, so a new rate never rebuilds anything (and a
``tm.jit`` step replays with the new rate). As PyTorch's, each ``step()`` computes the
new rate from the group's *current* rate (the recursive ``get_lr`` forms): schedulers
stepped on one optimizer chain (a LinearLR warm-up with a CosineAnnealingLR: their
factors multiply) and a manual change of ``group["lr"]`` carries on. ``LambdaLR`` and
``OneCycleLR`` compute from the initial rates, as PyTorch's; ``step(epoch)``
(PyTorch's deprecated form) jumps to ``epoch`` through the closed form where there is
one. :class:`ReduceLROnPlateau` follows a metric instead.
"""
import abc
import bisect
import collections
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
    """Base: remembers each group's ``initial_lr`` (``base_lrs``) and sets every
    group's ``lr`` to ``get_lr()`` on each step, which every subclass implements."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise TVMiniError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs 'initial_lr' "
                              "in every parameter group")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch, self._step_count = last_epoch, 0
        self._is_initial = True          # the constructor's step: a resumed schedule does not move on
        try:
            self.step()
        finally:
            self._is_initial = False

    @abc.abstractmethod
    def get_lr(self):
        """Each group's rate at ``self.last_epoch`` (just advanced), as PyTorch's
        ``get_lr``: most schedulers from the group's current ``lr``."""

    def step(self, epoch=None):
        """Advance one epoch and set every group's learning rate; ``epoch`` (PyTorch's
        deprecated form) sets the epoch instead, through the closed form if the
        scheduler has one (``_get_closed_form_lr``)."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            rates = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            rates = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, rates):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _current_lrs(self):
        return [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """The rate times ``gamma`` every ``step_size`` epochs
    (``initial_lr * gamma ** (epoch // step_size)`` alone)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise TVMiniError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing toward ``eta_min`` over ``T_max`` epochs (then back up, as
    PyTorch's recursive form; ``eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch /
    T_max)) / 2`` alone)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise TVMiniError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        epoch, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:
            return self._get_closed_form_lr()
        if (epoch - 1 - T) % (2 * T) == 0:      # past the trough: climb back by the first step's amount
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._current_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * epoch / T)) / (1 + math.cos(math.pi * (epoch - 1) / T))
        return [ratio * (lr - low) + low for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): cosine annealing from each group's initial rate to
    ``eta_min`` over ``T_i`` epochs, then a restart at the initial rate, with
    ``T_0, T_0*T_mult, T_0*T_mult², ...`` epochs per cycle: the rate is
    ``eta_min + (initial - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2`` with ``T_cur``
    the epochs since the last restart. ``step(epoch)`` takes fractional epochs
    (``epoch + batch / batches``) to anneal within an epoch, as PyTorch's."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise TVMiniError(f"CosineAnnealingWarmRestarts: T_0 must be a positive integer, got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise TVMiniError(f"CosineAnnealingWarmRestarts: T_mult must be an integer >= 1, got {T_mult!r}")
        self.T_0, self.T_i, self.T_mult, self.eta_min, self.T_cur = T_0, T_0, T_mult, eta_min, last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch=None):
        """One more epoch (restarting when the cycle is over), or the (fractional) ``epoch``."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
            epoch = self.last_epoch + 1
        elif epoch < 0:
            raise TVMiniError(f"CosineAnnealingWarmRestarts: epoch must be non-negative, got {epoch}")
        else:
            self.T_cur, self.T_i = self._position(epoch)
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _position(self, epoch):
        """(epochs since the last restart, length of the current cycle) at ``epoch``: the
        cycles before it sum to ``T_0 * (T_mult^n - 1) / (T_mult - 1)`` epochs."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_0
        n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        return epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1), self.T_0 * self.T_mult ** n


class MultiStepLR(LRScheduler):
    """The rate times ``gamma`` at each milestone epoch (a milestone given twice: twice)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = collections.Counter(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        times = self.milestones.get(self.last_epoch, 0)
        return [lr * self.gamma ** times for lr in self._current_lrs()] if times else self._current_lrs()

    def _get_closed_form_lr(self):
        passed = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """The rate times ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (from the initial rate, as PyTorch's);
    ``lr_lambda`` is one function or a list with one per parameter group. (Its
    functions are not part of ``state_dict``.)"""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(self.lr_lambdas) != groups:
            raise TVMiniError(f"LambdaLR: {len(self.lr_lambdas)} lr_lambdas for {groups} parameter groups")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

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

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        slope = self.end_factor - self.start_factor       # this epoch's factor over the last one's
        ratio = 1.0 + slope / (self.total_iters * self.start_factor + (self.last_epoch - 1) * slope)
        return [lr * ratio for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * done) for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """The rate times ``factor`` for the first ``total_iters`` epochs, then divided by it
    again."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 < factor <= 1:
            raise TVMiniError(f"ConstantLR: factor must be in (0, 1] (the rate is divided by it after "
                              f"total_iters epochs), got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr / self.factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base * (self.factor if self.last_epoch < self.total_iters else 1.0) for base in self.base_lrs]


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

    def get_lr(self):
        if self.last_epoch > self.total_steps:
            raise TVMiniError(f"OneCycleLR: stepped {self.last_epoch} times, more than "
                              f"total_steps={self.total_steps}")
        rates = []
        for group in self.optimizer.param_groups:
            if self.cycle_momentum:
                self._set_momentum(group, self._at(group, self.last_epoch, 2))
            rates.append(self._at(group, self.last_epoch, 0))
        return rates


# more schedulers (optim/lr_scheduler_more.py), which build on the classes above
from .lr_scheduler_more import (ChainedScheduler, CyclicLR, MultiplicativeLR, PolynomialLR,  # noqa: E402,F401
                                SequentialLR)
