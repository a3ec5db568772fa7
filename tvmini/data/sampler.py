"""PyTorch's samplers: what order a ``DataLoader`` reads a map-style dataset in.
``Sampler`` yields indices (``BatchSampler`` lists of them); the random ones draw from
a numpy ``Generator`` (the ``generator`` argument, advanced epoch by epoch), or, without
one, from a generator seeded afresh each epoch from ``tm.manual_seed``'s, as PyTorch's
draw from its global generator."""
import numpy as np

from ..errors import DTypeError, ShapeError


def global_generator():
    """The graph layer's host generator (``tm.manual_seed`` seeds it), imported when a
    draw needs it: reading data loads no compiler otherwise."""
    from ..graph.creation import generator
    return generator()


def as_generator(generator):
    """A numpy Generator from ``generator``: itself, an int seed, or None (one seeded
    from the global generator)."""
    if generator is None:
        return np.random.default_rng(int(global_generator().integers(2 ** 63)))
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise DTypeError(f"generator must be a numpy Generator, an int seed or None, got {type(generator).__name__}")


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices) and usually ``__len__``."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices each epoch (``num_samples`` of them, cycling
    through fresh permutations when more than the dataset's length are asked for), or
    ``num_samples`` indices drawn independently with ``replacement``."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise DTypeError(f"RandomSampler: replacement should be a boolean value, got {replacement!r}")
        if num_samples is not None and (int(num_samples) != num_samples or num_samples <= 0):
            raise ShapeError(f"RandomSampler: num_samples should be a positive integer value, got {num_samples!r}")
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator = None if generator is None else as_generator(generator)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self):
        n, rng = len(self.data_source), self.generator or as_generator(None)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        rounds, rest = divmod(self.num_samples, n)
        order = [i for _ in range(rounds) for i in rng.permutation(n).tolist()]
        return iter(order + rng.permutation(n)[:rest].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = None if generator is None else as_generator(generator)

    def __iter__(self):
        rng = self.generator or as_generator(None)
        return iter([self.indices[i] for i in rng.permutation(len(self.indices)).tolist()])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))``, index ``i`` drawn with probability
    proportional to ``weights[i]`` (with or without ``replacement``)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if int(num_samples) != num_samples or num_samples <= 0 or isinstance(num_samples, bool):
            raise ShapeError(f"WeightedRandomSampler: num_samples should be a positive integer value, "
                             f"got {num_samples!r}")
        if not isinstance(replacement, bool):
            raise DTypeError(f"WeightedRandomSampler: replacement should be a boolean value, got {replacement!r}")
        weights = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype="float64")
        if weights.ndim != 1:
            raise ShapeError(f"WeightedRandomSampler: weights should be a 1-d sequence, got shape {weights.shape}")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ShapeError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ShapeError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(weights)} non-zero weights")
        self.weights, self.num_samples, self.replacement = weights, int(num_samples), replacement
        self.generator = None if generator is None else as_generator(generator)

    def __iter__(self):
        rng = self.generator or as_generator(None)
        drawn = rng.choice(len(self.weights), self.num_samples, self.replacement, self.weights / self.weights.sum())
        return iter(drawn.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size <= 0:
            raise ShapeError(f"BatchSampler: batch_size should be a positive integer value, got {batch_size!r}")
        if not isinstance(drop_last, bool):
            raise DTypeError(f"BatchSampler: drop_last should be a boolean value, got {drop_last!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full if self.drop_last or not rest else full + 1
