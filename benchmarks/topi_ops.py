"""The "elementwise" section of ``benchmarks/ops.py``: topi operators with their default
CPU schedules against numpy.

For each op: tvmini's best time (ms) and bandwidth (GB/s of bytes read + written once),
numpy's for the same result, and the speed ratio. Shapes: 1024x1024 float32 unless
--n says otherwise. Parallel kernels are sensitive to other processes on the machine's
cores (a descheduled libgomp worker stalls a launch by milliseconds); on a busy machine
compare with TVMINI_NUM_THREADS=1 (read when kernels are built).
"""
import numpy as np

import tvmini as tm
from tvmini import te, topi

from common import best_seconds


def case(name, build_out, numpy_fn, inputs):
    """Build ``build_out(*placeholders)``, check it against ``numpy_fn``, time both."""
    holders = [te.placeholder(x.shape, name=f"x{k}", dtype=str(x.dtype)) for k, x in enumerate(inputs)]
    out = build_out(*holders)
    f = tm.build(topi.default_schedule(out), holders + [out], name=f"bench_{name.split()[0]}")
    want = numpy_fn(*inputs)
    got = np.empty(want.shape, want.dtype)
    f(*inputs, got)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    nbytes = sum(x.nbytes for x in inputs) + got.nbytes
    ours = f.time_evaluator(number=10, repeat=7)(*inputs, got).min
    theirs = best_seconds(lambda: numpy_fn(*inputs), repeat=7 * 3)
    print(f"{name:<28} {1e3 * ours:8.3f} {nbytes / ours / 1e9:8.1f}   {1e3 * theirs:8.3f} {nbytes / theirs / 1e9:8.1f}"
          f"   {theirs / ours:6.2f}")


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def run(n):
    """Print the section's table for n x n float32 operands."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype("float32")
    row = rng.standard_normal((n,)).astype("float32")
    print(f"{'op (' + str(n) + 'x' + str(n) + ' float32)':<28} {'tvmini ms':>8} {'GB/s':>8}   {'numpy ms':>8} {'GB/s':>8}"
          f"   {'speedup':>6}")
    case("add broadcast (n,n)+(n,)", topi.add, np.add, [a, row])
    case("add (n,n)+(n,n)", topi.add, np.add, [a, a.copy()])
    case("relu", topi.relu, lambda x: np.maximum(x, 0), [a])
    case("sigmoid", topi.sigmoid, lambda x: 1 / (1 + np.exp(-x)), [a])
    case("exp", topi.exp, np.exp, [a])
    case("tanh", topi.tanh, np.tanh, [a])
    case("log of |x|", lambda x: topi.log(topi.abs(x)), lambda x: np.log(np.abs(x)), [a])
    case("softmax over rows", topi.softmax, _softmax, [a])
    case("sum over rows (axis 1)", lambda x: topi.sum(x, 1), lambda x: x.sum(1), [a])
    case("sum over cols (axis 0)", lambda x: topi.sum(x, 0), lambda x: x.sum(0), [a])
    case("sum all", topi.sum, lambda x: np.asarray(x.sum(), "float32"), [a])
    case("max over rows", lambda x: topi.max(x, 1), lambda x: x.max(1), [a])
    case("argmax over rows", lambda x: topi.argmax(x, 1), lambda x: x.argmax(1), [a])
    case("transpose", topi.transpose, lambda x: np.ascontiguousarray(x.T), [a])
    case("pad 1 each side", lambda x: topi.pad(x, (1, 1)), lambda x: np.pad(x, 1), [a])
