"""PyTorch's dataset classes: ``Dataset`` (map-style: ``len`` and ``ds[i]``),
``IterableDataset`` (a stream: ``iter(ds)``), ``Subset``, ``ConcatDataset`` and
``random_split``. Plain Python over any items; the loader batches them."""
import bisect
import math

import numpy as np

from ..errors import IndexingError, ShapeError
from .sampler import as_generator


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(i)`` (and ``__len__`` for the
    samplers that need it). ``a + b`` concatenates two datasets."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of items: subclasses define ``__iter__``. A ``DataLoader`` with
    ``num_workers > 0`` iterates one copy of the stream in each worker thread (as
    PyTorch does in each worker process), so a dataset that should be read once splits
    itself with :func:`tvmini.data.get_worker_info` (its ``id`` and ``num_workers``),
    e.g. by yielding every ``num_workers``-th item from position ``id``."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        raise ShapeError("IterableDataset: datasets that are streams are not concatenated with +")


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (``Subset(ds, idx)[k]`` is
    ``ds[idx[k]]``); a list of indices reads the dataset item by item."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets one after another: item ``i`` is read from the dataset whose
    range holds it (found by bisecting the running lengths); negative indices count
    from the end."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ShapeError("ConcatDataset: datasets should not be an empty iterable")
        for ds in self.datasets:
            if isinstance(ds, IterableDataset):
                raise ShapeError(f"ConcatDataset does not support IterableDataset ({type(ds).__name__})")
        self.cumulative_sizes = list(np.cumsum([len(ds) for ds in self.datasets]).tolist())

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        total = len(self)
        if index < 0:
            if -index > total:
                raise IndexingError(f"ConcatDataset: index {index} out of range for {total} items")
            index += total
        if index >= total:
            raise IndexingError(f"ConcatDataset: index {index} out of range for {total} items")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def _split_lengths(total, lengths):
    """Integer lengths summing to ``total``: given as such, or fractions summing to 1
    (each floored, then the remainder handed out one by one from the first, PyTorch's
    rule)."""
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        if any(not 0 <= f <= 1 for f in lengths):
            raise ShapeError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        counts = [int(math.floor(total * f)) for f in lengths]
        for k in range(total - sum(counts)):
            counts[k % len(counts)] += 1
        return counts
    if any(int(n) != n or n < 0 for n in lengths):
        raise ShapeError(f"random_split: lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    if sum(lengths) != total:
        raise ShapeError(f"random_split: sum of input lengths ({int(sum(lengths))}) does not equal the length of "
                         f"the input dataset ({total})")
    return [int(n) for n in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping ``Subset``s of the given ``lengths`` (or
    fractions of its length summing to 1), after one random permutation drawn from
    ``generator`` (a numpy Generator or an int seed; None: the seeded generator of
    ``tm.manual_seed``)."""
    counts = _split_lengths(len(dataset), lengths)
    order = as_generator(generator).permutation(len(dataset)).tolist()
    splits, start = [], 0
    for n in counts:
        splits.append(Subset(dataset, order[start:start + n]))
        start += n
    return splits
