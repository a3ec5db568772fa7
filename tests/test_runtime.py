"""Tests of the runtime layer: devices, NDArray, and Module's argument checks.

Kernels are real native functions: small hand-written LLVM IR compiled with
llvmlite's MCJIT, so the tests do not depend on the compiler layers.
"""

import copy
import ctypes
import pickle

import llvmlite.binding as llvm
import numpy as np
import pytest

from tvmini.errors import BuildError, DeviceError, DTypeError, ShapeError, TVMiniError
from tvmini.runtime import (
    ArgSpec, ArgumentError, BenchmarkResult, Device, Module, NDArray, as_device, cpu, cuda,
)
from tvmini.runtime import ndarray as nd
from strategies import add_loop_ir, outer_rowsum

ALL_DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]

# c[i] = a[i] + b[i] for i < n, and a kernel that does nothing.
KERNELS_IR = add_loop_ir() + r"""
define void @noop(ptr %a, ptr %b, ptr %c, i32 %n, i32 %m) {
  ret void
}
"""


@pytest.fixture(scope="module")
def jit():
    """Compile KERNELS_IR; return ``get(name, n_pointers, n_ints) -> ctypes function``."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    machine = llvm.Target.from_default_triple().create_target_machine()
    ir_module = llvm.parse_assembly(KERNELS_IR)
    ir_module.verify()
    engine = llvm.create_mcjit_compiler(ir_module, machine)
    engine.finalize_object()

    def get(name, n_pointers, n_ints):
        proto = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * n_pointers, *[ctypes.c_int32] * n_ints)
        return proto(engine.get_function_address(name))

    get.engine = engine
    get.asm = lambda: machine.emit_assembly(ir_module)
    return get


@pytest.fixture(scope="module")
def add(jit):
    specs = [ArgSpec(name, ("n",), "float32") for name in "ABC"]
    sources = {"ll": KERNELS_IR, "asm": jit.asm}
    return Module("add", "llvm", specs, ["n"], jit("add", 3, 1), sources, jit.engine)


@pytest.fixture(scope="module")
def noop(jit):
    """A kernel f(A: float32[n, 4], B: float32[n], C: int32[m, n]) that does nothing."""
    specs = [ArgSpec("A", ("n", 4), "float32"), ArgSpec("B", ("n",), "float32"),
             ArgSpec("C", ("m", "n"), "int32")]
    return Module("f", "llvm", specs, ["n", "m"], jit("noop", 3, 2), {}, jit.engine)


def recording_module(specs, var_names, target="llvm"):
    """A Module whose native function is a ctypes callback recording its arguments."""
    calls = []
    proto = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * len(specs),
                             *[ctypes.c_int32] * len(var_names))
    cfunc = proto(lambda *args: calls.append(args))
    return Module("f", target, specs, var_names, cfunc, {}, None), calls


def good_noop_args(n=3, m=2):
    return (np.zeros((n, 4), "float32"), np.zeros(n, "float32"), np.zeros((m, n), "int32"))


# --- devices -------------------------------------------------------------------------------

def test_device_basics():
    assert repr(cpu()) == "cpu(0)" and repr(cuda(1)) == "cuda(1)"
    assert cpu(0) == Device("cpu", 0) and cpu(0) != cuda(0) and cpu(0) != cpu(1)
    assert hash(cuda(2)) == hash(Device("cuda", 2))
    assert cpu(0) is Device("cpu")
    assert {cpu(0): 1}[Device("cpu", 0)] == 1
    with pytest.raises(AttributeError):
        cpu().index = 3


@pytest.mark.parametrize("text, expected", [
    ("cpu", cpu(0)), ("llvm", cpu(0)), ("cuda", cuda(0)), ("cuda:1", cuda(1)), ("cpu:0", cpu(0)),
])
def test_as_device_strings(text, expected):
    assert as_device(text) == expected
    assert as_device(expected) is expected


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cuda:-1", "CUDA", "", 0, None])
def test_as_device_rejects(bad):
    with pytest.raises(DeviceError, match=repr(bad).replace("(", r"\(")):
        as_device(bad)


def test_device_constructor_rejects():
    with pytest.raises(DeviceError, match="'tpu'"):
        Device("tpu", 0)
    with pytest.raises(DeviceError, match="-1"):
        Device("cpu", -1)


# --- NDArray -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_ndarray_round_trip(dtype):
    data = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    arr = nd.array(data)
    assert isinstance(arr, NDArray)
    assert arr.dtype == dtype and arr.shape == (2, 3, 4) and arr.device == cpu(0)
    assert arr.ndim == 3 and arr.size == 24 and arr.nbytes == data.nbytes
    assert arr.data_ptr % 64 == 0
    out = arr.numpy()
    assert out.dtype == data.dtype and out.flags.c_contiguous
    np.testing.assert_array_equal(out, data)
    out[...] = 0                                    # numpy() is a copy
    np.testing.assert_array_equal(arr.numpy(), data)
    data[...] = 0                                   # array() copied its input
    assert arr.numpy().any()


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 5, 7), (1000,), (3, 0, 2)])
@pytest.mark.parametrize("dtype", ["float16", "float64", "bool"])
def test_alignment(shape, dtype):
    for _ in range(5):
        arr = nd.empty(shape, dtype)
        assert arr.data_ptr % 64 == 0 and arr.shape == shape
    assert nd.zeros(shape, dtype).numpy().sum() == 0


def test_array_dtype_rules():
    assert nd.array([1.0, 2.0]).dtype == "float32"
    assert nd.array([1, 2.5]).dtype == "float32"
    assert nd.array([[1, 2], [3, 4]]).dtype == "int64"
    assert nd.array([True, False]).dtype == "bool"
    assert nd.array(3.0).shape == ()
    assert nd.array(np.zeros(3, "float64")).dtype == "float64"
    assert nd.array(np.int32(7)).dtype == "int32"
    assert nd.array([1.7, -2.2], dtype="int32").numpy().tolist() == [1, -2]
    assert nd.array(np.zeros(2, ">f4")).dtype == "float32"
    assert nd.array(nd.array([1, 2]), dtype=np.float64).dtype == "float64"
    assert nd.empty(4).dtype == "float32" and nd.empty(4).shape == (4,)


def test_array_takes_a_device_in_tvms_position():
    """tvm.nd.array(data, device): a Device second was read as a dtype."""
    a = nd.array(np.arange(3, dtype="int32"), cpu(0))
    assert (a.dtype, a.device, a.numpy().tolist()) == ("int32", cpu(0), [0, 1, 2])
    with pytest.raises(DTypeError, match="is a device, and device=cpu.0. is given too"):
        nd.array([1.0], cpu(0), device=cpu(0))


@pytest.mark.parametrize("obj, dtype, message", [
    (np.zeros(2, "int16"), None, "unsupported dtype 'int16'"),
    ([1 + 2j], None, "complex128"),
    (["a"], None, "<U1"),
    ([1.0], "float128x", "not a dtype"),
    ([1.0], "complex64", "unsupported dtype 'complex64'"),
])
def test_array_rejects_dtypes(obj, dtype, message):
    with pytest.raises(DTypeError, match=message):
        nd.array(obj, dtype=dtype)


def test_array_shape_errors():
    with pytest.raises(ShapeError, match="not a rectangular array"):
        nd.array([[1.0], [1.0, 2.0]])
    with pytest.raises(ShapeError, match="negative"):
        nd.empty((2, -1))
    with pytest.raises(ShapeError, match="sequence of ints"):
        nd.zeros((2, 1.5))


def test_arrays_too_large_to_allocate():
    """Shapes whose bytes exceed the address space, or the memory, raise a TVMiniError
    naming the shape and the bytes (numpy's ValueError / MemoryError escaped raw)."""
    with pytest.raises(ShapeError, match=r"shape \(4611686018427387904,\) and dtype float32 "
                                         r"\(18446744073709551616 bytes\) is larger than a process can address"):
        nd.empty((2**62,), "float32")
    with pytest.raises(ShapeError, match="larger than a process can address"):
        nd.zeros((2**31, 2**31, 4), "int8")
    with pytest.raises(DeviceError, match=r"cpu\(0\) has no memory for an array of shape "
                                          r"\(1152921504606846976,\) and dtype float32 \(4611686018427387904 bytes\)"):
        nd.empty((2**60,), "float32")
    with pytest.raises(DeviceError, match="has no memory"):
        nd.new((2**59,), np.dtype("float64"), cpu(0))


def test_copyfrom_copyto():
    a = nd.empty((2, 3))
    assert a.copyfrom(np.ones((2, 3), "float32")) is a
    np.testing.assert_array_equal(a.numpy(), np.ones((2, 3)))
    b = nd.zeros((2, 3)).copyfrom(a)
    np.testing.assert_array_equal(b.numpy(), a.numpy())
    c = nd.empty((2, 3))
    assert a.copyto(c) is c
    np.testing.assert_array_equal(c.numpy(), np.ones((2, 3)))
    d = a.copyto("cpu")
    assert d.device == cpu(0) and d.data_ptr != a.data_ptr and d.dtype == "float32"
    np.testing.assert_array_equal(d.numpy(), a.numpy())


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, lambda a: pickle.loads(pickle.dumps(a))])
def test_copies_and_unpickled_arrays_own_their_memory(add, duplicate):
    """A copied or unpickled NDArray kept the original's raw pointer: kernels read and
    wrote the original (and, in another process, memory that was never allocated)."""
    a = nd.array(np.arange(5, dtype="float32"))
    b = duplicate(a)
    assert b.data_ptr == b._storage.ptr != a.data_ptr and b.data_ptr % nd.ALIGNMENT == 0
    assert (b.shape, b.dtype, b.device) == (a.shape, a.dtype, a.device)
    a.copyfrom(np.zeros(5, "float32"))
    c = nd.empty(5)
    add(b, b, c)                                     # the kernel reads b's own memory
    np.testing.assert_array_equal(c.numpy(), 2 * np.arange(5))
    add(b, b, b)                                     # and writes it
    np.testing.assert_array_equal(a.numpy(), np.zeros(5))


def test_copyfrom_errors():
    a = nd.empty((2, 3))
    with pytest.raises(ShapeError, match=r"source shape \(3, 2\) does not match \(2, 3\)"):
        a.copyfrom(np.ones((3, 2), "float32"))
    with pytest.raises(DTypeError, match="source dtype float64 does not match float32"):
        a.copyfrom(np.ones((2, 3)))
    with pytest.raises(DTypeError, match="source dtype int64"):
        a.copyfrom(nd.zeros((2, 3), "int64"))
    with pytest.raises(DTypeError, match="got list"):
        a.copyfrom([[1.0] * 3] * 2)
    with pytest.raises(ShapeError):
        a.copyto(nd.empty((6,)))


@pytest.mark.skipif(__import__("tvmini.runtime.cuda_driver").runtime.cuda_driver.device_arch() is not None,
                    reason="a CUDA device is usable here")
def test_cuda_arrays_need_pycuda_and_a_gpu():
    for make in (lambda: nd.empty(3, device="cuda"), lambda: nd.array([1.0], device=cuda(0)),
                 lambda: nd.zeros(2).copyto("cuda:1")):
        with pytest.raises(DeviceError, match="pycuda|CUDA"):
            make()


def test_ndarray_repr():
    text = repr(nd.array([[1.0, 2.0]]))
    assert "shape=(1, 2)" in text and "float32" in text and "cpu(0)" in text and "2." in text


# --- Module: calls -------------------------------------------------------------------------

def test_call_with_ndarrays_and_numpy(add):
    a, b = np.arange(7, dtype="float32"), np.full(7, 0.5, "float32")
    c = nd.empty(7)
    add(nd.array(a), nd.array(b), c)
    np.testing.assert_array_equal(c.numpy(), a + b)
    out = np.zeros(7, "float32")
    add(a, b, out)                                  # written in place
    np.testing.assert_array_equal(out, a + b)
    add(a[:0], b[:0], out[:0])                      # n = 0 is fine
    mixed = np.zeros(7, "float32")
    add(nd.array(a), b, mixed)
    np.testing.assert_array_equal(mixed, a + b)


def test_module_metadata(add):
    assert add.name == "add" and add.target == "llvm" and add.device == cpu(0)
    assert add.arg_specs[0] == ArgSpec("A", ("n",), "float32")
    assert repr(add) == "Module('add', target='llvm', args=[A: float32[n], B: float32[n], C: float32[n]])"
    assert add.get_source() == KERNELS_IR and add.get_source("ll") == KERNELS_IR
    assert "add:" in add.get_source("asm")
    with pytest.raises(TVMiniError, match="no 'cuda' source; available formats: 'asm', 'll'"):
        add.get_source("cuda")


def test_pointers_and_extents_reach_native_code():
    specs = [ArgSpec("A", ("n", 4), "float32"), ArgSpec("B", ("m",), "int64")]
    module, calls = recording_module(specs, ["m", "n"])
    a, b = nd.empty((3, 4)), np.zeros(5, "int64")
    module(a, b)
    assert calls == [(a.data_ptr, b.ctypes.data, 5, 3)]


def test_argspec_normalises():
    spec = ArgSpec("A", [np.int64(3), "n"], np.float32)
    assert spec.shape == (3, "n") and type(spec.shape[0]) is int and spec.dtype == "float32"
    assert str(spec) == "A: float32[3, n]"
    with pytest.raises(DTypeError):
        ArgSpec("A", (3,), "complex64")


def test_constructor_rejects_bad_metadata(jit):
    cfunc = jit("noop", 3, 2)
    specs = [ArgSpec(name, ("n",), "float32") for name in "ABC"]
    with pytest.raises(BuildError, match="not bound: \\['m'\\]"):
        Module("f", "llvm", specs, ["n", "m"], cfunc, {}, None)
    with pytest.raises(BuildError, match="duplicate argument names"):
        Module("f", "llvm", specs[:2] + [ArgSpec("A", ("m",), "float32")], ["n", "m"], cfunc, {}, None)
    with pytest.raises(BuildError, match="native function takes 5 arguments"):
        Module("f", "llvm", specs, ["n"], cfunc, {}, None)
    with pytest.raises(DeviceError, match="'tpu'"):
        Module("f", "tpu", specs, ["n"], jit("add", 3, 1), {}, None)


# --- Module: argument validation -----------------------------------------------------------

def check_rejected(module, calls, args, error, message):
    with pytest.raises(error) as info:
        module(*args)
    assert message in str(info.value), str(info.value)
    assert calls == []                              # native code never ran


@pytest.fixture
def rec():
    """The noop kernel's signature with a recording native function."""
    specs = [ArgSpec("A", ("n", 4), "float32"), ArgSpec("B", ("n",), "float32"),
             ArgSpec("C", ("m", "n"), "int32")]
    return recording_module(specs, ["n", "m"])


def test_good_call_passes(rec, noop):
    module, calls = rec
    module(*good_noop_args())
    noop(*good_noop_args())
    assert len(calls) == 1 and calls[0][3:] == (3, 2)


@pytest.mark.parametrize("count", [0, 2, 4])
def test_wrong_argument_count(rec, count):
    module, calls = rec
    args = (good_noop_args() + (np.zeros(1),))[:count]
    check_rejected(module, calls, args, ArgumentError,
                   f"kernel 'f' takes 3 arguments (A, B, C), got {count}")
    assert issubclass(ArgumentError, TypeError)


def test_wrong_ndim(rec):
    a, b, c = good_noop_args()
    check_rejected(*rec, (a.ravel(), b, c), ShapeError,
                   "kernel 'f': argument A has shape (12,), expected 2 dimensions (n, 4)")


def test_wrong_constant_extent(rec):
    a, b, c = good_noop_args()
    check_rejected(*rec, (np.zeros((3, 5), "float32"), b, c), ShapeError,
                   "argument A has shape (3, 5), expected (n, 4): axis 1 is 5, expected 4")


def test_static_shape_mismatch():
    module, calls = recording_module([ArgSpec("X", (2, 3), "float64")], [])
    check_rejected(module, calls, (np.zeros((2, 4)),), ShapeError,
                   "argument X has shape (2, 4), expected (2, 3): axis 1 is 4, expected 3")
    check_rejected(module, calls, (nd.zeros((6,), "float64"),), ShapeError,
                   "argument X has shape (6,), expected 2 dimensions (2, 3)")


def test_inconsistent_symbolic_extent(rec):
    a, b, c = good_noop_args(n=10)
    check_rejected(*rec, (a, np.zeros(12, "float32"), c), ShapeError,
                   "kernel 'f': n is 10 from A.shape[0] but 12 from B.shape[0]")
    check_rejected(*rec, (a, b, np.zeros((2, 9), "int32")), ShapeError,
                   "n is 10 from A.shape[0] but 9 from C.shape[1]")


def test_extent_beyond_int32():
    module, calls = recording_module([ArgSpec("A", ("n", "m"), "float32")], ["n", "m"])
    huge = np.zeros((2**31, 0), "float32")        # zero bytes, but n = 2**31
    check_rejected(module, calls, (huge,), ShapeError,
                   "n = 2147483648 from A.shape[0] does not fit in int32")
    module(np.zeros((2**31 - 1, 0), "float32"))
    assert calls == [(calls[0][0], 2**31 - 1, 0)]


def test_more_elements_than_int32_indexes():
    module, calls = recording_module([ArgSpec("A", ("n", "m"), "uint8")], ["n", "m"])
    huge = np.empty((65536, 32768), "uint8")      # 2 GiB reserved, never touched
    check_rejected(module, calls, (huge,), ShapeError,
                   "argument A (65536, 32768) has 2147483648 elements; kernels index with int32")
    from tvmini import te
    with pytest.raises(ShapeError, match="has 4294967296 elements; kernels index tensors with int32"):
        te.placeholder((65536, 65536), name="big")


def test_sizes_of_a_kernels_own_buffers_and_loops_are_checked_at_call_time(tmp_path, monkeypatch):
    """Each argument fits int32 indexing, but the kernel's own (n, n) buffer, or a loop
    over two fused reduce axes (n * m iterations), does not: the call is refused naming
    it (the kernel wrapped its index and wrote past the buffer), also when the build is
    served by its manifest on disk."""
    import tvmini as tm
    from tvmini import codegen, te
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))

    def fused_dot():
        n, m = te.var("n"), te.var("m")
        A, B = te.placeholder((n,), name="A"), te.placeholder((m,), name="B")
        i, j = te.reduce_axis((0, n), name="i"), te.reduce_axis((0, m), name="j")
        C = te.compute((1,), lambda z: te.sum(A[i] * B[j], axis=[i, j]), name="C")
        s = te.create_schedule(C.op)
        s[C].fuse(i, j)
        return tm.build(s, [A, B, C], name="fused_dot")

    f = outer_rowsum()
    b = np.zeros(4, "float32")
    f(np.arange(4, dtype="float32"), b)
    np.testing.assert_array_equal(b, np.arange(4) * 6.0)
    big = np.ones(65537, "float32")
    with pytest.raises(ShapeError, match=r"n=65537 its buffer T\[n, n\] has 4295098369 elements"):
        f(big, np.zeros(65537, "float32"))
    g = fused_dot()
    c = np.zeros(1, "float32")
    g(np.ones(3, "float32"), np.ones(5, "float32"), c)
    assert c[0] == 15
    with pytest.raises(ShapeError, match=r"n=65536, m=32768 its loop i.j.fused runs 2147483648 iterations .extent n \* m."):
        g(np.ones(65536, "float32"), np.ones(32768, "float32"), c)
    codegen._built.clear()
    assert outer_rowsum().limits == f.limits != ()


def test_a_split_factor_near_int32_refuses_what_its_extent_arithmetic_cannot_compute():
    """The outer extent (m + f - 1) // f of a split by f = 2**31 - 1 adds past int32: the
    loop ran 0 times and left the output unwritten; now the call is refused."""
    import tvmini as tm
    from tvmini import te
    m = te.var("m")
    A = te.placeholder((m,), name="A")
    B = te.compute((m,), lambda j: A[j] + 1.0, name="B")
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=2**31 - 1)
    f = tm.build(s, [A, B], name="huge_factor")
    with pytest.raises(ShapeError, match=r"m=5 its loop j.outer's extent .* computes m \+ 2147483646 = 2147483651"):
        f(np.ones(5, "float32"), np.zeros(5, "float32"))


def test_wrong_dtype(rec):
    a, b, c = good_noop_args()
    check_rejected(*rec, (a, b.astype("float64"), c), DTypeError,
                   "kernel 'f': argument B has dtype float64, expected float32")
    check_rejected(*rec, (a, b, nd.zeros(c.shape, "int64")), DTypeError,
                   "argument C has dtype int64, expected int32")
    check_rejected(*rec, (a, b.astype(">f4"), c), DTypeError, "argument B has dtype >f4")


def test_wrong_python_type(rec):
    a, b, c = good_noop_args()
    check_rejected(*rec, (a, b.tolist(), c), DTypeError,
                   "kernel 'f': argument B must be an NDArray or a numpy.ndarray, got list")
    check_rejected(*rec, (a, b, None), DTypeError, "got NoneType")


def test_non_contiguous(rec):
    a, b, c = good_noop_args()
    check_rejected(*rec, (a, np.zeros(6, "float32")[::2], c), ShapeError,
                   "kernel 'f': argument B is not C-contiguous; pass np.ascontiguousarray(B)")
    check_rejected(*rec, (np.zeros((4, 3), "float32").T, b, c), ShapeError,
                   "argument A is not C-contiguous")


def test_misaligned(rec):
    a, b, c = good_noop_args()
    raw = bytearray(3 * 4 + 2)
    shifted = np.frombuffer(raw, dtype="float32", count=3, offset=2)
    assert shifted.flags.writeable and shifted.flags.c_contiguous
    check_rejected(*rec, (a, shifted, c), ShapeError,
                   "argument B is not aligned to its 4-byte float32 elements")


def test_read_only():
    """Only the arguments the kernel writes must be writable: a read-only input (a
    broadcast view, memory-mapped weights) is passed as it is, and was refused."""
    specs = [ArgSpec("A", ("n", 4), "float32"), ArgSpec("B", ("n",), "float32"),
             ArgSpec("C", ("m", "n"), "int32", written=True)]
    module, calls = recording_module(specs, ["n", "m"])
    a, b, c = good_noop_args()
    a.flags.writeable = b.flags.writeable = False
    module(a, b, c)
    assert len(calls) == 1
    calls.clear()
    c.flags.writeable = False
    check_rejected(module, calls, (a, b, c), ShapeError,
                   "argument C is a read-only numpy array, and the kernel writes it in place")



def test_fixed_shape_calls_with_ndarrays_are_checked_like_any_other():
    """A kernel without symbolic extents called with NDArrays and Python numbers (the
    graph layer's calls, checked on a shorter path): the same arguments reach native
    code, and every wrong one is refused with the general path's error before it."""
    specs = [ArgSpec("X", (2, 3), "float32"), ArgSpec("s", (), "float32", scalar=True),
             ArgSpec("k", (), "int8", scalar=True), ArgSpec("Y", (2, 3), "float32", written=True)]
    calls = []
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_int8)
    module = Module("f", "llvm", specs, [], proto(lambda *args: calls.append(args)), {}, None)
    x, y = nd.zeros((2, 3)), nd.zeros((2, 3))
    module(x, 0.5, 7, y)
    module(x, 2, np.int8(-3), y)                   # an int for a float, a numpy int: as before
    assert calls == [(x.data_ptr, y.data_ptr, 0.5, 7), (x.data_ptr, y.data_ptr, 2.0, -3)]
    calls.clear()
    check_rejected(module, calls, (nd.zeros((3, 2)), 0.5, 7, y), ShapeError, "argument X has shape (3, 2)")
    check_rejected(module, calls, (x, 0.5, 7, nd.zeros((2, 3), "float64")), DTypeError,
                   "argument Y has dtype float64, expected float32")
    check_rejected(module, calls, (x, True, 7, y), DTypeError, "argument s is a float32 scalar, got bool")
    check_rejected(module, calls, (x, 0.5, 128, y), ShapeError, "scalar k = 128 does not fit in int8")
    check_rejected(module, calls, (x, 0.5, 1.0, y), DTypeError, "argument k is a int8 scalar, got float")
    check_rejected(module, calls, (x, 0.5, 7, x), ArgumentError, "argument Y is written by the kernel but shares")
    check_rejected(module, calls, (x, 0.5, 7), ArgumentError, "takes 4 arguments")
    on_gpu = Module("f", "cuda", specs, [], proto(lambda *args: calls.append(args)), {}, None)
    check_rejected(on_gpu, calls, (x, 0.5, 7, y), DeviceError, "runs on cuda(0) but argument X is on cpu(0)")


def test_wrong_device():
    specs = [ArgSpec("A", ("n",), "float32")]
    module, calls = recording_module(specs, ["n"], target="cuda")
    assert module.device == cuda(0)
    check_rejected(module, calls, (nd.zeros(3),), DeviceError,
                   "kernel 'f' runs on cuda(0) but argument A is on cpu(0)")
    check_rejected(module, calls, (np.zeros(3, "float32"),), DeviceError,
                   "argument A is a numpy array in host memory")


# --- Module: timing ------------------------------------------------------------------------

def test_time_evaluator(add):
    a, b, c = nd.array(np.ones(64, "float32")), nd.zeros(64), nd.empty(64)
    result = add.time_evaluator(number=5, repeat=4)(a, b, c)
    assert isinstance(result, BenchmarkResult) and len(result.results) == 4
    assert all(r > 0 for r in result.results)
    assert result.min <= result.median <= result.max and result.min <= result.mean <= result.max
    assert "mean=" in repr(result) and "repeat=4" in repr(result)
    np.testing.assert_array_equal(c.numpy(), np.ones(64))       # the kernel really ran
    slow = add.time_evaluator(number=1, repeat=2, min_repeat_ms=2)(a, b, c)
    assert len(slow.results) == 2
    with pytest.raises(ShapeError, match="n is 64 from A.shape"):
        add.time_evaluator()(a, b, nd.empty(3))
    for bad in (dict(number=0), dict(repeat=0), dict(min_repeat_ms=-1)):
        with pytest.raises(ArgumentError, match="time_evaluator needs"):
            add.time_evaluator(**bad)
    tvm_form = add.time_evaluator(add.entry_name, cpu(0), number=2, repeat=3)(a, b, c)    # TVM's signature
    assert len(tvm_form.results) == 3
    with pytest.raises(ArgumentError, match="pass its name and device, or neither"):
        add.time_evaluator("other", cpu(0))


def test_benchmark_result_statistics():
    result = BenchmarkResult([1e-6, 3e-6, 2e-6])
    assert result.results == [1e-6, 3e-6, 2e-6]
    assert result.median == 2e-6 and result.min == 1e-6 and result.max == 3e-6
    assert result.mean == pytest.approx(2e-6) and result.std == pytest.approx(np.std([1, 3, 2]) * 1e-6)
    assert repr(result).startswith("BenchmarkResult(mean=2 us, median=2 us")


def test_views_share_memory_and_must_fit_aligned():
    base = nd.zeros((256,), "uint8")
    v = nd.view(base, 64, (4, 2), "float32")
    v.copyfrom(np.arange(8, dtype="float32").reshape(4, 2))
    assert v.data_ptr == base.data_ptr + 64
    np.testing.assert_array_equal(base.numpy()[64:96].view("float32"), np.arange(8))
    for offset, shape in ((32, (4,)), (192, (32,)), (-64, (1,))):
        with pytest.raises(ShapeError, match="view"):
            nd.view(base, offset, shape, "float32")


def test_array_block_gives_aligned_independent_arrays_and_reuses_only_released_memory():
    specs = [((3, 5), np.dtype("float32")), ((), np.dtype("float64")), ((0,), np.dtype("int32")),
             ((7,), np.dtype("uint8")), ((2, 2), np.dtype("int64"))]
    block = nd.ArrayBlock(specs)
    arrays = block.take()
    for a, (shape, dtype) in zip(arrays, specs):
        assert a.shape == shape and a.dtype == dtype.name and a.data_ptr % nd.ALIGNMENT == 0
        a.copyfrom(np.full(shape, 3, dtype))
    ends = sorted((a.data_ptr, a.data_ptr + a.nbytes) for a in arrays)
    assert all(end <= start for (_, end), (start, _) in zip(ends, ends[1:]))       # no overlap
    kept = arrays[0]
    del arrays, a
    again = block.take()                     # ``kept`` holds the first allocation: a new one
    assert again[0].data_ptr != kept.data_ptr
    np.testing.assert_array_equal(kept.numpy(), np.full((3, 5), 3, "float32"))
    pointers, identities = [a.data_ptr for a in again], [id(a) for a in again]
    view = again[1]._storage.host_view()     # a zero-copy numpy view (what kernels get)
    del again
    assert [a.data_ptr for a in block.take()] != pointers    # a numpy view holds the block
    del view
    again = block.take()
    pointers, identities = [a.data_ptr for a in again], [id(a) for a in again]
    del again
    reused = block.take()                    # released: the same memory, the same objects
    assert [a.data_ptr for a in reused] == pointers and [id(a) for a in reused] == identities
    holders = list(reused)                   # one reference per array the caller accounts for
    del reused
    assert [a.data_ptr for a in block.take(holders=1)] == pointers
    assert [a.data_ptr for a in block.take()] != pointers    # unaccounted for: a new allocation
    assert nd.ArrayBlock([]).take() == []