"""A traced step on a CUDA device: its launches queued from a prepared list.

On a GPU the kernels of a step run asynchronously, so what a step costs the host is
the Python between launches. Eagerly that is the whole graph layer per op (the
autograd tape, dispatch, argument checks, allocating every output); a
:class:`DeviceStep` replay is the :class:`~.step.Step` bookkeeping and then, per call,
a prepared argument list — the arena's temporaries, states and constants as fixed
device addresses, the few passed arrays and per-replay scalars written into their
slots — handed straight to the kernel's launcher (``runtime.cuda_driver.Launcher``,
past ``Module``'s checks, which the trace already passed with these very shapes), and
``cuMemcpyDtoD`` for copies. The passes are those of the CPU's steps but ``lanes``
(per-core slices of a batch), which only applies to CPU kernels.
"""
from ...errors import BuildError
from ...runtime.cuda_driver import driver
from .ir import PASSED, TEMP, VIEW
from .step import Step, replay_scalar


def _copy(nbytes):
    """The launcher of a copy of ``nbytes`` bytes: ``run(dst, src)``."""
    def run(dst, src):
        driver().dtod(dst, src, nbytes)
    return run


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

        self._calls = []
        for node in program.calls():
            if node.op == "copy":
                run = _copy(node.inputs[0].nbytes)
                buffers = [node.outputs[0], node.inputs[0]]
            else:
                if node.module.var_names:
                    raise BuildError(f"tm.jit: kernel {node.module.name} has symbolic extents; graph kernels "
                                     f"have constant shapes")
                run = node.module._cfunc
                buffers = node.inputs + node.outputs
            args, passed_at, scalars_at = [], [], []
            for pos, value in enumerate(buffers):
                k, at = where(value)
                args.append(at)
                if k is not None:
                    passed_at.append((pos, k, at))
            for value, dtype in zip(node.scalars, node.scalar_dtypes):
                if node.scalars_at_replay is not None:
                    scalars_at.append((len(args), value, dtype))
                    args.append(0)
                else:
                    args.append(value)
            self._calls.append((run, args, tuple(passed_at), tuple(scalars_at)))

    def _run(self, arrays):
        pointers = [a._ptr for a in arrays]
        fslots = self.fslots
        for run, args, passed_at, scalars_at in self._calls:
            for pos, k, offset in passed_at:
                args[pos] = pointers[k] + offset
            for pos, slot, dtype in scalars_at:
                args[pos] = replay_scalar(fslots[slot], dtype)
            run(*args)
