"""What every benchmark script shares: timing a Python callable the same way, timing
several contenders in alternation, and the machine's fp32 FMA peak.

The benchmarks run on cores shared with other processes. The least disturbed figure is
the fastest of several timings; contenders are timed in alternating rounds so that a
burst of outside load, or the worker threads one library leaves spinning after its
call (OpenBLAS, libgomp), does not land on one contender only.
"""
import ctypes
import os
import threading
import time


def torch_or_none(threads=2):
    """PyTorch with ``threads`` intra-op threads, or None when it is not installed (the
    benchmarks then print tvmini and numpy only)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def best_seconds(fn, repeat=5, clock=time.perf_counter):
    """The fastest of ``repeat`` timed calls of ``fn`` (seconds of ``clock``: the wall
    clock, or ``time.process_time``, the process's CPU time, which other processes'
    load on shared cores does not inflate)."""
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def best_of_rounds(timers, rounds, settle=0.3):
    """``{name: seconds}``: the fastest of ``rounds`` alternating rounds, each of which
    calls every timer of ``timers`` (``{name: () -> seconds}``) once, in order.

    Between two timers the process sleeps ``settle`` seconds: OpenBLAS and libgomp keep
    their worker threads spinning for a while after a call, and on two cores a contender
    timed in that window measured 10x slower (512^3 GEMM: ~11 instead of 80-130 GFLOP/s).
    """
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(rounds):
        for name, timer in timers.items():
            time.sleep(settle)
            best[name] = min(best[name], timer())
    return best


def print_call_table(cases, calls, rounds, width=32):
    """Time each case ``(name, tvmini call, numpy call or None, torch call or None)``
    and print one row: microseconds per call of each (the fastest of ``calls`` calls in
    each of ``rounds`` alternating rounds, after a first call that builds tvmini's
    kernels) and tvmini's ratio to the others."""
    def timer(fn):
        fn()
        return lambda: best_seconds(fn, repeat=calls)
    print(f"{'op':{width}} {'tvmini':>10} {'numpy':>10} {'torch':>10} {'x numpy':>8} {'x torch':>8}")
    for name, ours, ref, theirs in cases:
        timers = {k: timer(fn) for k, fn in (("tvmini", ours), ("numpy", ref), ("torch", theirs)) if fn is not None}
        us = {k: v * 1e6 for k, v in best_of_rounds(timers, rounds=rounds, settle=0.05).items()}
        cells = [f"{us[k]:10.1f}" if k in us else f"{'-':>10}" for k in ("tvmini", "numpy", "torch")]
        ratios = [f"{us['tvmini'] / us[k]:8.2f}" if k in us else f"{'-':>8}" for k in ("numpy", "torch")]
        print(f"{name:{width}} {' '.join(cells)} {' '.join(ratios)}")


# Independent FMA chains per thread: enough to cover latency x FMA pipes (4 x 2 on Zen 3)
# while the chains and the two constants still fit the 16 vector registers of AVX2.
_CHAINS = 12


def _fma_loop_ir(lanes):
    vec = f"<{lanes} x float>"
    splat = lambda v: f"<{', '.join([f'float {v}'] * lanes)}>"  # noqa: E731
    lines = [f"declare {vec} @llvm.fma.v{lanes}f32({vec}, {vec}, {vec})",
             "define void @fma_peak(ptr noalias %out, i64 %iters) {",
             "entry:", "  br label %loop", "loop:", "  %i = phi i64 [ 0, %entry ], [ %next, %loop ]"]
    for c in range(_CHAINS):
        lines.append(f"  %a{c} = phi {vec} [ {splat(f'{c}.0')}, %entry ], [ %b{c}, %loop ]")
    for c in range(_CHAINS):
        lines.append(f"  %b{c} = call {vec} @llvm.fma.v{lanes}f32({vec} %a{c}, {vec} {splat('0.5')}, "
                     f"{vec} {splat('1.0')})")
    lines += ["  %next = add i64 %i, 1", "  %done = icmp eq i64 %next, %iters",
              "  br i1 %done, label %exit, label %loop", "exit:", f"  %s0 = fadd {vec} %b0, %b1"]
    for c in range(2, _CHAINS):
        lines.append(f"  %s{c - 1} = fadd {vec} %s{c - 2}, %b{c}")
    lines += [f"  store {vec} %s{_CHAINS - 2}, ptr %out, align 4", "  ret void", "}"]
    return "\n".join(lines)


def fma_probe(threads=None, iters=2_000_000):
    """``(run, flop)``: ``run()`` has ``threads`` threads (default: one per core) each run
    ``_CHAINS`` independent vector FMA chains of the host's SIMD width at the same time,
    ``flop`` FLOPs in all. No kernel can beat its rate, so ``flop / best time of run`` is
    the machine's measured fp32 FMA peak, the denominator of "fraction of peak". A run
    takes ~4 ms (like the kernels it is compared with, so that its fastest run finds as
    quiet a moment); time it in the same rounds as the kernels."""
    from tvmini.codegen import llvm_target
    lanes = llvm_target.vector_bits() // 32
    threads = threads or os.cpu_count()
    engine = llvm_target.jit(llvm_target.parse(_fma_loop_ir(lanes)))
    kernel = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(engine.get_function_address("fma_peak"))
    sinks = [(ctypes.c_float * lanes)() for _ in range(threads)]

    def run():
        workers = [threading.Thread(target=kernel, args=(ctypes.addressof(s), iters)) for s in sinks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    run.keepalive = engine
    return run, threads * iters * _CHAINS * lanes * 2


def nominal_peak():
    """(FLOP/s, how it was computed): cores x FMA pipes (2) x SIMD lanes x 2 FLOP x the
    clock /proc/cpuinfo reports (the base clock on a VM; boost clocks run above it)."""
    from tvmini.codegen import llvm_target
    lanes = llvm_target.vector_bits() // 32
    mhz = None
    try:
        with open("/proc/cpuinfo") as f:
            mhz = next(float(line.split(":")[1]) for line in f if line.startswith("cpu MHz"))
    except (OSError, StopIteration, ValueError):
        pass
    if mhz is None:
        return None, "clock unknown (no 'cpu MHz' in /proc/cpuinfo)"
    cores = os.cpu_count()
    per_cycle = 2 * lanes * 2
    return cores * per_cycle * mhz * 1e6, f"{cores} cores x {per_cycle} FLOP/cycle x {mhz / 1e3:.2f} GHz"
