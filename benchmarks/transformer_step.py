"""Milliseconds per training step (forward + backward + Adam) of a small transformer
encoder classifier (2 TransformerEncoderLayers, d_model 64, 4 heads, feed-forward 128,
sequence 32, batch 16, dropout 0.1, a causal mask), tvmini eager and ``tm.jit``, next to
PyTorch CPU; and one ``MultiheadAttention`` forward with weights, and ``F.unfold`` +
``F.fold`` of a 16x32x28x28 batch with a 3x3 window, eager.

Each contender is timed as the fastest of ``--rounds`` alternating rounds
(``common.best_of_rounds``) of the median of ``--steps`` steps, after warm-up steps that
build (or load) the kernels.
Run: python benchmarks/transformer_step.py [--steps 10] [--rounds 3] [--torch-threads 2]
"""
import argparse
import statistics
import time

import numpy as np

import tvmini as tm

from common import best_of_rounds, torch_or_none

N, S, D, H, FF, CLASSES = 16, 32, 64, 4, 128, 10


def classifier(nn):
    """Two encoder layers and a linear head, from ``nn`` (tvmini's or torch's)."""
    layer = nn.TransformerEncoderLayer(D, H, FF, dropout=0.1, batch_first=True)
    return nn.Sequential(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Flatten(),
                         nn.Linear(S * D, CLASSES))


def train_step(lib, model, mask):
    """One Adam training step of ``model`` on a batch ``(x, y)``: the same code for
    ``lib`` tvmini and torch."""
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        out = model[2](model[1](model[0](x, mask=mask, is_causal=True)))
        loss = lib.nn.functional.cross_entropy(out, y)
        loss.backward()
        opt.step()
        return loss
    return step


def median_ms(fn, steps):
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=2)
    args = parser.parse_args()
    torch = torch_or_none(args.torch_threads)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((N, S, D)).astype("float32"), rng.integers(0, CLASSES, N)
    x, y = tm.tensor(xs), tm.tensor(ys)
    mask = tm.nn.Transformer.generate_square_subsequent_mask(S)
    eager = train_step(tm, classifier(tm.nn), mask)
    jitted = tm.jit(train_step(tm, classifier(tm.nn), mask))
    timers = {"tvmini eager": lambda: median_ms(lambda: eager(x, y).item(), args.steps),
              "tvmini jit": lambda: median_ms(lambda: jitted(x, y).item(), args.steps)}
    mha = tm.nn.MultiheadAttention(D, H, batch_first=True)
    images = tm.tensor(rng.standard_normal((16, 32, 28, 28)).astype("float32"))
    ops = {"mha forward": lambda: mha(x, x, x)[1].numpy(),
           "unfold+fold": lambda: tm.nn.functional.fold(tm.nn.functional.unfold(images, 3, padding=1), (28, 28), 3,
                                                        padding=1).numpy()}
    if torch is not None:
        torch.manual_seed(0)
        tx, ty = torch.tensor(xs), torch.tensor(ys)
        tmask = torch.nn.Transformer.generate_square_subsequent_mask(S)
        tstep = train_step(torch, classifier(torch.nn), tmask)
        timers["torch"] = lambda: median_ms(lambda: tstep(tx, ty).item(), args.steps)
        tmha, timages = torch.nn.MultiheadAttention(D, H, batch_first=True), torch.tensor(images.numpy())
        ops["torch mha forward"] = lambda: tmha(tx, tx, tx)[1].detach().numpy()
        ops["torch unfold+fold"] = lambda: torch.nn.functional.fold(
            torch.nn.functional.unfold(timages, 3, padding=1), (28, 28), 3, padding=1).numpy()
    for fn in list(timers.values()) + list(ops.values()):       # warm-up: build or load the kernels
        fn()
    best = best_of_rounds(timers, args.rounds)
    best.update(best_of_rounds({k: (lambda f=f: median_ms(f, args.steps)) for k, f in ops.items()}, args.rounds))
    print(f"transformer encoder step (N={N}, S={S}, d_model={D}, heads={H}, ff={FF}, 2 layers)")
    for name, seconds in best.items():
        print(f"  {name:<20} {seconds * 1e3:9.2f} ms")
    if torch is not None:
        print(f"  eager/torch {best['tvmini eager'] / best['torch']:.2f}x, jit/torch "
              f"{best['tvmini jit'] / best['torch']:.2f}x, mha {best['mha forward'] / best['torch mha forward']:.2f}x, "
              f"unfold+fold {best['unfold+fold'] / best['torch unfold+fold']:.2f}x")


if __name__ == "__main__":
    main()
