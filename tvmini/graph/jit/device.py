"""A traced step on a CUDA device: its launches queued from a prepared list.

On a GPU the kernels of a step run asynchronously, so what a step costs the host is
the Python between launches. Eagerly that is the whole graph layer per op (the
autograd tape, dispatch, argument checks, allocating every output); a
:class:`DeviceStep` replay is the :class:`~.step.Step` bookkeeping and then, per call,
a prepared argument list — the arena's temporaries, states and constants as fixed
device addresses, the few passed arrays and per-replay scalars written into their
slots — handed straight to the driver's launch (the kernels' grids and functions
prepared once by their ``runtime.cuda_driver.Launcher``; ``Module``'s checks passed in
the trace with these very shapes), and ``cuMemcpyDtoD`` for copies. The passes are
those of the CPU's steps but ``lanes`` (per-core slices of a batch), which only applies
to CPU kernels.

Measured without a GPU, through a driver binding whose launches do nothing (so only
the host's part): OVERFIT's training step 0.52 ms eagerly, 0.07-0.08 ms replayed (22
launches); LeNet's 0.70 and 0.09-0.13 ms (37 launches).
"""
from ...errors import BuildError
from ...runtime.cuda_driver import driver
from .ir import PASSED, TEMP, VIEW
from .step import Step, replay_scalar


class DeviceStep(Step):
    """One traced step of ``program`` whose kernels all run on CUDA ``device``."""

    def __init__(self, program, device):
        super().__init__(program, device)
        position = {v.id: k for k, v in enumerate(self.passed)}

        def where(value):
            """(passed array index or None, byte offset / fixed address) of ``value``."""
            if value.kind in PASSED:
                return position[value.id], 0
            if value.kind == VIEW:
                base, offset = value.view_of
                k, at = where(base)
                return k, at + offset
            return None, self.arena._ptr + value.offset if value.kind == TEMP else value.array._ptr

        # per call: (Launcher or None for a copy, native arguments with the fixed ones
        # filled in, (position, passed array, offset), (position, scalar slot, dtype))
        self._calls = []
        for node in program.calls():
            if node.op == "copy":
                launcher, buffers = None, [node.outputs[0], node.inputs[0]]
            else:
                if node.module.var_names:
                    raise BuildError(f"tm.jit: kernel {node.module.name} has symbolic extents; graph kernels "
                                     f"have constant shapes")
                launcher, buffers = node.module._cfunc, node.inputs + node.outputs
            args, passed_at, scalars_at = [], [], []
            for pos, value in enumerate(buffers):
                k, at = where(value)
                args.append(at)
                if k is not None:
                    passed_at.append((pos, k, at))
            if launcher is None:
                args.append(node.inputs[0].nbytes)
            for value, dtype in zip(node.scalars, node.scalar_dtypes):
                if node.scalars_at_replay is not None:
                    scalars_at.append((len(args), value, dtype))
                args.append(0 if node.scalars_at_replay is not None else value)
            self._calls.append((launcher, args, passed_at, scalars_at))
        self._launches, self._driver = None, None

    def _prepare(self):
        """The step's launches through the binding in use: per kernel launch (function,
        grid, block, argument values with the fixed ones filled in, types, what to write
        into the values at a replay: (position, passed array, offset) and (position,
        scalar slot, dtype)); a copy's function is None and its values (dst, src, bytes)."""
        launches = []
        for launcher, args, passed_at, scalars_at in self._calls:
            if launcher is None:
                launches.append((None, None, None, list(args), None, tuple(passed_at), ()))
                continue
            temporaries, kernels = launcher.prepare({})
            full = args + temporaries
            for function, grid, block, slots, types in kernels:
                at = {node_pos: pos for pos, node_pos in enumerate(slots)}
                launches.append((function, grid, block, [full[i] for i in slots], types,
                                 tuple((at[p], k, o) for p, k, o in passed_at if p in at),
                                 tuple((at[p], s, d) for p, s, d in scalars_at if p in at)))
        return launches

    def _run(self, arrays):
        drv = driver()
        if drv is not self._driver:
            self._launches, self._driver = self._prepare(), drv
        pointers, fslots, launch = [a._ptr for a in arrays], self.fslots, drv.launch
        for function, grid, block, values, types, passed_at, scalars_at in self._launches:
            for pos, k, offset in passed_at:
                values[pos] = pointers[k] + offset
            for pos, slot, dtype in scalars_at:
                values[pos] = replay_scalar(fslots[slot], dtype)
            if function is None:
                drv.dtod(*values)
            else:
                launch(function, grid, block, values, types)
