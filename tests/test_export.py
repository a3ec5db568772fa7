"""export_library / load_module: a fresh process calls an exported kernel without building."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from strategies import outer_rowsum

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


@pytest.mark.parametrize("name", ["expf", "exp", "memcpy", "memset", "tanhf"])
def test_kernel_named_like_a_c_library_function(name, tmp_path):
    """The kernel's native symbol is prefixed (``runtime.module.entry_symbol``): named
    ``expf`` or ``memcpy`` it used to replace that function for the code LLVM generates
    (which calls them), recursing until the stack overflowed (a segfault)."""
    A = te.placeholder((4096,), name="A")
    B = te.compute((4096,), lambda i: te.exp(A[i]) + A[i], name="B")
    C = te.compute((4096,), lambda i: te.const(0.0, "float32"), name="C")
    s = te.create_schedule([B.op, C.op])
    f = tm.build(s, [A, B, C], name=name)
    a = np.random.rand(4096).astype("float32")
    want = np.exp(a) + a
    for g in (f, _exported_and_loaded(f, tmp_path)):
        b, c = np.zeros_like(a), np.ones_like(a)
        g(a, b, c)
        np.testing.assert_allclose(b, want, rtol=1e-5)
        np.testing.assert_array_equal(c, 0)
        assert g.name == name


@pytest.mark.parametrize("name", ["kérnel", "核", "a😀b"])
def test_kernel_with_a_non_ascii_name(name, tmp_path):
    """A kernel name outside ASCII is mangled into its native symbol
    (``runtime.module.entry_symbol``): llvmlite looks symbols up as ASCII and raised a
    raw UnicodeEncodeError. The module keeps the name, in memory and exported."""
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] * 2, name="B")
    f = tm.build(te.create_schedule(B.op), [A, B], name=name)
    a = np.arange(8, dtype="float32")
    for g in (f, _exported_and_loaded(f, tmp_path)):
        b = np.zeros_like(a)
        g(a, b)
        np.testing.assert_array_equal(b, 2 * a)
        assert g.name == name


def _exported_and_loaded(f, tmp_path):
    path = str(tmp_path / f"{f.name}.so")
    f.export_library(path)
    return tm.runtime.load_module(path)


def test_reexport_to_the_same_path_loads_the_new_kernel(tmp_path):
    """dlopen hands back the library already loaded under a path: loading a kernel
    exported again to the same file gave the first kernel's code and metadata. Each load
    now goes through a private copy, and the module loaded first keeps its own code."""
    def scaled(scale, n):
        A = te.placeholder((n,), name="A")
        B = te.compute((n,), lambda i: A[i] * scale, name="B")
        return tm.build(te.create_schedule(B.op), [A, B], name="k")

    path = str(tmp_path / "k.so")
    scaled(2.0, 4).export_library(path)
    first = tm.runtime.load_module(path)
    scaled(3.0, 6).export_library(path)
    second = tm.runtime.load_module(path)
    a4, a6 = np.arange(4, dtype="float32"), np.arange(6, dtype="float32")
    b4, b6 = np.zeros(4, "float32"), np.zeros(6, "float32")
    second(a6, b6)
    first(a4, b4)
    np.testing.assert_array_equal(b6, a6 * 3)
    np.testing.assert_array_equal(b4, a4 * 2)
    assert [spec.shape for spec in second.arg_specs] == [(6,), (6,)]
    assert not [f for f in os.listdir(tempfile.gettempdir()) if f.startswith(f"tvmini-{os.getpid()}-")]


def test_export_into_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(tm.DataError, match="does not exist"):
        _kernel().export_library(str(tmp_path / "no" / "such" / "k.so"))


@pytest.fixture(scope="module")
def library_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "kernel.so"
    _kernel().export_library(str(path))
    return path.read_bytes()


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_truncated_or_garbage_library_is_a_data_error(library_bytes, tmp_path_factory, data):
    """A library cut short anywhere (or garbage, with or without an ELF header of its
    own) is refused before the dynamic loader maps it: mapped, a truncated file killed
    the process with SIGBUS on the first touch of a page past its end."""
    kind = data.draw(st.sampled_from(["truncated", "garbage", "ELF header + garbage"]), label="kind")
    if kind == "truncated":
        content = library_bytes[:data.draw(st.integers(0, len(library_bytes) - 1), label="bytes kept")]
    else:
        content = data.draw(st.binary(max_size=4096), label="garbage")
        if kind != "garbage":
            content = library_bytes[:64] + content
    path = tmp_path_factory.mktemp("bad") / "kernel.so"
    path.write_bytes(content)
    with pytest.raises(tm.DataError, match="is not a tvmini library"):
        tm.runtime.load_module(str(path))


def _edited(library_bytes, old, new):
    """The library with metadata text ``old`` replaced by ``new`` of the same length."""
    assert len(old) == len(new) and old in library_bytes
    return library_bytes.replace(old, new, 1)


@pytest.mark.parametrize("old, new", [(b'"shape": ["n", 7]', b'"shape": ["n", 5]'),
                                      (b'"name": "row_sq_sum"', b'"name": "row_sq_sun"'),
                                      (b'"args": [', b'"argz": [')])
def test_edited_metadata_is_a_data_error(library_bytes, tmp_path, old, new):
    """The metadata is text inside a whole ELF file: a shape edited there would let the
    kernel write past arrays of the new shape, a name the code lacks failed with a raw
    AttributeError, a missing key with a KeyError. Its digest refuses all three."""
    path = tmp_path / "kernel.so"
    path.write_bytes(_edited(library_bytes, old, new))
    with pytest.raises(tm.DataError, match="does not match its digest"):
        tm.runtime.load_module(str(path))


def test_call_limits_travel_with_the_library(tmp_path):
    """A kernel whose own buffer is (n, n) for (n,) arguments refuses extents that make
    it pass int32 indexing, also when loaded from a library."""
    f = outer_rowsum()
    path = tmp_path / "outer.so"
    f.export_library(str(path))
    g = tm.runtime.load_module(str(path))
    a = np.ones(5, "float32")
    b = np.zeros(5, "float32")
    g(a, b)
    np.testing.assert_array_equal(b, np.full(5, 5.0))
    big = np.ones(46341, "float32")
    with pytest.raises(tm.ShapeError, match=r"n=46341 its buffer T\[n, n\] has 2147488281 elements"):
        g(big, np.zeros(46341, "float32"))

