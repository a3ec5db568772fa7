"""More of PyTorch's learning-rate schedulers: ``MultiplicativeLR``, ``PolynomialLR``,
``CyclicLR`` and the combinators ``SequentialLR`` (one scheduler after another at
milestone epochs) and ``ChainedScheduler`` (several stepped together, their factors
multiplying). Same values as PyTorch's, step for step; re-exported by
``tvmini.optim.lr_scheduler``."""
import bisect
import math

from ..errors import TVMiniError
from .lr_scheduler import LRScheduler, ReduceLROnPlateau, _SchedulerState


class MultiplicativeLR(LRScheduler):
    """Each epoch, the rate times ``lr_lambda(epoch)`` (one function, or a list with one
    per parameter group). (Its functions are not part of ``state_dict``.)"""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(self.lr_lambdas) != groups:
            raise TVMiniError(f"MultiplicativeLR: expected {groups} lr_lambdas, but got {len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:             # the constructor's step (a restart by SequentialLR multiplies)
            return self._current_lrs()
        return [lr * fn(self.last_epoch) for lr, fn in zip(self._current_lrs(), self.lr_lambdas)]

    def state_dict(self):
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}


class PolynomialLR(LRScheduler):
    """The rate decays as ``initial_lr * (1 - epoch / total_iters) ** power`` to 0 at
    ``total_iters``, then stays (computed step by step from the current rate, as
    PyTorch's)."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        if total_iters <= 0:
            raise TVMiniError(f"PolynomialLR: total_iters must be positive, got {total_iters}")
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        epoch, total = self.last_epoch, self.total_iters
        if self._is_initial or epoch > total:
            return self._current_lrs()
        factor = ((1.0 - epoch / total) / (1.0 - (epoch - 1) / total)) ** self.power
        return [lr * factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (1.0 - done) ** self.power for base in self.base_lrs]


def _per_group(owner, name, optimizer, value):
    """``value`` for every parameter group: a list/tuple with one per group, or one value."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise TVMiniError(f"{owner}: expected {groups} values for {name}, got {len(value)}")
        return list(value)
    return [value] * groups


class CyclicLR(LRScheduler):
    """The cyclical learning rate (Smith): the rate goes from ``base_lr`` up to
    ``max_lr`` over ``step_size_up`` steps and back over ``step_size_down``, the
    amplitude scaled per cycle by ``mode`` ("triangular": 1, "triangular2": halved each
    cycle, "exp_range": ``gamma ** step``) or by ``scale_fn`` (of the cycle or of the
    step, ``scale_mode``). With ``cycle_momentum`` the momentum (SGD's ``momentum``,
    Adam's first beta) moves the other way between ``max_momentum`` and
    ``base_momentum``. Stepped once per batch; the rates start at ``base_lr``."""

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        base_lrs = _per_group("CyclicLR", "base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", "max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        if up <= 0 or down < 0:
            raise TVMiniError(f"CyclicLR: step_size_up must be positive and step_size_down non-negative, got "
                              f"{step_size_up} and {step_size_down}")
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise TVMiniError(f"CyclicLR: mode is invalid and scale_fn is None (mode={mode!r})")
        if scale_mode not in ("cycle", "iterations"):
            raise TVMiniError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise TVMiniError("CyclicLR: optimizer must support momentum or beta1 with `cycle_momentum` option "
                                  "enabled")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group("CyclicLR", "base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("CyclicLR", "max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x):
        """The amplitude's scale at cycle (or step) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value,) + tuple(group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        rates = [base + (top - base) * height * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, bottom, top in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                self._set_momentum(group, top - (top - bottom) * height * scale)
        return rates

    def state_dict(self):
        return {k: v for k, v in super().state_dict().items() if k != "_scale_fn_custom"}


def _check_members(owner, optimizer, schedulers):
    """PyTorch's checks of the schedulers a combinator holds."""
    if len(schedulers) < 1:
        raise TVMiniError(f"{owner} expects at least one scheduler, but got no scheduler")
    for k, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TVMiniError(f"{owner} at index {k} should have `optimizer` as its attribute")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise TVMiniError(f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires additional "
                              f"kwargs to be specified when calling `step`, but got one at index {k} in the given "
                              "schedulers sequence")
        if scheduler.optimizer is not optimizer:
            raise TVMiniError(f"{owner} expects all schedulers to belong to the same optimizer, but got scheduler "
                              f"{type(scheduler).__name__} at index {k} with another optimizer")


class _Combined(_SchedulerState):
    """State dicts of a combinator: its own numbers and each member's state dict."""

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state):
        state = dict(state)
        members = state.pop("_schedulers")
        self.__dict__.update(state)
        for scheduler, saved in zip(self._schedulers, members):
            scheduler.load_state_dict(saved)


class SequentialLR(_Combined):
    """``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted at its
    epoch 0) until ``milestones[1]``, ... (a member after the first is a plain scheduler:
    one that combines others cannot restart). The rates start over from each group's
    ``initial_lr``, the steps the members took when made are undone, and the first
    member takes its initial step again, as PyTorch's."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_members("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise TVMiniError(f"SequentialLR expects number of schedulers provided to be one more than the number of "
                              f"milestone points, but got number of schedulers {len(schedulers)} and the number of "
                              f"milestones to be equal to {len(milestones)}")
        for k, scheduler in enumerate(schedulers[1:], 1):
            if isinstance(scheduler, _Combined):    # PyTorch's fails at the milestone (no closed form to restart)
                raise TVMiniError(f"SequentialLR: the scheduler at index {k} ({type(scheduler).__name__}) cannot be "
                                  "restarted at its milestone; only the first may combine schedulers")
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.last_epoch, self.optimizer = last_epoch + 1, optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo(self)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._step_count, first._is_initial = 0, True
        try:
            first.step()
        finally:
            first._is_initial = False
        self._last_lr = first.get_last_lr()

    def step(self):
        """One epoch of the member whose turn it is (restarted on its milestone)."""
        self.last_epoch += 1
        k = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[k]
        if k > 0 and self._milestones[k - 1] == self.last_epoch:
            scheduler.step(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


def _undo(scheduler):
    """Take back the step each (nested) member took when it was made."""
    members = getattr(scheduler, "_schedulers", None)
    if members is not None:
        for member in members:
            _undo(member)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


class ChainedScheduler(_Combined):
    """Step every scheduler of ``schedulers`` (on one optimizer) at once, in order: each
    scales the rate the one before it set, so their factors multiply."""

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        optimizer = optimizer if optimizer is not None else (schedulers[0].optimizer if schedulers else None)
        _check_members("ChainedScheduler", optimizer, schedulers)
        self._schedulers, self.optimizer = schedulers, optimizer
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
