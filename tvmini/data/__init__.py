"""Datasets and loaders: MNIST / Fashion-MNIST IDX files, the OVERFIT coordinate task, batching.

``tvmini.data.overfit`` is a submodule (render/load the target image, the
coordinate sampler, the full-image grid); the MNIST readers and ``DataLoader``
are re-exported here.
"""
from . import overfit
from .idx import md5_of, read_idx, write_idx
from .loader import ArrayDataset, DataLoader, TensorDataset, collate
# PyTorch's dataset classes, samplers and worker info (data/dataset.py, sampler.py, worker.py)
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, random_split
from .loader import default_collate
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .worker import WorkerInfo, get_worker_info
from .mnist import MNIST, FashionMNIST, download, train_test_sets

__all__ = ["overfit", "read_idx", "write_idx", "md5_of", "ArrayDataset", "TensorDataset", "DataLoader", "collate",
           "MNIST", "FashionMNIST", "download", "train_test_sets",
           # data/dataset.py, sampler.py, worker.py
           "Dataset", "IterableDataset", "Subset", "ConcatDataset", "random_split", "default_collate", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
           "WorkerInfo", "get_worker_info"]
