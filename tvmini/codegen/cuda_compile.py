"""CUDA C -> PTX: NVRTC (NVIDIA's runtime compiler, through cuda-bindings and the
``nvidia-cuda-nvrtc`` wheel or the toolkit's library) where it loads, else nvcc. NVRTC
compiles in this process, about ten times faster than an nvcc process per kernel (a
small elementwise kernel: ~25 against ~250 ms here; a training example builds over a
hundred kernels on its first run); ``TVMINI_CUDA_COMPILER=nvcc`` (or ``nvrtc``) picks one.
Each result is kept in memory for the process and on disk (``runtime.disk_cache``) keyed
by the source, the architecture and the compiler's version.
"""
import functools
import os
import shutil
import subprocess
import tempfile

from .. import debug
from ..errors import BuildError
from ..runtime import disk_cache

DEFAULT_ARCH = "sm_80"


def nvcc_path():
    """nvcc from $CUDA_HOME/$CUDA_ROOT, PATH or /usr/local/cuda; None if there is none."""
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_ROOT"), "/usr/local/cuda"):
        if root and os.path.isfile(os.path.join(root, "bin", "nvcc")):
            return os.path.join(root, "bin", "nvcc")
    return shutil.which("nvcc")


@functools.lru_cache(maxsize=None)
def _nvcc_version(nvcc):
    return subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]


@functools.lru_cache(maxsize=None)
def nvrtc_version():
    """"nvrtc X.Y" when cuda-bindings' NVRTC and its library load here, else None."""
    try:
        from cuda.bindings import nvrtc
        status, major, minor = nvrtc.nvrtcVersion()
    except Exception:       # ImportError, or no libnvrtc (cuda.pathfinder's own error types)
        return None
    return f"nvrtc {major}.{minor}" if status == nvrtc.nvrtcResult.NVRTC_SUCCESS else None


COMPILER_VARIABLE = "TVMINI_CUDA_COMPILER"


def _chosen_compiler():
    """("nvrtc" or "nvcc", its version) of the compiler to use, or None (none here, or not
    the one ``TVMINI_CUDA_COMPILER`` names)."""
    choice = os.environ.get(COMPILER_VARIABLE, "").strip().lower()
    if choice not in ("", "nvcc", "nvrtc"):
        raise BuildError(f"{COMPILER_VARIABLE}={choice!r}: use nvcc or nvrtc (or leave it unset: NVRTC where it "
                         "loads, else nvcc)")
    if choice in ("", "nvrtc") and nvrtc_version() is not None:
        return "nvrtc", nvrtc_version()
    nvcc = nvcc_path() if choice in ("", "nvcc") else None
    return ("nvcc", _nvcc_version(nvcc)) if nvcc else None


def ptx_compiler():
    """The version ("nvrtc 13.0", or nvcc's release line) of the compiler
    :func:`compile_ptx` uses here; None if there is none."""
    chosen = _chosen_compiler()
    return chosen and chosen[1]


_ptx = {}   # (source, arch) -> PTX: building the same kernel twice in a process compiles once


def compile_ptx(source, arch=DEFAULT_ARCH, name="kernel"):
    """PTX text of CUDA C ``source`` for ``arch`` (e.g. "sm_90"), from the caches when there."""
    return compile_ptx_cached(source, arch, name)[0]


def compile_ptx_cached(source, arch, name):
    """(PTX, which cache served it: a ``debug`` constant)."""
    if (source, arch) in _ptx:
        return _ptx[source, arch], debug.MEMORY_HIT
    chosen = _chosen_compiler()
    if chosen is None:
        raise BuildError("compiling CUDA C needs NVRTC (pip install cuda-bindings nvidia-cuda-nvrtc) or nvcc (the "
                         "CUDA toolkit; none on PATH, $CUDA_HOME or /usr/local/cuda)"
                         + (f" ({COMPILER_VARIABLE} is set to {os.environ[COMPILER_VARIABLE]})"
                            if os.environ.get(COMPILER_VARIABLE) else ""))
    kind, version = chosen
    key = disk_cache.make_key(source, arch, version, "ptx")
    cached = disk_cache.load(key)
    if cached is not None:
        _ptx[source, arch] = cached.decode()
        return _ptx[source, arch], debug.DISK_HIT
    ptx = _nvrtc_ptx(source, arch, name) if kind == "nvrtc" else _nvcc_ptx(nvcc_path(), source, arch, name)
    disk_cache.store(key, ptx.encode())
    _ptx[source, arch] = ptx
    return ptx, debug.MISS


def _nvcc_ptx(nvcc, source, arch, name):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, f"{name}.cu"), os.path.join(tmp, f"{name}.ptx")
        with open(src, "w") as f:
            f.write(source)
        result = subprocess.run([nvcc, "-ptx", f"-arch={arch}", "-O3", "-o", out, src], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"nvcc rejected kernel {name}:\n{result.stderr.strip()}\n--- source ---\n{source}")
        with open(out) as f:
            return f.read()


def _cuda_headers():
    """The CUDA toolkit's include folder (``cuda_fp16.h`` for float16 kernels) as
    cuda-bindings' pathfinder finds it (toolkit or ``nvidia-cuda-runtime`` wheel), or None."""
    try:
        from cuda.pathfinder import find_nvidia_header_directory
        return find_nvidia_header_directory("cudart")
    except Exception:       # an older cuda-bindings without it, or no headers anywhere
        return None


def _nvrtc_ptx(source, arch, name):
    from cuda.bindings import nvrtc

    def check(result, call):
        status, *values = result
        if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise BuildError(f"NVRTC {call} failed for kernel {name}: {status}")
        return values[0] if values else None

    program = check(nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], []), "nvrtcCreateProgram")
    options = [f"--gpu-architecture={arch.replace('sm_', 'compute_')}".encode()]
    headers = _cuda_headers()
    if headers:
        options.append(f"--include-path={headers}".encode())
    status, = nvrtc.nvrtcCompileProgram(program, len(options), options)
    if status != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        log = bytearray(check(nvrtc.nvrtcGetProgramLogSize(program), "nvrtcGetProgramLogSize"))
        check(nvrtc.nvrtcGetProgramLog(program, log), "nvrtcGetProgramLog")
        raise BuildError(f"NVRTC rejected kernel {name}:\n{log.decode(errors='replace').strip(chr(0)).strip()}"
                         f"\n--- source ---\n{source}")
    ptx = bytearray(check(nvrtc.nvrtcGetPTXSize(program), "nvrtcGetPTXSize"))
    check(nvrtc.nvrtcGetPTX(program, ptx), "nvrtcGetPTX")
    check(nvrtc.nvrtcDestroyProgram(program), "nvrtcDestroyProgram")
    return ptx.rstrip(b"\0").decode()
