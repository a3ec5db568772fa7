"""The Python overhead of one eager graph-layer op: microseconds per call of small ops
(64 x 64 float32 by default, where the kernel itself takes well under a microsecond)
with tvmini, numpy (where numpy has the op) and PyTorch (when installed), side by side.

At this size an op's time is almost all the layer around the kernel: checking the
operands, finding the compiled kernel, allocating the output, packing the native call's
arguments and recording the gradient. The last rows are a Linear layer's forward and a
small MLP's eager training step (forward, cross-entropy, backward and an Adam step),
where those costs add up over tens of kernel calls.

Every tvmini result is checked against numpy before anything is timed. Contenders are
timed in alternating rounds (see ``common.best_of_rounds``); each figure is the fastest
round's mean over ``--number`` calls.

    python benchmarks/eager_overhead.py [--size 64] [--number 200] [--rounds 5] [--ops SUBSTRING]
"""
import argparse
import time

import numpy as np

import tvmini as tm
from common import best_of_rounds, torch_or_none


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mlp_step(lib, model, opt, x, y):
    """One eager training step of ``model`` (``lib``: tvmini or torch, the same code)."""
    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def _mlp(lib, rng_state, width):
    """A 32-``width``-10 MLP with Adam on a batch of 64, seeded the same for each library."""
    rng = np.random.default_rng(rng_state)
    x = rng.standard_normal((64, 32)).astype("float32")
    y = rng.integers(0, 10, 64)
    model = lib.nn.Sequential(lib.nn.Linear(32, width), lib.nn.ReLU(), lib.nn.Linear(width, 10))
    as_tensor = tm.tensor if lib is tm else lib.from_numpy
    return _mlp_step(lib, model, lib.optim.Adam(model.parameters(), lr=1e-3), as_tensor(x), as_tensor(y))


def _backward(x, b):
    """``(x * b).sum().backward()`` on a fresh ``.grad`` (each call as one training step's)."""
    def run():
        x.grad = None
        (x * b).sum().backward()
    return run


def _row(lib, make, data, size):
    """``{op: callable}`` of one contender (``lib`` None: numpy) on ``data`` (a, b, w, bias)."""
    a, b, w, bias = (make(v.copy()) for v in data)
    row = {
        "a+b": lambda: a + b,
        "a*b (a requires grad)": None,
        "a.sum()": lambda: a.sum(),
        "a.relu()": (lambda: np.maximum(a, 0)) if lib is None else (lambda: a.relu()),
        "a[3]": lambda: a[3],
        "a[:, 1:5]": lambda: a[:, 1:5],
        "a.reshape(n*n)": lambda: a.reshape(size * size),
        "a.T": lambda: a.T,
        "a @ b": lambda: a @ b,
        "softmax(a, -1)": (lambda: _np_softmax(a)) if lib is None else (lambda: lib.nn.functional.softmax(a, dim=-1)),
        "linear(a, w, bias)": (lambda: a @ w.T + bias) if lib is None else
                              (lambda: lib.nn.functional.linear(a, w, bias)),
        "(a*b).sum().backward()": None,
        "MLP 32-64-10 b64 Adam step": None,
    }
    if lib is not None:
        ar = make(data[0].copy()).requires_grad_(True)
        row["a*b (a requires grad)"] = lambda: ar * b
        row["(a*b).sum().backward()"] = _backward(ar, b)
        row["MLP 32-64-10 b64 Adam step"] = _mlp(lib, 1, 64)
    return row


def cases(size, torch=None):
    """``{op: {contender: zero-argument callable}}`` for tvmini, numpy and (given) torch;
    a callable returns the op's result (None for the steps that only have effects)."""
    rng = np.random.default_rng(0)
    data = (*rng.standard_normal((2, size, size), dtype="float32"), rng.standard_normal((size, size), dtype="float32"),
            rng.standard_normal(size, dtype="float32"))
    libs = {"tvmini": (tm, tm.tensor), "numpy": (None, np.asarray)}
    if torch is not None:
        libs["torch"] = (torch, torch.from_numpy)
    table = {}
    for name, (lib, make) in libs.items():
        for op, fn in _row(lib, make, data, size).items():
            if fn is not None:
                table.setdefault(op, {})[name] = fn
    return table


def check(table):
    """Raise if a tvmini result differs from numpy's (run before anything is timed)."""
    for op, contenders in table.items():
        got = contenders["tvmini"]()
        if "numpy" in contenders:
            np.testing.assert_allclose(got.numpy(), contenders["numpy"](), rtol=1e-4, atol=1e-4, err_msg=op)


def per_call(fn, number):
    """A timer: seconds per call of ``fn``, over ``number`` calls."""
    def timer():
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    return timer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--number", type=int, default=200, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=0.01, help="seconds of sleep between two timers")
    parser.add_argument("--ops", default="", help="only the ops whose name contains this")
    args = parser.parse_args(argv)
    table = {op: c for op, c in cases(args.size, torch_or_none()).items() if args.ops in op}
    check(table)
    print(f"{'op':28} {'tvmini us':>10} {'numpy us':>9} {'torch us':>9} {'vs numpy':>9} {'vs torch':>9}")
    for op, contenders in table.items():
        best = best_of_rounds({name: per_call(fn, args.number) for name, fn in contenders.items()},
                              args.rounds, args.settle)
        us = {name: seconds * 1e6 for name, seconds in best.items()}
        cells = [f"{us[name]:9.1f}" if name in us else f"{'-':>9}" for name in ("numpy", "torch")]
        ratios = [f"{us['tvmini'] / us[name]:8.1f}x" if name in us else f"{'-':>9}" for name in ("numpy", "torch")]
        print(f"{op:28} {us['tvmini']:10.1f} {' '.join(cells)} {' '.join(ratios)}")


if __name__ == "__main__":
    main()
