"""CUDA benchmarks (issue 4): fp32 GEMM against cuBLAS, a fused elementwise kernel against
the device's copy bandwidth, on the GPU tvmini finds (device 0).

* GEMM n^3 (``--size``, default 4096): the register-blocked schedule of
  examples/gemm_cuda.py (128 x 128 outputs per block, 8 x 8 per thread) and topi's default
  CUDA schedule, each checked against cuBLAS, next to ``torch.matmul`` (fp32, TF32 off);
  ms, GFLOP/s and the ratio to cuBLAS.
* ``relu(a * b + c)`` on 2^``--log2n`` floats with topi's default CUDA schedule: GB/s
  (16 bytes per element: three read, one written) against a device-to-device copy of
  one array (8 bytes per element) through the driver, and torch's fused ``relu(a * b + c)``.

Every time is the fastest of ``--repeat`` batches of ``--number`` calls between CUDA
events (``time_evaluator`` on CUDA). Without a CUDA device it says so and exits 0.
Run: python benchmarks/cuda_kernels.py [--size 4096] [--log2n 26] [--number 10] [--repeat 5]
"""
import argparse
import os
import sys

import numpy as np

import tvmini as tm
from tvmini import te, topi
from tvmini.runtime.cuda_driver import CudaStopwatch, device_arch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import gemm_cuda  # noqa: E402
from gemm_cuda import cuda_torch, torch_seconds  # noqa: E402


def tvmini_seconds(f, args, number, repeat):
    return f.time_evaluator(number=number, repeat=repeat)(*args).min


def copy_seconds(dst, src, number, repeat):
    """Device-to-device copies of ``src`` into ``dst`` (the driver's memcpy)."""
    watch = CudaStopwatch()
    dst.copyfrom(src)
    best = float("inf")
    for _ in range(repeat):
        watch.start()
        for _ in range(number):
            dst.copyfrom(src)
        best = min(best, watch.stop() / number)
    return best


def gemm_kernels(n):
    """{label: CUDA module} of the GEMM schedules compared with cuBLAS."""
    A, B = te.placeholder((n, n), name="A"), te.placeholder((n, n), name="B")
    C = topi.matmul(A, B)
    return {"gemm_cuda register8": gemm_cuda.build("register8", n),
            "topi default": tm.build(topi.default_schedule(C, "cuda"), [A, B, C], target="cuda",
                                     name="bench_topi_gemm")}


def fused_kernel(n):
    """relu(a * b + c) on n floats with topi's default CUDA schedule."""
    A, B, C = (te.placeholder((n,), name=x) for x in "ABC")
    D = topi.relu(topi.add(topi.multiply(A, B), C))
    return tm.build(topi.default_schedule(D, "cuda"), [A, B, C, D], target="cuda", name="bench_fused_relu")


def gemm(n, number, repeat, torch):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype="float32"), rng.standard_normal((n, n), dtype="float32")
    dev = tm.cuda(0)
    ga, gb, gc = tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), tm.nd.empty((n, n), device=dev)
    flops = 2.0 * n ** 3
    rows = []
    if torch:
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        want = (ta @ tb).cpu().numpy()
        rows.append(("torch.matmul (cuBLAS)", torch_seconds(torch, lambda: ta @ tb, number, repeat)))
    else:
        want = a @ b
    for label, f in gemm_kernels(n).items():
        f(ga, gb, gc)
        np.testing.assert_allclose(gc.numpy(), want, rtol=1e-3, atol=1e-2 * np.sqrt(n))
        rows.append((f"tvmini {label}", tvmini_seconds(f, (ga, gb, gc), number, repeat)))
    base = rows[0][1] if torch else None
    print(f"\nfp32 GEMM {n}^3 on {device_arch()}")
    print(f"{'':<28} {'ms':>9} {'GFLOP/s':>9} {'x cuBLAS':>9}")
    for label, seconds in rows:
        ratio = f"{base / seconds:9.2f}" if base else ""
        print(f"{label:<28} {seconds * 1e3:9.3f} {flops / seconds * 1e-9:9.0f} {ratio}")


def elementwise(log2n, number, repeat, torch):
    n = 1 << log2n
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(n, dtype="float32") for _ in range(3))
    dev = tm.cuda(0)
    ga, gb, gc, gd = (tm.nd.array(x, device=dev) for x in (a, b, c, c))
    f = fused_kernel(n)
    f(ga, gb, gc, gd)
    np.testing.assert_allclose(gd.numpy(), np.maximum(a * b + c, 0), rtol=1e-6, atol=1e-6)
    rows = [("tvmini relu(a*b+c)", 16 * n, tvmini_seconds(f, (ga, gb, gc, gd), number, repeat)),
            ("driver copy (memcpy DtoD)", 8 * n, copy_seconds(gd, ga, number, repeat))]
    if torch:
        ta, tb, tc = (torch.from_numpy(x).cuda() for x in (a, b, c))
        rows.append(("torch relu(a*b+c)", 16 * n, torch_seconds(torch, lambda: torch.relu(ta * tb + tc), number,
                                                                 repeat)))
    copy_rate = rows[1][1] / rows[1][2]
    print(f"\nrelu(a*b+c) on 2^{log2n} float32")
    print(f"{'':<28} {'ms':>9} {'GB/s':>9} {'x copy':>9}")
    for label, nbytes, seconds in rows:
        rate = nbytes / seconds
        print(f"{label:<28} {seconds * 1e3:9.3f} {rate * 1e-9:9.0f} {rate / copy_rate:9.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--log2n", type=int, default=26)
    parser.add_argument("--number", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if device_arch() is None:
        print("no CUDA device here (or no pycuda / cuda-bindings): nothing to measure")
        return
    torch = cuda_torch()
    gemm(args.size, args.number, args.repeat, torch)
    elementwise(args.log2n, args.number, args.repeat, torch)


if __name__ == "__main__":
    main()
