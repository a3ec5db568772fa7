"""3-D layers and grid sampling with tvmini and PyTorch (when installed), side by side:
conv3d, conv_transpose3d, max_pool3d and grid_sample, each forward alone and forward
plus backward (every input's gradient), float32, the steady time of one call after a
warm-up call that builds tvmini's kernels.

conv3d runs as im2col along depth plus the 2-D convolution kernels (graph/conv3d_ops.py);
grid_sample's input gradient is a gather over the sampling points that reach each input
row (no atomics: topi/grid_sample.py), so the ratios show what those choices cost.

    python benchmarks/layers3d.py [--batch 4]
"""
import argparse

import numpy as np

import tvmini as tm
import tvmini.nn.functional as F
from common import best_of_rounds, best_seconds, torch_or_none


def _timer(fn):
    fn()                                    # build the kernels (tvmini) / warm up
    return lambda: best_seconds(fn, repeat=5)


def _step(lib, fn, arrays, backward):
    """``fn`` on leaves made from ``arrays`` with ``lib``; with ``backward`` the sum's
    gradient too."""
    leaves = [lib.tensor(a, requires_grad=backward) for a in arrays]
    out = fn(*leaves)
    if backward:
        out.sum().backward()
    return out


def cases(batch, torch):
    """(name, arrays, tvmini function, torch function or None)."""
    rng = np.random.default_rng(0)

    def normal(*shape):
        return rng.standard_normal(shape).astype("float32")
    volume = normal(batch, 8, 16, 16, 16)
    image = normal(batch, 8, 32, 32)
    theta = np.tile(np.array([[[0.9, 0.2, 0.05], [-0.15, 1.1, -0.1]]], "float32"), (batch, 1, 1))
    grid = F.affine_grid(tm.tensor(theta), (batch, 8, 24, 24), align_corners=False).numpy()
    tf = torch.nn.functional if torch is not None else None
    return [
        ("conv3d 8->16 k3 p1", (volume, normal(16, 8, 3, 3, 3)), lambda x, w: F.conv3d(x, w, padding=1),
         tf and (lambda x, w: tf.conv3d(x, w, padding=1))),
        ("conv3d 8->16 k3 s2", (volume, normal(16, 8, 3, 3, 3)), lambda x, w: F.conv3d(x, w, stride=2),
         tf and (lambda x, w: tf.conv3d(x, w, stride=2))),
        ("conv_transpose3d 8->4 k2 s2", (volume[:, :, :8, :8, :8], normal(8, 4, 2, 2, 2)),
         lambda x, w: F.conv_transpose3d(x, w, stride=2), tf and (lambda x, w: tf.conv_transpose3d(x, w, stride=2))),
        ("max_pool3d k2", (volume,), lambda x: F.max_pool3d(x, 2), tf and (lambda x: tf.max_pool3d(x, 2))),
        ("grid_sample bilinear 32^2->24^2", (image, grid), lambda x, g: F.grid_sample(x, g, align_corners=False),
         tf and (lambda x, g: tf.grid_sample(x, g, align_corners=False))),
        ("grid_sample bicubic border", (image, grid),
         lambda x, g: F.grid_sample(x, g, "bicubic", "border", False),
         tf and (lambda x, g: tf.grid_sample(x, g, "bicubic", "border", False))),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch = torch_or_none()
    print(f"batch = {args.batch}; milliseconds per call (fastest of 3 rounds of 5 calls, alternating); ratio = tvmini / torch")
    print(f"{'op':34} {'pass':8} {'tvmini':>9} {'torch':>9} {'x torch':>8}")
    for name, arrays, ours, theirs in cases(args.batch, torch):
        for backward in (False, True):
            timers = {"tvmini": _timer(lambda: _step(tm, ours, arrays, backward))}
            if theirs is not None:
                timers["torch"] = _timer(lambda: _step(torch, theirs, arrays, backward))
            ms = {k: v * 1e3 for k, v in best_of_rounds(timers, rounds=3, settle=0.05).items()}
            torch_ms = f"{ms['torch']:9.2f}" if "torch" in ms else f"{'-':>9}"
            ratio = f"{ms['tvmini'] / ms['torch']:8.2f}" if "torch" in ms else f"{'-':>8}"
            print(f"{name:34} {'fwd+bwd' if backward else 'fwd':8} {ms['tvmini']:9.2f} {torch_ms} {ratio}")


if __name__ == "__main__":
    main()
