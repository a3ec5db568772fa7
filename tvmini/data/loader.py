"""Datasets held as arrays, and the ``DataLoader`` that cuts them into batches.

``ArrayDataset`` keeps whole arrays (images, labels, ...) so a batch is one fancy
index per array rather than a Python loop over items; ``TensorDataset`` (PyTorch's)
is one built from tensors. ``DataLoader`` follows
PyTorch's arguments (``batch_size``, ``shuffle``, ``sampler``, ``batch_sampler``,
``drop_last``, ``collate_fn``, ``num_workers``, ``worker_init_fn``, ``generator``) with
an explicit ``seed`` as well, so a shuffled run is reproducible: epoch ``e`` of a loader
built with seed ``s`` always visits the same order.
"""
import itertools

import numpy as np

from ..errors import ShapeError
from . import worker
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler, as_generator


class ArrayDataset:
    """Equal-length arrays indexed together: ``ds[i]`` and ``ds[index_array]`` give a tuple."""

    def __init__(self, *arrays):
        if not arrays:
            raise ShapeError(f"{type(self).__name__} needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ShapeError(f"{type(self).__name__} arrays differ in length: {lengths} (shapes "
                             f"{[a.shape for a in arrays]})")
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return self.rows(index)

    def rows(self, index):
        """The arrays' rows at ``index`` (an int or an index array), as a tuple of arrays."""
        return tuple(a[index] for a in self.arrays)

    def subset(self, indices):
        """A new ``ArrayDataset`` of the items at ``indices`` (copies them)."""
        indices = np.asarray(indices)
        return ArrayDataset(*(a[indices] for a in self.arrays))


class TensorDataset(ArrayDataset):
    """PyTorch's ``TensorDataset``: tensors of one length along axis 0 indexed together;
    ``ds[i]`` is the tuple of their rows ``i`` (tensors on each one's device). It keeps
    host copies of the tensors (taken once, here), so the rows are data without
    autograd history, and a ``DataLoader`` batches them with one index per tensor, on
    the tensors' device unless the loader names one."""

    def __init__(self, *tensors):
        from ..graph import Tensor
        if not all(isinstance(t, Tensor) for t in tensors):
            raise ShapeError(f"TensorDataset takes tensors, got {[type(t).__name__ for t in tensors]}")
        if any(t.ndim == 0 for t in tensors):
            raise ShapeError(f"TensorDataset: tensors need a first axis to index, got shapes "
                             f"{[t.shape for t in tensors]}")
        super().__init__(*(t.numpy() for t in tensors))
        self.tensors = tensors
        devices = {t.device for t in tensors}
        self.device = devices.pop() if len(devices) == 1 else None

    def __getitem__(self, index):
        return tuple(_to_tensor(row, t.device) for row, t in zip(self.rows(index), self.tensors))


def _to_tensor(array, device):
    """Wrap a numpy batch as a graph tensor (imported here: reading data needs no compiler).
    A numpy scalar (an unbatched label) stays 0-d (``np.ascontiguousarray`` would make it 1-d)."""
    from ..graph import tensor
    return tensor(np.require(array, requirements="C"), device=device)


def collate(items):
    """One batch from a list of dataset items, as PyTorch's ``default_collate``: tuples
    and lists of fields give a tuple of batched fields, dicts a dict, and an array,
    tensor or number one array stacked along a new first axis; strings (file names,
    labels) pass through as a tuple of strings."""
    first = items[0]
    if isinstance(first, (str, bytes)):
        return tuple(items)
    if isinstance(first, dict):
        return {key: collate([item[key] for item in items]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(item) != len(first) for item in items):
            raise ShapeError(f"DataLoader: dataset items have different numbers of fields "
                             f"({sorted({len(item) for item in items})})")
        return tuple(collate(list(column)) for column in zip(*items))
    return np.stack([np.asarray(item) for item in items])


def _map_arrays(batch, fn):
    """``batch`` (an array, or tuples/dicts of them) with ``fn`` applied to every array
    (strings left as they are)."""
    if isinstance(batch, (str, bytes)):
        return batch
    if isinstance(batch, dict):
        return {key: _map_arrays(value, fn) for key, value in batch.items()}
    if isinstance(batch, tuple):
        return tuple(_map_arrays(part, fn) for part in batch)
    return fn(batch)


def default_collate(batch):
    """PyTorch's ``default_collate``: :func:`collate`'s batch with every array made a
    ``tm.tensor`` (on the host)."""
    return _map_arrays(collate(batch), lambda part: _to_tensor(part, None) if isinstance(
        part, (np.ndarray, np.generic)) else part)


class DataLoader:
    """Iterate a dataset in batches.

    A map-style dataset (``len`` and ``dataset[i]``) is read in the order of ``sampler``
    (default: sequential, or a :class:`RandomSampler` with ``shuffle``), cut into batches
    of ``batch_size`` by a :class:`BatchSampler`, or read a batch per index list of
    ``batch_sampler``; ``batch_size=None`` yields single items, as PyTorch's. An
    ``ArrayDataset`` (or one with ``arrays``, such as ``MNIST``) is read with one fancy
    index per batch; other datasets item by item, batched by ``collate_fn`` (default
    :func:`collate`: a tuple per tuple item, one tensor per array or number item, a dict
    per dict item). An :class:`IterableDataset` is read as a stream (no sampler, no
    shuffle). Batches hold ``tm.tensor`` (on ``device``) in place of every numpy array,
    or numpy arrays with ``as_numpy=True``; what else a ``collate_fn`` returns passes
    through. PyTorch's mutually exclusive options raise as PyTorch's do.

    Shuffling draws from ``generator`` (a numpy Generator, advanced epoch by epoch), or
    from one seeded once with ``seed``, so epoch ``e`` of a loader built with seed ``s``
    always visits the same order; with neither, from ``tm.manual_seed``'s generator.
    Each epoch also draws the workers' base seed from that generator first (with or
    without workers, as PyTorch's loader does), so the order does not depend on
    ``num_workers``.

    ``num_workers > 0`` reads batches ahead in that many background threads
    (``prefetch_factor`` batches each), arranged as PyTorch's worker processes (see
    ``tvmini.data.worker``: ``get_worker_info``, ``worker_init_fn``, an iterable dataset
    iterated once per worker), so decoding and collating overlap the training step:
    numpy's copies and file reads release the GIL. Threads need no pickling;
    ``multiprocessing_context`` does not exist. ``pin_memory`` is accepted and does
    nothing (batches are made in host memory and copied to a device once).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, as_numpy=False,
                 device=None, *, sampler=None, batch_sampler=None, collate_fn=None, num_workers=0,
                 prefetch_factor=2, pin_memory=False, worker_init_fn=None, generator=None):
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ShapeError(f"DataLoader batch_size must be a positive integer or None, got {batch_size!r}")
        if int(num_workers) != num_workers or num_workers < 0:
            raise ShapeError(f"DataLoader num_workers must be a non-negative integer, got {num_workers!r}")
        if int(prefetch_factor) != prefetch_factor or prefetch_factor < 1:
            raise ShapeError(f"DataLoader prefetch_factor must be a positive integer, got {prefetch_factor!r}")
        for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise ShapeError(f"DataLoader {name} must be callable, got {type(fn).__name__}")
        if seed is not None and generator is not None:
            raise ShapeError("DataLoader: give seed or generator, not both")
        _check_exclusive(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last)
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.as_numpy = bool(as_numpy)
        self.device = device
        self.collate_fn, self.worker_init_fn = collate_fn, worker_init_fn
        self.num_workers, self.prefetch_factor, self.pin_memory = int(num_workers), int(prefetch_factor), pin_memory
        self.generator = np.random.default_rng(seed) if seed is not None else (
            None if generator is None else as_generator(generator))
        if batch_sampler is not None:           # it makes the batches: PyTorch's loader has no batch_size then
            batch_size, drop_last = None, False
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        if isinstance(dataset, IterableDataset):
            self.sampler = self.batch_sampler = None
            return
        if sampler is None:
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        if batch_sampler is None and self.batch_size is not None:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler

    def __len__(self):
        """Number of batches per epoch (an iterable dataset's from its ``len``, if it has one)."""
        if self.sampler is None:
            count = len(self.dataset)
            if self.batch_size is None:
                return count
            full, rest = divmod(count, self.batch_size)
            return full if self.drop_last or rest == 0 else full + 1
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _finish(self, batch):
        """``batch`` with its numpy arrays made tensors (unless ``as_numpy``)."""
        if self.as_numpy:
            return batch
        device = self.device or getattr(self.dataset, "device", None)      # a TensorDataset's
        return _map_arrays(batch, lambda part: _to_tensor(part, device) if isinstance(
            part, (np.ndarray, np.generic)) else part)

    def _fetch(self, indices):
        """The batch at ``indices`` (a list from the batch sampler, or one index)."""
        if self.batch_sampler is None:
            batch = self.dataset[int(indices)]
        elif self.collate_fn is None and isinstance(self.dataset, TensorDataset):
            batch = self.dataset.rows(np.asarray(indices, dtype="int64"))   # made tensors on the loader's device
        elif self.collate_fn is None and (isinstance(self.dataset, ArrayDataset) or hasattr(self.dataset, "arrays")):
            batch = self.dataset[np.asarray(indices, dtype="int64")]
        else:
            batch = (self.collate_fn or collate)([self.dataset[int(i)] for i in indices])
        return self._finish(batch)

    def _stream(self, _tasks=None):
        """The batches of an iterable dataset, read from one fresh iterator of it."""
        items = iter(self.dataset)
        if self.batch_size is None:
            for item in items:
                yield self._finish(item)
            return
        while True:
            chunk = list(itertools.islice(items, self.batch_size))
            if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                return
            yield self._finish((self.collate_fn or collate)(chunk))

    def __iter__(self):
        base_seed = int(as_generator(self.generator).integers(2 ** 62))
        iterable = self.sampler is None
        if self.num_workers == 0:
            if iterable:
                yield from self._stream()
            else:
                yield from map(self._fetch, self.batch_sampler if self.batch_sampler is not None else self.sampler)
            return
        tasks = None if iterable else (self.batch_sampler if self.batch_sampler is not None else self.sampler)
        produce = self._stream if iterable else (lambda own: map(self._fetch, own))
        yield from worker.run(self.num_workers, self.prefetch_factor, self.dataset, base_seed, self.worker_init_fn,
                              produce, tasks)


def _check_exclusive(dataset, batch_size, shuffle, sampler, batch_sampler, drop_last):
    """PyTorch's refusals of options that contradict each other."""
    if isinstance(dataset, IterableDataset):
        for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value not in (None, False):
                raise ShapeError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                 f"but got {name}={value!r}")
        return
    if sampler is not None and shuffle:
        raise ShapeError("DataLoader: sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
        raise ShapeError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                         "sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ShapeError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                         "with drop_last")
