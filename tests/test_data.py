"""Data layer: IDX reading and its error reports, MNIST checks, the OVERFIT sampler, DataLoader.

IDX files are written by the tests themselves (gz and raw), then damaged in
each way a download can be damaged; each damage must give a DataError naming
the file and what was expected. The shared MNIST test files are read when the
machine has them.
"""
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tvmini as tm
from tvmini.data import ArrayDataset, DataLoader, MNIST, FashionMNIST, read_idx, train_test_sets, write_idx
from tvmini.data import overfit
from tvmini.data import md5_of
from tvmini.data.mnist import DEBIAN_FASHION_MNIST, FASHION_MNIST_FILES, MNIST_FILES

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


def expect_data_error(*fragments):
    """pytest.raises(DataError) whose message must contain every fragment."""
    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(tm.DataError)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            return handled
    return _Check()


def write_mnist_dir(root, n_train=12, n_test=7, compress=True, seed=0):
    """A tiny MNIST-shaped directory: random uint8 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if compress else ""
    for split, count in (("train", n_train), ("t10k", n_test)):
        write_idx(os.path.join(root, f"{split}-images-idx3-ubyte{suffix}"),
                  rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(os.path.join(root, f"{split}-labels-idx1-ubyte{suffix}"),
                  rng.integers(0, 10, count, dtype=np.uint8))
    return root


# --------------------------------------------------------------------------- IDX format

@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4),
       dtype=st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"]),
       compress=st.booleans())
def test_idx_roundtrip(tmp_path_factory, shape, dtype, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    array = (np.arange(np.prod(shape)) % 100 - 50 * (dtype != "uint8")).astype(dtype).reshape(shape)
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path, expected_type=None)
    assert back.dtype == np.dtype(dtype) and back.shape == tuple(shape)
    np.testing.assert_array_equal(back, array)


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.arange(5, dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path, expected_ndim=1), np.arange(5))


def test_idx_truncated_raw(tmp_path):
    path = tmp_path / "t.idx"
    write_idx(path, np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with expect_data_error(str(path), "truncated", "expected 3152", "(4, 28, 28)"):
        read_idx(path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "t.idx"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with expect_data_error(str(path), "truncated", "header"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with expect_data_error(str(path), "truncated", "magic"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "t.idx.gz"
    write_idx(path, np.arange(2000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-30])
    with expect_data_error(str(path), "truncated or corrupt gzip"):
        read_idx(path, expected_type=None)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "t.idx"
    write_idx(path, np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with expect_data_error(str(path), "corrupt", "2 more than"):
        read_idx(path)


def test_idx_wrong_magic(tmp_path):
    path = tmp_path / "t.idx"
    write_idx(path, np.zeros((2, 3), np.uint8))
    data = bytearray(path.read_bytes())
    data[0] = 0x1F   # not 00 00 ...
    path.write_bytes(bytes(data))
    with expect_data_error(str(path), "wrong magic number"):
        read_idx(path)
    write_idx(path, np.zeros((2, 3), np.uint8))
    with expect_data_error(str(path), "wrong magic number", "2 dimensions, expected 3"):
        read_idx(path, expected_ndim=3)
    write_idx(path, np.zeros((2, 3), np.float32))
    with expect_data_error(str(path), "item type 0x0d, expected 0x08"):
        read_idx(path)


def test_idx_missing(tmp_path):
    with expect_data_error("does not exist", "nothere.idx"):
        read_idx(tmp_path / "nothere.idx")


# --------------------------------------------------------------------------- MNIST reader

@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_gz_and_raw(tmp_path, compress):
    write_mnist_dir(tmp_path, compress=compress)
    raw_images = read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if compress else "")))
    train = MNIST(tmp_path, train=True)
    test = MNIST(tmp_path, train=False, flatten=True)
    assert len(train) == 12 and len(test) == 7
    assert train.images.shape == (12, 1, 28, 28) and train.images.dtype == np.float32
    assert test.images.shape == (7, 784)
    assert train.labels.dtype == np.int64 and set(train.labels) <= set(range(10))
    np.testing.assert_allclose(train.images[:, 0] * 255, raw_images, atol=1e-3)
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    images, labels = train[np.array([3, 1])]
    assert images.shape == (2, 1, 28, 28) and labels.shape == (2,)


def test_mnist_missing_file(tmp_path):
    write_mnist_dir(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with expect_data_error("missing file", "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte ", str(tmp_path)):
        MNIST(tmp_path, train=False)
    MNIST(tmp_path, train=True)   # the other split is unaffected


def test_mnist_count_mismatch(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with expect_data_error("12 images", "11 labels", "train-labels-idx1-ubyte.gz"):
        MNIST(tmp_path)


def test_mnist_wrong_image_size_and_label_range(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((12, 28, 27), np.uint8))
    with expect_data_error("28x27", "expected 28x28", "train-images-idx3-ubyte.gz"):
        MNIST(tmp_path)
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(7, 10, np.uint8))
    with expect_data_error("label 10", "expected 0..9"):
        MNIST(tmp_path, train=False)


def test_mnist_labels_and_images_swapped(tmp_path):
    write_mnist_dir(tmp_path)
    os.replace(tmp_path / "train-labels-idx1-ubyte.gz", tmp_path / "x")
    os.replace(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz")
    os.replace(tmp_path / "x", tmp_path / "train-images-idx3-ubyte.gz")
    with expect_data_error("wrong magic number", "1 dimensions, expected 3"):
        MNIST(tmp_path)


def test_md5_mismatch_of_official_name_and_size(tmp_path):
    write_mnist_dir(tmp_path)
    (size, md5), = MNIST_FILES["t10k-labels-idx1-ubyte.gz"]
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b" + bytes(size - 2))
    with expect_data_error("corrupt file", "t10k-labels-idx1-ubyte.gz", md5):
        MNIST(tmp_path, train=False)
    with expect_data_error("t10k-labels-idx1-ubyte.gz", "gzip"):
        MNIST(tmp_path, train=False, verify_md5=False)   # still refused, by the format check


def test_fashion_mnist_uses_its_own_checksums(tmp_path):
    write_mnist_dir(tmp_path)
    assert FashionMNIST.known_files is not MNIST.known_files
    (size, md5), _ = FashionMNIST.known_files["t10k-images-idx3-ubyte.gz"]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(size))
    with expect_data_error(md5):
        FashionMNIST(tmp_path, train=False)
    assert len(FashionMNIST(tmp_path, train=True).classes) == 10
    # Debian's re-compressed copy has its own size and checksum, checked as well
    (debian_size, debian_md5), = FashionMNIST.known_files["t10k-images-idx3-ubyte.gz"][1:]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(debian_size))
    with expect_data_error(debian_md5):
        FashionMNIST(tmp_path, train=False)


@pytest.mark.parametrize("requested,found_table,found", [(FashionMNIST, MNIST_FILES, "mnist"),
                                                          (MNIST, FASHION_MNIST_FILES, "fashion-mnist")])
def test_the_other_datasets_published_files_are_refused(tmp_path, monkeypatch, requested, found_table, found):
    """Both datasets use the same file names: a test file whose name, size and MD5 are those of the
    other dataset's published file (here: the table says this home-made file is the published one)
    is refused, naming both datasets and how to fetch the requested one."""
    write_mnist_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    monkeypatch.setitem(found_table, path.name, ((path.stat().st_size, md5_of(path)),))
    with expect_data_error(str(path), f"{found}'s published", f"{requested.dataset} was requested",
                           f"dataset={requested.dataset!r}"):
        requested(tmp_path, train=False)
    with expect_data_error(f"{requested.dataset} was requested"):
        train_test_sets(tmp_path, dataset=requested.dataset)
    requested(tmp_path, train=True)                               # the other split's files are unknown: read
    requested(tmp_path, train=False, verify_md5=False)           # no checksum checks asked for
    [other] = [cls for cls in (MNIST, FashionMNIST) if cls is not requested]
    assert len(other(tmp_path, train=False)) == 7                # the dataset it is


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_the_missing_file_hint_downloads_the_requested_dataset(tmp_path, dataset):
    with expect_data_error("missing file", f"tvmini.data.download(root, dataset={dataset!r})"):
        train_test_sets(tmp_path, dataset=dataset)


def test_split_when_only_test_files(tmp_path):
    write_mnist_dir(tmp_path, n_test=50)
    for stem in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        os.remove(tmp_path / stem)
    train, test, note = train_test_sets(tmp_path, n_train=40, seed=3)
    assert (len(train), len(test)) == (40, 10) and "40 train / 10 test" in note
    full = MNIST(tmp_path, train=False)
    both = np.concatenate([train.arrays[0], test.arrays[0]])
    # a partition of the test set: every image used exactly once
    assert sorted(map(bytes, both)) == sorted(map(bytes, full.images))
    again, _, _ = train_test_sets(tmp_path, n_train=40, seed=3)
    np.testing.assert_array_equal(again.arrays[1], train.arrays[1])
    default_train, default_test, _ = train_test_sets(tmp_path)   # a small set splits 80 % / 20 %
    assert (len(default_train), len(default_test)) == (40, 10)
    with expect_data_error("cannot split", "n_train=50"):
        train_test_sets(tmp_path, n_train=50)


def test_official_sets_when_train_files_exist(tmp_path):
    write_mnist_dir(tmp_path)
    train, test, note = train_test_sets(tmp_path)
    assert (len(train), len(test)) == (12, 7) and "official" in note


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason=f"shared MNIST files not present at {SHARED_MNIST}")
def test_shared_mnist_test_files():
    test = MNIST(SHARED_MNIST, train=False)
    assert len(test) == 10000 and test.images.shape == (10000, 1, 28, 28)
    assert np.bincount(test.labels).tolist()[:2] == [980, 1135]   # the published class counts
    train, held_out, note = train_test_sets(SHARED_MNIST)
    assert (len(train), len(held_out)) == (8000, 2000) and "8000 train / 2000 test" in note


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST),
                    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST})")
def test_debian_fashion_mnist_full_set():
    train, test, note = train_test_sets(DEBIAN_FASHION_MNIST, dataset="fashion-mnist", flatten=True)
    assert (len(train), len(test)) == (60000, 10000) and "official" in note
    assert train.images.shape == (60000, 784)
    assert np.bincount(train.labels).tolist() == [6000] * 10   # Fashion-MNIST is balanced


# --------------------------------------------------------------------------- OVERFIT

def test_render_word_is_binary_with_text():
    image = overfit.render_word("OVERFIT", height=60, width=200)
    assert image.shape == (60, 200) and image.dtype == np.int64
    assert set(np.unique(image)) == {0, 1}
    assert 0.05 < image.mean() < 0.5
    assert image[0].sum() == 0 and image[:, 0].sum() == 0   # margins are background


def test_load_image_binarises(tmp_path):
    import cv2
    gray = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    image = overfit.load_image(tmp_path / "g.png")
    np.testing.assert_array_equal(image, (gray >= 128).astype(np.int64))
    with expect_data_error("cannot read image"):
        overfit.load_image(tmp_path / "missing.png")


@given(height=st.integers(1, 40), width=st.integers(1, 40), seed=st.integers(0, 2**31 - 1),
       mode=st.sampled_from(["raw", "unit", "three"]))
def test_sampler_labels_match_image(height, width, seed, mode):
    image = np.random.default_rng(seed).integers(0, 2, (height, width))
    sampler = overfit.CoordinateSampler(image, batch_size=257, normalize=mode, seed=seed)
    yx, labels = sampler.sample_pixels()
    assert yx.shape == (257, 2) and labels.dtype == np.int64
    assert (yx >= 0).all() and (yx[:, 0] < height).all() and (yx[:, 1] < width).all()
    # y grows upwards: a coordinate in [k, k+1) lies in image row height-1-k
    rows = height - 1 - yx[:, 0].astype(int)
    np.testing.assert_array_equal(labels, image[rows, yx[:, 1].astype(int)])
    coords, labels2 = next(sampler)
    assert coords.dtype == np.float32 and coords.shape == (257, 2)
    bound = {"raw": max(height, width), "unit": 1.0, "three": 3.0}[mode]
    assert np.abs(coords).max() <= bound + 1e-6


def test_sampler_flip_on_asymmetric_image():
    image = np.zeros((4, 6), np.int64)
    image[0, :] = 1   # the top row of the picture
    yx, labels = overfit.CoordinateSampler(image, batch_size=2000, normalize="raw", seed=1).sample_pixels()
    np.testing.assert_array_equal(labels, (yx[:, 0] >= 3).astype(np.int64))


def test_sampler_seed_determinism():
    image = overfit.render_word(height=40, width=120)
    a = overfit.CoordinateSampler(image, seed=7)
    b = overfit.CoordinateSampler(image, seed=7)
    c = overfit.CoordinateSampler(image, seed=8)
    for _ in range(3):
        (xa, la), (xb, lb), (xc, _) = next(a), next(b), next(c)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(la, lb)
        assert not np.array_equal(xa, xc)
    assert xa.shape == (overfit.TRAIN_BATCH, 2)
    assert next(overfit.CoordinateSampler(image, batch_size=overfit.VALID_BATCH))[0].shape == (4096, 2)


@pytest.mark.parametrize("mode,lo,hi", [("raw", 0.0, None), ("unit", -1.0, 1.0), ("three", -3.0, 3.0)])
def test_image_grid_order_and_range(mode, lo, hi):
    height, width = 5, 7
    grid = overfit.image_grid(height, width, normalize=mode)
    assert grid.shape == (35, 2) and grid.dtype == np.float32
    assert grid.min() > lo and (hi is None or grid.max() < hi)
    # the grid's labels reproduce the image: row-major order, top row first
    image = np.random.default_rng(0).integers(0, 2, (height, width))
    raw = overfit.image_grid(height, width, normalize="raw")
    np.testing.assert_array_equal(overfit.labels_at(image, raw).reshape(height, width), image)
    assert overfit.pixel_accuracy(image.ravel(), image) == 1.0
    assert overfit.pixel_accuracy(1 - image, image) == 0.0


def test_unknown_normalisation():
    with expect_data_error("unknown coordinate normalisation", "'half'"):
        overfit.CoordinateSampler(np.zeros((3, 3)), normalize="half")


# --------------------------------------------------------------------------- DataLoader

@given(n=st.integers(1, 40), batch=st.integers(1, 12), drop_last=st.booleans(), shuffle=st.booleans(),
       seed=st.integers(0, 100))
def test_loader_batches_cover_dataset(n, batch, drop_last, shuffle, seed):
    data = ArrayDataset(np.arange(n) * 10, np.arange(n))
    loader = DataLoader(data, batch, shuffle=shuffle, drop_last=drop_last, seed=seed, as_numpy=True)
    batches = list(loader)
    assert len(batches) == len(loader)
    sizes = [len(b[1]) for b in batches]
    assert all(size == batch for size in sizes[:-1])
    if drop_last:
        assert sum(sizes) == n - n % batch and all(size == batch for size in sizes)
    else:
        assert sum(sizes) == n
    seen = np.concatenate([b[1] for b in batches]) if batches else np.array([], int)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]) if batches else seen, seen * 10)
    assert len(set(seen.tolist())) == len(seen)
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))


def test_loader_shuffle_seeded_and_changes_per_epoch():
    data = ArrayDataset(np.arange(100))
    first = DataLoader(data, 10, shuffle=True, seed=5, as_numpy=True)
    second = DataLoader(data, 10, shuffle=True, seed=5, as_numpy=True)
    epoch1 = np.concatenate([b[0] for b in first])
    epoch2 = np.concatenate([b[0] for b in first])
    np.testing.assert_array_equal(epoch1, np.concatenate([b[0] for b in second]))
    assert not np.array_equal(epoch1, epoch2) and sorted(epoch1) == list(range(100))


def test_loader_on_item_dataset_and_mnist(tmp_path):
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32(i), i * i

    (values, squares), = list(DataLoader(Squares(), 8, as_numpy=True))
    np.testing.assert_array_equal(squares, [0, 1, 4, 9, 16])
    write_mnist_dir(tmp_path)
    images, labels = next(iter(DataLoader(MNIST(tmp_path), 5, as_numpy=True)))
    assert images.shape == (5, 1, 28, 28) and labels.dtype == np.int64


def test_loader_collates_items_as_pytorch():
    """An item that is one array (or a number) batches to one tensor, a dict to a dict of
    batches (the array items were zipped into a tuple of their columns: transposed)."""
    class Rows:
        def __init__(self, make):
            self.make = make

        def __len__(self):
            return 5

        def __getitem__(self, i):
            return self.make(i)

    first = next(iter(DataLoader(Rows(lambda i: np.array([10 * i, 10 * i + 1, 10 * i + 2])), 2)))
    assert isinstance(first, tm.Tensor)
    np.testing.assert_array_equal(first.numpy(), [[0, 1, 2], [10, 11, 12]])
    numbers = [b.numpy().tolist() for b in DataLoader(Rows(lambda i: i), 2)]
    assert numbers == [[0, 1], [2, 3], [4]]
    batch = next(iter(DataLoader(Rows(lambda i: {"x": np.full(2, i, np.float32), "y": i}), 3, as_numpy=True)))
    np.testing.assert_array_equal(batch["x"], [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(batch["y"], [0, 1, 2])
    with pytest.raises(tm.ShapeError, match="numbers of fields"):
        next(iter(DataLoader(Rows(lambda i: (i,) * (1 + i % 2)), 2)))
    image, label, name = next(iter(DataLoader(Rows(lambda i: (np.zeros(2, np.float32), i, f"img{i}.png")), 2)))
    assert name == ("img0.png", "img1.png") and isinstance(image, tm.Tensor) and label.numpy().tolist() == [0, 1]
    batch = next(iter(DataLoader(Rows(lambda i: {"path": f"{i}.png", "y": i}), 3, as_numpy=True)))
    assert batch["path"] == ("0.png", "1.png", "2.png")


def test_loader_collate_fn_workers_and_unbatched_items():
    """A ``collate_fn`` gets each batch's items (its numpy arrays become tensors, the rest
    passes through); ``num_workers`` threads read ahead and give the same batches in the
    same order, also when an epoch is left early; ``batch_size=None`` yields items."""
    class Ragged:
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.arange(i + 1, dtype=np.float32), i

    def pad(items):
        width = max(len(values) for values, _ in items)
        padded = np.stack([np.pad(values, (0, width - len(values))) for values, _ in items])
        return {"x": padded, "lengths": [len(values) for values, _ in items]}

    batches = list(DataLoader(Ragged(), 3, collate_fn=pad))
    assert [b["lengths"] for b in batches] == [[1, 2, 3], [4, 5, 6], [7]]
    assert isinstance(batches[1]["x"], tm.Tensor) and batches[1]["x"].shape == (3, 6)
    data = ArrayDataset(np.arange(40).reshape(20, 2), np.arange(20))
    serial = [y.tolist() for _, y in DataLoader(data, 3, shuffle=True, seed=4, as_numpy=True)]
    for workers in (1, 3):
        loader = DataLoader(data, 3, shuffle=True, seed=4, as_numpy=True, num_workers=workers, prefetch_factor=2,
                            pin_memory=True)
        assert [y.tolist() for _, y in loader] == serial
    loader = DataLoader(data, 2, num_workers=2, as_numpy=True)
    for k, _ in enumerate(loader):
        if k == 1:
            break
    assert [y.tolist() for _, y in loader][0] == [0, 1]
    items = list(DataLoader(data, batch_size=None))
    assert len(items) == 20 and items[3][1].item() == 3 and items[3][0].shape == (2,)
    assert items[3][1].shape == () and items[3][1].dtype == "int64"        # a label stays 0-d, as torch's


def test_loader_rejects_bad_arguments():
    with pytest.raises(tm.ShapeError, match="batch_size"):
        DataLoader(ArrayDataset(np.arange(3)), 0)
    for bad in (dict(num_workers=-1), dict(prefetch_factor=0), dict(collate_fn=3)):
        with pytest.raises(tm.ShapeError, match=next(iter(bad))):
            DataLoader(ArrayDataset(np.arange(3)), 2, **bad)
    with pytest.raises(tm.ShapeError, match=r"\[3, 2\]"):
        ArrayDataset(np.arange(3), np.arange(2))


def test_loader_yields_graph_tensors_by_default():
    images = np.random.default_rng(0).random((10, 1, 28, 28)).astype(np.float32)
    labels = np.arange(10, dtype=np.int64)
    batches = list(DataLoader(ArrayDataset(images, labels), 4, device="cpu"))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    x, y = batches[0]
    assert isinstance(x, tm.Tensor) and isinstance(y, tm.Tensor)
    assert x.dtype == "float32" and y.dtype == "int64" and not x.requires_grad
    np.testing.assert_array_equal(x.numpy(), images[:4])
    np.testing.assert_array_equal(y.numpy(), labels[:4])
