"""Datasets held as arrays, and the ``DataLoader`` that cuts them into batches.

``ArrayDataset`` keeps whole arrays (images, labels, ...) so a batch is one fancy
index per array rather than a Python loop over items; ``TensorDataset`` (PyTorch's)
is one built from tensors. ``DataLoader`` follows
PyTorch's arguments (``batch_size``, ``shuffle``, ``drop_last``, ``collate_fn``,
``num_workers``) with an explicit ``seed`` so a shuffled run is reproducible: epoch
``e`` of a loader built with seed ``s`` always visits the same order.
"""
import collections
import concurrent.futures

import numpy as np

from ..errors import ShapeError


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


class DataLoader:
    """Iterate a dataset in batches.

    ``dataset`` is anything with ``len()`` whose ``dataset[index_array]`` returns a
    tuple of arrays (``ArrayDataset``, ``MNIST``); other datasets are read item by
    item and batched by ``collate_fn`` (default :func:`collate`: a tuple per tuple
    item, one tensor per array or number item, a dict per dict item). Batches hold
    ``tm.tensor`` (on ``device``) in place of every numpy array, or numpy arrays with
    ``as_numpy=True``; what else a ``collate_fn`` returns (tensors it made itself,
    strings) passes through. ``batch_size=None`` yields single items, as PyTorch's.
    With ``shuffle`` each epoch draws a fresh permutation from a generator seeded once
    with ``seed``.

    ``num_workers > 0`` reads batches ahead in that many background threads
    (``prefetch_factor`` batches each, in order), so decoding and collating overlap
    the training step: numpy's copies and file reads release the GIL. They are
    threads, not PyTorch's worker processes: a dataset needs no pickling, and
    ``worker_init_fn`` and ``multiprocessing_context`` do not exist. ``pin_memory`` is
    accepted and does nothing (batches are made in host memory and copied to a
    device once).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, as_numpy=False,
                 device=None, *, collate_fn=None, num_workers=0, prefetch_factor=2, pin_memory=False):
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ShapeError(f"DataLoader batch_size must be a positive integer or None, got {batch_size!r}")
        if int(num_workers) != num_workers or num_workers < 0:
            raise ShapeError(f"DataLoader num_workers must be a non-negative integer, got {num_workers!r}")
        if int(prefetch_factor) != prefetch_factor or prefetch_factor < 1:
            raise ShapeError(f"DataLoader prefetch_factor must be a positive integer, got {prefetch_factor!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise ShapeError(f"DataLoader collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.as_numpy = bool(as_numpy)
        self.device = device
        self.collate_fn = collate_fn
        self.num_workers, self.prefetch_factor, self.pin_memory = int(num_workers), int(prefetch_factor), pin_memory
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        """Number of batches per epoch."""
        if self.batch_size is None:
            return len(self.dataset)
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def _fetch(self, indices):
        if self.batch_size is None:
            batch = self.dataset[int(indices)]
        elif self.collate_fn is None and isinstance(self.dataset, TensorDataset):
            batch = self.dataset.rows(indices)      # arrays: made tensors below, on the loader's device
        elif self.collate_fn is None and (isinstance(self.dataset, ArrayDataset) or hasattr(self.dataset, "arrays")):
            batch = self.dataset[indices]
        else:
            batch = (self.collate_fn or collate)([self.dataset[int(i)] for i in indices])
        if self.as_numpy:
            return batch
        device = self.device or getattr(self.dataset, "device", None)      # a TensorDataset's
        return _map_arrays(batch, lambda part: _to_tensor(part, device) if isinstance(
            part, (np.ndarray, np.generic)) else part)

    def _batches(self):
        """The indices of every batch of one epoch (an int each when not batching)."""
        count = len(self.dataset)
        order = self._rng.permutation(count) if self.shuffle else np.arange(count)
        if self.batch_size is None:
            yield from order
            return
        for start in range(0, count, self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            yield indices

    def __iter__(self):
        if self.num_workers == 0:
            for indices in self._batches():
                yield self._fetch(indices)
            return
        with concurrent.futures.ThreadPoolExecutor(self.num_workers, thread_name_prefix="tvmini-data") as pool:
            pending = collections.deque()
            try:
                for indices in self._batches():
                    pending.append(pool.submit(self._fetch, indices))
                    if len(pending) >= self.num_workers * self.prefetch_factor:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:                    # an epoch left early: drop what was read ahead
                for future in pending:
                    future.cancel()
