"""Auto-tuning: GEMM 512^3 and conv2d 1x64x56x56 (64 filters 3x3, pad 1), default vs
tuned schedule, next to numpy (and PyTorch when installed), in one run.

For each workload: ``tm.autotune.tune`` measures up to ``--trials`` schedule configs
(the default one first) and records the fastest in the tuning log ``--log``; then the op
is built twice from scratch with ``topi.default_schedule``, once without a log (the
heuristic schedule) and once after ``tm.autotune.use_log`` (the tuned one, found
through the log as any later build would), both checked against numpy, and timed in
alternating rounds with the numpy and torch contenders (``common.best_of_rounds``: the
fastest of ``--rounds``; the cores are shared, so the fastest is the least disturbed). The conv2d layer and
numpy's im2col + matmul convolution are those of ``benchmarks/conv2d.py``.
Run: python benchmarks/autotune.py [--trials 64] [--repeat 5] [--rounds 5] [--log autotune.json]
"""
import argparse
import os
import tempfile

import numpy as np

import tvmini as tm
from tvmini import te, topi

import conv2d
from common import best_of_rounds, best_seconds, torch_or_none


def workloads(rng):
    """(label, op name, placeholders, attrs, arrays, numpy fn, torch fn maker, flops)."""
    a, b = rng.standard_normal((512, 512), dtype="float32"), rng.standard_normal((512, 512), dtype="float32")
    x = rng.standard_normal((conv2d.N, conv2d.C, conv2d.H, conv2d.W), dtype="float32")
    w = rng.standard_normal((conv2d.F, conv2d.C, conv2d.K, conv2d.K), dtype="float32")
    conv_flops = 2.0 * conv2d.N * conv2d.F * conv2d.H * conv2d.W * conv2d.C * conv2d.K ** 2
    return [
        ("gemm 512^3", "matmul", [te.placeholder(a.shape, name="A"), te.placeholder(b.shape, name="B")], {},
         [a, b], lambda: a @ b, lambda torch, ta, tb: (lambda: ta @ tb), 2.0 * 512 ** 3),
        ("conv2d 1x64x56x56 k3 p1", "conv2d", [te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w")],
         {"padding": conv2d.PAD}, [x, w], lambda: conv2d.im2col_matmul(x, w),
         lambda torch, tx, tw: (lambda: torch.nn.functional.conv2d(tx, tw, padding=conv2d.PAD)), conv_flops),
    ]


def build(op, placeholders, attrs, log):
    """The op built from scratch with topi.default_schedule, reading ``log`` (or none)."""
    out = getattr(topi, op)(*placeholders, **attrs)
    with tm.autotune.use_log(log):
        sch = topi.default_schedule(out)
    return tm.build(sch, placeholders + [out], name=f"bench_{op}"), out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=64, help="configs measured per workload (default first)")
    parser.add_argument("--repeat", type=int, default=5, help="timed batches per config while tuning")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--log", help="tuning log to write (default: a temporary file)")
    args = parser.parse_args()
    torch = torch_or_none(os.cpu_count())
    log = args.log or os.path.join(tempfile.mkdtemp(prefix="tvmini-autotune-"), "log.json")
    rng = np.random.default_rng(0)
    head = f"{'workload':<26} {'schedule':<9} {'ms':>8} {'GFLOP/s':>8} {'x numpy':>8}"
    rows = []
    for label, op, placeholders, attrs, arrays, numpy_fn, torch_fn, flops in workloads(rng):
        result = tm.autotune.tune(op, *placeholders, trials=args.trials, repeat=args.repeat, log=log, **attrs)
        print(f"{label}: {result}", flush=True)
        want = numpy_fn()
        kernels = {}
        for name, path in (("default", None), ("tuned", log)):
            f, out = build(op, placeholders, attrs, path)
            got = np.empty(want.shape, "float32")
            f(*arrays, got)
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
            kernels[name] = (f, got)
        timers = {name: (lambda f=f, got=got: f.time_evaluator(number=3, repeat=3)(*arrays, got).min)
                  for name, (f, got) in kernels.items()}
        timers["numpy"] = lambda: best_seconds(numpy_fn, 3)
        if torch is not None:
            call = torch_fn(torch, *(torch.from_numpy(x) for x in arrays))
            timers["torch"] = lambda: best_seconds(call, 3)
        best = best_of_rounds(timers, args.rounds)
        for name, seconds in best.items():
            rows.append(f"{label:<26} {name:<9} {seconds * 1e3:8.3f} {flops / seconds / 1e9:8.1f} "
                        f"{best['numpy'] / seconds:8.2f}")
    print(f"\ntuning log: {log}\n{head}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
