"""conv2d NCHW 1x64x56x56, 64 filters 3x3, stride 1, pad 1 (a ResNet stage-1 layer, fp32):
tvmini against numpy im2col + matmul and PyTorch, in one run.

Rows:
* ``tvmini topi.conv2d (default)``: ``topi.conv2d`` with ``topi.default_schedule``;
* ``tvmini explicit schedule``: the convolution written out here in te with the
  weights packed as [F/4][C][3][3][4] (the 4 filters of a block side by side), and
  scheduled by hand: per block of 4 filters x 2 output rows x 8 columns, a local
  accumulator of 8 vectors stays in registers while the 576 (channel, ky, kx) taps
  stream past (two vector loads of input rows, four broadcast weights, eight FMAs per
  tap); the (filter block, row pair) loops are parallel. Found by trying blocks of
  (filters, rows) = (8, 1), (4, 1), (4, 2), (8, 2), (2, 4), (4, 4) with and without
  packing: (4, 2) packed was the fastest (8 x 1 unpacked ran at ~2/3 of its speed);
* ``numpy im2col+matmul``: pad, gather the 576 x 3136 patch matrix, one BLAS matmul
  (timed as a whole); ``numpy matmul only`` is that matmul alone, for reference;
* ``torch conv2d``: ``torch.nn.functional.conv2d`` (oneDNN) on the CPU, 2 threads.

Every result is checked against numpy first. Contenders are timed in alternating rounds
(``common.best_of_rounds``), each taking its fastest of ``--repeat`` calls; ``% peak``
is against the fp32 FMA peak measured in the same rounds (``common.fma_probe``).
Run: python benchmarks/conv2d.py [--rounds 3] [--repeat 10]
"""
import argparse

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import tvmini as tm
from tvmini import te, topi

from common import best_of_rounds, best_seconds, fma_probe, torch_or_none

N, C, H, W, F, K, PAD = 1, 64, 56, 56, 64, 3, 1
BLOCK_F, BLOCK_R, BLOCK_X = 4, 2, 8     # filters x rows x one 8-float vector: 8 accumulator registers


def conv_definition():
    """The te definition: zero padding, the weights packed by blocks of BLOCK_F filters,
    then the 3x3 correlation summed over (c, ky, kx)."""
    x = te.placeholder((N, C, H, W), name="x")
    w = te.placeholder((F, C, K, K), name="w")
    padded = te.compute(
        (N, C, H + 2 * PAD, W + 2 * PAD),
        lambda n, c, h, v: te.if_then_else(te.all(h >= PAD, h < H + PAD, v >= PAD, v < W + PAD),
                                           x[n, c, h - PAD, v - PAD], 0.0), name="padded")
    packed = te.compute((F // BLOCK_F, C, K, K, BLOCK_F), lambda fo, c, a, b, fi: w[fo * BLOCK_F + fi, c, a, b],
                        name="packed_w")
    c = te.reduce_axis((0, C), name="c")
    ky = te.reduce_axis((0, K), name="ky")
    kx = te.reduce_axis((0, K), name="kx")
    y = te.compute((N, F, H, W), lambda n, f, r, v: te.sum(
        padded[n, c, r + ky, v + kx] * packed[f // BLOCK_F, c, ky, kx, f % BLOCK_F], axis=[c, ky, kx]), name="y")
    return x, w, padded, packed, y


def explicit_schedule():
    """The register-blocked direct convolution described in the module docstring."""
    x, w, padded, packed, y = conv_definition()
    s = te.create_schedule(y.op)
    acc = s.cache_write(y, "local")
    n, f, r, v = s[y].op.axis
    fo, fi = s[y].split(f, factor=BLOCK_F)
    ro, ri = s[y].split(r, factor=BLOCK_R)
    vo, vi = s[y].split(v, factor=BLOCK_X)
    s[y].reorder(n, fo, ro, vo, fi, ri, vi)
    s[y].vectorize(vi)
    s[y].parallel(s[y].fuse(n, fo, ro))
    s[acc].compute_at(s[y], vo)
    an, af, ar, av = s[acc].op.axis
    c, ky, kx = s[acc].op.reduce_axis
    s[acc].reorder(an, c, ky, kx, af, ar, av)
    s[acc].unroll(af)
    s[acc].unroll(ar)
    s[acc].vectorize(av)
    pn, pc, _, _ = s[padded].op.axis
    s[padded].parallel(s[padded].fuse(pn, pc))
    s[packed].parallel(s[packed].op.axis[0])
    return tm.build(s, [x, w, y], name="conv2d_explicit")


def default_schedule():
    x = te.placeholder((N, C, H, W), name="x")
    w = te.placeholder((F, C, K, K), name="w")
    y = topi.conv2d(x, w, padding=PAD)
    return tm.build(topi.default_schedule(y), [x, w, y], name="conv2d_default")


def im2col(x):
    """The (N, C*K*K, OH*OW) patch matrix of ``x`` padded by PAD (a copy)."""
    xp = np.pad(x, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    cols = sliding_window_view(xp, (K, K), axis=(2, 3))            # N, C, OH, OW, K, K (a view)
    return cols.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * K * K, H * W)


def im2col_matmul(x, w):
    """numpy's convolution: the patch matrix, then one matmul; returns (N, F, OH, OW)."""
    return (w.reshape(F, C * K * K) @ im2col(x)).reshape(N, F, H, W)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds over all contenders")
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per contender per round")
    args = parser.parse_args()
    torch = torch_or_none()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype="float32")
    w = rng.standard_normal((F, C, K, K), dtype="float32")
    want = im2col_matmul(x, w)
    probe, probe_flop = fma_probe()
    w_mat = w.reshape(F, C * K * K)
    cols = im2col(x)[0]
    timers = {"fma peak": lambda: best_seconds(probe, 20),
              "numpy im2col+matmul": lambda: best_seconds(lambda: im2col_matmul(x, w), args.repeat),
              "numpy matmul only": lambda: best_seconds(lambda: w_mat @ cols, args.repeat)}
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        np.testing.assert_allclose(torch.nn.functional.conv2d(tx, tw, padding=PAD).numpy(), want, rtol=1e-3, atol=1e-3)
        timers["torch conv2d"] = lambda: best_seconds(lambda: torch.nn.functional.conv2d(tx, tw, padding=PAD),
                                                      args.repeat)
    for label, build in (("tvmini topi.conv2d (default)", default_schedule),
                         ("tvmini explicit schedule", explicit_schedule)):
        f = build()
        y = np.zeros((N, F, H, W), "float32")
        f(x, w, y)
        np.testing.assert_allclose(y, want, rtol=1e-3, atol=1e-3)
        timer = f.time_evaluator(number=1, repeat=args.repeat)
        timers[label] = lambda timer=timer, y=y: timer(x, w, y).min
    seconds = best_of_rounds(timers, args.rounds)
    peak = probe_flop / seconds.pop("fma peak")
    flops = 2.0 * N * F * H * W * C * K * K
    np_s = seconds["numpy im2col+matmul"]
    torch_s = seconds.get("torch conv2d")
    print(f"conv2d NCHW {N}x{C}x{H}x{W}, {F} filters {K}x{K} pad {PAD}: {flops / 1e6:.1f} MFLOP; "
          f"measured FMA peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'':<30} {'ms':>8} {'GFLOP/s':>8} {'x numpy':>8} {'x torch':>8} {'% peak':>7}")
    for label, t in seconds.items():
        vs_torch = f"{torch_s / t:8.2f}" if torch_s else f"{'n/a':>8}"
        print(f"{label:<30} {t * 1e3:8.3f} {flops / t / 1e9:8.1f} {np_s / t:8.2f} {vs_torch} "
              f"{100 * flops / t / peak:6.1f}%")


if __name__ == "__main__":
    main()
