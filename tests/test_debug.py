"""TVMINI_DEBUG levels: each level's output appears at that level and not below it."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tvmini as tm
from tvmini import te
from tvmini.runtime.module import Module

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def restore_level():
    old = tm.get_debug()
    yield
    tm.set_debug(old)


def _build_and_call(name):
    A = te.placeholder((5, 3), name="A")
    B = te.compute((5, 3), lambda i, j: A[i, j] * 3.0, name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[1], factor=2)
    f = tm.build(s, [A, B], name=name)
    a = np.arange(15, dtype="float32").reshape(5, 3)
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_array_equal(b, a * 3)


def _kinds(records):
    """Which kinds of output the 'tvmini' records contain."""
    text = "\n".join(r.getMessage() for r in records if r.name == "tvmini")
    return {
        1: "build dbg_kernel target=llvm" in text,
        2: "call dbg_kernel(float32[5, 3], float32[5, 3])" in text,
        3: "loop IR of dbg_kernel" in text and "for j.outer in range(2)" in text,
        4: "LLVM IR of dbg_kernel" in text and "define void @tvmini_entry_dbg_kernel" in text,
    }


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_each_level_shows_its_output_and_not_more(level, caplog):
    tm.set_debug(level)
    _build_and_call("dbg_kernel")
    assert _kinds(caplog.records) == {k: k <= level for k in (1, 2, 3, 4)}


def test_build_line_names_the_cache_that_served_it(caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    tm.set_debug(1)
    A = te.placeholder((7,), name="A")
    B = te.compute((7,), lambda i: A[i] - 0.25, name="B")
    for _ in range(2):
        tm.build(te.create_schedule(B.op), [A, B], name="dbg_cache_words")
    lines = [r.getMessage() for r in caplog.records if "dbg_cache_words" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].endswith("(miss)") and lines[1].endswith("(in-process cache hit)")
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "tvmini")


def test_calls_are_traced_only_from_level_2():
    for level, traced in [(0, False), (1, False), (2, True), (4, True), (1, False)]:
        tm.set_debug(level)
        assert (Module._trace is not None) == traced


def test_traced_call_still_checks_its_arguments(caplog):
    tm.set_debug(2)
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] + 1.0, name="B")
    f = tm.build(te.create_schedule(B.op), [A, B], name="dbg_checked")
    with pytest.raises(tm.ShapeError, match="dbg_checked"):
        f(np.zeros(5, "float32"), np.zeros(4, "float32"))


@pytest.mark.parametrize("bad", [-1, 5, "2", 1.0, True])
def test_set_debug_refuses_bad_levels(bad):
    with pytest.raises(tm.TVMiniError, match="level"):
        tm.set_debug(bad)


def test_set_debug_returns_the_previous_level():
    tm.set_debug(3)
    assert tm.set_debug(0) == 3
    assert tm.get_debug() == 0


SCRIPT = """
import numpy as np, tvmini as tm
from tvmini import te
A = te.placeholder((6,), name="A")
B = te.compute((6,), lambda i: A[i] * 0.5, name="B")
f = tm.build(te.create_schedule(B.op), [A, B], name="dbg_env_kernel")
f(np.ones(6, "float32"), np.zeros(6, "float32"))
print("done", tm.get_debug())
"""


def _run(env_level, cache_dir):
    env = dict(os.environ, TVMINI_DEBUG=env_level, TVMINI_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def test_env_var_sends_output_to_stderr_never_stdout(tmp_path):
    first = _run("2", tmp_path)
    assert first.stdout == "done 2\n"
    assert "build dbg_env_kernel target=llvm" in first.stderr and "(miss)" in first.stderr
    assert "call dbg_env_kernel(float32[6], float32[6])" in first.stderr
    second = _run("1", tmp_path)                 # a new process finds the kernel on disk
    assert "(disk cache hit)" in second.stderr and "call " not in second.stderr
    quiet = _run("0", tmp_path)
    assert quiet.stderr == "" and quiet.stdout == "done 0\n"


def test_bad_env_value_warns_and_stays_off(tmp_path):
    out = _run("verbose", tmp_path)
    assert out.stdout == "done 0\n"
    assert "TVMINI_DEBUG" in out.stderr and "dbg_env_kernel" not in out.stderr
