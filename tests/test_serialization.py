"""tm.save / tm.load: round trips of nested state dicts, atomic writes, corrupt files."""
import os

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn, optim
from tvmini.errors import DataError, TVMiniError


def trained_pair():
    tm.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = tm.randn(8, 3), tm.tensor(np.array([0, 1] * 4))
    for _ in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt


def test_round_trip_of_model_and_optimizer_state(tmp_path):
    model, opt = trained_pair()
    path = tmp_path / "ckpt.npz"
    tm.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 7, "note": "hi",
             "history": [0.5, 0.25], "shape": (2, 3), "none": None, "labels": np.arange(3)}, path)
    ckpt = tm.load(path)
    assert ckpt["epoch"] == 7 and ckpt["note"] == "hi" and ckpt["history"] == [0.5, 0.25]
    assert ckpt["shape"] == (2, 3) and ckpt["none"] is None and ckpt["labels"].tolist() == [0, 1, 2]
    fresh, _ = trained_pair()
    for p in fresh.parameters():
        nn.init.zeros_(p)
    fresh.load_state_dict(ckpt["model"])
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
        assert a.dtype == b.dtype
    assert ckpt["model"]["1.num_batches_tracked"].dtype == "int64"
    state = ckpt["optim"]["state"]
    assert sorted(state) == [0, 1, 2, 3, 4, 5] and state[0]["step"] == 2
    opt2 = optim.Adam(fresh.parameters(), lr=1.0)
    opt2.load_state_dict(ckpt["optim"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)


def test_file_is_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "plain.npz"
    tm.save({"w": tm.tensor(np.arange(4.0))}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    with pytest.raises(TVMiniError, match="cannot save"):
        tm.save({"f": lambda: 0}, tmp_path / "bad.npz")
    with pytest.raises(TVMiniError, match="object array"):
        tm.save({"o": np.array([{}], dtype=object)}, tmp_path / "bad.npz")


def test_truncated_and_corrupt_files_raise_data_error(tmp_path):
    path = tmp_path / "c.npz"
    tm.save({"w": tm.tensor(np.random.default_rng(0).normal(size=(64, 64)))}, path)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        (tmp_path / "t.npz").write_bytes(data[:cut])
        with pytest.raises(DataError, match="t.npz"):
            tm.load(tmp_path / "t.npz")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    (tmp_path / "f.npz").write_bytes(bytes(flipped))
    with pytest.raises(DataError, match="corrupt"):
        tm.load(tmp_path / "f.npz")
    (tmp_path / "g.npz").write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError):
        tm.load(tmp_path / "g.npz")
    np.savez(tmp_path / "foreign.npz", x=np.zeros(2))
    with pytest.raises(DataError, match="not a tvmini checkpoint"):
        tm.load(tmp_path / "foreign.npz")
    with pytest.raises(DataError, match="no checkpoint"):
        tm.load(tmp_path / "missing.npz")


def test_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tm.save({"epoch": 1}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        tm.save({"epoch": 2}, path)
    monkeypatch.undo()
    assert tm.load(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_pytorchs_load_keywords(tmp_path):
    """``tm.load(path, map_location="cpu", weights_only=True)`` as PyTorch scripts write
    it: map_location is the device; a checkpoint holds no code either way."""
    path = tmp_path / "w.npz"
    tm.save({"w": tm.tensor(np.arange(3, dtype="float32"))}, path)
    for kwargs in ({"map_location": "cpu"}, {"map_location": tm.cpu(0), "weights_only": False},
                   {"weights_only": True}):
        loaded = tm.load(path, **kwargs)
        assert loaded["w"].device == tm.cpu(0) and loaded["w"].numpy().tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="map_location is a device or device string"):
        tm.load(path, map_location=lambda storage, loc: storage)
    with pytest.raises(DataError, match="give one of them"):
        tm.load(path, "cpu", map_location="cpu")
