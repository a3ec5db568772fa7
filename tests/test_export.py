"""export_library / load_module: a fresh process calls an exported kernel without building."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tvmini as tm
from tvmini import te

ROOT = Path(__file__).resolve().parents[1]


def _kernel():
    n = te.var("n")
    A = te.placeholder((n, 7), name="A")
    k = te.reduce_axis((0, 7), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k] * A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=4)
    s[B].parallel(xo)
    return tm.build(s, [A, B], name="row_sq_sum")


def test_fresh_process_loads_and_calls(tmp_path):
    lib = tmp_path / "kernel.so"
    _kernel().export_library(str(lib))
    code = f"""
import sys, numpy as np, tvmini as tm
import tvmini.codegen as cg
f = tm.runtime.load_module({str(lib)!r})
a = np.random.rand(10, 7).astype("float32")
b = np.zeros(10, "float32")
f(a, b)
np.testing.assert_allclose(b, (a * a).sum(1), rtol=1e-5)
assert not cg._compiled, "load_module must not compile anything"
try:
    f(a, np.zeros(9, "float32"))
except tm.ShapeError as e:
    print("checked:", e)
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "n is 10 from A.shape[0] but 9 from B.shape[0]" in out.stdout


def test_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(tm.DataError, match="no exported tvmini library"):
        tm.runtime.load_module(str(tmp_path / "missing.so"))
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(tm.DataError, match="is not a tvmini library"):
        tm.runtime.load_module(str(bogus))


def test_no_compiler_is_a_clear_error(tmp_path, monkeypatch):
    f = _kernel()
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tm.BuildError, match="needs a C compiler"):
        f.export_library(str(tmp_path / "k.so"))
