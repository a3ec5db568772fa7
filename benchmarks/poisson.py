"""Microseconds per ``tm.poisson`` draw of a float32 tensor of rates, next to numpy's
``Generator.poisson`` and ``torch.poisson`` (CPU, 2 threads), for rates all below 10
(tvmini's inversion), all above (PTRS), and mixed.

tvmini runs both of its fixed-step samplers for every element (a vector of elements
mixes rates) and every PTRS attempt whatever came before (28 attempts where PyTorch's
loop stops after 1.2 on average), so its cost per element is the same in all three
rows; PyTorch's grows with the share of small rates (its multiplication method takes
λ + 1 uniforms).

Run: python benchmarks/poisson.py [--n 100000] [--calls 5] [--rounds 3]
"""
import argparse

import numpy as np

import tvmini as tm

from common import print_call_table, torch_or_none


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch = torch_or_none()
    rng = np.random.default_rng(0)
    print(f"{args.n} rates (float32), microseconds per draw")
    cases = []
    for name, (low, high) in (("rates in [0, 10)", (0, 10)), ("rates in [10, 1000)", (10, 1000)),
                              ("rates in [0, 100)", (0, 100))):
        rates = rng.uniform(low, high, args.n).astype("float32")
        ours = tm.tensor(rates)
        theirs = torch.tensor(rates) if torch is not None else None
        cases.append((name, lambda r=ours: tm.poisson(r),
                      lambda r=rates: rng.poisson(r),
                      (lambda r=theirs: torch.poisson(r)) if torch is not None else None))
    print_call_table(cases, args.calls, args.rounds)


if __name__ == "__main__":
    main()
