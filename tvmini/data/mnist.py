"""MNIST and Fashion-MNIST from their standard IDX files, checked, plus a downloader.

A directory holds the four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzip-compressed
(``.gz``) or raw. Reading checks magic numbers, the 28x28 image size, that image
and label counts agree and that labels are 0..9; a ``.gz`` file that has the name
and byte size of an official file must also have its published MD5 (a different
size means a re-compressed or home-made file, which only the format checks
judge). Both datasets use the same file names, so a file that is the other
dataset's published one (Fashion-MNIST requested, MNIST's digits found, or the
reverse) is refused too. Every failure is a :class:`tvmini.errors.DataError`
naming the file.

``train_test_sets`` serves the examples: the official train/test sets when the
training files exist, otherwise a deterministic 8,000 / 2,000 split of the
10,000-image test set (what a machine with only the test files can still do).
"""
import os
import shutil
import tempfile
import urllib.request

import numpy as np

from ..errors import DataError
from .idx import md5_of, read_idx
from .loader import ArrayDataset

#: (images, labels) file stems of each split.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Known gzip files: name -> ((size in bytes, MD5), ...). The first entry is the file as published with
#: the dataset; Fashion-MNIST's second is Debian's ``dataset-fashion-mnist`` package, which stores the same
#: data re-compressed without the original file name (23-24 bytes shorter).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ((9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),),
    "train-labels-idx1-ubyte.gz": ((28881, "d53e105ee54ea40749a09fcbcd1e9432"),),
    "t10k-images-idx3-ubyte.gz": ((1648877, "9fb629c4189551a2d022fa330f9573f3"),),
    "t10k-labels-idx1-ubyte.gz": ((4542, "ec29112dd5afa0611ce80d1b7f02629c"),),
}
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ((26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                                   (26421856, "cf8536b0aa1a6ac5fa3f23001093305c")),
    "train-labels-idx1-ubyte.gz": ((29515, "25c81989df183df01b3e8a0aad5dffbe"),
                                   (29491, "10bea18fdb374794d4bb42e356e600c9")),
    "t10k-images-idx3-ubyte.gz": ((4422102, "bef4ecab320f06d8554ea6380940ec79"),
                                  (4422079, "f78720b4224f21cce2f2ccf2d7a94c9a")),
    "t10k-labels-idx1-ubyte.gz": ((5148, "bb300cfdad3c16e7a12a480ee83cd310"),
                                  (5125, "0d30e22e447f3c33dab9ed536400ac01")),
}
#: Where Debian's ``dataset-fashion-mnist`` package installs the full Fashion-MNIST.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

#: Public mirrors tried in order by ``download``.
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"],
}


def find_file(root, stem, dataset="mnist"):
    """The path of ``stem.gz`` or ``stem`` under ``root``; a DataError naming both, and how to
    download ``dataset``, when neither exists."""
    for candidate in (os.path.join(root, stem + ".gz"), os.path.join(root, stem)):
        if os.path.isfile(candidate):
            return candidate
    raise DataError(f"missing file: neither {stem}.gz nor {stem} is in {root!r} "
                    f"(tvmini.data.download(root, dataset={dataset!r}) fetches the {dataset} files "
                    f"when the machine has internet)")


def verify_checksum(path, dataset):
    """Check ``path`` against the published files of ``dataset`` (a key of ``DATASETS``) when its
    name and size are those of one of them, and refuse it when it is a published file of another
    dataset: MNIST and Fashion-MNIST share file names and format, so nothing else tells them apart."""
    name = os.path.basename(path)
    size = os.path.getsize(path)
    actual = None
    for other, cls in DATASETS.items():
        for known_size, md5 in cls.known_files.get(name, ()):
            if size != known_size:
                continue
            actual = actual or md5_of(path)
            if other == dataset and actual != md5:
                raise DataError(f"corrupt file {path}: MD5 {actual}, expected {md5} for the known {name} "
                                f"of {size} bytes; delete it and download it again")
            if other != dataset and actual == md5:
                raise DataError(f"{path} is {other}'s published {name} (MD5 {md5}), but {dataset} was "
                                f"requested: the directory holds the other dataset; use {dataset}'s files "
                                f"(tvmini.data.download(root, dataset={dataset!r})) or ask for {other}")


class MNIST(ArrayDataset):
    """The MNIST digits from IDX files in ``root``.

    ``images`` are float32 in [0, 1] of shape (N, 1, 28, 28), or (N, 784) with
    ``flatten=True``; ``labels`` are int64 in 0..9. ``ds[i]`` / ``ds[indices]``
    give ``(images, labels)``.
    """

    dataset = "mnist"
    known_files = MNIST_FILES
    classes = [str(digit) for digit in range(10)]

    def __init__(self, root, train=True, flatten=False, verify_md5=True):
        self.root = os.fspath(root)
        self.train = bool(train)
        images_stem, labels_stem = SPLIT_FILES["train" if train else "test"]
        images_path = find_file(self.root, images_stem, self.dataset)
        labels_path = find_file(self.root, labels_stem, self.dataset)
        if verify_md5:
            verify_checksum(images_path, self.dataset)
            verify_checksum(labels_path, self.dataset)
        raw_images = read_idx(images_path, expected_ndim=3)
        labels = read_idx(labels_path, expected_ndim=1)
        if raw_images.shape[1:] != (28, 28):
            raise DataError(f"corrupt file {images_path}: images of {raw_images.shape[1]}x{raw_images.shape[2]} "
                            f"pixels, expected 28x28")
        if len(raw_images) != len(labels):
            raise DataError(f"{images_path} holds {len(raw_images)} images but {labels_path} holds {len(labels)} "
                            f"labels: expected the same count")
        if len(labels) and labels.max() >= len(self.classes):
            raise DataError(f"corrupt file {labels_path}: label {int(labels.max())}, expected 0..{len(self.classes) - 1}")
        images = raw_images.astype(np.float32) / np.float32(255.0)
        images = images.reshape(len(images), -1) if flatten else images[:, None, :, :]
        self.files = (images_path, labels_path)
        super().__init__(images, labels.astype(np.int64))

    @property
    def images(self):
        return self.arrays[0]

    @property
    def labels(self):
        return self.arrays[1]


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: the same files and format as MNIST, with its own checksums and class names."""

    dataset = "fashion-mnist"
    known_files = FASHION_MNIST_FILES
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST}


def _dataset_class(dataset):
    try:
        return DATASETS[dataset]
    except KeyError:
        raise DataError(f"unknown dataset {dataset!r}: expected one of {sorted(DATASETS)}") from None


def train_test_sets(root, dataset="mnist", flatten=False, n_train=None, seed=0):
    """``(train_set, test_set, description)`` for training examples.

    With the training files in ``root`` these are the official sets. With only
    the test files, the test set is split by a permutation drawn from
    ``numpy.random.default_rng(seed)``: the first ``n_train`` images train, the
    rest test (8,000 / 2,000 by default; 80 % / 20 % for a set of at most 8,000
    images), and ``description`` says so.
    """
    cls = _dataset_class(dataset)
    test = cls(root, train=False, flatten=flatten)
    try:
        find_file(root, SPLIT_FILES["train"][0], dataset)
        find_file(root, SPLIT_FILES["train"][1], dataset)
    except DataError:
        if n_train is None:      # 8,000 / 2,000 for the real 10k test set; 80 % / 20 % of a smaller one
            n_train = 8000 if len(test) > 8000 else int(0.8 * len(test))
        if not 0 < n_train < len(test):
            raise DataError(f"cannot split the {len(test)}-image test set of {root!r} with n_train={n_train}") from None
        order = np.random.default_rng(seed).permutation(len(test))
        train_part, test_part = test.subset(order[:n_train]), test.subset(order[n_train:])
        note = (f"{dataset}: only the test files are in {root}; split its {len(test)} images into "
                f"{len(train_part)} train / {len(test_part)} test (permutation seed {seed})")
        return train_part, test_part, note
    train = cls(root, train=True, flatten=flatten)
    return train, test, f"{dataset}: official {len(train)} train / {len(test)} test images from {root}"


def download(root, dataset="mnist", mirrors=None, timeout=60):
    """Fetch the four gzip files of ``dataset`` into ``root``, verifying each MD5.

    Files already present with the right checksum are kept. Each file is tried
    from every mirror in turn (``mirrors`` overrides ``MIRRORS[dataset]``) and
    written atomically, so an interrupted download never leaves a plausible
    partial file. Returns ``root``; raises DataError when no mirror delivers a
    file with the published checksum.
    """
    known_files = _dataset_class(dataset).known_files
    mirrors = list(mirrors or MIRRORS[dataset])
    os.makedirs(root, exist_ok=True)
    for name, ((size, md5), *_) in known_files.items():
        target = os.path.join(root, name)
        if os.path.isfile(target) and md5_of(target) == md5:
            continue
        failures = []
        for base in mirrors:
            url = base + name
            handle, partial = tempfile.mkstemp(dir=root, prefix=name + ".", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out)
                actual = md5_of(partial)
                if actual != md5:
                    failures.append(f"{url}: MD5 {actual}, expected {md5}")
                    continue
                os.replace(partial, target)
                break
            except OSError as err:
                failures.append(f"{url}: {err}")
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
        else:
            raise DataError(f"could not download {name} ({size} bytes, MD5 {md5}) for {dataset}: "
                            + "; ".join(failures))
    return root
