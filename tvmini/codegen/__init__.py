"""codegen: lowered loop IR -> native code; ``build`` is ``tm.build``."""
import ctypes
import dataclasses
import functools
import time
from dataclasses import dataclass

from .. import debug
from ..errors import BuildError, ScheduleError
from .._version import __version__
from ..lower import lower
from ..te.operation import check_thread_extents
from ..runtime import disk_cache
from ..runtime.export import object_exporter
from ..runtime.module import ArgSpec, Module, entry_symbol
from ..tir import passes
from ..tir.analysis import count_flops
from ..tir.expr import Const, Var
from ..tir.functor import walk
from ..tir.stmt import BufferStore
from . import manifest
from .host_expr import call_limits

_CTYPES = {"int32": ctypes.c_int32, "int64": ctypes.c_int64, "float32": ctypes.c_float, "float64": ctypes.c_double}
_TARGETS = {"llvm": "llvm", "cpu": "llvm"}
_LLVM_OPTIONS = {"-fast-math"}          # same as build(..., fastmath=True)


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
    """(target kind, its options): ``"llvm -fast-math"`` is ``("llvm", {"-fast-math"})``.
    TVM's dict form ``{"kind": "llvm"}`` (or "cuda") is taken too, without other keys:
    the llvm target is always the host CPU, and tvmini has no target attributes."""
    if isinstance(target, dict):
        extra = sorted(map(str, set(target) - {"kind"}))
        if extra or not isinstance(target.get("kind"), str):
            raise BuildError(f"target {target!r}: a dict target takes only 'kind' ('llvm' or 'cuda')"
                             + (f", not {', '.join(map(repr, extra))}" if extra else ""))
        target = target["kind"]
    if not isinstance(target, str):
        raise BuildError(f"target {target!r} is a {type(target).__name__}; use 'llvm' (the host CPU) or 'cuda'")
    words = target.split()
    kind, options = (words[0] if words else target), set(words[1:])
    check_thread_extents(sch)
    if kind == "cuda":
        return "cuda", options
    if kind not in _TARGETS:
        raise BuildError(f"unknown target {target!r}; use 'llvm' (the host CPU) or 'cuda'"
                         + ("; tvmini makes machine code through LLVM, not C source" if kind == "c" else ""))
    unknown = sorted(options - _LLVM_OPTIONS)
    if unknown:
        raise BuildError(f"target {target!r}: unknown option {unknown[0]!r}; the llvm target (always the host "
                         f"CPU) takes {', '.join(sorted(_LLVM_OPTIONS))}")
    for stage in sch.stages:
        for axis, thread in stage.bindings.items():
            if thread.thread_tag == "vthread":       # a loop of the one CPU thread
                continue
            raise ScheduleError(f"stage {stage.name}: axis {axis.name} is bound to {thread.thread_tag}, "
                                f"but target {target!r} is a CPU; bind needs target 'cuda'")
    return _TARGETS[kind], options


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
            entry = _loaded_entry(cached, ir_text)
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


def _loaded_entry(object_code, ir_text):
    """The ``_compile`` entry of object code from the disk cache. The engine runs the
    code as it is; the optimized module it came from is rebuilt from ``ir_text`` on
    demand for get_source ("ll", "asm"), so the sources show what runs."""
    from . import llvm_target
    engine = llvm_target.load_object(object_code, ir_text)
    optimized = functools.lru_cache(maxsize=None)(lambda: llvm_target.compile_ir(ir_text))
    return (engine, None, lambda: str(optimized()), lambda: object_code, lambda: llvm_target.assembly(optimized()))


def _inplace_specs(func, args, inplace):
    """{output buffer: input argument name} for the ``inplace`` {output: input} tensors."""
    position = {id(a): k for k, a in enumerate(args)}
    pairs = {}
    for out, src in inplace.items():
        if id(out) not in position or id(src) not in position:
            raise BuildError(f"in-place pair {out.name} <- {src.name}: both must be among the arguments")
        pairs[func.signature[position[id(out)]]] = func.signature[position[id(src)]].name
    return pairs


def build(sch, args, target="llvm", name="main", inplace=None, fastmath=False, target_host=None):
    """Lower ``sch`` and compile it for ``target``; returns a callable ``Module``.

    ``inplace`` ({output tensor: input placeholder}, optional) lets a call pass one buffer
    for both, e.g. an optimizer step that overwrites its parameter; :mod:`tvmini.lower.inplace`
    checks that sharing the buffer cannot change the result.

    ``fastmath=True`` (or target ``"llvm -fast-math"``) lets LLVM reassociate float
    arithmetic, so it can vectorize a reduction loop (several partial sums): faster, but
    sums are rounded in another order than the schedule's (see ``llvm.FAST_FLOAT_FLAGS``).

    Building an equal schedule again in a process costs a walk over the schedule (the
    memo keyed by ``schedule_key``: no lowering, no LLVM); a program built before by any
    process is loaded from the on-disk cache (``runtime.disk_cache``): found by the same
    fingerprint through the build's manifest (:func:`_load_manifest`: no lowering, no
    LLVM IR), else by its LLVM IR after lowering. The module's
    ``flops`` is counted from the loop IR (``tir.analysis.count_flops``; None when it
    depends on run-time extents). ``target_host`` is TVM's: the host is always the CPU
    Python runs on, so only None and "llvm" are taken.
    """
    if target_host not in (None, "llvm") and target_host != {"kind": "llvm"}:
        raise BuildError(f"target_host {target_host!r}: the host is the CPU Python runs on ('llvm')")
    target, options = _check_target(sch, target)
    fastmath = bool(fastmath) or "-fast-math" in options
    if target == "cuda":
        if fastmath:
            raise BuildError(f"kernel {name}: fastmath is implemented for the llvm target only")
        from .cuda_host import build_cuda
        return build_cuda(sch, args, name, inplace=inplace)
    start = time.perf_counter()
    inplace = dict(inplace or {})
    memo_key = _memo_key(sch, args, name, inplace, fastmath)
    built = _built.get(memo_key) if memo_key is not None else None
    if built is None or _compiled.get(built.cache_key) is not built.entry:
        built = _load_manifest(memo_key, name) if memo_key is not None else None
        if built is None:
            built, ir_text = _lower_and_compile(sch, args, name, inplace, fastmath)
            if memo_key is not None:
                _store_manifest(memo_key, built, ir_text)
        if memo_key is not None:
            _built[memo_key] = built
        cache = built.cache
    else:
        cache = debug.MEMORY_HIT
    module = Module(name, "llvm", built.arg_specs, built.extents, built.cfunc, built.sources,
                    keepalive=built.entry[:2], exporter=object_exporter(built.entry[3]), limits=built.limits)
    module.flops = built.flops
    module.build_seconds = time.perf_counter() - start
    debug.kernel_built(module, built.cache_key, cache, built.sources["tir"])
    return module


@dataclass(frozen=True, slots=True)
class _Built:
    """What a build of one schedule produced, kept to serve equal schedules again.

    ``entry``/``cache_key``/``cache``: the ``_compile`` entry, its key and which cache
    served it; the rest is what a ``Module`` is made of (lazy sources are computed once
    for every module sharing them; "tir" is the loop IR's text)."""
    cache_key: str
    entry: tuple
    cache: str
    cfunc: object
    pointers: int               # the native function's buffer arguments, then scalars of:
    scalar_dtypes: list
    arg_specs: list
    extents: list
    sources: dict
    flops: object
    limits: list


# schedule_key + build options -> _Built. A hit is valid only while ``_compiled`` still holds
# the entry the build used (forgetting compiled code forgets these too).
_built = {}


def _memo_key(sch, args, name, inplace, fastmath):
    """The memo key of a build, or None when the schedule cannot be fingerprinted.

    Besides the schedule, everything else the generated code depends on: the function
    name, the float flags, the team size of parallel loops (read at build time; serial
    builds have none) and the versions (constant in a process; listed so the key says
    what it covers).
    """
    from . import llvm_target
    from .parallel import building_serially, num_threads
    from .schedule_key import schedule_key
    fingerprint = schedule_key(sch, args, inplace.items())
    if fingerprint is None:
        return None
    return (fingerprint, name, fastmath, num_threads(), building_serially(), __version__,
            llvm_target.target_description())


def _lower_and_compile(sch, args, name, inplace, fastmath):
    """Lower, generate LLVM IR and compile it (or find it in the caches); returns
    (the build, its LLVM IR text)."""
    from . import llvm
    func = passes.unroll_loops(lower(sch, args, name=name, inplace=inplace.items()))
    ir_text = str(llvm.emit_module([func], name=name, fastmath=fastmath))
    entry, key, cache = _compile(ir_text, name)
    written = _written_buffers(func)
    aliases = _inplace_specs(func, args, inplace)
    built = _made(name, key, entry, cache, len(func.params), [v.dtype for v in func.scalar_params],
                  [_arg_spec(a, written, aliases) for a in func.signature],
                  [v.name for v in func.scalar_params if not any(v is a for a in func.signature)],
                  str(func), count_flops(func), call_limits(func))
    return built, ir_text


def _made(name, key, entry, cache, n_pointers, scalar_dtypes, arg_specs, extents, tir, flops, limits):
    """The ``_Built`` of function ``name`` in ``entry``: ``n_pointers`` buffer arguments
    followed by scalars of ``scalar_dtypes``. BuildError when ``entry``'s code has no
    such function (it would be called at address 0)."""
    engine, _, optimized_ir, _, assembly = entry
    address = engine.get_function_address(entry_symbol(name))
    if not address:
        raise BuildError(f"kernel {name!r}: the compiled code has no function {entry_symbol(name)!r}")
    prototype = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_pointers), *[_CTYPES[d] for d in scalar_dtypes])
    cfunc = prototype(address)
    return _Built(cache_key=key, entry=entry, cache=cache, cfunc=cfunc, pointers=n_pointers,
                  scalar_dtypes=list(scalar_dtypes), arg_specs=arg_specs, extents=extents,
                  sources={"ll": _once(optimized_ir), "asm": _once(assembly), "tir": tir}, flops=flops,
                  limits=limits)


def _store_manifest(memo_key, built, ir_text):
    """Record ``built`` on disk (see :mod:`.manifest`)."""
    manifest.store(memo_key, {"object": built.cache_key, "ir": ir_text, "tir": built.sources["tir"],
                              "flops": built.flops, "pointers": built.pointers,
                              "scalar_dtypes": built.scalar_dtypes, "extents": built.extents,
                              "limits": built.limits,
                              "arg_specs": [dataclasses.asdict(spec) for spec in built.arg_specs]})


def _load_manifest(memo_key, name):
    """The build of function ``name`` from its manifest and object code on disk, or None
    (no manifest, or it or its object entry is missing or unreadable: build anew). No
    lowering, no LLVM IR generation or parsing."""
    m = manifest.load(memo_key)
    if m is None:
        return None
    key = m["object"]
    entry = _compiled.get(key)
    if entry is None:
        object_code = disk_cache.load(key)
        if object_code is None:
            return None
        try:
            entry = _compiled[key] = _loaded_entry(object_code, m["ir"])
        except RuntimeError:
            return None
    try:
        return _made(name, key, entry, debug.DISK_HIT, m["pointers"], m["scalar_dtypes"],
                     [ArgSpec(**spec) for spec in m["arg_specs"]], m["extents"], m["tir"], m["flops"], m["limits"])
    except BuildError:
        return None


def _once(source):
    """A lazy source (a callable) made to compute once; text is returned as is."""
    return functools.cache(source) if callable(source) else source
