"""The kernel caches: in-process reuse, the on-disk cache across processes, corruption."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import tvmini as tm
from tvmini import te
from tvmini.runtime import disk_cache

ROOT = Path(__file__).resolve().parents[1]

BUILD_AND_CHECK = """
import numpy as np, tvmini as tm
from tvmini import te
A = te.placeholder((37, 19), name="A")
B = te.compute((37, 19), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
s = te.create_schedule(B.op)
xo, xi = s[B].split(B.op.axis[1], factor=8)
s[B].parallel(B.op.axis[0])
f = tm.build(s, [A, B], name="cached_kernel")
a = np.random.rand(37, 19).astype("float32")
b = np.zeros_like(a)
f(a, b)
np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)
print("ok")
"""


def _run(tmp_path):
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", BUILD_AND_CHECK], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _entries(tmp_path):
    return sorted(tmp_path.glob("*.o"))


def test_same_program_twice_in_a_process_compiles_once():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 3.0, name="B")
    f1 = tm.build(te.create_schedule(B.op), [A, B], name="twice")
    f2 = tm.build(te.create_schedule(B.op), [A, B], name="twice")
    assert f1._keepalive[0] is f2._keepalive[0]          # the same JIT engine
    a, b = np.arange(8, dtype="float32"), np.zeros(8, "float32")
    f2(a, b)
    np.testing.assert_array_equal(b, a + 3)


def test_second_process_loads_from_disk(tmp_path):
    _run(tmp_path)
    (entry,) = _entries(tmp_path)
    stamp = entry.stat().st_mtime_ns
    _run(tmp_path)
    assert _entries(tmp_path) == [entry]
    assert entry.stat().st_mtime_ns == stamp             # read, not rewritten


def test_truncated_entry_is_rebuilt_not_loaded(tmp_path):
    _run(tmp_path)
    (entry,) = _entries(tmp_path)
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2])
    _run(tmp_path)
    assert entry.read_bytes() == good


def test_corrupted_payload_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    disk_cache.store("k", b"object code")
    assert disk_cache.load("k") == b"object code"
    path = tmp_path / "k.o"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert disk_cache.load("k") is None
    assert not path.exists()
    assert disk_cache.info() == (0, 0)


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TVMINI_CACHE", "0")
    disk_cache.store("k", b"x")
    assert disk_cache.load("k") is None
    assert _entries(tmp_path) == []


SOURCES = """
import json, tvmini as tm
from tvmini import te
A = te.placeholder((1024,), name="A")
B = te.compute((1024,), lambda i: A[i] * 2.0 + 1.0, name="B")
f = tm.build(te.create_schedule(B.op), [A, B], name="sources_kernel")
(record,) = tm.kernel_cache_info().kernels
print(json.dumps(dict(origin=record.origin, ll=f.get_source("ll"), asm=f.get_source("asm"))))
"""


def test_disk_hit_shows_the_sources_of_the_code_it_runs(tmp_path):
    """A kernel loaded from disk reports the optimized LLVM IR and the assembly of the
    object code it runs (LLVM vectorizes this loop to ymm code), not of its input IR."""
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    reports = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", SOURCES], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        reports.append(json.loads(out.stdout))
    compiled, loaded = reports
    assert (compiled["origin"], loaded["origin"]) == ("compiled", "disk")
    assert loaded["asm"] == compiled["asm"]
    assert loaded["ll"] == compiled["ll"]
