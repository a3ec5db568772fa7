"""``tm.build(..., target="cuda")``: lower, cut into kernels, print CUDA C, compile, wrap.

The returned ``Module`` validates its arguments like a CPU kernel (they must be
NDArrays on ``tm.cuda(0)``) and then launches the kernels in order through
``runtime.cuda_driver``. The CUDA C is compiled to PTX at build time when a compiler
exists (``cuda_compile``: NVRTC or nvcc), so errors surface at build; with neither, the
build still gives the CUDA C (``get_source``) and the first call says what is missing.

Builds are cached as on the CPU: an equal schedule built again in a process reuses the
launcher (loaded kernels included) through the memo keyed by ``schedule_key``; built by
an earlier process, its ``CudaProgram`` (CUDA C and launch plan) is read from the
build's manifest (:mod:`.manifest`) and its PTX from the disk cache, without lowering.
"""
import time

from .. import debug
from .._version import __version__
from ..errors import BuildError
from ..lower import lower
from ..runtime import disk_cache
from ..runtime.cuda_program import CudaProgram
from ..runtime.export import cuda_exporter
from ..runtime.module import Module
from ..tir import expr as E
from ..tir.analysis import count_flops
from . import cuda, manifest
from .cuda_compile import DEFAULT_ARCH, compile_ptx, compile_ptx_cached, ptx_compiler
from .host_expr import call_limits, element_count, py_source


def _lower_program(sch, args, name, inplace):
    """Lower ``sch`` and cut it into kernels: the ``CudaProgram``."""
    from . import _arg_spec, _inplace_specs, _written_buffers
    func = lower(sch, args, name=name, inplace=inplace.items())
    kernels, temporaries = cuda.split_kernels(func, sch)
    source = cuda.module_source([cuda.CudaPrinter(k, func.may_alias).source() for k in kernels])
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
    launches = [(k.name, [py_source(k.extents.get(f"blockIdx.{a}", E.Const(1, "int32"))) for a in "xyz"],
                 [k.extents[f"threadIdx.{a}"].value if f"threadIdx.{a}" in k.extents else 1 for a in "xyz"],
                 [slot_of[b] for b in k.buffers] + [slot_of[v] for v in k.scalars]) for k in kernels]
    aliases = _inplace_specs(func, args, inplace)
    return CudaProgram(
        source=source, tir=str(func), flops=count_flops(func),
        arg_specs=[_arg_spec(a, written, aliases) for a in func.signature], extent_names=[v.name for v in extents],
        n_buffers=len(func.params),
        slot_types=["ptr"] * len(func.params) + [v.dtype for v in extents + scalars] + ["ptr"] * len(temporaries),
        launches=launches, temporaries=[(py_source(element_count(t.shape)), t.dtype) for t in temporaries],
        limits=call_limits(func))


# memo key (schedule_key, name, architecture, version) -> (CudaProgram, Launcher)
_built = {}


def build_cuda(sch, args, name, arch=None, inplace=None):
    """Build ``sch`` for CUDA (see the module docstring); returns a ``Module``."""
    from ..runtime import cuda_driver as cuda_runtime
    from .schedule_key import schedule_key
    start = time.perf_counter()
    inplace = dict(inplace or {})
    arch = arch or cuda_runtime.device_arch() or DEFAULT_ARCH
    fingerprint = schedule_key(sch, args, inplace.items())
    program_key = None if fingerprint is None else (fingerprint, name, __version__, "cuda")
    built = _built.get((program_key, arch)) if program_key is not None else None
    if built is not None:
        (program, launcher), cache = built, debug.MEMORY_HIT
    else:
        program, cache = _stored_program(program_key), debug.DISK_HIT
        if program is None:
            program, cache = _lower_program(sch, args, name, inplace), None
            if program_key is not None:
                manifest.store(program_key, program.as_json())
        launcher, ptx_cache = _launcher(name, program, arch)
        cache = cache or ptx_cache
        if program_key is not None:
            _built[program_key, arch] = program, launcher
    module = Module(name, "cuda", program.arg_specs, program.extent_names, launcher,
                    {"cuda": program.source, "tir": program.tir, "ptx": launcher.ptx}, keepalive=None,
                    exporter=cuda_exporter(program), limits=program.limits)
    module.flops = program.flops
    module.build_seconds = time.perf_counter() - start
    debug.kernel_built(module, disk_cache.make_key(program.source, arch), cache, program.tir)
    return module


def _stored_program(program_key):
    """The ``CudaProgram`` an earlier process stored for ``program_key``, or None."""
    data = manifest.load(program_key) if program_key is not None else None
    try:
        return None if data is None else CudaProgram.from_json(data)
    except (TypeError, KeyError):
        return None


def _launcher(name, program, arch):
    """(the ``Launcher`` of ``program``, which cache served its PTX). The PTX is compiled
    now when a compiler exists; else on first use, which then says what is missing."""
    ptx, cache = compile_ptx_cached(program.source, arch, name) if ptx_compiler() is not None else (None, debug.MISS)
    return program.launcher(name, lambda: ptx or compile_ptx(program.source, arch, name)), cache
