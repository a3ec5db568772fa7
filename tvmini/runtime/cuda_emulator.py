"""A CUDA device emulated on the CPU: tvmini's generated CUDA C compiled for the host.

``TVMINI_CUDA_BINDING=emulator`` makes ``tm.cuda(0)`` this device: every kernel's CUDA C
is compiled as C++ by g++ with a small shim — ``threadIdx``/``blockIdx`` are
thread-local; a kernel with barriers runs a block's threads as OS threads (blocks one
after another) and ``__syncthreads()`` is a barrier between them, a kernel without runs
its threads one after another in the caller's thread; ``__shared__`` arrays are
function statics (one block at a time uses them), ``__half`` is ``_Float16``, and
"device memory" is host memory. It exists to check what CUDA schedules compute without a
GPU (the tests run the GPU tests' bodies on it); it is slow, shows nothing about speed,
and cannot expose races that only a GPU's scheduling would. Needs g++ (C++20).
"""
import ctypes
import functools
import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np

from ..errors import DeviceError
from . import disk_cache
from .cuda_bindings import pack_params

_SHIM = r"""
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
struct tvmini_dim3 { unsigned x, y, z; };
static thread_local tvmini_dim3 threadIdx, blockIdx;
static tvmini_dim3 blockDim, gridDim;
static pthread_barrier_t tvmini_block_barrier;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
typedef _Float16 __half;
static inline void __syncthreads() { pthread_barrier_wait(&tvmini_block_barrier); }
static inline float __half2float(__half h) { return (float)h; }
static inline __half __float2half(float f) { return (__half)f; }
static inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
static inline double __longlong_as_double(long long x) { double d; memcpy(&d, &x, 8); return d; }
template <class A, class B> static inline auto min(A a, B b) { return a < b ? a : b; }
template <class A, class B> static inline auto max(A a, B b) { return a < b ? b : a; }

struct tvmini_launch { const unsigned *grid, *block; void (*body)(void**); void** params; unsigned thread; };

static void* tvmini_run_thread(void* arg) {
    // One CUDA thread: the same thread of every block, the blocks one after another,
    // meeting the block's other threads at the barrier between two blocks (so the
    // statics standing for shared memory serve one block at a time).
    const tvmini_launch& l = *(const tvmini_launch*)arg;
    unsigned t = l.thread, bx = l.block[0], by = l.block[1];
    threadIdx = {t % bx, (t / bx) % by, t / (bx * by)};
    for (unsigned z = 0; z < l.grid[2]; ++z)
        for (unsigned y = 0; y < l.grid[1]; ++y)
            for (unsigned x = 0; x < l.grid[0]; ++x) {
                blockIdx = {x, y, z};
                l.body(l.params);
                pthread_barrier_wait(&tvmini_block_barrier);
            }
    return nullptr;
}

static void tvmini_run_grid_serially(const unsigned* grid, const unsigned* block, void (*body)(void**),
                                     void** params) {
    // A kernel without __syncthreads(): its threads never wait for each other, so the
    // calling thread runs them one after another (no OS thread per CUDA thread).
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned y = 0; y < grid[1]; ++y)
            for (unsigned x = 0; x < grid[0]; ++x)
                for (unsigned t = 0; t < block[0] * block[1] * block[2]; ++t) {
                    blockIdx = {x, y, z};
                    threadIdx = {t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
                    body(params);
                }
}

static void tvmini_run_grid(const unsigned* grid, const unsigned* block, void (*body)(void**), void** params) {
    // An OS thread per thread of a block (pthreads, not <thread>: the headers of the
    // C++ library would triple the time g++ takes for each kernel).
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    unsigned threads = block[0] * block[1] * block[2];
    pthread_barrier_init(&tvmini_block_barrier, nullptr, threads);
    tvmini_launch* launches = (tvmini_launch*)malloc(threads * sizeof(tvmini_launch));
    pthread_t* pool = (pthread_t*)malloc(threads * sizeof(pthread_t));
    for (unsigned t = 0; t < threads; ++t) {
        launches[t] = {grid, block, body, params, t};
        pthread_create(&pool[t], nullptr, tvmini_run_thread, &launches[t]);
    }
    for (unsigned t = 0; t < threads; ++t) pthread_join(pool[t], nullptr);
    pthread_barrier_destroy(&tvmini_block_barrier);
    free(pool);
    free(launches);
}
"""

_KERNEL = re.compile(r'extern "C" __global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(([^)]*)\)')


def _launchers(source):
    """C++ entry points ``tvmini_emulate_<kernel>(grid, block, params)`` for every kernel
    of ``source``: each reads its arguments from a ``void **`` as cuLaunchKernel does, and
    runs the block's threads as OS threads only if the kernel has a barrier."""
    out = []
    matches = list(_KERNEL.finditer(source))
    for k, match in enumerate(matches):
        name, params = match.groups()
        text = source[match.end():matches[k + 1].start() if k + 1 < len(matches) else len(source)]
        runner = "tvmini_run_grid" if "__syncthreads" in text else "tvmini_run_grid_serially"
        types = [p.rsplit(None, 1)[0].replace("__restrict__", "").strip() for p in params.split(",") if p.strip()]
        args = ", ".join(f"*({t}*)params[{i}]" for i, t in enumerate(types))
        out.append(f"static void tvmini_body_{name}(void** params) {{ {name}({args}); }}\n"
                   f'extern "C" void tvmini_emulate_{name}(const unsigned* grid, const unsigned* block, void** params)'
                   f" {{ {runner}(grid, block, tvmini_body_{name}, params); }}")
    return "\n".join(out)


_LIBRARIES = {}          # source digest -> loaded library
_BUILD_DIR = []          # the folder of this process's builds, made on first use


@functools.cache
def _compiler_version():
    return subprocess.run(["g++", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()


def load(source):
    """The emulated module of CUDA C ``source`` (a ctypes library), built once per source
    and kept in the disk cache (``runtime.disk_cache``) under a hash of the C++ and the
    g++ version, so a later process loads it instead of compiling it again."""
    body = source.replace("#include <cuda_fp16.h>\n", "")
    program = _SHIM + body + "\n" + _launchers(body) + "\n"
    key = disk_cache.make_key(program, _compiler_version(), "cuda-emulator")
    if key not in _LIBRARIES:
        if not _BUILD_DIR:
            _BUILD_DIR.append(tempfile.mkdtemp(prefix="tvmini-cuda-emulator-"))
        path = os.path.join(_BUILD_DIR[0], key[:20])
        cached = disk_cache.load(key, ".emulated")
        if cached is None:
            _compile(program, path)
            with open(path + ".so", "rb") as f:
                disk_cache.store(key, f.read(), ".emulated")
        else:
            with open(path + ".so", "wb") as f:
                f.write(cached)
        _LIBRARIES[key] = ctypes.CDLL(path + ".so")
    return _LIBRARIES[key]


def _compile(program, path):
    with open(path + ".cpp", "w") as f:
        f.write(program)
    result = subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-w", "-o",
                             path + ".so", path + ".cpp"], capture_output=True, text=True)
    if result.returncode:
        raise DeviceError(f"the CUDA emulator could not compile {path}.cpp:\n{result.stderr[-3000:]}")


class Emulator:
    """The driver binding of the emulated device (see the module docstring); events read
    the host clock, which is exact here since every launch runs to its end."""

    name = "emulator"

    def __init__(self):
        if shutil.which("g++") is None:
            raise DeviceError("the CUDA emulator (TVMINI_CUDA_BINDING=emulator) compiles kernels with g++, "
                              "which is not installed here")

    def compute_capability(self):
        return 8, 0

    def alloc(self, nbytes):
        buffer = np.zeros(nbytes, np.uint8)
        return buffer, buffer.ctypes.data

    def htod(self, ptr, host):
        ctypes.memmove(ptr, host.ctypes.data, host.nbytes)

    def dtoh(self, host, ptr):
        ctypes.memmove(host.ctypes.data, ptr, host.nbytes)

    def dtod(self, dst, src, nbytes):
        ctypes.memmove(dst, src, nbytes)

    def load(self, ptx, source):
        """The module of CUDA C ``source`` compiled for the host (``ptx`` is not needed)."""
        return load(source)

    def function(self, module, name):
        return getattr(module, f"tvmini_emulate_{name}")

    def launch(self, function, grid, block, values, types):
        _values, pointers = pack_params(values, types)   # alive until the kernel has run
        dims = ctypes.c_uint * 3
        function(dims(*grid), dims(*block), ctypes.c_void_p(int(pointers.ctypes.data)))

    def event(self):
        return [0.0]

    def record(self, event):
        event[0] = time.perf_counter()

    def elapsed_seconds(self, start, end):
        return end[0] - start[0]

    def synchronize(self):
        pass
