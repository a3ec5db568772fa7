"""Walking a tensor: rows ``x[i]`` and batch slices ``x[i:i+b]``, with tvmini, numpy and
PyTorch (when installed), side by side.

Two figures per contender: the first walk over every row and batch (for tvmini this
includes building its kernels: one per window shape, the offsets being run-time
arguments) and the steady cost of one ``x[i]``. numpy and PyTorch return views, so their
steady cost is the call overhead alone; tvmini's ``x[i]`` is a kernel that copies the row.

    python benchmarks/indexing.py [--rows 1000] [--width 64] [--batch 50]
"""
import argparse
import time

import numpy as np

import tvmini as tm
from common import torch_or_none


def walk(x, rows, batch):
    """Every row, then every batch, once; returns the seconds taken."""
    start = time.perf_counter()
    for i in range(rows):
        x[i]
    for i in range(0, rows, batch):
        x[i:i + batch]
    return time.perf_counter() - start


def per_row(x, rows, repeat=3):
    """The fastest of ``repeat`` walks over the rows, per row (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(rows):
            x[i]
        best = min(best, (time.perf_counter() - start) / rows)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    data = np.random.default_rng(0).random((args.rows, args.width)).astype("float32")
    contenders = {"tvmini": tm.tensor(data), "numpy": data}
    torch = torch_or_none()
    if torch is not None:
        contenders["torch"] = torch.from_numpy(data.copy())
    built = tm.graph.kernel_count()
    print(f"{'contender':10} {'first walk ms':>14} {'us per x[i]':>12} {'x[i] vs numpy':>14}")
    results = {name: (walk(x, args.rows, args.batch), per_row(x, args.rows)) for name, x in contenders.items()}
    for name, (first, row) in results.items():
        print(f"{name:10} {first * 1e3:14.1f} {row * 1e6:12.2f} {row / results['numpy'][1]:13.1f}x")
    print(f"tvmini kernels built for {args.rows} rows and {args.rows // args.batch} batches: "
          f"{tm.graph.kernel_count() - built}")


if __name__ == "__main__":
    main()
