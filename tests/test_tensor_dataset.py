"""tvmini.data.TensorDataset (PyTorch's): rows of tensors indexed together, batched by
DataLoader (shuffled, drop_last, single items, numpy batches), and its errors."""
import numpy as np
import pytest

import tvmini as tm
from tvmini.data import DataLoader, TensorDataset
from tvmini.errors import ShapeError


def _dataset():
    x = tm.tensor(np.arange(20, dtype="float32").reshape(5, 2, 2))
    y = tm.tensor(np.array([3, 1, 4, 1, 5]))
    return x, y, TensorDataset(x, y)


def test_items_are_tuples_of_rows():
    x, y, ds = _dataset()
    assert len(ds) == 5 and ds.tensors == (x, y)
    xi, yi = ds[2]
    assert isinstance(xi, tm.Tensor) and isinstance(yi, tm.Tensor)
    assert xi.shape == (2, 2) and yi.shape == () and yi.dtype == "int64"
    np.testing.assert_array_equal(xi.numpy(), x.numpy()[2])
    assert yi.item() == 4
    np.testing.assert_array_equal(ds[-1][1].numpy(), 5)
    np.testing.assert_array_equal(ds[np.array([0, 3])][0].numpy(), x.numpy()[[0, 3]])


def test_dataloader_batches_like_pytorch():
    x, y, ds = _dataset()
    batches = list(DataLoader(ds, batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2, 2), (2, 2, 2), (1, 2, 2)]
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y.numpy())
    shuffled = list(DataLoader(ds, batch_size=2, shuffle=True, drop_last=True, seed=0))
    assert len(shuffled) == 2
    for bx, by in shuffled:     # the rows stay paired
        np.testing.assert_array_equal(by.numpy(), y.numpy()[(bx.numpy()[:, 0, 0] // 4).astype(int)])
    (nx, ny), = list(DataLoader(ds, batch_size=8, as_numpy=True))
    assert isinstance(nx, np.ndarray) and ny.dtype == np.int64
    singles = list(DataLoader(ds, batch_size=None))
    assert len(singles) == 5 and singles[4][1].item() == 5
    assert [b[1].numpy().tolist() for b in DataLoader(ds, batch_size=3, num_workers=2)] == [[3, 1, 4], [1, 5]]


def test_errors():
    with pytest.raises(ShapeError, match="TensorDataset arrays differ in length: \\[3, 4\\]"):
        TensorDataset(tm.zeros(3, 2), tm.zeros(4))
    with pytest.raises(ShapeError, match="TensorDataset takes tensors"):
        TensorDataset(np.zeros(3))
    with pytest.raises(ShapeError, match="TensorDataset: tensors need a first axis"):
        TensorDataset(tm.tensor(1.0))
    with pytest.raises(ShapeError, match="TensorDataset needs at least one array"):
        TensorDataset()
