"""Operator benchmarks (issue 5): topi kernels with their default CPU schedules against
numpy, and against PyTorch CPU when it is installed, in one run.

Sections (``--section``, default all):

* ``nn`` (``topi_nn.py``): at the training shapes, dense forward and both gradient
  matmuls for the OVERFIT MLP (batch 1024, 2-64-256-64-2) and the MNIST MLP (batch 128,
  784-256-128-10), matmul 1024^3, the LeNet conv layers (batch 64) and ResNet's layers
  (batch 1: 3x3 at 56x56 and 7x7, the stride-2 3x3s, the stem, 1x1s, depthwise; batch 8:
  3x3 at 28x28 and 7x7), grouped 3x3, each forward, grad_input and grad_weight; ms,
  GFLOP/s and the ratios;
* ``elementwise`` (``topi_ops.py``): broadcast and elementwise ops, reductions, argmax,
  transpose, pad, cumsum along rows and columns, gather, tril, roll, stable argsorts
  (8x16, n/16 rows, one row of 65536, n x n) and sort's values, and training-mode dropout (against a mask drawn by numpy's generator and
  torch's ``F.dropout``) on n x n float32 (``--n``); ms, GB/s and the ratios to numpy and torch.

Every kernel is checked against numpy before it is timed.
``--only TEXT`` runs only the elementwise rows whose name contains TEXT (e.g.
``--section elementwise --only argsort``).
Run: python benchmarks/ops.py [--section all|nn|elementwise] [--repeat 20] [--n 1024] [--only TEXT]
"""
import argparse

import topi_nn
import topi_ops
from common import torch_or_none


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", choices=["all", "nn", "elementwise"], default="all")
    parser.add_argument("--repeat", type=int, default=20, help="timed batches per nn kernel")
    parser.add_argument("--n", type=int, default=1024, help="size of the elementwise section's n x n operands")
    parser.add_argument("--only", default=None, help="run only the elementwise rows whose name contains this")
    args = parser.parse_args()
    topi_ops.ONLY = args.only
    torch = torch_or_none()
    if args.section in ("all", "nn"):
        topi_nn.run(args.repeat, torch)
    if args.section in ("all", "elementwise"):
        if args.section == "all":
            print()
        topi_ops.run(args.n, torch)


if __name__ == "__main__":
    main()
