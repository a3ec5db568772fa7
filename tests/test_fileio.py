"""fileio.atomic_open: a file is replaced whole or not at all."""
import os

import pytest

from tvmini.fileio import atomic_open


def test_the_file_is_replaced_only_when_the_block_succeeds(tmp_path):
    path = tmp_path / "state.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write(b"half of the new")
            raise RuntimeError("crash while writing")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["state.bin"]
    with atomic_open(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["state.bin"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def test_only_whole_file_modes():
    with pytest.raises(ValueError, match="whole files"):
        with atomic_open("x", "ab"):
            pass


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
