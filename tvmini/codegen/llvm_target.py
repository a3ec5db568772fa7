"""The host CPU as an LLVM target: initialisation, target machine, O3 pipeline, JIT.

Everything here is created once per process and shared by every kernel build.
"""
import ctypes
import ctypes.util
import functools
import os
import re
from pathlib import Path

import llvmlite.binding as llvm

from ..errors import TVMiniError


@functools.lru_cache(maxsize=None)
def target_machine():
    """The host's target machine for passes and assembly (shared; never given to a JIT)."""
    return new_target_machine()


#: LLVM's code model for kernels: "large", so code reaches its constants and the functions
#: it calls through 64-bit addresses. MCJIT's memory manager maps a module's code and
#: data sections separately; with the small model's 32-bit offsets between them, a
#: long-running process whose mappings have spread over more than 2 GiB fails an
#: assertion in RuntimeDyldELF (``isInt<32>(RealOffset)``) while loading a module, and
#: aborts (seen after some 1,500 kernels: the jit, autotune and training tests in one
#: process). llvmlite's own memory manager (``use_lmm``), which keeps a module's
#: sections together, asserts on MCJIT's x86-64 path ("All memory must be pre-allocated").
#: The price: calls become indirect. Measured (2-core Xeon, A/B in one process): exp over
#: 2^20 floats (a libmvec call per 16) 137 -> 156 us; tanh, GEMM, conv2d, softmax and
#: dense+relu within noise (0-2%).
CODE_MODEL = "large"


def new_target_machine():
    """A fresh host target machine (its CPU name and features, opt level 3, the
    :data:`CODE_MODEL`).

    An MCJIT engine takes ownership of the target machine it is given and destroys it
    with itself, so every engine gets its own.
    """
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=host_features().flatten(), opt=3,
                                        reloc="pic", codemodel=CODE_MODEL)


FEATURES_ENV = "TVMINI_CPU_FEATURES"


@functools.lru_cache(maxsize=None)
def host_features():
    """The host CPU's features (an llvmlite ``FeatureMap``) that kernels are built for,
    less or plus those that ``TVMINI_CPU_FEATURES`` names: comma-separated ``-name`` or
    ``+name``, a trailing ``*`` matching every feature with that prefix. So
    ``TVMINI_CPU_FEATURES='-avx512*'`` builds (and schedules: ``vector_bits`` and what
    depends on it) for AVX2 on an AVX-512 host, which is how the AVX2 paths are tested
    there."""
    features = llvm.get_host_cpu_features()
    for item in filter(None, (part.strip() for part in os.environ.get(FEATURES_ENV, "").split(","))):
        enable, name = item[0] == "+", item[1:]
        if item[0] not in "+-" or not name:
            raise TVMiniError(f"{FEATURES_ENV}: {item!r} is not +feature or -feature")
        matches = [f for f in features if f.startswith(name[:-1])] if name.endswith("*") else [name]
        for feature in matches:
            features[feature] = enable
    return features


@functools.lru_cache(maxsize=None)
def vector_bits():
    """Width in bits of the host target's widest SIMD registers (what ``vectorize`` fills)."""
    features = host_features()
    if features.get("avx512f"):
        return 512
    if features.get("avx"):
        return 256
    return 128


@functools.lru_cache(maxsize=None)
def vector_registers():
    """How many SIMD registers of ``vector_bits`` the host has: 32 with AVX-512 (zmm0-31),
    16 otherwise (ymm/xmm0-15 on x86-64). Register-blocked kernels size their
    accumulator tiles by it."""
    return 32 if vector_bits() == 512 else 16


def fast_masked_vectors():
    """Whether the host masks vector lanes in hardware and gathers natively (AVX-512's
    mask registers and gathers), so that a guarded vector loop's
    ``llvm.masked.load/store`` and a gather cost about what plain loads do; on AVX2
    masked stores are emulated (measured 10-20x slower on GEMM and conv tiles) and
    LLVM splits gathers into scalar loads."""
    return vector_bits() == 512


@functools.lru_cache(maxsize=None)
def cache_bytes(level, default):
    """Size in bytes of one core's data (or unified) cache of ``level`` (1, 2, 3), read from
    Linux's sysfs; ``default`` where it cannot be read (another OS, a container hiding it)."""
    root = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(root.glob("index*")) if root.is_dir() else ():
        try:
            if int((index / "level").read_text()) != level or (index / "type").read_text().strip() == "Instruction":
                continue
            size = (index / "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
        digits = size.rstrip("KMG")
        if digits.isdigit():
            return int(digits) * scale
    return default


def load_system_library(name):
    """Path of the system library ``lib<name>``, loaded into the process so that JIT code
    can call its functions; None when it is missing or cannot be loaded."""
    path = ctypes.util.find_library(name)
    if path is None:
        return None
    try:
        llvm.load_library_permanently(path)
    except RuntimeError:
        return None
    return path


@functools.lru_cache(maxsize=None)
def _register_libm():
    """Make libm, libmvec, libc and libgcc symbols (tanhf, _ZGVeN16v_expf, malloc, and
    __truncdfhf2, which LLVM calls for a float64 -> float16 conversion: x86 has no
    instruction for it) visible to the JIT, also where code is loaded from the disk cache
    without being generated here."""
    for name in ("m", "mvec", "c", "gcc_s"):
        load_system_library(name)


@functools.lru_cache(maxsize=None)
def runtime_has(symbol):
    """Whether the JIT can resolve ``symbol`` (a C library or libgcc function)."""
    _register_libm()
    return bool(llvm.address_of_symbol(symbol))


#: The symbol of the flag parallel launches read (``codegen.parallel.launch_on_pool``):
#: 1 in a process forked after libgomp's pool started, whose worker threads the child
#: does not have (libgomp would wait for them forever); then loops run on one thread.
AFTER_FORK = "tvmini_after_fork"
_after_fork = ctypes.c_int32(0)
_fork_flags = [_after_fork]      # this one (JIT code) and one per library loaded


def watch_fork_flag(flag):
    """Set ``flag`` (a ctypes int, an exported library's copy of the flag) in forked children too."""
    _fork_flags.append(flag)


def _forked():
    for flag in _fork_flags:
        flag.value = 1


os.register_at_fork(after_in_child=_forked)


@functools.lru_cache(maxsize=None)
def parallel_runtime():
    """Path of libgomp, loaded into the process for parallel loops; None if missing.
    Also makes JIT code find the fork flag (:data:`AFTER_FORK`)."""
    llvm.add_symbol(AFTER_FORK, ctypes.addressof(_after_fork))
    return load_system_library("gomp")


def optimize(module_ref):
    """Run LLVM's O3 pipeline (new pass manager) with loop and SLP vectorization."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(target_machine(), pto)
    pb.getModulePassManager().run(module_ref, pb)


def parse(ir_text):
    """Parse and verify LLVM IR text (with the libraries it calls loaded)."""
    _register_libm()
    parallel_runtime()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    return mod


def compile_ir(ir_text):
    """Parse, verify and optimise LLVM IR text; returns the module reference."""
    mod = parse(ir_text)
    optimize(mod)
    return mod


def jit(module_ref, notify=None):
    """An MCJIT engine holding ``module_ref``, finalized and ready to call.

    ``notify(module, object_bytes)`` is told the object code compiled (for the disk
    cache; :func:`load_object` runs such code later).
    """
    engine = llvm.create_mcjit_compiler(module_ref, new_target_machine())
    if notify is not None:
        engine.set_object_cache(notify)
    engine.finalize_object()
    return engine


_DECLARED = re.compile(r'^declare [^@]*@"?([^"(\s]+)"?\(', re.MULTILINE)


def load_object(object_code, ir_text):
    """An MCJIT engine running ``object_code`` (from ``emit_object`` or the JIT's object
    cache) compiled from ``ir_text``, ready to call: no LLVM IR is parsed or compiled
    (about 1.5 ms a kernel, against tens of milliseconds to parse its IR). The functions
    the IR declares (libm, libmvec, libgomp) must be loaded in the process: a
    RuntimeError names one that is not (linking it would crash, not fail)."""
    _register_libm()
    parallel_runtime()
    for symbol in _DECLARED.findall(ir_text):
        if not symbol.startswith("llvm.") and not llvm.address_of_symbol(symbol):
            raise RuntimeError(f"the code calls {symbol}, which no loaded library defines")
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
    engine.finalize_object()
    return engine


@functools.lru_cache(maxsize=None)
def target_description():
    """What generated code depends on besides its IR: CPU, features, LLVM binding version,
    code model (computed once: asking LLVM for the host's features costs ~0.1 ms)."""
    import llvmlite
    return (f"{llvm.get_host_cpu_name()} {host_features().flatten()} llvmlite-{llvmlite.__version__} "
            f"code-model-{CODE_MODEL}")


def emit_object(module_ref):
    """Relocatable (PIC) object code of an optimised module."""
    return target_machine().emit_object(module_ref)


def assembly(module_ref):
    return target_machine().emit_assembly(module_ref)
