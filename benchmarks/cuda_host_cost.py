"""The host's part of a CUDA training step, measured without a GPU.

On a GPU, kernels run while the host queues the next ones; for small models (OVERFIT,
MNIST) the step time is then the Python between launches. This script measures exactly
that: it runs ``train_step.py``'s models on ``tm.cuda(0)`` through a driver binding
whose memory is host memory and whose launches and copies do nothing, and prints the
median ms per training step eagerly and compiled by ``tm.jit`` (``DeviceStep``), with
the kernel calls per jit step and the host microseconds each costs. Kernels are built for
CUDA as usual (CUDA C, and PTX when nvcc or NVRTC is there); nothing is computed.

Run: python benchmarks/cuda_host_cost.py [--steps 200] [model names...]
"""
import argparse
import os
import statistics
import time

import numpy as np

import tvmini as tm
from tvmini.runtime import cuda_driver

from train_step import CASES, make_step


class HostOnly:
    """A driver binding that allocates host memory and runs nothing."""

    name = "host-only"

    def compute_capability(self):
        return 8, 0

    def alloc(self, nbytes):
        buffer = np.empty(nbytes, np.uint8)
        return buffer, buffer.ctypes.data

    def htod(self, ptr, host):
        pass

    def dtoh(self, host, ptr):
        pass

    def dtod(self, dst, src, nbytes):
        pass

    def load(self, ptx, source):
        return None

    def function(self, module, name):
        return name

    def launch(self, function, grid, block, values, types):
        pass

    def event(self):
        return None

    def record(self, event):
        pass

    def elapsed_seconds(self, start, end):
        return 0.0

    def synchronize(self):
        pass


def median_ms(step, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("models", nargs="*", default=list(CASES), metavar="MODEL",
                        help="models to run, each name quoted (default: all): " + "; ".join(CASES))
    args = parser.parse_args()
    unknown = [name for name in args.models if name not in CASES]
    if unknown:
        parser.error(f"unknown model {', '.join(map(repr, unknown))}; the models are: " + "; ".join(CASES))
    cuda_driver.BINDINGS[HostOnly.name] = HostOnly
    os.environ[cuda_driver.BINDING_VARIABLE] = HostOnly.name
    cuda_driver.driver.cache_clear()
    print(f"{'model':28s} {'eager ms':>9s} {'jit ms':>8s} {'calls':>6s} {'us/call':>8s}")
    for name in args.models:
        case = CASES[name]
        eager, jitted = make_step(tm, case, device="cuda"), make_step(tm, case, jit=True, device="cuda")
        for step in (eager, jitted):          # builds the kernels and traces the jit step
            for _ in range(3):
                step()
        eager_ms, jit_ms = median_ms(eager, args.steps), median_ms(jitted, args.steps)
        calls = jitted.compiled._last.step.kernel_calls
        print(f"{name:28s} {eager_ms:9.3f} {jit_ms:8.3f} {calls:6d} {1e3 * jit_ms / calls:8.1f}", flush=True)


if __name__ == "__main__":
    main()
