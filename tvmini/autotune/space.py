"""Search spaces: which configs of one tunable compute the tuner measures.

The candidates of each knob come from the schedule rule itself (``topi.Knobs``: the
rule knows its loop structure and its heuristic); this module only decides which
combinations to try within a budget of ``trials`` measurements: all of them when the
space is that small, else the current config plus a random sample drawn with a fixed
seed, so the same call measures the same configs every time.
"""
import random

from ..errors import TuningError


class ConfigSpace:
    """Every config of a compute's :class:`~tvmini.topi.schedule.Knobs`, in a fixed order."""

    def __init__(self, knobs):
        self.knobs = knobs
        self.configs = list(knobs.configs())

    def __len__(self):
        return len(self.configs)

    def candidates(self, trials, seed=0, first=None):
        """Up to ``trials`` distinct configs to measure, ``first`` (default: the rule's
        heuristic config) always first: the whole space when it has at most ``trials``
        configs, else ``first`` and a seeded random sample of the others."""
        if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
            raise TuningError(f"trials must be a positive int, got {trials!r}")
        first = dict(self.knobs.default if first is None else first)
        others = [c for c in self.configs if c != first]
        if len(others) > trials - 1:
            others = random.Random(seed).sample(others, trials - 1)
        return [first] + others

    def __repr__(self):
        return f"ConfigSpace({len(self)} configs of {self.knobs.choices})"
