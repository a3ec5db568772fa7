"""What the LLVM backend tells LLVM (issue 3, part 3): ``unroll`` really unrolls
constant-extent loops, buffer arguments are ``noalias``, float arithmetic may contract
into FMA (and by default nothing more: no reassociation, so results do not depend on how
LLVM vectorizes), the GEMM recipe's reduction runs on vector FMAs through its schedule,
and the opt-in fast-math (``build(..., fastmath=True)`` / target ``"llvm -fast-math"``)
lets LLVM vectorize a plain sum while results stay within float tolerance and NaN/inf
still propagate."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tvmini as tm
from tvmini import te
from tvmini.codegen.llvm_target import vector_bits

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
import gemm_tutorial  # noqa: E402

REGISTER = {512: "zmm", 256: "ymm", 128: "xmm"}[vector_bits()]


def _scale_shift(shape, name, unroll_axis=1):
    A = te.placeholder(shape, name="A")
    B = te.compute(shape, lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].unroll(B.op.axis[unroll_axis])
    return s, A, B, tm.build(s, [A, B], name=name)


def test_unroll_replaces_a_constant_loop_by_copies():
    s, A, B, f = _scale_shift((16, 4), "hint_unroll")
    assert "unrolled for j" in str(tm.lower(s, [A, B], name="hint_unroll"))      # marked in the loop IR ...
    built = f.get_source("tir")                                                   # ... and gone once built
    assert "for j" not in built
    assert [f"B[i * 4 + {k}]" in built for k in (1, 2, 3)] == [True] * 3 and "B[i * 4] =" in built
    a = np.random.rand(16, 4).astype("float32")
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)


def test_unroll_of_a_symbolic_extent_stays_a_loop():
    n = te.var("n")
    A = te.placeholder((n, 3), name="A")
    B = te.compute((n, 3), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].unroll(B.op.axis[0])
    f = tm.build(s, [A, B], name="hint_unroll_symbolic")
    assert re.search(r"for i in range\(n\)", f.get_source("tir"))
    a = np.random.rand(5, 3).astype("float32")
    b = np.zeros_like(a)
    f(a, b)
    np.testing.assert_allclose(b, a + 1, rtol=1e-6)


def test_buffer_arguments_are_noalias():
    *_, f = _scale_shift((8, 8), "hint_noalias")
    (define,) = [line for line in f.get_source("ll").splitlines() if line.startswith("define") and "hint_noalias" in line]
    assert define.count("ptr noalias") == 2, define


def test_heap_buffers_are_cache_line_aligned():
    """A temporary too big for the stack (a GEMM's packed operand) starts on a cache line:
    malloc's 16-byte alignment made every 64-byte row of a packed panel straddle two
    lines, which measured 1.6x slower on a GEMM reading a packed 1 MB operand."""
    A = te.placeholder((128, 256), name="A")
    T = te.compute((128, 256), lambda i, j: A[i, j] + 1.0, name="T")          # 128 KB: on the heap
    B = te.compute((128, 256), lambda i, j: T[i, j] * 2.0, name="B")
    f = tm.build(te.create_schedule(B.op), [A, B], name="hint_heap")
    calls = re.findall(r"call .*ptr @(\w+)\(i64 (\d+)", f.get_source("ll"))
    assert calls == [("aligned_alloc", "64")], calls
    a = np.random.rand(128, 256).astype("float32")
    b = np.empty_like(a)
    f(a, b)
    np.testing.assert_allclose(b, (a + 1) * 2, rtol=1e-6)


def test_float_arithmetic_contracts_to_fma_and_is_not_reassociated():
    *_, f = _scale_shift((8, 64), "hint_contract")
    ll = f.get_source("ll")
    float_ops = re.findall(r"= (fmul|fadd)( [a-z ]*?)? (<\d+ x float>|float) ", ll)
    assert float_ops and all((flags or "").split() == ["contract"] for _, flags, _ in float_ops), float_ops
    assert "reassoc" not in ll and " fast " not in ll
    # LLVM's own vectorizer picks its width by the CPU's tuning (256 bits on AMD's AVX-512
    # cores), so any vector register of at least 256 bits shows the contraction.
    wide = re.compile(r"vfmadd\w*\s.*%[yz]mm" if vector_bits() >= 256 else r"vfmadd\w*\s.*%xmm")
    assert any(wide.search(line) for line in f.get_source("asm").splitlines())


def test_the_gemm_recipe_reduction_runs_on_vector_fma():
    """With no reassociation LLVM cannot vectorize a reduction loop by itself; the
    recipe's schedule puts a data axis innermost and vectorizes that instead."""
    s, tensors = gemm_tutorial.packed(64)
    asm = tm.build(s, tensors, name="hint_gemm").get_source("asm")
    assert sum("vfmadd" in line and REGISTER in line for line in asm.splitlines()) >= 4


# ------------------------------------------------------------------ fast-math (opt-in)

LANES = vector_bits() // 32
VECTOR_FADD = re.compile(r"= fadd [a-z ]*<\d+ x float>")


def _row_sum(m, n, name, split=None, **build_options):
    """``B[i] = sum_k A[i, k]``: a plain reduction over the contiguous axis."""
    A = te.placeholder((m, n), name="A")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((m,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    if split:
        s[B].split(k, factor=split)
    return tm.build(s, [A, B], name=name, **build_options)


def test_fastmath_vectorizes_a_plain_sum_and_strict_does_not():
    """LLVM's own loop vectorizer picks the width: the host's full vectors, or 256 bits
    on Intel AVX-512 cores, whose LLVM tuning prefers them for auto-vectorized loops."""
    strict = _row_sum(4, 1024, "hint_sum_strict")
    fast = _row_sum(4, 1024, "hint_sum_fast", fastmath=True)
    assert not VECTOR_FADD.search(strict.get_source("ll"))
    widths = {LANES, min(LANES, 8)}
    assert any(re.search(rf"= fadd reassoc nsz arcp contract <{w} x float>", fast.get_source("ll")) for w in widths)
    registers = ("zmm", "ymm") if REGISTER == "zmm" else (REGISTER,)
    vector_adds = [line for line in fast.get_source("asm").splitlines()
                   if "vaddps" in line and any(r in line for r in registers)]
    assert len(vector_adds) >= 4, "expected several vector partial sums"
    assert not any("vaddps" in line for line in strict.get_source("asm").splitlines())
    a = np.random.rand(4, 1024).astype("float32")
    for f in (strict, fast):
        b = np.zeros(4, "float32")
        f(a, b)
        np.testing.assert_allclose(b, a.astype("float64").sum(1), rtol=1e-5)


def test_the_fast_math_target_option_is_the_fastmath_flag():
    by_flag = _row_sum(3, 64, "hint_sum_option", fastmath=True)
    by_target = _row_sum(3, 64, "hint_sum_option", target="llvm -fast-math")
    assert by_target.get_source("ll") == by_flag.get_source("ll")
    with pytest.raises(tm.BuildError, match="unknown option '-mcpu=foo'"):
        _row_sum(3, 64, "hint_sum_bad", target="llvm -mcpu=foo")
    with pytest.raises(tm.BuildError, match="hint_sum_cuda: fastmath is implemented for the llvm target only"):
        _row_sum(3, 64, "hint_sum_cuda", target="cuda", fastmath=True)


@examples(12)
@given(m=st.integers(1, 5), n=st.sampled_from([1, 2, 7, 8, 9, 31, 64, 100, 257, 1000]),
       split=st.sampled_from([None, 1, 3, 8, 16]), seed=st.integers(0, 2**16))
def test_fastmath_results_match_numpy(m, n, split, seed):
    """A dot product plus a division (contract, reassoc and arcp all apply), with the
    reduction axis maybe split, against float64 numpy within float32 tolerance."""
    A, W = te.placeholder((m, n), name="A"), te.placeholder((n,), name="W")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((m,), lambda i: te.sum(A[i, k] * W[k] + A[i, k] / 3.0, axis=k), name="B")
    s = te.create_schedule(B.op)
    if split:
        s[B].split(k, factor=split)
    f = tm.build(s, [A, W, B], name="hint_fast_dot", fastmath=True)
    rng = np.random.default_rng(seed)
    a, w = rng.uniform(-1, 1, (m, n)).astype("float32"), rng.uniform(-1, 1, n).astype("float32")
    b = np.full(m, np.nan, "float32")
    f(a, w, b)
    a64 = a.astype("float64")
    np.testing.assert_allclose(b, a64 @ w + a64.sum(1) / 3, rtol=1e-5, atol=1e-6 * n)


def test_fastmath_keeps_nan_and_inf():
    """No nnan/ninf flags: a NaN or an infinity in the input reaches the sum."""
    f = _row_sum(3, 256, "hint_fast_special", fastmath=True)
    a = np.random.rand(3, 256).astype("float32")
    a[0, 100], a[1, 7] = np.inf, np.nan
    b = np.zeros(3, "float32")
    f(a, b)
    assert b[0] == np.inf and np.isnan(b[1]) and np.isfinite(b[2])


def test_cpu_features_env_restricts_the_target():
    """TVMINI_CPU_FEATURES='-avx512*' builds and schedules for AVX2 on an AVX-512 host (how
    the AVX2 paths are tested there): 256-bit vectors, 16 registers, two-ymm GEMM blocks,
    no zmm register in the code; a malformed entry is an error naming the variable."""
    if vector_bits() < 256:
        pytest.skip("the host has no AVX2")
    code = """
import tvmini as tm
from tvmini import te, topi
from tvmini.codegen.llvm_target import vector_bits, vector_registers
from tvmini.topi.nn import gemm_block
a, b = te.placeholder((64, 64), name="a"), te.placeholder((64, 64), name="b")
c = topi.matmul(a, b)
asm = tm.build(topi.default_schedule(c), [a, b, c], name="avx2_gemm").get_source("asm")
print(vector_bits(), vector_registers(), gemm_block("float32"), "zmm" in asm, "ymm" in asm)
"""
    env = {**os.environ, "TVMINI_CPU_FEATURES": "-avx512*", "TVMINI_CACHE": "0"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["256", "16", "16", "False", "True"], run.stdout
    env["TVMINI_CPU_FEATURES"] = "avx2"
    bad = subprocess.run([sys.executable, "-c", "from tvmini.codegen.llvm_target import vector_bits; vector_bits()"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "TVMINI_CPU_FEATURES" in bad.stderr and "'avx2'" in bad.stderr, bad.stderr


def test_index_arithmetic_does_not_wrap_and_value_arithmetic_does():
    """An address's int32 index is computed with ``nsw`` adds and multiplies (an index
    into a buffer never wraps, and the flag lets LLVM fold offsets into 64-bit
    addresses), while int32 *values* keep numpy's wrapping arithmetic: a square past
    2^31 is negative, which ``mul nsw`` would let LLVM fold away."""
    from tvmini.codegen import llvm
    A = te.placeholder((16, 24), name="A", dtype="int32")
    B = te.compute((16, 8), lambda i, j: te.if_then_else(A[i, j * 3 + 1] * A[i, j * 3 + 1] < 0, 1, 0), name="B")
    s = te.create_schedule(B.op)
    text = str(llvm.emit_module([tm.lower(s, [A, B], name="hint_nsw")]))
    index_ops = re.findall(r"= (add|mul) nsw i32", text)
    value_ops = re.findall(r"= mul i32", text)
    assert "add" in index_ops and "mul" in index_ops, text
    assert value_ops, text
    a = np.full((16, 24), 46341, "int32")              # 46341^2 = 2^31 + 4633
    a[::2] = 46340
    b = np.empty((16, 8), "int32")
    tm.build(s, [A, B], name="hint_nsw")(a, b)
    with np.errstate(over="ignore"):
        want = ((a[:, 1::3] * a[:, 1::3]) < 0).astype("int32")
    np.testing.assert_array_equal(b, want)
    assert want[1].all() and not want[0].any()


@pytest.mark.parametrize("nparts", [None, 4])
def test_fused_axis_modulo_index_vectorizes_correctly(nparts):
    """An index with a modulo of a fused axis (``A[i, k]`` read as ``A[i * 8 + jk % 8]``)
    over symbolic extents, which LLVM's loop vectorizer turns into vector code: with
    ``nsw`` on ``i * 8 + jk % 8`` LLVM 22 read 16 consecutive elements of ``A`` for 16
    lanes (only 8 differ), so such an index is computed without the flag."""
    M, N = te.var("M"), te.var("N")
    A = te.placeholder((M, 8), name="A", dtype="int32")
    B = te.placeholder((8, N), name="B", dtype="int32")
    C = te.compute((M, N, 8), lambda i, j, k: A[i, k] * B[k, j], name="C")
    s = te.create_schedule(C.op)
    fused = s[C].fuse(*C.op.axis[1:])
    if nparts is not None:
        s[C].split(fused, nparts=nparts)
    f = tm.build(s, [A, B, C], name=f"hint_fused_mod_{nparts}")
    rng = np.random.default_rng(0)
    for m, n in [(16, 8), (3, 5), (2, 23)]:
        a = rng.integers(-9, 9, (m, 8)).astype("int32")
        b = rng.integers(-9, 9, (8, n)).astype("int32")
        c = np.zeros((m, n, 8), "int32")
        f(a, b, c)
        np.testing.assert_array_equal(c, a[:, None, :] * b.T[None, :, :])
