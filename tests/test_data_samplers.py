"""PyTorch's dataset classes and samplers in tvmini.data (dataset.py, sampler.py,
worker.py) and the DataLoader options built on them: sampler, batch_sampler, generator,
worker_init_fn, get_worker_info, iterable datasets with and without worker threads, and
PyTorch's errors for contradicting options. Pure Python: no kernels are built."""
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini.data import (ArrayDataset, BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                         RandomSampler, Sampler, SequentialSampler, Subset, SubsetRandomSampler,
                         WeightedRandomSampler, default_collate, get_worker_info, random_split)
from tvmini.errors import DTypeError, IndexingError, ShapeError


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.float64(i * i), i


class Stream(IterableDataset):
    """0 .. n-1; with ``shard`` each worker yields its share, as PyTorch's documentation
    shows for worker processes."""

    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def _labels(loader):
    return [int(v) for batch in loader for v in np.atleast_1d(batch[1].numpy())]


def test_subset_concat_and_add():
    ds = Squares(5)
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3 and sub[0] == (16.0, 4) and sub[2] == (4.0, 2)
    both = ds + Squares(3)
    assert isinstance(both, ConcatDataset) and len(both) == 8 and both.cumulative_sizes == [5, 8]
    assert both[5] == (0.0, 0) and both[4] == (16.0, 4) and both[-1] == (4.0, 2) and both[-8] == (0.0, 0)
    with pytest.raises(IndexingError, match="ConcatDataset: index 8 out of range for 8 items"):
        both[8]
    with pytest.raises(IndexingError, match="ConcatDataset: index -9"):
        both[-9]
    with pytest.raises(ShapeError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([ds, Stream(3)])
    with pytest.raises(ShapeError, match="empty"):
        ConcatDataset([])
    with pytest.raises(NotImplementedError, match="must define __getitem__"):
        Dataset()[0]


def test_random_split_lengths_fractions_and_seeds():
    ds = Squares(10)
    parts = random_split(ds, [3, 7], generator=np.random.default_rng(1))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    again = random_split(ds, [3, 7], generator=1)
    assert [p.indices for p in again] == [p.indices for p in parts]
    # fractions: floored, the remainder handed out one by one from the first (PyTorch's)
    assert [len(p) for p in random_split(ds, [0.33, 0.33, 0.34], generator=0)] == [4, 3, 3]
    assert [len(p) for p in random_split(Squares(7), [0.5, 0.5], generator=0)] == [4, 3]
    tm.manual_seed(5)
    first = random_split(ds, [5, 5])[0].indices
    tm.manual_seed(5)
    assert random_split(ds, [5, 5])[0].indices == first
    with pytest.raises(ShapeError, match="sum of input lengths \\(9\\) does not equal the length of the input "
                                         "dataset \\(10\\)"):
        random_split(ds, [4, 5])
    with pytest.raises(DTypeError, match="generator must be a numpy Generator"):
        random_split(ds, [5, 5], generator="seed")


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 30), st.lists(st.floats(0.01, 1.0), min_size=1, max_size=4))
def test_random_split_fractions_match_pytorch_sizes(n, weights):
    torch = pytest.importorskip("torch")
    fractions = [w / sum(weights) for w in weights]
    fractions[-1] = 1.0 - sum(fractions[:-1])
    if not (abs(sum(fractions) - 1) < 1e-9 and sum(fractions) <= 1 and min(fractions) >= 0):
        return
    want = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
    assert [len(p) for p in random_split(Squares(n), fractions, generator=0)] == want


def test_sequential_random_and_subset_samplers():
    ds = Squares(6)
    assert list(SequentialSampler(ds)) == list(range(6)) and len(SequentialSampler(ds)) == 6
    gen = np.random.default_rng(0)
    sampler = RandomSampler(ds, generator=gen)
    one, two = list(sampler), list(sampler)
    assert sorted(one) == sorted(two) == list(range(6)) and one != two      # a fresh order each epoch
    repeat = RandomSampler(ds, generator=np.random.default_rng(0))
    assert list(repeat) == one
    longer = list(RandomSampler(ds, num_samples=14, generator=1))
    assert len(longer) == 14 and sorted(longer[:6]) == sorted(longer[6:12]) == list(range(6))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=50, generator=2))
    assert len(drawn) == 50 and set(drawn) <= set(range(6)) and len(set(drawn)) < 50
    sub = SubsetRandomSampler([10, 20, 30], generator=3)
    assert sorted(sub) == [10, 20, 30] and len(sub) == 3
    with pytest.raises(ShapeError, match="num_samples should be a positive integer"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(DTypeError, match="replacement should be a boolean"):
        RandomSampler(ds, replacement=1)


def test_weighted_random_sampler_follows_the_weights():
    weights = [0.0, 1.0, 3.0]
    drawn = np.array(list(WeightedRandomSampler(weights, 4000, generator=0)))
    assert 0 not in drawn
    assert abs((drawn == 2).mean() - 0.75) < 0.03
    unique = list(WeightedRandomSampler(tm.tensor(np.array([1.0, 1.0, 5.0, 0.0])), 3, replacement=False,
                                        generator=1))
    assert sorted(unique) == [0, 1, 2]
    with pytest.raises(ShapeError, match="cannot draw 3 samples without replacement from 2"):
        WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)
    with pytest.raises(ShapeError, match="weights must be finite, non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ShapeError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1.0], 0)


@pytest.mark.parametrize("n,size,drop", [(10, 3, False), (10, 3, True), (9, 3, False), (1, 4, False), (0, 2, False)])
def test_batch_sampler_matches_pytorch(n, size, drop):
    torch = pytest.importorskip("torch")
    want = list(torch.utils.data.BatchSampler(range(n), size, drop))
    got = BatchSampler(range(n), size, drop)
    assert list(got) == want and len(got) == len(want)
    with pytest.raises(ShapeError, match="batch_size should be a positive integer"):
        BatchSampler(range(n), 0, drop)
    with pytest.raises(DTypeError, match="drop_last should be a boolean"):
        BatchSampler(range(n), size, None)


def test_loader_with_sampler_batch_sampler_and_generator():
    ds = Squares(7)
    assert _labels(DataLoader(ds, batch_size=3, sampler=[6, 0, 5, 1])) == [6, 0, 5, 1]
    loader = DataLoader(ds, batch_sampler=[[1, 2], [0], [6, 5, 4]])
    assert [b[1].numpy().tolist() for b in loader] == [[1, 2], [0], [6, 5, 4]]
    assert len(loader) == 3 and loader.batch_size is None
    a = _labels(DataLoader(ds, batch_size=2, shuffle=True, generator=np.random.default_rng(4)))
    b = _labels(DataLoader(ds, batch_size=2, shuffle=True, generator=np.random.default_rng(4)))
    assert a == b and sorted(a) == list(range(7))
    singles = list(DataLoader(ds, batch_size=None, sampler=SequentialSampler(ds)))
    assert [s[1] for s in singles] == list(range(7))        # items as they are, as PyTorch's
    assert len(DataLoader(ds, batch_size=2, sampler=RandomSampler(ds, num_samples=11))) == 6
    batch = default_collate([ds[1], ds[2]])
    assert isinstance(batch[0], tm.Tensor) and batch[1].numpy().tolist() == [1, 2]


def test_loader_refuses_what_pytorch_refuses():
    ds = Squares(4)
    with pytest.raises(ShapeError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ShapeError, match="batch_sampler option is mutually exclusive with batch_size"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    for extra in ({"shuffle": True}, {"sampler": [0]}, {"drop_last": True}):
        with pytest.raises(ShapeError, match="batch_sampler option is mutually exclusive"):
            DataLoader(ds, batch_sampler=[[0]], **extra)
    with pytest.raises(ShapeError, match="batch_size=None option disables auto-batching"):
        DataLoader(ds, batch_size=None, drop_last=True)
    for name, value in (("shuffle", True), ("sampler", [0]), ("batch_sampler", [[0]])):
        with pytest.raises(ShapeError, match=f"IterableDataset: expected unspecified {name} option"):
            DataLoader(Stream(3), **{name: value})
    with pytest.raises(ShapeError, match="give seed or generator, not both"):
        DataLoader(ds, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(ShapeError, match="worker_init_fn must be callable"):
        DataLoader(ds, worker_init_fn=3)


@pytest.mark.parametrize("batch_size,drop", [(2, False), (2, True), (None, False), (5, False)])
def test_iterable_dataset_without_workers_matches_pytorch(batch_size, drop):
    torch = pytest.importorskip("torch")

    class TorchStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(7))
    want = [np.asarray(b).tolist() for b in torch.utils.data.DataLoader(TorchStream(), batch_size=batch_size,
                                                                         drop_last=drop)]
    got = [b if batch_size is None else b.numpy().tolist()
           for b in DataLoader(Stream(7), batch_size=batch_size, drop_last=drop)]
    assert got == want


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_iterable_dataset_sharded_by_worker_info_reads_each_item_once(workers):
    got = [v for b in DataLoader(Stream(11), batch_size=2, num_workers=workers) for v in b.numpy().tolist()]
    assert sorted(got) == list(range(11))
    # worker turns, as PyTorch's: batch k comes from worker k % workers while all still read
    first = [b.numpy().tolist() for b in DataLoader(Stream(11), batch_size=2, num_workers=workers)][:workers]
    assert [batch[0] for batch in first] == list(range(workers))


def test_unsharded_iterable_dataset_is_read_once_per_worker_as_in_pytorch():
    got = [v for v in DataLoader(Stream(4, shard=False), batch_size=None, num_workers=2)]
    assert sorted(got) == sorted(list(range(4)) * 2)


def test_workers_keep_the_order_and_call_worker_init_fn():
    seen, lock = [], threading.Lock()

    def init(worker_id):
        info = get_worker_info()
        with lock:
            seen.append((worker_id, info.id, info.num_workers, threading.current_thread().name))

    ds = Squares(23)
    plain = _labels(DataLoader(ds, batch_size=3, shuffle=True, seed=9))
    threaded = _labels(DataLoader(ds, batch_size=3, shuffle=True, seed=9, num_workers=3, prefetch_factor=1,
                                  worker_init_fn=init))
    assert threaded == plain
    assert sorted((w, i, n) for w, i, n, _ in seen) == [(0, 0, 3), (1, 1, 3), (2, 2, 3)]
    assert all(name.startswith("tvmini-data") for *_, name in seen)
    assert get_worker_info() is None


def test_worker_seeds_differ_and_follow_the_generator():
    class Seeds(IterableDataset):
        def __iter__(self):
            return iter([get_worker_info().seed])
    first = sorted(b for b in DataLoader(Seeds(), batch_size=None, num_workers=2,
                                                      generator=np.random.default_rng(3)))
    again = sorted(b for b in DataLoader(Seeds(), batch_size=None, num_workers=2,
                                                      generator=np.random.default_rng(3)))
    assert first == again and first[1] == first[0] + 1


def test_a_worker_error_reaches_the_loop_and_an_early_exit_stops_the_workers():
    class Broken(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            if i == 5:
                raise KeyError("item 5 is missing")
            return np.float64(i)
    with pytest.raises(KeyError, match="item 5 is missing"):
        list(DataLoader(Broken(), batch_size=2, num_workers=2))
    before = threading.active_count()
    for k, _ in enumerate(DataLoader(Stream(1000, shard=False), batch_size=2, num_workers=2)):
        if k == 3:
            break
    import time
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_sampler_base_and_array_dataset_fast_path_with_a_sampler():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2
    ds = ArrayDataset(np.arange(10.0), np.arange(10))
    batches = list(DataLoader(ds, batch_size=2, sampler=Evens(10), as_numpy=True))
    assert [b[1].tolist() for b in batches] == [[0, 2], [4, 6], [8]]
    assert len(DataLoader(ds, batch_size=2, sampler=Evens(10))) == 3
