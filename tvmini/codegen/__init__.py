"""codegen: lowered loop IR -> native code; ``build`` is ``tm.build``."""
import ctypes
import functools
import time

from .. import debug
from ..errors import BuildError, ScheduleError
from .._version import __version__
from ..lower import lower
from ..runtime import disk_cache
from ..runtime.module import ArgSpec, Module
from ..tir import passes
from ..tir.analysis import count_flops
from ..tir.expr import Const, Var
from ..tir.functor import walk
from ..tir.stmt import BufferStore

_CTYPES = {"int32": ctypes.c_int32, "int64": ctypes.c_int64, "float32": ctypes.c_float, "float64": ctypes.c_double}
_TARGETS = {"llvm": "llvm", "cpu": "llvm", "c": "llvm"}


def _written_buffers(func):
    written = set()
    walk(func.body, lambda n: written.add(n.buffer) if isinstance(n, BufferStore) else None)
    return written


def _arg_spec(buf, written, inplace=None):
    """The runtime's description of argument ``buf``; ``inplace`` maps an in-place output
    buffer to the name of the input it may share memory with."""
    if isinstance(buf, Var):
        return ArgSpec(buf.name, (), buf.dtype, scalar=True)
    shape = []
    for axis, extent in enumerate(buf.shape):
        if isinstance(extent, Const):
            shape.append(extent.value)
        elif isinstance(extent, Var):
            shape.append(extent.name)
        else:
            raise BuildError(f"argument {buf.name}: extent {axis} is {extent}; argument extents must be "
                             "constants or te.var symbols")
    return ArgSpec(buf.name, tuple(shape), buf.dtype, written=buf in written,
                   inplace_of=(inplace or {}).get(buf))


def _check_target(sch, target):
    kind = target.split()[0] if isinstance(target, str) else target
    if kind == "cuda":
        return "cuda"
    if kind not in _TARGETS:
        raise BuildError(f"unknown target {target!r}; use 'llvm' (the host CPU) or 'cuda'")
    for stage in sch.stages:
        for axis, thread in stage.bindings.items():
            raise ScheduleError(f"stage {stage.name}: axis {axis.name} is bound to {thread.thread_tag}, "
                                f"but target {target!r} is a CPU; bind needs target 'cuda'")
    return _TARGETS[kind]


# cache key -> (engine, module reference, optimized LLVM IR or a callable making it, object code maker,
#               assembly maker)
_compiled = {}


def _compile(ir_text, name):
    """JIT-compile LLVM IR: once per process, and from the on-disk cache when it has it.

    Returns (cache entry, cache key, which cache served it: a ``debug`` constant)."""
    from . import llvm_target
    key = disk_cache.make_key(ir_text, llvm_target.target_description(), __version__)
    entry = _compiled.get(key)
    if entry is not None:
        return entry, key, debug.MEMORY_HIT
    cached = disk_cache.load(key)
    try:
        if cached is not None:
            # The engine runs the cached object code; its module is only parsed. The
            # optimized module the code came from is rebuilt on demand for get_source
            # ("ll", "asm"), so the sources show what runs, not the unoptimized input.
            module_ref = llvm_target.parse(ir_text)
            engine = llvm_target.jit(module_ref, getbuffer=lambda _: cached)
            optimized = functools.lru_cache(maxsize=None)(lambda: llvm_target.compile_ir(ir_text))
            entry = (engine, module_ref, lambda: str(optimized()), lambda: cached,
                     lambda: llvm_target.assembly(optimized()))
        else:
            module_ref = llvm_target.compile_ir(ir_text)
            optimized_ir = str(module_ref)        # before the JIT's code generation rewrites the module
            engine = llvm_target.jit(module_ref, notify=lambda _, obj: disk_cache.store(key, obj))
            entry = (engine, module_ref, optimized_ir, lambda: llvm_target.emit_object(module_ref),
                     lambda: llvm_target.assembly(module_ref))
    except RuntimeError as err:
        raise BuildError(f"LLVM rejected kernel {name}: {err}") from None
    _compiled[key] = entry
    return entry, key, debug.MISS if cached is None else debug.DISK_HIT


def _inplace_specs(func, args, inplace):
    """{output buffer: input argument name} for the ``inplace`` {output: input} tensors."""
    position = {id(a): k for k, a in enumerate(args)}
    pairs = {}
    for out, src in inplace.items():
        if id(out) not in position or id(src) not in position:
            raise BuildError(f"in-place pair {out.name} <- {src.name}: both must be among the arguments")
        pairs[func.signature[position[id(out)]]] = func.signature[position[id(src)]].name
    return pairs


def build(sch, args, target="llvm", name="main", inplace=None):
    """Lower ``sch`` and compile it for ``target``; returns a callable ``Module``.

    ``inplace`` ({output tensor: input placeholder}, optional) lets a call pass one buffer
    for both, e.g. an optimizer step that overwrites its parameter; :mod:`tvmini.lower.inplace`
    checks that sharing the buffer cannot change the result.

    Building the same program twice in a process compiles it once; a program built
    before by any process is loaded from the on-disk cache (``runtime.disk_cache``).
    The module's ``flops`` is counted from the loop IR on every build, cached or not
    (``tir.analysis.count_flops``; None when it depends on run-time extents).
    """
    from . import llvm
    target = _check_target(sch, target)
    if target == "cuda":
        from .cuda_host import build_cuda
        return build_cuda(sch, args, name, inplace=inplace)
    start = time.perf_counter()
    inplace = dict(inplace or {})
    func = passes.unroll_loops(lower(sch, args, name=name, inplace=inplace.items()))
    entry, key, cache = _compile(str(llvm.emit_module([func], name=name)), name)
    engine, module_ref, optimized_ir, object_code, assembly = entry
    address = engine.get_function_address(name)
    prototype = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * len(func.params)),
                                 *[_CTYPES[v.dtype] for v in func.scalar_params])
    sources = {"ll": optimized_ir, "asm": assembly, "tir": str(func)}
    written = _written_buffers(func)
    extents = [v.name for v in func.scalar_params if not any(v is a for a in func.signature)]
    aliases = _inplace_specs(func, args, inplace)
    module = Module(name, "llvm", [_arg_spec(a, written, aliases) for a in func.signature], extents,
                    prototype(address), sources, keepalive=(engine, module_ref), object_code=object_code)
    module.flops = count_flops(func)
    module.build_seconds = time.perf_counter() - start
    debug.kernel_built(module, key, cache, func)
    return module
