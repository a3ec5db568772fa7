"""Milliseconds per forward + backward of recurrent layers: tvmini's nn.LSTM / nn.GRU
(eager, and compiled by ``tm.jit``) next to PyTorch CPU (2 threads), and — to show what
the fused cell kernels buy — the same LSTM written as a chain of small graph ops per
step (``xp[t] + h @ W_hh^T`` split into gates, sigmoid/tanh, products: what a layer
without the fused kernels would run; its gradient is autodiff through that chain).
"LSTM packed" packs the batch (lengths drawn between seq/2 and seq, unsorted) inside
the step and runs the layer on the PackedSequence: against "LSTM 1 layer" (the same
batch padded) it shows what packing and the masked steps cost.

Each case runs the whole sequence forward, ``output.sum() + h_n.sum()`` and backward
(parameter gradients set to None first, so nothing accumulates). Random data; kernels
are built (or loaded from the disk cache) in the warm-up calls, which are not timed.
Contenders are timed in alternating rounds of ``--iters`` calls each; the fastest call
is shown (on cores shared with other work the least disturbed figure is the fastest,
see common.py; a median there measured the neighbours).

Run: python benchmarks/rnn.py [--seq 32] [--batch 32] [--input 64] [--hidden 128] [--iters 10] [--rounds 3]
[--only "LSTM 1 layer" "LSTM packed"]
"""
import argparse

import numpy as np

import tvmini as tm
from tvmini import nn

from common import best_of_rounds, best_seconds, torch_or_none


def chained_lstm(lstm):
    """``lstm``'s forward (one layer, one direction) as a chain of graph ops per step."""
    def forward(x):
        T, B, _ = x.shape
        H = lstm.hidden_size
        xp = nn.functional.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0)
        h = c = tm.zeros(B, H)
        outs = []
        for t in range(T):
            gates = xp[t] + nn.functional.linear(h, lstm.weight_hh_l0, lstm.bias_hh_l0)
            i, f, g, o = tm.chunk(gates, 4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs.append(h)
        return tm.stack(outs), h
    return forward


def _tvmini_step(forward, module):
    def step(x):
        module.zero_grad()
        out, h = forward(x)
        loss = out.sum() + h.sum()
        loss.backward()
        return loss
    return step


def _tvmini_cases(args, rng):
    """{name: (step(x) -> loss, x)} for tvmini's contenders."""
    x = tm.tensor(rng.standard_normal((args.seq, args.batch, args.input)).astype("float32"))
    lengths = _lengths(args)
    cases = {}
    for name, make in (("LSTM 1 layer", lambda: nn.LSTM(args.input, args.hidden)),
                       ("LSTM 2 layers", lambda: nn.LSTM(args.input, args.hidden, num_layers=2)),
                       ("GRU 1 layer", lambda: nn.GRU(args.input, args.hidden)),
                       ("GRU 2 layers", lambda: nn.GRU(args.input, args.hidden, num_layers=2))):
        module = make()
        lstm = isinstance(module, nn.LSTM)
        forward = (lambda m, lstm: lambda x: (lambda out, fin: (out, fin[0] if lstm else fin))(*m(x)))(module, lstm)
        step = _tvmini_step(forward, module)
        cases[name] = {"eager": step, "jit": tm.jit(step)}
        if name == "LSTM 1 layer":
            cases[name]["chained"] = _tvmini_step(chained_lstm(module), module)
            packed = _tvmini_step(lambda x, m=module: (lambda out, fin: (out.data, fin[0]))(
                *m(nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))), module)
            cases["LSTM packed"] = {"eager": packed, "jit": tm.jit(packed)}
    return cases, x


def _lengths(args):
    """The packed case's sequence lengths: between seq/2 and seq, one of them seq."""
    lengths = np.random.default_rng(1).integers(max(args.seq // 2, 1), args.seq + 1, size=args.batch)
    lengths[args.batch // 2] = args.seq
    return lengths.tolist()


def _torch_cases(torch, args, rng):
    x = torch.tensor(rng.standard_normal((args.seq, args.batch, args.input)).astype("float32"))
    cases = {}
    for name, make in (("LSTM 1 layer", lambda: torch.nn.LSTM(args.input, args.hidden)),
                       ("LSTM 2 layers", lambda: torch.nn.LSTM(args.input, args.hidden, num_layers=2)),
                       ("GRU 1 layer", lambda: torch.nn.GRU(args.input, args.hidden)),
                       ("GRU 2 layers", lambda: torch.nn.GRU(args.input, args.hidden, num_layers=2))):
        module = make()

        def step(module=module):
            module.zero_grad(set_to_none=True)
            out, fin = module(x)
            h = fin[0] if isinstance(fin, tuple) else fin
            (out.sum() + h.sum()).backward()
        cases[name] = step
    lstm = torch.nn.LSTM(args.input, args.hidden)
    lengths = _lengths(args)

    def packed():
        lstm.zero_grad(set_to_none=True)
        out, (h, _) = lstm(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))
        (out.data.sum() + h.sum()).backward()
    cases["LSTM packed"] = packed
    return cases


def _fastest_ms(fn, iters):
    return best_seconds(fn, iters) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="time only these cases (by name)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    torch = torch_or_none(args.torch_threads)
    ours, x = _tvmini_cases(args, rng)
    theirs = _torch_cases(torch, args, rng) if torch is not None else {}
    print(f"forward + backward, seq {args.seq}, batch {args.batch}, input {args.input}, hidden {args.hidden} "
          f"(ms, fastest of {args.rounds} rounds of {args.iters} calls)")
    print(f"{'':16}{'eager':>9}{'jit':>9}{'chained':>9}{'torch':>9}{'eager/torch':>13}{'jit/torch':>11}")
    for name, contenders in ours.items():
        if args.only and name not in args.only:
            continue
        timers = {}
        for kind, step in contenders.items():
            for _ in range(2):                  # build (or load) the kernels; trace the jit
                step(x)
            timers[kind] = (lambda step: lambda: _fastest_ms(lambda: step(x), args.iters))(step)
        if name in theirs:
            theirs[name]()
            timers["torch"] = (lambda fn: lambda: _fastest_ms(fn, args.iters))(theirs[name])
        best = best_of_rounds(timers, args.rounds)
        cells = [f"{best[k]:9.2f}" if k in best else f"{'-':>9}" for k in ("eager", "jit", "chained", "torch")]
        ratios = "".join(f"{best[k] / best['torch']:{w}.2f}x" if "torch" in best else f"{'-':>{w + 1}}"
                         for k, w in (("eager", 12), ("jit", 10)))
        print(f"{name:16}{''.join(cells)}{ratios}")


if __name__ == "__main__":
    main()
