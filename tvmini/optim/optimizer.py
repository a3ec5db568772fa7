"""Optimizer: parameter groups, per-parameter state, and the fused update call.

Each concrete optimizer (sgd.py, adam.py, ...) says which state tensors a parameter
has and which scalars its update kernel (``tvmini.topi.optim``) takes on this step. The
update runs as ONE kernel per parameter on the parameter's device, written in place over
the parameter and its states (``dispatch.run_inplace``): every tensor keeps its memory,
so a traced step (``tm.jit``) replays on the same buffers. Hyper-parameters are runtime scalar arguments,
so learning-rate schedules and bias corrections never rebuild a kernel. No history is
recorded: the update does not go through the autodiff tape at all.
"""
import abc

import numpy as np

from ..errors import DeviceError, DTypeError, ShapeError, TVMiniError
from ..graph import Tensor
from ..graph import dispatch, ops
from ..graph.dispatch import run_inplace
from ..graph.jit.ir import ReplayScalars
from ..runtime import ndarray as nd


def check_options(owner, checks):
    """Refuse each ``(what, value, valid)`` of ``checks`` that is not ``valid``, with
    PyTorch's message ("Adam: Invalid learning rate: nan"). Each test is written as
    ``low <= value`` rather than ``value < low`` so that NaN, for which every comparison
    is False, is refused too (it turned every weight into NaN on the first step)."""
    for what, value, valid in checks:
        if not valid:
            raise TVMiniError(f"{owner}: Invalid {what}: {value}")


class Optimizer(abc.ABC):
    """Base class: ``Optimizer(params, defaults)`` where ``params`` is an iterable of
    Parameters or of dicts ``{"params": [...], <hyper-parameter overrides>}``. A subclass
    implements ``state_names`` and ``kernel``; without them it cannot be instantiated."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        params = list(params)
        if not params:
            raise TVMiniError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            # a frozen parameter (requires_grad=False) is accepted, as in PyTorch: it has no
            # gradient, so step() leaves it alone until it is unfrozen
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise TVMiniError(f"{type(self).__name__}: can only optimize leaf tensors (parameters), got "
                                  f"{type(p).__name__}" + ("" if not isinstance(p, Tensor) else " computed by an op"))
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise TVMiniError(f"{type(self).__name__}: a parameter appears in more than one group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter."""
        tracer = dispatch.thread.tracer
        for group in self.param_groups:
            for p in group["params"]:
                if tracer is not None:
                    tracer.touch_grad(p, reads=False)
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = closure() if closure is not None else None
        tracer = dispatch.thread.tracer
        if tracer is not None:      # a jit replay checks replay_guard()
            tracer.saw_optimizer(self)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    # ---- the fused kernel call ------------------------------------------------------------
    def _state_for(self, p, group):
        """This parameter's state, created (step 0) on its first update; each state
        tensor the group's options need is made (``_new_state``) when missing, as
        PyTorch's lazily made state: an option turned on mid-training (SGD's momentum)
        gets its state then. Keyed by ``id(p)``: Tensor's ``==`` is elementwise, so
        tensors are not dict keys here."""
        state = self.state.get(id(p))
        if state is None:
            state = self.state[id(p)] = {"step": 0}
        for name in self.state_names(group):
            if name not in state:
                state[name] = self._new_state(p, group, state, name)
        return state

    def _new_state(self, p, group, state, name):
        """The state tensor ``name`` of ``p`` when it is made: zeros."""
        return Tensor._wrap(nd.zeros(p.shape, p.dtype, p.device))

    def _update(self, p, group):
        if not isinstance(p.grad, Tensor):
            raise DTypeError(f"{type(self).__name__}: the gradient of a parameter of shape {p.shape} is a "
                             f"{type(p.grad).__name__}, not a Tensor")
        if p.grad.shape != p.shape or p.grad.dtype != p.dtype:
            raise ShapeError(f"{type(self).__name__}: gradient {p.grad.dtype}{list(p.grad.shape)} does not match "
                             f"parameter {p.dtype}{list(p.shape)}")
        if p.grad.device != p.device:
            raise DeviceError(f"{type(self).__name__}: gradient on {p.grad.device}, parameter on {p.device}")
        state = self._state_for(p, group)
        state["step"] += 1
        names = self.state_names(group)
        kernel, scalars, attrs = self.kernel(group, state)
        grad = ops.neg(p.grad) if group.get("maximize") else p.grad     # ascend: PyTorch's maximize
        inputs = [p._data, grad._data] + [state[n]._data for n in names]
        node = run_inplace(f"{type(self).__name__.lower()}_update", kernel, inputs, [0] + list(range(2, len(inputs))),
                           scalars, (p.dtype,) * len(scalars), attrs)
        if node is not None:        # recorded by tm.jit: each replay recomputes this step's scalars
            node.scalars_at_replay = ReplayScalars(self, (group, state))

    def replay_scalars(self, keys):
        """The scalars of the updates ``keys`` ((group, state) pairs) for the step a
        ``tm.jit`` replay is about to run, one update after the other, counting that
        step. Updates of one group on the same step share their scalars (``kernel``
        reads only the step count from the state), so they are computed once."""
        values, last_group, last_step, scalars = [], None, None, ()
        for group, state in keys:
            step = state["step"] = state["step"] + 1
            if group is not last_group or step != last_step:
                scalars, last_group, last_step = self.kernel(group, state)[1], group, step
            values += scalars
        return values

    def replay_guard(self):
        """What a ``tm.jit`` replay of this optimizer's traced updates assumes beyond their
        per-step scalars: per group, its parameters, ``maximize``, its state tensors and
        its update kernel and attributes (SGD's momentum on or off and ``nesterov``,
        Adam's ``amsgrad``, ...). A replay compares it with the traced one and retraces
        when it differs (an option changed, a group added)."""
        probe = {"step": 1}        # the kernel and attributes do not depend on the step
        return tuple((tuple(map(id, g["params"])), bool(g.get("maximize")), tuple(self.state_names(g)),
                      *self.kernel(g, probe)[::2]) for g in self.param_groups)

    def state_names(self, group):
        """Names of the per-parameter state tensors for ``group`` (kernel order)."""

    @abc.abstractmethod
    def kernel(self, group, state):
        """(te definition, scalar values, attrs) of this step's update for one parameter:
        a function of the group's hyper-parameters and ``state["step"]`` alone (a jit
        replay computes the scalars once for all the group's parameters on one step)."""

    # ---- state dicts ----------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {name: tensor or number}}, "param_groups": [...]}`` with
        parameters replaced by their index (as PyTorch). Tensors are snapshots (copies): the
        update kernels overwrite the state in place, so a view would change under the caller."""
        groups, state, index = [], {}, 0
        for group in self.param_groups:
            entry = {k: v for k, v in group.items() if k != "params"}
            entry["params"] = []
            for p in group["params"]:
                entry["params"].append(index)
                saved = self.state.get(id(p))
                if saved is not None:
                    state[index] = {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in saved.items()}
                index += 1
            groups.append(entry)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by :meth:`state_dict` (same parameter
        layout). Everything is written *in place*: the group dicts, each parameter's state
        dict (its step counter included) and its state tensors (a state tensor is created
        only where none of the parameter's shape, dtype and device exists yet). A step
        compiled by ``tm.jit`` holds those very objects (the state arrays, and the
        (group, state) pairs its per-step scalars are computed from), so it continues
        from the loaded state, as the eager step does. A parameter without saved state
        starts again from step 0 with zeroed state, as a fresh optimizer's would."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise TVMiniError(f"{type(self).__name__}.load_state_dict: the saved parameter groups do not match "
                              "this optimizer's")
        params = {}
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = v
            params.update(zip(saved["params"], own["params"]))
        loaded = {id(params[int(key)]): (params[int(key)], saved) for key, saved in state_dict["state"].items()}
        for key, state in self.state.items():
            if key not in loaded:
                self._reset_state(state)
        for key, (p, saved) in loaded.items():
            self._load_state(p, self.state.setdefault(key, {}), saved)

    def _load_state(self, p, state, saved):
        """Write ``saved`` (one parameter's state from a state dict) into ``state`` in place
        (a number it does not hold is dropped)."""
        for name in [k for k, v in state.items() if not isinstance(v, Tensor) and k not in saved]:
            del state[name]
        for name, value in saved.items():
            if isinstance(value, (Tensor, np.ndarray)) and value.shape == () and p.shape != ():
                value = value.item()         # PyTorch keeps numbers ('step', ASGD's 'eta') as 0-d tensors
            if not isinstance(value, (Tensor, np.ndarray)):
                state[name] = int(value) if name == "step" else value
                continue
            array = value.numpy() if isinstance(value, Tensor) else value
            if tuple(array.shape) != p.shape:
                raise ShapeError(f"{type(self).__name__}.load_state_dict: state {name!r} has shape "
                                 f"{tuple(array.shape)} but its parameter has {p.shape}")
            array = np.ascontiguousarray(array, dtype=p.dtype)
            current = state.get(name)
            if isinstance(current, Tensor) and (current.shape, current.dtype, current.device) == (
                    p.shape, p.dtype, p.device):
                current._data.copyfrom(array)
            else:
                state[name] = Tensor._wrap(nd.array(array, device=p.device))

    @staticmethod
    def _reset_state(state):
        """A parameter's state back to a fresh optimizer's (step 0, zeros, no other
        numbers), in place."""
        for name, value in list(state.items()):
            if isinstance(value, Tensor):
                value.zero_()
            elif name == "step":
                state[name] = 0
            else:
                del state[name]

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
