"""The "elementwise" section of ``benchmarks/ops.py``: topi operators with their default
CPU schedules against numpy and, when it is installed, PyTorch.

For each op: tvmini's best time (ms) and bandwidth (GB/s of bytes read + written once),
numpy's for the same result and the speed ratio, then torch's time (writing into a given
output tensor where torch has ``out=``, as tvmini does) and the ratio to it. Shapes: 1024x1024 float32 unless
--n says otherwise. Parallel kernels are sensitive to other processes on the machine's
cores (a descheduled libgomp worker stalls a launch by milliseconds); on a busy machine
compare with TVMINI_NUM_THREADS=1 (read when kernels are built).
"""
import numpy as np

import tvmini as tm
import tvmini.testing
from tvmini import te, topi

from common import best_seconds


#: Substring a row's name must contain to be run (``--only``); None: every row.
ONLY = None


def case(name, build_out, numpy_fn, inputs, torch=None, torch_fn=None):
    """Build ``build_out(*placeholders)``, check it against ``numpy_fn``, time both, and
    ``torch_fn`` when ``torch`` (the module) is given: it is called with the inputs as
    torch tensors and an output tensor to write, as tvmini writes into a given buffer.
    Skipped when ``ONLY`` is set and not in ``name``."""
    if ONLY is not None and ONLY not in name:
        return
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
    row = (f"{name:<28} {1e3 * ours:8.3f} {nbytes / ours / 1e9:8.1f}   {1e3 * theirs:8.3f} {nbytes / theirs / 1e9:8.1f}"
           f"   {theirs / ours:6.2f}")
    if torch_fn is not None:
        args = [torch.from_numpy(x) for x in inputs]
        result = torch.empty(want.shape, dtype=torch.int64 if want.dtype.kind == "i" else torch.float32)
        torch_fn(*args, result)
        np.testing.assert_allclose(result.numpy(), want, rtol=1e-4, atol=1e-4)
        torch_s = best_seconds(lambda: torch_fn(*args, result), repeat=7 * 3)
        row += f"   {1e3 * torch_s:8.3f} {torch_s / ours:7.2f}"
    print(row)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def run(n, torch=None):
    """Print the section's table for n x n float32 operands (with torch's times and the
    ratio to them when ``torch`` is the imported module)."""
    T = (lambda fn: {"torch": torch, "torch_fn": fn}) if torch else (lambda fn: {})
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype("float32")
    row = rng.standard_normal((n,)).astype("float32")
    print(f"{'op (' + str(n) + 'x' + str(n) + ' float32)':<28} {'tvmini ms':>8} {'GB/s':>8}   {'numpy ms':>8}"
          f" {'GB/s':>8}   {'speedup':>6}" + (f"   {'torch ms':>8} {'x torch':>7}" if torch else ""))
    case("add broadcast (n,n)+(n,)", topi.add, np.add, [a, row], **T(lambda x, r, o: torch.add(x, r, out=o)))
    case("add (n,n)+(n,n)", topi.add, np.add, [a, a.copy()], **T(lambda x, y, o: torch.add(x, y, out=o)))
    case("relu", topi.relu, lambda x: np.maximum(x, 0), [a], **T(lambda x, o: torch.clamp_min(x, 0, out=o)))
    case("sigmoid", topi.sigmoid, lambda x: 1 / (1 + np.exp(-x)), [a], **T(lambda x, o: torch.sigmoid(x, out=o)))
    case("exp", topi.exp, np.exp, [a], **T(lambda x, o: torch.exp(x, out=o)))
    case("tanh", topi.tanh, np.tanh, [a], **T(lambda x, o: torch.tanh(x, out=o)))
    case("log of |x|", lambda x: topi.log(topi.abs(x)), lambda x: np.log(np.abs(x)), [a],
         **T(lambda x, o: torch.log(torch.abs(x, out=o), out=o)))
    case("softmax over rows", topi.softmax, _softmax, [a], **T(lambda x, o: o.copy_(torch.softmax(x, 1))))
    case("sum over rows (axis 1)", lambda x: topi.sum(x, 1), lambda x: x.sum(1), [a],
         **T(lambda x, o: torch.sum(x, 1, out=o)))
    case("sum over cols (axis 0)", lambda x: topi.sum(x, 0), lambda x: x.sum(0), [a],
         **T(lambda x, o: torch.sum(x, 0, out=o)))
    case("sum all", topi.sum, lambda x: np.asarray(x.sum(), "float32"), [a],
         **T(lambda x, o: torch.sum(x, (0, 1), out=o)))
    case("max over rows", lambda x: topi.max(x, 1), lambda x: x.max(1), [a], **T(lambda x, o: torch.amax(x, 1, out=o)))
    case("argmax over rows", lambda x: topi.argmax(x, 1), lambda x: x.argmax(1), [a],
         **T(lambda x, o: torch.argmax(x, 1, out=o)))
    case("transpose", topi.transpose, lambda x: np.ascontiguousarray(x.T), [a], **T(lambda x, o: o.copy_(x.t())))
    case("pad 1 each side", lambda x: topi.pad(x, (1, 1)), lambda x: np.pad(x, 1), [a],
         **T(lambda x, o: o.copy_(torch.nn.functional.pad(x, (1, 1, 1, 1)))))
    # PyTorch's scans, gathers and reorderings (graph/sort_ops.py, gather_ops.py, reorder_ops.py)
    case("cumsum along rows", lambda x: topi.cumsum(x, 1), lambda x: np.cumsum(x, 1), [a],
         **T(lambda x, o: torch.cumsum(x, 1, out=o)))
    case("cumsum along cols", lambda x: topi.cumsum(x, 0), lambda x: np.cumsum(x, 0), [a],
         **T(lambda x, o: torch.cumsum(x, 0, out=o)))
    index = rng.integers(0, n, (n, n))
    case("gather along rows", lambda x, i: topi.gather(x, i, 1), lambda x, i: np.take_along_axis(x, i, 1),
         [a, index], **T(lambda x, i, o: torch.gather(x, 1, i, out=o)))
    case("tril", lambda x: topi.triangle(x), np.tril, [a], **T(lambda x, o: torch.tril(x, out=o)))
    case("roll cols by 3", lambda x: topi.roll(x, (0, 3)), lambda x: np.roll(x, 3, 1), [a],
         **T(lambda x, o: o.copy_(torch.roll(x, 3, 1))))
    sort_cases(a, torch, T)
    dropout_case(a, 0.5, torch)


def sort_cases(a, torch, T):
    """Stable argsort along rows (and sort's values) of float32 rows of several shapes:
    8x16 sorted by counting (``topi.sort``), the others by the bitonic network
    (``topi.sort_network``); n/16 rows of the n x n operand, one row of 65536, and the
    whole operand; and searchsorted of the n x n operand in a sorted row of n."""
    rng = np.random.default_rng(1)
    shapes = [(8, 16), (max(1, a.shape[0] // 16), a.shape[1]), (1, 65536), a.shape]
    for shape in shapes:
        x = a[:shape[0]] if shape[1] == a.shape[1] else rng.standard_normal(shape).astype("float32")
        label = f"{shape[0]}x{shape[1]}"
        case(f"argsort {label}", lambda x: topi.argsort(x, 1), lambda x: np.argsort(x, 1, kind="stable"), [x],
             **T(lambda x, o: torch.sort(x, stable=True, dim=1, out=(torch.empty_like(x), o))))
    seq = np.sort(a[0])
    case(f"searchsorted n*n in {seq.size}", lambda s, v: topi.searchsorted(s, v), np.searchsorted, [seq, a],
         **T(lambda s, v, o: torch.searchsorted(s, v, out=o)))
    rows = a[:max(1, a.shape[0] // 16)]
    case(f"sort values {rows.shape[0]}x{rows.shape[1]}", lambda x: topi.sort(x, 1)[0],
         lambda x: np.sort(x, 1, kind="stable"), [rows],
         **T(lambda x, o: torch.sort(x, stable=True, dim=1, out=(o, torch.empty(x.shape, dtype=torch.int64)))))


def dropout_case(x, p, torch=None):
    """Training-mode dropout: tvmini's one kernel hashing each element's position with a
    seed (``topi.random.dropout``, checked against the numpy reference of the same hash),
    numpy drawing a mask with its generator and applying it, torch's ``F.dropout``. The
    masks differ (three generators); the work is the same: a draw per element."""
    if ONLY is not None and ONLY not in f"dropout p={p}":
        return
    keep = 1.0 - p
    seed, X = topi.random.seed_var(), te.placeholder(x.shape, name="x")
    D = topi.random.dropout(X, keep, seed)
    f = tm.build(topi.default_schedule(D), [X, seed, D], name="bench_dropout")
    got = np.empty_like(x)
    f(x, 7, got)
    np.testing.assert_allclose(got, tm.testing.reference(D, {X: x, seed: 7}), rtol=1e-6)
    rng = np.random.default_rng(0)
    scale = np.float32(1 / keep)
    ours = f.time_evaluator(number=10, repeat=7)(x, 7, got).min
    theirs = best_seconds(lambda: x * (rng.random(x.shape, dtype=np.float32) < keep) * scale, repeat=7 * 3)
    nbytes = 2 * x.nbytes
    row = (f"{f'dropout p={p}':<28} {1e3 * ours:8.3f} {nbytes / ours / 1e9:8.1f}   {1e3 * theirs:8.3f} "
           f"{nbytes / theirs / 1e9:8.1f}   {theirs / ours:6.2f}")
    if torch is not None:
        t = torch.from_numpy(x)
        torch_s = best_seconds(lambda: torch.nn.functional.dropout(t, p, training=True), repeat=7 * 3)
        row += f"   {1e3 * torch_s:8.3f} {torch_s / ours:7.2f}"
    print(row)
