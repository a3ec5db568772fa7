"""Datasets and loaders: MNIST / Fashion-MNIST IDX files, the OVERFIT coordinate task, batching.

``tvmini.data.overfit`` is a submodule (render/load the target image, the
coordinate sampler, the full-image grid); the MNIST readers and ``DataLoader``
are re-exported here.
"""
from . import overfit
from .idx import md5_of, read_idx, write_idx
from .loader import ArrayDataset, DataLoader, TensorDataset, collate
from .mnist import MNIST, FashionMNIST, download, train_test_sets

__all__ = ["overfit", "read_idx", "write_idx", "md5_of", "ArrayDataset", "TensorDataset", "DataLoader", "collate",
           "MNIST", "FashionMNIST", "download", "train_test_sets"]
