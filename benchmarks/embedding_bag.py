"""Milliseconds per forward + backward of ``F.embedding_bag`` (bags given by offsets,
gradient to the weight) for each mode: tvmini eager and compiled by ``tm.jit``, the same
bags as ``F.embedding`` then a mean over each bag's rows (what a model without
EmbeddingBag runs, fixed-length bags), and PyTorch CPU (2 threads), side by side; the
line "embedding" is ``F.embedding`` of the same indices (bags as rows) alone, summed.

tvmini's backward needs no atomics (as topi's other scatters): eagerly on CPU the
positions are grouped by row on the host first, so each row reduces over its own
entries; a jitted step (other indices at every replay) sorts the indices on the device
and each row sums its run of them (``topi.segment_sum``), as does ``F.embedding``'s
backward for a large table: the cost grows with the indices (times log) plus the table,
not with num_embeddings * indices; the vocabulary sizes below show both.

Run: python benchmarks/embedding_bag.py [--bags 64] [--bag 20] [--dim 64] [--vocab 1000 10000]
[--iters 10] [--rounds 3] [--torch-threads 2]
"""
import argparse

import numpy as np

import tvmini as tm
from tvmini import nn

from common import best_of_rounds, best_seconds, torch_or_none


def _ours(table, indices, offsets, mode, bags):
    """{name: step()} of tvmini's forward + backward: an EmbeddingBag module (its
    ``zero_grad`` tells ``tm.jit`` the gradient is cleared, so one trace serves every call),
    or for ``mode`` "embedding" an Embedding module on the bags as rows."""
    if mode == "embedding":
        emb = nn.Embedding(*table.shape)
        emb.load_state_dict({"weight": table})
        rows = indices.reshape(bags, -1)

        def lookup():
            emb.zero_grad()
            emb(rows).sum().backward()
        return {"eager": lookup, "jit": tm.jit(lookup)}
    bag = nn.EmbeddingBag.from_pretrained(tm.tensor(table), freeze=False, mode=mode)

    def step():
        bag.zero_grad()
        bag(indices, offsets).sum().backward()
    cases = {"eager": step, "jit": tm.jit(step)}
    if mode == "mean":
        rows = indices.reshape(bags, -1)

        def chained():
            bag.zero_grad()
            nn.functional.embedding(rows, bag.weight).mean(1).sum().backward()
        cases["emb+mean"] = chained
    return cases


def _theirs(torch, table, indices, offsets, mode, bags):
    weight = torch.tensor(table, requires_grad=True)
    if mode == "embedding":
        rows = indices.reshape(bags, -1)

        def lookup():
            weight.grad = None
            torch.nn.functional.embedding(rows, weight).sum().backward()
        return lookup

    def step():
        weight.grad = None
        torch.nn.functional.embedding_bag(indices, weight, offsets, mode=mode).sum().backward()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=64)
    parser.add_argument("--bag", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--vocab", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch = torch_or_none(args.torch_threads)
    rng = np.random.default_rng(0)
    print(f"forward + backward, {args.bags} bags of {args.bag}, dim {args.dim} (ms, fastest of {args.rounds} rounds "
          f"of {args.iters} calls)")
    print(f"{'':18}{'eager':>9}{'jit':>9}{'emb+mean':>10}{'torch':>9}{'eager/torch':>13}{'jit/torch':>11}")
    for vocab in args.vocab:
        table = rng.standard_normal((vocab, args.dim)).astype("float32")
        idx = rng.integers(0, vocab, size=args.bags * args.bag)
        off = np.arange(args.bags) * args.bag
        for mode in ("sum", "mean", "max", "embedding"):
            steps = _ours(table, tm.tensor(idx), tm.tensor(off), mode, args.bags)
            if torch is not None:
                steps["torch"] = _theirs(torch, table, torch.tensor(idx), torch.tensor(off), mode, args.bags)
            for step in steps.values():
                step()
                step()                  # build (or load) the kernels; trace the jit
            timers = {k: (lambda s: lambda: best_seconds(s, args.iters) * 1e3)(s) for k, s in steps.items()}
            best = best_of_rounds(timers, args.rounds)
            cells = "".join(f"{best[k]:{w}.2f}" if k in best else f"{'-':>{w}}"
                            for k, w in (("eager", 9), ("jit", 9), ("emb+mean", 10), ("torch", 9)))
            ratios = "".join(f"{best[k] / best['torch']:{w}.2f}x" if "torch" in best else f"{'-':>{w + 1}}"
                             for k, w in (("eager", 12), ("jit", 10)))
            print(f"{f'V {vocab} {mode}':18}{cells}{ratios}")


if __name__ == "__main__":
    main()
