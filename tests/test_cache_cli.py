"""Kernel inventory: tm.kernel_cache_info() and ``python -m tvmini cache info|clear``."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import tvmini as tm
from tvmini import te
from tvmini.debug import format_bytes
from tvmini.runtime import disk_cache

ROOT = Path(__file__).resolve().parents[1]


def _kernel(name, offset):
    A = te.placeholder((11,), name="A")
    B = te.compute((11,), lambda i: A[i] + offset, name="B")
    return tm.build(te.create_schedule(B.op), [A, B], name=name)


def _record(name):
    (record,) = [k for k in tm.kernel_cache_info().kernels if k.name == name]
    return record


def test_second_identical_build_counts_a_hit(tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    f = _kernel("inventory_hit", 0.5)
    first = _record("inventory_hit")
    assert (first.target, first.origin, first.hits) == ("llvm", "compiled", 0)
    assert first.build_seconds == f.build_seconds > 0
    _kernel("inventory_hit", 0.5)
    assert _record("inventory_hit").hits == 1
    _kernel("inventory_hit", 0.75)               # a different program: its own record
    assert [k.hits for k in tm.kernel_cache_info().kernels if k.name == "inventory_hit"] == [1, 0]
    a, b = np.zeros(11, "float32"), np.zeros(11, "float32")
    f(a, b)
    np.testing.assert_array_equal(b, a + 0.5)


def test_info_reports_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    _kernel("inventory_disk", 1.5)
    info = tm.kernel_cache_info()
    files = list(tmp_path.glob("*.o")) + list(tmp_path.glob("*.manifest"))
    assert info.disk_path == str(tmp_path)
    assert info.disk_entries == len(files) == 2                       # the object code and its build manifest
    assert info.disk_bytes == sum(f.stat().st_size for f in files) > 0
    text = str(info)
    assert "inventory_disk" in text and str(tmp_path) in text and "2 entries" in text
    monkeypatch.setenv("TVMINI_CACHE", "0")
    assert tm.kernel_cache_info().disk_path is None and "off" in str(tm.kernel_cache_info())


def _cli(*args, **env):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-m", "tvmini", *args], env=env, capture_output=True, text=True,
                         timeout=120)
    return out


def test_cli_info_and_clear_manage_the_cache_dir(tmp_path, monkeypatch):
    """Object code, build manifests and emulated CUDA modules are counted, labelled, and
    cleared alike; other files in the folder are neither."""
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    _kernel("inventory_cli_a", 2.5)
    _kernel("inventory_cli_b", 3.5)
    disk_cache.store("0" * 64, b"an emulated module", ".emulated")
    (tmp_path / "unrelated.txt").write_text("not a cache entry")
    kinds = {suffix: list(tmp_path.glob("*" + suffix)) for suffix in (".o", ".manifest", ".emulated")}
    assert [len(files) for files in kinds.values()] == [2, 2, 1]
    total = sum(f.stat().st_size for files in kinds.values() for f in files)
    info = _cli("cache", "info", TVMINI_CACHE_DIR=str(tmp_path))
    assert info.returncode == 0, info.stderr
    assert str(tmp_path) in info.stdout and f"entries: 5 files, {format_bytes(total)} ({total} bytes)" in info.stdout
    for label, suffix in (("object code and PTX", ".o"), ("build manifests", ".manifest"),
                          ("emulated CUDA modules", ".emulated")):
        size = sum(f.stat().st_size for f in kinds[suffix])
        assert f"{label} (*{suffix}): {len(kinds[suffix])} files, {format_bytes(size)}" in info.stdout
    cleared = _cli("cache", "clear", TVMINI_CACHE_DIR=str(tmp_path))
    assert cleared.returncode == 0, cleared.stderr
    assert f"removed 5 files ({format_bytes(total)})" in cleared.stdout
    assert "build manifests (*.manifest): 2 files" in cleared.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unrelated.txt"]
    after = _cli("cache", "info", TVMINI_CACHE_DIR=str(tmp_path))
    assert "entries: 0 files, " in after.stdout


def test_cli_with_cache_off_and_bad_usage(tmp_path):
    off = _cli("cache", "info", TVMINI_CACHE="0")
    assert off.returncode == 0 and "off" in off.stdout
    bad = _cli("cache", "shrink")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
