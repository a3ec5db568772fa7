"""The benchmark scripts' own pieces: the GEMM recipe, the conv2d schedules, the FMA peak
probe, the alternating timer and the build-time children. Results are checked against
numpy; nothing here asserts on time."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "benchmarks"), os.path.join(ROOT, "examples")]

import build_time  # noqa: E402
import common  # noqa: E402
import conv2d  # noqa: E402
import cuda_host_cost  # noqa: E402
import cuda_kernels  # noqa: E402
import eager_overhead  # noqa: E402
import gemm_cuda  # noqa: E402
import gemm_tutorial  # noqa: E402
import indexing  # noqa: E402
import topi_ops  # noqa: E402
import train_step  # noqa: E402
from test_cuda import needs_gpu, needs_nvcc  # noqa: E402

import tvmini as tm  # noqa: E402
from tvmini.codegen.cuda_compile import ptx_compiler  # noqa: E402
from tvmini.codegen.llvm_target import vector_bits  # noqa: E402


@pytest.mark.parametrize("n", [64, 100, 37])
@pytest.mark.parametrize("label,make", gemm_tutorial.STEPS)
def test_every_gemm_recipe_step_matches_numpy(label, make, n):
    """Also at sizes no tile or packing width divides (100, 37): B's last column block
    is packed with zero padding, and every partial tile of C is guarded."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype="float32"), rng.random((n, n), dtype="float32")
    s, tensors = make(n)
    c = np.full((n, n), np.nan, "float32")
    tm.build(s, tensors, name=f"bench_{label.strip('+').replace('+', '_')}")(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("n", [4096, 200])
def test_gemm_cuda_steps_keep_their_accumulators_in_registers(n):
    """Each step of examples/gemm_cuda.py builds for CUDA (n = 200: every tile partial);
    a register-blocked step's accumulator is its thread's tile, indexed by constants."""
    for step, per_thread in (("naive", None), ("shared", None), ("register4", 4), ("register8", 8)):
        source = gemm_cuda.build(step, n).get_source("cuda")
        if per_thread:
            assert f"float C_local[{per_thread * per_thread}];" in source, step
            assert "__shared__ __align__(16) float A_shared[" in source, step


@pytest.mark.parametrize("script,argv,message", [
    ("gemm_cuda", ["--steps", "naive,bogus"], "unknown step 'bogus': the steps are naive, shared, register4"),
    ("cuda_host_cost", ["bogus"], "unknown model 'bogus'; the models are: OVERFIT MLP b1024 Adam;"),
    ("train_step", ["--models", "bogus"], "--models 'bogus' matches no model; the models are: OVERFIT MLP"),
])
def test_unknown_step_and_model_names_are_refused_with_the_valid_ones(monkeypatch, capsys, script, argv, message):
    module = {"gemm_cuda": gemm_cuda, "cuda_host_cost": cuda_host_cost, "train_step": train_step}[script]
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@needs_nvcc
def test_gemm_cuda_register_tiles_read_shared_memory_as_vectors():
    """The 16-byte aligned shared tiles let nvcc read a thread's row of the B tile (and
    its A values along k) with 128-bit loads: 32 ld.shared.v4 per k slice, no scalar ones."""
    ptx = gemm_cuda.build("register8", 4096).get_source("ptx")
    assert ptx.count("ld.shared.v4.f32") == 32 and "ld.shared.f32" not in ptx
    assert ptx.count("fma.rn.f32") == 8 * 8 * 8


@needs_nvcc
def test_the_cuda_benchmark_kernels_compile_to_ptx():
    kernels = {**cuda_kernels.gemm_kernels(256), "fused": cuda_kernels.fused_kernel(1 << 12)}
    for label, module in kernels.items():
        assert ".entry" in module.get_source("ptx"), label


@needs_gpu
@pytest.mark.parametrize("step", list(gemm_cuda.STEPS))
def test_gemm_cuda_steps_match_numpy_on_the_gpu(step):
    n = 200
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype="float32"), rng.standard_normal((n, n), dtype="float32")
    dev = tm.cuda(0)
    c = tm.nd.empty((n, n), device=dev)
    gemm_cuda.build(step, n)(tm.nd.array(a, device=dev), tm.nd.array(b, device=dev), c)
    np.testing.assert_allclose(c.numpy(), a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("build", [conv2d.default_schedule, conv2d.explicit_schedule])
def test_conv2d_schedules_match_numpy_im2col(build):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((conv2d.N, conv2d.C, conv2d.H, conv2d.W), dtype="float32")
    w = rng.standard_normal((conv2d.F, conv2d.C, conv2d.K, conv2d.K), dtype="float32")
    y = np.full((conv2d.N, conv2d.F, conv2d.H, conv2d.W), np.nan, "float32")
    build()(x, w, y)
    np.testing.assert_allclose(y, conv2d.im2col_matmul(x, w), rtol=1e-4, atol=1e-3)


def test_im2col_matmul_is_a_convolution():
    """numpy's contender against a direct sum over the taps."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((conv2d.N, conv2d.C, conv2d.H, conv2d.W)).astype("float32")
    w = rng.standard_normal((conv2d.F, conv2d.C, conv2d.K, conv2d.K)).astype("float32")
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).astype("float64")
    want = sum(np.einsum("nchw,fc->nfhw", xp[:, :, ky:ky + conv2d.H, kx:kx + conv2d.W], w[:, :, ky, kx])
               for ky in range(conv2d.K) for kx in range(conv2d.K))
    np.testing.assert_allclose(conv2d.im2col_matmul(x, w), want, rtol=1e-4, atol=1e-3)


def test_fma_probe_counts_its_flops():
    run, flop = common.fma_probe(threads=2, iters=1000)
    run()
    lanes = vector_bits() // 32
    assert flop == 2 * 1000 * common._CHAINS * lanes * 2


def test_best_of_rounds_keeps_each_timers_fastest():
    values = {"a": iter([3.0, 1.0, 2.0]), "b": iter([5.0, 6.0, 4.0])}
    timers = {name: (lambda it=it: next(it)) for name, it in values.items()}
    assert common.best_of_rounds(timers, 3, settle=0) == {"a": 1.0, "b": 4.0}


@pytest.mark.parametrize("target,step", [("llvm", "blocked"), ("cuda", "shared")])
def test_build_time_children_are_served_as_labelled(tmp_path, target, step):
    """Cold, then from the disk cache (for CUDA without a GPU: CUDA C and PTX)."""
    if target == "cuda" and ptx_compiler() is None:
        pytest.skip("building for CUDA here compiles PTX: no NVRTC or nvcc")
    cold = build_time.run_child(step, 64, str(tmp_path), target)
    disk = build_time.run_child(step, 64, str(tmp_path), target)
    assert (cold["origin"], cold["hits"]) == ("compiled", 1)
    assert (disk["origin"], disk["hits"]) == ("disk", 1)
    assert all(cold[k] > 0 for k in ("first", "lower", "build", "again"))


def test_the_dropout_row_checks_its_kernel_against_the_reference(capsys):
    topi_ops.dropout_case(np.random.default_rng(0).standard_normal((33, 70)).astype("float32"), 0.3)
    assert "dropout p=0.3" in capsys.readouterr().out


def test_the_indexing_walk_builds_one_kernel_per_window_shape(monkeypatch, capsys):
    """The benchmark's walk (every row, every batch) through tvmini: two window shapes,
    two kernels at most, whatever the number of offsets."""
    monkeypatch.setattr(sys, "argv", ["indexing.py", "--rows", "60", "--width", "5", "--batch", "20"])
    indexing.main()
    out = capsys.readouterr().out
    assert "tvmini kernels built for 60 rows and 3 batches:" in out
    assert int(out.rsplit(":", 1)[1]) <= 2


def test_the_eager_overhead_table_checks_every_op_against_numpy(capsys):
    """One short round of every op (each tvmini result checked against numpy first): a
    row per op, with the ratio to numpy where numpy has the op."""
    eager_overhead.main(["--size", "8", "--number", "1", "--rounds", "1", "--settle", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(eager_overhead.cases(8))
    assert lines[1].startswith("a+b") and lines[1].split()[4].endswith("x")
