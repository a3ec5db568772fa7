"""Vector math through glibc's libmvec: a vectorized exp, log, tanh, sin, cos, pow, sigmoid,
erf, tan, atan, asin, acos, exp2, expm1, log2, log10, log1p or trunc calls the vector
function for whole vectors (where libmvec has one), and agrees with numpy within a few
ulp on every input — infinities, NaN, zeros, subnormals and overflow included — for
every extent (whole vectors, narrower tail vectors and a scalar tail)."""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tvmini as tm
from tvmini import te
from tvmini.codegen import vecmath
from tvmini.codegen.llvm_target import vector_bits

from strategies import examples

ROOT = Path(__file__).resolve().parents[1]
NUMPY = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
         "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "power": lambda v: np.power(v, 1.5),
         "erf": np.vectorize(math.erf), "tan": np.tan, "atan": np.arctan, "asin": np.arcsin, "acos": np.arccos,
         "exp2": np.exp2, "expm1": np.expm1, "log2": np.log2, "log10": np.log10, "log1p": np.log1p,
         "trunc": np.trunc}
SPECIALS = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 88.7, 89.0, -104.0, -745.0, 710.0, 1e-40, 1e30, -1e30]
needs_libmvec = pytest.mark.skipif(vecmath.library() is None or vecmath.vector_function("exp", "float32", 4) is None,
                                   reason="no glibc libmvec (or no SSE4.1) here: vector math falls back to libm")


def _kernel(name, dtype, n):
    A = te.placeholder((n,), dtype=dtype, name="A")
    if name == "power":
        B = te.compute((n,), lambda i: te.power(A[i], te.const(1.5, dtype)), name="B")
    else:
        B = te.compute((n,), lambda i: getattr(te, name)(A[i]), name="B")
    s = te.create_schedule(B.op)
    s[B].vectorize(B.op.axis[0])
    return tm.build(s, [A, B], name=f"vec_{name}")


def _assert_close_in_ulp(got, want, dtype, ulps=4):
    with np.errstate(over="ignore", invalid="ignore"):    # float64 results beyond float32; inf - inf
        want = want.astype(dtype)
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        near = np.abs(got.astype("float64") - want) <= ulps * np.spacing(np.abs(want))
    bad = ~(same | near)
    assert not bad.any(), f"{np.count_nonzero(bad)} values off, first: got {got[bad][:3]}, want {want[bad][:3]}"


@examples(60)
@given(st.sampled_from(sorted(NUMPY)), st.sampled_from(["float32", "float64"]), st.integers(1, 40), st.data())
def test_vectorized_math_matches_numpy(name, dtype, n, data):
    values = data.draw(arrays(dtype, n, elements=st.one_of(st.sampled_from(SPECIALS),
                                                           st.floats(-200, 200, width=32 if dtype == "float32" else 64))))
    out = np.empty(n, dtype)
    _kernel(name, dtype, n)(values, out)
    with np.errstate(all="ignore"):
        want = NUMPY[name](values.astype("float64"))
    _assert_close_in_ulp(out, want, dtype)


@needs_libmvec
def test_whole_vectors_call_the_vector_functions():
    lanes = vector_bits() // 32
    if vecmath.vector_function("exp", "float32", lanes) is None:
        pytest.skip(f"libmvec has no {lanes}-lane float32 exp for this CPU")
    source = _kernel("tanh", "float32", 4 * lanes + 4).get_source("ll")
    called = set(re.findall(r"@(_ZGV\w+)\(", source))
    assert vecmath.vector_function("tanh", "float32", lanes) in called      # the whole vectors
    assert vecmath.vector_function("tanh", "float32", 4) in called          # the 4-lane tail
    assert "@tanhf(" not in source


@needs_libmvec
def test_exported_kernel_links_the_vector_library(tmp_path):
    lib = tmp_path / "tanh.so"
    _kernel("tanh", "float32", 29).export_library(str(lib))
    code = f"""
import numpy as np, tvmini as tm
f = tm.runtime.load_module({str(lib)!r})
a = np.linspace(-5, 5, 29, dtype="float32")
b = np.zeros(29, "float32")
f(a, b)
np.testing.assert_allclose(b, np.tanh(a), rtol=1e-6, atol=1e-7)
print("ok")
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
