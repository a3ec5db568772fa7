"""CUDA backend: CUDA C generation, build-time validation, PTX compilation, launches.

Without a GPU (the CI machines), every schedule here is turned into CUDA C and, when nvcc
exists, compiled to PTX, so a syntax or type error fails the suite. With a GPU (through
pycuda or cuda-bindings), or on the CPU's emulation of one (``TVMINI_CUDA_BINDING=emulator``;
test_cuda_emulated.py), the same schedules run and are compared with numpy.
"""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te
from tvmini.codegen.cuda_compile import _nvrtc_ptx, nvcc_path, nvrtc_version
from tvmini.errors import BuildError, DeviceError
from tvmini.runtime.cuda_driver import device_arch

HAS_NVCC = nvcc_path() is not None
HAS_GPU = device_arch() is not None
needs_nvcc = pytest.mark.skipif(not HAS_NVCC, reason="nvcc (CUDA toolkit) is not installed here")
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA device here (or no pycuda / cuda-bindings); "
                                                   "TVMINI_CUDA_BINDING=emulator runs these on the CPU")


def bind(s, stage_tensor, axis, tag):
    s[stage_tensor].bind(axis, te.thread_axis(tag))


def elementwise(n, factor, dtype="float32"):
    A = te.placeholder((n,), name="A", dtype=dtype)
    B = te.placeholder((n,), name="B", dtype=dtype)
    C = te.compute((n,), lambda i: te.max(A[i] * B[i] + te.exp(A[i]), te.tanh(B[i])), name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=factor)
    bind(s, C, bx, "blockIdx.x")
    bind(s, C, tx, "threadIdx.x")
    return s, [A, B, C]


def tiled_matmul(n, tile=16):
    A = te.placeholder((n, n), name="A")
    B = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    C = te.compute((n, n), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    AS, BS = s.cache_read(A, "shared", [C]), s.cache_read(B, "shared", [C])
    CL = s.cache_write(C, "local")
    by, ty = s[C].split(C.op.axis[0], factor=tile)
    bx, tx = s[C].split(C.op.axis[1], factor=tile)
    s[C].reorder(by, bx, ty, tx)
    for axis, tag in ((by, "blockIdx.y"), (bx, "blockIdx.x"), (ty, "threadIdx.y"), (tx, "threadIdx.x")):
        bind(s, C, axis, tag)
    s[CL].compute_at(s[C], tx)
    ko, _ = s[CL].split(s[CL].op.reduce_axis[0], factor=tile)
    for S in (AS, BS):
        s[S].compute_at(s[CL], ko)
        r, c = s[S].op.axis
        bind(s, S, r, "threadIdx.y")
        bind(s, S, c, "threadIdx.x")
    return s, [A, B, C]


def softmax_stages(m, n):
    """(X, row max M, row sum of exponentials S, softmax Y) of an (m, n) input."""
    X = te.placeholder((m, n), name="X")
    k1, k2 = te.reduce_axis((0, n), name="k1"), te.reduce_axis((0, n), name="k2")
    M = te.compute((m,), lambda i: te.max(X[i, k1], axis=k1), name="M")
    S = te.compute((m,), lambda i: te.sum(te.exp(X[i, k2] - M[i]), axis=k2), name="S")
    Y = te.compute((m, n), lambda i, j: te.exp(X[i, j] - M[i]) / S[i], name="Y")
    return X, M, S, Y


def softmax_rows(m, n):
    """Three kernels (max, exp-sum, divide) with two global temporaries between them."""
    X, M, S, Y = softmax_stages(m, n)
    s = te.create_schedule(Y.op)
    for T in (M, S):
        bo, ti = s[T].split(T.op.axis[0], factor=32)
        bind(s, T, bo, "blockIdx.x")
        bind(s, T, ti, "threadIdx.x")
    i, j = Y.op.axis
    bind(s, Y, i, "blockIdx.x")
    jo, ji = s[Y].split(j, factor=64)
    bind(s, Y, ji, "threadIdx.x")
    return s, [X, Y]


MATH_FUNCTIONS = ("erf", "tan", "atan", "asin", "acos", "exp2", "expm1", "log2", "log10", "log1p", "trunc")


def math_functions(n, dtype="float32"):
    """Every float math function beyond elementwise()'s, on arguments in its domain."""
    A = te.placeholder((n,), name="A", dtype=dtype)

    def body(i):
        a = A[i]
        terms = [te.erf(a), te.tan(a), te.atan(a), te.asin(a * 0.9), te.acos(a * 0.9), te.exp2(a), te.expm1(a),
                 te.log2(a * a + 1.0), te.log10(a * a + 1.0), te.log1p(a * a), te.trunc(a * 3.0)]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total
    C = te.compute((n,), body, name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=64)
    bind(s, C, bx, "blockIdx.x")
    bind(s, C, tx, "threadIdx.x")
    return s, [A, C]


def padded_conv(n=2, c=3, h=9, f=4, k=3, pad=1):
    X = te.placeholder((n, c, h, h), name="X")
    W = te.placeholder((f, c, k, k), name="W")
    P = te.compute((n, c, h + 2 * pad, h + 2 * pad), lambda b, ch, y, x: te.if_then_else(
        te.all(y >= pad, y < h + pad, x >= pad, x < h + pad), X[b, ch, y - pad, x - pad], 0.0), name="P")
    rc, ry, rx = te.reduce_axis((0, c), "rc"), te.reduce_axis((0, k), "ry"), te.reduce_axis((0, k), "rx")
    out = h + 2 * pad - k + 1
    Y = te.compute((n, f, out, out), lambda b, o, y, x: te.sum(P[b, rc, y + ry, x + rx] * W[o, rc, ry, rx],
                                                                axis=[rc, ry, rx]), name="Y")
    s = te.create_schedule(Y.op)
    s[P].compute_inline()
    b, o, y, x = Y.op.axis
    bind(s, Y, s[Y].fuse(b, o), "blockIdx.x")
    bind(s, Y, y, "threadIdx.y")
    bind(s, Y, x, "threadIdx.x")
    return s, [X, W, Y]


# -- generated source -----------------------------------------------------------------

def test_import_does_not_need_pycuda():
    assert "pycuda" not in sys.modules or HAS_GPU


def test_source_has_kernel_shared_memory_and_barriers():
    f = tm.build(*tiled_matmul(te.var("n")), target="cuda", name="mm_src")
    src = f.get_source()
    assert src == f.get_source("cuda")
    assert 'extern "C" __global__ void __launch_bounds__(256) mm_src_kernel0(' in src
    assert "__shared__ __align__(16) float A_shared[256];" in src and "__shared__ __align__(16) float B_shared[256];" in src
    assert src.count("__syncthreads();") == 2        # after the loads, and before the next tile's loads
    assert "blockIdx.y" in src and "threadIdx.x" in src


def test_kernels_split_at_root_stages_with_global_temporaries():
    f = tm.build(*softmax_rows(7, 100), target="cuda", name="softmax_src")
    src = f.get_source()
    assert "softmax_src_kernel0" in src and "softmax_src_kernel1" in src and "softmax_src_kernel2" in src
    assert "__int_as_float(0xff800000)" in src        # -inf, the max reduction's identity


def test_math_maps_to_cuda_float_functions():
    src = tm.build(*elementwise(1000, 128), target="cuda", name="ew_src").get_source()
    assert "expf(" in src and "tanhf(" in src and "fmaxf(" in src
    src64 = tm.build(*elementwise(1000, 128, "float64"), target="cuda", name="ew64_src").get_source()
    assert "exp(" in src64 and "expf(" not in src64 and "double* __restrict__" in src64
    src = tm.build(*math_functions(100), target="cuda", name="math_src").get_source()
    assert all(f"{name}f(" in src for name in MATH_FUNCTIONS)
    src64 = tm.build(*math_functions(100, "float64"), target="cuda", name="math64_src").get_source()
    assert all(f" {name}(" in src64 or f"({name}(" in src64 for name in MATH_FUNCTIONS)


# -- validation -------------------------------------------------------------------------

def test_unbound_stage_is_a_build_error():
    A = te.placeholder((64,), name="A")
    B = te.compute((64,), lambda i: A[i] + 1.0, name="B")
    with pytest.raises(BuildError, match="axis i of stage B is not bound"):
        tm.build(te.create_schedule(B.op), [A, B], target="cuda")


def test_unbound_loop_outside_bound_ones_is_a_build_error():
    A = te.placeholder((64, 64), name="A")
    B = te.compute((64, 64), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bind(s, B, B.op.axis[1], "threadIdx.x")
    with pytest.raises(BuildError, match="axis i of stage B is outside the loops bound"):
        tm.build(s, [A, B], target="cuda")


def test_block_over_1024_threads_is_a_build_error():
    A = te.placeholder((64, 64), name="A")
    B = te.compute((64, 64), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bind(s, B, B.op.axis[0], "threadIdx.y")
    bind(s, B, B.op.axis[1], "threadIdx.x")
    s2 = te.create_schedule(B.op)
    bind(s2, B, B.op.axis[0], "blockIdx.x")
    bind(s2, B, B.op.axis[1], "threadIdx.x")
    tm.build(s2, [A, B], target="cuda", name="ok_block")
    with pytest.raises(BuildError, match="4096 threads per block"):
        tm.build(s, [A, B], target="cuda")


def shorter_thread_loop(n=64):
    """B (computed at C's block) split by 16 under C's 32 threadIdx.x: two extents."""
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((n,), lambda i: B[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    co, ci = s[C].split(C.op.axis[0], factor=32)
    bind(s, C, co, "blockIdx.x")
    bind(s, C, ci, "threadIdx.x")
    s[B].compute_at(s[C], co)
    bo, bi = s[B].split(B.op.axis[0], factor=16)
    bind(s, B, bi, "threadIdx.x")
    return s, [A, C]


def test_a_shorter_loop_on_a_thread_axis_runs_guarded_under_the_longest():
    """Loops bound to one thread axis with different constant extents run over the
    largest, the shorter guarded (it was a BuildError; TVM pads them the same way)."""
    src = tm.build(*shorter_thread_loop(), target="cuda", name="padded_threads").get_source("cuda")
    assert "__launch_bounds__(32)" in src and "if ((i_inner < 16))" in src and "__syncthreads();" in src, src


def test_symbolic_block_size_is_a_build_error():
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    bo, bi = s[B].split(B.op.axis[0], nparts=4)
    bind(s, B, bo, "blockIdx.x")
    bind(s, B, bi, "threadIdx.x")
    with pytest.raises(BuildError, match="symbolic extent"):
        tm.build(s, [A, B], target="cuda")


def test_shared_memory_over_the_limit_is_a_build_error():
    with pytest.raises(BuildError, match="bytes of shared memory"):
        _big_shared()


def _big_shared():
    A = te.placeholder((64, 4096), name="A")
    k = te.reduce_axis((0, 4096), name="k")
    B = te.compute((64,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    AS = s.cache_read(A, "shared", [B])
    bo, bi = s[B].split(B.op.axis[0], factor=32)
    bind(s, B, bo, "blockIdx.x")
    bind(s, B, bi, "threadIdx.x")
    s[AS].compute_at(s[B], bo)
    r, c = s[AS].op.axis
    bind(s, AS, r, "threadIdx.x")
    return tm.build(s, [A, B], target="cuda")


def test_calling_without_a_cuda_runtime_is_a_clear_error():
    f = tm.build(*elementwise(100, 32), target="cuda", name="ew_call")
    a = np.ones(100, "float32")
    with pytest.raises(DeviceError, match="numpy array in host memory"):
        f(a, a, a.copy())
    if not HAS_GPU:
        with pytest.raises(DeviceError, match="pycuda|CUDA"):
            tm.nd.array(a, device=tm.cuda(0))


# -- PTX ----------------------------------------------------------------------------------

SCHEDULES = {
    "elementwise": lambda: elementwise(1000, 96),
    "elementwise_f64": lambda: elementwise(77, 32, "float64"),
    "tiled_matmul": lambda: tiled_matmul(te.var("n")),
    "softmax": lambda: softmax_rows(33, 70),
    "padded_conv": padded_conv,
    "math_functions": lambda: math_functions(300),
    "padded_threads": lambda: shorter_thread_loop(70),
    "small_matrix_tiles": lambda: tiled_matmul(5, tile=8),
}


@needs_nvcc
@pytest.mark.parametrize("which", sorted(SCHEDULES))
def test_schedules_compile_to_ptx(which):
    f = tm.build(*SCHEDULES[which](), target="cuda", name=f"ptx_{which}")
    ptx = f.get_source("ptx")
    assert ".entry" in ptx and f"ptx_{which}_kernel0" in ptx


@pytest.mark.skipif(nvrtc_version() is None, reason="NVRTC (cuda-bindings + nvidia-cuda-nvrtc) is not installed here")
@pytest.mark.parametrize("which", sorted(SCHEDULES))
def test_schedules_compile_to_ptx_with_nvrtc(which):
    f = tm.build(*SCHEDULES[which](), target="cuda", name=f"nvrtc_{which}")
    ptx = _nvrtc_ptx(f.get_source("cuda"), "sm_90", f"nvrtc_{which}")
    assert ".target sm_90" in ptx and f"nvrtc_{which}_kernel0" in ptx
    with pytest.raises(BuildError, match="NVRTC rejected kernel broken"):
        _nvrtc_ptx(f.get_source("cuda").replace(";", "", 1), "sm_90", "broken")


@pytest.mark.skipif(nvrtc_version() is None, reason="NVRTC (cuda-bindings + nvidia-cuda-nvrtc) is not installed here")
def test_float16_kernels_find_cuda_fp16_h_with_nvrtc():
    f = tm.build(*elementwise(100, 32, "float16"), target="cuda", name="nvrtc_half")
    assert "#include <cuda_fp16.h>" in f.get_source("cuda")
    assert "cvt.f32.f16" in _nvrtc_ptx(f.get_source("cuda"), "sm_80", "nvrtc_half")


@pytest.mark.parametrize("choice", ["nvcc", "nvrtc"])
def test_tvmini_cuda_compiler_picks_the_ptx_compiler(monkeypatch, choice):
    """NVRTC is used where it loads (in process, ~10x faster than an nvcc process),
    else nvcc; ``TVMINI_CUDA_COMPILER`` picks one, and says so when it is missing."""
    from tvmini.codegen import cuda_compile
    monkeypatch.setattr(cuda_compile, "_ptx", {})
    monkeypatch.setenv("TVMINI_CACHE", "0")
    monkeypatch.setenv(cuda_compile.COMPILER_VARIABLE, choice)
    available = {"nvcc": HAS_NVCC, "nvrtc": nvrtc_version() is not None}[choice]
    used = []
    for name in ("_nvcc_ptx", "_nvrtc_ptx"):
        compile_ = getattr(cuda_compile, name)
        monkeypatch.setattr(cuda_compile, name, lambda *a, compile_=compile_, name=name: used.append(name)
                            or compile_(*a))
    f = tm.build(*elementwise(100, 32), target="cuda", name=f"picked_{choice}")
    if not available:
        assert cuda_compile.ptx_compiler() is None and used == []
        with pytest.raises(BuildError, match=f"needs NVRTC .* or nvcc .*TVMINI_CUDA_COMPILER is set to {choice}"):
            f.get_source("ptx")
        return
    assert f"picked_{choice}_kernel0" in f.get_source("ptx")
    assert used == [f"_{choice}_ptx"] and cuda_compile.ptx_compiler().startswith("nvrtc") == (choice == "nvrtc")
    if nvrtc_version() is not None:
        monkeypatch.delenv(cuda_compile.COMPILER_VARIABLE)
        assert cuda_compile.ptx_compiler() == nvrtc_version()


def test_an_unknown_cuda_compiler_choice_is_refused(monkeypatch):
    from tvmini.codegen import cuda_compile
    monkeypatch.setenv(cuda_compile.COMPILER_VARIABLE, "clang")
    with pytest.raises(BuildError, match="TVMINI_CUDA_COMPILER='clang': use nvcc or nvrtc"):
        cuda_compile.ptx_compiler()


@needs_nvcc
@settings(max_examples=4, deadline=None)
@given(n=st.integers(1, 300), factor=st.sampled_from([1, 7, 32, 100]),
       dtype=st.sampled_from(["float32", "float64", "int32"]))
def test_random_bound_schedules_compile_to_ptx(n, factor, dtype):
    A = te.placeholder((n,), name="A", dtype=dtype)
    B = te.compute((n,), lambda i: (A[i] // 3 + A[i] % 5) ^ (A[i] << 2) | ~(A[i] >> A[i]) if dtype == "int32"
                   else te.sigmoid(A[i]) ** 2.0, name="B")
    s = te.create_schedule(B.op)
    bo, bi = s[B].split(B.op.axis[0], factor=factor)
    bind(s, B, bo, "blockIdx.x")
    bind(s, B, bi, "threadIdx.x")
    assert ".entry" in tm.build(s, [A, B], target="cuda", name=f"rand_{n}_{factor}_{dtype}").get_source("ptx")


FLOAT16_EXPRESSIONS = {   # each was C++ that nvcc rejects (__half next to float or int is ambiguous)
    "to_bool": lambda a: a.astype("bool").astype("float16"),
    "select_minus_inf": lambda a: te.if_then_else(a > te.const(0.0, "float16"), a, te.const(-np.inf, "float16")),
    "plus_nan": lambda a: a + te.const(np.nan, "float16"),
    "floormod": lambda a: a % te.const(2.0, "float16") + a // te.const(0.5, "float16"),
}


@needs_nvcc
@pytest.mark.parametrize("which", sorted(FLOAT16_EXPRESSIONS))
def test_float16_expressions_compile_to_ptx(which):
    A = te.placeholder((8,), name="A", dtype="float16")
    B = te.compute((8,), lambda i: FLOAT16_EXPRESSIONS[which](A[i]), name="B")
    s = te.create_schedule(B.op)
    bind(s, B, B.op.axis[0], "threadIdx.x")
    assert ".entry" in tm.build(s, [A, B], target="cuda", name=f"half_{which}").get_source("ptx")


def tvm_functions(dtype):
    """out = a kernel of TVM's te division, remainder and classification functions."""
    A, B = (te.placeholder((100,), name=n, dtype=dtype) for n in "AB")
    if dtype.startswith("float"):
        value = lambda i: (te.fmod(A[i], B[i]) + te.truncmod(A[i], B[i]) + te.rsqrt(A[i])
                           + te.if_then_else(te.isnan(A[i]) | te.isinf(B[i]) | ~te.isfinite(A[i] * B[i]),
                                             te.min_value(dtype), te.max_value(dtype)))
    else:
        value = lambda i: (te.floordiv(A[i], B[i]) + te.floormod(A[i], B[i]) + te.truncdiv(A[i], B[i])
                           + te.truncmod(A[i], B[i]) + te.fmod(A[i], B[i]) + te.max_value(dtype)
                           + te.if_then_else(te.isnan(A[i]) | te.isinf(A[i]), te.min_value(dtype), 0))
    C = te.compute((100,), value, name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(bx, te.thread_axis((0, 4), "blockIdx.x"))
    s[C].bind(tx, te.thread_axis((0, 32), "threadIdx.x"))
    return s, [A, B, C]


@needs_nvcc
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64"])
def test_tvm_te_functions_compile_to_ptx(dtype):
    """te.fmod/truncmod/isnan/... are made of operations every code generator has, and
    thread axes declared with TVM's range form build."""
    f = tm.build(*tvm_functions(dtype), target="cuda", name=f"tvm_functions_{dtype}")
    assert ".entry" in f.get_source("ptx")


@pytest.mark.parametrize("name, kernel", [("my-kernel", "my_kernel_kernel0"), ("1st", "v1st_kernel0"),
                                          ("kérnel", "k_u00e9rnel_kernel0")])
def test_kernel_names_are_c_identifiers(name, kernel):
    s, args = elementwise(10, 4)
    f = tm.build(s, args, target="cuda", name=name)
    assert f'void __launch_bounds__(4) {kernel}(' in f.get_source("cuda")
    if HAS_NVCC:
        assert f".entry {kernel}(" in f.get_source("ptx")


@pytest.mark.parametrize("name", ["new", "float", "auto", "int", "half"])
def test_tensors_named_like_cpp_keywords_get_other_parameter_names(name):
    """A tensor named ``new`` became a kernel parameter ``new``, which no C++ compiler
    takes (the llvm target built it fine)."""
    A = te.placeholder((10,), name=name)
    B = te.compute((10,), lambda i: A[i] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=4)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    f = tm.build(s, [A, B], target="cuda", name=f"keyword_{name}")
    assert f"float* __restrict__ {name}_1," in f.get_source("cuda")
    if HAS_NVCC:
        assert ".entry" in f.get_source("ptx")


def test_a_reduction_every_thread_would_update_is_a_build_error():
    """A reduction left serial at block level runs in each of the block's threads, all
    updating the same elements (it summed 16x too much on the emulator)."""
    A = te.placeholder((4, 64), name="A")
    k = te.reduce_axis((0, 64), "k")
    B = te.compute((4,), lambda i: te.sum(A[i, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(k, factor=16)
    BF = s.rfactor(B, ki)
    bind(s, B, B.op.axis[0], "blockIdx.x")
    s[BF].compute_at(s[B], B.op.axis[0])
    bind(s, BF, s[BF].op.axis[0], "threadIdx.x")
    with pytest.raises(BuildError, match="update of B .global. .* every thread along threadIdx.x .* race"):
        tm.build(s, [A, B], target="cuda", name="racy_rfactor")


# -- on a GPU ------------------------------------------------------------------------------

@needs_gpu
@pytest.mark.parametrize("which", sorted(SCHEDULES))
def test_schedules_run_on_the_gpu(which):
    from tvmini.testing import reference
    sch, args = SCHEDULES[which]()
    f = tm.build(sch, args, target="cuda", name=f"gpu_{which}")
    rng = np.random.default_rng(0)
    binds = {}
    inputs = {}
    for t in args[:-1]:
        shape = [int(x.value) if hasattr(x, "value") else 50 for x in t.shape]
        for x in t.shape:
            if not hasattr(x, "value"):
                binds[x] = 50
        inputs[t] = rng.uniform(-1, 1, shape).astype(t.dtype)
    want = reference([args[-1]], {**inputs, **binds})[0]
    dev = tm.cuda(0)
    out = tm.nd.empty(want.shape, want.dtype, device=dev)
    f(*[tm.nd.array(inputs[t], device=dev) for t in args[:-1]], out)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)


def test_integer_literals_keep_their_type():
    """INT64_MIN as ``-9223372036854775808LL`` is an unsigned literal in C++ (nvcc
    compared with it unsigned) and INT32_MIN's ``-2147483648`` a long (``max(int, long)``
    did not compile); unsigned values carry their suffix."""
    from tvmini.codegen.cuda import const_str
    assert const_str(-2**63, "int64") == "(-9223372036854775807LL - 1LL)"
    assert const_str(-2**31, "int32") == "(-2147483647 - 1)"
    assert const_str(2**32 - 1, "uint32") == "4294967295U" and const_str(2**64 - 1, "uint64") == "18446744073709551615ULL"
    assert const_str(-5, "int64") == "-5LL" and const_str(7, "int32") == "7"


@needs_nvcc
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_comparisons_with_the_most_negative_integer_stay_signed(dtype):
    A = te.placeholder((64,), name="A", dtype=dtype)
    low = te.const(-2**(int(dtype[3:]) - 1), dtype)
    B = te.compute((64,), lambda i: te.max(A[i], low) + te.if_then_else(A[i] > low, te.const(1, dtype), 0), name="B")
    s = te.create_schedule(B.op)
    bind(s, B, B.op.axis[0], "threadIdx.x")
    ptx = tm.build(s, [A, B], target="cuda", name=f"int_min_{dtype}").get_source("ptx")
    assert ".u64" not in " ".join(line for line in ptx.splitlines() if "setp" in line)


def test_a_parallel_loop_inside_a_kernel_is_a_build_error():
    """``parallel`` is for CPU cores; inside a CUDA kernel it ran serially in each thread."""
    A = te.placeholder((64, 8), name="A")
    B = te.compute((64, 8), lambda i, j: A[i, j] * 2.0, name="B")
    s = te.create_schedule(B.op)
    bind(s, B, B.op.axis[0], "threadIdx.x")
    s[B].parallel(B.op.axis[1])
    with pytest.raises(BuildError, match="axis j of stage B is marked parallel.* bind it to blockIdx/threadIdx"):
        tm.build(s, [A, B], target="cuda", name="parallel_in_kernel")
