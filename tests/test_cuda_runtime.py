"""The CUDA runtime's host side, run without a GPU: choosing a driver binding, device
arrays and their copies, kernel launches (grid, block, argument slots) and CUDA-event
timing, through a binding whose "device memory" is host memory and which records what
the runtime asks of it (``HostBinding``), and the pool device arrays take their memory
from. What the kernels compute is tested on a GPU (test_cuda.py) and on the CPU's
emulation of one (test_cuda_emulated.py).
"""
import ctypes
import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tvmini as tm
from tvmini import te
from tvmini.errors import DeviceError
from tvmini.runtime import cuda_driver
from tvmini.runtime.cuda_bindings import SLOT_DTYPES, pack_params
from tvmini.runtime.cuda_memory import SMALL_STEP, size_class

from test_cuda import bind

_CTYPES = {"ptr": ctypes.c_uint64, "int32": ctypes.c_int32, "int64": ctypes.c_int64,
           "float32": ctypes.c_float, "float64": ctypes.c_double}


class HostBinding:
    """A driver binding over host memory that records what the runtime asks of it
    (alloc and copy calls, launches, events) and runs nothing."""

    name = "host"

    def __init__(self):
        self.launches, self.copies, self.events = [], [], []

    def compute_capability(self):
        return 8, 0

    def alloc(self, nbytes):
        buffer = np.zeros(nbytes, np.uint8)     # the owner the storage keeps
        return buffer, buffer.ctypes.data

    def htod(self, ptr, host):
        self.copies.append("htod")
        ctypes.memmove(ptr, host.ctypes.data, host.nbytes)

    def dtoh(self, host, ptr):
        self.copies.append("dtoh")
        ctypes.memmove(host.ctypes.data, ptr, host.nbytes)

    def dtod(self, dst, src, nbytes):
        self.copies.append("dtod")
        ctypes.memmove(dst, src, nbytes)

    def load(self, ptx, source):
        return ("ptx", ptx())

    def function(self, module, name):
        return name

    def launch(self, function, grid, block, values, types):
        self.launches.append((function, grid, block, list(values), list(types)))

    def event(self):
        return len(self.events)

    def record(self, event):
        self.events.append(event)

    def elapsed_seconds(self, start, end):
        return 0.004

    def synchronize(self):
        self.launches.append("synchronize")


@pytest.fixture
def fake(monkeypatch):
    """Device 0 through a HostBinding for the length of a test."""
    binding = HostBinding()
    monkeypatch.setattr(cuda_driver, "BINDINGS", {"fake": lambda: binding})
    monkeypatch.setenv(cuda_driver.BINDING_VARIABLE, "fake")
    cuda_driver.driver.cache_clear()
    yield binding
    cuda_driver.driver.cache_clear()


def test_pack_params_gives_each_slot_its_value_and_type():
    values = [0x7F00_1234_5678, -5, 2 ** 40 + 3, 1.5, -2.25]
    types = ["ptr", "int32", "int64", "float32", "float64"]
    holder, pointers = pack_params(values, types)
    assert pointers.dtype == np.uint64 and len(pointers) == len(values)
    for value, kind, address in zip(values, types, pointers):
        assert ctypes.cast(int(address), ctypes.POINTER(_CTYPES[kind]))[0] == value
        assert np.dtype(SLOT_DTYPES[kind]).itemsize <= 8
    assert holder.nbytes == 8 * len(values)


def test_the_first_binding_that_imports_is_used(monkeypatch):
    chosen = HostBinding()

    def missing():
        raise ImportError("No module named 'pycuda'")

    monkeypatch.setattr(cuda_driver, "BINDINGS", {"pycuda": missing, "fake": lambda: chosen})
    monkeypatch.setattr(cuda_driver, "AUTOMATIC", ("pycuda", "fake"))
    monkeypatch.delenv(cuda_driver.BINDING_VARIABLE, raising=False)
    cuda_driver.driver.cache_clear()
    try:
        assert cuda_driver.driver() is chosen
        assert cuda_driver.device_arch() == "sm_80"
        cuda_driver.driver.cache_clear()
        monkeypatch.setenv(cuda_driver.BINDING_VARIABLE, "pycuda")
        with pytest.raises(DeviceError, match="pycuda: No module named 'pycuda'"):
            cuda_driver.driver()
        monkeypatch.setenv(cuda_driver.BINDING_VARIABLE, "opencl")
        with pytest.raises(DeviceError, match="TVMINI_CUDA_BINDING='opencl': expected one of pycuda, fake"):
            cuda_driver.driver()
        assert cuda_driver.device_arch() is None
    finally:
        cuda_driver.driver.cache_clear()


def test_device_arrays_round_trip_and_copy_on_the_device(fake):
    dev = tm.cuda(0)
    data = np.arange(12, dtype="float32").reshape(3, 4)
    a = tm.nd.array(data, device=dev)
    assert a.device == dev and fake.copies == ["htod"]
    np.testing.assert_array_equal(a.numpy(), data)
    b = tm.nd.empty((3, 4), device=dev).copyfrom(a)
    assert fake.copies[-1] == "dtod"
    np.testing.assert_array_equal(b.numpy(), data)
    host = a.copyto("cpu")
    assert host.device == tm.cpu(0)
    np.testing.assert_array_equal(host.numpy(), data)
    c = tm.nd.empty((3, 4), device=dev).copyfrom(host)
    assert fake.copies[-1] == "htod"
    np.testing.assert_array_equal(c.numpy(), data)
    with pytest.raises(DeviceError, match="device 0 only"):
        tm.nd.empty(3, device="cuda:1")


def _symbolic_elementwise(factor):
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=factor)
    bind(s, B, bx, "blockIdx.x")
    bind(s, B, tx, "threadIdx.x")
    return s, [A, B]


@pytest.mark.parametrize("n", [1, 63, 64, 1000])
def test_a_launch_gets_its_grid_block_and_argument_slots(fake, n):
    f = tm.build(*_symbolic_elementwise(64), target="cuda", name="fake_launch")
    dev = tm.cuda(0)
    a, b = tm.nd.array(np.ones(n, "float32"), device=dev), tm.nd.empty(n, device=dev)
    f(a, b)
    ((function, grid, block, values, types),) = fake.launches
    assert function == "fake_launch_kernel0"
    assert grid == (-(-n // 64), 1, 1) and block == (64, 1, 1)
    assert sorted(v for v, t in zip(values, types) if t == "ptr") == sorted([a.data_ptr, b.data_ptr])
    assert [v for v, t in zip(values, types) if t != "ptr"] == [n]


def test_time_evaluator_times_cuda_with_events(fake):
    f = tm.build(*_symbolic_elementwise(32), target="cuda", name="fake_timed")
    dev = tm.cuda(0)
    a, b = tm.nd.array(np.ones(100, "float32"), device=dev), tm.nd.empty(100, device=dev)
    result = f.time_evaluator(number=4, repeat=3)(a, b)
    assert len(fake.launches) == 1 + 4 * 3
    assert len(fake.events) == 2 * 3
    assert result.results == pytest.approx([0.001] * 3)       # the events' 4 ms over 4 calls


def test_a_build_without_a_cuda_compiler_says_so_at_the_first_call(fake, monkeypatch):
    from tvmini.codegen import cuda_compile
    from tvmini.errors import BuildError
    monkeypatch.setattr(cuda_compile, "nvcc_path", lambda: None)
    monkeypatch.setattr(cuda_compile, "nvrtc_version", lambda: None)
    f = tm.build(*_symbolic_elementwise(16), target="cuda", name="fake_no_compiler")
    assert "fake_no_compiler_kernel0" in f.get_source("cuda")
    dev = tm.cuda(0)
    a, b = tm.nd.array(np.ones(5, "float32"), device=dev), tm.nd.empty(5, device=dev)
    with pytest.raises(BuildError, match="needs NVRTC .* or nvcc"):
        f(a, b)
    assert fake.launches == []


def test_a_profiled_cuda_call_waits_for_the_device_around_its_launch(fake):
    f = tm.build(*_symbolic_elementwise(32), target="cuda", name="fake_profiled")
    dev = tm.cuda(0)
    a, b = tm.nd.array(np.ones(40, "float32"), device=dev), tm.nd.empty(40, device=dev)
    with tm.profiler() as prof:
        f(a, b)
    assert [x if x == "synchronize" else x[0] for x in fake.launches] == [
        "synchronize", "fake_profiled_kernel0", "synchronize"]
    (event,) = prof.events
    assert event.device == "cuda(0)"
    f(a, b)                                        # not observed: the launch alone
    assert fake.launches[-1][0] == "fake_profiled_kernel0" and fake.launches[-2] == "synchronize"


def _rows_on_blockidx_y(rows):
    A = te.placeholder((rows, 4), name="A")
    B = te.compute((rows, 4), lambda i, j: A[i, j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    bind(s, B, B.op.axis[0], "blockIdx.y")
    bind(s, B, B.op.axis[1], "threadIdx.x")
    return s, [A, B]


def test_grids_over_cudas_limits_are_refused():
    from tvmini.errors import BuildError
    with pytest.raises(BuildError, match="B.i.*blockIdx.y with extent 70000; CUDA grids have at most 65535"):
        tm.build(*_rows_on_blockidx_y(70000), target="cuda", name="grid_y")


def test_a_symbolic_grid_over_the_limit_is_refused_at_launch(fake):
    f = tm.build(*_rows_on_blockidx_y(te.var("n")), target="cuda", name="grid_y_symbolic")
    dev = tm.cuda(0)
    ok = tm.nd.empty((65535, 4), device=dev)
    f(ok, tm.nd.empty((65535, 4), device=dev))
    big = tm.nd.empty((65536, 4), device=dev)
    with pytest.raises(DeviceError, match=r"kernel grid_y_symbolic_kernel0 needs a grid of \(1, 65536, 1\)"):
        f(big, tm.nd.empty((65536, 4), device=dev))
    assert len(fake.launches) == 1


@given(st.integers(1, 1 << 34))
def test_a_size_class_holds_the_request_with_little_slack(nbytes):
    size = size_class(nbytes)
    assert size >= nbytes and size % SMALL_STEP == 0
    assert size - nbytes < SMALL_STEP or size <= nbytes * 1.125


def test_a_dropped_array_gives_its_memory_to_the_next_array_of_its_size_class(fake):
    dev = tm.cuda(0)
    pool = cuda_driver.memory_pool()
    a = tm.nd.empty((1000,), device=dev)                  # 4000 bytes -> a 4096-byte block
    address, asked = a.data_ptr, pool.driver_allocations
    assert cuda_driver.memory_stats() == {"in_use_bytes": 4096, "cached_bytes": 0, "driver_allocations": asked}
    del a
    assert cuda_driver.memory_stats()["cached_bytes"] == 4096
    b = tm.nd.empty((1020,), "float32", device=dev)       # the same class: the same memory, no driver call
    assert b.data_ptr == address and pool.driver_allocations == asked
    c = tm.nd.empty((10, 10), "float64", device=dev)      # another class: from the driver
    assert c.data_ptr != address and pool.driver_allocations == asked + 1
    b.copyfrom(np.arange(1020, dtype="float32"))          # a reused block holds what is written to it
    np.testing.assert_array_equal(b.numpy(), np.arange(1020, dtype="float32"))
    del b, c
    cuda_driver.empty_cache()
    assert cuda_driver.memory_stats()["cached_bytes"] == 0


class FreedOnCollection:
    """A driver allocation that records its address when collected (as cuMemFree does)."""

    __slots__ = ("buffer", "freed")

    def __init__(self, buffer, freed):
        self.buffer, self.freed = buffer, freed

    def __del__(self):
        self.freed.append(self.buffer.ctypes.data)


def test_an_array_dropped_in_a_reference_cycle_keeps_its_memory_for_the_pool(fake, monkeypatch):
    """The cyclic collector finalizes all that only the cycle reaches: the memory the pool
    puts back on a free list must not be freed with it (a GPU run handed such freed
    addresses to new arrays: CUDA_ERROR_INVALID_VALUE at the next copy)."""
    freed, alloc = [], fake.alloc

    def recording(nbytes):
        buffer, ptr = alloc(nbytes)
        return FreedOnCollection(buffer, freed), ptr
    monkeypatch.setattr(fake, "alloc", recording)

    class Cycle:
        pass
    cycle = Cycle()
    cycle.array, cycle.me = tm.nd.empty((1000,), device=tm.cuda(0)), cycle
    address = cycle.array.data_ptr
    del cycle
    gc.collect()
    assert freed == [] and cuda_driver.memory_stats()["cached_bytes"] == 4096
    again = tm.nd.empty((1000,), device=tm.cuda(0))
    assert again.data_ptr == address
    del again
    cuda_driver.empty_cache()                 # now the driver gets it back
    assert freed == [address]


def test_out_of_device_memory_frees_the_cached_blocks_and_asks_again(fake, monkeypatch):
    """The driver has room for 8 KiB: two cached 4 KiB blocks must go before an 8 KiB array fits."""
    live, alloc = [], fake.alloc          # (weak reference to the driver's owner, bytes)

    def limited(nbytes):
        live[:] = [(ref, n) for ref, n in live if ref() is not None]
        if sum(n for _, n in live) + nbytes > 8192:
            raise DeviceError(f"CUDA driver call cuMemAlloc({nbytes}) failed: CUDA_ERROR_OUT_OF_MEMORY")
        owner, ptr = alloc(nbytes)
        live.append((weakref.ref(owner), nbytes))
        return owner, ptr
    monkeypatch.setattr(fake, "alloc", limited)
    dev = tm.cuda(0)
    a, b = tm.nd.empty((1024,), device=dev), tm.nd.empty((1000,), device=dev)
    del a, b
    big = tm.nd.empty((2048,), device=dev)
    assert cuda_driver.memory_stats()["in_use_bytes"] == 8192
    with pytest.raises(DeviceError, match="OUT_OF_MEMORY"):
        tm.nd.empty((16,), device=dev)
    del big


def test_a_device_sync_waits_for_the_gpu_and_the_cpu_has_nothing_to_wait_for(fake):
    tm.cpu(0).sync()
    assert fake.launches == []
    tm.cuda(0).sync()
    assert fake.launches == ["synchronize"]


def _two_kernels():
    """C = (A * 2) + 1 with B = A * 2 a stage of its own: a temporary of n floats."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    C = te.compute((n,), lambda i: B[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    for stage in (B, C):
        bx, tx = s[stage].split(stage.op.axis[0], factor=32)
        bind(s, stage, bx, "blockIdx.x")
        bind(s, stage, tx, "threadIdx.x")
    return s, [A, C]


def test_launches_are_prepared_once_per_extents_and_follow_a_grown_temporary(fake):
    """A launcher keeps its grids per set of extents; a temporary that grows for larger
    extents replaces the one the kept launches would have passed."""
    f = tm.build(*_two_kernels(), target="cuda", name="fake_prepared")
    dev = tm.cuda(0)
    temporaries = []
    for n in (40, 40, 1000, 40):
        f(tm.nd.empty(n, device=dev), tm.nd.empty(n, device=dev))
        (_, _, temporary), = f._cfunc._temps.values()
        first, second = fake.launches[-2:]
        assert first[1] == second[1] == (-(-n // 32), 1, 1)
        assert temporary in first[3] and temporary in second[3]
        temporaries.append(temporary)
    assert temporaries[0] == temporaries[1] != temporaries[2] == temporaries[3]
    assert sorted(f._cfunc._prepared) == [(40,), (1000,)]   # 40's prepared again after the growth


# ------------------------------------------------------------------ CUDA build caches
# As on the CPU, an equal schedule built again reuses its launcher in a process, and a
# later process reads its CUDA C and launch plan from the build's manifest (no lowering).

def test_an_equal_cuda_schedule_built_again_shares_its_launcher(fake, monkeypatch):
    from tvmini.codegen import cuda_host
    f = tm.build(*_two_kernels(), target="cuda", name="fake_memo")
    lower = cuda_host.lower
    monkeypatch.setattr(cuda_host, "lower", _refuse_lowering)
    g = tm.build(*_two_kernels(), target="cuda", name="fake_memo")           # fresh te definitions
    assert g._cfunc is f._cfunc and g.get_source("cuda") == f.get_source("cuda")
    monkeypatch.setattr(cuda_host, "lower", lower)
    assert tm.build(*_two_kernels(), target="cuda", name="fake_memo_other")._cfunc is not f._cfunc


def _refuse_lowering(*args, **kwargs):
    raise AssertionError("lowered although the build is cached")


@pytest.mark.parametrize("make,n", [(_two_kernels, 1000), (lambda: _symbolic_elementwise(64), 65)])
def test_a_later_process_reads_the_cuda_build_from_its_manifest(fake, tmp_path, monkeypatch, make, n):
    """With the memo emptied (as in a new process) and lowering disabled, the manifest
    gives the same CUDA C, arguments and flops, and launches with the same grids, blocks,
    argument slots and temporaries; sources edited since serve nothing."""
    from tvmini.codegen import cuda_host, manifest
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cuda_host, "_built", {})
    dev = tm.cuda(0)
    built = []
    for build_again in (False, True):
        if build_again:
            monkeypatch.setattr(cuda_host, "_built", {})
            monkeypatch.setattr(cuda_host, "lower", _refuse_lowering)
        f = tm.build(*make(), target="cuda", name="fake_manifest")
        a, b = tm.nd.array(np.ones(n, "float32"), device=dev), tm.nd.empty(n, device=dev)
        fake.launches.clear()
        f(a, b)
        own = {a.data_ptr, b.data_ptr}
        launches = [(name, grid, block, types, [v for v, t in zip(values, types) if t != "ptr"],
                     sum(v not in own for v, t in zip(values, types) if t == "ptr"))  # temporaries
                    for name, grid, block, values, types in fake.launches]
        built.append((f.get_source("cuda"), f.get_source("tir"), f.arg_specs, f.var_names, f.flops, launches))
    assert built[0] == built[1]
    assert len(list(tmp_path.glob("*.manifest"))) == 1
    monkeypatch.setattr(cuda_host, "_built", {})
    monkeypatch.setattr(manifest, "source_digest", lambda: "edited sources")
    with pytest.raises(AssertionError, match="lowered although"):
        tm.build(*make(), target="cuda", name="fake_manifest")


# ------------------------------------------------------------------ exported CUDA modules

def test_an_exported_cuda_module_loads_and_launches_as_built(fake, tmp_path, monkeypatch):
    """export_library writes the CUDA module's PTX and launch plan; load_module gives a
    module that launches the same kernels with the same grids, blocks and argument
    slots (the temporary between the two kernels included), compiling nothing."""
    from tvmini.codegen import cuda_compile
    f = tm.build(*_two_kernels(), target="cuda", name="fake_exported")
    lib = tmp_path / "kernels.so"
    if cuda_compile.ptx_compiler() is None:
        with pytest.raises(tm.BuildError, match="needs NVRTC .* or nvcc"):
            f.export_library(str(lib))
        return
    f.export_library(str(lib))
    for name in ("_nvcc_ptx", "_nvrtc_ptx", "compile_ptx_cached"):
        monkeypatch.setattr(cuda_compile, name, _refuse_lowering)
    loaded = tm.runtime.load_module(str(lib))
    assert loaded.target == "cuda" and loaded.arg_specs == f.arg_specs and loaded.var_names == f.var_names
    for fmt in ("cuda", "ptx", "tir"):
        assert loaded.get_source(fmt) == f.get_source(fmt)
    dev = tm.cuda(0)
    calls = []
    for module in (f, loaded):
        a, b = tm.nd.array(np.ones(300, "float32"), device=dev), tm.nd.empty(300, device=dev)
        fake.launches.clear()
        module(a, b)
        calls.append([(name, grid, block, types, [v for v, t in zip(values, types) if t != "ptr"],
                       [values.index(p) if p in values else None for p in (a.data_ptr, b.data_ptr)])
                      for name, grid, block, values, types in fake.launches])
    assert calls[0] == calls[1] and calls[0][0][1] == (10, 1, 1)
    with pytest.raises(tm.ShapeError, match="n is 300 from A.shape"):
        loaded(tm.nd.empty(300, device=dev), tm.nd.empty(299, device=dev))
    again = tmp_path / "again.so"
    loaded.export_library(str(again))
    assert tm.runtime.load_module(str(again)).get_source("ptx") == f.get_source("ptx")
