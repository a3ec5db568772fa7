"""``tm.build(..., target="cuda")``: lower, cut into kernels, print CUDA C, compile, wrap.

The returned ``Module`` validates its arguments like a CPU kernel (they must be
NDArrays on ``tm.cuda(0)``) and then launches the kernels in order through
``runtime.cuda_driver``. The CUDA C is compiled to PTX at build time when a compiler
exists (``cuda_compile``: nvcc or NVRTC), so errors surface at build; with neither, the
build still gives the CUDA C (``get_source``) and the first call says what is missing.
"""
import time

from .. import debug
from ..errors import BuildError
from ..lower import lower
from ..runtime import disk_cache
from ..runtime.module import Module
from ..tir import expr as E
from ..tir.analysis import count_flops
from . import cuda
from .cuda_compile import DEFAULT_ARCH, compile_ptx, compile_ptx_cached, ptx_compiler


def _py(e):
    """Python source computing integer expression ``e`` from a dict ``v`` of variable values."""
    if isinstance(e, E.Const):
        return repr(int(e.value))
    if isinstance(e, E.Var):
        return f"v[{e.name!r}]"
    if isinstance(e, E.Cast):
        return _py(e.value)
    ops = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.FloorDiv: "//", E.FloorMod: "%"}
    if type(e) in ops:
        return f"({_py(e.a)} {ops[type(e)]} {_py(e.b)})"
    if isinstance(e, (E.Min, E.Max)):
        return f"{'min' if isinstance(e, E.Min) else 'max'}({_py(e.a)}, {_py(e.b)})"
    raise BuildError(f"launch extent {e} cannot be computed on the host")


def _host_function(e):
    return eval(f"lambda v: {_py(e)}")   # noqa: S307 -- source built above from IR nodes only


class KernelLaunch:
    """What the launcher needs for one kernel: name, grid/block functions, argument slots."""

    def __init__(self, kernel, slot_of):
        self.name = kernel.name
        self.grid = [_host_function(kernel.extents.get(f"blockIdx.{a}", E.Const(1, "int32"))) for a in "xyz"]
        self.block = tuple(kernel.extents[f"threadIdx.{a}"].value if f"threadIdx.{a}" in kernel.extents else 1
                           for a in "xyz")
        self.slots = [slot_of[b] for b in kernel.buffers] + [slot_of[v] for v in kernel.scalars]


def build_cuda(sch, args, name, arch=None, inplace=None):
    """Build ``sch`` for CUDA (see the module docstring); returns a ``Module``."""
    from ..runtime import cuda_driver as cuda_runtime
    from . import _arg_spec, _inplace_specs, _written_buffers
    start = time.perf_counter()
    inplace = dict(inplace or {})
    func = lower(sch, args, name=name, inplace=inplace.items())
    kernels, temporaries = cuda.split_kernels(func, sch)
    source = cuda.module_source([cuda.CudaPrinter(k, func.may_alias).source() for k in kernels])
    arch = arch or cuda_runtime.device_arch() or DEFAULT_ARCH
    ptx, cache = compile_ptx_cached(source, arch, name) if ptx_compiler() is not None else (None, debug.MISS)

    written = _written_buffers(func)
    extents = [v for v in func.scalar_params if not any(v is a for a in func.signature)]
    scalars = [a for a in func.signature if isinstance(a, E.Var)]
    # native argument order, as the Module passes it: buffer pointers, extents, scalars
    slot_of = {}
    for b in func.params:
        slot_of[b] = len(slot_of)
    for v in extents + scalars:
        slot_of[v] = len(slot_of)
    for t in temporaries:
        slot_of[t] = len(slot_of)
    slot_types = ["ptr"] * len(func.params) + [v.dtype for v in extents + scalars] + ["ptr"] * len(temporaries)
    launches = [KernelLaunch(k, slot_of) for k in kernels]
    temp_sizes = [(_host_function(_size(t)), t.dtype) for t in temporaries]

    def get_ptx():
        """The PTX, compiled at build or (no compiler then) now, which says what is missing."""
        return ptx or compile_ptx(source, arch, name)

    launcher = cuda_runtime.Launcher(name, source, get_ptx, launches, len(func.params), slot_types,
                                     [v.name for v in extents], temp_sizes)
    sources = {"cuda": source, "tir": str(func), "ptx": get_ptx}
    aliases = _inplace_specs(func, args, inplace)
    module = Module(name, "cuda", [_arg_spec(a, written, aliases) for a in func.signature], [v.name for v in extents],
                    launcher, sources, keepalive=None)
    module.flops = count_flops(func)
    module.build_seconds = time.perf_counter() - start
    debug.kernel_built(module, disk_cache.make_key(source, arch), cache, func)
    return module


def _size(buf):
    out = E.Const(1, "int64")
    for x in buf.shape:
        out = out * E.Cast("int64", x) if x.dtype != "int64" else out * x
    return out
