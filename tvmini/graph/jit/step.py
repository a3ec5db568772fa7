"""What every compiled step does at a replay, whatever runs its kernels.

After the passes and memory planning, a step's arrays are of three sorts: those passed
per call (the function's tensor arguments, gradients carried in from before the step,
and fresh output arrays), temporaries at fixed offsets of one arena on the step's
device, and states and constants where they already are. :class:`Step` holds that
plan and runs a replay up to the kernels: it computes the per-replay scalars (an
optimizer's learning rate and bias corrections, dropout seeds), gathers the passed arrays and makes the fresh outputs; ``_run`` then runs the calls —
one native function on the CPU (``native.NativeStep``), launches queued from Python
on a CUDA device (``device.DeviceStep``). While kernel calls are observed
(``tm.profiler``, ``TVMINI_DEBUG`` tracing) both run the same calls one by one through
their Modules instead (:meth:`Step._run_observed`), so every kernel of the step is seen
and timed.
"""
import numpy as np

from ...runtime import ndarray as nd
from ...runtime.module import calls_observed
from .ir import GRAD_IN, INPUT, OUTPUT, PASSED, TEMP, VIEW


def replay_scalar(value, dtype):
    """Slot value ``value`` (a float64) as a kernel's scalar argument of ``dtype``."""
    return int(value) if dtype.startswith(("int", "uint")) else float(value)


class Step:
    """The replay plan of ``program`` (after the passes and memory planning) on ``device``.
    A subclass defines ``_run(arrays)``, which runs every call of the step given the
    passed arrays in ``self.passed`` order."""

    def __init__(self, program, device):
        self.program, self.device = program, device
        self.arena = nd.empty((max(program.arena_bytes, 1),), "uint8", device)
        used = {v.id: v for v in program.live_values()}
        self.passed = [v for v in used.values() if v.kind in PASSED]
        # Fresh outputs: the gradients a step leaves (replaced together by the next step)
        # share one allocation; what the function returns gets its own, so keeping
        # returned losses does not keep a step's gradients alive.
        returned = {v.id for v in program.outputs}
        outputs = [v for v in self.passed if v.kind == OUTPUT]
        groups = [[v for v in outputs if v.id not in returned], [v for v in outputs if v.id in returned]]
        self._blocks = [nd.ArrayBlock([(v.shape, nd.normalize_dtype(v.dtype)) for v in group], device)
                        for group in groups]
        self._fresh_ids = [v.id for v in groups[0] + groups[1]]
        fresh_index = {vid: k for k, vid in enumerate(self._fresh_ids)}
        # where each passed pointer comes from at a replay: (kind, call argument / leaf / fresh array)
        self._plan = [(v.kind, v.binding if v.kind in (INPUT, GRAD_IN) else fresh_index[v.id]) for v in self.passed]
        # the sources of the per-replay scalars in slot order: (source, keys), consecutive
        # nodes of one source together, asked once per replay; those nodes' scalars
        # become slot numbers (shared by the lanes' copies of one traced call)
        self._replays = []
        n_float, slots_of = 0, {}
        for node in program.calls():
            if node.scalars_at_replay is None:
                continue
            if id(node.scalars_at_replay) in slots_of:
                node.scalars = slots_of[id(node.scalars_at_replay)]
            else:
                node.scalars = slots_of[id(node.scalars_at_replay)] = tuple(
                    range(n_float, n_float + len(node.scalar_dtypes)))
                n_float += len(node.scalar_dtypes)
                source, key = node.scalars_at_replay
                if self._replays and self._replays[-1][0] is source:
                    self._replays[-1][1].append(key)
                else:
                    self._replays.append((source, [key]))
        self._n_dynamic, self._last_values = n_float, None
        self.fslots = np.zeros(max(n_float, 1), np.float64)
        self.kernel_calls = sum(node.op != "copy" for node in program.calls())

    def fresh_index(self, value_id):
        """Where the fresh output array of value ``value_id`` is in a replay's result."""
        return self._fresh_ids.index(value_id)

    def __call__(self, args, grad_of, release=None, grad_holders=0):
        """Run the step. ``args``: the call's tensor arguments by position; ``grad_of(k)``:
        the current ``.grad`` array of leaf k; ``release()``, called once those are read
        and before the outputs are made, drops the caller's references to the arrays
        the step replaces (so that the last step's memory can be reused: see
        ``ArrayBlock``); ``grad_holders``: references to each of the last replay's
        gradient arrays the caller still holds and accounts for (its gradient tensors,
        kept in place when their arrays are reused). Returns the fresh output
        NDArrays, in :meth:`fresh_index` order."""
        if self._replays:      # the dynamic nodes' slots are consecutive, in this order
            values = []
            for source, keys in self._replays:
                values += source.replay_scalars(keys)
            if values != self._last_values:       # (they seldom change: skip numpy's conversion)
                self.fslots[:self._n_dynamic] = self._last_values = values
        arrays = [args[at]._data if kind == INPUT else grad_of(at) if kind == GRAD_IN else at
                  for kind, at in self._plan]
        if release is not None:
            release()
        grads, returned = self._blocks
        fresh = grads.take(grad_holders) + returned.take()
        arrays = [fresh[a] if type(a) is int else a for a in arrays]
        if calls_observed():
            self._run_observed({v.id: a for v, a in zip(self.passed, arrays)})
        else:
            self._run(arrays)
        return fresh

    def array_of(self, value, passed):
        """The NDArray of ``value`` at this replay (``passed``: {value id: array})."""
        if value.id in passed:
            return passed[value.id]
        if value.kind == VIEW:
            base, offset = value.view_of
            return nd.view(self.array_of(base, passed), offset, value.shape, value.dtype)
        return nd.view(self.arena, value.offset, value.shape, value.dtype) if value.kind == TEMP else value.array

    def _run_observed(self, passed):
        """The step kernel by kernel through its Modules — the same kernels, order,
        memory and scalars as :meth:`_run`, lanes one after the other — so that call
        observers (``tm.profiler``, debug tracing) see and time every kernel of the step."""
        for node in self.program.calls():
            arrays = [self.array_of(v, passed) for v in node.inputs + node.outputs]
            if node.op == "copy":
                arrays[1].copyfrom(arrays[0])
                continue
            scalars = node.scalars if node.scalars_at_replay is None else \
                [replay_scalar(self.fslots[k], dtype) for k, dtype in zip(node.scalars, node.scalar_dtypes)]
            n_in = len(node.inputs)
            node.module(*arrays[:n_in], *scalars, *arrays[n_in:])
