"""A CUDA device emulated on the CPU: tvmini's generated CUDA C compiled for the host.

``TVMINI_CUDA_BINDING=emulator`` makes ``tm.cuda(0)`` this device: every kernel's CUDA C
is compiled as C++ by g++ with a small shim — a block's threads are OS threads
(``threadIdx``/``blockIdx`` thread-local), ``__shared__`` arrays are function statics
(blocks run one after another, so each block sees one copy), ``__syncthreads()`` is a
barrier of the block's threads, ``__half`` is ``_Float16`` — and "device memory" is host
memory. It exists to check what CUDA schedules compute without a GPU (the tests run the
GPU tests' bodies on it); it is slow (a thread per CUDA thread), shows nothing about
speed, and cannot expose races that only a GPU's scheduling would. Needs g++ (C++20).
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np

from ..errors import DeviceError
from .cuda_bindings import pack_params

_SHIM = r"""
#include <math.h>
#include <string.h>
#include <barrier>
#include <functional>
#include <thread>
#include <vector>
struct tvmini_dim3 { unsigned x, y, z; };
static thread_local tvmini_dim3 threadIdx, blockIdx;
static tvmini_dim3 blockDim, gridDim;
static std::barrier<>* tvmini_block_barrier;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
typedef _Float16 __half;
static inline void __syncthreads() { tvmini_block_barrier->arrive_and_wait(); }
static inline float __half2float(__half h) { return (float)h; }
static inline __half __float2half(float f) { return (__half)f; }
static inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
static inline double __longlong_as_double(long long x) { double d; memcpy(&d, &x, 8); return d; }
template <class A, class B> static inline auto min(A a, B b) { return a < b ? a : b; }
template <class A, class B> static inline auto max(A a, B b) { return a < b ? b : a; }

static void tvmini_run_grid(const unsigned* grid, const unsigned* block, const std::function<void()>& body) {
    // One OS thread per thread of a block; together they run the blocks one after
    // another, meeting at the barrier between two blocks (so the statics standing for
    // shared memory serve one block at a time). __syncthreads() uses the same barrier.
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    unsigned threads = block[0] * block[1] * block[2];
    std::barrier<> barrier(threads);
    tvmini_block_barrier = &barrier;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([=, &body, &barrier] {
            threadIdx = {t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
            for (unsigned z = 0; z < grid[2]; ++z)
                for (unsigned y = 0; y < grid[1]; ++y)
                    for (unsigned x = 0; x < grid[0]; ++x) {
                        blockIdx = {x, y, z};
                        body();
                        barrier.arrive_and_wait();
                    }
        });
    for (auto& thread : pool) thread.join();
}
"""

_KERNEL = re.compile(r'extern "C" __global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(([^)]*)\)')


def _launchers(source):
    """C++ entry points ``tvmini_emulate_<kernel>(grid, block, params)`` for every kernel
    of ``source``: each reads its arguments from a ``void **`` as cuLaunchKernel does."""
    out = []
    for name, params in _KERNEL.findall(source):
        types = [p.rsplit(None, 1)[0].replace("__restrict__", "").strip() for p in params.split(",") if p.strip()]
        args = ", ".join(f"*({t}*)params[{i}]" for i, t in enumerate(types))
        out.append(f'extern "C" void tvmini_emulate_{name}(const unsigned* grid, const unsigned* block, void** params)'
                   f" {{ tvmini_run_grid(grid, block, [=] {{ {name}({args}); }}); }}")
    return "\n".join(out)


_LIBRARIES = {}          # source digest -> loaded library
_BUILD_DIR = []          # the folder of this process's builds, made on first use


def load(source):
    """The emulated module of CUDA C ``source`` (a ctypes library), built once per source."""
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    if key not in _LIBRARIES:
        body = source.replace("#include <cuda_fp16.h>\n", "")
        if not _BUILD_DIR:
            _BUILD_DIR.append(tempfile.mkdtemp(prefix="tvmini-cuda-emulator-"))
        path = os.path.join(_BUILD_DIR[0], key)
        with open(path + ".cpp", "w") as f:
            f.write(_SHIM + body + "\n" + _launchers(body) + "\n")
        result = subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-w", "-o",
                                 path + ".so", path + ".cpp"], capture_output=True, text=True)
        if result.returncode:
            raise DeviceError(f"the CUDA emulator could not compile {path}.cpp:\n{result.stderr[-3000:]}")
        _LIBRARIES[key] = ctypes.CDLL(path + ".so")
    return _LIBRARIES[key]


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
