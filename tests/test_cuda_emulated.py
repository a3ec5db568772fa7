"""The GPU tests, run on the CPU: the generated CUDA C compiled for the host by
``tvmini.runtime.cuda_emulator`` (a block's threads as OS threads, ``__syncthreads()`` a
barrier) and launched through the runtime exactly as on a GPU (``emulated_gpu`` fixture;
``TVMINI_CUDA_BINDING=emulator pytest tests/test_topi_cuda.py`` runs all of them so).

This checks what no PTX compilation can: that the kernels compute the right values
(bound threads and guards cover every output once, shared-memory tiles are filled before
they are read, the runtime passes the right arguments and grids). It cannot check speed
or GPU-only races. The same test bodies run on a real GPU in test_cuda.py,
test_topi_cuda.py, test_graph_cuda.py and test_benchmarks.py; here a selection, one or
more per schedule rule, to keep the suite short (g++ builds each kernel in ~1 s).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tvmini as tm
from tvmini import te

import test_benchmarks
import test_cuda
import test_dtype
import test_graph_cuda
import test_topi_cuda
import test_topi_elemwise

# one or more per CUDA schedule rule of topi/schedule_cuda.py
OPERATORS = [
    ("elementwise", "add"), ("elementwise", "where"),
    ("reduction", "sum_last"), ("reduction", "sum_all_big"), ("reduction", "sum_columns"),
    ("reduction", "argmax"), ("reduction", "sum_symbolic"),
    ("linalg", "matmul"), ("linalg", "matmul_tab_f64"), ("linalg", "batch_matmul"), ("linalg", "dense_relu_epilogue"),
    ("conv_pool", "conv2d_lenet"), ("conv_pool", "conv2d_grad_input"), ("conv_pool", "conv2d_grad_weight"),
    ("conv_pool", "max_pool2d_grad"), ("conv_pool", "adaptive_avg_pool2d_grad"),
    ("nn", "softmax_long_rows"), ("nn", "cross_entropy_grad"), ("nn", "batch_norm_backward_nchw"),
    ("layout", "transpose"), ("layout", "take_grad"),
    ("random_optim", "dropout"), ("random_optim", "adam_update"),
]


@pytest.mark.parametrize("which", sorted(test_cuda.SCHEDULES))
def test_hand_written_schedules(emulated_gpu, which):
    test_cuda.test_schedules_run_on_the_gpu(which)


@pytest.mark.parametrize("group,name", OPERATORS)
def test_operators_with_their_default_cuda_schedules(emulated_gpu, group, name):
    assert name in test_topi_cuda.GROUPS[group]
    test_topi_cuda.run_on_gpu(test_topi_cuda.GROUPS[group][name](), f"emulated_{group}_{name}")


@pytest.mark.parametrize("step", ["shared", "register8"])
def test_gemm_walk_steps(emulated_gpu, step):
    test_benchmarks.test_gemm_cuda_steps_match_numpy_on_the_gpu(step)


@pytest.mark.parametrize("name", ["mlp_adam", "cnn_rmsprop"])
def test_training_steps_match_the_cpu(emulated_gpu, name):
    test_graph_cuda.test_training_on_cuda_matches_the_cpu(name)


@pytest.mark.parametrize("name", ["mlp_adam", "cnn_rmsprop"])
def test_jit_training_steps_match_the_cpu(emulated_gpu, name):
    test_graph_cuda.test_jit_training_on_cuda_matches_the_cpu(name)


def test_jit_gradient_accumulation_and_profiling(emulated_gpu):
    test_graph_cuda.test_jit_on_cuda_accumulates_gradients_and_shows_every_kernel_to_the_profiler()


def test_jit_refuses_a_step_on_two_devices(emulated_gpu):
    test_graph_cuda.test_a_jit_step_on_two_devices_is_refused()


def test_a_launch_reads_its_scalars_and_extents(emulated_gpu):
    """Scalars and symbolic extents reach the kernel through the launch's parameter
    array with their C types (int32 extent, float64 scalar)."""
    n = te.var("n")
    scale = te.var("scale", "float64")
    A = te.placeholder((n,), name="A", dtype="float64")
    B = te.compute((n,), lambda i: A[i] * scale + n.astype("float64"), name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    test_cuda.bind(s, B, bx, "blockIdx.x")
    test_cuda.bind(s, B, tx, "threadIdx.x")
    f = tm.build(s, [A, scale, B], target="cuda", name="emulated_scalars")
    a = np.arange(77, dtype="float64")
    out = tm.nd.empty(77, "float64", device=tm.cuda(0))
    f(tm.nd.array(a, device=tm.cuda(0)), 0.5, out)
    np.testing.assert_array_equal(out.numpy(), a * 0.5 + 77)
    assert emulated_gpu.launches[-1][1] == (3, 1, 1)


def test_a_launch_with_an_empty_grid_is_skipped(emulated_gpu):
    """A kernel whose blockIdx extent is bound to 0 at call time is not launched (CUDA
    rejects a grid dimension of 0; a grid of one block would write out of bounds), while
    the other kernels of the call still run: a sum over an empty axis gives 0."""
    n, m = te.var("n"), te.var("m")
    A = te.placeholder((n,), name="A")
    M = te.placeholder((4, m), name="M")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: A[i] + 1.0, name="B")
    R = te.compute((4,), lambda i: te.sum(M[i, k], axis=k), name="R")
    s = te.create_schedule([B.op, R.op])
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    test_cuda.bind(s, B, bx, "blockIdx.x")
    test_cuda.bind(s, B, tx, "threadIdx.x")
    test_cuda.bind(s, R, R.op.axis[0], "threadIdx.x")
    f = tm.build(s, [A, M, B, R], target="cuda", name="emulated_empty_grid")
    gpu = tm.cuda(0)
    for rows, cols in [(0, 0), (0, 3), (5, 0)]:
        a, mat = np.arange(rows, dtype="float32"), np.ones((4, cols), "float32")
        b, r = tm.nd.empty(rows, "float32", device=gpu), tm.nd.array(np.full(4, 7, "float32"), device=gpu)
        before = len(emulated_gpu.launches)
        f(tm.nd.array(a, device=gpu), tm.nd.array(mat, device=gpu), b, r)
        np.testing.assert_array_equal(b.numpy(), a + 1)
        np.testing.assert_array_equal(r.numpy(), np.full(4, cols, "float32"))
        grids = [grid for _, grid, _ in emulated_gpu.launches[before:]]
        assert len(grids) == (2 if rows else 1) and all(min(g) > 0 for g in grids)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_8_bit_arithmetic_wraps_as_on_the_cpu(emulated_gpu, dtype):
    """C++ adds two chars in int: each 8-bit result is cast back, so ``(a + b) // 2``
    wraps before the division as numpy and the CPU do (it gave the unwrapped mean)."""
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    a, b = (rng.integers(info.min, info.max + 1, 64).astype(dtype) for _ in range(2))
    A, B = te.placeholder((64,), name="A", dtype=dtype), te.placeholder((64,), name="B", dtype=dtype)
    C = te.compute((64,), lambda i: (A[i] + B[i]) // 2 + (A[i] - B[i]) * 3 + ((A[i] * B[i]) % 7 > 3).astype(dtype)
                   + te.left_shift(A[i], te.const(3, dtype)), name="C")
    s = te.create_schedule(C.op)
    test_cuda.bind(s, C, C.op.axis[0], "threadIdx.x")
    f = tm.build(s, [A, B, C], target="cuda", name=f"emulated_wrap_{dtype}")
    dev = tm.cuda(0)
    out = tm.nd.empty(64, dtype, device=dev)
    f(tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), out)
    with np.errstate(over="ignore"):
        want = (a + b) // 2 + (a - b) * 3 + ((a * b) % 7 > 3).astype(dtype) + (a << 3)
    np.testing.assert_array_equal(out.numpy(), want)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_division_never_traps(emulated_gpu, dtype):
    """``//`` and ``%`` by 0 and -1 (the most negative integer too) give numpy's answers
    in CUDA C as on the CPU (``tir.passes.guard_division``): on the emulator the host's
    division would trap, on a GPU it gives garbage."""
    a, b = test_topi_elemwise.division_operands(np.random.default_rng(0), dtype, 200)
    A, B = te.placeholder((200,), name="A", dtype=dtype), te.placeholder((200,), name="B", dtype=dtype)
    C = te.compute((200,), lambda i: A[i] // B[i] + A[i] % B[i] * 3, name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=64)
    test_cuda.bind(s, C, bx, "blockIdx.x")
    test_cuda.bind(s, C, tx, "threadIdx.x")
    f = tm.build(s, [A, B, C], target="cuda", name=f"emulated_divide_{dtype}")
    dev = tm.cuda(0)
    out = tm.nd.empty(200, dtype, device=dev)
    f(tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), out)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(out.numpy(), a // b + a % b * np.array(3, dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_floor_division_and_remainder_are_numpys(emulated_gpu, dtype):
    """Float ``//`` and ``%`` in CUDA C give numpy's answers, as on the CPU."""
    a, b = test_topi_elemwise.float_division_operands(dtype)
    A, B = te.placeholder(a.shape, name="A", dtype=dtype), te.placeholder(a.shape, name="B", dtype=dtype)
    Q, R = test_topi_elemwise.float_floor_quotient_and_remainder(A, B)
    s = te.create_schedule([Q.op, R.op])
    for T in (Q, R):
        bx, tx = s[T].split(T.op.axis[0], factor=64)
        test_cuda.bind(s, T, bx, "blockIdx.x")
        test_cuda.bind(s, T, tx, "threadIdx.x")
    f = tm.build(s, [A, B, Q, R], target="cuda", name=f"emulated_float_divmod_{dtype}")
    dev = tm.cuda(0)
    q, r = tm.nd.empty(a.shape, dtype, device=dev), tm.nd.empty(a.shape, dtype, device=dev)
    f(tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), q, r)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(q.numpy(), a // b)
        np.testing.assert_array_equal(r.numpy(), a % b)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_bitwise_operators(emulated_gpu, dtype):
    """``& | ^ ~ << >>`` in CUDA C give the CPU's answers, shift counts outside
    [0, width) included (C leaves them undefined)."""
    from tvmini.testing import reference
    width = np.dtype(dtype).itemsize * 8
    info = np.iinfo(dtype)
    a = np.random.default_rng(1).integers(info.min, info.max, 90, dtype=dtype, endpoint=True)
    b = np.resize(np.arange(-2 if info.min < 0 else 0, width + 2), 90).astype(dtype)
    A, B = te.placeholder((90,), name="A", dtype=dtype), te.placeholder((90,), name="B", dtype=dtype)
    C = te.compute((90,), lambda i: ((A[i] & B[i]) | (A[i] ^ ~B[i])) + (A[i] << B[i]) + (A[i] >> B[i]), name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=32)
    test_cuda.bind(s, C, bx, "blockIdx.x")
    test_cuda.bind(s, C, tx, "threadIdx.x")
    f = tm.build(s, [A, B, C], target="cuda", name=f"emulated_bitwise_{dtype}")
    dev = tm.cuda(0)
    out = tm.nd.empty(90, dtype, device=dev)
    f(tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), out)
    np.testing.assert_array_equal(out.numpy(), reference([C], {A: a, B: b})[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tvm_float_functions(emulated_gpu, dtype):
    """te.fmod (C's fmod, sign of zero included), te.isnan/isinf/isfinite and te.rsqrt
    in CUDA C give numpy's answers, as on the CPU."""
    a, b = test_dtype.operand_grid(test_dtype.SPECIAL_FLOATS, dtype)
    with np.errstate(all="ignore"):
        test_dtype.assert_same_floats(test_dtype.apply(te.fmod, a, b, target="cuda", name=f"emulated_fmod_{dtype}"),
                                      np.fmod(a, b))
        got = test_dtype.apply(lambda x, y: te.if_then_else(te.isnan(x) | te.isinf(y) | ~te.isfinite(x * y), 1.0, 2.0)
                               * te.rsqrt(te.abs(y)), a, b, target="cuda", name=f"emulated_isnan_{dtype}")
        want = np.where(np.isnan(a) | np.isinf(b) | ~np.isfinite(a * b), 1, 2) / np.sqrt(np.abs(b))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_tvm_integer_functions(emulated_gpu):
    """te.truncdiv/truncmod/floordiv/floormod of int32 in CUDA C: numpy's answers."""
    a, b = test_dtype.operand_grid(test_dtype.SPECIAL_INTS, "int32")
    got = test_dtype.apply(lambda x, y: (te.truncdiv(x, y) * 7 + te.truncmod(x, y) * 5 + te.floordiv(x, y) * 3
                                         + te.floormod(x, y)), a, b, target="cuda", name="emulated_tvm_int")
    with np.errstate(all="ignore"):
        want = test_dtype.truncdiv_reference(a, b) * 7 + np.fmod(a, b) * 5 + a // b * 3 + a % b
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reducer", ["max", "min"])
def test_bool_max_min_reduction(emulated_gpu, reducer):
    """CUDA's min/max have no bool overload: bools combine with || and &&."""
    A = te.placeholder((70, 9), name="A", dtype="bool")
    k = te.reduce_axis((0, 9), name="k")
    C = te.compute((70,), lambda i: getattr(te, reducer)(A[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    bx, tx = s[C].split(C.op.axis[0], factor=32)
    test_cuda.bind(s, C, bx, "blockIdx.x")
    test_cuda.bind(s, C, tx, "threadIdx.x")
    f = tm.build(s, [A, C], target="cuda", name=f"emulated_bool_{reducer}")
    a = np.random.default_rng(0).random((70, 9)) > 0.3
    dev = tm.cuda(0)
    out = tm.nd.empty(70, "bool", device=dev)
    f(tm.nd.array(a, device=dev), out)
    np.testing.assert_array_equal(out.numpy(), getattr(a, reducer)(1))


def test_the_emulator_is_chosen_by_name_only(monkeypatch):
    from tvmini.errors import DeviceError
    from tvmini.runtime import cuda_bindings, cuda_driver, cuda_emulator
    assert "emulator" in cuda_bindings.BINDINGS and "emulator" not in cuda_bindings.AUTOMATIC
    monkeypatch.setenv(cuda_driver.BINDING_VARIABLE, "emulator")
    monkeypatch.setattr(cuda_emulator.shutil, "which", lambda name: None)
    cuda_driver.driver.cache_clear()
    try:
        with pytest.raises(DeviceError, match="compiles kernels with g\\+\\+, which is not installed"):
            cuda_driver.driver()
    finally:
        cuda_driver.driver.cache_clear()


def test_emulated_modules_come_from_the_disk_cache_and_a_corrupt_entry_is_rebuilt(emulated_gpu, monkeypatch,
                                                                                   tmp_path):
    """An emulated module is compiled once and then loaded from the disk cache (by a
    later process: a new build folder); a truncated entry is detected and rebuilt."""
    from conftest import ON_DEVICE
    from tvmini.runtime import cuda_emulator
    if ON_DEVICE:
        pytest.skip("the emulator's own disk cache: not a test of the device")
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    source = tm.build(*test_cuda.elementwise(100, 32), target="cuda", name="emulated_disk_cached").get_source()
    compiled = []
    real_compile = cuda_emulator._compile
    monkeypatch.setattr(cuda_emulator, "_compile", lambda *a: (compiled.append(a), real_compile(*a)))

    def run(library):
        a = np.linspace(-1, 1, 100).astype("float32")
        out = np.zeros(100, "float32")
        [(kernel, _)] = cuda_emulator._KERNEL.findall(source)
        launch = getattr(library, f"tvmini_emulate_{kernel}")
        emulated_gpu.launch(launch, (4, 1, 1), (32, 1, 1), [a.ctypes.data, a.ctypes.data, out.ctypes.data],
                            ["ptr"] * 3)
        np.testing.assert_allclose(out, np.maximum(a * a + np.exp(a), np.tanh(a)), rtol=1e-6)

    def new_process():
        monkeypatch.setattr(cuda_emulator, "_LIBRARIES", {})
        monkeypatch.setattr(cuda_emulator, "_BUILD_DIR", [])

    new_process()
    run(cuda_emulator.load(source))              # compiled once, stored
    [entry] = tmp_path.glob("*.emulated")
    new_process()
    run(cuda_emulator.load(source))              # loaded from disk
    assert len(compiled) == 1
    entry.write_bytes(entry.read_bytes()[:-100])  # truncated: detected, deleted, built again
    new_process()
    run(cuda_emulator.load(source))
    assert len(compiled) == 2


def test_time_evaluator_on_the_emulator_reads_the_host_clock(emulated_gpu):
    sch, args = test_cuda.elementwise(1000, 128)
    f = tm.build(sch, args, target="cuda", name="emulated_timed")
    dev = tm.cuda(0)
    a = tm.nd.array(np.ones(1000, "float32"), device=dev)
    result = f.time_evaluator(number=2, repeat=2)(a, a, tm.nd.empty(1000, device=dev))
    assert len(result.results) == 2 and all(0 < r < 10 for r in result.results)
    assert len(emulated_gpu.launches) == 1 + 2 * 2


def test_a_module_reloads_its_kernels_when_the_binding_changes(emulated_gpu, monkeypatch):
    """Kernels cached across tests (the graph layer's) may meet another binding than
    the one that loaded them: they load again rather than call the other's functions."""
    from conftest import ON_DEVICE
    from tvmini.runtime import cuda_driver
    if ON_DEVICE:
        pytest.skip("switches between two emulators: not a test of the device")
    f = tm.build(*test_cuda.elementwise(100, 32), target="cuda", name="emulated_rebound")
    a = np.linspace(-1, 1, 100).astype("float32")
    want = np.maximum(a * a + np.exp(a), np.tanh(a))
    for _ in range(2):
        binding = cuda_driver.driver()
        dev = tm.cuda(0)
        out = tm.nd.empty(100, device=dev)
        f(tm.nd.array(a, device=dev), tm.nd.array(a, device=dev), out)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
        assert binding.launches[-1][0] == "tvmini_emulate_emulated_rebound_kernel0"
        fresh = type(emulated_gpu)()
        monkeypatch.setitem(cuda_driver.BINDINGS, "emulator", lambda: fresh)
        cuda_driver.driver.cache_clear()
    assert len(emulated_gpu.launches) == 1 and len(fresh.launches) == 0


# a child process imports tvmini from this checkout and the tests' helpers
_SUBPROCESS_PATH = os.pathsep.join([str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)])

BUILD_TWO_KERNELS_AND_CHECK = """
import numpy as np, tvmini as tm
from test_cuda_runtime import _two_kernels
s, (A, C) = _two_kernels()
f = tm.build(s, [A, C], target="cuda", name="emulated_manifest")
a = np.linspace(-1, 1, 77).astype("float32")
out = tm.nd.empty(77, device=tm.cuda(0))
f(tm.nd.array(a, device=tm.cuda(0)), out)
np.testing.assert_allclose(out.numpy(), a * 2 + 1, rtol=1e-6)
print("ok")
"""


def test_a_second_process_runs_a_cuda_build_without_lowering_it(tmp_path):
    """Two processes on the emulated device share a cache directory; the second, with
    lowering disabled, builds the same two-kernel module from the first's manifest
    (CUDA C, grids, the temporary between the kernels) and computes the same."""
    if shutil.which("g++") is None:
        pytest.skip("the CUDA emulator needs g++")
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path), TVMINI_CUDA_BINDING="emulator",
               PYTHONPATH=_SUBPROCESS_PATH)
    refuse = ("import tvmini.codegen.cuda_host as h\n"
              "def refuse(*a, **k): raise AssertionError('lowered although the manifest is on disk')\n"
              "h.lower = refuse\n")
    for prefix in ("", refuse):
        out = subprocess.run([sys.executable, "-c", prefix + BUILD_TWO_KERNELS_AND_CHECK], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert len(list(tmp_path.glob("*.manifest"))) == 1


def test_an_exported_cuda_module_runs_in_a_process_without_a_cuda_compiler(tmp_path):
    """A module exported by one process runs, loaded by another where lowering and every
    CUDA compiler are disabled, on the emulated device, and computes the same."""
    from tvmini.codegen.cuda_compile import ptx_compiler
    if ptx_compiler() is None:
        pytest.skip("exporting a CUDA module needs its PTX: no NVRTC or nvcc here")
    lib = tmp_path / "two_kernels.so"
    export = BUILD_TWO_KERNELS_AND_CHECK + f"f.export_library({str(lib)!r})\n"
    load = ("import tvmini.codegen.cuda_host as h, tvmini.codegen.cuda_compile as c\n"
            "def refuse(*a, **k): raise AssertionError('built or compiled although the library is exported')\n"
            "h.lower = c._chosen_compiler = refuse\n"
            "import numpy as np, tvmini as tm\n"
            f"f = tm.runtime.load_module({str(lib)!r})\n"
            "a = np.linspace(-1, 1, 1000).astype('float32')\n"
            "out = tm.nd.empty(1000, device=tm.cuda(0))\n"
            "f(tm.nd.array(a, device=tm.cuda(0)), out)\n"
            "np.testing.assert_allclose(out.numpy(), a * 2 + 1, rtol=1e-6)\n"
            "print('ok')\n")
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path / "cache"), TVMINI_CUDA_BINDING="emulator",
               PYTHONPATH=_SUBPROCESS_PATH)
    for code in (export, load):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr


def test_an_exported_jit_inference_step_runs(emulated_gpu, tmp_path, monkeypatch):
    test_graph_cuda.test_an_exported_cuda_inference_step_predicts_without_building(tmp_path, monkeypatch)
