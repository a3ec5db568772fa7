"""What the LLVM backend tells LLVM (issue 3, part 3): ``unroll`` really unrolls
constant-extent loops, buffer arguments are ``noalias``, float arithmetic may contract
into FMA (and nothing more: no reassociation, so results do not depend on how LLVM
vectorizes), and the GEMM recipe's reduction runs on vector FMAs through its schedule."""
import os
import re
import sys

import numpy as np

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


def test_float_arithmetic_contracts_to_fma_and_is_not_reassociated():
    *_, f = _scale_shift((8, 64), "hint_contract")
    ll = f.get_source("ll")
    float_ops = re.findall(r"= (fmul|fadd)( [a-z ]*?)? (<\d+ x float>|float) ", ll)
    assert float_ops and all((flags or "").split() == ["contract"] for _, flags, _ in float_ops), float_ops
    assert "reassoc" not in ll and " fast " not in ll
    assert any("vfmadd" in line and REGISTER in line for line in f.get_source("asm").splitlines())


def test_the_gemm_recipe_reduction_runs_on_vector_fma():
    """With no reassociation LLVM cannot vectorize a reduction loop by itself; the
    recipe's schedule puts a data axis innermost and vectorizes that instead."""
    s, tensors = gemm_tutorial.packed(64)
    asm = tm.build(s, tensors, name="hint_gemm").get_source("asm")
    assert sum("vfmadd" in line and REGISTER in line for line in asm.splitlines()) >= 4
