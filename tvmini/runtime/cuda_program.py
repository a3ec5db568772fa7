"""A CUDA module as plain data: its CUDA C and the plan of its launches.

``tm.build(..., target="cuda")`` lowers a schedule to a :class:`CudaProgram`
(``codegen.cuda_host``); the program is what the build caches keep on disk (the
manifest holds it as JSON) and what an exported CUDA library carries beside its PTX, so
that a launcher can be made from it without lowering or compiling anything.
"""
import dataclasses
from dataclasses import dataclass

from .module import ArgSpec, host_function


class KernelLaunch:
    """What the launcher needs for one kernel: name, grid functions, block, argument slots."""

    def __init__(self, name, grid, block, slots):
        self.name, self.block, self.slots = name, tuple(block), list(slots)
        self.grid = [host_function(g) for g in grid]


@dataclass(frozen=True)
class CudaProgram:
    """A schedule lowered for CUDA.

    ``source``: the module's CUDA C; ``tir``: the loop IR's text; ``arg_specs`` and
    ``extent_names``: the ``Module``'s arguments and symbolic extents; ``slot_types``:
    the native arguments (``n_buffers`` buffer pointers, the extents, the scalars, then
    one pointer per temporary); ``launches``: per kernel in order, (name, grid sizes x/y/z
    as Python expressions of the extents ``v``, block sizes, the slots of its arguments);
    ``temporaries``: (size in elements as such an expression, dtype) of each buffer the
    kernels pass between them; ``limits``: the ``Module``'s (``codegen.host_expr.call_limits``)."""
    source: str
    tir: str
    flops: object
    arg_specs: list
    extent_names: list
    n_buffers: int
    slot_types: list
    launches: list
    temporaries: list
    limits: list

    def as_json(self):
        return dict(dataclasses.asdict(self), arg_specs=[dataclasses.asdict(a) for a in self.arg_specs])

    @classmethod
    def from_json(cls, data):
        """The program of ``as_json``'s dict; TypeError or KeyError when it is not one."""
        return cls(**dict(data, arg_specs=[ArgSpec(**a) for a in data["arg_specs"]]))

    def kernel_launches(self):
        """A ``KernelLaunch`` per kernel, in launch order."""
        return [KernelLaunch(*launch) for launch in self.launches]

    def temporary_sizes(self):
        """(function of the extents giving the element count, dtype) per temporary."""
        return [(host_function(size), dtype) for size, dtype in self.temporaries]

    def launcher(self, name, ptx):
        """A ``cuda_driver.Launcher`` of this program; ``ptx()`` gives its PTX."""
        from .cuda_driver import Launcher
        return Launcher(name, self, ptx)
