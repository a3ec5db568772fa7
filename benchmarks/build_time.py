"""Build (compile) time of the GEMM recipe's schedules: cold, from the disk cache, and
from the in-process build memo; ``--target cuda`` builds ``examples/gemm_cuda.py``'s
steps for CUDA instead (no GPU needed: CUDA C, then PTX by NVRTC or nvcc).

Each measurement runs in a fresh Python process (``CHILD`` below) whose
``TVMINI_CACHE_DIR`` is a temporary folder: empty for the cold build, then the same
folder again for a second process that loads the object code from disk. In both, after
the timed build the same schedule is built again from scratch (a new te definition and
schedule), which the in-process cache serves. Before the timed build each child builds
one tiny kernel, so LLVM's and libgomp's one-time start-up is not charged to the GEMM
(it is the ``first kernel`` column). Columns, in milliseconds (the fastest of
``--repeat`` process pairs):

* ``lower``: ``tm.lower`` alone: schedule -> loop IR, which a build does unless the
  in-process memo or a build manifest on disk serves it;
* ``cold``: ``tm.build`` with an empty cache (lower, LLVM IR, O3, machine code, JIT; for
  CUDA: lower, CUDA C, PTX);
* ``disk``: ``tm.build`` in a new process that finds the build's manifest and object code
  (PTX) on disk (no lowering, no LLVM IR: ~2 ms whatever the schedule; it was 3-44 ms when
  a disk hit still lowered and generated the IR to find its key);
* ``in-process``: the second ``tm.build`` of an equal schedule (new te objects) in a
  process, in microseconds: the build memo serves it after a walk over the schedule
  (``codegen/schedule_key.py``), with no lowering and no LLVM;
* ``first kernel``: the tiny kernel built first in a cold process (for CUDA, the naive
  step at 16^3: it pays loading NVRTC).

Each child checks, with ``tm.kernel_cache_info()``, that the build was served the way
its column says. Run: python benchmarks/build_time.py [--size 1024] [--repeat 3] [--target cuda]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from gemm_cuda import STEPS as CUDA_STEPS  # noqa: E402  (the recipes live in the examples)
from gemm_tutorial import STEPS  # noqa: E402

from tvmini.codegen.cuda_compile import ptx_compiler  # noqa: E402

CHILD = """
import json, sys, time
sys.path.insert(0, {examples!r})
import tvmini as tm
from tvmini import te
from {recipe} import STEPS

if {target!r} == "cuda":
    s, tensors = STEPS["naive"](16)
else:
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] + 1.0, name="B")
    s, tensors = te.create_schedule(B.op), [A, B]
start = time.perf_counter()
tm.build(s, tensors, target={target!r}, name="first_kernel")
first = time.perf_counter() - start

make = dict(STEPS)[{step!r}]
s, tensors = make({n})
start = time.perf_counter()
tm.lower(s, tensors, name="gemm_timed")
lower = time.perf_counter() - start
timed = []
for _ in range(2):
    s, tensors = make({n})
    start = time.perf_counter()
    tm.build(s, tensors, target={target!r}, name="gemm_timed")
    timed.append(time.perf_counter() - start)
(record,) = [k for k in tm.kernel_cache_info().kernels if k.name == "gemm_timed"]
print(json.dumps(dict(first=first, lower=lower, build=timed[0], again=timed[1], origin=record.origin,
                      hits=record.hits)))
"""

RECIPES = {"llvm": "gemm_tutorial", "cuda": "gemm_cuda"}


def run_child(step, n, cache_dir, target):
    """One fresh process building ``step`` at size ``n`` for ``target`` with ``cache_dir``;
    its JSON report."""
    env = dict(os.environ, TVMINI_CACHE_DIR=cache_dir, TVMINI_CACHE="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    code = CHILD.format(examples=str(ROOT / "examples"), recipe=RECIPES[target], step=step, n=n, target=target)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"child for {step!r} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="process pairs per schedule (fastest kept)")
    parser.add_argument("--target", choices=sorted(RECIPES), default="llvm")
    args = parser.parse_args()
    steps = STEPS if args.target == "llvm" else list(CUDA_STEPS.items())
    compiler = "" if args.target == "llvm" else f", PTX by {ptx_compiler()}"
    print(f"GEMM {args.size}^3 for {args.target}{compiler}: build times in ms, in-process in us (fastest of "
          f"{args.repeat} fresh-process pairs)")
    print(f"{'schedule':<22} {'lower':>8} {'cold':>8} {'disk':>8} {'in-process us':>14} {'first kernel':>13}")
    for step, _ in steps:
        best = dict(lower=float("inf"), cold=float("inf"), disk=float("inf"), memory=float("inf"),
                    first=float("inf"))
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="tvmini-build-time-") as cache_dir:
                cold = run_child(step, args.size, cache_dir, args.target)
                disk = run_child(step, args.size, cache_dir, args.target)
            assert (cold["origin"], cold["hits"], disk["origin"], disk["hits"]) == ("compiled", 1, "disk", 1), \
                (cold, disk)
            for key, value in (("lower", cold["lower"]), ("cold", cold["build"]), ("disk", disk["build"]),
                               ("memory", min(cold["again"], disk["again"])), ("first", cold["first"])):
                best[key] = min(best[key], value)
        ms = {k: 1e3 * v for k, v in best.items()}
        print(f"{step:<22} {ms['lower']:8.1f} {ms['cold']:8.1f} {ms['disk']:8.1f} {1e3 * ms['memory']:14.1f} "
              f"{ms['first']:13.1f}", flush=True)


if __name__ == "__main__":
    main()
