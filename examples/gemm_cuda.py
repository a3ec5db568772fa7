"""How to optimize an fp32 GEMM on an NVIDIA GPU with tvmini, one schedule idea at a time.

The same C = A @ B as examples/gemm_tutorial.py (the CPU walk), scheduled for CUDA:

0. naive      one thread per output, 16 x 16 threads per block, A and B read from global
              memory for every multiply-add;
1. shared     the block's 16 x 16 tiles of A and B staged in shared memory per 16-wide
              slice of k (``cache_read(..., "shared")``): each global value is read once
              per block instead of once per thread;
2. register4  64 x 64 outputs per block, a 4 x 4 tile of them per thread accumulated
              in registers (``cache_write(..., "local")`` computed at the thread): each
              shared value read feeds 4 FMAs;
3. register8  128 x 128 outputs per block, 8 x 8 per thread, k slices of 8: 8 FMAs per
              shared value read, 64 accumulators per thread.

A thread's tile is contiguous. Spreading its rows and columns 16 apart would spare the
B tile's shared-memory bank conflicts, but with plain splits tvmini's bound inference
(intervals, as in TVM) would size the thread's accumulator to the whole span (113 x 113
floats for step 3). TVM's GPU GEMM tutorial answers that with virtual threads, and tvmini
has them too: bind an outer split of each tile axis to ``te.thread_axis("vthread")`` and
each thread computes that many strided tiles, each with its own register accumulator
(README, "CUDA default schedules"; tests/test_vthread.py runs that schedule). The steps here keep
the contiguous tiles.

With a GPU (and pycuda or cuda-bindings), every step is checked against cuBLAS (torch)
or numpy, then timed with CUDA events next to ``torch.matmul`` (fp32, TF32 off). Without
one, each step is built and its CUDA C compiled to PTX (``--source`` prints it); with
``TVMINI_CUDA_BINDING=emulator`` the steps run on the CPU's emulation of a GPU (checked
against numpy; its times say nothing about a GPU).
Run: python examples/gemm_cuda.py [--size 4096] [--steps naive,shared,register4,register8] [--source]
"""
import argparse

import numpy as np

import tvmini as tm
from _cli import positive_int, run
from tvmini import te


def definition(n):
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def _bind(stage, axis, tag):
    stage.bind(axis, te.thread_axis(tag))


def naive(n):
    """Step 0: a 16 x 16 block of threads per 16 x 16 outputs."""
    A, B, C = definition(n)
    s = te.create_schedule(C.op)
    bi, bj, ti, tj = s[C].tile(C.op.axis[0], C.op.axis[1], 16, 16)
    for axis, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        _bind(s[C], axis, tag)
    return s, [A, B, C]


def shared(n, tile=16):
    """Step 1: step 0 with the tiles of A and B each k slice needs in shared memory."""
    A, B, C = definition(n)
    s = te.create_schedule(C.op)
    a_shared, b_shared = s.cache_read(A, "shared", [C]), s.cache_read(B, "shared", [C])
    bi, bj, ti, tj = s[C].tile(C.op.axis[0], C.op.axis[1], tile, tile)
    for axis, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        _bind(s[C], axis, tag)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=tile)
    s[C].reorder(ko, ki)
    for cache in (a_shared, b_shared):
        s[cache].compute_at(s[C], ko)
        rows, cols = s[cache].op.axis
        _bind(s[cache], rows, "threadIdx.y")
        _bind(s[cache], cols, "threadIdx.x")
    return s, [A, B, C]


def register_blocked(n, per_thread=4, k_tile=16, threads=16):
    """Steps 2 and 3: a block of (threads * per_thread)^2 outputs, each thread
    accumulating a per_thread x per_thread tile of them in registers over k slices of
    ``k_tile`` staged in shared memory."""
    A, B, C = definition(n)
    s = te.create_schedule(C.op)
    a_shared, b_shared = s.cache_read(A, "shared", [C]), s.cache_read(B, "shared", [C])
    acc = s.cache_write(C, "local")
    block = threads * per_thread
    i, j = s[C].op.axis
    bi, ii = s[C].split(i, factor=block)
    ti, ri = s[C].split(ii, factor=per_thread)
    bj, jj = s[C].split(j, factor=block)
    tj, rj = s[C].split(jj, factor=per_thread)
    s[C].reorder(bi, bj, ti, tj, ri, rj)
    for axis, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        _bind(s[C], axis, tag)
    for axis in (ri, rj):        # constant indices into the accumulator: it stays in registers
        s[C].unroll(axis)

    s[acc].compute_at(s[C], tj)
    ai, aj = s[acc].op.axis
    ko, ki = s[acc].split(s[acc].op.reduce_axis[0], factor=k_tile)
    s[acc].reorder(ko, ki, ai, aj)
    for axis in (ki, ai, aj):
        s[acc].unroll(axis)
    for cache in (a_shared, b_shared):
        s[cache].compute_at(s[acc], ko)
        _, flat = s[cache].split(s[cache].fuse(*s[cache].op.axis), factor=threads * threads)
        ty, tx = s[cache].split(flat, factor=threads)
        _bind(s[cache], ty, "threadIdx.y")
        _bind(s[cache], tx, "threadIdx.x")
    return s, [A, B, C]


STEPS = {
    "naive": naive,
    "shared": shared,
    "register4": lambda n: register_blocked(n, per_thread=4, k_tile=16),
    "register8": lambda n: register_blocked(n, per_thread=8, k_tile=8),
}


def build(step, n):
    sch, args = STEPS[step](n)
    return tm.build(sch, args, target="cuda", name=f"gemm_cuda_{step}")


def cuda_torch():
    """torch when it is installed and sees the GPU (TF32 off: an fp32 cuBLAS), else None."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def torch_seconds(torch, fn, number, repeat):
    """Fastest seconds per call of ``fn`` over ``repeat`` batches of ``number`` calls
    between CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    best = float("inf")
    for _ in range(repeat):
        start.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) * 1e-3 / number)
    return best


def step_list(text):
    """argparse ``type`` of ``--steps``: comma-separated names of ``STEPS``."""
    steps = text.split(",")
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown step {', '.join(map(repr, unknown))}: the steps are "
                                         + ", ".join(STEPS))
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=positive_int, default=4096)
    parser.add_argument("--steps", type=step_list, default=list(STEPS),
                        help="comma-separated steps to run, of " + ",".join(STEPS) + " (default: all)")
    parser.add_argument("--source", action="store_true", help="print each step's CUDA C")
    parser.add_argument("--number", type=positive_int, default=5)
    parser.add_argument("--repeat", type=positive_int, default=3)
    args = parser.parse_args()
    n, steps = args.size, args.steps
    from tvmini.runtime.cuda_driver import device_arch
    has_gpu = device_arch() is not None
    flops = 2.0 * n ** 3
    if has_gpu:
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal((n, n), dtype="float32"), rng.standard_normal((n, n), dtype="float32")
        torch, cublas = cuda_torch(), None
        if torch:
            ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
            want = (ta @ tb).cpu().numpy()
            cublas = torch_seconds(torch, lambda: ta @ tb, args.number, args.repeat)
        else:
            want = a @ b
        dev = tm.cuda(0)
        ga, gb, gc = tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), tm.nd.empty((n, n), device=dev)
        print(f"fp32 GEMM {n}^3 on {device_arch()}" + (f"; torch.matmul (cuBLAS) {cublas * 1e3:.3f} ms, "
                                                       f"{flops / cublas * 1e-9:.0f} GFLOP/s" if cublas else ""))
        print(f"{'step':<10} {'ms':>9} {'GFLOP/s':>9} {'x cuBLAS':>9}")
    else:
        print(f"no CUDA device here: each step is built for {n}^3 and compiled to PTX only")
    for step in steps:
        f = build(step, n)
        if args.source:
            print(f"----- {step}\n{f.get_source('cuda')}")
        if not has_gpu:
            f.get_source("ptx")
            print(f"{step:<10} built, PTX {len(f.get_source('ptx'))} chars")
            continue
        f(ga, gb, gc)
        np.testing.assert_allclose(gc.numpy(), want, rtol=1e-3, atol=1e-2 * np.sqrt(n))
        seconds = f.time_evaluator(number=args.number, repeat=args.repeat)(ga, gb, gc).min
        ratio = f"{cublas / seconds:9.2f}" if cublas else f"{'':>9}"
        print(f"{step:<10} {seconds * 1e3:9.3f} {flops / seconds * 1e-9:9.0f} {ratio}")


if __name__ == "__main__":
    run(main)
